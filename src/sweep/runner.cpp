#include "sweep/runner.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <thread>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "io/run_file.hpp"
#include "io/run_schema.hpp"
#include "io/text_file.hpp"

namespace normlab::sweep {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void write_manifest(const Sweep& sweep, const std::vector<std::string>& kept) {
  std::ostringstream m;
  m << "# written by normlab sweep; read by normlab collect\n"
    << "sweep = " << toml_quoted(fs::absolute(sweep.path).string()) << "\naxes = [";
  for (std::size_t i = 0; i < sweep.axis_keys.size(); ++i) m << (i ? ", " : "") << toml_quoted(sweep.axis_keys[i]);
  m << "]\nruns = [\n";
  for (const Run& r : sweep.runs) m << "  " << toml_quoted(r.id) << ",\n";
  for (const auto& id : kept) m << "  " << toml_quoted(id) << ",\n";  // --extend: the older runs
  m << "]\n";
  io::write_text_atomically((fs::path(sweep.out) / "manifest.toml").string(), m.str());
}

// The status a finished run left in its files: the final file's status, or what the .partial says.
std::string status_on_disk(const fs::path& runs, const std::string& id) {
  const fs::path final_path = runs / (id + ".h5");
  if (fs::exists(final_path)) {
    try {
      return io::open_run(final_path.string()).read_string_attribute("/", "status");
    } catch (const Error&) {
      return "failed";  // unreadable: rerun it
    }
  }
  return "";
}

// SIGINT and SIGTERM while a sweep runs: stop starting runs, pass SIGTERM on to the running ones
// (which close their files as interrupted), wait for them.
volatile std::sig_atomic_t g_stop = 0;

struct Running {
  std::size_t index;
  Clock::time_point start;
};

pid_t launch(const RunnerOptions& o, const fs::path& config, const fs::path& runs,
             const fs::path& log) {
  std::fflush(nullptr);
  const pid_t sweep_pid = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) fail("sweep: cannot start a process: ", std::strerror(errno));
  if (pid == 0) {
    // The run dies with the sweep, however the sweep ends: SIGTERM, which makes it checkpoint and
    // close its file as interrupted, so a rerun continues it. (Kept across execl.)
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != sweep_pid) std::_Exit(1);  // the sweep ended before prctl
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    ::execl(o.binary.c_str(), o.binary.c_str(), "train", config.c_str(), "--out", runs.c_str(),
            "--resume", static_cast<char*>(nullptr));
    std::fprintf(stderr, "sweep: cannot execute %s: %s\n", o.binary.c_str(), std::strerror(errno));
    std::_Exit(127);
  }
  return pid;
}

std::string duration(double seconds) {
  std::ostringstream s;
  if (seconds >= 3600) s << int(seconds / 3600) << "h" << std::setw(2) << std::setfill('0') << int(seconds / 60) % 60 << "m";
  else if (seconds >= 60) s << int(seconds / 60) << "m" << std::setw(2) << std::setfill('0') << int(seconds) % 60 << "s";
  else s << std::fixed << std::setprecision(1) << seconds << "s";
  return s.str();
}

}  // namespace

DirectoryLock::DirectoryLock(const std::string& dir, int shard, int shards) {
  fs::create_directories(dir);
  const fs::path root(dir);
  const std::string who = shards > 1 ? "shard " + std::to_string(shard) + "/" + std::to_string(shards) : "sweep";
  whole_ = take((root / "sweep.lock").string(), shards > 1 ? LOCK_SH : LOCK_EX, who);
  if (shards > 1) {
    try {
      shard_ = take((root / ("sweep.shard-" + std::to_string(shard) + "-of-" + std::to_string(shards) + ".lock")).string(),
                    LOCK_EX, who);
    } catch (...) {
      ::close(whole_);
      throw;
    }
  }
}

int DirectoryLock::take(const std::string& path, int operation, const std::string& who) {
  // O_CLOEXEC: the runs it starts must not hold the sweep's lock after it ended.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, ": cannot open the lock file: ", std::strerror(errno));
  if (::flock(fd, operation | LOCK_NB) != 0) {
    ::close(fd);
    fail(fs::path(path).parent_path().string(), ": another sweep is writing this directory (",
         path, " is locked); wait for it, or give this ", who, " another directory");
  }
  return fd;
}

