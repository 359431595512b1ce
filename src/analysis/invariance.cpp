#include "analysis/invariance.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "analysis/sensitivity.hpp"
#include "core/error.hpp"
#include "models/registry.hpp"
#include "norm/registry.hpp"

namespace normlab::analysis {

bool expected_invariant(const norm::Form& form, const std::string& transform) {
  if (transform != "scale" && transform != "shift") fail("unknown transform '", transform, "'");
  return form.invariant_to(transform == "scale" ? norm::RowTransform::scale
                                                : norm::RowTransform::shift);
}

bool expected_invariant(const std::string& kind, const std::string& transform, double lambda) {
  norm::Form form = norm::form(norm::resolve(kind, {}), 1);
  if (form.subtract == norm::Form::Subtract::fixed) form.lambda = lambda;
  return expected_invariant(form, transform);
}

namespace {

// Scale (direction gain, eps = alpha - 1) or shift (direction offset, eps = c) of every row.
class Transform final : public nn::Perturbation<double> {
 public:
  Transform(Direction d, double eps) : d_(d), eps_(eps) {}
  void apply(double* x, std::size_t rows, std::size_t D) override {  // x (rows, D)
    for (std::size_t r = 0; r < rows; ++r) perturb_row(x + r * D, d_, eps_, none_, D);
  }

 private:
  Direction d_;
  double eps_;
  std::vector<double> none_;  // no control direction
};

// Loss and logits (concatenated over the batches) on the held-out set.
double logits_on_held_out(LoadedRun& run, std::vector<double>& logits) {
  logits.clear();
  double sum = 0, weight = 0;
  for (std::size_t b = 0; b < run.batches; ++b) {
    const auto [loss, w] = run.work->validation_batch(b, false);
    const auto z = run.work->logits();
    logits.insert(logits.end(), z.begin(), z.end());
    sum += loss * w;
    weight += w;
  }
  return sum / weight;
}

// The smallest mean(x_r^2) over the rows a site sees.
class MinMeanSquare final : public nn::Observer<double> {
 public:
  void forward(const double* x, const double*, std::size_t rows, std::size_t D) override {
    for (std::size_t r = 0; r < rows; ++r) {
      const double q = row_rms(x + r * D, D);
      min_ms = std::min(min_ms, q * q);
    }
  }
  void backward(const double*, const double*, std::size_t, std::size_t) override {}
  double min_ms = INFINITY;
};

}  // namespace

InvarianceReport measure_invariance(LoadedRun& run, const std::vector<double>& scales,
                                    const std::vector<double>& shifts) {
  InvarianceReport r;
  r.run = run.path;
  std::vector<double> base, z;
  std::vector<MinMeanSquare> ms(run.probes.size());
  for (std::size_t i = 0; i < ms.size(); ++i) run.probes[i]->observer = &ms[i];
  r.base_loss = logits_on_held_out(run, base);
  for (auto* p : run.probes) p->observer = nullptr;
  for (double v : base) r.max_abs_logit = std::max(r.max_abs_logit, std::abs(v));
  const nn::ParamStore<double>& store = run.work->params();
  // each site's options as the model took them: either form of model.norm_options, by kind or role
  const models::SiteOptions options = models::site_options(run.config);
  for (std::size_t i = 0; i < run.probes.size(); ++i) {
    nn::Probe<double>* p = run.probes[i];
    if (p->kind == "residual") continue;  // not a normalizer
    // The site's Form, with a learned lambda at its trained value.
    const norm::NormConfig config = norm::resolve(p->kind, options.for_site(p->name, p->kind));
    norm::Form form = norm::form(config, p->features);
    if (p->lambda.size) form.lambda = store.value(p->lambda)[0];
    for (const char* transform : {"scale", "shift"}) {
      const bool scale = std::string(transform) == "scale";
      for (double factor : scale ? scales : shifts) {
        Transform t(scale ? Direction::gain : Direction::offset, scale ? factor - 1 : factor);
        p->perturbation = &t;
        const double loss = logits_on_held_out(run, z);
        p->perturbation = nullptr;
        InvarianceRow row{p->name, p->kind, transform, factor,
                          expected_invariant(form, transform), 0, loss - r.base_loss,
                          p->eps / ms[i].min_ms};
        for (std::size_t i = 0; i < z.size(); ++i) {
          row.max_dlogit = std::max(row.max_dlogit, std::abs(z[i] - base[i]));
        }
        r.rows.push_back(row);
      }
    }
  }
  if (r.rows.empty()) fail(run.path, ": the model has no normalizer site");
  return r;
}

std::string unchanged(const InvarianceRow& row, double max_abs_logit, double tolerance) {
  const double rel = row.max_dlogit / max_abs_logit;
  if (rel <= tolerance) return "yes";
  const bool eps_explains = row.transform == "scale" && std::isfinite(row.eps_over_ms) &&
                            rel <= tolerance + kEpsSlack * row.eps_over_ms;
  return eps_explains ? "eps" : "no";
}

void print_invariance(std::ostream& out, const InvarianceReport& r, double tolerance) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "held-out loss %.6g, max |logit| %.4g; unchanged: max |dlogit| <= %.3g x max |logit| "
                "(eps: within %g x eps/min ms of it, what eps breaks)\n\n",
                r.base_loss, r.max_abs_logit, tolerance, kEpsSlack);
  out << r.run << ": " << buf
      << "| site | kind | transform | factor | max \\|dlogit\\| | relative | dloss | eps/min ms | expected invariant | unchanged | agrees |\n"
      << "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |\n";
  for (const auto& row : r.rows) {
    const double rel = row.max_dlogit / r.max_abs_logit;
    const std::string same = unchanged(row, r.max_abs_logit, tolerance);
    std::snprintf(buf, sizeof buf, "| %s | %s | %s | %g | %.3g | %.3g | %.3g | %.3g | %s | %s | %s |\n",
                  row.site.c_str(), row.kind.c_str(), row.transform.c_str(), row.factor,
                  row.max_dlogit, rel, row.dloss, row.eps_over_ms, row.expected ? "yes" : "no",
                  same.c_str(), (same != "no") == row.expected ? "yes" : "NO");
    out << buf;
  }
}

}  // namespace normlab::analysis
