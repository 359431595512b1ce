#include "sweep/definition.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.hpp"

namespace normlab::sweep {

namespace fs = std::filesystem;

std::vector<std::string> manifest_ids(const std::string& dir) {
  const fs::path manifest = fs::path(dir) / "manifest.toml";
  std::vector<std::string> ids;
  if (!fs::exists(manifest)) return ids;
  toml::table m;
  try {
    m = toml::parse_file(manifest.string());
  } catch (const toml::parse_error& e) {
    fail(manifest.string(), ":", e.source().begin.line, ": ", e.description());
  }
  if (const toml::array* listed = m["runs"].as_array()) {
    for (auto&& r : *listed) ids.push_back(r.value_or(std::string()));
  }
  return ids;
}

std::string describe_difference(const io::Config& old_config, const io::Config& new_config) {
  const std::vector<std::string> old_keys = old_config.keys();
  const std::set<std::string> in_old(old_keys.begin(), old_keys.end());
  for (const auto& key : new_config.keys()) {
    if (key == "name" || key == "train.out") continue;
    if (!in_old.count(key)) return key + ": (absent) -> " + new_config.value_text(key);
    if (old_config.value_text(key) != new_config.value_text(key)) {
      return key + ": " + old_config.value_text(key) + " -> " + new_config.value_text(key);
    }
  }
  return "";
}

namespace {

// What changed, from the config of an old run that the new expansion does not have: against the
// new run with the same axis values when there is one (its id up to the hash), else the first.
std::string what_changed(const Sweep& sweep, const std::string& old_id) {
  const fs::path config = fs::path(sweep.out) / "configs" / (old_id + ".toml");
  if (!fs::exists(config) || sweep.runs.empty()) return "";
  const io::Config old_config = io::Config::load(config.string());
  const auto stem = [](const std::string& id) { return id.substr(0, id.rfind('-')); };
  const Run* match = &sweep.runs.front();
  for (const Run& r : sweep.runs) {
    if (stem(r.id) == stem(old_id)) match = &r;
  }
  return describe_difference(old_config, match->config);
}

void remove_old_runs(const fs::path& dir) {
  for (const char* sub : {"runs", "configs", "logs"}) fs::remove_all(dir / sub);
  for (const char* file : {"index.csv", "index.h5", "manifest.toml"}) fs::remove(dir / file);
}

}  // namespace

std::vector<std::string> check_definition(const Sweep& sweep, OnChange on_change) {
  const std::vector<std::string> old_ids = manifest_ids(sweep.out);
  std::set<std::string> ours;
  for (const Run& r : sweep.runs) ours.insert(r.id);
  std::vector<std::string> gone;
  for (const auto& id : old_ids) {
    if (!ours.count(id)) gone.push_back(id);
  }
  if (gone.empty()) return {};
  if (on_change == OnChange::kExtend) return gone;
  if (on_change == OnChange::kRestart) {
    remove_old_runs(sweep.out);
    return {};
  }
  const std::string change = what_changed(sweep, gone.front());
  fail(sweep.out, " holds another definition of this sweep: ", gone.size(), " of its ", old_ids.size(),
       " runs (e.g. ", gone.front(), ") are not in this expansion",
       change.empty() ? std::string() : " (" + change + ")",
       "; --restart deletes the old runs and starts over, --extend keeps them beside the new ones "
       "(table then averages both), --out DIR writes elsewhere");
}

void check_data_paths(const Sweep& sweep) {
  for (const Run& r : sweep.runs) {
    const std::string path = r.config.string("data.path");
    std::error_code ec;
    if (!path.empty() && !fs::exists(path, ec)) {
      fail("run ", r.id, ": data.path '", path, "' does not exist (no run was started)");
    }
  }
}

}  // namespace normlab::sweep
