// Opening an HDF5 file that may be damaged, where libhdf5 itself is the risk: on some damaged
// files it crashes (a corrupt global heap) or loops for a long time, beyond anything a check in
// hdf5.cpp can catch, since the damage is met inside the library. So a file not known to be intact
// is first read whole in a forked child: it opens the file as the caller will, lists every object
// and reads every attribute and dataset through File's own readers, within a time limit. When the
// child dies of a signal or runs out of time the file is refused with
//   "PATH: damaged HDF5 file (libhdf5 crashed/timed out reading it)";
// errors the child meets (a missing attribute, a wrong shape) are left for the caller's own reads
// to report, and those reads then make only calls the child has already survived.
// Cost: a fork and a second read of the file (a few milliseconds for a run file; see fuzz/README.md).
// NORMLAB_HDF5_GUARD=off in the environment skips the child (for a debugger, or fuzzing the
// readers themselves).
#pragma once

#include <functional>
#include <string>

#include "io/hdf5.hpp"

namespace normlab::h5 {

// The time limit: kGuardSeconds, plus a second per kGuardBytesPerSecond of file.
inline constexpr double kGuardSeconds = 5;
inline constexpr double kGuardBytesPerSecond = 100e6;

// How the child's read ended: `exited` with `code` (0 unless a sanitizer reported), `killed` by
// `code` (a signal), or `timed_out` (and killed).
struct ChildRead {
  enum class End { exited, killed, timed_out } end = End::exited;
  int code = 0;
  double seconds = 0;  // the time limit it had
};
ChildRead read_in_child(const std::string& path, File::Mode mode, double seconds = 0);

// Throws the "damaged HDF5 file" Error when a child reading `path` whole crashes or times out;
// `seconds` > 0 replaces the time limit.
void check_readable(const std::string& path, File::Mode mode = File::Mode::read, double seconds = 0);

// check_readable, then File::open.
File open_untrusted(const std::string& path, File::Mode mode = File::Mode::read);

// Runs `read` in a forked child (at most kGuardSeconds) and returns what it returned; an Error
// it throws is thrown here; when it crashes or times out, the "damaged HDF5 file" Error naming
// `path`. For reads that may crash inside libhdf5 (File::read_strings_in_child).
std::string in_child(const std::string& path, const std::function<std::string()>& read);

// What the child does: opens `path` and reads every attribute and dataset, ignoring the Errors
// (but not the crashes). Public for the tests and the fuzz targets.
void read_everything(const std::string& path, File::Mode mode);

}  // namespace normlab::h5
