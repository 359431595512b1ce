// The modern Transformer block's kernels (issue 19) against central finite differences in double
// and closed forms: RoPE, SwiGLU, the soft-capped cross-entropy with z-loss, attention dropout;
// the Transformer LM with them, by finite differences; dropout in the Transformer (p = 0 changes
// no bit, the kept share and the scaling, the gradient with the masks held fixed); the cosine
// schedule's floor. Their whole-model PyTorch references are tests/gen_model_fixtures_modern.py.
#include <catch2/catch.hpp>
#include <cmath>
#include <numbers>

#include "core/strings.hpp"
#include "gradcheck.hpp"
#include "io/hdf5.hpp"
#include "io/run_file.hpp"
#include "train/trainer.hpp"
#include "helpers.hpp"
#include "io/config.hpp"
#include "models/registry.hpp"
#include "models/transformer_lm.hpp"
#include "nn/attention.hpp"
#include "nn/layers.hpp"
#include "nn/optim.hpp"
#include "nn/rope.hpp"
#include "nn/swiglu.hpp"

namespace {
using namespace normlab;
using test::dot;
using test::numeric_gradient;
using Catch::Matchers::Contains;

io::Config config(const std::vector<std::string>& assignments) {
  io::Config c;
  for (const auto& a : assignments) c.set(a);
  return c;
}

}  // namespace

TEST_CASE("RoPE: a rotation per pair (closed form), its gradient by finite differences",
          "[modern][rope]") {
  const std::size_t B = 2, len = 5, heads = 2, hd = 4, d = heads * hd, n = B * len * d;
  const nn::RopeTable table = nn::rope_table(len, hd, 10.0);
  Rng rng(21);
  auto x = test::random_normal(n, rng), dy = test::random_normal(n, rng);
  std::vector<double> y = x;
  nn::rope_forward<double>({y.data(), d}, table, B * len, len, heads);
  // position 0 of each sequence is unturned; at position t the pair (j, j + hd/2) of a head
  // turns by t / 10^(2j / hd): feature 1 of head 1 at t = 3 pairs with feature 3, angle 3 / sqrt(10)
  for (std::size_t j = 0; j < d; ++j) CHECK(y[len * d + j] == x[len * d + j]);
  const std::size_t row = 3 * d + hd;  // sequence 0, t = 3, head 1
  const double angle = 3 / std::sqrt(10.0);
  CHECK(y[row + 1] == Approx(x[row + 1] * std::cos(angle) - x[row + 3] * std::sin(angle)));
  CHECK(y[row + 3] == Approx(x[row + 3] * std::cos(angle) + x[row + 1] * std::sin(angle)));
  // a rotation keeps every pair's length
  CHECK(std::hypot(y[row + 1], y[row + 3]) == Approx(std::hypot(x[row + 1], x[row + 3])));

  auto loss = [&] {
    std::vector<double> out = x;
    nn::rope_forward<double>({out.data(), d}, table, B * len, len, heads);
    return dot(out, dy);
  };
  std::vector<double> dx = dy;
  nn::rope_backward<double>({dx.data(), d}, table, B * len, len, heads);
  CHECK_GRADIENT("dx", dx, numeric_gradient(loss, x));
  // a strided view (q inside a (N, 3d) row) turns only its own columns
  std::vector<double> wide(B * len * 3 * d, 1.0);
  nn::rope_forward<double>({wide.data() + d, 3 * d}, table, B * len, len, heads);
  for (std::size_t i = 0; i < B * len; ++i) {
    CHECK(wide[i * 3 * d] == 1.0);
    CHECK(wide[i * 3 * d + 2 * d] == 1.0);
  }
  CHECK_THROWS_WITH(nn::rope_table(len, 3, 10.0), Contains("even head dimension"));
}

