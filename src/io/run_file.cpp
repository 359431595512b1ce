#include "io/run_file.hpp"

#include <algorithm>
#include <filesystem>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <ostream>

#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/kernels.hpp"
#include "io/fault.hpp"
#include "io/hdf5_guard.hpp"

namespace normlab::io {

namespace attr = schema::attr;

namespace {

constexpr std::size_t kChunkRows = 256;  // rows per HDF5 chunk of a series

// HDF5 1.10 closes at exit the files still open, and crashes (H5F__close_cb) on one whose
// H5Fclose failed, as on a full disk: the error was reported, then the process segfaulted. Every
// normlab file is closed by its owner, so the library's exit handler is not needed; it is turned
// off before any HDF5 call (this file is linked into every program that writes a run).
const bool kNoHdf5AtExit = [] {
  H5dont_atexit();
  return true;
}();

// Data, or a rename, must reach the disk before what comes next relies on it.
void sync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) fail(path, ": cannot open to sync: ", std::strerror(errno));
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (result != 0) fail(path, ": cannot sync: ", std::strerror(error));
}

void sync_directory_of(const std::string& path) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  sync_path(dir.empty() ? "." : dir.string(), O_RDONLY | O_DIRECTORY);
}

// Writes `target` as a copy of the closed run file `source` with `status` set and `final_writes`
// added, synced. `source` is only read: a kill at any instant leaves it as it was, and at most a
// stray `target` that the next session of the run deletes.
void write_final_copy(const std::string& source, const std::string& target,
                      const std::string& status, const std::function<void(h5::File&)>& final_writes) {
  std::filesystem::copy_file(source, target, std::filesystem::copy_options::overwrite_existing);
  fault_point("finish");
  {
    h5::File out = h5::File::open(target, h5::File::Mode::read_write);
    fault_point("finish");
    out.write_attribute("/", attr::kStatus, status);
    fault_point("finish");
    if (final_writes) final_writes(out);
    out.close();
    fault_point("finish");
  }
  sync_path(target, O_RDONLY);
  fault_point("finish");
}

}  // namespace

h5::File open_run(const std::string& path, bool swmr) {
  // A run file may come from anywhere (another machine's shard, a killed run): read it in a child
  // first, so that a file libhdf5 crashes or hangs on is refused by name.
  h5::File f = h5::open_untrusted(path, swmr ? h5::File::Mode::read_swmr : h5::File::Mode::read);
  if (!f.has_attribute("/", attr::kFormat) ||
      f.read_string_attribute("/", attr::kFormat) != schema::kRunFormat) {
    fail(path, ": not a normlab run file (no root attribute ", attr::kFormat, " = \"",
         schema::kRunFormat, "\")");
  }
  const long long version = f.has_attribute("/", attr::kFormatVersion)
                                ? f.read_integer_attribute("/", attr::kFormatVersion)
                                : 0;
  if (version < 1) fail(path, ": a normlab run file without a valid format_version");
  if (version > kRunFormatVersion) {
    fail(path, ": run file format version ", version, " is newer than this normlab reads (",
         kRunFormatVersion, "); update normlab");
  }
  return f;
}

Config run_config(const h5::File& f, const std::string& path, std::ostream& notes) {
  Config c = Config::parse(f.read_string_attribute("/", attr::kConfigToml), path);
  const long long version = f.read_integer_attribute("/", attr::kFormatVersion);
  // format 4 renamed placement `peri` (issue 19); a list of placements came after it
  if (version <= 3 && c.strings("model.placement") == std::vector<std::string>{"peri"}) {
    c.set("model.placement=reordered");
    notes << "note: " << path << ": run file format " << version
          << " says model.placement = \"peri\", which format 4 calls \"reordered\" (x + N(F(x)), "
             "OLMo 2's reordered norm; Peri-LN is \"sandwich\"): read as \"reordered\"\n";
  }
  return c;
}

std::vector<double> read_series(const h5::File& f, const std::string& name, const std::string& axis) {
  if (!f.has(name) || !f.has(axis)) return {};
  const std::size_t rows = f.length(axis);  // both must be 1-D: a 0-D axis is a damaged file
  std::vector<double> v = f.read_vector<double>(name);
  v.resize(std::min(rows, v.size()));
  return v;
}

RunFile::RunFile(std::string path)
    : path_(std::move(path)),
      file_(h5::File::create(path_ + schema::suffix::kPartial, /*latest_format=*/true)) {
  file_.write_attribute("/", attr::kFormat, schema::kRunFormat);
  file_.write_attribute("/", attr::kFormatVersion, kRunFormatVersion);
  file_.write_attribute("/", attr::kStatus, schema::status::kRunning);
  file_.write_attribute("/", attr::kNormlabVersion, std::string(NORMLAB_VERSION));
  // Float results depend in their last bits on the kernels' ISA and BLAS's kernel family: the
  // file says which ran, so that another machine can reproduce them (NORMLAB_ISA,
  // OPENBLAS_CORETYPE).
  file_.write_attribute("/", attr::kKernels, kernels::describe(kernels::active()));
  file_.write_attribute("/", attr::kBlasCore, std::string(blas_core()));
}

