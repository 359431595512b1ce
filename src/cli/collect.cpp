// normlab collect: the index of a sweep directory (sweep/collect.hpp).
#include "cli/common.hpp"
#include "core/error.hpp"
#include "sweep/collect.hpp"
#include "sweep/report.hpp"

namespace normlab::cli {

int cmd_collect(const Args& args, std::ostream& out) {
  std::string dir;
  po::options_description desc("options");
  desc.add_options()("dir", po::value(&dir), "the sweep directory");
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map vm;
  const std::string usage =
      "usage: normlab collect DIR\n\n"
      "Writes DIR/index.csv and DIR/index.h5: one row per run of the sweep directory (id, status,\n"
      "the axis values, final losses, time), from its run files.";
  if (!parse(args, desc, vm, out, usage, &positional)) return 0;
  if (dir.empty()) usage_fail("collect: no directory given\n", usage);
  const sweep::Index index = sweep::collect(dir);
  out << dir << ": " << index.rows.size() << " runs (" << sweep::status_counts(sweep::statuses(index))
      << ") -> " << dir << "/index.csv, " << dir << "/index.h5\n";
  return 0;
}

}  // namespace normlab::cli
