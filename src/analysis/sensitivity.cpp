#include "analysis/sensitivity.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/strings.hpp"
#include "io/hdf5.hpp"
#include "io/hdf5_guard.hpp"

namespace normlab::analysis {

std::vector<double> default_epsilons() {
  return {-0.2, -0.1, -0.05, -1e-2, -1e-3, 1e-3, 1e-2, 0.05, 0.1, 0.2};
}

template <class T>
void perturb_row(T* x_r, Direction direction, double eps, const std::vector<double>& u,
                 std::size_t D) {
  const double rms = row_rms(x_r, D);  // of the unperturbed row
  switch (direction) {
    case Direction::gain:
      for (std::size_t i = 0; i < D; ++i) x_r[i] = T(double(x_r[i]) * (1 + eps));
      break;
    case Direction::offset:
      for (std::size_t i = 0; i < D; ++i) x_r[i] = T(double(x_r[i]) + eps * rms);
      break;
    case Direction::control: {
      const double scale = eps * std::sqrt(double(D)) * rms;
      for (std::size_t i = 0; i < D; ++i) x_r[i] = T(double(x_r[i]) + scale * u[i]);
      break;
    }
  }
}
template void perturb_row(float*, Direction, double, const std::vector<double>&, std::size_t);
template void perturb_row(double*, Direction, double, const std::vector<double>&, std::size_t);

namespace {

class DirectionPerturbation final : public nn::Perturbation<double> {
 public:
  DirectionPerturbation(Direction d, double eps, const std::vector<double>& u)
      : d_(d), eps_(eps), u_(u) {}
  void apply(double* x, std::size_t rows, std::size_t D) override {  // x (rows, D)
    for (std::size_t r = 0; r < rows; ++r) perturb_row(x + r * D, d_, eps_, u_, D);
  }

 private:
  Direction d_;
  double eps_;
  const std::vector<double>& u_;
};

// Keeps each call's input in forward; in backward sums <dx_r, v(x_r)> per direction over the rows
// of the call (the probe says which call; a GRU's backward runs its calls in reverse).
class FirstOrderObserver final : public nn::Observer<double> {
 public:
  FirstOrderObserver(const nn::Probe<double>& probe, const std::vector<double>& u)
      : probe_(probe), u_(u) {}
  void forward(const double* x, const double*, std::size_t rows, std::size_t D) override {
    if (inputs_.size() <= probe_.call) inputs_.resize(probe_.call + 1);
    inputs_[probe_.call].assign(x, x + rows * D);
  }
  void backward(const double* dx, const double*, std::size_t rows, std::size_t D) override {
    const std::vector<double>& x = inputs_.at(probe_.call);  // (rows, D)
    if (x.size() != rows * D) fail("internal: first-order pairing at ", probe_.name);
    for (std::size_t r = 0; r < rows; ++r) {
      const double* xr = x.data() + r * D;
      const double* gr = dx + r * D;
      const double rms = row_rms(xr, D);
      double dot_x = 0, sum = 0, dot_u = 0;
      for (std::size_t i = 0; i < D; ++i) {
        dot_x += gr[i] * xr[i];
        sum += gr[i];
        dot_u += gr[i] * u_[i];
      }
      gain += dot_x;
      offset += rms * sum;
      control += std::sqrt(double(D)) * rms * dot_u;
    }
  }
  double gain = 0, offset = 0, control = 0;  // of the current batch