TEST_CASE("SwiGLU: silu(g) * h, gradients by finite differences", "[modern][swiglu]") {
  const std::size_t N = 3, m = 5;
  Rng rng(22);
  auto hg = test::random_normal(N * 2 * m, rng, 0, 2), dy = test::random_normal(N * m, rng);
  std::vector<double> y(N * m), dhg(N * 2 * m);
  nn::swiglu_forward(y.data(), hg.data(), N, m);
  const double h = hg[2 * m + 1], g = hg[2 * m + m + 1];  // row 1, column 1
  CHECK(y[m + 1] == Approx(g / (1 + std::exp(-g)) * h).epsilon(1e-15));
  auto loss = [&] {
    nn::swiglu_forward(y.data(), hg.data(), N, m);
    return dot(y, dy);
  };
  nn::swiglu_backward(dhg.data(), dy.data(), hg.data(), N, m);
  CHECK_GRADIENT("d[h | g]", dhg, numeric_gradient(loss, hg));
}

TEST_CASE("LM loss: the soft-cap and the z-loss, value and gradient", "[modern][loss]") {
  const std::size_t B = 4, V = 6;
  Rng rng(23);
  const auto raw = test::random_normal(B * V, rng, 0, 3);
  const std::vector<std::int32_t> targets{0, kIgnore, 5, 2};
  const nn::LossOptions o{0.3, 2.5};
  std::vector<double> probs(B * V), log_z, logits = raw;
  const double ce = nn::lm_loss_forward(probs.data(), log_z, logits.data(), targets.data(), B, V, o);
  // the cap: c tanh(x / c), then the plain cross-entropy of the capped logits is what returns
  CHECK(logits[7] == Approx(2.5 * std::tanh(raw[7] / 2.5)).epsilon(1e-15));
  std::vector<double> p2(B * V);
  CHECK(ce == nn::cross_entropy_forward(p2.data(), logits.data(), targets.data(), B, V));
  // log Z by hand for row 2, and the z-loss's mean over the 3 scored rows
  double z = 0;
  for (std::size_t j = 0; j < V; ++j) z += std::exp(logits[2 * V + j]);
  CHECK(log_z[2] == Approx(std::log(z)).epsilon(1e-14));
  const double zl = (log_z[0] * log_z[0] + log_z[2] * log_z[2] + log_z[3] * log_z[3]) / 3;
  CHECK(nn::z_loss_value(log_z, targets.data(), B) == Approx(zl).epsilon(1e-14));

  std::vector<double> x = raw, dlogits(B * V);
  auto objective = [&] {
    std::vector<double> l = x, p(B * V), lz;
    const double loss = nn::lm_loss_forward(p.data(), lz, l.data(), targets.data(), B, V, o);
    return loss + o.z_loss * nn::z_loss_value(lz, targets.data(), B);
  };
  nn::lm_loss_backward(dlogits.data(), probs.data(), log_z, logits.data(), targets.data(), B, V, o);
  CHECK_GRADIENT("dlogits", dlogits, numeric_gradient(objective, x));
  for (std::size_t j = 0; j < V; ++j) CHECK(dlogits[V + j] == 0.0);  // the ignored row
  // both off: the plain cross-entropy's gradient, bit for bit
  std::vector<double> plain(B * V), l0 = raw, p0(B * V), lz0;
  nn::lm_loss_forward(p0.data(), lz0, l0.data(), targets.data(), B, V, {});
  CHECK(l0 == raw);
  nn::lm_loss_backward(dlogits.data(), p0.data(), lz0, l0.data(), targets.data(), B, V, {});
  nn::cross_entropy_backward(plain.data(), p0.data(), targets.data(), B, V);
  CHECK(dlogits == plain);
}

