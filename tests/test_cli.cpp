// `normlab apply` and the HDF5 wrapper end to end, in-process: the happy path against the library,
// and every kind of bad input: a one-line error naming the problem, exit 1, no output file.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <sstream>

#include "cli/cli.hpp"
#include "compare.hpp"
#include "core/strings.hpp"
#include "helpers.hpp"
#include "run_cli.hpp"
#include "cli/common.hpp"
#include "io/config.hpp"
#include "io/hdf5.hpp"
#include "train/progress.hpp"

namespace {

using namespace normlab;
namespace fs = std::filesystem;
using test::TempDir;
using Catch::Matchers::Contains;

using test::CliResult;
using test::run_cli;

void write_matrix(h5::File& f, const std::string& name, std::size_t rows, std::size_t cols,
                  const std::vector<double>& v) {
  f.write<double>(name, {rows, cols}, std::span<const double>(v));
}

// Expects a failed run: status 1, exactly one line on stderr containing `needle`, no output.
void expect_failure(const std::vector<std::string>& args, const std::string& needle,
                    const std::string& out_path) {
  CliResult r = run_cli(args);
  INFO("args: " << join(args, " ") << "\nstderr: " << r.err);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains(needle));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_FALSE(fs::exists(out_path));
  CHECK_FALSE(fs::exists(out_path + ".partial"));
}

}  // namespace

