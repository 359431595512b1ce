#include "io/config.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "io/defaults_toml.hpp"

namespace normlab::io {

namespace {

// Keys whose string default may also be given as a list of strings (one per layer or block).
bool accepts_list(std::string_view key) { return key == "model.norm" || key == "model.placement"; }
// Keys whose string default may also be given as a table of strings (one entry per normalizer kind).
bool accepts_table(std::string_view key) { return key == "model.norm_options"; }

// A table whose every value is a string.
bool is_string_table(const toml::node& value) {
  const toml::table* t = value.as_table();
  if (!t) return false;
  for (auto&& [k, v] : *t) {
    if (!v.is_string()) return false;
  }
  return true;
}

const char* type_name(const toml::node& n) {
  if (n.is_string()) return "a string";
  if (n.is_integer()) return "an integer";
  if (n.is_floating_point()) return "a number";
  if (n.is_boolean()) return "true or false";
  if (n.is_array()) return "a list";
  if (n.is_table()) return "a table";
  return "a date or time";
}

std::string node_text(const toml::node& n) {
  std::ostringstream s;
  n.visit([&](auto&& v) { s << v; });
  return s.str();
}

const toml::table& defaults_table() {
  static const toml::table table = toml::parse(std::string_view(kDefaultsToml), std::string_view("experiments/defaults.toml"));
  return table;
}

void collect_keys(const toml::table& t, const std::string& prefix, std::vector<std::string>& out) {
  for (auto&& [k, v] : t) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    auto sub = v.as_table();
    if (sub && !accepts_table(key)) collect_keys(*sub, key, out);
    else out.push_back(key);  // a leaf, or a table that is one key's value
  }
}

// Every key and section name of the defaults, for "did you mean" suggestions.
std::vector<std::string> all_names() {
  std::vector<std::string> names;
  collect_keys(defaults_table(), "", names);
  for (auto&& [k, v] : defaults_table()) {
    if (v.is_table()) names.emplace_back(k.str());
  }
  return names;
}

std::string last_component(std::string_view name) {
  const std::size_t dot = name.rfind('.');
  return std::string(dot == std::string_view::npos ? name : name.substr(dot + 1));
}

// " (did you mean 'optim.lr'?)" for an unknown key: a key whose last component is the one given
// (lr -> optim.lr) first, then the nearest full name, then the nearest last component.
std::string key_suggestion(const std::string& key) {
  const std::vector<std::string> names = all_names();
  const std::string given_last = last_component(key);
  std::vector<std::string> exact, lasts;
  for (const auto& name : names) {
    lasts.push_back(last_component(name));
    if (name != key && lasts.back() == given_last && name.find('.') != std::string::npos)
      exact.push_back(name);
  }
  if (!exact.empty()) return cat(" (did you mean '", join(exact, "' or '"), "'?)");
  if (std::string full = did_you_mean(key, names); !full.empty()) return full;
  // A swap (widht) is 2 edits: allowed in a last component of 4 or more letters, 1 in shorter ones.
  std::size_t best = names.size(), best_distance = 3;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::size_t d = edit_distance(given_last, lasts[i]);
    if (d < best_distance && d <= lasts[i].size() / 2) {
      best = i;
      best_distance = d;
    }
  }
  return best < names.size() ? cat(" (did you mean '", names[best], "'?)") : "";
}

// TOML text is UTF-8: a string that is not could not be read back from the run file's config.
void check_utf8(std::string_view text, const std::string& key, const std::string& origin,
                const char* what) {
  if (valid_utf8(text)) return;
  fail(origin, ": ", what, " of key '", escaped_bytes(key), "' is not valid UTF-8 (",
       escaped_bytes(text), "); config text must be UTF-8");
}