TEST_CASE("attention dropout: a mask of ones changes no bit; gradients with the mask held fixed",
          "[modern][attention]") {
  const std::size_t B = 2, len = 4, heads = 2, hd = 3, d = heads * hd, n = B * len * d;
  const std::size_t scores = B * heads * len * len;
  Rng rng(24);
  auto q = test::random_normal(n, rng), k = test::random_normal(n, rng);
  auto v = test::random_normal(n, rng), dout = test::random_normal(n, rng);
  std::vector<double> mask, ones(scores, 1.0), probs(scores);
  nn::dropout_mask(mask, scores, 0.4, rng);
  auto forward = [&](std::vector<double>& out, const double* drop) {
    nn::attention_forward<double>({out.data(), d}, probs.data(), {q.data(), d}, {k.data(), d},
                                  {v.data(), d}, B, len, heads, hd, drop);
  };
  std::vector<double> plain(n), with_ones(n), out(n);
  forward(plain, nullptr);
  forward(with_ones, ones.data());
  CHECK(plain == with_ones);
  auto loss = [&] {
    forward(out, mask.data());
    return dot(out, dout);
  };
  loss();
  std::vector<double> dq(n), dk(n), dv(n);
  nn::attention_backward<double>({dq.data(), d}, {dk.data(), d}, {dv.data(), d}, {dout.data(), d},
                                 probs.data(), {q.data(), d}, {k.data(), d}, {v.data(), d}, B, len,
                                 heads, hd, mask.data());
  CHECK_GRADIENT("dq", dq, numeric_gradient(loss, q));
  CHECK_GRADIENT("dk", dk, numeric_gradient(loss, k));
  CHECK_GRADIENT("dv", dv, numeric_gradient(loss, v));
}

namespace {

// A 2-block Transformer (d 8, 2 heads) of `extra` keys in double, parameters from seed 13.
std::unique_ptr<models::Model<double>> small_transformer(const std::vector<std::string>& extra) {
  std::vector<std::string> keys{"model.family=transformer", "model.width=8", "model.heads=2",
                                "model.depth=2", "model.mlp_ratio=2", "model.activation=gelu"};
  keys.insert(keys.end(), extra.begin(), extra.end());
  auto model = models::build_model<double>(config(keys),
                                           {"random tokens", models::TaskKind::tokens, 0, 6, 5});
  Rng rng(13);
  model->params().initialize(0.0, 0.4, rng);
  for (auto& v : model->params().values()) v += 0.1 * std::normal_distribution<double>()(rng);
  return model;
}

struct TokenBatch {
  std::vector<std::int32_t> tokens{0, 1, 2, 3, 5, 4, 3, 2}, targets{1, 2, kIgnore, 4, 3, 2, 1, 0};
  models::Batch<double> view() const { return {2, 4, nullptr, tokens.data(), targets.data()}; }
};

// Every parameter gradient of `model` by finite differences; with `seed` >= 0, training mode with
// a dropout generator reset to that seed before each forward: the same masks every time.
void check_gradients(models::Model<double>& model, int seed = -1) {
  const TokenBatch batch;
  auto loss = [&] {
    Rng rng(std::uint64_t(seed < 0 ? 0 : seed));
    return model.forward_batch(batch.view(), seed >= 0, &rng);
  };
  loss();
  model.params().zero_grads();
  model.backward();
  std::vector<double> analytic = model.params().grads();
  CHECK_GRADIENT("parameters", analytic, numeric_gradient(loss, model.params().values()));
}

std::vector<std::string> names(models::Model<double>& model) {
  std::vector<std::string> out;
  for (const auto& info : model.params().infos()) out.push_back(info.name);
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& name) {
  return std::find(v.begin(), v.end(), name) != v.end();
}

}  // namespace

TEST_CASE("Transformer LM, the modern block: every parameter gradient by finite differences",
          "[modern][models]") {
  const std::vector<std::vector<std::string>> cases = {
      {"model.position=\"rope\""},
      {"model.position=\"rope\"", "model.qk_norm=true", "model.placement=\"sandwich\""},
      {"model.activation=\"swiglu\""},
      {"model.activation=\"swiglu\"", "model.bias=false", "model.mlp_hidden=5"},
      {"model.tie_embeddings=true"},
      {"model.tie_embeddings=true", "model.bias=false", "model.logit_softcap=1.5"},
      {"model.embed_scale=8.0", "model.tie_embeddings=true"},
      {"model.embed_scale=3.0", "model.position=\"rope\"", "model.norm=\"dyt\""},
      {"model.embed_scale=3.0", "model.embed_norm=true", "model.norm=\"dyt\""},
      {"model.position=\"rope\"", "model.activation=\"swiglu\"", "model.bias=false",
       "model.tie_embeddings=true", "model.placement=\"post\""},
  };
  for (const auto& extra : cases) {
    INFO(join(extra, " "));
    auto model = small_transformer(extra);
    check_gradients(*model);
  }
}

