#include "sweep/collect.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <sstream>
#include <toml++/toml.h>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "core/timer.hpp"
#include "io/config.hpp"
#include "io/run_file.hpp"
#include "io/text_file.hpp"

namespace normlab::sweep {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A config value's TOML text as a table cell: 'rmsnorm' -> rmsnorm, 0.0030000000000000001 ->
// 0.003, [ 'layernorm', 'rmsnorm' ] -> layernorm,rmsnorm (as the run file's `norm` attribute).
std::string cell(const std::string& toml_text) {
  if (toml_text.size() >= 2 && toml_text.front() == '[' && toml_text.back() == ']') {
    std::vector<std::string> items;
    for (const auto& item : split(toml_text.substr(1, toml_text.size() - 2), ',')) {
      if (!trim(item).empty()) items.push_back(cell(std::string(trim(item))));
    }
    return join(items, ",");
  }
  if (toml_text.size() >= 2 && toml_text.front() == '\'' && toml_text.back() == '\'' &&
      toml_text.find('\'', 1) == toml_text.size() - 1) {
    return toml_text.substr(1, toml_text.size() - 2);
  }
  if (toml_text.find_first_of(".eE") != std::string::npos) {
    try {
      return format_double(parse_double(toml_text, "value"));
    } catch (const Error&) {
      // not a number: keep the text
    }
  }
  return toml_text;
}

IndexRow read_row(const fs::path& path, const std::string& id, const std::vector<std::string>& axes) {
  IndexRow r;
  r.id = id;
  r.path = path.string();
  r.axis_values.assign(axes.size(), "");
  r.steps = r.final_train_loss = r.final_val_loss = r.best_val_loss = r.final_val_metric = kNaN;
  r.train_seconds = r.ms_per_step = kNaN;
  const bool partial = path.extension() == ".partial";
  try {
    h5::File f = io::open_run(path.string(), partial);
    auto text = [&](const char* name) {
      return f.has_attribute("/", name) ? f.read_string_attribute("/", name) : std::string();
    };
    r.status = text("status");
    r.started = text("started");
    r.finished = text("finished");
    const io::Config config = io::Config::parse(text("config_toml"), path.string());
    std::vector<std::string> overrides;
    for (std::size_t a = 0; a < axes.size(); ++a) {
      r.axis_values[a] = cell(config.value_text(axes[a]));
      overrides.push_back(axes[a] + "=" + r.axis_values[a]);  // as a cell: readable
    }
    r.overrides = join(overrides, "; ");
    const auto loss = io::read_series(f, "train_loss", "step");
    const auto times = io::read_series(f, "step_time", "step");
    const auto val = io::read_series(f, "val_loss", "eval_step");
    const auto metric = io::read_series(f, "val_metric", "eval_step");
    r.steps = double(loss.size());
    if (!loss.empty()) r.final_train_loss = loss.back();
    // Values are written before their axis: fewer values than axis rows is a damaged file.
    const std::size_t steps = f.has("step") ? f.length("step") : 0;
    const std::size_t evals = f.has("eval_step") ? f.length("eval_step") : 0;
    if (loss.size() < steps || val.size() < evals || metric.size() < evals) {
      fail(path.string(), ": ", steps, " steps and ", evals, " evaluations, but ", loss.size(),
           " train_loss, ", val.size(), " val_loss and ", metric.size(), " val_metric values");
    }
    if (!val.empty()) {
      r.final_val_loss = val.back();
      r.best_val_loss = *std::min_element(val.begin(), val.end());
      r.final_val_metric = metric.back();
    }
    r.train_seconds = 0;
    for (double t : times) r.train_seconds += t;
    r.ms_per_step = 1e3 * median(times);
  } catch (const Error& e) {
    r.status = "unreadable";
    r.overrides = e.what();
  }
  return r;
}

void write_csv(const fs::path& path, const Index& index) {
  std::ostringstream s;
  std::vector<std::string> header{"id", "status"};
  header.insert(header.end(), index.axes.begin(), index.axes.end());
  for (const char* h : {"overrides", "steps", "final_train_loss", "final_val_loss", "best_val_loss",
                        "final_val_metric", "train_seconds", "ms_per_step", "started", "finished", "path"}) {
    header.push_back(h);
  }
  s << csv_record(header);
  for (const IndexRow& r : index.rows) {
    std::vector<std::string> f{r.id, r.status};
    f.insert(f.end(), r.axis_values.begin(), r.axis_values.end());
    auto cell = format_double_or_blank;
    for (const std::string& v : {r.overrides, cell(r.steps), cell(r.final_train_loss),
                                 cell(r.final_val_loss), cell(r.best_val_loss),
                                 cell(r.final_val_metric), cell(r.train_seconds),
                                 cell(r.ms_per_step), r.started, r.finished, r.path}) {
      f.push_back(v);
    }
    s << csv_record(f);
  }
  io::write_text_atomically(path.string(), s.str());
}

void write_h5(const fs::path& path, const Index& index) {
  const fs::path tmp = path.string() + ".tmp" + std::to_string(::getpid());
  {
    h5::File f = h5::File::create(tmp.string());
    const std::size_t n = index.rows.size();
    auto strings = [&](const std::string& name, auto get) {
      std::vector<std::string> v;
      for (const IndexRow& r : index.rows) v.push_back(get(r));
      f.write_strings(name, v);
    };
    auto numbers = [&](const std::string& name, double IndexRow::*field) {
      std::vector<double> v;
      for (const IndexRow& r : index.rows) v.push_back(r.*field);
      f.write<double>(name, {n}, v);
    };
    strings("run", [](const IndexRow& r) { return r.id; });
    f.make_dimension_scale("run", "run");
    std::vector<std::string> names{"status", "overrides", "started", "finished", "path"};
    strings("status", [](const IndexRow& r) { return r.status; });
    strings("overrides", [](const IndexRow& r) { return r.overrides; });
    strings("started", [](const IndexRow& r) { return r.started; });
    strings("finished", [](const IndexRow& r) { return r.finished; });
    strings("path", [](const IndexRow& r) { return r.path; });
    for (std::size_t a = 0; a < index.axes.size(); ++a) {
      strings(index.axes[a], [a](const IndexRow& r) { return r.axis_values[a]; });
      names.push_back(index.axes[a]);
    }
    numbers("steps", &IndexRow::steps);
    numbers("final_train_loss", &IndexRow::final_train_loss);
    numbers("final_val_loss", &IndexRow::final_val_loss);
    numbers("best_val_loss", &IndexRow::best_val_loss);
    numbers("final_val_metric", &IndexRow::final_val_metric);
    numbers("train_seconds", &IndexRow::train_seconds);
    numbers("ms_per_step", &IndexRow::ms_per_step);
    for (const char* name : {"steps", "final_train_loss", "final_val_loss", "best_val_loss",
                             "final_val_metric", "train_seconds", "ms_per_step"}) {
      names.push_back(name);
    }
    for (const auto& name : names) f.attach_dimension_scale(name, "run", 0);
    f.write_attribute("/", "format", "normlab-sweep-index");
  }
  fs::rename(tmp, path);
}

}  // namespace

