// analyze recentering (src/analysis/recentering.hpp): ones_response against closed forms, and a
// hand-built model whose answer is known: a LayerNorm MLP trained with a large mean at its
// normalizers' inputs, then the Linear after site A overwritten to respond only to the mean
// (rows c_o 1^T) and the head after site B to ignore it (zero-mean rows). A must be flagged
// "recenter", B "gain-only", and the config written must say so and train.
#include <catch2/catch.hpp>

#include <hdf5.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "analysis/files.hpp"
#include "analysis/loaded_run.hpp"
#include "analysis/recentering.hpp"
#include "core/random.hpp"
#include "helpers.hpp"
#include "train_helpers.hpp"
#include "io/config.hpp"
#include "io/hdf5.hpp"
#include "io/run_schema.hpp"
#include "run_cli.hpp"
#include "train/checkpoint_digest.hpp"
#include "train/trainer.hpp"

namespace {

using namespace normlab;
using Catch::Matchers::Contains;

// Power iteration stops at a residual of 1e-9 rho, so sigma is within ~1e-9 relative; the closed
// forms below are exact up to rounding, so 1e-8 relative leaves a margin and still fails on any
// formula error (a missing sqrt(D) is a factor of 2 or more here).
constexpr double kClosedFormTol = 1e-8;

std::vector<double> gaussian(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<double> v(n);
  fill_normal(std::span<double>(v), rng, 0.0, 1.0);
  return v;
}

// W (out, D) with rows r_o - mean(r_o) 1^T: every row orthogonal to 1.
std::vector<double> zero_mean_rows(std::size_t out, std::size_t D, std::uint64_t seed) {
  std::vector<double> W = gaussian(out * D, seed);
  for (std::size_t o = 0; o < out; ++o) {
    double mean = 0;
    for (std::size_t i = 0; i < D; ++i) mean += W[o * D + i] / double(D);
    for (std::size_t i = 0; i < D; ++i) W[o * D + i] -= mean;
  }
  return W;
}

// W (out, D) with rows c_o 1^T, c_o drawn (a rank-one map that sees only the mean).
std::vector<double> mean_only_rows(std::size_t out, std::size_t D, std::uint64_t seed) {
  const std::vector<double> c = gaussian(out, seed);
  std::vector<double> W(out * D);
  for (std::size_t o = 0; o < out; ++o) std::fill_n(W.begin() + std::ptrdiff_t(o * D), D, c[o]);
  return W;
}

TEST_CASE("recentering: spectral norm of matrices with known singular values", "[recentering]") {
  // diag(3, -1, 2) padded to (4, 3): singular values 3, 2, 1.
  const std::vector<double> A{3, 0, 0, 0, -1, 0, 0, 0, 2, 0, 0, 0};
  CHECK(std::abs(analysis::spectral_norm(A.data(), 4, 3) - 3) <= kClosedFormTol * 3);
  // [[1, 1], [0, 1]]: sigma_max^2 = (3 + sqrt(5)) / 2.
  const std::vector<double> B{1, 1, 0, 1};
  const double expected = std::sqrt((3 + std::sqrt(5.0)) / 2);
  CHECK(std::abs(analysis::spectral_norm(B.data(), 2, 2) - expected) <= kClosedFormTol * expected);
  const std::vector<double> zero(6, 0.0);
  CHECK(analysis::spectral_norm(zero.data(), 2, 3) == 0);
}

TEST_CASE("recentering: ones_response against closed forms", "[recentering]") {
  const std::size_t out = 12, D = 20;
  const std::vector<double> ones(D, 1.0);
  // Rows c_o 1^T: W 1 = D c and ||W||_2 = ||c|| sqrt(D), so r = 1 whatever c.
  const auto mean_only = mean_only_rows(out, D, 3);
  CHECK(std::abs(analysis::ones_response(mean_only.data(), out, D, ones) - 1) <= kClosedFormTol);
  // Zero-mean rows: W 1 = 0.
  const auto zero_mean = zero_mean_rows(out, D, 4);
  CHECK(analysis::ones_response(zero_mean.data(), out, D, ones) <= 1e-14);
  // The gain folded in: g = 0 except g_j = 2 leaves W's column j times 2, so ||W g|| equals
  // ||W diag(g)||_2 and r = 1 / sqrt(D) for any W with a non-zero column j.
  std::vector<double> g(D, 0.0);
  g[7] = 2;
  const double one_column = analysis::ones_response(zero_mean.data(), out, D, g);
  CHECK(std::abs(one_column - 1 / std::sqrt(double(D))) <= kClosedFormTol);
  // A gain that is 0 everywhere: W diag(g) = 0 responds to nothing.
  CHECK(analysis::ones_response(zero_mean.data(), out, D, std::vector<double>(D, 0.0)) == 0);
  CHECK_THROWS_WITH(analysis::ones_response(zero_mean.data(), out, D, std::vector<double>(3, 1.0)),
                    Contains("a gain of 3 features for a map reading 20"));
}

TEST_CASE("recentering: a random Gaussian map responds to 1 as to a typical direction",
          "[recentering]") {
  // sqrt(out) / (sqrt(out) + sqrt(D)): ||W 1|| ~ sqrt(out D), ||W||_2 ~ sqrt(out) + sqrt(D) at
  // large sizes (the edge of Marchenko-Pastur); measured 0.328 (64 x 256, baseline 1/3) and 0.475
  // (128 x 128, baseline 1/2) with these seeds: a 15% band is loose and still fails on a wrong
  // normalization (the Frobenius norm in place of ||W||_2 would give about 1/sqrt(D)).
  for (auto [out, D, seed] : {std::tuple<std::size_t, std::size_t, std::uint64_t>{64, 256, 11},
                              {128, 128, 12}}) {
    const auto W = gaussian(out * D, seed);
    const double r = analysis::ones_response(W.data(), out, D, std::vector<double>(D, 1.0));
    const double baseline = analysis::random_ones_response(out, D);
    INFO(out << " x " << D << ": r = " << r << ", baseline " << baseline);
    CHECK(std::abs(r - baseline) <= 0.15 * baseline);
  }
}

// Rows x_r = a_r 1 + z_r with z_r orthogonal to 1 and ||z_r||^2 = D (1 - a_r^2): then q_r = 1 and
// m_r / q_r = a_r exactly, so the row statistics have closed forms in the a_r.
TEST_CASE("recentering: the row statistics against closed forms", "[recentering]") {
  const std::size_t D = 8;
  const std::vector<double> a{0.2, 0.6, 0.2, 0.6, -0.4};
  std::vector<double> x(a.size() * D);
  for (std::size_t r = 0; r < a.size(); ++r) {
    // z = c (+1, -1, +1, -1, ...): orthogonal to 1, ||z||^2 = D c^2.
    const double c = std::sqrt(1 - a[r] * a[r]);
    for (std::size_t i = 0; i < D; ++i) x[r * D + i] = a[r] + (i % 2 ? -c : c);
  }
  analysis::RowStatistics stats;
  stats.forward(x.data(), nullptr, 3, D);  // two calls, as a GRU's recurrent site makes
  stats.forward(x.data() + 3 * D, nullptr, 2, D);
  double mean = 0, var = 0, s_mean = 0, s_var = 0;
  for (double v : a) mean += v / double(a.size());
  for (double v : a) var += (v - mean) * (v - mean) / double(a.size());
  for (double v : a) s_mean += std::sqrt(1 - v * v) / double(a.size());
  for (double v : a) s_var += std::pow(std::sqrt(1 - v * v) - s_mean, 2) / double(a.size());
  CHECK(stats.mean_jitter() == Approx(std::sqrt(var)).epsilon(1e-12));
  CHECK(stats.scale_mean() == Approx(s_mean).epsilon(1e-12));
  CHECK(stats.scale_cv() == Approx(std::sqrt(s_var) / s_mean).epsilon(1e-12));
  // A row scaled by any positive factor has the same m / q: the statistics do not change.
  for (double& v : x) v *= 7.5;
  analysis::RowStatistics scaled;
  scaled.forward(x.data(), nullptr, a.size(), D);
  CHECK(scaled.mean_jitter() == Approx(std::sqrt(var)).epsilon(1e-12));

  // The gradient: along 1 its share is 1, orthogonal to 1 it is 0, and an even mix of the two
  // (equal norms) gives 1/2; an isotropic random gradient gives about 1/D.
  std::vector<double> ones(D, 1.0), alternating(D);
  for (std::size_t i = 0; i < D; ++i) alternating[i] = i % 2 ? -1.0 : 1.0;
  analysis::RowStatistics g1, g0, mix;
  g1.backward(nullptr, ones.data(), 1, D);
  g0.backward(nullptr, alternating.data(), 1, D);
  mix.backward(nullptr, ones.data(), 1, D);
  mix.backward(nullptr, alternating.data(), 1, D);
  CHECK(g1.grad_ones_share() == Approx(1).epsilon(1e-15));
  CHECK(g0.grad_ones_share() == 0);
  CHECK(mix.grad_ones_share() == Approx(0.5).epsilon(1e-15));
  const std::size_t wide = 256, rows = 400;
  const std::vector<double> noise = gaussian(wide * rows, 5);
  analysis::RowStatistics iso;
  iso.backward(nullptr, noise.data(), rows, wide);
  // <dy, 1>^2 / (D ||dy||^2) has mean 1/D and, summed over 400 rows, a relative sd of sqrt(2/400).
  CHECK(iso.grad_ones_share() * double(wide) == Approx(1).margin(0.3));
  // Nothing seen: NaN, not 0.
  analysis::RowStatistics none;
  CHECK(std::isnan(none.mean_jitter()));
  CHECK(std::isnan(none.grad_ones_share()));
}

const char* kMeanHeavyMlp =
    "[model]\nfamily = \"mlp\"\nwidth = 16\ndepth = 2\nnorm = \"layernorm\"\ninit = \"offset\"\n"
    "[data]\nfeatures = 8\nclasses = 4\nval_size = 24\n[train]\nsteps = 30\nbatch = 8\n"
    "eval_every = 30\ncheckpoint_every = 0\n[stats]\nevery = 10\n";

// Replaces checkpoint/<param>'s values in place (same shape) and its SHA-256, as if trained so.
void overwrite_parameter(const std::string& path, const std::string& param,
                         const std::vector<double>& values) {
  const std::string dataset = io::schema::checkpoint_dataset(param);
  {
    hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(file >= 0);
    hid_t d = H5Dopen2(file, dataset.c_str(), H5P_DEFAULT);
    REQUIRE(d >= 0);
    hid_t space = H5Dget_space(d);
    REQUIRE(std::size_t(H5Sget_simple_extent_npoints(space)) == values.size());
    H5Sclose(space);
    REQUIRE(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
    H5Dclose(d);
    H5Fclose(file);
  }
  h5::File f = h5::File::open(path, h5::File::Mode::read_write);
  f.write_attribute(dataset, io::schema::kCheckpointSha256,
                    train::parameter_digest(std::span<const double>(values)));
}

const analysis::SiteRecentering& site(const analysis::RecenteringReport& r, const std::string& name) {
  for (const auto& s : r.sites) {
    if (s.site == name) return s;
  }
  FAIL("no site " << name);
  return r.sites.front();
}

TEST_CASE("recentering: the hand-built model flags the site whose next layer reads the mean",
          "[recentering]") {
  test::TempDir dir;
  const std::string run = test::train_completed(dir.path / "runs", kMeanHeavyMlp);
  const std::size_t width = 16, classes = 4;
  overwrite_parameter(run, "layer1.weight", mean_only_rows(width, width, 21));  // after site A
  overwrite_parameter(run, "head.weight", zero_mean_rows(classes, width, 22));  // after site B

  std::ostringstream log;
  analysis::LoadedRun loaded = analysis::load_run(run, std::nullopt, 0, log);
  auto r = analysis::analyze_recentering(loaded, {}, 0.05, 1);
  REQUIRE(r.sites.size() == 2);
  const auto& a = site(r, "layer0.norm");
  const auto& b = site(r, "layer1.norm");
  INFO("A: " << a.reason << "; B: " << b.reason);
  // model.init = offset gives every pre-activation a large mean: most of the squared norm.
  CHECK(a.in_mean_share > 0.5);
  CHECK(b.in_mean_share > 0.5);
  CHECK(a.readers == "layer1.weight");
  CHECK(b.readers == "head.weight");
  CHECK(std::abs(a.ones_response_plain - 1) <= kClosedFormTol);
  CHECK(b.ones_response_plain <= 1e-12);
  // LayerNorm ignores a shift of its input: the offset has no effect at all.
  CHECK(a.offset_ratio == 0);
  // B's gain, no longer exactly 1 after training, leaks a little of the mean (measured 0.002 with
  // these seeds), far below the rule's 0.5 x 0.333 for a (4, 16) map.
  CHECK(b.ones_response < 0.05);
  // The verdict: A's input mean varies with the sample (its input is the data through positive
  // weights) and the next map reads it whole, so its leak is mean_jitter over the centered scale;
  // B's map passes almost none of it.
  CHECK(a.mean_jitter > 0.05);
  CHECK(a.mean_leak >= 0.1);
  CHECK(b.mean_leak < 0.1 * a.mean_leak);
  CHECK(a.recenter);
  CHECK_FALSE(b.recenter);
  CHECK(r.kinds == std::vector<std::string>{"layernorm", "rmsnorm"});
  // Each clause on its own: a scale_cv threshold of 0 flags every site (its reason names the
  // clause); thresholds above every figure flag none.
  const auto all = analysis::analyze_recentering(loaded, {.min_scale_cv = 0}, 0.05, 1);
  CHECK(all.kinds == std::vector<std::string>{"layernorm", "layernorm"});
  CHECK_THAT(all.sites[1].reason, Contains("scale of the centered signal would vary by"));
  const auto none =
      analysis::analyze_recentering(loaded, {.min_mean_leak = 1e9, .min_scale_cv = 1e9}, 0.05, 1);
  CHECK(none.kinds == std::vector<std::string>{"rmsnorm", "rmsnorm"});
  CHECK_THAT(none.sites[0].reason, Contains("< 1e+09"));
  CHECK_THROWS_WITH(analysis::analyze_recentering(loaded, {.min_mean_leak = -1}, 0.05, 1),
                    Contains("--min-mean-leak: -1 must be finite and >= 0"));
  CHECK_THROWS_WITH(analysis::analyze_recentering(loaded, {}, 0, 1), Contains("--epsilon"));
  const std::string toml = analysis::recommended_config(loaded, r);
  CHECK(io::Config::parse(toml, "written.toml").strings("model.norm") == r.kinds);

  // The command: the table, the file beside the run, and the file trains.
  const std::string written = analysis::beside_run(run, ".recentering.toml");
  auto cli = test::run_cli({"analyze", "recentering", run});
  INFO(cli.err);
  REQUIRE(cli.status == 0);
  CHECK_THAT(cli.out, Contains("layer0.norm") && Contains("recenter") && Contains("gain-only") &&
                          Contains("in_mean_share") && Contains("ones_response_plain") &&
                          Contains("offset_ratio") && Contains("-> " + written));
  REQUIRE(std::filesystem::exists(written));
  CHECK(io::Config::load(written).strings("model.norm") == r.kinds);
  // The CSV beside it: a header and one row per site, the verdicts as in the table.
  const std::string csv_path = (std::filesystem::path(written).parent_path() /
                                std::filesystem::path(written).stem()).string() + ".csv";
  CHECK_THAT(cli.out, Contains("-> " + csv_path));
  std::ifstream csv(csv_path);
  std::string header, row0, row1, extra;
  std::getline(csv, header);
  std::getline(csv, row0);
  std::getline(csv, row1);
  CHECK_THAT(header, Contains("site,role,layer,depth,features,in_mean_share,mean_jitter"));
  CHECK_THAT(row0, Contains("layer0.norm,hidden,0,") && Contains(",recenter,layer1.weight"));
  CHECK_THAT(row1, Contains("layer1.norm,hidden,1,") && Contains(",gain-only,head.weight"));
  CHECK_FALSE(std::getline(csv, extra));
  auto trained = test::run_cli({"train", written, "--set", "train.steps=5", "--out",
                                (dir.path / "mixed").string()});
  INFO(trained.err);
  CHECK(trained.status == 0);
  CHECK_THAT(trained.out, Contains("completed after 5 steps"));

  // An existing output is never replaced silently.
  auto again = test::run_cli({"analyze", "recentering", run});
  CHECK(again.status != 0);
  CHECK_THAT(again.err, Contains(written) && Contains("--overwrite"));
  CHECK(test::run_cli({"analyze", "recentering", run, "--overwrite"}).status == 0);
}

TEST_CASE("recentering: bad input gets an error naming the file", "[recentering]") {
  test::TempDir dir;
  const std::string other = (dir.path / "other.h5").string();
  {
    h5::File f = h5::File::create(other);
    f.write<double>("x", {2}, std::vector<double>{1, 2});
  }
  auto r = test::run_cli({"analyze", "recentering", other});
  CHECK(r.status != 0);
  CHECK_THAT(r.err, Contains(other));

  io::Config c = io::Config::parse(kMeanHeavyMlp, "test.toml");
  std::ostringstream log;
  const auto stopped = train::run(c, dir.path.string(), log, {.resume = false, .stop_at_step = 3});
  REQUIRE(stopped.status == "interrupted");
  r = test::run_cli({"analyze", "recentering", stopped.path});
  CHECK(r.status != 0);
  CHECK_THAT(r.err, Contains(stopped.path) && Contains("no checkpoint"));
  CHECK_FALSE(std::filesystem::exists(analysis::beside_run(stopped.path, ".recentering.toml")));

  r = test::run_cli({"analyze", "recentering", stopped.path, "--min-mean-lea", "0.1"});
  CHECK(r.status != 0);
}

}  // namespace

namespace {

const char* kSwigluMixedPlacement =
    "[model]\nfamily = \"transformer\"\nwidth = 16\ndepth = 2\nheads = 2\ncontext = 12\n"
    "qk_norm = true\nnorm = \"pcnorm\"\nnorm_options = \"learn_lambda=true\"\n"
    "activation = \"swiglu\"\nplacement = [\"post\", \"pre\"]\ntie_embeddings = true\n"
    "[data]\ntask = \"grammar\"\nval_size = 6\nchars = 4000\n[train]\nsteps = 10\nbatch = 4\n"
    "eval_every = 10\ncheckpoint_every = 0\n[stats]\nevery = 5\n";
const char* kGruSplit =
    "[model]\nfamily = \"gru\"\nwidth = 12\ndepth = 2\nembed = 8\ncontext = 12\n"
    "norm = \"layernorm\"\ngru_norm_split = \"separate\"\n[data]\ntask = \"grammar\"\nval_size = 6\n"
    "chars = 4000\n[train]\nsteps = 10\nbatch = 4\neval_every = 10\ncheckpoint_every = 0\n"
    "[stats]\nevery = 5\n";

// Analyzes `run`, checks every site has a verdict and the written config trains 3 steps.
analysis::RecenteringReport analyze_and_train(const test::TempDir& dir, const std::string& run) {
  std::ostringstream log;
  analysis::LoadedRun loaded = analysis::load_run(run, std::nullopt, 0, log);
  auto r = analysis::analyze_recentering(loaded, {}, 0.05, 1);
  const std::string toml = analysis::recommended_config(loaded, r);
  io::Config c = io::Config::parse(toml, "written.toml");
  CHECK(c.strings("model.norm") == r.kinds);
  c.set("train.steps=3");
  const auto trained = train::run(c, (dir.path / "mixed").string(), log);
  CHECK(trained.status == "completed");
  return r;
}

}  // namespace

TEST_CASE("recentering: the maps a Transformer's sites are read by, and the block granularity",
          "[recentering]") {
  test::TempDir dir;
  const std::string run = test::train_completed(dir.path / "runs", kSwigluMixedPlacement);
  const auto r = analyze_and_train(dir, run);
  REQUIRE(r.kinds.size() == 2);
  // Block 0 is post-norm: its attention norm normalizes the sum, read by the MLP's two input maps;
  // its MLP norm feeds block 1, a pre-norm block that normalizes again. Block 1 is pre-norm.
  CHECK(site(r, "block0.attn.norm").role == "attn-sum");
  CHECK(site(r, "block0.attn.norm").readers == "block0.mlp.fc.weight,block0.mlp.gate.weight");
  CHECK_THAT(site(r, "block0.mlp.norm").readers, Contains("normalizes it again"));
  CHECK(std::isnan(site(r, "block0.mlp.norm").ones_response));
  CHECK(site(r, "block1.attn.norm").readers == "block1.attn.qkv.weight");
  CHECK(site(r, "block1.mlp.norm").role == "mlp-input");
  CHECK(site(r, "norm_final").readers == "embed.weight");  // tied: the head is the embedding
  CHECK_THAT(site(r, "block1.attn.norm_q").readers, Contains("n/a: QK-norm"));
  CHECK(site(r, "norm_final").depth == 1);
  for (std::size_t l = 0; l < 2; ++l) {  // a block is layernorm exactly when one of its sites is flagged
    bool flagged = false;
    for (const auto& s : r.sites) flagged |= s.recenter && std::min<std::size_t>(s.layer, 1) == l;
    CHECK(r.kinds[l] == (flagged ? "layernorm" : "rmsnorm"));
  }
  // pcnorm's learn_lambda applies to neither recommended kind: dropped, with a note.
  REQUIRE(r.notes.size() == 1);
  CHECK_THAT(r.notes[0], Contains("learn_lambda=true") && Contains("dropped"));
}

TEST_CASE("recentering: a GRU's gates read the normalized projection element-wise",
          "[recentering]") {
  test::TempDir dir;
  const std::string run = test::train_completed(dir.path / "runs", kGruSplit);
  const auto r = analyze_and_train(dir, run);
  REQUIRE(r.sites.size() == 8);  // 2 layers x (ih, hh) x (gates, candidate)
  // W = I: r = ||g|| / (max |g| sqrt(D)) from the site's trained gain, computed here by hand.
  const auto gain = h5::File::open(run).read_vector<double>("checkpoint/gru1.norm_hh_cand.gain");
  double sum = 0, max_g = 0;
  for (double g : gain) {
    sum += g * g;
    max_g = std::max(max_g, std::abs(g));
  }
  const auto& s = site(r, "gru1.norm_hh_cand");
  CHECK(s.role == "gru-recurrent");
  CHECK(s.features == gain.size());
  CHECK(std::abs(s.ones_response - std::sqrt(sum) / (max_g * std::sqrt(double(gain.size())))) <= 1e-12);
  CHECK(s.ones_response_plain == 1);
  CHECK(r.kinds.size() == 2);
}
