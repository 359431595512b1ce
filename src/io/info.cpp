#include "io/info.hpp"

#include <cmath>
#include <iomanip>
#include <map>
#include <vector>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "core/timer.hpp"
#include "io/run_file.hpp"
#include "io/run_schema.hpp"

namespace normlab::tools {

namespace attr = io::schema::attr;
namespace axis = io::schema::axis;
namespace series = io::schema::series;

void print_run_info(std::ostream& out, const std::string& path, bool with_config) {
  h5::File f = io::open_run(path, /*swmr=*/path.ends_with(io::schema::suffix::kPartial));
  auto attribute = [&](std::string_view name) {
    return f.has_attribute("/", name) ? f.read_string_attribute("/", name) : std::string("?");
  };
  out << path << "\n"
      << "  run " << attribute(attr::kRunId) << ", status " << attribute(attr::kStatus) << ", format version "
      << f.read_integer_attribute("/", attr::kFormatVersion) << ", started " << attribute(attr::kStarted)
      << (f.has_attribute("/", attr::kFinished) ? ", finished " + attribute(attr::kFinished) : "") << "\n"
      << "  " << attribute(attr::kFamily) << " on " << attribute(attr::kTask) << ", norm "
      << attribute(attr::kNorm)
      << (attribute(attr::kNormOptions).empty() ? "" : " (" + attribute(attr::kNormOptions) + ")") << ", "
      << attribute(attr::kOptimizer) << ", " << attribute(attr::kDtype) << "\n";
  if (f.has_attribute("/", attr::kKernels)) {  // files written before the attribute lack it
    out << "  kernels " << attribute(attr::kKernels) << ", BLAS " << attribute(attr::kBlasCore)
        << "\n";
  }
  // Every run past its start has a step axis (RunFile::start writes it before the first step): a
  // finished, diverged or interrupted run without one is a file whose names no longer resolve.
  if (!f.has(axis::kStep) && attribute(attr::kStatus) != "running") {
    fail(path, ": no ", axis::kStep, " axis in a run with status '", attribute(attr::kStatus),
         "' (a damaged file)");
  }
  // Sized by the axes: values are written before their axis, so the axis is never ahead.
  const std::size_t steps = f.has(axis::kStep) ? f.length(axis::kStep) : 0;
  const std::size_t evals = f.has(axis::kEvalStep) ? f.length(axis::kEvalStep) : 0;
  const auto loss = io::read_series(f, series::kTrainLoss, axis::kStep);
  const auto time = io::read_series(f, series::kStepTime, axis::kStep);
  out << "  " << steps << " steps";
  if (!loss.empty()) {
    out << ", last train loss " << std::setprecision(4) << loss.back() << ", median step "
        << std::setprecision(3) << 1e3 * median(time) << " ms";
  }
  out << "\n";
  if (evals > 0) {
    const auto vl = io::read_series(f, series::kValLoss, axis::kEvalStep);
    const auto vm = io::read_series(f, series::kValMetric, axis::kEvalStep);
    if (vl.size() < evals || vm.size() < evals) {  // values are written before their axis
      fail(path, ": ", axis::kEvalStep, " has ", evals, " rows, but ", series::kValLoss, " ",
           vl.size(), " and ", series::kValMetric, " ", vm.size(), " (a damaged file)");
    }
    out << "  " << evals << " evaluations, last val loss " << std::setprecision(4) << vl.back()
        << ", " << attribute(attr::kValMetricName) << " " << std::setprecision(3) << vm.back() << "\n";
  }
  if (f.has(axis::kSite)) {
    const auto sites = f.read_strings(axis::kSite), kinds = f.read_strings(io::schema::site::kKind);
    if (sites.empty()) fail(path, ":site: an empty site table (a run with no sites has no `site`)");
    std::map<std::string, int> by_kind;
    for (const auto& k : kinds) ++by_kind[k];
    std::vector<std::string> counts;
    for (const auto& [k, n] : by_kind) counts.push_back(std::to_string(n) + " " + k);
    out << "  " << sites.size() << " sites (" << join(counts, ", ") << "): " << sites.front()
        << (sites.size() > 1 ? " ... " + sites.back() : "") << "\n"
        << "  statistics at " << f.length(axis::kStatStep) << " steps (stats.every = "
        << f.read_integer_attribute("/", attr::kStatsEvery) << ")\n";
  } else if (f.has(axis::kStatStep)) {
    fail(path, ": statistics (", axis::kStatStep, ") but no site table (a damaged file)");
  } else {
    out << "  no sites (no normalizer and no residual stream to watch)\n";
  }
  if (f.has_attribute("/", attr::kResumedFrom)) {
    std::vector<std::string> steps_at;
    for (long long s : f.read_integers_attribute("/", attr::kResumedFrom)) steps_at.push_back(std::to_string(s));
    if (!steps_at.empty()) out << "  resumed at step " << join(steps_at, ", ") << "\n";
  }
  if (f.has(io::schema::kCheckpointGroup)) {
    out << "  checkpoint: " << f.members(io::schema::kCheckpointGroup).size() << " parameters\n";
  }
  if (with_config) out << "\n" << attribute(attr::kConfigToml);
}

}  // namespace normlab::tools