std::string config_cell(const std::string& toml_text) { return cell(toml_text); }

Index collect(const std::string& dir, bool write) {
  const fs::path root(dir), runs = root / "runs", manifest = root / "manifest.toml";
  if (!fs::is_directory(root)) fail(dir, ": no such directory");
  Index index;
  std::vector<std::string> ids;
  if (fs::exists(manifest)) {
    toml::table m;
    try {
      m = toml::parse_file(manifest.string());
    } catch (const toml::parse_error& e) {
      fail(manifest.string(), ":", e.source().begin.line, ": ", e.description());
    }
    if (const toml::array* axes = m["axes"].as_array()) {
      for (auto&& a : *axes) index.axes.push_back(a.value_or(std::string()));
    }
    if (const toml::array* listed = m["runs"].as_array()) {
      for (auto&& r : *listed) ids.push_back(r.value_or(std::string()));
    }
  } else if (!fs::is_directory(runs)) {
    fail(dir, ": not a sweep directory (no manifest.toml and no runs/)");
  }
  // Runs found on disk but not in the manifest (another sweep's shards, an older expansion).
  if (fs::is_directory(runs)) {
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(runs)) {
      const std::string name = e.path().filename().string();
      for (const std::string suffix : {".h5", ".h5.partial"}) {
        if (name.size() > suffix.size() && name.ends_with(suffix)) {
          found.push_back(name.substr(0, name.size() - suffix.size()));
        }
      }
    }
    std::sort(found.begin(), found.end());
    for (const auto& id : found) {
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
  }
  for (const auto& id : ids) {
    const fs::path final_path = runs / (id + ".h5"), partial = runs / (id + ".h5.partial");
    if (fs::exists(final_path)) {
      index.rows.push_back(read_row(final_path, id, index.axes));
    } else if (fs::exists(partial)) {
      index.rows.push_back(read_row(partial, id, index.axes));
    } else {
      IndexRow r;
      r.id = id;
      r.status = "missing";
      r.axis_values.assign(index.axes.size(), "");
      r.steps = r.final_train_loss = r.final_val_loss = r.best_val_loss = r.final_val_metric = kNaN;
      r.train_seconds = r.ms_per_step = kNaN;
      index.rows.push_back(r);
    }
  }
  if (write) {
    write_csv(root / "index.csv", index);
    write_h5(root / "index.h5", index);
  }
  return index;
}

}  // namespace normlab::sweep
