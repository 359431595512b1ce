// The analysis tools (src/analysis) on tiny models trained in float64: first-order sensitivities
// against central differences of the loss, the invariances theory predicts against the measured
// logits, per-position GRU statistics, Spearman's rank correlation against closed forms, and the
// errors bad input gets.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "analysis/invariance.hpp"
#include "analysis/loaded_run.hpp"
#include "analysis/positions.hpp"
#include "analysis/sensitivity.hpp"
#include "helpers.hpp"
#include "train_helpers.hpp"
#include "io/config.hpp"
#include "io/hdf5.hpp"
#include "train/trainer.hpp"

namespace {

using namespace normlab;
using Catch::Matchers::Contains;

// Trains `toml` (float64, a few steps) into dir and returns the run file's path.
std::string train_tiny(const test::TempDir& dir, const std::string& toml) {
  return test::train_completed(dir.path, toml);
}

const char* kGru =
    "[model]\nfamily = \"gru\"\nwidth = 12\ndepth = 1\nembed = 8\ncontext = 12\nnorm = \"layernorm\"\n"
    "[data]\ntask = \"grammar\"\nval_size = 6\nchars = 4000\n[train]\nsteps = 20\nbatch = 4\n"
    "eval_every = 20\n";
const char* kTransformer =
    "[model]\nfamily = \"transformer\"\nwidth = 16\ndepth = 2\nheads = 2\ncontext = 12\n"
    "qk_norm = true\nnorm = \"pcnorm\"\nnorm_options = \"learn_lambda=true\"\nactivation = \"gelu\"\n"
    "[data]\ntask = \"grammar\"\nval_size = 6\nchars = 4000\n[train]\nsteps = 20\nbatch = 4\n"
    "eval_every = 20\n";
// One MLP layer per normalizer kind, so every kind's invariances are checked on a trained model:
// the kinds with an eps get eps = 1e-12 (so that eps does not break their invariances visibly),
// centernorm and none have none.
const char* kMlpEpsKinds =
    "[model]\nfamily = \"mlp\"\nwidth = 16\ndepth = 6\nnorm_options = \"eps=1e-12\"\n"
    "norm = [\"rmsnorm\", \"layernorm\", \"scalenorm\", \"prmsnorm\", \"l2norm\", \"pcnorm\"]\n"
    "[data]\nfeatures = 8\nclasses = 4\nval_size = 24\n[train]\nsteps = 30\nbatch = 8\n"
    "eval_every = 30\n";
const char* kMlpOtherKinds =
    "[model]\nfamily = \"mlp\"\nwidth = 16\ndepth = 2\nnorm = [\"centernorm\", \"none\"]\n"
    "[data]\nfeatures = 8\nclasses = 4\nval_size = 24\n[train]\nsteps = 30\nbatch = 8\n"
    "eval_every = 30\n";

// Central differences of the loss at eps = 1e-4 in float64 against the first-order forms: the
// truncation error is eps^2/6 |L'''| (about 1e-9 of the derivative for these smooth losses) and the
// rounding error about 1e-16 |L| / eps ~ 1e-12; measured agreement is ~1e-8 relative, so 1e-6
// relative (plus 1e-10 absolute, for first orders that are themselves ~0, such as the gain
// sensitivity at a scale-invariant site) leaves a margin and still fails on any pairing error.
constexpr double kFirstOrderRtol = 1e-6, kFirstOrderAtol = 1e-10;
constexpr double kSmallEps = 1e-4;

void check_first_order(const std::string& path) {
  std::ostringstream log;
  analysis::LoadedRun run = analysis::load_run(path, std::nullopt, 0, log);
  const std::vector<double> grid{-1e-2, -kSmallEps, kSmallEps, 1e-2};
  const auto r = analysis::measure_sensitivity(run, grid, 7);
  REQUIRE(r.sites.size() == run.probes.size());
  for (const auto& s : r.sites) {
    for (auto [what, first, dloss] :
         {std::tuple{"gain", s.gain_first_order, &s.gain},
          {"offset", s.offset_first_order, &s.offset}, {"control", s.control_first_order, &s.control}}) {
      const double cd = analysis::central_difference(grid, *dloss, kSmallEps);
      INFO(path << " " << s.name << " " << what << ": first order " << first << ", central " << cd);
      CHECK(std::abs(first - cd) <= kFirstOrderRtol * std::abs(first) + kFirstOrderAtol);
    }
  }
}

}  // namespace

