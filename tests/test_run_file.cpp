// Crash safety of the run file: a training process stopped by SIGTERM closes its file cleanly with
// status "interrupted"; one killed by SIGKILL leaves a .partial file that `h5clear -s` makes
// readable up to its last flush; completed run files beside it are never touched.
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
#include "io/hdf5.hpp"

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
