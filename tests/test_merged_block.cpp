// The Transformer's block structure and the modern block together (issue 19): the depth-aware
// inits on a SwiGLU MLP (GPT-2's scaled init on its down projection; DeepNorm's beta on fc and
// proj, not the gate), dropout on the branches of every placement, and every parameter gradient
// of models that combine both, by finite differences in double (with the dropout masks held
// fixed). Their whole-model PyTorch references are tests/gen_model_fixtures_merged.py.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "core/random.hpp"
#include "core/strings.hpp"
#include "gradcheck.hpp"
#include "io/config.hpp"
#include "models/registry.hpp"

namespace {

using namespace normlab;
using test::numeric_gradient;

std::unique_ptr<models::Model<double>> transformer(const std::vector<std::string>& keys,
                                                   std::size_t vocab = 11) {
  io::Config c;
  for (const auto& k : keys) c.set(k);
  return models::build_model<double>(c, {"random tokens", models::TaskKind::tokens, 0, vocab, 8});
}

// The root mean square of parameter `name` (drawn about 0): its drawn std.
double drawn_std(const nn::ParamStore<double>& store, const std::string& name) {
  const nn::ParamInfo& info = store.info(name);
  double sum2 = 0;
  for (std::size_t k = 0; k < info.size; ++k) sum2 += std::pow(store.values()[info.offset + k], 2);
  return std::sqrt(sum2 / double(info.size));
}

// >= 4096 draws a weight: the sample std's relative standard error is <= 1.1%, 3% is 2.7 of
// them; the factors told apart (0.35, 0.42) are 58% and 65% away from 1.
constexpr double kStdRtol = 0.03;

std::vector<std::string> wide_swiglu(const char* extra) {
  return {"model.family=transformer", "model.width=64", "model.heads=4", "model.depth=4",
          "model.mlp_ratio=4", "model.activation=\"swiglu\"", "model.bias=false", extra};
}

// A 2-block Transformer (d 8, 2 heads, vocabulary 6, 5 positions) in double, parameters from
// seed 13 (biases and gains moved off their inits).
std::unique_ptr<models::Model<double>> small(const std::vector<std::string>& extra) {
  std::vector<std::string> keys{"model.family=transformer", "model.width=8", "model.heads=2",
                                "model.depth=2", "model.mlp_ratio=2"};
  keys.insert(keys.end(), extra.begin(), extra.end());
  auto model = transformer(keys, 6);
  Rng rng(13);
  model->params().initialize(0.0, 0.4, rng);
  for (auto& v : model->params().values()) v += 0.1 * std::normal_distribution<double>()(rng);
  return model;
}

struct TokenBatch {
  std::vector<std::int32_t> tokens{0, 1, 2, 3, 5, 4, 3, 2}, targets{1, 2, -1, 4, 3, 2, 1, 0};
  models::Batch<double> view() const { return {2, 4, nullptr, tokens.data(), targets.data()}; }
};

double forward(models::Model<double>& model, bool train, std::uint64_t seed) {
  Rng rng(seed);
  return model.forward_batch(TokenBatch().view(), train, &rng);
}

}  // namespace

TEST_CASE("SwiGLU under the depth-aware inits: scaled_init on its down projection, DeepNorm's "
          "beta on fc and proj but not the gate", "[merged][init]") {
  const double sd = 0.05, L = 4, gpt2 = 1 / std::sqrt(2 * L), beta = std::pow(8 * L, -0.25);
  SECTION("scaled_init") {
    auto model = transformer(wide_swiglu("model.scaled_init=true"));
    Rng rng(5);
    model->params().initialize("normal", sd, rng);
    const auto& p = model->params();
    for (const char* b : {"block0", "block3"}) {
      const std::string s = b;
      CHECK(drawn_std(p, s + ".mlp.proj.weight") == Approx(sd * gpt2).epsilon(kStdRtol));
      CHECK(drawn_std(p, s + ".attn.proj.weight") == Approx(sd * gpt2).epsilon(kStdRtol));
      CHECK(drawn_std(p, s + ".mlp.fc.weight") == Approx(sd).epsilon(kStdRtol));
      CHECK(drawn_std(p, s + ".mlp.gate.weight") == Approx(sd).epsilon(kStdRtol));
    }
  }
  SECTION("deepnorm") {
    auto model = transformer(wide_swiglu("model.placement=\"deepnorm\""));
    Rng rng(6);
    model->params().initialize("normal", sd, rng);
    const auto& p = model->params();
    CHECK(drawn_std(p, "block2.mlp.fc.weight") == Approx(sd * beta).epsilon(kStdRtol));
    CHECK(drawn_std(p, "block2.mlp.proj.weight") == Approx(sd * beta).epsilon(kStdRtol));
    CHECK(drawn_std(p, "block2.mlp.gate.weight") == Approx(sd).epsilon(kStdRtol));
  }
}