TEST_CASE("sensitivity: first-order forms match central differences (GRU, Transformer)",
          "[analysis]") {
  test::TempDir dir;
  check_first_order(train_tiny(dir, kGru));  // the recurrent site: T calls paired in reverse
  check_first_order(train_tiny(dir, kTransformer));  // QK-norm sites and the residual stream
}

TEST_CASE("sensitivity: the perturbations, the file and its round trip", "[analysis]") {
  // The three directions of one row move it by the same norm, |eps| * ||x||.
  const std::vector<double> x{3.0, -1.0, 2.0, 0.5}, u{0.5, 0.5, -0.5, 0.5};
  double norm_x = 0;
  for (double v : x) norm_x += v * v;
  norm_x = std::sqrt(norm_x);
  for (auto d : {analysis::Direction::gain, analysis::Direction::offset, analysis::Direction::control}) {
    std::vector<double> y = x;
    analysis::perturb_row(y.data(), d, 0.1, u, 4);
    double moved = 0;
    for (std::size_t i = 0; i < 4; ++i) moved += (y[i] - x[i]) * (y[i] - x[i]);
    CHECK(std::sqrt(moved) == Approx(0.1 * norm_x).epsilon(1e-12));
  }
  test::TempDir dir;
  const std::string path = train_tiny(dir, kTransformer);
  std::ostringstream log, table;
  analysis::LoadedRun run = analysis::load_run(path, std::nullopt, 1, log);
  const auto r = analysis::measure_sensitivity(run, analysis::default_epsilons(), 1, "block1.mlp.norm");
  REQUIRE(r.sites.size() == 1);
  CHECK(r.sites[0].kind == "pcnorm");
  CHECK(std::isfinite(r.sites[0].lambda));  // learned lambda, from the run file's statistics
  const std::string out = dir / "s.h5";
  analysis::write_sensitivity(out, r, 0.1);
  const auto back = analysis::read_sensitivity(out);
  CHECK(back.sites[0].offset == r.sites[0].offset);
  CHECK(back.base_loss == r.base_loss);
  analysis::print_sensitivity(table, back, 0.1);
  CHECK_THAT(table.str(), Contains("| block1.mlp.norm | pcnorm |"));
}

TEST_CASE("invariance: theory's predictions hold on a trained model of every kind", "[analysis]") {
  test::TempDir dir;
  std::ostringstream log;
  std::size_t rows = 0;
  for (const char* toml : {kMlpEpsKinds, kMlpOtherKinds}) {
    analysis::LoadedRun run = analysis::load_run(train_tiny(dir, toml), std::nullopt, 0, log);
    const auto r = analysis::measure_invariance(run, {0.5, 2, 10}, {0.5, 2, 10});
    // Invariant: float64 rounding (measured <= 1e-14 of max |logit|) plus what eps = 1e-12 breaks:
    // the normalizer's output changes by up to (eps/ms) |1 - 1/alpha^2| / 2 <= 1.5 eps/ms relative
    // (ms: the rows' mean square), and the rest of the network passes that on to the logits with a
    // gain measured below 1.5 (2.2e-9 at eps/ms = 1.5e-9, the smallest input, after l2norm). So
    // 1e-12 + 10 eps/ms. Not invariant: measured >= 0.2 (the smallest, a shift by 0.5 RMS at the
    // prmsnorm layer); the threshold 1e-4 leaves a factor 2000.
    constexpr double kRounding = 1e-12, kEpsGain = 10, kBrokenMin = 1e-4;
    for (const auto& row : r.rows) {
      const double rel = row.max_dlogit / r.max_abs_logit;
      INFO(row.site << " " << row.kind << " " << row.transform << " " << row.factor << ": " << rel
                    << ", eps/ms " << row.eps_over_ms);
      const double eps_term = std::isnan(row.eps_over_ms) ? 0.0 : kEpsGain * row.eps_over_ms;
      if (row.expected) CHECK(rel <= kRounding + eps_term);
      else CHECK(rel >= kBrokenMin);
      if (row.kind == "pcnorm" && row.transform == "shift") CHECK_FALSE(row.expected);  // lambda 0.5
    }
    rows += r.rows.size();
  }
  CHECK(rows == (6 + 2) * 6);
  CHECK(analysis::expected_invariant("pcnorm", "shift", 1.0));
  CHECK_FALSE(analysis::expected_invariant("pcnorm", "shift", 0.5));
  CHECK_FALSE(analysis::expected_invariant("rmsnorm", "shift", NAN));
  CHECK_FALSE(analysis::expected_invariant("centernorm", "scale", NAN));
}