 private:
  const nn::Probe<double>& probe_;
  const std::vector<double>& u_;
  std::vector<std::vector<double>> inputs_;  // per call: (rows, D)
};

std::size_t index_of(const std::vector<double>& epsilons, double eps) {
  for (std::size_t i = 0; i < epsilons.size(); ++i) {
    if (std::abs(epsilons[i] - eps) <= 1e-12 * std::abs(eps)) return i;
  }
  return epsilons.size();
}

std::string g3(double v) {
  if (std::isnan(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

namespace {

// The indices of the sites to measure: every site, or the one named `only_site`.
std::vector<std::size_t> chosen_sites(const LoadedRun& run, const std::string& only_site) {
  std::vector<std::size_t> chosen;
  std::vector<std::string> names;
  for (std::size_t s = 0; s < run.probes.size(); ++s) {
    names.push_back(run.probes[s]->name);
    if (only_site.empty() || run.probes[s]->name == only_site) chosen.push_back(s);
  }
  if (chosen.empty()) {
    fail(run.path, ": no site '", only_site, "'", did_you_mean(only_site, names), "; sites: ",
         join(names, ", "));
  }
  return chosen;
}

// One random unit direction per site (drawn for every site, so a site's does not depend on
// which others are measured).
std::vector<std::vector<double>> control_directions(const LoadedRun& run, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<double>> u(run.probes.size());
  for (std::size_t s = 0; s < u.size(); ++s) {
    u[s].resize(run.probes[s]->features);
    fill_normal(std::span<double>(u[s]), rng, 0.0, 1.0);
    double norm = 0;
    for (double v : u[s]) norm += v * v;
    for (double& v : u[s]) v /= std::sqrt(norm);
  }
  return u;
}

// First order: one backward per held-out batch, weighted as the loss is. Per chosen site k, the
// gain, offset and control derivatives at 3k, 3k + 1, 3k + 2.
std::vector<double> first_order(LoadedRun& run, const std::vector<std::size_t>& chosen,
                                const std::vector<std::vector<double>>& u) {
  std::vector<FirstOrderObserver> observers;
  observers.reserve(chosen.size());
  for (std::size_t s : chosen) observers.emplace_back(*run.probes[s], u[s]);
  for (std::size_t k = 0; k < chosen.size(); ++k) run.probes[chosen[k]]->observer = &observers[k];
  std::vector<double> first(3 * chosen.size(), 0.0);
  double weight = 0;
  run.work->params().zero_grads();
  for (std::size_t b = 0; b < run.batches; ++b) {
    for (auto& o : observers) o.gain = o.offset = o.control = 0;
    const double w = run.work->validation_batch(b, /*backward=*/true).second;
    for (std::size_t k = 0; k < chosen.size(); ++k) {
      first[3 * k] += w * observers[k].gain;
      first[3 * k + 1] += w * observers[k].offset;
      first[3 * k + 2] += w * observers[k].control;
    }
    weight += w;
  }
  for (std::size_t s : chosen) run.probes[s]->observer = nullptr;
  for (double& f : first) f /= weight;
  return first;
}

// Site s perturbed in each direction at each eps: the loss change from `base_loss`.
SiteSensitivity measure_site(LoadedRun& run, std::size_t s, const std::vector<double>& u,
                             const std::vector<double>& epsilons, double base_loss) {
  nn::Probe<double>& p = *run.probes[s];
  SiteSensitivity site;
  site.name = p.name;
  site.kind = p.kind;
  site.layer = (long long)p.layer;
  site.features = (long long)p.features;
  site.abs_mean_over_rms = run.recorded_abs_mean_over_rms[s];
  site.lambda = run.recorded_lambda[s];
  for (auto [direction, out] : {std::pair{Direction::gain, &site.gain},
                                {Direction::offset, &site.offset},
                                {Direction::control, &site.control}}) {
    for (double eps : epsilons) {
      DirectionPerturbation perturbation(direction, eps, u);
      p.perturbation = &perturbation;
      const double loss = held_out_loss(run);
      p.perturbation = nullptr;
      out->push_back(loss - base_loss);
    }
  }
  return site;
}

}  // namespace

SensitivityReport measure_sensitivity(LoadedRun& run, const std::vector<double>& epsilons,
                                      std::uint64_t control_seed, const std::string& only_site) {
  if (epsilons.empty()) fail("sensitivity: no epsilon given");
  for (double e : epsilons) {
    if (!(std::isfinite(e) && e != 0)) fail("sensitivity: epsilon ", e, " must be finite and non-zero");
  }
  if (run.probes.empty()) fail(run.path, ": the model has no sites (no normalizer, no residual stream)");
  const std::vector<std::size_t> chosen = chosen_sites(run, only_site);
  const std::vector<std::vector<double>> u = control_directions(run, control_seed);

  SensitivityReport r;
  r.run = run.path;
  r.family = run.config.string("model.family");
  r.norm = join(run.config.strings("model.norm"), ",");
  r.batches = run.batches;
  r.control_seed = control_seed;
  r.epsilons = epsilons;
  r.base_loss = held_out_loss(run);

  const std::vector<double> first = first_order(run, chosen, u);
  for (std::size_t k = 0; k < chosen.size(); ++k) {
    SiteSensitivity site = measure_site(run, chosen[k], u[chosen[k]], epsilons, r.base_loss);
    site.gain_first_order = first[3 * k];
    site.offset_first_order = first[3 * k + 1];
    site.control_first_order = first[3 * k + 2];
    r.sites.push_back(std::move(site));
  }
  return r;
}

double central_difference(const std::vector<double>& epsilons, const std::vector<double>& dloss,
                          double eps) {
  const std::size_t plus = index_of(epsilons, std::abs(eps)), minus = index_of(epsilons, -std::abs(eps));
  if (plus == epsilons.size() || minus == epsilons.size()) return NAN;
  return (dloss[plus] - dloss[minus]) / (2 * std::abs(eps));
}

double sensitivity_at(const std::vector<double>& epsilons, const std::vector<double>& dloss,
                      double eps) {
  const std::size_t plus = index_of(epsilons, std::abs(eps)), minus = index_of(epsilons, -std::abs(eps));
  if (plus == epsilons.size() || minus == epsilons.size()) {
    fail("the reference epsilon ", eps, " is not on the grid with both signs");
  }
  return 0.5 * (std::abs(dloss[plus]) + std::abs(dloss[minus]));
}

namespace {
double smallest_positive(const std::vector<double>& epsilons) {
  double best = INFINITY;
  for (double e : epsilons) {
    if (e > 0 && index_of(epsilons, -e) < epsilons.size()) best = std::min(best, e);
  }
  return best;
}
}  // namespace

void write_sensitivity(const std::string& path, const SensitivityReport& r, double reference_eps) {
  const std::string partial = path + ".partial";
  {
    h5::File f = h5::File::create(partial);
    const std::size_t S = r.sites.size(), E = r.epsilons.size();
    const std::string g = "sensitivity/";
    std::vector<std::string> names, kinds;
    std::vector<long long> layers, features;
    std::vector<double> gain, offset, control, first_g, first_o, first_c, amr, lam, sg, so, sc;
    for (const auto& s : r.sites) {
      names.push_back(s.name);
      kinds.push_back(s.kind);
      layers.push_back(s.layer);
      features.push_back(s.features);
      gain.insert(gain.end(), s.gain.begin(), s.gain.end());
      offset.insert(offset.end(), s.offset.begin(), s.offset.end());
      control.insert(control.end(), s.control.begin(), s.control.end());
      first_g.push_back(s.gain_first_order);
      first_o.push_back(s.offset_first_order);
      first_c.push_back(s.control_first_order);
      amr.push_back(s.abs_mean_over_rms);
      lam.push_back(s.lambda);
      sg.push_back(sensitivity_at(r.epsilons, s.gain, reference_eps));
      so.push_back(sensitivity_at(r.epsilons, s.offset, reference_eps));
      sc.push_back(sensitivity_at(r.epsilons, s.control, reference_eps));
    }
    f.write_strings(g + "site", names);
    f.make_dimension_scale(g + "site", "site");
    f.write<double>(g + "epsilon", {E}, r.epsilons);
    f.make_dimension_scale(g + "epsilon", "epsilon");
    f.write_strings(g + "site_kind", kinds);
    f.write<long long>(g + "site_layer", {S}, layers);
    f.write<long long>(g + "site_features", {S}, features);
    for (auto [name, values] : {std::pair{"gain_dloss", &gain}, {"offset_dloss", &offset},
                                {"control_dloss", &control}}) {
      f.write<double>(g + name, {S, E}, *values);
      f.attach_dimension_scale(g + name, g + "site", 0);
      f.attach_dimension_scale(g + name, g + "epsilon", 1);
    }
    for (auto [name, values] :
         {std::pair{"gain_first_order", &first_g}, {"offset_first_order", &first_o},
          {"control_first_order", &first_c}, {"in_abs_mean_over_rms", &amr}, {"lambda", &lam},
          {"gain_sensitivity", &sg}, {"offset_sensitivity", &so}, {"control_sensitivity", &sc}}) {
      f.write<double>(g + name, {S}, *values);
      f.attach_dimension_scale(g + name, g + "site", 0);
    }
    for (const char* name : {"site_kind", "site_layer", "site_features"}) {
      f.attach_dimension_scale(g + name, g + "site", 0);
    }
    f.write_attribute("/", "format", "normlab-sensitivity");
    f.write_attribute("/", "format_version", 1LL);
    f.write_attribute("/", "normlab_version", NORMLAB_VERSION);
    f.write_attribute("/sensitivity", "run", r.run);
    f.write_attribute("/sensitivity", "family", r.family);
    f.write_attribute("/sensitivity", "norm", r.norm);
    f.write_attribute("/sensitivity", "base_loss", r.base_loss);
    f.write_attribute("/sensitivity", "batches", (long long)r.batches);
    f.write_attribute("/sensitivity", "control_seed", (long long)r.control_seed);
    f.write_attribute("/sensitivity", "reference_epsilon", reference_eps);
    f.close();
  }
  std::filesystem::rename(partial, path);
}

SensitivityReport read_sensitivity(const std::string& path) {
  h5::File f = h5::open_untrusted(path);
  if (!f.has_attribute("/", "format") ||
      f.read_string_attribute("/", "format") != "normlab-sensitivity" || !f.has("sensitivity")) {
    fail(path, ": not a sensitivity file (no format attribute 'normlab-sensitivity'; make one with "
         "`normlab analyze sensitivity RUN.h5`)");
  }
  const std::string g = "sensitivity/";
  SensitivityReport r;
  r.run = f.read_string_attribute("/sensitivity", "run");
  r.family = f.read_string_attribute("/sensitivity", "family");
  r.norm = f.read_string_attribute("/sensitivity", "norm");
  r.base_loss = f.read_number_attribute("/sensitivity", "base_loss");
  r.batches = std::size_t(f.read_integer_attribute("/sensitivity", "batches"));
  r.epsilons = f.read_vector<double>(g + "epsilon");
  const std::size_t E = r.epsilons.size();
  const auto names = f.read_strings(g + "site"), kinds = f.read_strings(g + "site_kind");
  const std::size_t S = names.size();
  // Every table is read checked against the shape the site list and epsilons give it.
  auto table = [&](const char* name, h5::Shape want) {
    auto values = f.read<double>(g + name);
    const h5::Shape found(values.shape().begin(), values.shape().end());
    if (found != want) {
      fail(path, ":", g, name, ": expected shape ", h5::shape_string(want), " (sites, epsilons), found ",
           h5::shape_string(found));
    }
    return values;
  };
  if (kinds.size() != S) fail(path, ":", g, "site_kind: ", kinds.size(), " entries for ", S, " sites");
  const auto layers = table("site_layer", {S}), features = table("site_features", {S});
  const auto gain = table("gain_dloss", {S, E}), offset = table("offset_dloss", {S, E}),
             control = table("control_dloss", {S, E});
  const auto fg = table("gain_first_order", {S}), fo = table("offset_first_order", {S}),
             fc = table("control_first_order", {S});
  const auto amr = table("in_abs_mean_over_rms", {S}), lam = table("lambda", {S});
  for (std::size_t s = 0; s < names.size(); ++s) {
    SiteSensitivity x;
    x.name = names[s];
    x.kind = kinds[s];
    x.layer = (long long)layers(s);
    x.features = (long long)features(s);
    for (std::size_t e = 0; e < E; ++e) {
      x.gain.push_back(gain(s, e));
      x.offset.push_back(offset(s, e));
      x.control.push_back(control(s, e));
    }
    x.gain_first_order = fg(s);
    x.offset_first_order = fo(s);
    x.control_first_order = fc(s);
    x.abs_mean_over_rms = amr(s);
    x.lambda = lam(s);
    r.sites.push_back(std::move(x));
  }
  return r;
}

void print_sensitivity(std::ostream& out, const SensitivityReport& r, double reference_eps) {
  const double small = smallest_positive(r.epsilons);
  out << r.run << ": " << r.family << ", norm " << r.norm << ", held-out loss " << g3(r.base_loss)
      << " over " << r.batches << " batches\n"
      << "loss change at eps = +-" << g3(reference_eps) << " (mean of |dL(+eps)| and |dL(-eps)|); "
      << "d/deps: first order from the backward pass / central difference at eps = " << g3(small)
      << "\n\n"
      << "| site | kind | \\|mean\\|/RMS | lambda | gain | offset | control | offset/gain | "
         "gain d/deps (1st / CD) | offset d/deps (1st / CD) |\n"
      << "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const auto& s : r.sites) {
    const double g = sensitivity_at(r.epsilons, s.gain, reference_eps);
    const double o = sensitivity_at(r.epsilons, s.offset, reference_eps);
    const double c = sensitivity_at(r.epsilons, s.control, reference_eps);
    out << "| " << s.name << " | " << s.kind << " | " << g3(s.abs_mean_over_rms) << " | "
        << g3(s.lambda) << " | " << g3(g) << " | " << g3(o) << " | " << g3(c) << " | "
        << g3(g > 0 ? o / g : NAN) << " | " << g3(s.gain_first_order) << " / "
        << g3(central_difference(r.epsilons, s.gain, small)) << " | " << g3(s.offset_first_order)
        << " / " << g3(central_difference(r.epsilons, s.offset, small)) << " |\n";
  }
}

std::vector<Correlation> correlate(const std::vector<SensitivityReport>& reports,
                                   double reference_eps, bool normalizer_sites_only) {
  std::vector<Correlation> out;
  for (const char* statistic : {"abs_mean_over_rms", "lambda"}) {
    Correlation c;
    c.statistic = statistic;
    std::vector<std::string> norms;  // in order of first appearance
    std::vector<std::vector<double>> norm_stat, norm_sens;
    std::vector<double> all_stat, all_sens;
    for (const auto& r : reports) {
      std::vector<double> stat, sens;
      for (const auto& s : r.sites) {
        if (normalizer_sites_only && s.kind == "residual") continue;
        const double v = c.statistic == "lambda" ? s.lambda : s.abs_mean_over_rms;
        if (!std::isfinite(v)) continue;
        const double o = sensitivity_at(r.epsilons, s.offset, reference_eps);
        stat.push_back(v);
        sens.push_back(o <= kRoundingFloor * std::abs(r.base_loss) ? 0.0 : o);
      }
      c.groups.push_back(r.run);
      c.rho.push_back(spearman(stat, sens));
      c.sites.push_back(stat.size());
      const std::size_t k = std::size_t(std::find(norms.begin(), norms.end(), r.norm) - norms.begin());
      if (k == norms.size()) {
        norms.push_back(r.norm);
        norm_stat.emplace_back();
        norm_sens.emplace_back();
      }
      norm_stat[k].insert(norm_stat[k].end(), stat.begin(), stat.end());
      norm_sens[k].insert(norm_sens[k].end(), sens.begin(), sens.end());
      all_stat.insert(all_stat.end(), stat.begin(), stat.end());
      all_sens.insert(all_sens.end(), sens.begin(), sens.end());
    }
    for (std::size_t k = 0; k < norms.size(); ++k) {
      c.groups.push_back("norm=" + norms[k] + ", its runs pooled");
      c.rho.push_back(spearman(norm_stat[k], norm_sens[k]));
      c.sites.push_back(norm_stat[k].size());
    }
    c.groups.push_back("all runs pooled");
    c.rho.push_back(spearman(all_stat, all_sens));
    c.sites.push_back(all_stat.size());
    out.push_back(std::move(c));
  }
  return out;
}

void print_correlations(std::ostream& out, const std::vector<Correlation>& cs) {
  for (const auto& c : cs) {
    out << "Spearman rank correlation of " << c.statistic
        << (c.statistic == "lambda" ? " (partial centering's, learned or fixed"
                                    : " (|mean|/RMS of the site input")
        << ", the run file's last stat step) with offset sensitivity:\n\n"
        << "| runs | sites | rho |\n| --- | ---: | ---: |\n";
    for (std::size_t i = 0; i < c.groups.size(); ++i) {
      if (c.sites[i] == 0) continue;  // runs without the statistic
      out << "| " << c.groups[i] << " | " << c.sites[i] << " | " << g3(c.rho[i]) << " |\n";
    }
    out << "\n";
  }
}

void write_correlations(const std::string& path, const std::vector<Correlation>& cs,
                        double reference_eps) {
  const std::string partial = path + ".partial";
  {
    h5::File f = h5::File::create(partial);
    f.write_attribute("/", "format", "normlab-correlation");
    f.write_attribute("/", "format_version", 1LL);
    for (const auto& c : cs) {
      const std::string g = "correlation/" + c.statistic + "/";
      f.write_strings(g + "group", c.groups);
      f.make_dimension_scale(g + "group", "group");
      f.write<double>(g + "rho", {c.rho.size()}, c.rho);
      std::vector<long long> n(c.sites.begin(), c.sites.end());
      f.write<long long>(g + "sites", {n.size()}, n);
      f.attach_dimension_scale(g + "rho", g + "group", 0);
      f.attach_dimension_scale(g + "sites", g + "group", 0);
      f.write_attribute("/correlation/" + c.statistic, "reference_epsilon", reference_eps);
      f.write_attribute("/correlation/" + c.statistic, "rounding_floor", kRoundingFloor);
    }
    f.close();
  }
  std::filesystem::rename(partial, path);
}

}  // namespace normlab::analysis
