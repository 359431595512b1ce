// Errors: one exception type with a readable one-line message, built from any streamable parts.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace normlab {

// Thrown for bad input (files, options, shapes) and broken invariants; what() is one line meant
// for a person: it names the thing that is wrong and, where possible, what would be right.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// cat("x has ", 3, " rows") -> "x has 3 rows"
template <class... Parts>
std::string cat(Parts&&... parts) {
  std::ostringstream s;
  (s << ... << std::forward<Parts>(parts));
  return s.str();
}

template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  throw Error(cat(std::forward<Parts>(parts)...));
}

}  // namespace normlab
