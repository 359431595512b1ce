#include "analysis/recentering.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "analysis/sensitivity.hpp"
#include "core/error.hpp"
#include "core/random.hpp"
#include "models/placement.hpp"
#include "models/site_options.hpp"

namespace normlab::analysis {

namespace {

// Power iteration stops when the residual is below this share of rho (see spectral_norm).
constexpr double kPowerTolerance = 1e-9;
constexpr std::size_t kPowerMaxIterations = 100000;
constexpr std::uint64_t kPowerSeed = 0x5eed;

double norm2(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

// y (out) = A (out, D) x (D), in double.
void matvec(std::vector<double>& y, const double* A, const std::vector<double>& x, std::size_t out,
            std::size_t D) {
  for (std::size_t o = 0; o < out; ++o) {
    double s = 0;
    for (std::size_t i = 0; i < D; ++i) s += A[o * D + i] * x[i];
    y[o] = s;
  }
}

// y (D) = A^T (D, out) x (out).
void matvec_t(std::vector<double>& y, const double* A, const std::vector<double>& x,
              std::size_t out, std::size_t D) {
  std::fill(y.begin(), y.end(), 0.0);
  for (std::size_t o = 0; o < out; ++o) {
    for (std::size_t i = 0; i < D; ++i) y[i] += A[o * D + i] * x[o];
  }
}

}  // namespace

double spectral_norm(const double* A, std::size_t out, std::size_t D) {
  double frobenius = 0;
  for (std::size_t k = 0; k < out * D; ++k) frobenius += A[k] * A[k];
  if (frobenius == 0) return 0;
  Rng rng(kPowerSeed);
  std::vector<double> v(D), Av(out), w(D);
  fill_normal(std::span<double>(v), rng, 0.0, 1.0);
  for (std::size_t it = 0; it < kPowerMaxIterations; ++it) {
    const double n = norm2(v);
    for (double& x : v) x /= n;
    matvec(Av, A, v, out, D);
    matvec_t(w, A, Av, out, D);  // w = A^T A v
    double rho = 0, residual = 0;
    for (std::size_t i = 0; i < D; ++i) rho += v[i] * w[i];
    for (std::size_t i = 0; i < D; ++i) residual += (w[i] - rho * v[i]) * (w[i] - rho * v[i]);
    if (std::sqrt(residual) <= kPowerTolerance * rho) return std::sqrt(rho);
    v = w;
  }
  fail("spectral_norm: power iteration on a (", out, ", ", D, ") matrix did not converge in ",
       kPowerMaxIterations, " iterations");
}

double ones_response(const double* W, std::size_t out, std::size_t D, const std::vector<double>& g) {
  if (g.size() != D) fail("ones_response: a gain of ", g.size(), " features for a map reading ", D);
  std::vector<double> scaled(out * D);  // W diag(g)
  for (std::size_t o = 0; o < out; ++o) {
    for (std::size_t i = 0; i < D; ++i) scaled[o * D + i] = W[o * D + i] * g[i];
  }
  const double sigma = spectral_norm(scaled.data(), out, D);
  if (sigma == 0) return 0;
  std::vector<double> Wg(out), ones(D, 1.0);
  matvec(Wg, scaled.data(), ones, out, D);
  return norm2(Wg) / (sigma * std::sqrt(double(D)));
}

double random_ones_response(std::size_t out, std::size_t D) {
  const double a = std::sqrt(double(out)), b = std::sqrt(double(D));
  return a / (a + b);
}

void RowStatistics::forward(const double* x, const double*, std::size_t rows, std::size_t D) {
  std::vector<double> mean_part, scale_part;  // this call's rows
  mean_part.reserve(rows);
  scale_part.reserve(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    const double* row = x + r * D;
    double sum = 0, sq = 0;
    for (std::size_t i = 0; i < D; ++i) {
      sum += row[i];
      sq += row[i] * row[i];
    }
    if (sq == 0) continue;  // a zero row has no mean share
    const double m_over_q = (sum / double(D)) / std::sqrt(sq / double(D));
    mean_part.push_back(m_over_q);
    scale_part.push_back(std::sqrt(std::max(0.0, 1 - m_over_q * m_over_q)));
  }
  mean_.add(mean_part.data(), mean_part.size());
  scale_.add(scale_part.data(), scale_part.size());
}

void RowStatistics::backward(const double*, const double* dy, std::size_t rows, std::size_t D) {
  if (dy == nullptr) return;
  for (std::size_t r = 0; r < rows; ++r) {
    double sum = 0, sq = 0;
    for (std::size_t i = 0; i < D; ++i) {
      sum += dy[r * D + i];
      sq += dy[r * D + i] * dy[r * D + i];
    }
    grad_ones_ += sum * sum;
    grad_all_ += double(D) * sq;
  }
}

double RowStatistics::mean_jitter() const { return mean_.sd(); }
double RowStatistics::scale_mean() const { return scale_.n > 0 ? scale_.mean : NAN; }
double RowStatistics::scale_cv() const {
  const double m = scale_mean();
  return m > 0 ? scale_.sd() / m : NAN;
}
double RowStatistics::grad_ones_share() const { return grad_all_ > 0 ? grad_ones_ / grad_all_ : NAN; }

namespace {

// The maps reading a site's output: parameter names (those the store has), or `identity` (the
// output is read element-wise), or neither with `why`.
struct Readers {
  std::vector<std::string> maps;
  bool identity = false;
  std::string why;
};

// The Linear maps that read the stream a post-norm (or deepnorm) block `l` leaves.
Readers stream_readers(const std::vector<models::Placement>& p, std::size_t l) {
  if (l + 1 == p.size()) return {{"head.weight", "embed.weight"}, false, ""};
  if (models::norm_before(p[l + 1]) || p[l + 1] == models::Placement::reordered) {
    return {{}, false, "the next block normalizes it again before any Linear"};
  }
  return {{"block" + std::to_string(l + 1) + ".attn.qkv.weight"}, false, ""};
}

Readers transformer_readers(const LoadedRun& run, const nn::Probe<double>& probe) {
  const std::string& name = probe.name;
  const std::size_t L = std::size_t(run.config.integer("model.depth"));
  const auto p = models::parse_placements(run.config.strings("model.placement"), L);
  const std::string block = "block" + std::to_string(probe.layer);
  if (name == "norm_final") return {{"head.weight", "embed.weight"}, false, ""};  // tied: embed
  if (name == "norm_embed") return {{}, false, "n/a: the embedding norm feeds the residual stream"};
  if (name.ends_with(".norm_q") || name.ends_with(".norm_k")) {
    return {{}, false, "n/a: QK-norm output is read by the scores q.k, not a Linear"};
  }
  if (name.ends_with(".norm_v")) return {{}, false, "n/a: V-norm output is averaged by attention first"};
  if (name.ends_with(".norm_out")) return {{}, false, "n/a: the output norm feeds the residual sum"};
  const std::size_t l = std::min<std::size_t>(probe.layer, p.size() - 1);
  const bool before = models::norm_before(p[l]);
  if (name.ends_with(".attn.norm")) {
    if (before) return {{block + ".attn.qkv.weight"}, false, ""};
    return {{block + ".mlp.fc.weight", block + ".mlp.gate.weight"}, false, ""};
  }
  if (name.ends_with(".mlp.norm")) {
    if (before) return {{block + ".mlp.fc.weight", block + ".mlp.gate.weight"}, false, ""};
    return stream_readers(p, l);
  }
  return {{}, false, "n/a: no rule for this site"};
}

Readers readers_of(const LoadedRun& run, const nn::Probe<double>& probe) {
  const std::string family = run.config.string("model.family");
  if (family == "mlp") {
    const std::size_t L = std::size_t(run.config.integer("model.depth"));
    if (probe.layer + 1 < L) return {{"layer" + std::to_string(probe.layer + 1) + ".weight"}, false, ""};
    return {{"head.weight"}, false, ""};
  }
  if (family == "gru") return {{}, true, ""};  // the gates read the normalized projection
  if (family == "transformer") return transformer_readers(run, probe);
  return {{}, false, "n/a: family " + family + " has no rule"};
}

// The gain the normalizer applies, per feature: its stored gain plus the Form's offset (a scalar
// gain broadcast), 1 without one.
std::vector<double> applied_gain(LoadedRun& run, const nn::Probe<double>& probe) {
  std::vector<double> g(probe.features, 1.0);
  if (probe.gain.size == 0) return g;
  const auto stored = run.work->params().value(probe.gain);
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = stored[i % stored.size()] + probe.gain_offset;
  return g;
}

// Fills ones_response, ones_response_plain, ones_baseline and readers of site s.
void measure_ones(LoadedRun& run, const nn::Probe<double>& probe, SiteRecentering& s) {
  s.ones_response = s.ones_response_plain = s.ones_baseline = NAN;
  const Readers readers = readers_of(run, probe);
  const std::vector<double> g = applied_gain(run, probe), ones(probe.features, 1.0);
  const std::size_t D = probe.features;
  if (readers.identity) {  // W = I: r = ||g|| / (max |g| sqrt(D))
    double max_g = 0;
    for (double v : g) max_g = std::max(max_g, std::abs(v));
    s.ones_response = max_g == 0 ? 0 : norm2(g) / (max_g * std::sqrt(double(D)));
    s.ones_response_plain = 1;
    s.ones_baseline = random_ones_response(D, D);
    s.readers = "identity (the gates read it element-wise)";
    return;
  }
  const auto& store = run.work->params();
  std::vector<std::string> used;
  for (const auto& name : readers.maps) {
    const nn::ParamInfo* info = store.find(name);
    if (info == nullptr || info->shape.size() != 2 || info->shape[1] != D) continue;
    const double* W = store.values().data() + info->offset;
    const std::size_t out = info->shape[0];
    const double r = ones_response(W, out, D, g), plain = ones_response(W, out, D, ones);
    if (used.empty() || r > s.ones_response) {
      s.ones_response = r;
      s.ones_baseline = random_ones_response(out, D);
    }
    s.ones_response_plain = used.empty() ? plain : std::max(s.ones_response_plain, plain);
    used.push_back(name);
    if (name == "head.weight") break;  // untied: the embedding is not the head
  }
  s.readers = used.empty() ? (readers.why.empty() ? "n/a: no Linear found" : readers.why) : "";
  for (std::size_t k = 0; k < used.size(); ++k) s.readers += (k ? "," : "") + used[k];
}

// Fills mean_jitter, scale_cv, mean_leak (ones_response measured first) and grad_ones_share of
// every site from one forward and backward over the held-out batches.
void measure_rows(LoadedRun& run, const std::vector<std::size_t>& probe_of_site,
                  std::vector<SiteRecentering>& sites) {
  std::vector<RowStatistics> observers(sites.size());
  for (std::size_t k = 0; k < sites.size(); ++k) run.probes[probe_of_site[k]]->observer = &observers[k];
  held_out_loss(run, /*backward=*/true);
  for (std::size_t k = 0; k < sites.size(); ++k) {
    run.probes[probe_of_site[k]]->observer = nullptr;
    const RowStatistics& o = observers[k];
    SiteRecentering& s = sites[k];
    s.mean_jitter = o.mean_jitter();
    s.scale_cv = o.scale_cv();
    const double scale_mean = o.scale_mean();
    s.mean_leak = scale_mean > 0 ? s.ones_response * s.mean_jitter / scale_mean : NAN;
    s.grad_ones_share = o.grad_ones_share();
  }
}

// The site's role by its name; a post-norm (deepnorm) block's norms normalize the sum, not a
// sublayer's input.
std::string role_of(const LoadedRun& run, const std::string& family, const nn::Probe<double>& probe) {
  const std::string& name = probe.name;
  if (family == "mlp") return "hidden";
  if (family == "gru") return name.find("norm_ih") != std::string::npos ? "gru-input" : "gru-recurrent";
  const std::string_view role = models::site_role(name);
  if (role != "attn" && role != "mlp") return role.empty() ? "?" : std::string(role);
  if (name.ends_with(".norm_out")) return std::string(role) + "-output";
  const std::size_t L = std::size_t(run.config.integer("model.depth"));
  const auto p = models::parse_placements(run.config.strings("model.placement"), L);
  const bool after_sum = models::norm_after_sum(p[std::min<std::size_t>(probe.layer, L - 1)]);
  return std::string(role) + (after_sum ? "-sum" : "-input");
}

}  // namespace

std::string g3(double v) {
  if (std::isnan(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

namespace {

// The verdict and its one-line reason.
void decide(SiteRecentering& s, const RecenterRule& rule) {
  const bool offset = std::isfinite(s.offset_ratio) && s.offset_ratio >= rule.min_offset_ratio;
  const bool leak = std::isfinite(s.mean_leak) && s.mean_leak >= rule.min_mean_leak;
  const bool scale = std::isfinite(s.scale_cv) && s.scale_cv >= rule.min_scale_cv;
  s.recenter = offset || leak || scale;
  const std::string evidence =
      " (mean_jitter " + g3(s.mean_jitter) + ", ones_response " + g3(s.ones_response) + ")";
  if (offset) {
    s.reason = "the loss moves " + g3(s.offset_ratio) + "x more along 1 than along a random direction";
  } else if (leak) {
    s.reason = "the sample-dependent mean RMSNorm would pass reaches " + s.readers + " at " +
               g3(s.mean_leak) + " of the centered signal, >= " + g3(rule.min_mean_leak) + evidence;
  } else if (scale) {
    s.reason = "RMSNorm's scale of the centered signal would vary by " + g3(s.scale_cv) +
               " between samples, >= " + g3(rule.min_scale_cv) + " (in_mean_share " +
               g3(s.in_mean_share) + ")";
  } else if (!std::isfinite(s.scale_cv)) {
    s.reason = "no held-out row reached the site";
  } else {
    s.reason = "scale_cv " + g3(s.scale_cv) + " < " + g3(rule.min_scale_cv) + ", and " +
               (std::isfinite(s.mean_leak)
                    ? s.readers + " would see a sample-dependent mean of only " + g3(s.mean_leak) +
                          " of the centered signal, < " + g3(rule.min_mean_leak) + evidence
                    : "mean_leak n/a: " + s.readers);
  }
}

// |offset effect| / |control effect| per site name at +-epsilon; NaN when both are float64
// rounding of the loss, 0 when only the offset's is.
std::vector<double> offset_ratios(LoadedRun& run, double epsilon, std::uint64_t control_seed) {
  const std::vector<double> grid{-epsilon, epsilon};
  const SensitivityReport sens = measure_sensitivity(run, grid, control_seed);
  const double floor = kRoundingFloor * std::max(1.0, std::abs(sens.base_loss));
  std::vector<double> ratio;
  for (const auto& site : sens.sites) {
    double off = sensitivity_at(grid, site.offset, epsilon);
    double ctl = sensitivity_at(grid, site.control, epsilon);
    off = off < floor ? 0 : off;
    ctl = ctl < floor ? 0 : ctl;
    ratio.push_back(ctl > 0 ? off / ctl : (off > 0 ? INFINITY : NAN));
  }
  return ratio;
}

}  // namespace

RecenteringReport analyze_recentering(LoadedRun& run, const RecenterRule& rule, double epsilon,
                                      std::uint64_t control_seed) {
  if (!(epsilon > 0 && std::isfinite(epsilon))) fail("--epsilon: ", epsilon, " must be positive");
  for (auto [option, value] : {std::pair{"--min-mean-leak", rule.min_mean_leak},
                               {"--min-scale-cv", rule.min_scale_cv},
                               {"--min-offset-ratio", rule.min_offset_ratio}}) {
    if (!(value >= 0 && std::isfinite(value))) fail(option, ": ", value, " must be finite and >= 0");
  }
  RecenteringReport r;
  r.run = run.path;
  r.family = run.config.string("model.family");
  r.epsilon = epsilon;
  r.rule = rule;
  const std::size_t L = std::size_t(run.config.integer("model.depth"));
  const std::vector<double> ratios = offset_ratios(run, epsilon, control_seed);
  r.kinds.assign(L, "rmsnorm");
  std::vector<std::size_t> probe_of_site;
  for (std::size_t k = 0; k < run.probes.size(); ++k) {
    const nn::Probe<double>& probe = *run.probes[k];
    if (probe.kind == "residual") continue;
    SiteRecentering s;
    s.site = probe.name;
    s.kind = probe.kind;
    s.role = role_of(run, r.family, probe);
    s.layer = probe.layer;
    s.depth = double(probe.layer) / double(L);
    s.features = probe.features;
    s.in_mean_share = run.recorded_mean_share[k];
    measure_ones(run, probe, s);
    s.offset_ratio = ratios[k];
    r.sites.push_back(std::move(s));
    probe_of_site.push_back(k);
  }
  if (r.sites.empty()) fail(run.path, ": the model has no normalizer site");
  measure_rows(run, probe_of_site, r.sites);
  for (auto& s : r.sites) {
    decide(s, rule);
    if (s.recenter) r.kinds[std::min(s.layer, L - 1)] = "layernorm";
  }
  return r;
}

}  // namespace normlab::analysis
