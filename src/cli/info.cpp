// normlab info: what run files hold (io/info.hpp).
#include "cli/common.hpp"
#include "core/error.hpp"
#include "io/info.hpp"

namespace normlab::cli {

int cmd_info(const Args& args, std::ostream& out) {
  std::vector<std::string> paths;
  po::options_description desc("options");
  desc.add_options()
      ("runs", po::value(&paths), "run files")
      ("config", "also print each run's whole config");
  po::positional_options_description positional;
  positional.add("runs", -1);
  po::variables_map vm;
  const std::string usage =
      "usage: normlab info RUN.h5 ... [--config]\n\n"
      "What each run file holds: status, config summary, steps, last losses, sites, statistics.\n"
      "A NAME.h5.partial (a run in progress, or one whose writer was killed) is read with SWMR.";
  if (!parse(args, desc, vm, out, usage, &positional)) return 0;
  if (paths.empty()) usage_fail("info: no run file given\n", usage);
  for (const auto& p : paths) tools::print_run_info(out, p, vm.count("config") > 0);
  return 0;
}

}  // namespace normlab::cli
