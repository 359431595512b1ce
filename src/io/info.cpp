#include "io/info.hpp"

#include <cmath>
#include <iomanip>
#include <map>
#include <vector>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "core/timer.hpp"
#include "io/run_file.hpp"

namespace normlab::tools {

void print_run_info(std::ostream& out, const std::string& path, bool with_config) {
  h5::File f = io::open_run(path, /*swmr=*/path.ends_with(".partial"));
  auto attribute = [&](const char* name) {
    return f.has_attribute("/", name) ? f.read_string_attribute("/", name) : std::string("?");
  };
  out << path << "\n"
      << "  run " << attribute("run_id") << ", status " << attribute("status") << ", format version "
      << f.read_integer_attribute("/", "format_version") << ", started " << attribute("started")
      << (f.has_attribute("/", "finished") ? ", finished " + attribute("finished") : "") << "\n"
      << "  " << attribute("family") << " on " << attribute("task") << ", norm "
      << attribute("norm")
      << (attribute("norm_options").empty() ? "" : " (" + attribute("norm_options") + ")") << ", "
      << attribute("optimizer") << ", " << attribute("dtype") << "\n";
  // Sized by the axes: values are written before their axis, so the axis is never ahead.
  const std::size_t steps = f.has("step") ? f.length("step") : 0;
  const std::size_t evals = f.has("eval_step") ? f.length("eval_step") : 0;
  const auto loss = io::read_series(f, "train_loss", "step");
  const auto time = io::read_series(f, "step_time", "step");
  out << "  " << steps << " steps";
  if (!loss.empty()) {
    out << ", last train loss " << std::setprecision(4) << loss.back() << ", median step "
        << std::setprecision(3) << 1e3 * median(time) << " ms";
  }
  out << "\n";
  if (evals > 0) {
    const auto vl = io::read_series(f, "val_loss", "eval_step");
    const auto vm = io::read_series(f, "val_metric", "eval_step");
    if (vl.size() < evals || vm.size() < evals) {  // values are written before their axis
      fail(path, ": eval_step has ", evals, " rows, but val_loss ", vl.size(), " and val_metric ",
           vm.size(), " (a damaged file)");
    }
    out << "  " << evals << " evaluations, last val loss " << std::setprecision(4) << vl.back()
        << ", " << attribute("val_metric_name") << " " << std::setprecision(3) << vm.back() << "\n";
  }
  if (f.has("site")) {
    const auto sites = f.read_strings("site"), kinds = f.read_strings("site_kind");
    if (sites.empty()) fail(path, ":site: an empty site table (a run with no sites has no `site`)");
    std::map<std::string, int> by_kind;
    for (const auto& k : kinds) ++by_kind[k];
    std::vector<std::string> counts;
    for (const auto& [k, n] : by_kind) counts.push_back(std::to_string(n) + " " + k);
    out << "  " << sites.size() << " sites (" << join(counts, ", ") << "): " << sites.front()
        << (sites.size() > 1 ? " ... " + sites.back() : "") << "\n"
        << "  statistics at " << f.length("stat_step") << " steps (stats.every = "
        << f.read_integer_attribute("/", "stats_every") << ")\n";
  } else {
    out << "  no sites (no normalizer and no residual stream to watch)\n";
  }
  if (f.has_attribute("/", "resumed_from")) {
    std::vector<std::string> steps_at;
    for (long long s : f.read_integers_attribute("/", "resumed_from")) steps_at.push_back(std::to_string(s));
    if (!steps_at.empty()) out << "  resumed at step " << join(steps_at, ", ") << "\n";
  }
  if (f.has("checkpoint")) out << "  checkpoint: " << f.members("checkpoint").size() << " parameters\n";
  if (with_config) out << "\n" << attribute("config_toml");
}

}  // namespace normlab::tools
