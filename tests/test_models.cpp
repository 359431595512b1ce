// The sequence models (GRU LM, Transformer LM) against central finite differences in double:
// every parameter's gradient, through several time steps, with masked (ignored) targets. The
// models are built from configs by the family registry, as the trainer builds them. Then the GRU's
// options of the RMSNorm paper's RNNSearch (Nematus): gates and candidate normalized apart, and
// orthogonal recurrent init.
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
    std::string split = "joint";        // model.gru_norm_split
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
      // the gates and the candidate apart: every site's gradient reaches its own parameters
      {"layernorm", "both", "\"\"", "separate"},
      {"prmsnorm", "both", "\"p=0.25\"", "separate"},
      {"rmsnorm", "recurrent", "\"\"", "separate"},
      {"[\"pcnorm\", \"layernorm\"]", "input", "{pcnorm = \"learn_lambda=true\"}", "separate"},
  };
  for (const auto& c : cases) {
    const io::Config g = config({"model.family=gru", "model.embed=3", "model.width=4",
                                 "model.depth=2", "model.norm=" + c.norms,
                                 "model.gru_norm=" + c.sites, "model.norm_options=" + c.options,
                                 "model.gru_norm_split=" + c.split});
    auto model = token_model(g, 5, 5);
    Rng rng(11);
    randomize(model->params(), rng, 0.5);
    INFO(c.norms << " sites " << c.sites << " options " << c.options << " split " << c.split);
    check_model_gradients(*model, 2, 5, rng);
  }
}

TEST_CASE("Transformer LM: every parameter gradient, each placement, by finite differences",
          "[models][transformer]") {
  struct Case {
    std::string placement, norms, qk_norm, norm_final;  // model.placement, .norm, .qk_norm, ...
    std::vector<std::string> more = {};                  // further assignments
  };
  const std::vector<Case> cases = {
      {"pre", "rmsnorm", "false", ""},      {"pre", "layernorm", "true", ""},
      {"post", "rmsnorm", "false", ""},     {"sandwich", "rmsnorm", "true", ""},
      {"reordered", "layernorm", "false", ""}, {"none", "none", "false", ""},
      {"pre", "[\"layernorm\", \"rmsnorm\"]", "false", "scalenorm"},
      {"[\"post\", \"pre\"]", "layernorm", "false", ""},        // Mix-LN
      {"[\"reordered\", \"sandwich\"]", "rmsnorm", "true", ""},
      {"deepnorm", "layernorm", "false", ""},                     // alpha = 4^(1/4) on the residual
      {"[\"sandwich\", \"pre\"]", "rmsnorm", "false", "", {"model.layernorm_scaling=true"}},
      {"pre", "rmsnorm", "true", "", {"model.qkv_norm_over=all", "model.v_norm=true",
                                      "model.embed_norm=true", "model.norm_v=layernorm"}},
      {"post", "layernorm", "false", "", {"model.v_norm=true", "model.embed_norm=true"}},
  };
  for (const auto& c : cases) {
    std::vector<std::string> assignments{"model.family=transformer", "model.width=8", "model.heads=2",
                                         "model.depth=2", "model.mlp_ratio=2", "model.activation=gelu",
                                         "model.norm=" + c.norms, "model.placement=" + c.placement,
                                         "model.qk_norm=" + c.qk_norm,
                                         "model.norm_final=" + toml_quoted(c.norm_final)};
    assignments.insert(assignments.end(), c.more.begin(), c.more.end());
    auto model = token_model(config(assignments), 6, 5);
    Rng rng(12);
    randomize(model->params(), rng, 0.4);
    INFO(c.placement << " " << c.norms << " qk " << c.qk_norm << " " << join(c.more, " "));
    check_model_gradients(*model, 2, 4, rng);
  }
}

TEST_CASE("Transformer LM: model.placement per block, and its errors", "[models][transformer]") {
  auto build = [](const std::string& placement, const std::string& depth = "3") {
    return token_model(config({"model.family=transformer", "model.width=8", "model.heads=2",
                               "model.depth=" + depth, "model.mlp_ratio=2",
                               "model.placement=" + placement}),
                       6, 5);
  };
  auto site_names = [](const models::Model<double>& m) {
    std::vector<std::string> names;
    for (const auto* site : m.norm_sites()) names.push_back(site->probe().name);
    return names;
  };
  // Mix-LN: post-norm in the first block, pre-norm after; the last block is pre: a final norm
  CHECK(site_names(*build("[\"post\", \"pre\", \"pre\"]")) ==
        std::vector<std::string>{"block0.attn.norm", "block0.mlp.norm", "block1.attn.norm",
                                 "block1.mlp.norm", "block2.attn.norm", "block2.mlp.norm",
                                 "norm_final"});
  // the last block post: the stream leaves normalized, no final norm
  CHECK(site_names(*build("[\"reordered\", \"none\", \"post\"]")) ==
        std::vector<std::string>{"block0.attn.norm_out", "block0.mlp.norm_out",
                                 "block2.attn.norm", "block2.mlp.norm"});
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(build("[\"post\", \"pre\"]"),
                    Contains("model.placement lists 2 placements") && Contains("3 blocks"));
  CHECK_THROWS_WITH(build("[\"post\", \"pre\", \"peri\"]"),
                    Contains("'peri' was renamed") && Contains("'reordered'") &&
                        Contains("Peri-LN") && Contains("'sandwich'"));
  CHECK_THROWS_WITH(build("sandwhich"), Contains("model.placement: 'sandwhich'") &&
                                            Contains("did you mean 'sandwich'"));
}