TEST_CASE("positions: per-step statistics of the GRU's recurrent pre-activations", "[analysis]") {
  test::TempDir dir;
  std::ostringstream log;
  std::string toml = kGru;
  toml.replace(toml.find("\"layernorm\""), 11, "\"none\"");
  analysis::LoadedRun run = analysis::load_run(train_tiny(dir, toml), std::nullopt, 0, log);
  const auto p = analysis::measure_positions(run);
  REQUIRE(p.size() == 1);
  CHECK(p[0].site == "gru0.norm_hh");
  REQUIRE(p[0].in_mean.size() == 12);
  CHECK(p[0].in_mean[0] == 0);  // h_{-1} = 0
  CHECK(p[0].in_std[0] == 0);
  for (std::size_t t = 1; t < 12; ++t) {
    CHECK(p[0].in_std[t] > 0);
    CHECK(p[0].out_mean[t] == Approx(p[0].in_mean[t]).margin(1e-15));  // "none" passes x through
    CHECK(p[0].out_std[t] == Approx(p[0].in_std[t]).epsilon(1e-12));
  }
}

TEST_CASE("positions: the separate gate and candidate sites add up to the joint site", "[analysis]") {
  // With no normalization the split changes nothing in training, so the two runs have the same
  // W_hh h_{t-1}: the gates' 2H and the candidate's H values pooled are the joint site's 3H.
  test::TempDir dir, dir2;
  std::ostringstream log;
  std::string joint = kGru;
  joint.replace(joint.find("\"layernorm\""), 11, "\"none\"");
  std::string separate = joint;
  separate.replace(separate.find("[data]"), 6, "gru_norm_split = \"separate\"\n[data]");
  analysis::LoadedRun a = analysis::load_run(train_tiny(dir, joint), std::nullopt, 0, log);
  analysis::LoadedRun b =
      analysis::load_run(train_tiny(dir2, separate), std::nullopt, 0, log);
  const auto pa = analysis::measure_positions(a);
  const auto pb = analysis::measure_positions(b);
  REQUIRE(pa.size() == 1);
  REQUIRE(pb.size() == 2);
  CHECK(pb[0].site == "gru0.norm_hh_gates");
  CHECK(pb[1].site == "gru0.norm_hh_cand");
  REQUIRE(pb[0].in_mean.size() == 12);
  REQUIRE(pb[1].in_mean.size() == 12);
  for (std::size_t t = 1; t < 12; ++t) {
    const double mg = pb[0].in_mean[t], mc = pb[1].in_mean[t];
    const double mean = (2 * mg + mc) / 3;  // 2H gate values, H candidate values
    const double var = (2 * (pb[0].in_std[t] * pb[0].in_std[t] + (mg - mean) * (mg - mean)) +
                        pb[1].in_std[t] * pb[1].in_std[t] + (mc - mean) * (mc - mean)) / 3;
    CHECK(mean == Approx(pa[0].in_mean[t]).epsilon(1e-9).margin(1e-15));
    CHECK(std::sqrt(var) == Approx(pa[0].in_std[t]).epsilon(1e-9));
  }
}