TEST_CASE("Transformer LM, the modern block: the parameters each option adds and drops",
          "[modern][models]") {
  auto learned = names(*small_transformer({}));
  CHECK(has(learned, "pos.weight"));
  CHECK(has(learned, "head.weight"));
  CHECK(has(learned, "block0.mlp.fc.bias"));
  auto llama = names(*small_transformer({"model.position=\"rope\"", "model.activation=\"swiglu\"",
                                         "model.bias=false", "model.tie_embeddings=true"}));
  CHECK(!has(llama, "pos.weight"));
  CHECK(!has(llama, "head.weight"));
  CHECK(has(llama, "block1.mlp.gate.weight"));
  for (const auto& name : llama) CHECK(!std::string_view(name).ends_with(".bias"));  // no Linear bias, RMSNorm none
  // SwiGLU's width: ceil(2 * mlp_ratio * d / 3) = ceil(32 / 3) = 11, or model.mlp_hidden
  auto swiglu = small_transformer({"model.activation=\"swiglu\""});
  CHECK(swiglu->params().info("block0.mlp.gate.weight").shape == std::vector<std::size_t>{11, 8});
  auto wide = small_transformer({"model.activation=\"swiglu\"", "model.mlp_hidden=20"});
  CHECK(wide->params().info("block0.mlp.fc.weight").shape == std::vector<std::size_t>{20, 8});
}

TEST_CASE("Transformer LM, the modern block: bad keys are named", "[modern][models]") {
  CHECK_THROWS_WITH(small_transformer({"model.position=\"rotary\""}),
                    Contains("model.position: 'rotary' is not one of learned") &&
                        Contains("rope"));
  CHECK_THROWS_WITH(small_transformer({"model.position=\"rope\"", "model.width=6",
                                       "model.heads=2"}),
                    Contains("model.width / model.heads = 6 / 2 must be even"));
  CHECK_THROWS_WITH(small_transformer({"model.activation=\"swish\""}),
                    Contains("model.activation: 'swish'") && Contains("swiglu"));
  CHECK_THROWS_WITH(small_transformer({"model.z_loss=-1"}), Contains("model.z_loss must be"));
  CHECK_THROWS_WITH(small_transformer({"model.logit_softcap=-3"}),
                    Contains("model.logit_softcap must be"));
  CHECK_THROWS_WITH(small_transformer({"model.dropout=1.0"}), Contains("model.dropout must be in [0, 1)"));
  CHECK_THROWS_WITH(small_transformer({"model.rope_base=0.5"}), Contains("model.rope_base"));
}

TEST_CASE("Transformer LM dropout: p = 0 changes no bit, p > 0 is seeded, scaled, and its "
          "gradient holds with the masks fixed", "[modern][models][dropout]") {
  const TokenBatch batch;
  auto off = small_transformer({});
  auto zero = small_transformer({"model.dropout=0.0"});
  Rng rng(5);
  const double eval = off->forward_batch(batch.view(), false, nullptr);
  off->params().zero_grads();
  off->backward();
  const double train = zero->forward_batch(batch.view(), true, &rng);
  zero->params().zero_grads();
  zero->backward();
  CHECK(train == eval);
  CHECK(zero->logits() == off->logits());
  CHECK(zero->params().grads() == off->params().grads());

  auto drop = small_transformer({"model.dropout=0.3"});
  Rng a(7), b(7), c(8);
  const double first = drop->forward_batch(batch.view(), true, &a);
  const auto logits = drop->logits();
  CHECK(drop->forward_batch(batch.view(), true, &b) == first);  // the same seed, the same bits
  CHECK(drop->logits() == logits);
  CHECK(drop->forward_batch(batch.view(), true, &c) != first);  // another seed, other masks
  CHECK(drop->forward_batch(batch.view(), false, nullptr) == eval);  // evaluation: no dropout
  check_gradients(*drop, 9);
}

