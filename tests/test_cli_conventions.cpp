// Issue 16's command-line conventions end to end: `apply` on arrays of any rank (normalized over
// the last axis) and never writing an overflowed output; one meaning for `--out` (every
// single-file command also takes a directory); one help per `analyze` subcommand; `plot`'s help and
// exit status, through the real binary (its Python side writes to the process's own stdout).
#include <catch2/catch.hpp>
#include <sys/wait.h>

#include <cfloat>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "analysis/apply.hpp"
#include "cli/cli.hpp"
#include "core/strings.hpp"
#include "helpers.hpp"
#include "run_cli.hpp"
#include "io/hdf5.hpp"
#include "io/output_path.hpp"

namespace {

using namespace normlab;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using test::TempDir;

using test::CliResult;
using test::run_cli;

// The real binary, its stdout and stderr (together) captured through a file in `dir`.
CliResult run_binary(const TempDir& dir, const std::string& args) {
  const std::string log = dir / "binary.log";
  const int raw = std::system((std::string(NORMLAB_BINARY) + " " + args + " > '" + log + "' 2>&1").c_str());
  std::ifstream f(log);
  std::stringstream text;
  text << f.rdbuf();
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, text.str(), ""};
}

template <class T>
std::vector<T> read_all(const std::string& path, const std::string& name, h5::Shape* shape = nullptr) {
  h5::File f = h5::File::open(path);
  if (shape) *shape = f.shape(name);
  xt::xarray<T> a = f.read<T>(name);
  return {a.begin(), a.end()};
}

std::string apply_to(const std::string& in, const std::string& out, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"apply", "--norm", "layernorm", "--in", in, "--out", out};
  args.insert(args.end(), extra.begin(), extra.end());
  CliResult r = run_cli(args);
  INFO(join(args, " ") << "\nstderr: " << r.err);
  REQUIRE(r.status == 0);
  return out;
}

}  // namespace

TEST_CASE("apply: x of any rank is normalized over its last axis", "[cli]") {
  TempDir dir;
  const std::size_t D = 64;
  Rng rng(16);
  const auto x = test::random_normal(8 * D, rng, 2.0), dy = test::random_normal(8 * D, rng);
  for (const auto& [name, shape] : std::vector<std::pair<std::string, h5::Shape>>{
           {"x3.h5", {2, 4, D}}, {"x2.h5", {8, D}}}) {
    h5::File f = h5::File::create(dir / name);
    f.write<double>("x", shape, std::span<const double>(x));
    f.write<double>("dy", shape, std::span<const double>(dy));
  }
  const std::string y3 = apply_to(dir / "x3.h5", dir / "y3.h5"), y2 = apply_to(dir / "x2.h5", dir / "y2.h5");
  h5::Shape shape;
  CHECK(read_all<double>(y3, "y", &shape) == read_all<double>(y2, "y"));
  CHECK(shape == h5::Shape{2, 4, D});
  CHECK(read_all<double>(y3, "dx", &shape) == read_all<double>(y2, "dx"));
  CHECK(shape == h5::Shape{2, 4, D});
  CHECK(read_all<double>(y3, "d_gain") == read_all<double>(y2, "d_gain"));

  // A 1-D x is a single row: the first row of the (8, D) result.
  {
    h5::File f = h5::File::create(dir / "x1.h5");
    f.write<double>("x", {D}, std::span<const double>(x.data(), D));
  }
  const std::vector<double> y1 = read_all<double>(apply_to(dir / "x1.h5", dir / "y1.h5"), "y", &shape);
  CHECK(shape == h5::Shape{D});
  const std::vector<double> y2_all = read_all<double>(y2, "y");
  CHECK(y1 == std::vector<double>(y2_all.begin(), y2_all.begin() + D));

  // dy must have x's shape, not merely as many values; a NaN is placed by its index.
  const std::string out = dir / "refused.h5";
  {
    h5::File f = h5::File::create(dir / "bad_dy.h5");
    f.write<double>("x", {2, 4, D}, std::span<const double>(x));
    f.write<double>("dy", {8, D}, std::span<const double>(dy));
    h5::File g = h5::File::create(dir / "nan.h5");
    std::vector<double> with_nan = x;
    with_nan[1 * 4 * D + 2 * D + 5] = std::nan("");
    g.write<double>("x", {2, 4, D}, std::span<const double>(with_nan));
  }
  CliResult r = run_cli({"apply", "--norm", "layernorm", "--in", dir / "bad_dy.h5", "--out", out});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("'dy' has shape (8, 64), expected the shape of x (2, 4, 64)"));
  r = run_cli({"apply", "--norm", "layernorm", "--in", dir / "nan.h5", "--out", out});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("'x' has a non-finite value (nan) at index (1, 2, 5)"));
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("apply: a rank-0 x is refused with the shape it needs", "[cli]") {
  TempDir dir;
  {
    h5::File f = h5::File::create(dir / "scalar.h5");
    f.write<double>("x", h5::Shape{}, std::vector<double>{3.0});
  }
  REQUIRE(h5::File::open(dir / "scalar.h5").shape("x").empty());
  CliResult r = run_cli({"apply", "--norm", "rmsnorm", "--in", dir / "scalar.h5", "--out", dir / "o.h5"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("dataset 'x' is a scalar") && Contains("(..., D)"));
  CHECK_FALSE(fs::exists(dir / "o.h5"));
}

TEST_CASE("apply: an output that overflows is refused and never written", "[cli]") {
  // y = gain * x / rms(x): row 0 ([1, 0, 0, 0], x/rms = [2, 0, 0, 0]) with gain 3e38 is 6e38,
  // beyond FLT_MAX (3.4e38) in exact arithmetic, so no kernel can make it finite in float32; row
  // 1 ([1, 1, 1, 1]) gives 3e38, which fits.
  TempDir dir;
  const float big = 3e38f;
  {
    h5::File f = h5::File::create(dir / "y.h5");
    f.write<float>("x", {2, 1, 4}, std::vector<float>{1, 0, 0, 0, 1, 1, 1, 1});
    f.write<float>("gain", {4}, std::vector<float>{big, big, big, big});
  }
  const std::string out = dir / "out.h5";
  CliResult r = run_cli({"apply", "--norm", "rmsnorm", "--in", dir / "y.h5", "--out", out});
  INFO(r.err);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("y is not finite in 1 of 2 rows (the first: x[0, 0, :])") &&
                        Contains("overflows float32 (try --dtype float64)"));
  CHECK_FALSE(fs::exists(out));
  CHECK_FALSE(fs::exists(out + ".partial"));
  r = run_cli({"apply", "--norm", "rmsnorm", "--in", dir / "y.h5", "--out", out, "--dtype", "float64"});
  CHECK(r.status == 0);
  CHECK(read_all<double>(out, "y")[0] == Approx(2 * double(big)).epsilon(1e-4));  // finite in float64 (eps: 1.99996)

  // dx = (dy - y * mean(dy * y)) / rms: dy = [0, 3e38, 0, 0] at x = [1, 0, 0, 0] (rms 0.5, y
  // orthogonal to dy) gives dx[1] = 6e38 exactly, again beyond float32.
  {
    h5::File f = h5::File::create(dir / "dx.h5");
    f.write<float>("x", {4}, std::vector<float>{1, 0, 0, 0});
    f.write<float>("dy", {4}, std::vector<float>{0, big, 0, 0});
  }
  const std::string dx_out = dir / "dx_out.h5";
  r = run_cli({"apply", "--norm", "rmsnorm", "--in", dir / "dx.h5", "--out", dx_out});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("dx is not finite in 1 of 1 rows (the first: x[:])"));
  CHECK_FALSE(fs::exists(dx_out));
  CHECK_FALSE(fs::exists(dx_out + ".partial"));
}