TEST_CASE("apply: forward and backward through files match the library", "[cli]") {
  TempDir dir;
  const std::size_t B = 4, D = 37;
  Rng rng(9);
  auto x = test::random_normal(B * D, rng, 2.0), dy = test::random_normal(B * D, rng);
  auto gain = test::random_normal(D, rng, 1.0, 0.1);
  {
    h5::File f = h5::File::create(dir / "acts.h5");
    write_matrix(f, "x", B, D, x);
    write_matrix(f, "dy", B, D, dy);
    f.write<double>("gain", {D}, std::span<const double>(gain));
  }
  CliResult r = run_cli({"apply", "--norm", "layernorm", "--eps", "1e-6", "--in", dir / "acts.h5"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Contains("acts.normed.h5"));

  auto n = norm::make_normalizer("layernorm", {{"eps", "1e-6"}});
  std::vector<double> params = gain;
  params.resize(2 * D, 0.0);  // gain from the file, bias at its initial 0
  auto ref = test::run(*n, x, params, B, D, &dy);

  h5::File out = h5::File::open(dir / "acts.normed.h5");
  CHECK(out.read_string_attribute("/", "normalizer") ==
        "layernorm(eps=1e-06,eps_mode=inside,bias=true,zero_centered_gain=false,variance=two_pass)");
  CHECK(out.read_string_attribute("/", "dtype") == "float64");
  CHECK(out.shape("y") == h5::Shape{B, D});
  const test::Tolerance exact{0, 0};  // the same code on the same inputs: bit-identical
  auto y = out.read<double>("y"), dx = out.read<double>("dx");
  auto dgain = out.read<double>("d_gain"), dbias = out.read<double>("d_bias");
  NORMLAB_CHECK_CLOSE("y", y.data(), y.size(), ref.y.data(), ref.y.size(), exact);
  NORMLAB_CHECK_CLOSE("dx", dx.data(), dx.size(), ref.dx.data(), ref.dx.size(), exact);
  NORMLAB_CHECK_CLOSE("d_gain", dgain.data(), D, ref.grads.data(), D, exact);
  NORMLAB_CHECK_CLOSE("d_bias", dbias.data(), D, ref.grads.data() + D, D, exact);
  CHECK_FALSE(fs::exists(dir / "acts.normed.h5.partial"));
}

TEST_CASE("apply: float32 files stay float32; --dtype overrides; no dy means forward only",
          "[cli]") {
  TempDir dir;
  std::vector<float> x{1, 2, 3, 4, 5, 7};
  {
    h5::File f = h5::File::create(dir / "x32.h5");
    f.write<float>("x", {2, 3}, std::span<const float>(x));
  }
  REQUIRE(run_cli({"apply", "--norm", "rmsnorm", "--in", dir / "x32.h5", "--out", dir / "a.h5"}).status == 0);
  h5::File a = h5::File::open(dir / "a.h5");
  CHECK(a.read_string_attribute("/", "dtype") == "float32");
  CHECK(a.float_bits("y") == 32);
  CHECK_FALSE(a.has("dx"));
  REQUIRE(run_cli({"apply", "--norm", "rmsnorm", "--in", dir / "x32.h5", "--out", dir / "b.h5",
               "--dtype", "float64"}).status == 0);
  CHECK(h5::File::open(dir / "b.h5").float_bits("y") == 64);
}

TEST_CASE("apply: bad input gets a one-line error and leaves no output", "[cli]") {
  TempDir dir;
  const std::string good = dir / "good.h5", out = dir / "out.h5";
  {
    h5::File f = h5::File::create(good);
    write_matrix(f, "x", 2, 3, {1, 2, 3, 4, 5, 6});
  }
  auto apply = [&](std::string in, std::vector<std::string> extra) {
    std::vector<std::string> args{"apply", "--norm", "rmsnorm", "--in", in, "--out", out};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  expect_failure({"apply", "--norm", "rmsnrom", "--in", good, "--out", out},
                 "unknown normalizer 'rmsnrom' (did you mean 'rmsnorm'?); valid: rmsnorm, layernorm", out);
  expect_failure({"apply", "--norm", "prmsnorm", "--p", "0", "--in", good, "--out", out},
                 "p must be in (0, 1]", out);
  expect_failure({"apply", "--norm", "prmsnorm", "--p", "1.01", "--in", good, "--out", out},
                 "p must be in (0, 1]", out);
  expect_failure(apply(good, {"--eps", "0"}), "eps must be a finite number > 0", out);
  expect_failure(apply(good, {"--eps", "-1"}), "eps must be a finite number > 0", out);
  expect_failure({"apply", "--norm", "pcnorm", "--lambda", "2", "--in", good, "--out", out},
                 "lambda must be in [0, 1]", out);
  expect_failure(apply(good, {"--lambda", "0.5"}), "'lambda' does not apply to rmsnorm", out);
  expect_failure(apply(good, {"--dtype", "float16"}), "'float16' is not one of", out);
  expect_failure(apply(dir / "missing.h5", {}), "missing.h5: no such file", out);
  for (const auto& [args, needle] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"apply", "--norm", "rmsnorm"}, "--in"},
           {apply(good, {"--bogus", "1"}), "unrecognised option '--bogus'"}}) {
    CliResult r = run_cli(args);  // usage errors: status 2, one line, no output
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Contains(needle));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_FALSE(fs::exists(out));
  }

  {  // a file that is not HDF5
    std::ofstream(dir / "text.h5") << "not hdf5\n";
  }
  expect_failure(apply(dir / "text.h5", {}), "text.h5: not an HDF5 file", out);

  auto file_with = [&](const std::string& name, auto&& fill) {
    std::string path = dir / name;
    h5::File f = h5::File::create(path);
    fill(f);
    return path;
  };
  expect_failure(apply(file_with("nox.h5", [](h5::File& f) { write_matrix(f, "y", 1, 1, {1}); }), {}),
                 "no dataset 'x'", out);
  expect_failure(apply(file_with("d0.h5", [](h5::File& f) { write_matrix(f, "x", 3, 0, {}); }), {}),
                 "D = 0 features", out);
  expect_failure(apply(file_with("0d.h5", [](h5::File& f) {
                   f.write<double>("x", h5::Shape{}, std::vector<double>{3});
                 }), {}),
                 "dataset 'x' is a scalar", out);  // any other rank is fine (test_cli_conventions)
  expect_failure(apply(file_with("nan.h5", [](h5::File& f) {
                   write_matrix(f, "x", 2, 2, {1, 2, std::nan(""), 4});
                 }), {}),
                 "'x' has a non-finite value (nan) at row 1, column 0", out);
  expect_failure(apply(file_with("inf_dy.h5", [](h5::File& f) {
                   write_matrix(f, "x", 1, 2, {1, 2});
                   write_matrix(f, "dy", 1, 2, {1, INFINITY});
                 }), {}),
                 "'dy' has a non-finite value (inf)", out);
  expect_failure(apply(file_with("dy.h5", [](h5::File& f) {
                   write_matrix(f, "x", 2, 3, {1, 2, 3, 4, 5, 6});
                   write_matrix(f, "dy", 3, 2, {1, 2, 3, 4, 5, 6});
                 }), {}),
                 "'dy' has shape (3, 2), expected the shape of x (2, 3)", out);
  expect_failure(apply(file_with("gain.h5", [](h5::File& f) {
                   write_matrix(f, "x", 2, 3, {1, 2, 3, 4, 5, 6});
                   f.write<double>("gain", {2}, std::vector<double>{1, 1});
                 }), {}),
                 "'gain' has shape (2,), rmsnorm needs (3,)", out);
  expect_failure(apply(file_with("bias.h5", [](h5::File& f) {
                   write_matrix(f, "x", 2, 3, {1, 2, 3, 4, 5, 6});
                   f.write<double>("bias", {3}, std::vector<double>{0, 0, 0});
                 }), {}),
                 "'bias' is given, but rmsnorm(", out);
  expect_failure({"apply", "--norm", "pcnorm", "--learn-lambda", "true", "--in",
                  file_with("lambda.h5", [](h5::File& f) {
                    write_matrix(f, "x", 1, 2, {1, 2});
                    f.write<double>("lambda", {1}, std::vector<double>{5});
                  }), "--out", out},
                 "dataset 'lambda': lambda must be in [0, 1], got 5", out);
  expect_failure(apply(file_with("big.h5", [](h5::File& f) { write_matrix(f, "x", 1, 2, {1, 1e300}); }),
                       {"--dtype", "float32"}),
                 "the value 1e+300 at row 0, column 1, which float32 cannot hold", out);
  // the input is never overwritten
  expect_failure({"apply", "--norm", "rmsnorm", "--in", good, "--out", good}, "would overwrite", dir / "none.h5");
  CHECK(fs::exists(good));
}

