// Resume checkpoints: a run stopped (in-process, as SIGINT stops it) or killed (SIGKILL, in a
// normlab process) and resumed from NAME.resume.h5 ends with a run file bit-identical to an
// uninterrupted run's in every value but step_time; a changed config is refused naming the key;
// without a checkpoint a resume starts afresh.
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "core/gemm.hpp"
#include "helpers.hpp"
#include "io/config.hpp"
#include "io/hdf5.hpp"
#include "io/run_file.hpp"
#include "io/run_lock.hpp"
#include "stats/recorder.hpp"
#include "train/checkpoint.hpp"
#include "train/trainer.hpp"

using namespace normlab;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

io::Config config_of(const std::vector<std::string>& assignments) {
  io::Config c;
  for (const auto& a : assignments) c.set(a);
  return c;
}

// The MLP with dropout on the classification task: data, dropout and the optimizer (SGD's
// momentum, the cosine schedule) all carry state from step to step. Checkpoints every 7 steps,
// statistics every 4, evaluations every 10.
const std::vector<std::string> kMlp{
    "model.family=mlp", "model.width=16", "model.depth=2", "model.dropout=0.3",
    "optim.name=sgd", "optim.lr=0.05", "optim.schedule=cosine",
    "data.features=8", "data.val_size=64", "train.batch=16", "train.steps=40",
    "train.eval_every=10", "train.flush_every=6", "train.checkpoint_every=7", "stats.every=4",
    "name=run"};

// The Transformer (pre-norm, QK-norm) on the grammar text, in float64, with AdamW after a warmup.
const std::vector<std::string> kTransformer{
    "model.family=transformer", "dtype=float64", "model.width=16", "model.depth=1",
    "optim.name=adamw", "optim.weight_decay=0.1", "optim.warmup=6",
    "model.heads=2", "model.context=8", "model.qk_norm=true", "data.chars=4000",
    "data.val_size=8", "train.batch=4", "train.steps=12", "train.eval_every=5",
    "train.flush_every=3", "train.checkpoint_every=4", "stats.every=3", "name=run"};

// The GRU on the grammar text (Adam), long enough to be killed while it trains.
const std::vector<std::string> kGru{
    "model.family=gru", "model.width=16", "model.embed=8", "model.context=8", "data.chars=4000",
    "data.val_size=8", "train.batch=4", "train.steps=600", "train.eval_every=25",
    "train.flush_every=10", "train.checkpoint_every=20", "stats.every=15", "name=run"};

// Every dataset of a run file that the run computes (not step_time): equal bit for bit.
void check_bit_identical(const std::string& resumed_path, const std::string& reference_path) {
  h5::File resumed = io::open_run(resumed_path), reference = io::open_run(reference_path);
  CHECK(resumed.members("/") == reference.members("/"));
  CHECK(resumed.members("checkpoint") == reference.members("checkpoint"));
  std::vector<std::string> names{"step", "train_loss", "lr", "grad_norm", "eval_step", "val_loss",
                                 "val_metric", "stat_step", "site_layer", "site_features"};
  for (const auto& stat : stats::stat_names()) names.push_back(stat);
  for (const auto& param : reference.members("checkpoint")) names.push_back("checkpoint/" + param);
  for (const auto& name : names) {
    INFO(name);
    REQUIRE(reference.is_dataset(name));
    REQUIRE(resumed.is_dataset(name));
    REQUIRE(resumed.shape(name) == reference.shape(name));
    REQUIRE(resumed.float_bits(name) == reference.float_bits(name));
    // Read as double: float32 and int64 values convert exactly. NaN (a statistic that does not
    // apply) is compared by its bits too.
    const auto a = resumed.read<double>(name), b = reference.read<double>(name);
    std::size_t differ = 0, first = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (std::bit_cast<std::uint64_t>(a.data()[i]) != std::bit_cast<std::uint64_t>(b.data()[i])) {
        if (differ++ == 0) first = i;
      }
    }
    INFO(differ << " values differ; the first at flat index " << first << ": "
                << (differ ? a.data()[first] : 0.0) << " resumed, " << (differ ? b.data()[first] : 0.0)
                << " uninterrupted");
    CHECK(differ == 0);
  }
  CHECK(resumed.shape("step_time") == reference.shape("step_time"));
}

