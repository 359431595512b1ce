// The sequence models (GRU LM, Transformer LM) against central finite differences in double:
// every parameter's gradient, through several time steps, with masked (ignored) targets.
#include <catch2/catch.hpp>

#include "core/strings.hpp"
#include "gradcheck.hpp"
#include "helpers.hpp"
#include "models/gru_lm.hpp"
#include "models/transformer_lm.hpp"

namespace {
using namespace normlab;

// Draws the parameters, then jitters every value so no gain or bias sits at its special init.
void randomize(nn::ParamStore<double>& params, Rng& rng, double std) {
  params.initialize(0.0, std, rng);
  for (auto& v : params.values()) v += 0.1 * std::normal_distribution<double>()(rng);
}

// Checks every parameter gradient of `model` on one random batch.
void check_model_gradients(models::SequenceModel<double>& model, std::size_t B, std::size_t len,
                           Rng& rng) {
  const auto V = std::int32_t(model.vocab());
  std::uniform_int_distribution<std::int32_t> token(0, V - 1);
  std::vector<std::int32_t> tokens(B * len), targets(B * len);
  for (auto& t : tokens) t = token(rng);
  for (auto& t : targets) t = token(rng);
  targets[1] = kIgnore;  // masked positions carry no gradient
  targets[B * len - 1] = kIgnore;
  auto loss = [&] { return model.forward(tokens.data(), targets.data(), B, len); };
  loss();
  model.params().zero_grads();
  model.backward();
  std::vector<double> analytic = model.params().grads();
  CHECK_GRADIENT("parameters", analytic, test::numeric_gradient(loss, model.params().values()));
}

}  // namespace

TEST_CASE("GRU LM: every parameter gradient through time, by finite differences",
          "[models][gru]") {
  using models::GruNormSites;
  struct Case {
    std::vector<std::string> norms;
    GruNormSites sites;
    norm::NormOptions options;
  };
  const std::vector<Case> cases = {
      {{"rmsnorm"}, GruNormSites::both, {}},
      {{"layernorm"}, GruNormSites::both, {}},
      {{"rmsnorm"}, GruNormSites::input, {}},
      {{"layernorm"}, GruNormSites::recurrent, {}},
      {{"none"}, GruNormSites::none, {}},
      {{"pcnorm", "scalenorm"}, GruNormSites::both, {}},
      {{"pcnorm"}, GruNormSites::both, {{"learn_lambda", "true"}}},
  };
  for (const auto& c : cases) {
    models::GruConfig g;
    g.vocab = 5;
    g.embed = 3;
    g.hidden = 4;
    g.layers = c.norms.size() == 1 ? 2 : c.norms.size();
    g.norms = c.norms;
    g.sites = c.sites;
    g.norm_options = c.options;
    models::GruLm<double> model(g);
    Rng rng(11);
    randomize(model.params(), rng, 0.5);
    INFO(join(c.norms, "+") << " sites " << int(c.sites));
    check_model_gradients(model, 2, 5, rng);
  }
}

TEST_CASE("Transformer LM: every parameter gradient, each placement, by finite differences",
          "[models][transformer]") {
  using models::Placement;
  struct Case {
    Placement placement;
    std::vector<std::string> norms;
    bool qk_norm;
    std::string norm_final;
  };
  const std::vector<Case> cases = {
      {Placement::pre, {"rmsnorm"}, false, ""},      {Placement::pre, {"layernorm"}, true, ""},
      {Placement::post, {"rmsnorm"}, false, ""},     {Placement::sandwich, {"rmsnorm"}, true, ""},
      {Placement::peri, {"layernorm"}, false, ""},   {Placement::none, {"none"}, false, ""},
      {Placement::pre, {"layernorm", "rmsnorm"}, false, "scalenorm"},
  };
  for (const auto& c : cases) {
    models::TransformerConfig t;
    t.vocab = 6;
    t.d = 8;
    t.heads = 2;
    t.layers = 2;
    t.context = 5;
    t.mlp_ratio = 2;
    t.norms = c.norms;
    t.placement = c.placement;
    t.qk_norm = c.qk_norm;
    t.norm_final = c.norm_final;
    models::TransformerLm<double> model(t);
    Rng rng(12);
    randomize(model.params(), rng, 0.4);
    INFO(models::to_string(c.placement) << " " << join(c.norms, "+") << " qk " << c.qk_norm);
    check_model_gradients(model, 2, 4, rng);
  }
}