TEST_CASE("apply: a failure while writing removes the partial output, never the input", "[cli]") {
  TempDir dir;
  {
    h5::File f = h5::File::create(dir / "in.h5");
    write_matrix(f, "x", 1, 2, {1, 2});
  }
  // The output directory does not exist: creating OUT.partial fails, nothing is left anywhere.
  const std::string out = dir / "no/such/dir/out.h5";
  expect_failure({"apply", "--norm", "rmsnorm", "--in", dir / "in.h5", "--out", out}, "cannot create", out);

  // OUT (here the default name inside --out DIR) is a directory: OUT.partial is written
  // completely, the rename fails, the partial goes.
  fs::create_directories(dir / "outdir/in.normed.h5");
  CliResult r = run_cli({"apply", "--norm", "rmsnorm", "--in", dir / "in.h5", "--out", dir / "outdir"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("rename"));
  CHECK_FALSE(fs::exists(dir / "outdir/in.normed.h5.partial"));
  CHECK(fs::is_directory(dir / "outdir/in.normed.h5"));

  // An input named like the output's partial file is refused, and survives.
  fs::copy_file(dir / "in.h5", dir / "a.h5.partial");
  r = run_cli({"apply", "--norm", "rmsnorm", "--in", dir / "a.h5.partial", "--out", dir / "a.h5"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("would overwrite the input file"));
  CHECK_FALSE(fs::exists(dir / "a.h5"));
  CHECK(h5::File::open(dir / "a.h5.partial").is_dataset("x"));
}

TEST_CASE("command line: usage, unknown commands, help", "[cli]") {
  CliResult r = run_cli({});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("apply") && Contains("norms") && Contains("bench"));
  r = run_cli({"help"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Contains("apply") && Contains("norms") && Contains("bench"));
  r = run_cli({"aply"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("unknown command 'aply' (did you mean 'apply'?)"));
  r = run_cli({"apply", "--help"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Contains("dy (shape of x) optional") && Contains("--eps-mode"));
  r = run_cli({"norms"});
  CHECK_THAT(r.out, Contains("pcnorm") && Contains("--learn-lambda") && Contains("default 0.0625"));
  r = run_cli({"bench", "nroms"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("unknown benchmark 'nroms'"));
}

TEST_CASE("hdf5 wrapper: round trip, attributes, clear errors", "[hdf5]") {
  TempDir dir;
  const std::string path = dir / "t.h5";
  {
    h5::File f = h5::File::create(path);
    f.write<float>("group/a", {2, 2}, std::vector<float>{1, 2, 3, 4});
    f.write_attribute("/", "name", "value ü");
    f.write_attribute("/group", "number", 2.5);
  }
  h5::File f = h5::File::open(path);
  CHECK(f.has("group/a"));
  CHECK_FALSE(f.has("group/b"));
  CHECK_FALSE(f.has("nope/deeper"));
  CHECK(f.is_dataset("group/a"));
  CHECK_FALSE(f.is_dataset("group"));
  CHECK(f.members("/group") == std::vector<std::string>{"a"});
  auto a = f.read<double>("group/a");  // stored float32, read as double
  CHECK(a(1, 0) == 3.0);
  CHECK(f.read_string_attribute("/", "name") == "value ü");
  CHECK_THROWS_WITH(f.read<double>("missing"), Contains("t.h5:missing: no such dataset"));
  CHECK_THROWS_WITH(f.read_string_attribute("/", "nope"), Contains("no attribute 'nope'"));
  CHECK_THROWS_WITH(f.read_string_attribute("/group", "number"), Contains("is not a string"));
}

TEST_CASE("info: a run's summary; refuses what is not a run", "[cli]") {
  test::TempDir dir;
  REQUIRE(run_cli({"train", "--set", "train.steps=8", "--set", "stats.every=3", "--set",
                   "model.depth=2", "--set", "train.eval_every=8", "--out", dir.path.string()})
              .status == 0);
  CliResult r = run_cli({"info", dir / "mlp-rmsnorm-s0.h5", "--config"});
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Contains("status completed") && Contains("8 steps") &&
                        Contains("2 sites (2 rmsnorm): layer0.norm ... layer1.norm") &&
                        Contains("statistics at 4 steps (stats.every = 3)") &&  // 0, 3, 6, 7
                        Contains("[stats]"));
  std::ofstream(dir / "x.h5") << "text";
  CliResult bad = run_cli({"info", dir / "x.h5"});
  CHECK(bad.status != 0);
  CHECK_THAT(bad.err, Contains("x.h5: not an HDF5 file"));
}

TEST_CASE("command line: exit status 2 for usage errors, 1 for failures, 0 for success", "[cli]") {
  test::TempDir dir;
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"analyze"}, {"sweep"}, {"collect"}, {"table"}, {"info"}, {"train", "--bogus"},
           {"train", "--set"}, {"norms", "--bogus"}, {"analyze", "invariance"},
           {"analyze", "sensitivty", "x.h5"}, {"table", dir / "d", "--format", "xls"}}) {
    CliResult r = run_cli(args);
    INFO(join(args, " ") << "\nstderr: " << r.err);
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Contains("normlab: error: "));
  }
  CliResult r = run_cli({"analyze"});
  CHECK_THAT(r.err, Contains("usage: normlab analyze sensitivity"));
  r = run_cli({"info", dir / "missing.h5"});  // a failure, not a usage error
  CHECK(r.status == 1);
  CHECK(run_cli({"analyze", "--help"}).status == 0);
}

