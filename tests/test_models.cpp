// The sequence models (GRU LM, Transformer LM) against central finite differences in double:
// every parameter's gradient, through several time steps, with masked (ignored) targets. The
// models are built from configs by the family registry, as the trainer builds them.
#include <catch2/catch.hpp>

#include "core/strings.hpp"
#include "gradcheck.hpp"
#include "helpers.hpp"
#include "io/config.hpp"
#include "models/registry.hpp"

namespace {
using namespace normlab;

// Draws the parameters, then jitters every value so no gain or bias sits at its special init.
void randomize(nn::ParamStore<double>& params, Rng& rng, double std) {
  params.initialize(0.0, std, rng);
  for (auto& v : params.values()) v += 0.1 * std::normal_distribution<double>()(rng);
}

// The config with `assignments` (as --set takes them) over the defaults.
io::Config config(const std::vector<std::string>& assignments) {
  io::Config c;
  for (const auto& a : assignments) c.set(a);
  return c;
}

// A model of config `c` on token sequences of vocabulary V and length len.
std::unique_ptr<models::Model<double>> token_model(const io::Config& c, std::size_t V,
                                                   std::size_t len) {
  return models::build_model<double>(c, {"random tokens", models::TaskKind::tokens, 0, V, len});
}

// Checks every parameter gradient of `model` on one random batch.
void check_model_gradients(models::Model<double>& model, std::size_t B, std::size_t len,
                           Rng& rng) {
  const auto V = std::int32_t(model.outputs());
  std::uniform_int_distribution<std::int32_t> token(0, V - 1);
  std::vector<std::int32_t> tokens(B * len), targets(B * len);
  for (auto& t : tokens) t = token(rng);
  for (auto& t : targets) t = token(rng);
  targets[1] = kIgnore;  // masked positions carry no gradient
  targets[B * len - 1] = kIgnore;
  const models::Batch<double> batch{B, len, nullptr, tokens.data(), targets.data()};
  auto loss = [&] { return model.forward_batch(batch, false, nullptr); };
  loss();
  model.params().zero_grads();
  model.backward();
  std::vector<double> analytic = model.params().grads();
  CHECK_GRADIENT("parameters", analytic, test::numeric_gradient(loss, model.params().values()));
}

}  // namespace

TEST_CASE("GRU LM: every parameter gradient through time, by finite differences",
          "[models][gru]") {
  struct Case {
    std::string norms, sites, options;  // model.norm, model.gru_norm, model.norm_options
  };
  const std::vector<Case> cases = {
      {"rmsnorm", "both", "\"\""},
      {"layernorm", "both", "\"\""},
      {"rmsnorm", "input", "\"\""},
      {"layernorm", "recurrent", "\"\""},
      {"none", "none", "\"\""},
      {"[\"pcnorm\", \"scalenorm\"]", "both", "\"\""},
      {"pcnorm", "both", "learn_lambda=true"},
      // a mixed stack with options per kind
      {"[\"pcnorm\", \"layernorm\"]", "both", "{pcnorm = \"learn_lambda=true\", layernorm = \"bias=false\"}"},
  };
  for (const auto& c : cases) {
    const io::Config g = config({"model.family=gru", "model.embed=3", "model.width=4",
                                 "model.depth=2", "model.norm=" + c.norms,
                                 "model.gru_norm=" + c.sites, "model.norm_options=" + c.options});
    auto model = token_model(g, 5, 5);
    Rng rng(11);
    randomize(model->params(), rng, 0.5);
    INFO(c.norms << " sites " << c.sites << " options " << c.options);
    check_model_gradients(*model, 2, 5, rng);
  }
}

TEST_CASE("Transformer LM: every parameter gradient, each placement, by finite differences",
          "[models][transformer]") {
  struct Case {
    std::string placement, norms, qk_norm, norm_final;  // model.placement, .norm, .qk_norm, ...
  };
  const std::vector<Case> cases = {
      {"pre", "rmsnorm", "false", ""},      {"pre", "layernorm", "true", ""},
      {"post", "rmsnorm", "false", ""},     {"sandwich", "rmsnorm", "true", ""},
      {"peri", "layernorm", "false", ""},   {"none", "none", "false", ""},
      {"pre", "[\"layernorm\", \"rmsnorm\"]", "false", "scalenorm"},
  };
  for (const auto& c : cases) {
    const io::Config t = config({"model.family=transformer", "model.width=8", "model.heads=2",
                                 "model.depth=2", "model.mlp_ratio=2", "model.activation=gelu",
                                 "model.norm=" + c.norms, "model.placement=" + c.placement,
                                 "model.qk_norm=" + c.qk_norm,
                                 "model.norm_final=" + toml_quoted(c.norm_final)});
    auto model = token_model(t, 6, 5);
    Rng rng(12);
    randomize(model->params(), rng, 0.4);
    INFO(c.placement << " " << c.norms << " qk " << c.qk_norm);
    check_model_gradients(*model, 2, 4, rng);
  }
}
