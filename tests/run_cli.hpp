// The command line run in-process, as the tests of its conventions and commands call it.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.hpp"

namespace normlab::test {

struct CliResult {
  int status;
  std::string out, err;
};

inline CliResult run_cli(std::vector<std::string> args) {
  std::ostringstream out, err;
  int status = cli::run(args, out, err);
  return {status, out.str(), err.str()};
}

}  // namespace normlab::test
