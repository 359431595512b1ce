#include "sweep/sweep.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

#include "core/error.hpp"
#include "core/strings.hpp"

namespace normlab::sweep {

namespace {

namespace fs = std::filesystem;

// A value as TOML text, floats in their shortest form that reads back to the same double
// (3e-4, not 0.00029999999999999997).
std::string node_text(const toml::node& n) {
  if (const auto* f = n.as_floating_point()) {
    std::string text = format_double(f->get());
    if (text.find_first_of(".eEn") == std::string::npos) text += ".0";  // still a TOML float
    return text;
  }
  if (const auto* a = n.as_array()) {
    std::string text = "[";
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (i) text += ", ";
      text += node_text(*a->get(i));
    }
    return text + "]";
  }
  std::ostringstream s;
  n.visit([&](auto&& v) { s << v; });
  return s.str();
}

// The leaves of a table as dotted keys, in the order the file gives them.
void leaves(const toml::table& t, const std::string& prefix,
            std::vector<std::pair<std::string, const toml::node*>>& out) {
  std::vector<std::pair<std::string, const toml::node*>> here;
  for (auto&& [k, v] : t) here.emplace_back(std::string(k.str()), &v);
  std::stable_sort(here.begin(), here.end(), [](const auto& a, const auto& b) {
    const auto &sa = a.second->source().begin, &sb = b.second->source().begin;
    return std::pair(sa.line, sa.column) < std::pair(sb.line, sb.column);
  });
  for (const auto& [k, v] : here) {
    const std::string key = prefix.empty() ? k : prefix + "." + k;
    if (const toml::table* sub = v->as_table()) leaves(*sub, key, out);
    else out.emplace_back(key, v);
  }
}

// One axis of the product: its keys and, per position, one value for each key.
struct Axis {
  std::vector<std::string> keys;
  std::vector<std::vector<const toml::node*>> values;  // [position][key]
};

Axis axis_of(const std::string& where, const std::vector<std::pair<std::string, const toml::node*>>& keys) {
  Axis axis;
  for (const auto& [key, node] : keys) {
    const toml::array* values = node->as_array();
    if (!values) {
      fail(where, ": '", key, "' must be a list of values, got ", node_text(*node));
    }
    if (values->empty()) fail(where, ": '", key, "' is an empty axis");
    if (!axis.keys.empty() && values->size() != axis.values.size()) {
      fail(where, ": '", key, "' has ", values->size(), " values but '", axis.keys.front(),
           "' has ", axis.values.size(), " (zipped keys advance together)");
    }
    axis.values.resize(values->size());
    for (std::size_t i = 0; i < values->size(); ++i) axis.values[i].push_back(values->get(i));
    axis.keys.push_back(key);
  }
  return axis;
}

// "0.001" -> "0.001", "\"rmsnorm\"" -> "rmsnorm", ["layernorm", "rmsnorm"] -> "layernorm+rmsnorm";
// only characters that are safe in a file name.
std::string readable(const toml::node& value) {
  std::string text;
  if (const toml::array* a = value.as_array()) {
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (i) text += '+';
      text += readable(*a->get(i));
    }
    return text;
  }
  text = value.is_string() ? value.value<std::string>().value() : node_text(value);
  for (char& c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '+' && c != '-') c = '-';
  }
  return text;
}

}  // namespace

std::string config_hash(const io::Config& config) {
  io::Config blank = config;
  blank.set("name=\"\"");
  blank.set("train.out=\"\"");
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : blank.to_toml()) h = (h ^ c) * 1099511628211ULL;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return std::string(hex, 8);
}

