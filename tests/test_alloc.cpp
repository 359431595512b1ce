// The counting allocator (tools/alloc_count.hpp) is linked in and counts, and a training step in
// the steady state makes no heap allocation: models, layers, attention, loss, optimizer.
#include <catch2/catch.hpp>

#include <memory>
#include <new>

#include "models/gru_lm.hpp"
#include "models/mlp.hpp"
#include "models/transformer_lm.hpp"
#include "nn/optim.hpp"
#include "bench/alloc_count.hpp"
#include "bench/workloads.hpp"
#include "core/parallel.hpp"

namespace {
using namespace normlab;

// Keeps the compiler from eliding a new/delete pair (GCC may, since C++14 allows it).
template <class P>
void escape(P* p) {
  asm volatile("" : : "g"(p) : "memory");
}

// operator new calls over `steps` steps of `t` (zero grads, forward, backward, norm, Adam) after
// `warmup` steps that let every kept buffer reach its size (one step is enough).
std::uint64_t steady_allocations(tools::Trainee& t, int warmup = 1, int steps = 3) {
  nn::Optimizer<float> optimizer(t.optim, *t.params);  // Adam; nanogpt: AdamW
  std::uint64_t count = 0;
  for (int i = 0; i < warmup + steps; ++i) {
    const std::uint64_t before = alloc_count::allocations();
    t.params->zero_grads();
    t.forward();
    t.backward();
    optimizer.step(*t.params, nn::global_norm(t.params->grads()));
    if (i >= warmup) count += alloc_count::allocations() - before;
  }
  return count;
}

// A Trainee over a SequenceModel built here (configurations make_trainee does not offer).
tools::Trainee sequence_trainee(std::shared_ptr<models::SequenceModel<float>> model,
                                std::size_t B, std::size_t len, Rng& rng) {
  model->params().initialize(0, 0.02, rng);
  const auto V = std::int32_t(model->vocab());
  auto tokens = std::make_shared<std::vector<std::int32_t>>(B * len);
  auto targets = std::make_shared<std::vector<std::int32_t>>(B * len);
  std::uniform_int_distribution<std::int32_t> token(0, V - 1);
  for (auto& v : *tokens) v = token(rng);
  for (auto& v : *targets) v = token(rng);
  (*targets)[1] = kIgnore;
  tools::Trainee t;
  t.forward = [=] { return model->forward(tokens->data(), targets->data(), B, len); };
  t.backward = [=] { model->backward(); };
  t.params = &model->params();
  t.model = model;
  return t;
}

}  // namespace

TEST_CASE("alloc_count: the replaced operator new counts every form", "[alloc]") {
  // Counts are read into locals and checked at the end: a CHECK may allocate as it reports.
  struct alignas(64) Wide {
    float v[16];
  };
  const std::uint64_t a0 = alloc_count::allocations(), d0 = alloc_count::deallocations();
  const std::uint64_t b0 = alloc_count::bytes();
  int* p = new int(7);
  escape(p);
  const std::uint64_t one_new = alloc_count::allocations() - a0;
  const std::uint64_t new_bytes = alloc_count::bytes() - b0;
  delete p;
  const std::uint64_t one_delete = alloc_count::deallocations() - d0;

  const std::uint64_t a1 = alloc_count::allocations();
  int* arr = new int[5];
  escape(arr);
  delete[] arr;
  int* q = new (std::nothrow) int(3);
  escape(q);
  delete q;
  Wide* w = new Wide;  // the aligned form
  escape(w);
  const bool aligned = reinterpret_cast<std::uintptr_t>(w) % 64 == 0;
  delete w;
  auto vec = std::make_unique<std::vector<double>>(1000);
  escape(vec.get());
  vec.reset();
  const std::uint64_t more_news = alloc_count::allocations() - a1;
  const std::uint64_t all_deletes = alloc_count::deallocations() - d0;

  CHECK(one_new == 1);
  CHECK(new_bytes == sizeof(int));
  CHECK(one_delete == 1);
  CHECK(aligned);
  CHECK(more_news == 5);  // int[5], the nothrow int, Wide, the vector and its data
  CHECK(all_deletes == 6);
}

