// Crash safety of the run file: a training process stopped by SIGTERM closes its file cleanly with
// status "interrupted"; one killed by SIGKILL leaves a .partial file that `h5clear -s` makes
// readable up to its last flush; completed run files beside it are never touched. And the writer of
// a training run puts every attribute and series under the name docs/FORMAT.md gives it, written
// out here as the document spells them (not through io/run_schema.hpp, which they check).
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "helpers.hpp"
#include "core/gemm.hpp"
#include "core/kernels.hpp"
#include "io/hdf5.hpp"
#include "io/run_file.hpp"

using namespace normlab;
namespace fs = std::filesystem;

namespace {

// Starts `normlab train` on a long GRU run (flushing every 5 steps) writing into `dir`.
pid_t start_training(const std::string& dir, const std::string& name) {
  std::fflush(nullptr);  // else the child would write out the parent's buffered output too
  pid_t pid = ::fork();
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    ::execl(NORMLAB_BINARY, NORMLAB_BINARY, "train", "--set", "model.family=gru", "--set",
            "model.width=32", "--set", "model.context=16", "--set", "train.steps=1000000", "--set",
            "train.flush_every=5", "--set", "train.eval_every=1000000", "--set",
            ("name=" + name).c_str(), "--out", dir.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  return pid;
}

// Waits (up to 60 s) until a SWMR reader sees the .partial file past its first flushes.
void wait_for_progress(const std::string& partial) {
  for (int i = 0; i < 600; ++i) {
    try {
      if (h5::File::open(partial, h5::File::Mode::read_swmr).shape("step")[0] >= 10) return;
    } catch (const std::exception&) {
      // not created yet, or not yet in SWMR mode
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  FAIL("no progress in " << partial);
}

// Trains as run `name` in `dir` until its file has grown, sends `signal`, and returns the wait
// status of the process.
int train_then_signal(const test::TempDir& dir, const std::string& name, int signal) {
  pid_t pid = start_training(dir.path.string(), name);
  wait_for_progress(dir / (name + ".h5.partial"));
  ::kill(pid, signal);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

}  // namespace

TEST_CASE("run file: SIGTERM closes it as interrupted, SIGKILL leaves it recoverable by h5clear",
          "[run-file]") {
  test::TempDir dir;
  // A completed run first: it must come out of all this byte for byte the same.
  REQUIRE(std::system((std::string(NORMLAB_BINARY) + " train --set train.steps=5 --set name=done --out " +
                       dir.path.string() + " > /dev/null").c_str()) == 0);
  const std::string done = dir / "done.h5", done_bytes = test::bytes_of(done);

  SECTION("SIGTERM") {
    CHECK(WIFEXITED(train_then_signal(dir, "term", SIGTERM)));
    h5::File f = h5::File::open(dir / "term.h5.partial");  // readable as it is
    CHECK(f.read_string_attribute("/", "status") == "interrupted");
    CHECK(f.shape("step")[0] > 0);
    CHECK(f.shape("train_loss") == f.shape("step"));
    CHECK(!fs::exists(dir / "term.h5"));
  }
  SECTION("SIGKILL") {
    CHECK(WIFSIGNALED(train_then_signal(dir, "kill", SIGKILL)));
    const std::string partial = dir / "kill.h5.partial";
    // Still marked as open by its writer: a plain open fails, a SWMR reader reads it as it is.
    CHECK_THROWS(h5::File::open(partial));
    const std::size_t swmr_steps = h5::File::open(partial, h5::File::Mode::read_swmr).shape("step")[0];
    // The documented recovery: clear the SWMR writer's mark, then read up to the last flush.
    REQUIRE(std::system(("h5clear -s " + partial).c_str()) == 0);
    h5::File f = h5::File::open(partial);
    CHECK(f.read_string_attribute("/", "status") == "running");
    const std::size_t steps = f.shape("step")[0];
    CHECK(steps > 0);
    CHECK(steps % 5 == 0);  // whole flushes only
    auto loss = f.read<double>("train_loss");
    CHECK(loss.size() >= steps);
    CHECK(std::isfinite(loss(steps - 1)));
    CHECK(swmr_steps == steps);
    // The statistics (every 10 steps by default) went out with the same flushes: steps 0, 10, ...
    const std::size_t records = f.shape("stat_step")[0];
    CHECK(records == (steps + 9) / 10);
    auto stat_steps = f.read<long long>("stat_step");
    CHECK(stat_steps(records - 1) == static_cast<long long>(10 * (records - 1)));
    auto rms = f.read<double>("in_rms");
    CHECK(rms.shape(0) >= records);
    CHECK(std::isfinite(rms(records - 1, 0)));
  }
  CHECK(test::bytes_of(done) == done_bytes);
}

TEST_CASE("run file: the writer of a training run names and orders what docs/FORMAT.md says",
          "[run-file]") {
  test::TempDir dir;
  const std::string path = dir / "w.h5";
  io::RunAttributes a;
  a.run_id = "w";
  a.config_toml = "seed = 7\n";
  a.family = "mlp";
  a.norm = "layernorm,rmsnorm";
  a.norm_options = "eps=1e-05";
  a.task = "classification";
  a.optimizer = "adam";
  a.dtype = "float32";
  a.seed = 7;
  a.lr = 0.25;
  a.stats_every = 3;
  a.val_metric_name = "perplexity";  // whatever the task says, passed through
  a.started = "2026-01-02T03:04:05Z";
  a.resumed_from = {4, 9};
  io::SiteTable sites{{"layer0.norm", "layer1.norm"}, {"layernorm", "rmsnorm"}, {0, 1}, {8, 8}};
  {
    io::RunWriter run(path, a, sites);
    run.record_step(0, {1.5, 0.25, 3.0, 0.01});
    run.record_step(1, {1.25, 0.125, 2.0, 0.02});
    run.record_eval(1, {1.75, 0.5});
    std::vector<double> stats(22 * 2);  // statistic-major: values[stat * sites + site]
    for (std::size_t i = 0; i < stats.size(); ++i) stats[i] = double(i);
    run.record_stats(0, stats);
    run.finish("completed", {"2026-01-02T03:05:00Z", 12.5, [](h5::File& out) {
                               out.write<float>("checkpoint/layer0.norm.gain", {2},
                                                std::vector<float>{1.0f, 2.0f});
                             }});
  }
  CHECK_FALSE(fs::exists(path + ".partial"));
  h5::File f = h5::File::open(path);
  for (auto [name, value] : {std::pair{"format", "normlab-run"}, {"run_id", "w"},
                             {"config_toml", "seed = 7\n"}, {"family", "mlp"},
                             {"norm", "layernorm,rmsnorm"}, {"norm_options", "eps=1e-05"},
                             {"task", "classification"}, {"optimizer", "adam"},
                             {"dtype", "float32"}, {"val_metric_name", "perplexity"},
                             {"status", "completed"}, {"started", "2026-01-02T03:04:05Z"},
                             {"finished", "2026-01-02T03:05:00Z"}}) {
    INFO(name);
    CHECK(f.read_string_attribute("/", name) == value);
  }
  CHECK(f.read_integer_attribute("/", "format_version") == 4);
  // which kernels and BLAS kernel family wrote the float results (their last bits depend on it)
  CHECK(f.read_string_attribute("/", "kernels") == kernels::describe(kernels::active()));
  CHECK(f.read_string_attribute("/", "blas_core") == std::string(blas_core()));
  CHECK(f.read_integer_attribute("/", "seed") == 7);
  CHECK(f.read_integer_attribute("/", "stats_every") == 3);
  CHECK(f.read_number_attribute("/", "lr") == 0.25);
  CHECK(f.read_number_attribute("/", "peak_rss_mib") == 12.5);
  CHECK(f.read_integers_attribute("/", "resumed_from") == std::vector<long long>{4, 9});
  CHECK(f.has_attribute("/", "normlab_version"));
  // The rows land in the series in the order of StepRow and EvalRow.
  auto series = [&f](const char* name) {
    const auto v = f.read<double>(name);
    return std::vector<double>(v.begin(), v.end());
  };
  CHECK(series("step") == std::vector<double>{0, 1});
  CHECK(series("train_loss") == std::vector<double>{1.5, 1.25});
  CHECK(series("lr") == std::vector<double>{0.25, 0.125});
  CHECK(series("grad_norm") == std::vector<double>{3.0, 2.0});
  CHECK(series("step_time") == std::vector<double>{0.01, 0.02});
  CHECK(series("eval_step") == std::vector<double>{1});
  CHECK(series("val_loss") == std::vector<double>{1.75});
  CHECK(series("val_metric") == std::vector<double>{0.5});
  CHECK(f.read_strings("site") == sites.names);
  CHECK(f.read_strings("site_kind") == sites.kinds);
  CHECK(series("site_features") == std::vector<double>{8, 8});
  CHECK(series("stat_step") == std::vector<double>{0});
  // The statistics in the order of FORMAT.md's table: the first, one in the middle, the last.
  CHECK(series("in_mean") == std::vector<double>{0, 1});
  CHECK(series("lambda") == std::vector<double>{30, 31});
  CHECK(series("update_ratio") == std::vector<double>{38, 39});
  CHECK(series("saturated_share") == std::vector<double>{42, 43});
  CHECK(f.read<float>("checkpoint/layer0.norm.gain").size() == 2);
}
