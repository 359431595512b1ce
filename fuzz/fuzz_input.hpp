// Shared by the fuzz targets: the input as a file (the readers take paths; libhdf5 reads it as it
// reads any file), in /dev/shm when there is one so that each iteration stays in memory; and the
// split between libhdf5's own crashes and the readers'.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "io/hdf5_guard.hpp"

namespace normlab::fuzz {

inline std::filesystem::path scratch_dir() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path shm("/dev/shm");
    std::filesystem::path base = std::filesystem::is_directory(shm) ? shm : std::filesystem::temp_directory_path();
    auto d = base / ("normlab-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

// Writes the input to `name` in the scratch directory and returns its path.
inline std::string write_input(const std::uint8_t* data, std::size_t size, const std::string& name) {
  const std::filesystem::path path = scratch_dir() / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return path.string();
}

// Whether the readers should run on `path` in this (instrumented) process. The guard's child reads
// it first (with `mode`, for at most 2 s): when libhdf5 kills it with a signal or loops, the input
// is libhdf5's own problem, which the commands report as a damaged file (tested in
// tests/test_damaged_files.cpp), and is skipped. Otherwise the readers run here with the guard off,
// so that any sanitizer report (a child's non-zero exit included) is made where libFuzzer sees it.
inline bool readers_should_run(const std::string& path,
                               h5::File::Mode mode = h5::File::Mode::read) {
  static const bool guard_off = ::setenv("NORMLAB_HDF5_GUARD", "off", 1) == 0;
  (void)guard_off;
  const h5::ChildRead r = h5::read_in_child(path, mode, 2.0);
  return r.end == h5::ChildRead::End::exited;
}

// Whether `read` (the readers on the input) finishes in a forked child within `seconds`. With the
// guard off, libhdf5 can loop inside a read that the guard's whole-file pass above did not make (a
// damaged variable-length string): the commands read such strings in a child with a time limit
// and report the file as damaged, but here the loop would stall the fuzzer into a timeout, so the
// input is skipped. A child that exits or crashes returns true: the read then runs in-process,
// where a crash of the readers' own is reported under ASan.
template <class Read>
bool finishes_in_child(Read read, double seconds = 5.0) {
  const pid_t pid = ::fork();
  if (pid < 0) return true;
  if (pid == 0) {
    read();
    ::_exit(0);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace normlab::fuzz