// Runs `assignments` to completion in `dir` (the uninterrupted reference).
std::string reference_run(const test::TempDir& dir, const std::vector<std::string>& assignments) {
  std::ostringstream log;
  auto r = train::run(config_of(assignments), dir.path.string(), log);
  INFO(log.str());
  REQUIRE(r.status == "completed");
  return r.path;
}

train::TrainResult stop_at(const test::TempDir& dir, const std::vector<std::string>& assignments,
                           std::int64_t step, bool resume) {
  std::ostringstream log;
  auto r = train::run(config_of(assignments), dir.path.string(), log,
                      {.resume = resume, .stop_at_step = step});
  INFO(log.str());
  CHECK(r.status == "interrupted");
  CHECK(r.steps == step);
  return r;
}

}  // namespace

TEST_CASE("resume: the MLP with dropout, stopped twice, ends bit-identical (float32)", "[resume]") {
  test::TempDir ref_dir, dir;
  const std::string reference = reference_run(ref_dir, kMlp);
  const std::string checkpoint = dir / "run.resume.h5", partial = dir / "run.h5.partial";

  // Stopped after 16 steps: the periodic checkpoint of step 14 is replaced by one of step 16.
  auto first = stop_at(dir, kMlp, 16, false);
  CHECK(first.path == partial);
  REQUIRE(fs::exists(checkpoint));
  CHECK_FALSE(fs::exists(checkpoint + ".tmp"));
  {
    h5::File k = h5::File::open(checkpoint);
    CHECK(k.read_string_attribute("/", "format") == "normlab-resume");
    CHECK(k.read_integer_attribute("/", "step") == 16);
    CHECK(k.read_integer_attribute("/", "optimizer_t") == 16);
    CHECK(k.read_string_attribute("/", "dtype") == "float32");
    CHECK(k.float_bits("params") == 32);
    CHECK(k.shape("optimizer_m") == k.shape("params"));
    h5::File p = h5::File::open(partial);
    CHECK(p.read_string_attribute("/", "status") == "interrupted");
    CHECK(p.shape("step") == h5::Shape{16});
  }
  // Resumed, then stopped again after 23 steps; then resumed to the end.
  auto second = stop_at(dir, kMlp, 23, true);
  CHECK(second.resumed_from == 16);
  CHECK(h5::File::open(checkpoint).read_integer_attribute("/", "step") == 23);
  std::ostringstream log;
  auto last = train::run(config_of(kMlp), dir.path.string(), log, {.resume = true});
  INFO(log.str());
  CHECK(last.status == "completed");
  CHECK(last.resumed_from == 23);
  CHECK(last.steps == 40);
  CHECK(last.path == dir / "run.h5");

  // What an uninterrupted run returns too.
  std::ostringstream ref_log;
  auto again = train::run(config_of(kMlp), ref_dir.path.string(), ref_log);
  CHECK(last.final_train_loss == again.final_train_loss);
  CHECK(last.val_loss == again.val_loss);
  CHECK(last.val_metric == again.val_metric);

  check_bit_identical(last.path, reference);
  h5::File f = io::open_run(last.path);
  CHECK(f.read_integers_attribute("/", "resumed_from") == std::vector<long long>{16, 23});
  CHECK(io::open_run(reference).read_integers_attribute("/", "resumed_from").empty());
  // Nothing else is left: no checkpoint, no .partial, no copy of the old rows.
  CHECK(std::vector<fs::path>(fs::directory_iterator(dir.path), {}) ==
        std::vector<fs::path>{dir.path / "run.h5"});
}