TEST_CASE("Transformer dropout acts on the branch in every placement, per block too",
          "[merged][dropout]") {
  // attn.proj = 0 and no biases: the attention branch is 0 whatever its probabilities' dropout
  // draws, so a training forward differs from evaluation only by the MLP branch's dropout
  auto silenced = [](const std::vector<std::string>& keys) {
    auto m = small(keys);
    for (const auto& info : m->params().infos()) {
      if (!std::string_view(info.name).ends_with(".attn.proj.weight")) continue;
      std::fill_n(m->params().values().begin() + std::ptrdiff_t(info.offset), info.size, 0.0);
    }
    return m;
  };
  for (const char* placement : {"\"pre\"", "\"post\"", "\"sandwich\"", "\"reordered\"",
                                "\"deepnorm\"", "\"none\"", "[\"deepnorm\", \"pre\"]"}) {
    INFO(placement);
    std::vector<std::string> keys{std::string("model.placement=") + placement,
                                  "model.position=\"rope\"", "model.bias=false"};
    auto off = silenced(keys);
    const double eval = forward(*off, false, 1);
    CHECK(forward(*off, true, 1) == eval);  // p = 0: the same bits as evaluation
    keys.push_back("model.dropout=0.5");
    auto drop = silenced(keys);
    CHECK(forward(*drop, false, 1) == eval);  // evaluation: no dropout
    const double train = forward(*drop, true, 1);
    CHECK(train != eval);                      // the MLP branch's dropout
    CHECK(forward(*drop, true, 1) == train);  // seeded: the same masks
  }
}

TEST_CASE("The block structure with the modern block: every parameter gradient by finite "
          "differences", "[merged][models]") {
  const std::vector<std::vector<std::string>> cases = {
      // RoPE after QK-norm across heads, V-norm, embed norm, SwiGLU, bias-free, tied
      {"model.position=\"rope\"", "model.qk_norm=true", "model.qkv_norm_over=\"all\"",
       "model.v_norm=true", "model.embed_norm=true", "model.activation=\"swiglu\"",
       "model.bias=false", "model.tie_embeddings=true", "model.scaled_init=true"},
      // DeepNorm then sandwich with LayerNorm Scaling; RoPE after a per-head QK-norm; dropout
      {"model.placement=[\"deepnorm\", \"sandwich\"]", "model.norm=\"layernorm\"",
       "model.layernorm_scaling=true", "model.position=\"rope\"", "model.qk_norm=true",
       "model.activation=\"swiglu\"", "model.tie_embeddings=true", "model.logit_softcap=1.5",
       "model.dropout=0.3"},
      // RoPE turning q and k in place in qkv (no QK-norm) beside a V-norm; Mix-LN, dropout
      {"model.placement=[\"post\", \"reordered\"]", "model.position=\"rope\"",
       "model.v_norm=true", "model.qkv_norm_over=\"all\"", "model.bias=false",
       "model.dropout=0.3", "model.embed_norm=true"},
  };
  for (const auto& extra : cases) {
    INFO(join(extra, " "));
    auto model = small(extra);
    auto loss = [&] { return forward(*model, true, 9); };  // masks from one seed: held fixed
    loss();
    model->params().zero_grads();
    model->backward();
    std::vector<double> analytic = model->params().grads();
    CHECK_GRADIENT("parameters", analytic, numeric_gradient(loss, model->params().values()));
  }
}