DirectoryLock::~DirectoryLock() {
  // Closing releases a lock, as does the process ending.
  if (shard_ >= 0) ::close(shard_);
  if (whole_ >= 0) ::close(whole_);
}

bool is_failure(const std::string& status) {
  return status == "failed" || status == "killed" || status == "interrupted";
}

bool any_failed(const std::vector<Outcome>& outcomes) {
  return std::any_of(outcomes.begin(), outcomes.end(),
                     [](const Outcome& o) { return is_failure(o.status); });
}

namespace {

// The runs of this shard still to do (no result on disk yet), each with its config written to
// DIR/configs; the others of the shard are marked skipped. `mine` counts the shard's runs.
std::vector<std::size_t> runs_to_do(const Sweep& sweep, const RunnerOptions& o,
                                    std::vector<Outcome>& outcomes, std::size_t& mine) {
  const fs::path dir = sweep.out, runs = dir / "runs", configs = dir / "configs";
  std::vector<std::size_t> todo;
  mine = 0;
  for (std::size_t i = 0; i < sweep.runs.size(); ++i) {
    outcomes[i].id = sweep.runs[i].id;
    if (i % std::size_t(o.shards) != std::size_t(o.shard)) continue;
    ++mine;
    const std::string done = status_on_disk(runs, sweep.runs[i].id);
    if (io::schema::status::has_result(done)) {
      outcomes[i].status = "skipped";
      continue;
    }
    io::write_text_atomically((configs / (sweep.runs[i].id + ".toml")).string(),
                              sweep.runs[i].config.to_toml());
    todo.push_back(i);
  }
  return todo;
}

// Catches SIGINT and SIGTERM for its lifetime (g_stop), then restores the previous handlers.
// Without SA_RESTART, so that a signal interrupts waitpid and the sweep reacts at once.
class StopOnSignal {
 public:
  StopOnSignal() {
    g_stop = 0;
    struct sigaction stop {};
    stop.sa_handler = [](int) { g_stop = 1; };
    sigemptyset(&stop.sa_mask);
    ::sigaction(SIGINT, &stop, &previous_int_);
    ::sigaction(SIGTERM, &stop, &previous_term_);
  }
  ~StopOnSignal() {
    ::sigaction(SIGINT, &previous_int_, nullptr);
    ::sigaction(SIGTERM, &previous_term_, nullptr);
  }
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

 private:
  struct sigaction previous_int_ {}, previous_term_ {};
};

// The processes of one sweep: starts the runs of `todo` in order, at most `jobs` at a time, and
// records each one's outcome as it ends; a signal stops the starting and is passed on.
class Pool {
 public:
  Pool(const Sweep& sweep, const RunnerOptions& o, const std::vector<std::size_t>& todo,
       std::vector<Outcome>& outcomes, std::ostream& out)
      : sweep_(sweep), o_(o), todo_(todo), outcomes_(outcomes), out_(out),
        runs_(fs::path(sweep.out) / "runs"), configs_(fs::path(sweep.out) / "configs"),
        logs_(fs::path(sweep.out) / "logs"), start_(Clock::now()) {}