TEST_CASE("spearman: closed forms", "[analysis]") {
  CHECK(analysis::spearman({1, 2, 3, 4, 5}, {2, 4, 8, 16, 32}) == Approx(1.0));
  CHECK(analysis::spearman({1, 2, 3, 4, 5}, {5, 4, 3, 2, 1}) == Approx(-1.0));
  // ranks of y: 1, 2, 3.5, 5, 3.5; Pearson of the ranks = 8 / sqrt(10 * 9.5)
  CHECK(analysis::spearman({1, 2, 3, 4, 5}, {5, 6, 7, 8, 7}) == Approx(8 / std::sqrt(95.0)));
  CHECK(std::isnan(analysis::spearman({1, 2}, {2, 1})));
  CHECK(analysis::spearman({1, 2, NAN, 3}, {1, 2, 5, 3}) == Approx(1.0));  // the NaN pair left out
}

TEST_CASE("analysis: bad input gets an error naming the file and the problem", "[analysis]") {
  test::TempDir dir;
  std::ostringstream log;
  const std::string other = dir / "other.h5";
  {
    h5::File f = h5::File::create(other);
    f.write<double>("x", {2}, std::vector<double>{1, 2});
  }
  CHECK_THROWS_WITH(analysis::load_run(other, std::nullopt, 0, log), Contains(other));
  CHECK_THROWS_WITH(analysis::read_sensitivity(other), Contains(other) && Contains("not a sensitivity file"));

  io::Config c = io::Config::parse(kGru, "test.toml");
  c.set("train.checkpoint_every=0");
  const auto stopped = train::run(c, dir.path.string(), log, {.resume = false, .stop_at_step = 3});
  REQUIRE(stopped.status == "interrupted");
  CHECK_THROWS_WITH(analysis::load_run(stopped.path, std::nullopt, 0, log),
                    Contains(stopped.path) && Contains("no checkpoint"));

  const std::string path = train_tiny(dir, kTransformer);
  analysis::LoadedRun run = analysis::load_run(path, std::nullopt, 1, log);
  CHECK_THROWS_WITH(analysis::measure_sensitivity(run, {0.1, -0.1}, 1, "block1.mlp.nrom"),
                    Contains("no site 'block1.mlp.nrom'") && Contains("did you mean 'block1.mlp.norm'"));
  CHECK_THROWS_WITH(analysis::measure_positions(run), Contains("need a GRU run"));
}

TEST_CASE("correlate: per run, per normalizer, pooled; rounding counts as zero", "[analysis]") {
  // Three sites per report; offset sensitivity at eps = 0.1 is (|dL(+)| + |dL(-)|) / 2 = dL here.
  auto report = [](const std::string& norm, std::vector<double> stat, std::vector<double> sens) {
    analysis::SensitivityReport r;
    r.run = norm + ".h5";
    r.norm = norm;
    r.base_loss = 1.0;
    r.epsilons = {-0.1, 0.1};
    for (std::size_t i = 0; i < stat.size(); ++i) {
      analysis::SiteSensitivity s;
      s.name = "layer" + std::to_string(i) + ".norm";
      s.kind = norm;
      s.offset = {sens[i], sens[i]};
      s.abs_mean_over_rms = stat[i];
      s.lambda = NAN;
      r.sites.push_back(s);
    }
    return r;
  };
  const auto c = analysis::correlate({report("rmsnorm", {0.1, 0.2, 0.3}, {1e-3, 2e-3, 3e-3}),
                                      report("layernorm", {0.05, 0.02, 0.01}, {1e-16, 3e-17, 2e-16})},
                                     0.1, true);
  REQUIRE(c.size() == 2);  // abs_mean_over_rms, lambda
  const auto& a = c[0];
  REQUIRE(a.groups.size() == 2 + 2 + 1);
  CHECK(a.rho[0] == Approx(1.0));
  CHECK(std::isnan(a.rho[1]));  // rounding noise only: all ties, no correlation to rank
  CHECK(a.groups[2] == "norm=rmsnorm, its runs pooled");
  // pooled: stats 0.1 0.2 0.3 0.05 0.02 0.01 against 1 2 3 0 0 0 (ranks 4 5 6 2 2 2):
  // Pearson of ranks (4 5 6 3 2 1) and (4 5 6 2 2 2) = 15.5 / sqrt(17.5 * 15.5)
  CHECK(a.rho[4] == Approx(15.5 / std::sqrt(17.5 * 15.5)));
  CHECK(a.sites[4] == 6);
  CHECK(c[1].sites[4] == 0);  // no lambda anywhere
}