TEST_CASE("resume: the Transformer from an older checkpoint drops the rows after it (float64)",
          "[resume]") {
  test::TempDir ref_dir, dir;
  const std::string reference = reference_run(ref_dir, kTransformer);
  const std::string checkpoint = dir / "run.resume.h5";

  // Stopped exactly at the periodic checkpoint of step 4 (no second write); kept aside.
  stop_at(dir, kTransformer, 4, false);
  const std::string older = dir / "older.resume.h5";
  fs::copy_file(checkpoint, older);
  // On to step 7: the file holds steps 0..6, an evaluation after step 4 and statistics at 6.
  stop_at(dir, kTransformer, 7, true);
  {
    h5::File p = h5::File::open(dir / "run.h5.partial");
    CHECK(p.shape("step") == h5::Shape{7});
    CHECK(p.shape("eval_step") == h5::Shape{1});
    CHECK(p.shape("stat_step") == h5::Shape{3});
  }
  // Back to the checkpoint of step 4, as a run killed between the two would have left it: the
  // rows from step 4 on are recomputed, not kept twice.
  fs::rename(older, checkpoint);
  std::ostringstream log;
  auto r = train::run(config_of(kTransformer), dir.path.string(), log, {.resume = true});
  INFO(log.str());
  CHECK(r.status == "completed");
  CHECK(r.resumed_from == 4);
  check_bit_identical(r.path, reference);
  CHECK(io::open_run(r.path).read_integers_attribute("/", "resumed_from") ==
        std::vector<long long>{4, 4});
  CHECK_FALSE(fs::exists(checkpoint));
}

namespace {

// Starts `normlab train` with `assignments` writing into `dir`, waits until its first checkpoint
// (step 20) is there, renamed into place, so complete, and a flush after it has written rows past
// it, then sends `signal`; returns the process's wait status.
int train_then_signal(const test::TempDir& dir, const std::vector<std::string>& assignments,
                      int signal) {
  const std::string checkpoint = dir / "run.resume.h5", partial = dir / "run.h5.partial";
  std::fflush(nullptr);  // else the child would write out the parent's buffered output too
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    // The kernels this process runs, so that the child computes what train::run computes here
    // (normlab would otherwise pick its own OPENBLAS_CORETYPE, see main.cpp).
    ::setenv("OPENBLAS_CORETYPE", blas_core(), 1);
    std::vector<std::string> args{NORMLAB_BINARY, "train"};
    for (const auto& a : assignments) args.insert(args.end(), {"--set", a});
    args.insert(args.end(), {"--out", dir.path.string()});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(NORMLAB_BINARY, argv.data());
    std::_Exit(127);
  }
  bool ready = false;
  for (int i = 0; i < 30000 && !ready; ++i) {
    try {
      ready = fs::exists(checkpoint) &&
              h5::File::open(partial, h5::File::Mode::read_swmr).shape("step")[0] > 20;
    } catch (const std::exception&) {
      // the run file is not created yet, or not yet in SWMR mode
    }
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::kill(pid, signal);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(ready);
  return status;
}

// Resumes kGru in `dir` to the end and checks it against an uninterrupted run.
void resume_and_compare(const test::TempDir& dir, long long from_step) {
  test::TempDir ref_dir;
  std::ostringstream log;
  auto r = train::run(config_of(kGru), dir.path.string(), log, {.resume = true});
  INFO(log.str());
  CHECK(r.status == "completed");
  CHECK(r.resumed_from == from_step);
  check_bit_identical(r.path, reference_run(ref_dir, kGru));
  CHECK_FALSE(fs::exists(dir / "run.resume.h5"));
  CHECK_FALSE(fs::exists(dir / "run.h5.partial.old"));
}

}  // namespace

TEST_CASE("resume: a GRU training process killed with SIGKILL resumes bit-identical",
          "[resume]") {
  test::TempDir dir;
  const int status = train_then_signal(dir, kGru, SIGKILL);
  REQUIRE(WIFSIGNALED(status));  // not finished before it was killed
  const long long step = h5::File::open(dir / "run.resume.h5").read_integer_attribute("/", "step");
  CHECK(step % 20 == 0);  // a periodic checkpoint; the rows after it are dropped
  CHECK_THROWS(h5::File::open(dir / "run.h5.partial"));  // still marked as open by its writer
  resume_and_compare(dir, step);
}

