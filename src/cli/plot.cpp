// normlab plot: the plots are Python (analysis/normlab/plots.py, matplotlib); every option is
// passed on to it.
#include <filesystem>

#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/python.hpp"

namespace normlab::cli {

int cmd_plot(const Args& args, std::ostream& out) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      out << "usage: normlab plot SWEEP_DIR [--out DIR] [--stat NAME[,NAME]] [--sites A,B] [--smooth N]\n"
             "                         [--no-sharey]\n\n"
             "Runs /usr/bin/python3 -m normlab.plots (analysis/normlab/plots.py): loss against step\n"
             "and wall time per row, per-site statistics over training (default in_rms), and\n"
             "sensitivity per site when *.sensitivity.h5 files are in the directory. PNGs (200 dpi)\n"
             "and PDFs into --out (default SWEEP_DIR/plots); panels share the y axis unless --no-sharey.\n";
      return 0;
    }
  }
  if (args.empty()) usage_fail("plot: no sweep directory given (normlab plot SWEEP_DIR)");
  const std::string package = (std::filesystem::path(NORMLAB_SOURCE_DIR) / "analysis").string();
  Args python{"-m", "normlab.plots"};
  python.insert(python.end(), args.begin(), args.end());
  out.flush();
  return run_python("plot", python, package) == 0 ? 0 : 1;
}

}  // namespace normlab::cli
