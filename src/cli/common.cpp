#include "cli/common.hpp"

#include <charconv>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/strings.hpp"

namespace normlab::cli {

namespace {

// The options of the help: the positionals' names (`--config`, `--sweep`, ...) left out, since
// they are given by position.
po::options_description visible_options(const po::options_description& all,
                                        const po::positional_options_description* positional) {
  std::set<std::string> names;
  if (positional) {
    for (unsigned i = 0; i < positional->max_total_count() && i < 64; ++i) {
      names.insert(positional->name_for_position(i));
    }
  }
  po::options_description visible("options");
  for (const auto& option : all.options()) {
    if (!names.count(option->long_name())) visible.add(option);
  }
  return visible;
}

}  // namespace

bool parse(const Args& args, const po::options_description& desc, po::variables_map& vm,
           std::ostream& out, const std::string& usage,
           const po::positional_options_description* positional,
           const po::options_description* hidden) {
  po::options_description all(desc);
  all.add_options()("help,h", "show this help");
  po::options_description parsed(all);
  if (hidden) parsed.add(*hidden);
  po::command_line_parser parser(args);
  parser.options(parsed);
  if (positional) parser.positional(*positional);
  po::store(parser.run(), vm);
  if (vm.count("help")) {
    out << usage << "\n\n" << visible_options(all, positional) << "\n";
    return false;
  }
  po::notify(vm);
  return true;
}

void check_set_spelling(const Args& args) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] != "--set" || args[i + 1].find('=') != std::string::npos) continue;
    const std::string& key = args[i + 1];
    if (i + 2 < args.size() && args[i + 2].rfind("--", 0) != 0) {
      usage_fail("--set ", key, " ", args[i + 2], ": an override is one word, key=value: write --set ",
                 key, "=", args[i + 2], " (or just ", key, "=", args[i + 2], ")");
    }
    usage_fail("--set ", key, ": an override is key=value, e.g. --set ", key, "=VALUE");
  }
}

std::string split_config_and_overrides(const std::vector<std::string>& positionals,
                                       std::vector<std::string>& sets) {
  std::string config;
  for (const auto& p : positionals) {
    std::error_code ec;
    if (p.find('=') != std::string::npos && !std::filesystem::exists(p, ec)) {
      sets.push_back(p);
    } else if (config.empty()) {
      config = p;
    } else {
      usage_fail("two config files given: '", config, "' and '", p,
                 "' (an override is key=value, e.g. optim.lr=3e-4)");
    }
  }
  return config;
}

std::string shortest_value_text(const std::string& toml_value) {
  const std::string v(trim(toml_value));
  if (v.find_first_of(".eE") == std::string::npos || v.find_first_of("\"'[{") != std::string::npos) {
    return toml_value;
  }
  double x = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || end != v.data() + v.size()) return toml_value;
  std::string text = format_double(x);
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";  // "1" would read as an integer
  return text;
}

namespace {

// "[0.1, 0.20000000000000001]" -> "[0.1, 0.2]"; not a flat array: unchanged.
std::string shortest_array_text(const std::string& value) {
  if (value.size() < 2 || value.front() != '[' || value.back() != ']' ||
      value.find_first_of("[]\"'", 1) != value.size() - 1) {
    return value;
  }
  std::vector<std::string> items;
  for (const auto& item : split(value.substr(1, value.size() - 2), ',')) {
    items.push_back(shortest_value_text(std::string(trim(item))));
  }
  return "[ " + join(items, ", ") + " ]";
}

}  // namespace

std::string shortest_numbers(const std::string& toml_text) {
  std::istringstream in(toml_text);
  std::string out, line;
  while (std::getline(in, line)) {
    const auto eq = line.find(" = ");
    if (eq != std::string::npos) {
      const std::string value(trim(line.substr(eq + 3)));
      const std::string shown = value.empty() || value.front() != '[' ? shortest_value_text(value)
                                                                      : shortest_array_text(value);
      line = line.substr(0, eq + 3) + shown;
    }
    out += line + "\n";
  }
  if (!toml_text.empty() && toml_text.back() != '\n' && !out.empty()) out.pop_back();
  return out;
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