// Every string in a string, list-of-strings or table-of-strings value, and the table's keys.
void check_strings_utf8(const toml::node& value, const std::string& key, const std::string& origin) {
  if (const auto* s = value.as_string()) check_utf8(s->get(), key, origin, "the value");
  if (const auto* list = value.as_array()) {
    for (auto&& item : *list) check_strings_utf8(item, key, origin);
  }
  if (const auto* table = value.as_table()) {
    for (auto&& [k, v] : *table) {
      check_utf8(k.str(), key, origin, "a table key in the value");
      check_strings_utf8(v, key, origin);
    }
  }
}

// A float key takes finite numbers only: inf or nan in a learning rate, epsilon or scale would
// train into nonsense (optim.eps=inf makes every update 0) instead of failing.
double finite_number(const toml::node& value, const std::string& key, const std::string& origin) {
  const double x = value.value<double>().value();
  if (!std::isfinite(x)) {
    fail(origin, ": key '", key, "' must be a finite number, got ", node_text(value));
  }
  return x;
}

// Checks `value` against the default at `key` and stores it (an integer where a number is
// expected becomes a float).
void assign(toml::table& root, const std::string& key, const toml::node& value,
            const std::string& origin) {
  check_utf8(key, key, origin, "the name");
  const toml::node* def = defaults_table().at_path(key).node();
  if (!def || def->is_table()) {
    fail(origin, ": unknown key '", key, "'", key_suggestion(key),
         def ? " (it is a section; give one of its keys)" : "");
  }
  auto bad_type = [&](const char* expected) {
    fail(origin, ": key '", key, "' must be ", expected, ", got ", type_name(value), " (",
         node_text(value), ")");
  };
  toml::node* slot = root.at_path(key).node();
  if (def->is_floating_point()) {
    if (!value.is_number()) bad_type("a number");
    *slot->as_floating_point() = finite_number(value, key, origin);
  } else if (def->is_integer()) {
    if (!value.is_integer()) bad_type("an integer");
    *slot->as_integer() = *value.as_integer();
  } else if (def->is_boolean()) {
    if (!value.is_boolean()) bad_type("true or false");
    *slot->as_boolean() = *value.as_boolean();
  } else if (def->is_string()) {
    check_strings_utf8(value, key, origin);
    // A list key may switch between a string and a list: replace the node wholesale.
    const std::size_t dot = key.rfind('.');
    toml::table* table = dot == std::string::npos ? &root : root.at_path(key.substr(0, dot)).as_table();
    const std::string leaf = dot == std::string::npos ? key : key.substr(dot + 1);
    const toml::array* list = value.as_array();
    if (value.is_string()) {
      table->insert_or_assign(leaf, *value.as_string());
    } else if (accepts_list(key) && list && !list->empty() && list->is_homogeneous<std::string>()) {
      table->insert_or_assign(leaf, *list);
    } else if (accepts_table(key) && is_string_table(value)) {
      toml::table given = *value.as_table();
      given.is_inline(true);  // the resolved config prints it on one line, as it was given
      table->insert_or_assign(leaf, std::move(given));
    } else {
      bad_type(accepts_list(key)    ? "a string or a non-empty list of strings"
               : accepts_table(key)
                   ? "a string or a table of strings, one per normalizer kind or site role"
                                    : "a string");
    }
  }
}

void merge(toml::table& root, const toml::table& given, const std::string& prefix,
           const std::string& origin) {
  for (auto&& [k, v] : given) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    const toml::node* def = defaults_table().at_path(key).node();
    if (auto sub = v.as_table()) {
      if (def && def->is_table()) {
        merge(root, *sub, key, origin);
        continue;
      }
    }
    assign(root, key, v, origin);
  }
}

}  // namespace

struct Config::Impl {
  toml::table table = defaults_table();
};

Config::Config() : impl_(std::make_unique<Impl>()) {}
Config::Config(const Config& o) : impl_(std::make_unique<Impl>(*o.impl_)) {}
Config& Config::operator=(const Config& o) {
  impl_ = std::make_unique<Impl>(*o.impl_);
  return *this;
}
Config::Config(Config&&) noexcept = default;
Config& Config::operator=(Config&&) noexcept = default;
Config::~Config() = default;