TEST_CASE("train: key=value arguments override keys; --set KEY VALUE says what was meant", "[cli]") {
  CliResult r = run_cli({"train", "optim.lr=3e-4", "seed=5", "--print-config"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Contains("lr = 3e-04\n") && Contains("seed = 5\n"));
  r = run_cli({"train", "--set", "optim.lr", "3e-4"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("--set optim.lr 3e-4") && Contains("write --set optim.lr=3e-4"));
  CHECK_THAT(r.err, !Contains("cannot read the config file"));
  test::TempDir dir;
  r = run_cli({"train", dir / "a.toml", dir / "b.toml"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("two config files given"));
}

TEST_CASE("train: the header and --print-config show numbers in their shortest form", "[cli]") {
  CHECK(cli::shortest_value_text("0.0030000000000000001") == "0.003");
  CHECK(cli::shortest_value_text("1.0") == "1.0");
  CHECK(cli::shortest_value_text("1e-06") == "1e-06");
  CHECK(cli::shortest_value_text("12") == "12");
  CHECK(cli::shortest_value_text("\"0.10000000000000001\"") == "\"0.10000000000000001\"");
  CHECK(cli::shortest_numbers("[optim]\nlr = 0.0030000000000000001\nx = [ 0.10000000000000001, 2 ]\n") ==
        "[optim]\nlr = 0.003\nx = [ 0.1, 2 ]\n");
  CliResult r = run_cli({"train", "--set", "optim.lr=0.003", "--print-config"});
  CHECK_THAT(r.out, Contains("lr = 0.003\n") && !Contains("0.00300000"));
  test::TempDir dir;
  r = run_cli({"train", "optim.lr=0.003", "train.steps=2", "train.eval_every=2", "--out", dir.path.string()});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Contains("  optim.lr = 0.003\n"));
}

TEST_CASE("train: a finished run of another config is never replaced silently", "[cli]") {
  test::TempDir dir;
  const std::vector<std::string> base{"train", "train.steps=3", "train.eval_every=3", "--out", dir.path.string()};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  const std::string path = (dir / "mlp-rmsnorm-s0.h5");
  auto stored_lr = [&] {
    h5::File f = h5::File::open(path);
    return io::Config::parse(f.read_string_attribute("/", "config_toml"), path).number("optim.lr");
  };
  REQUIRE(with({}).status == 0);
  const double first_lr = stored_lr();
  CliResult r = with({"optim.lr=0.0123"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains(path) && Contains("optim.lr") && Contains("--overwrite"));
  CHECK(stored_lr() == first_lr);
  r = with({});  // the same run again: done already
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Contains("already completed"));
  CHECK_THAT(r.out, !Contains("normlab train mlp"));
  r = with({"optim.lr=0.0123", "--overwrite"});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(stored_lr() == 0.0123);
}

TEST_CASE("train: the whole config is validated before the header or --out", "[cli]") {
  test::TempDir dir;
  const std::string out = (dir / "made");
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"model.family=mpl"}, {"optim.name=adma"}, {"train.eval_every=0"}, {"model.dropout=2"},
           {"data.task=mnist", "data.path=" + (dir / "no-such-dir")}}) {
    std::vector<std::string> args{"train", "--out", out};
    args.insert(args.end(), bad.begin(), bad.end());
    CliResult r = run_cli(args);
    INFO(join(bad, " ") << "\nstderr: " << r.err);
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    CHECK_FALSE(fs::exists(out));
    args = {"train", "--print-config"};
    args.insert(args.end(), bad.begin(), bad.end());
    r = run_cli(args);
    CHECK(r.status == 1);
    CHECK(r.out.empty());
  }
}