TEST_CASE("apply: the output check counts the rows and names the first as an index of x", "[cli]") {
  std::vector<double> v(4 * 3, 1.0);
  tools::check_finite_output<double>("f.h5", "y", v, {2, 2, 3});  // all finite: no error
  v[1 * 3 + 2] = INFINITY;  // row 1 = x[0, 1, :]
  v[3 * 3 + 0] = std::nan("");
  CHECK_THROWS_WITH(tools::check_finite_output<double>("f.h5", "y", v, {2, 2, 3}),
                    Contains("f.h5: y is not finite in 2 of 4 rows (the first: x[0, 1, :])") &&
                        Contains("overflows float64"));
  std::vector<float> w{1, 2, FLT_MAX * 2};
  CHECK_THROWS_WITH(tools::check_finite_output<float>("f.h5", "dx", w, {3}),
                    Contains("dx is not finite in 1 of 1 rows (the first: x[:])") && Contains("--dtype float64"));
}

TEST_CASE("the out option: a directory or DIR/ puts the file there under its default name (--out)", "[cli]") {
  TempDir dir;
  CHECK(io::output_file("", "a/b.h5") == "a/b.h5");
  CHECK(io::output_file("c.h5", "a/b.h5") == "c.h5");
  CHECK(io::output_file("new/", "a/b.h5") == "new/b.h5");
  CHECK(io::output_file(dir.path.string(), "a/b.h5") == (dir / "b.h5"));

  // apply: a new DIR/ is made; an existing directory without the slash works too.
  {
    h5::File f = h5::File::create(dir / "acts.h5");
    f.write<double>("x", {2, 3}, std::vector<double>{1, 2, 3, 4, 5, 7});
  }
  apply_to(dir / "acts.h5", dir / "applied/");
  CHECK(h5::File::open(dir / "applied/acts.normed.h5").is_dataset("y"));
  fs::create_directory(dir / "existing");
  apply_to(dir / "acts.h5", dir / "existing");
  CHECK(fs::exists(dir / "existing/acts.normed.h5"));

  // numerics: DIR/numerics.h5.
  CliResult r = run_cli({"numerics", "--quick", "--dims", "8", "--norms", "rmsnorm", "--out", dir / "num/"});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(h5::File::open(dir / "num/numerics.h5").members().size() > 0);
  CHECK_THAT(r.out, Contains(dir / "num/numerics.h5"));

  // table: DIR/table.<format>, from a sweep directory holding one finished run.
  std::ofstream(dir / "manifest.toml") << "sweep = \"x.toml\"\naxes = [\"seed\"]\nruns = [\"seed-0-00000000\"]\n";
  r = run_cli({"train", "train.steps=2", "train.eval_every=2", "name=seed-0-00000000", "--out", dir / "runs"});
  REQUIRE(r.status == 0);
  r = run_cli({"table", dir.path.string(), "--format", "csv", "--out", dir / "tables/"});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(fs::file_size(dir / "tables/table.csv") > 0);
  r = run_cli({"table", dir.path.string(), "--format", "latex", "--out", dir / "tables"});
  CHECK(fs::exists(dir / "tables/table.tex"));

  // analyze sensitivity, positions and correlate: their default names, in DIR/.
  const std::string mlp = dir / "runs/seed-0-00000000.h5";
  r = run_cli({"analyze", "sensitivity", mlp, "--batches", "1", "--epsilons", "-0.1,0.1", "--out", dir / "sens/"});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(fs::exists(dir / "sens/seed-0-00000000.sensitivity.h5"));
  r = run_cli({"analyze", "correlate", dir / "sens", "--out", dir / "corr/"});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(fs::exists(dir / "corr/correlation.h5"));
  r = run_cli({"train", "model.family=gru", "model.width=8", "model.depth=1", "model.embed=8",
               "model.context=6", "data.chars=2000", "data.val_size=4", "train.batch=4", "train.steps=2",
               "train.eval_every=2", "name=gru", "--out", dir / "runs"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  r = run_cli({"analyze", "positions", dir / "runs/gru.h5", "--batches", "1", "--out", dir / "pos/"});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(fs::exists(dir / "pos/gru.positions.h5"));
}

TEST_CASE("analyze SUB --help: that analysis's usage and options only", "[cli]") {
  const std::vector<std::pair<std::string, std::vector<std::string>>> own{
      {"sensitivity", {"--epsilons", "--site", "--control-seed", "--reference", "--out", "--batches", "--val-seed"}},
      {"invariance", {"--scales", "--shifts", "--tolerance", "--batches", "--val-seed"}},
      {"positions", {"--all", "--out", "--batches", "--val-seed"}},
      {"correlate", {"--residual", "--reference", "--out"}}};
  const std::vector<std::string> every{"--epsilons", "--site", "--control-seed", "--reference", "--out",
                                       "--batches", "--val-seed", "--scales", "--shifts", "--tolerance",
                                       "--all", "--residual"};
  for (const auto& [what, options] : own) {
    CliResult r = run_cli({"analyze", what, "--help"});
    INFO(what << ":\n" << r.out);
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Contains("usage: normlab analyze " + what));
    for (const auto& [other, unused] : own) {
      if (other != what) CHECK_THAT(r.out, !Contains("normlab analyze " + other) && !Contains(other + ":"));
    }
    for (const auto& o : every) {
      const bool mine = std::find(options.begin(), options.end(), o) != options.end();
      INFO(o);
      CHECK(mine == (r.out.find("  " + o + " ") != std::string::npos));
    }
  }
  // An option of another analysis is a usage error, not silently ignored.
  CliResult r = run_cli({"analyze", "invariance", "run.h5", "--out", "x.h5"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("--out"));
  // Bare `analyze --help` still lists all four.
  r = run_cli({"analyze", "--help"});
  CHECK_THAT(r.out, Contains("analyze invariance") && Contains("analyze correlate"));
}

TEST_CASE("plot: --help lists every option with its default; a usage error exits 2", "[cli]") {
  TempDir dir;
  CliResult r = run_binary(dir, "plot --help");
  INFO(r.out);
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Contains("usage: normlab plot") && Contains("options:"));
  for (const char* option : {"--out OUT", "--stat STAT", "--sites SITES", "--smooth SMOOTH", "--no-sharey"}) {
    CHECK_THAT(r.out, Contains(option));
  }
  for (const char* meaning : {"(default SWEEP_DIR/plots)", "(default in_rms)", "(default: all)", "(default 10)",
                              "(default:"}) {
    CHECK_THAT(r.out, Contains(meaning));
  }
  r = run_binary(dir, "plot '" + (dir / "nosweep") + "' --bogus");
  CHECK(r.status == 2);
  CHECK_THAT(r.out, Contains("unrecognized arguments: --bogus"));
  r = run_binary(dir, "plot '" + (dir / "nosweep") + "'");  // a failure of the work: 1
  CHECK(r.status == 1);
  CHECK_THAT(r.out, Contains("not a sweep directory"));
}