namespace {

// The GRU of `assignments` (over a 2-layer GRU with H = 4) in double, drawn from seed 3.
std::unique_ptr<models::Model<double>> small_gru(std::vector<std::string> assignments) {
  assignments.insert(assignments.begin(), {"model.family=gru", "model.embed=3", "model.width=4",
                                           "model.depth=2"});
  auto model = token_model(config(assignments), 5, 5);
  Rng rng(3);
  randomize(model->params(), rng, 0.5);
  return model;
}

double loss_on_fixed_batch(models::Model<double>& model) {
  const std::vector<std::int32_t> tokens{0, 1, 2, 3, 4, 4, 3, 2, 1, 0};
  const std::vector<std::int32_t> targets{1, 2, 3, 4, 0, 3, 2, 1, 0, 4};
  return model.forward_batch({2, 5, nullptr, tokens.data(), targets.data()}, false, nullptr);
}

// max |W W^T - I| over the (n, n) block of `w` at row `first`, in double.
template <class T>
double orthogonality_error(const T* w, std::size_t first, std::size_t n) {
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      double d = 0;
      for (std::size_t k = 0; k < n; ++k) {
        d += double(w[(first + i) * n + k]) * double(w[(first + j) * n + k]);
      }
      worst = std::max(worst, std::abs(d - (i == j ? 1.0 : 0.0)));
    }
  }
  return worst;
}

}  // namespace

TEST_CASE("GRU LM: separate gate and candidate normalizers are sites of their own",
          "[models][gru]") {
  auto model = small_gru({"model.norm=layernorm", "model.gru_norm_split=separate"});
  std::vector<std::pair<std::string, std::size_t>> sites;
  for (const auto* s : model->norm_sites()) sites.emplace_back(s->probe().name, s->features());
  const std::vector<std::pair<std::string, std::size_t>> expected{
      {"gru0.norm_ih_gates", 8}, {"gru0.norm_ih_cand", 4}, {"gru0.norm_hh_gates", 8},
      {"gru0.norm_hh_cand", 4},  {"gru1.norm_ih_gates", 8}, {"gru1.norm_ih_cand", 4},
      {"gru1.norm_hh_gates", 8}, {"gru1.norm_hh_cand", 4}};
  CHECK(sites == expected);
  CHECK(model->probes().size() == expected.size());
  CHECK(model->params().info("gru1.norm_hh_cand.gain").shape == std::vector<std::size_t>{4});
  CHECK(model->params().info("gru1.norm_hh_gates.bias").shape == std::vector<std::size_t>{8});
  CHECK_THROWS_WITH(small_gru({"model.gru_norm_split=gates"}),
                    Catch::Contains("model.gru_norm_split") && Catch::Contains("separate"));
}

// What separating the groups means, tested on the model: LayerNorm over the candidate alone
// removes a shift common to the candidate's features, so adding one vector to every candidate row
// of W_ih and W_hh (the row's pre-activation moves by v.x, the same for all H candidate features)
// leaves the loss unchanged; over all 3H features the same shift moves the mean only in part, and
// the loss changes.
TEST_CASE("GRU LM: separate LayerNorm ignores a shift of the candidate weights, joint does not",
          "[models][gru]") {
  for (const std::string split : {"separate", "joint"}) {
    auto model = small_gru({"model.norm=layernorm", "model.gru_norm_split=" + split});
    nn::ParamStore<double>& p = model->params();
    const double before = loss_on_fixed_batch(*model);
    Rng rng(4);
    for (const char* name : {"gru0.weight_ih", "gru0.weight_hh", "gru1.weight_ih", "gru1.weight_hh"}) {
      const nn::ParamInfo& info = p.info(name);
      const std::size_t H = info.shape[0] / 3, in = info.shape[1];
      std::vector<double> shift(in);
      fill_normal(std::span<double>(shift), rng, 0.0, 0.5);
      for (std::size_t row = 2 * H; row < 3 * H; ++row) {
        for (std::size_t k = 0; k < in; ++k) p.values()[info.offset + row * in + k] += shift[k];
      }
    }
    const double after = loss_on_fixed_batch(*model);
    INFO(split << ": loss " << before << " -> " << after);
    // separate: the same loss up to the rounding of the shifted sums (~1e-16 relative)
    if (split == "separate") CHECK(std::abs(after - before) <= 1e-12 * std::abs(before));
    else CHECK(std::abs(after - before) > 1e-4);
  }
}

