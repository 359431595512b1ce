#include "io/fault.hpp"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

#include <unistd.h>

namespace normlab::io {

namespace {

struct Fault {
  std::string spec;   // the variable's value when last read
  std::string phase;  // "" when it is unset or malformed
  long at = 0, seen = 0;
};

// The variable is read at every call (the finish path has a few dozen): a test may set it in a
// forked child; a change starts the count again.
Fault& fault() {
  static Fault f;
  const char* text = std::getenv("NORMLAB_FAULT_AT");
  const std::string spec = text == nullptr ? "" : text;
  if (spec != f.spec) {
    f = Fault{spec, "", 0, 0};
    const std::size_t colon = spec.find(':');
    if (colon != std::string::npos) {
      f.phase = spec.substr(0, colon);
      f.at = std::strtol(spec.c_str() + colon + 1, nullptr, 10);
    }
  }
  return f;
}

}  // namespace

void fault_point(const char* phase) {
  Fault& f = fault();
  if (f.phase.empty() || f.phase != phase) return;
  if (++f.seen == f.at) {
    ::kill(::getpid(), SIGKILL);
    std::_Exit(137);  // not reached
  }
}

}  // namespace normlab::io
