#include "sweep/collect.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <array>
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
#include "io/run_schema.hpp"
#include "io/text_file.hpp"

namespace normlab::sweep {

namespace fs = std::filesystem;
namespace schema = io::schema;
namespace column = io::schema::sweep_index;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The numeric columns, in the order of their names column::kNumbers.
constexpr std::array<double IndexRow::*, column::kNumbers.size()> kNumberFields{
    &IndexRow::steps,           &IndexRow::final_train_loss, &IndexRow::final_val_loss,
    &IndexRow::best_val_loss,   &IndexRow::final_val_metric, &IndexRow::train_seconds,
    &IndexRow::ms_per_step};

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
  const bool partial = path.extension() == schema::suffix::kPartial;
  try {
    h5::File f = io::open_run(path.string(), partial);
    auto text = [&](std::string_view name) {
      return f.has_attribute("/", name) ? f.read_string_attribute("/", name) : std::string();
    };
    r.status = text(schema::attr::kStatus);
    r.started = text(schema::attr::kStarted);
    r.finished = text(schema::attr::kFinished);
    const io::Config config = io::Config::parse(text(schema::attr::kConfigToml), path.string());
    std::vector<std::string> overrides;
    for (std::size_t a = 0; a < axes.size(); ++a) {
      r.axis_values[a] = cell(config.value_text(axes[a]));
      overrides.push_back(axes[a] + "=" + r.axis_values[a]);  // as a cell: readable
    }
    r.overrides = join(overrides, "; ");
    using namespace schema::series;
    const auto loss = io::read_series(f, kTrainLoss, schema::axis::kStep);
    const auto times = io::read_series(f, kStepTime, schema::axis::kStep);
    const auto val = io::read_series(f, kValLoss, schema::axis::kEvalStep);
    const auto metric = io::read_series(f, kValMetric, schema::axis::kEvalStep);
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
    r.status = column::kUnreadable;
    r.overrides = e.what();
  }
  return r;
}

void write_csv(const fs::path& path, const Index& index) {
  std::ostringstream s;
  std::vector<std::string> header{column::kId, column::kStatus};
  header.insert(header.end(), index.axes.begin(), index.axes.end());
  header.push_back(column::kOverrides);
  header.insert(header.end(), column::kNumbers.begin(), column::kNumbers.end());
  for (const char* h : {column::kStarted, column::kFinished, column::kPath}) header.push_back(h);
  s << csv_record(header);
  for (const IndexRow& r : index.rows) {
    std::vector<std::string> f{r.id, r.status};
    f.insert(f.end(), r.axis_values.begin(), r.axis_values.end());
    f.push_back(r.overrides);
    for (double IndexRow::*field : kNumberFields) f.push_back(format_double_or_blank(r.*field));
    for (const std::string& v : {r.started, r.finished, r.path}) f.push_back(v);
    s << csv_record(f);
  }
  io::write_text_atomically(path.string(), s.str());
}

// A sweep axis as index.h5 stores it: int64 when every readable row's value is an integer (seed),
// float64 when every one is a number (lr; NaN for an unreadable row), else strings (norm).
void write_axis_column(h5::File& f, const std::string& name, const std::vector<IndexRow>& rows,
                       std::size_t a) {
  bool integers = true, numbers = true;
  std::vector<double> values;
  for (const IndexRow& r : rows) {
    const std::string& v = r.axis_values[a];
    if (r.status == column::kUnreadable && v.empty()) {
      integers = false;  // no int64 NaN
      values.push_back(kNaN);
      continue;
    }
    long long i = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), i);
    integers = integers && ec == std::errc() && end == v.data() + v.size();
    try {
      values.push_back(parse_double(v, name));
    } catch (const Error&) {
      numbers = false;
      break;
    }
  }
  const std::size_t n = rows.size();
  if (numbers && integers && !rows.empty()) {
    std::vector<long long> ints(values.begin(), values.end());
    f.write<long long>(name, {n}, ints);
  } else if (numbers && !rows.empty()) {
    f.write<double>(name, {n}, values);
  } else {
    std::vector<std::string> text;
    for (const IndexRow& r : rows) text.push_back(r.axis_values[a]);
    f.write_strings(name, text);
  }
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
    strings(column::kRun, [](const IndexRow& r) { return r.id; });
    f.make_dimension_scale(column::kRun, column::kRun);
    std::vector<std::string> names{column::kStatus, column::kOverrides, column::kStarted,
                                   column::kFinished, column::kPath};
    strings(column::kStatus, [](const IndexRow& r) { return r.status; });
    strings(column::kOverrides, [](const IndexRow& r) { return r.overrides; });
    strings(column::kStarted, [](const IndexRow& r) { return r.started; });
    strings(column::kFinished, [](const IndexRow& r) { return r.finished; });
    strings(column::kPath, [](const IndexRow& r) { return r.path; });
    for (std::size_t a = 0; a < index.axes.size(); ++a) {
      write_axis_column(f, index.axes[a], index.rows, a);
      names.push_back(index.axes[a]);
    }
    for (std::size_t i = 0; i < kNumberFields.size(); ++i) {
      numbers(column::kNumbers[i], kNumberFields[i]);
      names.push_back(column::kNumbers[i]);
    }
    for (const auto& name : names) f.attach_dimension_scale(name, column::kRun, 0);
    f.write_attribute("/", schema::attr::kFormat, column::kFormat);
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
      using namespace schema::suffix;
      for (const std::string& suffix : {std::string(kRunFile), std::string(kRunFile) + kPartial}) {
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
    const fs::path final_path = runs / (id + schema::suffix::kRunFile),
                   partial = final_path.string() + schema::suffix::kPartial;
    if (fs::exists(final_path)) {
      index.rows.push_back(read_row(final_path, id, index.axes));
    } else if (fs::exists(partial)) {
      index.rows.push_back(read_row(partial, id, index.axes));
    } else {
      IndexRow r;
      r.id = id;
      r.status = column::kMissing;
      r.axis_values.assign(index.axes.size(), "");
      r.steps = r.final_train_loss = r.final_val_loss = r.best_val_loss = r.final_val_metric = kNaN;
      r.train_seconds = r.ms_per_step = kNaN;
      index.rows.push_back(r);
    }
  }
  if (write) {
    write_csv(root / column::kCsvFile, index);
    write_h5(root / column::kH5File, index);
  }
  return index;
}

}  // namespace normlab::sweep
