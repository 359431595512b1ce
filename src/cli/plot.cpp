// normlab plot: the plots are Python (analysis/normlab/plots.py, matplotlib); every option,
// --help included, is passed on to it, so its argparse parser is the one source of the options
// and their help.
#include <sys/wait.h>

#include <filesystem>

#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/python.hpp"

namespace normlab::cli {

int cmd_plot(const Args& args, std::ostream& out) {
  if (args.empty()) usage_fail("plot: no sweep directory given (normlab plot SWEEP_DIR; --help for the options)");
  const std::string package = (std::filesystem::path(NORMLAB_SOURCE_DIR) / "analysis").string();
  Args python{"-m", "normlab.plots"};
  python.insert(python.end(), args.begin(), args.end());
  out.flush();
  const int status = run_python("plot", python, package);
  // argparse exits with 2 for a usage error (an unknown option, a missing value) and has said so
  // on stderr: passed on as normlab's usage status; any other failure is 1.
  if (status != -1 && WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    if (code == 0 || code == 2) return code;
  }
  return 1;
}

}  // namespace normlab::cli
