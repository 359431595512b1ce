// The table of `normlab analyze recentering` and the mixed-stack config it recommends.
#include <cmath>
#include <iomanip>
#include <set>

#include "analysis/recentering.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"
#include "models/site_options.hpp"
#include "norm/options.hpp"
#include "norm/registry.hpp"

namespace normlab::analysis {

namespace {

std::string quoted_list(const std::vector<std::string>& items) {
  std::string s = "[";
  for (std::size_t k = 0; k < items.size(); ++k) s += (k ? ", " : "") + toml_quoted(items[k]);
  return s + "]";
}

// The unit model.norm's list has one kind per.
const char* granularity(const std::string& family) {
  if (family == "transformer") return "block (one flagged site makes its whole block layernorm)";
  if (family == "gru") return "GRU layer (one flagged site makes the layer layernorm)";
  return "hidden layer";
}

// A string model.norm_options every recommended kind takes is kept; when a kind refuses it
// (pcnorm's learn_lambda for rmsnorm), it becomes a table for the kinds that take it (a table may
// only name kinds the model has), and the empty string when none does.
void keep_norm_options(io::Config& c, RecenteringReport& r) {
  if (c.is_table("model.norm_options")) return;
  const std::string text = c.string("model.norm_options");
  std::vector<std::string> taken, refused;
  for (const auto& kind : std::set<std::string>(r.kinds.begin(), r.kinds.end())) {
    try {
      norm::make_normalizer(kind, norm::parse_options(text));
      taken.push_back(kind + " = \"" + text + "\"");
    } catch (const Error&) {
      refused.push_back(kind);
    }
  }
  if (refused.empty()) return;
  c.set(taken.empty() ? std::string("model.norm_options=\"\"")
                      : "model.norm_options={" + join(taken, ", ") + "}");
  r.notes.push_back("model.norm_options \"" + text + "\" does not apply to " + join(refused, ", ") +
                    (taken.empty() ? ": dropped" : ": kept for the other kinds as a table"));
}

}  // namespace

void print_recentering(std::ostream& out, const RecenteringReport& r) {
  out << r.run << " (" << r.family << "): re-centering predicted per normalizer site\n"
      << "rule: recenter when mean_leak >= " << g3(r.rule.min_mean_leak) << " or scale_cv >= "
      << g3(r.rule.min_scale_cv) << " or offset_ratio (eps " << g3(r.epsilon) << ") >= " << g3(r.rule.min_offset_ratio)
      << "\n\n";
  std::size_t w = 4;
  for (const auto& s : r.sites) w = std::max(w, s.site.size());
  out << std::left << std::setw(int(w)) << "site" << "  " << std::setw(13) << "role"
      << std::right << std::setw(6) << "depth" << std::setw(14) << "in_mean_share"
      << std::setw(12) << "mean_jitter" << std::setw(9) << "scale_cv" << std::setw(10)
      << "mean_leak" << std::setw(16)
      << "grad_ones_share" << std::setw(14) << "ones_response" << std::setw(20) << "ones_response_plain"
      << std::setw(13) << "offset_ratio" << "  " << std::left << std::setw(9) << "verdict"
      << "  reason\n";
  for (const auto& s : r.sites) {
    out << std::left << std::setw(int(w)) << s.site << "  " << std::setw(13) << s.role
        << std::right << std::setw(6) << g3(s.depth) << std::setw(14) << g3(s.in_mean_share)
        << std::setw(12) << g3(s.mean_jitter) << std::setw(9) << g3(s.scale_cv) << std::setw(10)
        << g3(s.mean_leak) << std::setw(16)
        << g3(s.grad_ones_share) << std::setw(14) << g3(s.ones_response) << std::setw(20) << g3(s.ones_response_plain)
        << std::setw(13) << g3(s.offset_ratio) << "  " << std::left << std::setw(9)
        << (s.recenter ? "recenter" : "gain-only") << "  " << s.reason << "\n";
  }
  out << std::right << "\nrecommended model.norm = " << quoted_list(r.kinds) << " (one kind per "
      << granularity(r.family) << ")\n";
  for (const auto& n : r.notes) out << "note: " << n << "\n";
}

std::string recentering_csv(const RecenteringReport& r) {
  std::string text = csv_record({"site", "role", "layer", "depth", "features", "in_mean_share",
                                 "mean_jitter", "scale_cv", "mean_leak", "grad_ones_share",
                                 "ones_response", "ones_response_plain", "ones_baseline",
                                 "offset_ratio", "verdict", "readers"});
  const auto full = format_double_or_blank;
  for (const auto& s : r.sites) {
    text += csv_record({s.site, s.role, std::to_string(s.layer), full(s.depth),
                        std::to_string(s.features), full(s.in_mean_share), full(s.mean_jitter),
                        full(s.scale_cv), full(s.mean_leak), full(s.grad_ones_share),
                        full(s.ones_response), full(s.ones_response_plain), full(s.ones_baseline),
                        full(s.offset_ratio), s.recenter ? "recenter" : "gain-only", s.readers});
  }
  return text;
}

std::string recommended_config(const LoadedRun& run, RecenteringReport& r) {
  io::Config c = run.config;
  c.set("model.norm=" + quoted_list(r.kinds));
  keep_norm_options(c, r);
  if (const std::string name = c.string("name"); !name.empty()) {  // not the run's own file name
    c.set("name=" + toml_quoted(name + "-recentered"));
    r.notes.push_back("name \"" + name + "\" became \"" + name + "-recentered\"");
  }
  if (r.family == "transformer") {
    for (std::string_view role : models::kSiteRoles) {  // model.norm_attn, ...: the role overrides
      const std::string k = "model.norm_" + std::string(role), v = c.string(k);
      if (!v.empty()) r.notes.push_back(k + " = \"" + v + "\" kept: it overrides model.norm at its sites");
    }
  }
  std::string header = "# normlab analyze recentering: the mixed stack recommended for " + r.run +
                       "\n# (its config with model.norm one kind per " + granularity(r.family) +
                       ")\n";
  for (const auto& s : r.sites) {
    header += "#   " + s.site + ": " + (s.recenter ? "recenter" : "gain-only") + " (" + s.reason + ")\n";
  }
  return header + "\n" + c.to_toml();
}

}  // namespace normlab::analysis
