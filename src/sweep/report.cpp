#include "sweep/report.hpp"

#include <iomanip>
#include <map>

#include "core/strings.hpp"
#include "io/run_schema.hpp"

namespace normlab::sweep {

std::string status_counts(const std::vector<std::string>& statuses) {
  std::map<std::string, int> counts;
  for (const auto& s : statuses) ++counts[s];
  std::vector<std::string> parts;
  for (const auto& [status, count] : counts) parts.push_back(std::to_string(count) + " " + status);
  return join(parts, ", ");
}

void print_plan(std::ostream& out, const Sweep& sweep, int shard, int shards) {
  out << sweep.runs.size() << " runs -> " << sweep.out << "\n";
  for (std::size_t i = 0; i < sweep.runs.size(); ++i) {
    if (int(i % std::size_t(shards)) != shard) continue;
    std::vector<std::string> sets;
    for (const auto& [k, v] : sweep.runs[i].overrides) sets.push_back(k + "=" + v);
    out << std::left << std::setw(44) << sweep.runs[i].id << " " << join(sets, "  ") << "\n";
  }
}

void print_outcomes(std::ostream& out, const Sweep& sweep, const std::vector<Outcome>& outcomes) {
  std::vector<std::string> ended;
  for (const auto& r : outcomes) {
    if (!r.status.empty()) ended.push_back(r.status);  // runs of other shards have none
  }
  out << "summary: " << status_counts(ended) << "\n";
  for (const auto& r : outcomes) {
    if (is_failure(r.status)) {
      out << "  " << r.status << ": " << r.id << " (log: " << sweep.out << "/logs/" << r.id << ".log)\n";
    }
  }
}

std::size_t runs_with_result(const Index& index) {
  std::size_t done = 0;
  for (const auto& r : index.rows) done += io::schema::status::has_result(r.status);
  return done;
}

std::vector<std::string> statuses(const Index& index) {
  std::vector<std::string> all;
  for (const auto& r : index.rows) all.push_back(r.status);
  return all;
}

}  // namespace normlab::sweep