TEST_CASE("resume: a GRU training process stopped by SIGTERM loses no step", "[resume]") {
  test::TempDir dir;
  const int status = train_then_signal(dir, kGru, SIGTERM);
  REQUIRE(WIFEXITED(status));
  // The checkpoint is of the step it stopped at, not of the last periodic one.
  const long long step = h5::File::open(dir / "run.resume.h5").read_integer_attribute("/", "step");
  h5::File partial = h5::File::open(dir / "run.h5.partial");
  CHECK(partial.read_string_attribute("/", "status") == "interrupted");
  CHECK(partial.shape("step") == h5::Shape{std::size_t(step)});
  partial.close();
  resume_and_compare(dir, step);
}

TEST_CASE("resume: another config is refused naming the key; no checkpoint starts afresh",
          "[resume]") {
  test::TempDir dir;
  const std::string checkpoint = dir / "run.resume.h5", partial = dir / "run.h5.partial";
  stop_at(dir, kMlp, 9, false);
  const std::string checkpoint_bytes = test::bytes_of(checkpoint), partial_bytes = test::bytes_of(partial);

  SECTION("a changed key is named, and nothing is touched") {
    std::ostringstream log;
    io::Config changed = config_of(kMlp);
    changed.set("optim.lr=0.002");
    CHECK_THROWS_WITH(train::run(changed, dir.path.string(), log, {.resume = true}),
                      Contains("another config: optim.lr = 0.05") && Contains("0.002 now"));
    changed = config_of(kMlp);
    changed.set("model.dropout=0.5");
    CHECK_THROWS_WITH(train::run(changed, dir.path.string(), log, {.resume = true}),
                      Contains("model.dropout"));
    CHECK(test::bytes_of(checkpoint) == checkpoint_bytes);
    CHECK(test::bytes_of(partial) == partial_bytes);
    CHECK_FALSE(fs::exists(partial + ".old"));
  }
  SECTION("a resume killed while it copied the rows: the .old file is still their source") {
    // What such a resume leaves: the old rows moved aside, a new file that may miss some.
    fs::rename(partial, partial + ".old");
    std::ofstream(partial) << "the start of a file a killed resume was writing";
    std::ostringstream log;
    auto r = train::run(config_of(kMlp), dir.path.string(), log, {.resume = true});
    CHECK(r.status == "completed");
    CHECK(r.resumed_from == 9);
    test::TempDir ref_dir;
    check_bit_identical(r.path, reference_run(ref_dir, kMlp));
    CHECK_FALSE(fs::exists(partial + ".old"));
  }
  SECTION("a checkpoint without the run file it continues is refused") {
    fs::remove(partial);
    std::ostringstream log;
    CHECK_THROWS_WITH(train::run(config_of(kMlp), dir.path.string(), log, {.resume = true}),
                      Contains("run.h5.partial, which is gone; delete the checkpoint"));
    CHECK(test::bytes_of(checkpoint) == checkpoint_bytes);
  }
  SECTION("train.out is not part of the comparison") {
    io::Config a = config_of(kMlp), b = config_of(kMlp);
    a.set("train.out=\"here\"");
    b.set("train.out=\"there\"");
    CHECK(train::config_difference(a, b).empty());
    b.set("seed=3");
    CHECK(train::config_difference(a, b) == "seed");
  }
  SECTION("without a checkpoint a resume starts afresh over the stale .partial") {
    fs::remove(checkpoint);
    std::ostringstream log;
    auto r = train::run(config_of(kMlp), dir.path.string(), log, {.resume = true});
    CHECK(r.status == "completed");
    CHECK(r.resumed_from == -1);
    CHECK_THAT(log.str(), Contains("starts afresh"));
    CHECK(io::open_run(r.path).read_integers_attribute("/", "resumed_from").empty());
    CHECK(io::open_run(r.path).shape("step") == h5::Shape{40});
    CHECK_FALSE(fs::exists(partial));
  }
  SECTION("a run without resume discards the checkpoint; checkpoint_every = 0 writes none") {
    std::vector<std::string> never = kMlp;
    never.push_back("train.checkpoint_every=0");
    auto r = stop_at(dir, never, 12, false);  // not even when stopped
    CHECK(r.resumed_from == -1);
    CHECK_FALSE(fs::exists(checkpoint));
    CHECK(h5::File::open(partial).shape("step") == h5::Shape{12});
  }
}