TEST_CASE("train: sizes no machine holds are refused by key before --out exists", "[cli][config]") {
  test::TempDir dir;
  const std::string out = (dir / "made");
  struct Case {
    std::vector<std::string> sets;
    std::string key;
  };
  for (const Case& c : std::vector<Case>{
           {{"model.width=10000000"}, "model.width = 10000000"},
           {{"train.batch=100000000"}, "train.batch = 100000000"},
           {{"model.family=transformer", "model.context=1000000"}, "model.context = 1000000"},
           {{"model.family=gru", "model.depth=100000", "model.width=10000"}, "model.depth = 100000"},
           {{"data.chars=1000000000000", "model.family=gru"}, "data.chars = 1000000000000"}}) {
    std::vector<std::string> args{"train", "--out", out};
    args.insert(args.end(), c.sets.begin(), c.sets.end());
    CliResult r = run_cli(args);
    INFO(join(c.sets, " ") << "\nstderr: " << r.err);
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains(c.key + ": the run would need about") && Contains(" GiB") &&
                          Contains("more than") && Contains("reduce " + c.key.substr(0, c.key.find(' '))));
    CHECK(r.out.empty());
    CHECK_FALSE(fs::exists(out));
  }
}

TEST_CASE("train: a config path that is a directory, a run name leaving --out, are refused", "[cli][config]") {
  test::TempDir dir;
  const std::string out = (dir / "made");
  CliResult r = run_cli({"train", dir.path.string(), "--out", out});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains(dir.path.string() + ": is a directory, not a config file"));
  r = run_cli({"train", "--out", out, "name=../escaped", "train.steps=2"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("name: '../escaped' starts with '.'"));
  CHECK_FALSE(fs::exists(out));
  CHECK_FALSE(fs::exists(dir / "escaped.h5"));
  const std::string latin1 = (dir / "caf\xe9");  // --out is stored in the config: UTF-8 only
  r = run_cli({"train", "--out", latin1, "train.steps=2"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("caf\\xe9: not valid UTF-8"));
  CHECK_FALSE(fs::exists(latin1));
  r = run_cli({"train", "--out", out, "optim.eps=inf"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("key 'optim.eps' must be a finite number, got inf"));
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("sweep: a missing data.path is refused before any run; table without results fails",
          "[cli]") {
  test::TempDir dir;
  const std::string file = (dir / "bad.toml"), out = (dir / "s");
  std::ofstream(file) << "[set]\ndata.task = \"mnist\"\ndata.path = \"" << (dir / "no-such")
                      << "\"\n[grid]\nseed = [0, 1]\n";
  CliResult r = run_cli({"sweep", file, "--out", out});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("no-such' does not exist") && Contains("no run was started"));
  CHECK_FALSE(fs::exists(out + "/runs"));

  // A sweep directory whose runs never produced a result: no all-"—" table, status 1.
  fs::create_directories(dir / "empty/runs");
  std::ofstream(dir / "empty/manifest.toml") << "sweep = \"x.toml\"\naxes = [\"seed\"]\n"
                                             << "runs = [\"seed-0-00000000\", \"seed-1-00000000\"]\n";
  r = run_cli({"table", (dir / "empty")});
  INFO(r.out);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("none of its 2 runs has a result"));
  CHECK(r.out.empty());
}

TEST_CASE("command line: one spelling per meaning; help shows no positional names, real defaults",
          "[cli]") {
  CliResult r = run_cli({"train", "--help"});
  CHECK_THAT(r.out, Contains("runs/") && Contains("key=value") && !Contains("--config") &&
                        !Contains("--positionals"));
  CHECK_THAT(run_cli({"sweep", "--help"}).out, !Contains("--sweep ") && Contains("--restart"));
  CHECK_THAT(run_cli({"collect", "--help"}).out, !Contains("--dir"));
  CHECK_THAT(run_cli({"table", "--help"}).out, !Contains("--dir"));
  CHECK_THAT(run_cli({"analyze", "sensitivity", "--help"}).out, !Contains("--inputs"));
  r = run_cli({"bench", "norms", "--help"});
  CHECK_THAT(r.out, !Contains("--what") && Contains("--norms") && !Contains("--kinds"));
  // bench norms: --norms, as numerics and bench train spell it; --kinds still works.
  for (const std::string flag : {"--norms", "--kinds"}) {
    r = run_cli({"bench", "norms", "--dims", "8", "--mib", "1", "--repeats", "1", flag, "rmsnorm"});
    INFO(flag << ": " << r.err);
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Contains("rmsnorm") && !Contains("layernorm"));
  }
  // apply: --eps_mode as the config's norm_options spell it, beside --eps-mode.
  test::TempDir dir;
  {
    h5::File f = h5::File::create(dir / "x.h5");
    write_matrix(f, "x", 1, 3, {1, 2, 4});
  }
  for (const std::string flag : {"--eps-mode", "--eps_mode"}) {
    const std::string out = (dir / (flag + ".h5"));
    r = run_cli({"apply", "--norm", "rmsnorm", flag, "outside", "--in", dir / "x.h5", "--out", out});
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK_THAT(h5::File::open(out).read_string_attribute("/", "normalizer"), Contains("eps_mode=outside"));
  }
}

