// normlab norms: the normalizers, their options and defaults (norm/registry.hpp).
#include <iomanip>

#include "cli/common.hpp"
#include "norm/registry.hpp"

namespace normlab::cli {

int cmd_norms(const Args& args, std::ostream& out) {
  po::options_description desc("options");
  desc.add_options()("json", "print the kinds, options, defaults and forms as JSON");
  po::variables_map vm;
  if (!parse(args, desc, vm, out,
             "usage: normlab norms [--json]\n\nLists the normalizers, their options and defaults."))
    return 0;
  if (vm.count("json")) {
    out << norm::registry_json();
    return 0;
  }
  out << "normalizers (normlab apply --norm KIND, or norm = \"KIND\" in a config):\n";
  for (const auto& k : norm::kinds()) {
    out << "\n" << k.name << "    " << k.formula << "\n    " << k.reference << "\n";
    if (k.options.empty()) out << "    (no options)\n";
    for (const auto& name : k.options) {
      out << "    --" << std::left << std::setw(20) << flag_name(name)
          << " default " << norm::get_option(k.defaults, name) << "\n";
    }
  }
  out << "\noptions:\n";
  for (const auto& o : norm::all_options()) {
    out << "  " << std::left << std::setw(20) << o.name << std::setw(28) << o.values << o.help
        << "\n";
  }
  return 0;
}

}  // namespace normlab::cli