TEST_CASE("GRU LM: orthogonal recurrent init, per gate block, deterministic from the seed",
          "[models][gru]") {
  const std::size_t H = 16;
  io::Config c = config({"model.family=gru", "model.embed=8", "model.width=16", "model.depth=2",
                         "model.recurrent_init=orthogonal"});
  auto draw = [&](std::uint64_t seed) {
    auto m = models::build_model<float>(c, {"random tokens", models::TaskKind::tokens, 0, 5, 5});
    Rng rng(seed);
    m->params().initialize("offset", 0.01, rng);  // the RMSNorm paper's robustness test
    return m;
  };
  auto a = draw(7), again = draw(7), other = draw(8);
  for (const char* name : {"gru0.weight_hh", "gru1.weight_hh"}) {
    const nn::ParamInfo& info = a->params().info(name);
    const float* w = a->params().values().data() + info.offset;
    for (std::size_t block = 0; block < 3; ++block) {
      INFO(name << " gate block " << block);
      // float rounding of entries ~0.25 adds ~1e-8 per product; 1e-6 leaves room for H to grow
      CHECK(orthogonality_error(w, block * H, H) <= 1e-6);
    }
    // each gate block is its own draw, and another seed draws other matrices
    CHECK(std::abs(w[0] - w[H * H]) + std::abs(w[1] - w[2 * H * H + 1]) > 0);
    const float* w_other = other->params().values().data() + info.offset;
    double distance = 0;
    for (std::size_t i = 0; i < info.size; ++i) distance += std::abs(w[i] - w_other[i]);
    CHECK(distance / double(info.size) > 0.05);  // entries ~ N(0, 1/H): mean |difference| ~ 0.2
  }
  CHECK(a->params().values() == again->params().values());  // same seed, same bits
  // the other weights still follow model.init: W_ih ~ N(0.2, 0.01^2)
  const nn::ParamInfo& ih = a->params().info("gru0.weight_ih");
  double mean = 0;
  for (std::size_t i = 0; i < ih.size; ++i) mean += a->params().values()[ih.offset + i];
  CHECK(std::abs(mean / double(ih.size) - 0.2) < 0.005);

  c.set("model.recurrent_init=default");
  auto plain = draw(7);
  const nn::ParamInfo& hh = plain->params().info("gru0.weight_hh");
  CHECK(orthogonality_error(plain->params().values().data() + hh.offset, 0, H) > 0.5);
  c.set("model.recurrent_init=ortho");
  CHECK_THROWS_WITH(draw(7), Catch::Contains("model.recurrent_init") && Catch::Contains("orthogonal"));
}

TEST_CASE("fill_orthogonal: orthogonal to rounding and uniform over the orthogonal group",
          "[models][gru]") {
  Rng rng(9);
  const std::size_t n = 64;
  std::vector<double> q(n * n);
  nn::fill_orthogonal(q, n, rng);
  CHECK(orthogonality_error(q.data(), 0, n) <= 1e-13);
  // Haar: every entry has mean 0 and mean square 1/n, the determinant is +1 or -1 equally often.
  // 20000 draws of 3 x 3: the standard errors are ~0.004 (entries), ~0.002 (squares), 0.007 (det);
  // the bounds are 5 of them.
  const std::size_t m = 3, draws = 20000;
  std::vector<double> sum(m * m), sum_sq(m * m), r(m * m);
  double det_sum = 0;
  for (std::size_t d = 0; d < draws; ++d) {
    nn::fill_orthogonal(r, m, rng);
    for (std::size_t i = 0; i < m * m; ++i) {
      sum[i] += r[i];
      sum_sq[i] += r[i] * r[i];
    }
    det_sum += r[0] * (r[4] * r[8] - r[5] * r[7]) - r[1] * (r[3] * r[8] - r[5] * r[6]) +
               r[2] * (r[3] * r[7] - r[4] * r[6]);
  }
  for (std::size_t i = 0; i < m * m; ++i) {
    INFO("entry " << i);
    CHECK(std::abs(sum[i] / draws) < 0.02);
    CHECK(std::abs(sum_sq[i] / draws - 1.0 / m) < 0.01);
  }
  CHECK(std::abs(det_sum / draws) < 0.035);

  nn::ParamStore<double> store;
  const nn::Param wide = store.add("wide", {4, 8}, nn::ParamRole::weight);
  CHECK_THROWS_WITH(store.set_orthogonal(wide, 4), Catch::Contains("square blocks"));
}