TEST_CASE("resume: a diverged run leaves no checkpoint", "[resume]") {
  test::TempDir dir;
  std::vector<std::string> diverging = kMlp;
  for (const char* s : {"optim.name=sgd", "optim.lr=1e6", "optim.clip=0", "model.norm=none",
                        "train.checkpoint_every=1", "model.dropout=0"}) {
    diverging.push_back(s);
  }
  std::ostringstream log;
  auto r = train::run(config_of(diverging), dir.path.string(), log);
  REQUIRE(r.status == "diverged");
  CHECK(r.steps >= 1);
  CHECK_FALSE(fs::exists(dir / "run.resume.h5"));
  CHECK(fs::exists(dir / "run.h5"));
}

// ---- issue 15: no unrecoverable instant, one writer per run, checkpoints that prove their
// integrity ----

namespace {

// In a forked child: kMlp-like `assignments` trained in `dir` with NORMLAB_FAULT_AT=finish:`n`
// (killed by SIGKILL at the n-th point of the finish path, if it has that many); returns the
// child's wait status.
int run_with_fault(const test::TempDir& dir, const std::vector<std::string>& assignments, long n,
                   const train::TrainOptions& options) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("NORMLAB_FAULT_AT", ("finish:" + std::to_string(n)).c_str(), 1);
    std::ostringstream log;
    try {
      train::run(config_of(assignments), dir.path.string(), log, options);
    } catch (...) {
      std::_Exit(2);
    }
    std::_Exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files(fs::directory_iterator(dir), {});
  std::sort(files.begin(), files.end());
  return files;
}

// Kills a run at every point of its finish path in turn (a completed run's, or, with `stop`, an
// interrupted one's); after each kill --resume must complete it bit-identically, with no h5clear,
// leaving only the run file. Returns the number of points.
long kill_at_every_finish_point(const std::vector<std::string>& assignments, std::int64_t stop) {
  test::TempDir ref_dir;
  const std::string reference = reference_run(ref_dir, assignments);
  long n = 1;
  for (;; ++n) {
    INFO("killed at finish point " << n);
    test::TempDir dir;
    const int status = run_with_fault(dir, assignments, n, {.stop_at_step = stop});
    if (WIFEXITED(status)) {  // fewer points than n: it finished
      CHECK(WEXITSTATUS(status) == 0);
      break;
    }
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);
    std::ostringstream log;
    auto r = train::run(config_of(assignments), dir.path.string(), log, {.resume = true});
    INFO(log.str());
    REQUIRE(r.status == "completed");
    CHECK(r.path == dir / "run.h5");
    check_bit_identical(r.path, reference);
    CHECK(files_in(dir.path) == std::vector<fs::path>{dir.path / "run.h5"});
    // And again: a finished run is not trained again.
    std::ostringstream again;
    auto twice = train::run(config_of(assignments), dir.path.string(), again, {.resume = true});
    CHECK(twice.status == "completed");
    CHECK(twice.final_train_loss == r.final_train_loss);
    CHECK_THAT(again.str(), Contains("finished already"));
  }
  return n - 1;
}

}  // namespace

TEST_CASE("finish: a kill at any point of a completed run's finish leaves it resumable",
          "[resume][finish]") {
  const long points = kill_at_every_finish_point(kMlp, 0);
  // flush, close, copy, open, status, 6 parameters, close, sync, rename, delete the .partial,
  // delete the checkpoint.
  CHECK(points >= 12);
  WARN(points << " kill points of the finish path tested");
}

TEST_CASE("finish: a kill at any point of an interrupted run's close leaves it resumable",
          "[resume][finish]") {
  const long points = kill_at_every_finish_point(kMlp, 16);
  CHECK(points >= 6);  // flush, close, copy, open, status, close, sync, rename
  WARN(points << " kill points of the interrupted close tested");
}