TEST_CASE("Transformer LM dropout: the kept share is 1 - p and kept values are scaled by "
          "1 / (1 - p)", "[modern][dropout]") {
  // the masks the Transformer draws (nn::dropout_mask): on the probabilities and the branches
  for (double p : {0.1, 0.5}) {
    Rng rng(31);
    std::vector<float> mask;
    nn::dropout_mask(mask, 40000, p, rng);
    double kept = 0;
    for (float m : mask) {
      CHECK((m == 0.0f || m == float(1 / (1 - p))));
      kept += m != 0;
    }
    CHECK(kept / 40000 == Approx(1 - p).margin(0.01));  // binomial sd <= 0.0025
  }
}

TEST_CASE("cosine schedule: min_lr is its floor; min_lr = 0 is the old schedule bit for bit",
          "[modern][train]") {
  nn::OptimConfig c;
  c.lr = 0.1;
  c.warmup = 10;
  c.steps = 110;
  c.schedule = "cosine";
  for (std::int64_t t = 10; t <= 120; ++t) {  // before: lr (1 + cos(pi progress)) / 2
    const double progress = std::min(1.0, double(t - 10) / 100.0);
    CHECK(nn::learning_rate(c, t) == 0.1 * 0.5 * (1 + std::cos(std::numbers::pi * progress)));
  }
  c.min_lr = 0.01;
  CHECK(nn::learning_rate(c, 9) == Approx(0.1));     // warmup ends at lr
  CHECK(nn::learning_rate(c, 10) == Approx(0.1));    // the decay starts at lr
  CHECK(nn::learning_rate(c, 60) == Approx(0.055));  // half way: (lr + min_lr) / 2
  CHECK(nn::learning_rate(c, 35) == Approx(0.01 + 0.09 * 0.5 * (1 + std::cos(std::numbers::pi / 4))));
  CHECK(nn::learning_rate(c, 110) == Approx(0.01));  // the floor, and it stays there
  CHECK(nn::learning_rate(c, 500) == Approx(0.01));
  c.schedule = "constant";
  CHECK_THROWS_WITH(nn::validate(c), Contains("optim.min_lr is the floor of the cosine schedule"));
  c.schedule = "cosine";
  c.min_lr = 0.2;
  CHECK_THROWS_WITH(nn::validate(c), Contains("optim.min_lr must be in [0, optim.lr = 0.1]"));
}

TEST_CASE("Transformer LM, the modern block with dropout: a run stopped and resumed ends "
          "bit-identical to an uninterrupted one", "[modern][resume]") {
  // the LLaMA keys, dropout, z-loss, soft-cap, cosine to min_lr: the dropout generator and the
  // schedule carry state across the stop
  const io::Config c = config(
      {"model.family=transformer", "model.width=16", "model.depth=1", "model.heads=2",
       "model.context=8", "model.position=\"rope\"", "model.activation=\"swiglu\"",
       "model.bias=false", "model.tie_embeddings=true", "model.dropout=0.2", "model.z_loss=1e-3",
       "model.logit_softcap=20", "optim.schedule=\"cosine\"", "optim.min_lr=1e-4",
       "data.chars=4000", "data.val_size=8", "train.batch=4", "train.steps=10",
       "train.eval_every=5", "train.checkpoint_every=3", "name=\"run\""});
  test::TempDir ref_dir, dir;
  std::ostringstream log;
  const auto reference = train::run(c, ref_dir.path.string(), log);
  REQUIRE(reference.status == "completed");
  auto stopped = train::run(c, dir.path.string(), log, {.stop_at_step = 4});
  REQUIRE(stopped.status == "interrupted");
  const auto resumed = train::run(c, dir.path.string(), log, {.resume = true});
  INFO(log.str());
  REQUIRE(resumed.status == "completed");
  CHECK(resumed.resumed_from == 4);
  h5::File a = io::open_run(resumed.path), b = io::open_run(reference.path);
  for (const char* name : {"train_loss", "lr", "grad_norm", "val_loss"}) {
    INFO(name);
    const auto x = a.read<double>(name), y = b.read<double>(name);  // float32, exact in double
    CHECK(std::vector<double>(x.begin(), x.end()) == std::vector<double>(y.begin(), y.end()));
  }
}