RunFile::~RunFile() {
  if (finished_) return;
  try {
    abandon(schema::status::kInterrupted);
  } catch (...) {
    // Destructors must not throw. When even that failed (a full disk), the file is closed as it
    // is, as a kill would leave it: a resume reads it with SWMR.
    if (!closed_) {
      closed_ = true;
      try {
        file_.close();
      } catch (...) {
      }
    }
  }
}

void RunFile::add_step_series(const std::string& name) {
  if (started_) fail("run file: series '", name, "' declared after start()");
  steps_.names.push_back(name);
}

void RunFile::add_eval_series(const std::string& name) {
  if (started_) fail("run file: series '", name, "' declared after start()");
  evals_.names.push_back(name);
}

void RunFile::add_site_stats(const SiteTable& sites, const std::vector<std::string>& stats) {
  if (started_) fail("run file: site statistics declared after start()");
  const std::size_t S = sites.names.size();
  if (sites.kinds.size() != S || sites.layers.size() != S || sites.features.size() != S) {
    fail("internal: a site table whose columns differ in length");
  }
  if (S == 0) return;
  sites_ = sites;
  stats_.columns = S;
  stats_.names.insert(stats_.names.end(), stats.begin(), stats.end());
}

void RunFile::start() {
  if (stats_.columns > 0) {
    const std::size_t S = stats_.columns;
    using schema::axis::kSite;
    file_.write_strings(kSite, sites_.names);
    file_.make_dimension_scale(kSite, kSite);
    file_.write_strings(schema::site::kKind, sites_.kinds);
    file_.write<long long>(schema::site::kLayer, {S}, sites_.layers);
    file_.write<long long>(schema::site::kFeatures, {S}, sites_.features);
    for (const char* table : {schema::site::kKind, schema::site::kLayer, schema::site::kFeatures}) {
      file_.attach_dimension_scale(table, kSite, 0);
    }
  }
  for (Series* s : {&steps_, &evals_, &stats_}) {
    if (s == &stats_ && s->columns == 0) continue;
    file_.create_series<long long>(s->axis, 0, kChunkRows);
    file_.make_dimension_scale(s->axis, s->axis);
    for (const auto& name : s->names) {
      file_.create_series<double>(name, s->columns, kChunkRows);
      file_.attach_dimension_scale(name, s->axis, 0);
      if (s->columns > 0) file_.attach_dimension_scale(name, schema::axis::kSite, 1);
    }
    s->pending.assign(s->names.size(), {});
  }
  file_.start_swmr_write();
  started_ = true;
}

void RunFile::record(Series& s, long long step, std::span<const double> values) {
  if (!started_) fail("run file: a row recorded before start()");
  const std::size_t width = std::max<std::size_t>(s.columns, 1);
  if (values.size() != s.names.size() * width) {
    fail("run file: ", values.size(), " values for the ", s.names.size(), " series on ", s.axis,
         s.columns > 0 ? " (of " + std::to_string(s.columns) + " sites each)" : "");
  }
  s.pending_axis.push_back(step);
  for (std::size_t i = 0; i < s.names.size(); ++i) {
    s.pending[i].insert(s.pending[i].end(), values.begin() + i * width,
                        values.begin() + (i + 1) * width);
  }
}

void RunFile::record_step(long long step, const std::vector<double>& values) {
  record(steps_, step, values);
}

void RunFile::record_eval(long long step, const std::vector<double>& values) {
  record(evals_, step, values);
}

void RunFile::record_stats(long long step, std::span<const double> values) {
  if (stats_.columns == 0) fail("run file: statistics recorded, but no sites were declared");
  record(stats_, step, values);
}

void RunFile::flush() {
  if (!started_) return;
  // Values first, the axes after them: a reader never sees a step without its values. Until a
  // flush, HDF5 may put the datasets' new sizes on disk in any order, so the values are flushed
  // before the axes are extended.
  for (Series* s : {&steps_, &evals_, &stats_}) {
    for (std::size_t i = 0; i < s->names.size() && !s->pending_axis.empty(); ++i) {
      file_.append<double>(s->names[i], s->pending[i]);
      s->pending[i].clear();
    }
  }
  file_.flush();
  for (Series* s : {&steps_, &evals_, &stats_}) {
    if (s->pending_axis.empty()) continue;
    file_.append<long long>(s->axis, s->pending_axis);
    s->pending_axis.clear();
  }
  file_.flush();
}

