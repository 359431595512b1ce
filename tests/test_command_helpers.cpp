// What the command line used to do itself and now calls (issue 14): list options, shards, where
// the analyses put their files, how a sweep's outcomes are counted. Each against values written
// out by hand.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "analysis/files.hpp"
#include "core/error.hpp"
#include "core/python.hpp"
#include "core/strings.hpp"
#include "helpers.hpp"
#include "sweep/report.hpp"
#include "sweep/slurm.hpp"

namespace {

using namespace normlab;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

}  // namespace

TEST_CASE("lists: items trimmed, blanks dropped, positive integers, numbers", "[cli-helpers]") {
  CHECK(split_list(" model.norm , model.placement,,") ==
        std::vector<std::string>{"model.norm", "model.placement"});
  CHECK(split_list("").empty());
  CHECK(parse_positive_integers("8, 64,512", "--dims") == std::vector<std::size_t>{8, 64, 512});
  CHECK(parse_positive_integers("", "--dims").empty());
  CHECK_THROWS_WITH(parse_positive_integers("8,0", "--dims"), "--dims: '0' is not a positive integer");
  CHECK_THROWS_WITH(parse_positive_integers("2.5", "--dims"), "--dims: '2.5' is not a positive integer");
  CHECK_THROWS_WITH(parse_positive_integers("x", "--dims"), "--dims: 'x' is not a number");
  CHECK(parse_doubles("0.5, 2,1e1", "--scales") == std::vector<double>{0.5, 2, 10});
  CHECK_THROWS_WITH(parse_doubles("1,", "--scales"), "--scales: '' is not a number");
}

TEST_CASE("shards: I/N, Slurm's array variables, the whole sweep", "[cli-helpers]") {
  ::unsetenv("SLURM_ARRAY_TASK_ID");
  ::unsetenv("SLURM_ARRAY_TASK_COUNT");
  CHECK(sweep::parse_shard("") == std::pair{0, 1});
  CHECK(sweep::parse_shard("2/5") == std::pair{2, 5});
  CHECK_THROWS_WITH(sweep::parse_shard("5/5"), Contains("needs whole numbers with 0 <= I < N"));
  CHECK_THROWS_WITH(sweep::parse_shard("1"), "--shard: '1' is not I/N");
  ::setenv("SLURM_ARRAY_TASK_ID", "3", 1);
  ::setenv("SLURM_ARRAY_TASK_COUNT", "4", 1);
  CHECK(sweep::parse_shard("") == std::pair{3, 4});
  CHECK(sweep::parse_shard("0/2") == std::pair{0, 2});  // --shard wins over the environment
  ::unsetenv("SLURM_ARRAY_TASK_ID");
  ::unsetenv("SLURM_ARRAY_TASK_COUNT");
}

TEST_CASE("analysis files: beside the run, sensitivity files found under directories",
          "[cli-helpers]") {
  CHECK(analysis::sensitivity_path("d/run-s0.h5") == "d/run-s0.sensitivity.h5");
  CHECK(analysis::positions_path("d/run-s0.h5") == "d/run-s0.positions.h5");
  CHECK(analysis::beside_run("d/run", ".x.h5") == "d/run.x.h5");
  test::TempDir dir;
  fs::create_directories(dir / "sweep/runs/b");
  for (const char* name : {"sweep/runs/b/z.sensitivity.h5", "sweep/runs/a.sensitivity.h5",
                           "sweep/runs/a.h5"}) {
    std::ofstream(dir / name) << "x";
  }
  const std::vector<std::string> inputs{dir / "sweep", dir / "other.sensitivity.h5"};
  CHECK(analysis::sensitivity_files(inputs) ==
        std::vector<std::string>{dir / "sweep/runs/a.sensitivity.h5",
                                 dir / "sweep/runs/b/z.sensitivity.h5", dir / "other.sensitivity.h5"});
  CHECK(analysis::correlation_path(inputs) == dir / "sweep/correlation.h5");
  CHECK(analysis::correlation_path({dir / "sweep/runs/a.sensitivity.h5"}) ==
        dir / "sweep/runs/correlation.h5");
  fs::create_directories(dir / "empty");
  CHECK_THROWS_WITH(analysis::sensitivity_files({dir / "empty"}),
                    Contains("no *.sensitivity.h5 file under"));
}

TEST_CASE("sweep report: status counts, runs with a result", "[cli-helpers]") {
  CHECK(sweep::status_counts({"failed", "completed", "completed", "diverged"}) ==
        "2 completed, 1 diverged, 1 failed");
  CHECK(sweep::status_counts({}).empty());
  sweep::Index index;
  for (const char* s : {"completed", "running", "diverged", "missing"}) {
    index.rows.push_back({});
    index.rows.back().status = s;
  }
  CHECK(sweep::runs_with_result(index) == 2);
  CHECK(sweep::statuses(index) == std::vector<std::string>{"completed", "running", "diverged", "missing"});
}

TEST_CASE("python: arguments single-quoted, a quote refused", "[cli-helpers]") {
  CHECK(python_command("plot", {"-m", "normlab.plots", "dir x"}, "/src/analysis") ==
        "PYTHONPATH='/src/analysis' PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 '-m' 'normlab.plots' 'dir x'");
  CHECK(python_command("numerics", {"s.py"}) == "/usr/bin/python3 's.py'");
  CHECK_THROWS_WITH(python_command("plot", {"a'b"}), "plot: argument with a quote: a'b");
}