Config Config::parse(std::string_view text, const std::string& origin) {
  toml::table given;
  try {
    given = toml::parse(text, std::string_view(origin));
  } catch (const toml::parse_error& e) {
    fail(origin, ":", e.source().begin.line, ":", e.source().begin.column,
         ": TOML syntax error: ", e.description());
  }
  Config c;
  merge(c.impl_->table, given, "", origin);
  return c;
}

Config Config::load(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    fail(path, ": is a directory, not a config file; give the experiment's .toml file");
  }
  std::ifstream in(path);
  if (!in) {
    fail(path, ": cannot read the config file (", std::strerror(errno), "; missing or not readable)");
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

void Config::set(std::string_view assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string_view::npos) fail("--set ", assignment, ": expected key=value");
  std::string key(trim(assignment.substr(0, eq)));
  std::string value(trim(assignment.substr(eq + 1)));
  const std::string origin = cat("--set ", escaped_bytes(key));
  toml::table parsed;
  bool as_toml = true;
  try {
    parsed = toml::parse(std::string_view("v = " + value));
  } catch (const toml::parse_error&) {
    as_toml = false;
  }
  const toml::node* def = defaults_table().at_path(key).node();
  if (!as_toml || (def && def->is_string() && parsed["v"].is_table() && !accepts_table(key))) {
    // a bare word (model.norm=layernorm) is a string
    toml::table t;
    t.insert("v", value);
    assign(impl_->table, key, *t.get("v"), origin);
    return;
  }
  assign(impl_->table, key, *parsed.get("v"), origin);
}

namespace {
const toml::node& leaf(const toml::table& t, std::string_view key) {
  const toml::node* n = t.at_path(key).node();
  if (!n) fail("config has no key '", key, "'");  // a programming error: keys come from defaults
  return *n;
}
}  // namespace

double Config::number(std::string_view key) const {
  return leaf(impl_->table, key).value<double>().value();
}
std::int64_t Config::integer(std::string_view key) const {
  return leaf(impl_->table, key).value<std::int64_t>().value();
}
bool Config::boolean(std::string_view key) const {
  return leaf(impl_->table, key).value<bool>().value();
}
std::string Config::string(std::string_view key) const {
  const toml::node& n = leaf(impl_->table, key);
  if (!n.is_string()) {
    fail("config key '", key, "' is ", type_name(n), " here (", node_text(n), "); expected one string");
  }
  return std::string(*n.as_string());
}
std::vector<std::string> Config::strings(std::string_view key) const {
  const toml::node& n = leaf(impl_->table, key);
  if (n.is_string()) return {std::string(*n.as_string())};
  if (n.is_table()) return {node_text(n)};
  std::vector<std::string> out;
  for (auto&& item : *n.as_array()) out.emplace_back(*item.as_string());
  return out;
}

bool Config::is_table(std::string_view key) const { return leaf(impl_->table, key).is_table(); }

std::vector<std::pair<std::string, std::string>> Config::string_table(std::string_view key) const {
  std::vector<std::pair<std::string, std::string>> out;
  if (const toml::table* t = leaf(impl_->table, key).as_table()) {
    for (auto&& [k, v] : *t) out.emplace_back(std::string(k.str()), std::string(*v.as_string()));
  }
  return out;
}

std::vector<std::string> Config::keys() const {
  std::vector<std::string> keys;
  collect_keys(impl_->table, "", keys);
  return keys;
}

std::string Config::value_text(std::string_view key) const {
  return node_text(leaf(impl_->table, key));
}

std::string Config::to_toml() const {
  std::ostringstream s;
  s << toml::toml_formatter(impl_->table);
  return s.str() + "\n";
}

}  // namespace normlab::io