Sweep load(const std::string& path, const std::vector<std::string>& sets) {
  std::ifstream in(path);
  if (!in) fail(path, ": cannot read the sweep file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path, sets);
}

namespace {

// The document, every top-level entry one a sweep file may have.
toml::table read_document(const std::string& toml_text, const std::string& path) {
  toml::table doc;
  try {
    doc = toml::parse(toml_text, path);
  } catch (const toml::parse_error& e) {
    fail(path, ":", e.source().begin.line, ": ", e.description());
  }
  const std::vector<std::string> sections{"experiment", "out", "set", "grid", "zip"};
  for (auto&& [k, v] : doc) {
    const std::string key(k.str());
    if (std::find(sections.begin(), sections.end(), key) == sections.end()) {
      fail(path, ": unknown entry '", key, "'", did_you_mean(key, sections), "; a sweep file has ",
           join(sections, ", "));
    }
  }
  return doc;
}

// What every run shares: the experiment, then the file's [set], then `sets` (--set), whose keys
// go to `set_keys`.
io::Config base_config(const toml::table& doc, const std::string& path,
                       const std::vector<std::string>& sets, std::vector<std::string>& set_keys) {
  io::Config base;
  if (auto experiment = doc["experiment"].value<std::string>()) {
    base = io::Config::load((fs::path(path).parent_path() / *experiment).string());
  }
  if (const toml::table* set = doc["set"].as_table()) {
    std::vector<std::pair<std::string, const toml::node*>> keys;
    leaves(*set, "", keys);
    for (const auto& [key, node] : keys) {
      try {
        base.set(key + "=" + node_text(*node));
      } catch (const Error& e) {
        fail(path, ": [set] ", e.what());
      }
    }
  }
  for (const auto& assignment : sets) {
    try {
      base.set(assignment);
    } catch (const Error& e) {
      fail(path, ": --set ", e.what());
    }
    set_keys.push_back(std::string(trim(assignment.substr(0, assignment.find('=')))));
  }
  return base;
}

// The axes in file order: each [grid] key its own, each [[zip]] table one.
std::vector<Axis> read_axes(const toml::table& doc, const std::string& path) {
  std::vector<Axis> axes;
  if (const toml::table* grid = doc["grid"].as_table()) {
    std::vector<std::pair<std::string, const toml::node*>> keys;
    leaves(*grid, "", keys);
    for (const auto& key : keys) axes.push_back(axis_of(path + ": [grid]", {key}));
  }
  if (const toml::array* zips = doc["zip"].as_array()) {
    for (std::size_t z = 0; z < zips->size(); ++z) {
      const toml::table* t = zips->get(z)->as_table();
      if (!t) fail(path, ": zip must be tables ([[zip]])");
      std::vector<std::pair<std::string, const toml::node*>> keys;
      leaves(*t, "", keys);
      if (keys.empty()) fail(path, ": [[zip]] number ", z + 1, " has no keys");
      axes.push_back(axis_of(path + ": [[zip]] number " + std::to_string(z + 1), keys));
    }
  }
  return axes;
}

// Every key the axes set, in axis order; a key on two axes, or also given by --set, is an Error.
std::vector<std::string> axis_keys(const std::vector<Axis>& axes,
                                   const std::vector<std::string>& set_keys, const std::string& path) {
  std::vector<std::string> all;
  for (const Axis& a : axes) {
    for (const auto& key : a.keys) {
      if (std::find(all.begin(), all.end(), key) != all.end()) {
        fail(path, ": '", key, "' is on two axes");
      }
      if (std::find(set_keys.begin(), set_keys.end(), key) != set_keys.end()) {
        fail(path, ": --set ", key, ": the key is an axis of the sweep (--set fixes non-axis keys)");
      }
      all.push_back(key);
    }
  }
  return all;
}

// Run number `index` of the product of `total` runs, the last axis varying fastest.
Run expand_run(const std::vector<Axis>& axes, const io::Config& base, std::size_t index,
               std::size_t total, const std::string& path) {
  Run run{"", {}, base};
  std::size_t rest = index, stride = total;
  std::vector<std::string> parts;
  for (const Axis& a : axes) {
    stride /= a.values.size();
    const std::size_t position = rest / stride;
    rest %= stride;
    for (std::size_t k = 0; k < a.keys.size(); ++k) {
      const toml::node& value = *a.values[position][k];
      const std::string text = node_text(value);
      try {
        run.config.set(a.keys[k] + "=" + text);
      } catch (const Error& e) {
        fail(path, ": axis '", a.keys[k], "' value ", text, ": ", e.what());
      }
      run.overrides.emplace_back(a.keys[k], text);
      const std::string& key = a.keys[k];
      parts.push_back(key.substr(key.rfind('.') + 1) + "-" + readable(value));
    }
  }
  run.id = (parts.empty() ? std::string("run") : join(parts, "_")) + "-" + config_hash(run.config);
  run.config.set("name=" + toml_quoted(run.id));
  return run;
}

}  // namespace

Sweep parse(const std::string& toml_text, const std::string& path,
            const std::vector<std::string>& sets) {
  const toml::table doc = read_document(toml_text, path);
  Sweep sweep;
  sweep.path = path;
  std::vector<std::string> set_keys;
  const io::Config base = base_config(doc, path, sets, set_keys);
  sweep.out = doc["out"].value_or("sweeps/" + fs::path(path).stem().string());
  const std::vector<Axis> axes = read_axes(doc, path);
  sweep.axis_keys = axis_keys(axes, set_keys, path);
  std::size_t total = 1;
  for (const Axis& a : axes) total *= a.values.size();
  for (std::size_t index = 0; index < total; ++index) {
    sweep.runs.push_back(expand_run(axes, base, index, total, path));
  }
  return sweep;
}

}  // namespace normlab::sweep
