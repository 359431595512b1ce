#include "io/hdf5_guard.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"

namespace normlab::h5 {

namespace {

// Runs `read` and swallows what it throws: the child only looks for crashes and hangs.
template <class F>
void attempt(F&& read) {
  try {
    read();
  } catch (...) {
  }
}

void read_attributes(const File& f, const std::string& object) {
  std::vector<std::string> names;
  attempt([&] { names = f.attribute_names(object); });
  for (const auto& name : names) {
    attempt([&] { f.read_string_attribute(object, name); });
    attempt([&] { f.read_integer_attribute(object, name); });
    attempt([&] { f.read_number_attribute(object, name); });
    attempt([&] { f.read_integers_attribute(object, name); });
  }
}

bool guard_disabled() {
  const char* v = std::getenv("NORMLAB_HDF5_GUARD");
  return v && (std::strcmp(v, "off") == 0 || std::strcmp(v, "0") == 0);
}

// Waits for the child to close its end of `pipe_fd` (it exits) for at most `seconds`.
bool child_done_within(int pipe_fd, double seconds) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) return false;
    pollfd p{pipe_fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, int(left.count()));
    if (ready > 0) return true;  // POLLHUP: the child's end is closed
    if (ready < 0 && errno != EINTR) fail("poll: ", std::strerror(errno));
  }
}

[[noreturn]] void run_child(int pipe_fd, const std::string& path, File::Mode mode) {
  // A crash must end the child: no handler of the parent's (a sanitizer's, libFuzzer's) may take
  // it for the parent's own and report or record it.
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGTRAP}) ::signal(sig, SIG_DFL);
  const int null = ::open("/dev/null", O_WRONLY);  // libhdf5 or a sanitizer may print: not ours
  if (null >= 0) ::dup2(null, STDERR_FILENO);
  attempt([&] { read_everything(path, mode); });
  ::close(pipe_fd);
  ::_exit(0);  // no atexit handlers, no flushing of the parent's buffers
}

// fork() with a pipe fds[0] (read, the parent's) <- fds[1] (write, the child's), both O_CLOEXEC;
// `what` the file is forked to do, for the error.
pid_t fork_with_pipe(int fds[2], const std::string& path, const char* what) {
  if (::pipe2(fds, O_CLOEXEC) != 0) fail(path, ": cannot create a pipe: ", std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    fail(path, ": cannot fork to ", what, " the file: ", std::strerror(errno));
  }
  return pid;
}

}  // namespace

void read_everything(const std::string& path, File::Mode mode) {
  const File f = File::open(path, mode);
  read_attributes(f, "/");
  std::vector<std::string> objects;
  attempt([&] { objects = f.objects(); });
  for (const auto& object : objects) {
    read_attributes(f, object);
    attempt([&] {
      if (!f.is_dataset(object)) return;
      attempt([&] { f.read<double>(object); });  // every reader takes numbers as double, and
      if (f.float_bits(object) > 0) {             // floats as float, integers as long long
        attempt([&] { f.read<float>(object); });
      } else {
        attempt([&] { f.read<long long>(object); });
        attempt([&] { f.read_strings(object); });
      }
    });
  }
}

ChildRead read_in_child(const std::string& path, File::Mode mode, double seconds) {
  if (seconds <= 0) {
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(path, ec);
    seconds = kGuardSeconds + (ec ? 0.0 : double(bytes) / kGuardBytesPerSecond);
  }
  int fds[2];
  const pid_t pid = fork_with_pipe(fds, path, "check");
  if (pid == 0) {
    ::close(fds[0]);
    run_child(fds[1], path, mode);
  }
  ::close(fds[1]);
  const bool done = child_done_within(fds[0], seconds);
  ::close(fds[0]);
  if (!done) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ChildRead r;
  r.seconds = seconds;
  if (!done) r.end = ChildRead::End::timed_out;
  else if (WIFSIGNALED(status)) r.end = ChildRead::End::killed, r.code = WTERMSIG(status);
  else r.code = WEXITSTATUS(status);
  return r;
}

void check_readable(const std::string& path, File::Mode mode, double seconds) {
  if (guard_disabled()) return;
  const ChildRead r = read_in_child(path, mode, seconds);
  if (r.end == ChildRead::End::timed_out) {
    fail(path, ": damaged HDF5 file (libhdf5 timed out reading it, ", r.seconds, " s)");
  }
  if (r.end == ChildRead::End::killed || r.code != 0) {
    fail(path, ": damaged HDF5 file (libhdf5 crashed reading it",
         r.end == ChildRead::End::killed ? cat(": signal ", r.code) : cat(": exit ", r.code), ")");
  }
}

File open_untrusted(const std::string& path, File::Mode mode) {
  check_readable(path, mode);
  File f = File::open(path, mode);
  if (!guard_disabled()) f.read_strings_in_child();
  return f;
}

std::string in_child(const std::string& path, const std::function<std::string()>& read) {
  int fds[2];
  const pid_t pid = fork_with_pipe(fds, path, "read");
  if (pid == 0) {  // the reply: 'o' and the value, or 'e' and the Error's message
    ::close(fds[0]);
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGTRAP}) ::signal(sig, SIG_DFL);
    std::string reply;
    try {
      reply = read();
      reply.insert(reply.begin(), 'o');
    } catch (const std::exception& e) {
      reply.assign(1, 'e').append(e.what());
    }
    for (std::size_t at = 0; at < reply.size();) {
      const ssize_t n = ::write(fds[1], reply.data() + at, reply.size() - at);
      if (n <= 0) ::_exit(3);
      at += std::size_t(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string reply;
  bool done = true;
  char buffer[65536];
  while (true) {
    if (!child_done_within(fds[0], kGuardSeconds)) {
      done = false;
      break;
    }
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buffer, std::size_t(n));
  }
  ::close(fds[0]);
  if (!done) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!done || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || reply.empty()) {
    fail(path, ": damaged HDF5 file (libhdf5 ", done ? "crashed" : "timed out", " reading it)");
  }
  const bool failed = reply[0] == 'e';
  reply.erase(reply.begin());
  if (failed) throw Error(reply);
  return reply;
}

}  // namespace normlab::h5