TEST_CASE("finish: the final file beside a stale checkpoint is taken as finished", "[resume][finish]") {
  test::TempDir dir;
  stop_at(dir, kMlp, 9, false);
  const std::string checkpoint_bytes = test::bytes_of(dir / "run.resume.h5");
  const std::string partial_bytes = test::bytes_of(dir / "run.h5.partial");
  std::ostringstream log;
  auto done = train::run(config_of(kMlp), dir.path.string(), log, {.resume = true});
  REQUIRE(done.status == "completed");
  // As a session killed after the rename, before the deletes, leaves it.
  std::ofstream(dir / "run.resume.h5", std::ios::binary) << checkpoint_bytes;
  std::ofstream(dir / "run.h5.partial", std::ios::binary) << partial_bytes;
  const std::string final_bytes = test::bytes_of(dir / "run.h5");
  auto again = train::run(config_of(kMlp), dir.path.string(), log, {.resume = true});
  CHECK(again.status == "completed");
  CHECK(again.steps == 40);
  CHECK(again.val_loss == done.val_loss);
  CHECK(test::bytes_of(dir / "run.h5") == final_bytes);
  CHECK(files_in(dir.path) == std::vector<fs::path>{dir.path / "run.h5"});
}

namespace {

// Flips the lowest bit of value `index` of a dataset in place, with HDF5's C API.
void flip_value_bit(const std::string& path, const char* dataset, std::size_t index) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(file >= 0);
  const hid_t d = H5Dopen2(file, dataset, H5P_DEFAULT);
  REQUIRE(d >= 0);
  const hid_t type = H5Dget_type(d);
  const std::size_t size = H5Tget_size(type);
  const hid_t space = H5Dget_space(d);
  std::vector<unsigned char> bytes(size * std::size_t(H5Sget_simple_extent_npoints(space)));
  REQUIRE(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()) >= 0);
  bytes.at(index * size) ^= 1;
  REQUIRE(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()) >= 0);
  H5Sclose(space);
  H5Tclose(type);
  H5Dclose(d);
  H5Fclose(file);
}

}  // namespace

TEST_CASE("checkpoint: a damaged or edited checkpoint is refused, naming the part",
          "[resume][checksum]") {
  test::TempDir dir;
  stop_at(dir, kMlp, 9, false);
  const std::string checkpoint = dir / "run.resume.h5";
  const std::string intact = test::bytes_of(checkpoint);
  auto refused = [&](const std::string& part) {
    std::ostringstream log;
    CHECK_THROWS_WITH(train::run(config_of(kMlp), dir.path.string(), log, {.resume = true}),
                      Contains("run.resume.h5: a damaged checkpoint") && Contains(part));
    std::ofstream(checkpoint, std::ios::binary | std::ios::trunc) << intact;
  };
  SECTION("a bit of a parameter") {
    flip_value_bit(checkpoint, "params", 5);
    refused("SHA-256 of params does not match");
  }
  SECTION("a bit of the first moments and of the second") {
    flip_value_bit(checkpoint, "optimizer_m", 0);
    refused("optimizer_m");
    flip_value_bit(checkpoint, "optimizer_v", 3);
    refused("optimizer_v");
  }
  SECTION("the step changed, the generators swapped") {
    {
      h5::File f = h5::File::open(checkpoint, h5::File::Mode::read_write);
      f.write_attribute("/", "step", 7LL);
    }
    refused("state (step");
    {
      h5::File f = h5::File::open(checkpoint, h5::File::Mode::read_write);
      const std::string a = f.read_string_attribute("/", "train_rng");
      const std::string b = f.read_string_attribute("/", "dropout_rng");
      f.write_attribute("/", "train_rng", b);
      f.write_attribute("/", "dropout_rng", a);
    }
    refused("state (step");
  }
  SECTION("every single-bit flip of the parameters' bytes is caught") {
    const std::size_t P = h5::File::open(checkpoint).shape("params")[0];
    for (std::size_t i = 0; i < P; i += P / 7 + 1) {
      flip_value_bit(checkpoint, "params", i);
      refused("params");
    }
  }
  // Intact again, it resumes.
  std::ostringstream log;
  CHECK(train::run(config_of(kMlp), dir.path.string(), log, {.resume = true}).status == "completed");
}