TEST_CASE("sweep --slurm: --sbatch adds lines, --jobs means runs at a time, --dry-run writes nothing",
          "[cli]") {
  test::TempDir dir;
  const std::string file = (dir / "arr.toml"), out = (dir / "arr");
  std::ofstream(file) << "[grid]\nseed = [0, 1, 2]\n";
  CliResult r = run_cli({"sweep", file, "--out", out, "--slurm", "--dry-run", "--jobs", "3", "--sbatch",
                         "--mem=8G", "--sbatch=--gres=gpu:0"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Contains("#SBATCH --mem=8G\n") && Contains("#SBATCH --gres=gpu:0\n") &&
                        Contains("#SBATCH --cpus-per-task=3\n") && Contains("--jobs 3\n"));
  CHECK_FALSE(fs::exists(out));
  r = run_cli({"sweep", file, "--out", out, "--slurm", "--dry-run", "--sbatch", "mem=8G"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("--sbatch 'mem=8G'"));
}

TEST_CASE("train: on a terminal the progress is one updating line, piped nothing extra", "[cli]") {
  std::ostringstream tty, piped;
  {
    train::ProgressLine line(tty, true, 10, 2), off(piped, false, 10, 2);
    for (std::size_t done = 3; done <= 10; ++done) {
      line.step(done, 0.5);
      off.step(done, 0.5);
    }
    line.clear();
    tty << "step    10  val loss 0.5\n";  // a plain line after a clear starts at column 0
    line.step(10, 0.25);
  }
  const std::string t = tty.str();
  CHECK(t.rfind("\rstep 3/10  loss 0.5000  ", 0) == 0);  // the first step draws at once
  CHECK_THAT(t, Contains("\rstep 10/10  loss 0.5000") && Contains(" steps/s  ETA "));  // the end always
  CHECK_THAT(t, Contains("\r\x1b[Kstep    10  val loss 0.5\n"));
  CHECK_THAT(t, Contains("\rstep 10/10  loss 0.2500"));
  CHECK(t.back() == '\n');  // the destructor ends a line still shown
  CHECK(std::count(t.begin(), t.end(), '\n') == 2);
  CHECK(piped.str().empty());
}