std::size_t RunFile::copy_rows_before(const h5::File& from, long long before) {
  if (!started_) fail("run file: rows copied before start()");
  std::size_t copied_steps = 0;
  for (Series* s : {&steps_, &evals_, &stats_}) {
    if (s == &stats_ && s->columns == 0) continue;
    if (!from.is_dataset(s->axis)) fail(from.path(), ": no series '", s->axis, "' to copy");
    const std::vector<long long> axis = from.read_vector<long long>(s->axis);
    std::size_t rows = 0;  // the axis is in step order: the rows to keep come first
    while (rows < axis.size() && axis[rows] < before) ++rows;
    const std::size_t width = std::max<std::size_t>(s->columns, 1);
    std::vector<xt::xarray<double>> values;
    for (const auto& name : s->names) {
      if (!from.is_dataset(name)) fail(from.path(), ": no series '", name, "' to copy");
      values.push_back(from.read<double>(name));
      const h5::Shape shape = from.shape(name);
      // The values of a flushed row are on disk before its axis entry, so there are at least as
      // many value rows as axis rows.
      const std::size_t rank = s->columns > 0 ? 2 : 1;
      if (shape.size() != rank || shape[0] < rows || (rank == 2 && shape[1] != s->columns)) {
        fail(from.path(), ": series '", name, "' has shape ", h5::shape_string(shape), " where ",
             rows, " rows", s->columns > 0 ? " of " + std::to_string(s->columns) + " sites" : "",
             " were expected");
      }
    }
    std::vector<double> row(s->names.size() * width);
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t i = 0; i < values.size(); ++i) {
        std::copy_n(values[i].data() + r * width, width, row.begin() + i * width);
      }
      record(*s, axis[r], row);
    }
    if (s == &steps_) copied_steps = rows;
  }
  return copied_steps;
}

void RunFile::close_partial() {
  if (closed_) return;
  flush();
  fault_point("finish");
  closed_ = true;  // whatever close() does, the file is not used again
  file_.close();   // leaves SWMR; from here on the .partial is never opened for writing again
  fault_point("finish");
}

void RunFile::finish(const std::string& status, const std::function<void(h5::File&)>& final_writes) {
  finished_ = true;  // a failure below leaves the .partial as a kill would: resumable
  close_partial();
  const std::string partial = path_ + schema::suffix::kPartial;
  const std::string tmp = path_ + schema::suffix::kTemporary;
  write_final_copy(partial, tmp, status, final_writes);
  std::filesystem::rename(tmp, path_);  // atomic: the run is completed from here on
  sync_directory_of(path_);
  fault_point("finish");
  std::filesystem::remove(partial);
  fault_point("finish");
}

void RunFile::abandon(const std::string& status) {
  finished_ = true;  // whatever happens below, do not try again from the destructor
  close_partial();
  const std::string partial = path_ + schema::suffix::kPartial;
  const std::string tmp = partial + schema::suffix::kTemporary;
  write_final_copy(partial, tmp, status, {});
  std::filesystem::rename(tmp, partial);  // atomic: the old .partial or the new one
  sync_directory_of(partial);
  fault_point("finish");
}

RunWriter::RunWriter(const std::string& path, const RunAttributes& a, const SiteTable& sites)
    : file_(path) {
  h5::File& f = file_.file();
  f.write_attribute("/", attr::kRunId, a.run_id);
  f.write_attribute("/", attr::kConfigToml, a.config_toml);
  f.write_attribute("/", attr::kStarted, a.started);
  f.write_integers_attribute("/", attr::kResumedFrom, a.resumed_from);
  for (auto [name, value] : {std::pair{attr::kFamily, &a.family}, {attr::kNorm, &a.norm},
                             {attr::kNormOptions, &a.norm_options},
                             {attr::kOptimizer, &a.optimizer}, {attr::kDtype, &a.dtype},
                             {attr::kTask, &a.task}}) {
    f.write_attribute("/", name, *value);
  }
  f.write_attribute("/", attr::kSeed, a.seed);
  f.write_attribute("/", attr::kLr, a.lr);
  f.write_attribute("/", attr::kValMetricName, a.val_metric_name);
  f.write_attribute("/", attr::kChanceLoss, a.chance_loss);
  f.write_attribute("/", attr::kStatsEvery, a.stats_every);
  for (const char* name : schema::kStepSeries) file_.add_step_series(name);
  for (const char* name : schema::kEvalSeries) file_.add_eval_series(name);
  file_.add_site_stats(sites, {schema::kStatistics.begin(), schema::kStatistics.end()});
  file_.start();  // from here on a reader with SWMR sees every step up to the last flush
}

void RunWriter::record_step(long long step, const StepRow& r) {
  file_.record_step(step, {r.train_loss, r.lr, r.grad_norm, r.step_time});  // kStepSeries' order
}

void RunWriter::record_eval(long long step, const EvalRow& r) {
  file_.record_eval(step, {r.val_loss, r.val_metric});  // kEvalSeries' order
}

void RunWriter::finish(const std::string& status, const RunEnd& end) {
  file_.finish(status, [&](h5::File& out) {
    if (end.write_parameters) end.write_parameters(out);
    out.write_attribute("/", attr::kFinished, end.finished);
    out.write_attribute("/", attr::kPeakRssMib, end.peak_rss_mib);
  });
}

}  // namespace normlab::io