TEST_CASE("a training step in the steady state allocates nothing", "[alloc]") {
  const auto shapes = tools::BenchTrainShapes::quick();
  SECTION("the bench train workloads without a normalizer") {
    for (const char* workload : {"mlp", "gru", "transformer", "nanogpt"}) {
      Rng rng(1);
      tools::Trainee t = tools::make_trainee(workload, shapes, "none", rng);
      INFO(workload);
      CHECK(steady_allocations(t) == 0);
    }
  }
  SECTION("the MLP with dropout and identity sites") {
    models::MlpConfig c;
    c.input = 12, c.width = 8, c.depth = 3, c.classes = 4, c.norms = {"none"}, c.dropout = 0.2;
    auto model = std::make_shared<models::Mlp<float>>(c);
    Rng rng(2);
    model->params().initialize(0, 0.1, rng);
    auto x = std::make_shared<std::vector<float>>(5 * 12);
    fill_normal(std::span<float>(*x), rng);
    auto labels = std::make_shared<std::vector<std::int32_t>>(std::vector<std::int32_t>{0, 1, 2, 3, 1});
    auto drop_rng = std::make_shared<Rng>(3);
    tools::Trainee t;
    t.forward = [=] { return model->forward(x->data(), labels->data(), 5, true, drop_rng.get()); };
    t.backward = [=] { model->backward(); };
    t.params = &model->params();
    t.model = model;
    CHECK(steady_allocations(t) == 0);
  }
  SECTION("the GRU with two layers and identity sites on both projections") {
    models::GruConfig c;
    c.vocab = 11, c.embed = 6, c.hidden = 8, c.layers = 2, c.norms = {"none"};
    Rng rng(4);
    tools::Trainee t = sequence_trainee(std::make_shared<models::GruLm<float>>(c), 3, 5, rng);
    CHECK(steady_allocations(t) == 0);
  }
  SECTION("the Transformer in every placement, with QK-, V- and embed norms, identity sites") {
    for (auto p : {models::Placement::pre, models::Placement::post, models::Placement::sandwich,
                   models::Placement::reordered, models::Placement::deepnorm,
                   models::Placement::none}) {
      models::TransformerConfig c;
      c.vocab = 11, c.d = 8, c.layers = 2, c.heads = 2, c.context = 6, c.norms = {"none"};
      c.placements = {p};
      c.qk_norm = true;
      c.v_norm = c.embed_norm = true;  // issue 19's sites, across all heads where p is pre
      c.qkv_norm_over_all = c.layernorm_scaling = p == models::Placement::pre;
      Rng rng(5);
      tools::Trainee t = sequence_trainee(std::make_shared<models::TransformerLm<float>>(c), 3, 6, rng);
      INFO(models::to_string(p));
      CHECK(steady_allocations(t) == 0);
    }
  }
  SECTION("the Transformer with the modern block and dropout, QKV-norm across heads") {
    for (auto p : {models::Placement::sandwich, models::Placement::deepnorm}) {
      models::TransformerConfig c;
      c.vocab = 11, c.d = 8, c.layers = 2, c.heads = 2, c.context = 6, c.norms = {"none"};
      c.placements = {p};
      c.qk_norm = c.v_norm = c.embed_norm = c.qkv_norm_over_all = true;
      c.rope = c.swiglu = c.tie_embeddings = true;
      c.bias = false;
      c.dropout = 0.2, c.z_loss = 1e-3, c.logit_softcap = 5;
      auto model = std::make_shared<models::TransformerLm<float>>(c);
      Rng rng(6), drop(7);
      model->set_training(true, &drop);  // every forward below draws its masks from `drop`
      tools::Trainee t = sequence_trainee(model, 3, 6, rng);
      INFO(models::to_string(p));
      CHECK(steady_allocations(t) == 0);
    }
  }
}

// The normalizers too: their parameter checks and gradient sums reuse what they have.
TEST_CASE("a training step with RMSNorm or LayerNorm allocates nothing", "[alloc]") {
  const auto shapes = tools::BenchTrainShapes::quick();
  for (const char* workload : {"mlp", "gru", "transformer"}) {
    for (const char* norm : {"rmsnorm", "layernorm"}) {
      Rng rng(1);
      tools::Trainee t = tools::make_trainee(workload, shapes, norm, rng);
      INFO(workload << " " << norm);
      CHECK(steady_allocations(t) == 0);
    }
  }
}

// With threads (core/parallel.hpp): working memory per part of a split belongs to the calling
// thread (parallel_for_parts), so no range allocates, whichever thread runs it; a worker taking
// its first range late in a run allocates nothing either.
TEST_CASE("a training step on 2 threads allocates nothing", "[alloc]") {
  const int before = threads();
  set_threads(2);
  const auto shapes = tools::BenchTrainShapes::quick();
  for (const char* workload : {"gru", "transformer"}) {
    for (const char* norm : {"none", "layernorm"}) {
      Rng rng(1);
      tools::Trainee t = tools::make_trainee(workload, shapes, norm, rng);
      INFO(workload << " " << norm);
      CHECK(steady_allocations(t) == 0);
    }
  }
  set_threads(before);
}
