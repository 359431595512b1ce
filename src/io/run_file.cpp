#include "io/run_file.hpp"

#include <filesystem>

#include "core/error.hpp"

namespace normlab::io {

namespace {
constexpr std::size_t kChunkRows = 256;  // rows per HDF5 chunk of a series
}

RunFile::RunFile(std::string path)
    : path_(std::move(path)), file_(h5::File::create(path_ + ".partial", /*latest_format=*/true)) {
  file_.write_attribute("/", "format", "normlab-run");
  file_.write_attribute("/", "format_version", kRunFormatVersion);
  file_.write_attribute("/", "status", "running");
  file_.write_attribute("/", "normlab_version", std::string(NORMLAB_VERSION));
}

RunFile::~RunFile() {
  if (finished_) return;
  try {
    abandon("interrupted");
  } catch (...) {
    // Destructors must not throw; the .partial name already tells the run did not finish.
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

void RunFile::start() {
  for (Series* s : {&steps_, &evals_}) {
    file_.create_series<long long>(s->axis, 0, kChunkRows);
    file_.make_dimension_scale(s->axis, s->axis);
    for (const auto& name : s->names) {
      file_.create_series<double>(name, 0, kChunkRows);
      file_.attach_dimension_scale(name, s->axis, 0);
    }
    s->pending.assign(s->names.size(), {});
  }
  file_.start_swmr_write();
  started_ = true;
}

void RunFile::record(Series& s, long long step, const std::vector<double>& values) {
  if (!started_) fail("run file: a row recorded before start()");
  if (values.size() != s.names.size()) {
    fail("run file: ", values.size(), " values for the ", s.names.size(), " series on ", s.axis);
  }
  s.pending_axis.push_back(step);
  for (std::size_t i = 0; i < values.size(); ++i) s.pending[i].push_back(values[i]);
}

void RunFile::record_step(long long step, const std::vector<double>& values) {
  record(steps_, step, values);
}

void RunFile::record_eval(long long step, const std::vector<double>& values) {
  record(evals_, step, values);
}

void RunFile::write_pending(Series& s) {
  // Values first, the axis last: a reader never sees a step without its values.
  for (std::size_t i = 0; i < s.names.size(); ++i) {
    file_.append<double>(s.names[i], s.pending[i]);
    s.pending[i].clear();
  }
  file_.append<long long>(s.axis, s.pending_axis);
  s.pending_axis.clear();
}

void RunFile::flush() {
  if (!started_) return;
  write_pending(steps_);
  write_pending(evals_);
  file_.flush();
}

void RunFile::close_with(const std::string& status) {
  flush();
  file_.close();  // leaves SWMR; attributes may change again once reopened
  // Without the lock: a reader watching the run with SWMR may still hold the file.
  file_ = h5::File::open(path_ + ".partial", h5::File::Mode::read_write, /*lock=*/false);
  file_.write_attribute("/", "status", status);
}

void RunFile::finish(const std::string& status, const std::function<void(h5::File&)>& final_writes) {
  close_with(status);
  if (final_writes) final_writes(file_);
  file_.close();
  std::filesystem::rename(path_ + ".partial", path_);
  finished_ = true;
}

void RunFile::abandon(const std::string& status) {
  finished_ = true;  // whatever happens below, do not try again from the destructor
  close_with(status);
  file_.close();
}

}  // namespace normlab::io