namespace {

// `normlab train` with `assignments` into `dir` as a child process, its stderr into `err`.
pid_t start_train(const std::string& dir, const std::vector<std::string>& assignments,
                  const std::string& err) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen(err.c_str(), "w", stderr);
    ::setenv("OPENBLAS_CORETYPE", blas_core(), 1);
    std::vector<std::string> args{NORMLAB_BINARY, "train"};
    for (const auto& a : assignments) args.insert(args.end(), {"--set", a});
    args.insert(args.end(), {"--out", dir});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(NORMLAB_BINARY, argv.data());
    std::_Exit(127);
  }
  return pid;
}

}  // namespace

TEST_CASE("one writer per run: a second train on the same path is refused by name", "[resume][lock]") {
  test::TempDir dir, logs;
  const pid_t first = start_train(dir.path.string(), kGru, logs / "first.err");
  bool running = false;
  for (int i = 0; i < 20000 && !running; ++i) {
    running = io::RunLock::held(dir / "run.h5") && fs::exists(dir / "run.h5.partial");
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(running);
  const pid_t second = start_train(dir.path.string(), kGru, logs / "second.err");
  int second_status = 0, first_status = 0;
  ::waitpid(second, &second_status, 0);
  ::waitpid(first, &first_status, 0);
  CHECK(WIFEXITED(second_status));
  CHECK(WEXITSTATUS(second_status) != 0);
  CHECK_THAT(test::bytes_of(logs / "second.err"),
             Contains("another normlab train is writing " + (dir / "run.h5")) &&
                 Contains("(pid " + std::to_string(first)));
  REQUIRE(WIFEXITED(first_status));
  CHECK(WEXITSTATUS(first_status) == 0);
  test::TempDir ref_dir;
  check_bit_identical(dir / "run.h5", reference_run(ref_dir, kGru));
  CHECK_FALSE(fs::exists(dir / "run.h5.lock"));
}

TEST_CASE("a full disk ends the run with a clear error, no crash, and it resumes once there is space",
          "[resume][disk]") {
  test::TempDir dir, logs;
  const std::string mnt = dir / "small";
  fs::create_directories(mnt);
  // A small tmpfs needs root (the CI runs as root); skipped otherwise. Its size is what the run
  // fills after its first checkpoint (460k since the alpha and saturated_share series; 400k before).
  if (std::system(("mount -t tmpfs -o size=460k tmpfs " + mnt + " 2>/dev/null").c_str()) != 0) {
    WARN("not root (cannot mount a tmpfs): the full-disk test is skipped");
    return;
  }
  struct Unmount {
    std::string at;
    ~Unmount() { std::system(("umount " + at).c_str()); }
  } unmount{mnt};
  const pid_t pid = start_train(mnt, kGru, logs / "full.err");
  int status = 0;
  ::waitpid(pid, &status, 0);
  const std::string err = test::bytes_of(logs / "full.err");
  INFO(err);
  REQUIRE(WIFEXITED(status));  // no crash at exit
  CHECK(WEXITSTATUS(status) != 0);
  CHECK_THAT(err, Contains("No space left on device") && Contains(mnt));
  REQUIRE(fs::exists(mnt + "/run.resume.h5"));
  // Space again: the run resumes from its last checkpoint and ends bit-identical.
  REQUIRE(std::system(("mount -o remount,size=64m " + mnt).c_str()) == 0);
  std::ostringstream log;
  auto r = train::run(config_of(kGru), mnt, log, {.resume = true});
  INFO(log.str());
  CHECK(r.status == "completed");
  CHECK(r.resumed_from > 0);
  test::TempDir ref_dir;
  check_bit_identical(r.path, reference_run(ref_dir, kGru));
  CHECK(files_in(mnt) == std::vector<fs::path>{fs::path(mnt) / "run.h5"});
}
