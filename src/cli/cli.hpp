// The normlab command line: git-style subcommands that parse, validate and call library code.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace normlab::cli {

// Runs `normlab ARGS...` (args excludes the program name); returns the exit status. Errors are
// one line on `err`, prefixed "normlab: error: ".
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace normlab::cli
