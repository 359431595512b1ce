#include "cli/common.hpp"

#include <filesystem>

namespace normlab::cli {

bool parse(const Args& args, const po::options_description& desc, po::variables_map& vm,
           std::ostream& out, const std::string& usage,
           const po::positional_options_description* positional) {
  po::options_description all(desc);
  all.add_options()("help,h", "show this help");
  po::command_line_parser parser(args);
  parser.options(all);
  if (positional) parser.positional(*positional);
  po::store(parser.run(), vm);
  if (vm.count("help")) {
    out << usage << "\n\n" << all << "\n";
    return false;
  }
  po::notify(vm);
  return true;
}

std::string flag_name(const std::string& option) {
  std::string f = option;
  for (char& c : f) if (c == '_') c = '-';
  return f;
}

std::string self_executable() {
  std::error_code ec;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : path.string();
}

}  // namespace normlab::cli
