#include "numerics/study.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <map>
#include <random>
#include <sstream>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/strings.hpp"
#include "core/timer.hpp"
#include "norm/registry.hpp"
#include "numerics/conditioning.hpp"
#include "norm/emulated_kernels.hpp"

namespace normlab::tools {

using fp::Format;
using norm::Precision;

std::string to_string(Family f) {
  switch (f) {
    case Family::normal: return "normal";
    case Family::offset: return "offset";
    case Family::tiny: return "tiny";
    case Family::huge: return "huge";
    case Family::heavy_tails: return "heavy_tails";
    case Family::sparse: return "sparse";
  }
  return "?";
}

namespace {

// The input families (docs/NUMERICS.md): what each provokes.
constexpr double kTinyScale = 1e-3;  // var 1e-6: comparable to the eps defaults 1e-5 and 1e-6
constexpr double kHugeScale = 1e3;   // x^2 up to ~1e7: beyond float16's 65504 from |x| > 256
constexpr double kHeavyTailsDof = 3;  // Student's t with 3 degrees of freedom: finite variance only
constexpr double kSparseDensity = 0.1;

// Fills x (B, D) with rows of the family; every sparse row has at least one nonzero.
void draw_rows(std::vector<double>& x, Family family, double offset_ratio, std::size_t B,
               std::size_t D, Rng& rng) {
  std::normal_distribution<double> normal(0, 1);
  std::student_t_distribution<double> heavy(kHeavyTailsDof);
  std::uniform_real_distribution<double> unit(0, 1);
  for (std::size_t i = 0; i < B; ++i) {
    double* row = x.data() + i * D;
    bool any = false;
    for (std::size_t j = 0; j < D; ++j) {
      switch (family) {
        case Family::normal: row[j] = normal(rng); break;
        case Family::offset: row[j] = offset_ratio + normal(rng); break;
        case Family::tiny: row[j] = kTinyScale * normal(rng); break;
        case Family::huge: row[j] = kHugeScale * normal(rng); break;
        case Family::heavy_tails: row[j] = heavy(rng); break;
        case Family::sparse: row[j] = unit(rng) < kSparseDensity ? normal(rng) : 0.0; break;
      }
      any = any || row[j] != 0;
    }
    if (!any) row[std::uniform_int_distribution<std::size_t>(0, D - 1)(rng)] = 1 + normal(rng);
  }
}

// The same family, ratio and D draw the same rows in every variant and precision: paired cases.
std::uint64_t case_seed(std::uint64_t seed, Family family, double ratio, std::size_t D) {
  std::seed_seq seq{std::uint64_t(seed), std::uint64_t(family), std::uint64_t(ratio),
                    std::uint64_t(D)};
  std::uint32_t parts[2];
  seq.generate(parts, parts + 2);
  return (std::uint64_t(parts[0]) << 32) | parts[1];
}

// The library's own float32 normalizer (registry), on float copies of the stored inputs.
void run_library_float32(std::vector<double>& y, std::vector<double>& dx, const CaseSpec& s,
                         const std::vector<double>& x, const std::vector<double>& dy) {
  auto n = norm::make_normalizer(s.config);
  const auto specs = n->param_specs(s.D);
  std::vector<float> xf(x.begin(), x.end()), dyf(dy.begin(), dy.end()), yf(x.size()),
      dxf(x.size()), params = norm::initial_params<float>(specs), grads(params.size(), 0.0f);
  auto p = norm::bind_params<const float>(specs, std::span<const float>(params));
  norm::NormCache cache;
  n->forward(std::span<float>(yf), cache, std::span<const float>(xf), p, s.B, s.D);
  n->backward(std::span<float>(dxf), norm::bind_params<float>(specs, std::span<float>(grads)),
              cache, std::span<const float>(dyf), std::span<const float>(xf), p, s.B, s.D);
  y.assign(yf.begin(), yf.end());
  dx.assign(dxf.begin(), dxf.end());
}

// max over rows of max_j |a - b| / max_j |b|: the relative change of y from b to a.
double max_row_change(const std::vector<double>& a, const std::vector<double>& b, std::size_t B,
                      std::size_t D) {
  double worst = 0;
  for (std::size_t i = 0; i < B; ++i) {
    double num = 0, den = 0;
    for (std::size_t j = i * D; j < (i + 1) * D; ++j) {
      num = std::max(num, std::abs(a[j] - b[j]));
      den = std::max(den, std::abs(b[j]));
    }
    worst = std::max(worst, den > 0 ? num / den : num);
  }
  return worst;
}

}  // namespace

ErrorStats error_stats(const std::vector<double>& a, const std::vector<double>& r, std::size_t B,
                       std::size_t D, Format storage) {
  ErrorStats e;
  std::vector<double> rows(B);
  for (std::size_t i = 0; i < B; ++i) {
    double num = 0, den = 0;
    bool finite = true;
    for (std::size_t j = i * D; j < (i + 1) * D; ++j) {
      if (!std::isfinite(a[j]) || !std::isfinite(r[j])) {
        finite = false;
        e.nonfinite += !std::isfinite(a[j]);
        continue;
      }
      const double err = std::abs(a[j] - r[j]);
      num = std::max(num, err);
      den = std::max(den, std::abs(r[j]));
      e.max_ulp = std::max(e.max_ulp, err / fp::ulp(r[j], storage));
    }
    rows[i] = !finite ? INFINITY : den > 0 ? num / den : num;
    if (!finite) e.max_ulp = INFINITY;
  }
  e.max_rel = rows.empty() ? 0 : *std::max_element(rows.begin(), rows.end());
  e.median_rel = rows.empty() ? 0 : median(rows);
  return e;
}

CaseResult evaluate_case(const CaseSpec& s, std::uint64_t seed) {
  const std::size_t B = s.B, D = s.D;
  Rng rng(case_seed(seed, s.family, s.offset_ratio, D));
  std::vector<double> x(B * D), dy(B * D);
  draw_rows(x, s.family, s.offset_ratio, B, D, rng);
  fill_normal(std::span<double>(dy), rng);
  CaseResult result{s, {}, {}, 0};
  // The stored inputs: what every implementation and the reference see.
  for (double& v : x) v = fp::round_to(v, s.precision.storage);
  for (double& v : dy) v = fp::round_to(v, s.precision.storage);

  const norm::EmulatedNorm n = norm::emulated_norm(s.config, D);
  auto specs = norm::make_normalizer(s.config)->param_specs(D);
  std::vector<double> gain, bias;
  for (const auto& spec : specs) (spec.name == "gain" ? gain : bias).assign(spec.size, spec.init);
  const norm::BatchInput in{x.data(), dy.data(), gain.empty() ? nullptr : gain.data(),
                                bias.empty() ? nullptr : bias.data()};

  std::vector<double> y_ref(B * D), dx_ref(B * D), y(B * D), dx(B * D);
  norm::reference_batch({y_ref.data(), dx_ref.data(), nullptr}, in, n, B, D);
  if (s.implementation == "normlab") {
    run_library_float32(y, dx, s, x, dy);
  } else {
    norm::emulated_batch({y.data(), dx.data(), nullptr}, in, n, s.precision, B, D);
  }
  result.y = error_stats(y, y_ref, B, D, s.precision.storage);
  result.dx = error_stats(dx, dx_ref, B, D, s.precision.storage);
  if (n.rescale) {  // how far eps moves the exact output from the eps-free one
    norm::EmulatedNorm eps_free = n;
    eps_free.eps = 0;
    std::vector<double> y0(B * D);
    norm::BatchInput forward_only = in;
    forward_only.dy = nullptr;
    norm::reference_batch({y0.data(), nullptr, nullptr}, forward_only, eps_free, B, D);
    result.eps_bias = max_row_change(y_ref, y0, B, D);
  }
  return result;
}

// ---- the grid ----

namespace {

const std::vector<std::size_t> kDefaultDims = {8, 64, 512, 4096, 16384};
const std::vector<std::size_t> kQuickDims = {8, 64, 512};
const std::vector<std::string> kDefaultNorms = {"rmsnorm", "layernorm",  "scalenorm", "prmsnorm",
                                                "l2norm",  "pcnorm",     "centernorm"};
constexpr std::size_t kMaxDim = 1 << 20;

struct Implementation {
  std::string name;
  Precision precision;
};
const std::vector<Implementation>& implementations() {
  static const std::vector<Implementation> list = {
      {"normlab", {Format::float32, Format::float64}},
      {"emulated", {Format::float32, Format::float32}},
      {"emulated", {Format::bfloat16, Format::float32}},
      {"emulated", {Format::bfloat16, Format::bfloat16}},
      {"emulated", {Format::float16, Format::float32}},
      {"emulated", {Format::float16, Format::float16}},
  };
  return list;
}

std::size_t rows_for(std::size_t D, bool quick) {
  const std::size_t budget = quick ? 2048 : 32768;  // elements per case
  return std::clamp<std::size_t>(budget / D, quick ? 2 : 4, quick ? 16 : 64);
}

}  // namespace

const std::vector<FamilyPoint>& input_families() {
  static const std::vector<FamilyPoint> list = {
      {Family::normal, 0},   {Family::offset, 1e2}, {Family::offset, 1e4},
      {Family::offset, 1e6}, {Family::tiny, 0},     {Family::huge, 0},
      {Family::heavy_tails, 0}, {Family::sparse, 0}};
  return list;
}

std::vector<CaseSpec> numerics_grid(const NumericsOptions& o) {
  const auto& dims = o.dims.empty() ? (o.quick ? kQuickDims : kDefaultDims) : o.dims;
  const auto& norms = o.norms.empty() ? kDefaultNorms : o.norms;
  for (std::size_t D : dims) {
    if (D == 0 || D > kMaxDim) fail("--dims: D = ", D, " is out of range [1, ", kMaxDim, "]");
  }
  for (const auto& k : norms) norm::kind_info(k);  // throws naming an unknown kind
  std::vector<CaseSpec> grid;
  auto add = [&](const norm::NormConfig& c, const std::string& variant, const Implementation& im) {
    for (const auto& fp : input_families()) {
      for (std::size_t D : dims) {
        grid.push_back({c, variant, im.name, im.precision, fp.family, fp.ratio, D,
                        rows_for(D, o.quick)});
      }
    }
  };
  for (const auto& kind : norms) {  // every variant at the kind's default eps, every precision
    std::vector<std::pair<std::string, norm::NormOptions>> variants = {{"default", {}}};
    if (kind == "layernorm") {
      variants = {{"two_pass", {{"variance", "two_pass"}}},
                  {"one_pass", {{"variance", "one_pass"}}},
                  {"welford", {{"variance", "welford"}}}};
    }
    for (const auto& [variant, options] : variants) {
      for (const auto& im : implementations()) add(norm::resolve(kind, options), variant, im);
    }
  }
  for (const auto& kind : norms) {  // eps values and placements, float32 emulated
    if (kind != "rmsnorm" && kind != "layernorm") continue;
    const norm::NormConfig defaults = norm::resolve(kind, {});
    for (const char* eps : {"1e-08", "1e-06", "1e-05"}) {
      for (const char* mode : {"inside", "outside", "clamp"}) {
        norm::NormConfig c = norm::resolve(kind, {{"eps", eps}, {"eps_mode", mode}});
        if (c.eps == defaults.eps && c.eps_mode == defaults.eps_mode) continue;
        add(c, kind == "layernorm" ? "two_pass" : "default", implementations()[1]);
      }
    }
  }
  return grid;
}

// ---- conditioning and gradient scaling ----

namespace {

constexpr double kRankThreshold = 1e-12;  // singular values below this times sigma_max count as 0

// A row with the given RMS and mean/std ratio: standardized normal draws, shifted and scaled.
std::vector<double> row_with(double rms, double mean_ratio, std::size_t D, Rng& rng) {
  std::vector<double> u(D);
  fill_normal(std::span<double>(u), rng);
  double m = 0, v = 0;
  for (double a : u) m += a / double(D);
  for (double& a : u) a -= m, v += a * a / double(D);
  const double s = rms / std::sqrt(mean_ratio * mean_ratio + 1);
  for (double& a : u) a = s * (mean_ratio + a / std::sqrt(v));
  return u;
}

ConditioningRow conditioning_row(const std::string& kind, std::size_t D, double rms,
                                 double mean_ratio, Rng& rng) {
  const norm::NormConfig config = norm::resolve(kind, {});
  auto n = norm::make_normalizer(config);
  const std::vector<double> x = row_with(rms, mean_ratio, D, rng);
  const auto s = numerics::singular_values(
      numerics::jacobian(*n, x, norm::initial_params<double>(n->param_specs(D))), D);
  ConditioningRow r;
  r.kind = kind, r.D = D, r.rms = rms, r.eps = config.eps;
  r.std = rms / std::sqrt(mean_ratio * mean_ratio + 1), r.mean = mean_ratio * r.std;
  auto smallest_nonzero = [](const std::vector<double>& v) {
    double last = v.front();
    for (double a : v) if (a > kRankThreshold * v.front()) last = a;
    return last;
  };
  r.sigma_max = s.front();
  r.sigma_min = smallest_nonzero(s);
  for (double a : s) r.rank += a > kRankThreshold * s.front();
  const auto closed = numerics::closed_form_singular_values(config, x);
  r.closed_sigma_max = r.closed_sigma_min = r.closed_max_error = NAN;
  if (!closed.empty()) {
    r.closed_sigma_max = closed.front();
    r.closed_sigma_min = smallest_nonzero(closed);
    r.closed_max_error = 0;
    for (std::size_t i = 0; i < D; ++i)
      r.closed_max_error = std::max(r.closed_max_error, std::abs(s[i] - closed[i]) / s.front());
  }
  return r;
}

std::vector<ScalingRow> gradient_scaling(std::uint64_t seed) {
  constexpr std::size_t B = 16, D = 32, H = 64;
  Rng rng(seed + 7);
  std::vector<double> W(H * D), X(B * D), dy(B * H);
  fill_normal(std::span<double>(W), rng, 0, 1 / std::sqrt(double(D)));
  fill_normal(std::span<double>(X), rng);
  fill_normal(std::span<double>(dy), rng);
  const double eps = norm::resolve("rmsnorm", {}).eps;
  const double base = numerics::rmsnorm_weight_gradient_norm(1, W, X, dy, eps, B, D, H);
  std::vector<ScalingRow> rows;
  for (double delta : {1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2}) {
    double g = numerics::rmsnorm_weight_gradient_norm(delta, W, X, dy, eps, B, D, H);
    rows.push_back({delta, g, delta * g / base});
  }
  return rows;
}

}  // namespace

NumericsReport run_numerics(const NumericsOptions& o) {
  NumericsReport report;
  for (const auto& spec : numerics_grid(o)) report.cases.push_back(evaluate_case(spec, o.seed));
  Rng rng(o.seed + 3);
  const auto& norms = o.norms.empty() ? kDefaultNorms : o.norms;
  for (const char* kind : {"rmsnorm", "layernorm", "l2norm", "scalenorm", "pcnorm", "prmsnorm"}) {
    if (std::find(norms.begin(), norms.end(), kind) == norms.end()) continue;
    for (std::size_t D : o.quick ? std::vector<std::size_t>{8, 16} : std::vector<std::size_t>{8, 64})
      for (double rms : {1e-3, 1e-1, 1.0, 1e2})
        for (double ratio : {0.0, 10.0})
          report.conditioning.push_back(conditioning_row(kind, D, rms, ratio, rng));
  }
  report.scaling = gradient_scaling(o.seed);
  return report;
}

}  // namespace normlab::tools
