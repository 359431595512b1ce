#include "io/run_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "io/run_schema.hpp"

namespace normlab::io {

namespace {

// Whether `fd` is still the file at `path`: a holder deletes the file before it releases the
// lock, so a lock taken on a file already deleted is no lock at all.
bool still_linked(int fd, const std::string& path) {
  struct stat open_file {}, on_disk {};
  if (::fstat(fd, &open_file) != 0 || ::stat(path.c_str(), &on_disk) != 0) return false;
  return open_file.st_dev == on_disk.st_dev && open_file.st_ino == on_disk.st_ino;
}

std::string holder_of(const std::string& path) {
  std::ifstream in(path);
  std::string pid;
  in >> pid;
  return pid.empty() ? "unknown" : pid;
}

}  // namespace

std::string RunLock::path_of(const std::string& run_path) { return run_path + schema::suffix::kLock; }

RunLock::RunLock(const std::string& run_path) : path_(path_of(run_path)) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail(path_, ": cannot open the run's lock file: ", std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      ::close(fd);
      if (error != EWOULDBLOCK) fail(path_, ": cannot lock: ", std::strerror(error));
      fail("another normlab train is writing ", run_path, " (pid ", holder_of(path_),
           "; lock ", path_, "); wait for it to end, or stop it");
    }
    if (!still_linked(fd, path_)) {  // its holder deleted it meanwhile: take the new one
      ::close(fd);
      continue;
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
      const int error = errno;
      ::close(fd);
      fail(path_, ": cannot write the lock file: ", std::strerror(error));
    }
    fd_ = fd;
    return;
  }
  fail(path_, ": cannot take the run's lock (the file keeps changing)");
}

RunLock::~RunLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // before the release: see still_linked
  ::close(fd_);
}

bool RunLock::held(const std::string& run_path) {
  const std::string path = path_of(run_path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool locked = ::flock(fd, LOCK_SH | LOCK_NB) != 0;
  ::close(fd);
  return locked;
}

}  // namespace normlab::io