// Run format 4 renamed the placement `peri` to `reordered` (issue 19). A format 3 file whose config
// says `peri` is read as `reordered`, with a note, and analyzed as the same model; a config that
// says `peri` builds no model, and the error names both new names.
TEST_CASE("analysis: a format 3 run file with placement peri loads as reordered, with a note",
          "[analysis]") {
  test::TempDir dir;
  std::string reordered = kTransformer;
  reordered.insert(reordered.find("qk_norm"), "placement = \"reordered\"\n");
  const std::string path = train_tiny(dir, reordered);
  std::string toml;
  {  // make it the file format 3 wrote: the old name, the old version
    h5::File f = h5::File::open(path, h5::File::Mode::read_write);
    toml = f.read_string_attribute("/", "config_toml");
    const auto at = toml.find("reordered");  // the value of model.placement, however quoted
    REQUIRE(at != std::string::npos);
    toml.replace(at, std::string("reordered").size(), "peri");
    f.write_attribute("/", "config_toml", toml);
    f.write_attribute("/", "format_version", 3LL);
  }
  std::ostringstream log;
  analysis::LoadedRun run = analysis::load_run(path, std::nullopt, 1, log);
  CHECK(run.config.string("model.placement") == "reordered");
  CHECK_THAT(log.str(), Contains("note: " + path) && Contains("format 3") &&
                            Contains("\"peri\"") && Contains("\"reordered\"") && Contains("Peri-LN is \"sandwich\""));
  CHECK(std::isfinite(analysis::held_out_loss(run, false)));

  // the same text in a format 4 file is not upgraded: building its model is the error
  {
    h5::File f = h5::File::open(path, h5::File::Mode::read_write);
    f.write_attribute("/", "format_version", 4LL);
  }
  std::ostringstream log4;
  CHECK_THROWS_WITH(analysis::load_run(path, std::nullopt, 1, log4),
                    Contains("'peri' was renamed") && Contains("'reordered'") && Contains("'sandwich'"));
}

// The invariance analysis takes each site's options as the model did: by role over kind
// (model.norm_options' table form). PCNorm with a fixed lambda = 1 at the attention sites is
// shift-invariant there, with lambda = 0.5 at the MLP sites it is not.
TEST_CASE("invariance: each site's options by role and kind, as the model took them", "[analysis]") {
  test::TempDir dir;
  std::string toml = kTransformer;
  const std::string old_options = "norm_options = \"learn_lambda=true\"";
  toml.replace(toml.find(old_options), old_options.size(),
               "norm_options = { attn = \"lambda=1\", pcnorm = \"lambda=0.5\" }");
  std::ostringstream log;
  analysis::LoadedRun run = analysis::load_run(train_tiny(dir, toml), std::nullopt, 1, log);
  const auto r = analysis::measure_invariance(run, {2}, {2});
  std::size_t checked = 0;
  for (const auto& row : r.rows) {
    if (row.transform != "shift") continue;
    INFO(row.site);
    const bool attn = row.site.find(".attn.norm") != std::string::npos &&
                      row.site.find("norm_") == std::string::npos;  // not norm_q, norm_k
    CHECK(row.expected == attn);
    checked += attn;
  }
  CHECK(checked == 2);  // block0.attn.norm, block1.attn.norm
}