  // Until every run has ended, or a signal came and the running ones have ended; returns how
  // many runs were started.
  std::size_t run() {
    while (next_ < todo_.size() || !running_.empty()) {
      if (g_stop && !forwarded_) {
        for (const auto& [pid, r] : running_) ::kill(pid, SIGTERM);
        forwarded_ = true;
      }
      start_runs();
      if (g_stop && running_.empty()) break;
      int wstatus = 0;
      const pid_t pid = ::waitpid(-1, &wstatus, o_.progress_bar ? WNOHANG : 0);
      if (pid == 0 || (pid < 0 && errno == EINTR)) {
        if (o_.progress_bar) status_line();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      if (pid < 0) fail("sweep: waitpid: ", std::strerror(errno));
      ended(pid, wstatus);
    }
    if (o_.progress_bar) out_ << "\n";
    return next_;
  }

 private:
  void start_runs() {
    while (!g_stop && next_ < todo_.size() && running_.size() < std::size_t(o_.jobs)) {
      const Run& run = sweep_.runs[todo_[next_]];
      const fs::path log = logs_ / (run.id + ".log");
      std::ofstream(log, std::ios::app) << "== normlab sweep: run " << run.id << "\n";
      running_[launch(o_, configs_ / (run.id + ".toml"), runs_, log)] = {todo_[next_], Clock::now()};
      if (!o_.progress_bar) out_ << "started   " << run.id << "\n";
      ++next_;
    }
  }

  // A process ended: its run's status from its exit and the files it left.
  void ended(pid_t pid, int wstatus) {
    auto it = running_.find(pid);
    if (it == running_.end()) return;
    Outcome& outcome = outcomes_[it->second.index];
    outcome.seconds = since(it->second.start);
    busy_seconds_ += outcome.seconds;
    const std::string on_disk = status_on_disk(runs_, outcome.id);
    if (WIFSIGNALED(wstatus)) outcome.status = "killed";
    else if (!on_disk.empty()) outcome.status = on_disk;
    else if (fs::exists(runs_ / (outcome.id + ".h5.partial")) && WEXITSTATUS(wstatus) == 3) outcome.status = "interrupted";
    else outcome.status = "failed";
    running_.erase(it);
    ++finished_;
    if (is_failure(outcome.status)) ++failures_;
    if (o_.progress_bar) {
      status_line();
      return;
    }
    out_ << std::left << std::setw(10) << outcome.status << outcome.id << " (" << duration(outcome.seconds)
         << ")" << (io::schema::status::has_result(outcome.status)
                        ? std::string()
                        : ", log " + (logs_ / (outcome.id + ".log")).string())
         << "\n";
    out_.flush();
  }

  void status_line() {
    const std::size_t width = 24, n = todo_.size(), filled = n ? width * finished_ / n : width;
    std::ostringstream s;
    s << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << finished_
      << "/" << n << "  failed " << failures_ << "  running " << running_.size();
    if (finished_ > 0 && finished_ < n) {
      const double per_run = busy_seconds_ / double(finished_);
      s << "  ETA " << duration(per_run * double(n - finished_) / double(o_.jobs));
    }
    s << "  " << duration(since(start_)) << "\033[K";
    out_ << s.str();
    out_.flush();
  }

  const Sweep& sweep_;
  const RunnerOptions& o_;
  const std::vector<std::size_t>& todo_;
  std::vector<Outcome>& outcomes_;
  std::ostream& out_;
  const fs::path runs_, configs_, logs_;
  const Clock::time_point start_;
  std::map<pid_t, Running> running_;
  std::size_t next_ = 0, finished_ = 0, failures_ = 0;
  double busy_seconds_ = 0;
  bool forwarded_ = false;
};

}  // namespace

std::vector<Outcome> run_sweep(const Sweep& sweep, const RunnerOptions& o, std::ostream& out) {
  if (o.jobs < 1) fail("--jobs must be at least 1, got ", o.jobs);
  if (o.shards < 1 || o.shard < 0 || o.shard >= o.shards) {
    fail("--shard ", o.shard, "/", o.shards, ": the shard must be in 0 .. ", o.shards - 1);
  }
  if (o.binary.empty() || !fs::exists(o.binary)) fail("sweep: no normlab executable at '", o.binary, "'");
  const std::vector<std::string> kept = check_definition(sweep, o.on_change);
  const fs::path dir = sweep.out;
  for (const auto& d : {dir / "runs", dir / "configs", dir / "logs"}) fs::create_directories(d);
  write_manifest(sweep, kept);

  std::vector<Outcome> outcomes(sweep.runs.size());
  std::size_t mine = 0;
  const std::vector<std::size_t> todo = runs_to_do(sweep, o, outcomes, mine);
  out << "sweep " << sweep.path << ": " << sweep.runs.size() << " runs"
      << (o.shards > 1 ? ", shard " + std::to_string(o.shard) + "/" + std::to_string(o.shards) +
                             " has " + std::to_string(mine)
                       : std::string())
      << "; " << mine - todo.size() << " already done, " << todo.size() << " to run, " << o.jobs
      << " at a time -> " << dir.string() << "\n";
  out.flush();

  std::size_t started = 0;
  {
    StopOnSignal stop;
    started = Pool(sweep, o, todo, outcomes, out).run();
  }
  for (std::size_t i = started; i < todo.size(); ++i) outcomes[todo[i]].status = "interrupted";  // never started
  return outcomes;
}

}  // namespace normlab::sweep
