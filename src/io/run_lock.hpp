// One writer per run: a `normlab train` holds an exclusive flock(2) on NAME.h5.lock beside its run
// file for as long as it touches the run's files (the .partial, the checkpoint, the final file).
// A second process on the same path is refused by name; the lock goes when its holder ends,
// however it ends (opened O_CLOEXEC, so no child inherits it). docs/FORMAT.md, "One writer".
#pragma once

#include <string>

namespace normlab::io {

class RunLock {
 public:
  // Takes the lock of DIR/NAME.h5 (`run_path`), writing this process's id into the lock file;
  // throws an Error "another normlab train is writing RUN (pid N)" when another process holds it.
  explicit RunLock(const std::string& run_path);
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock();  // deletes the lock file and releases the lock

  static std::string path_of(const std::string& run_path);  // DIR/NAME.h5.lock
  // Whether some process holds the lock of `run_path` now (for tests and the sweep).
  static bool held(const std::string& run_path);

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace normlab::io
