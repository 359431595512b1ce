// Invariance report (docs/ANALYSIS.md): at every normalizer site of a trained model, the site's
// input x (rows, D) is transformed in every row and call and the held-out logits compared with the
// untouched model's:
//   scale   x_r -> alpha x_r                 (what scaling the preceding weight matrix and its bias
//                                             by alpha does to a site fed by a Linear layer)
//   shift   x_r -> x_r + c RMS(x_r) 1        (re-centering: the same value added to every feature)
// Theory is the site's Form (norm/form.hpp, Form::invariant_to): a normalizer that rescales ignores
// scale (up to eps, which breaks it slightly); one that subtracts the whole mean (lambda = 1: a
// learned lambda at its trained value) ignores shift.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "analysis/loaded_run.hpp"
#include "norm/form.hpp"

namespace normlab::analysis {

struct InvarianceRow {
  std::string site, kind, transform;  // transform: "scale" or "shift"
  double factor = 0;                  // alpha or c
  bool expected = false;              // the theory says the output is unchanged
  double max_dlogit = 0;              // max |logit - base logit| over the held-out batches
  double dloss = 0;                   // loss - base loss
  // eps / min over rows of mean(x_r^2) at the untouched site input: how far eps can break a scale
  // invariance (a relative change of the output up to about (eps/ms) |1 - 1/alpha^2| / 2); NaN
  // for a normalizer without eps.
  double eps_over_ms = 0;
};

struct InvarianceReport {
  std::string run;
  double base_loss = 0, max_abs_logit = 0;  // of the untouched model
  std::vector<InvarianceRow> rows;
};

// Whether theory says a normalizer of this Form ignores the transform ("scale" or "shift").
bool expected_invariant(const norm::Form& form, const std::string& transform);
// The same for `kind` at its defaults, with a fixed lambda (partial centering) of `lambda`.
bool expected_invariant(const std::string& kind, const std::string& transform, double lambda);

InvarianceReport measure_invariance(LoadedRun& run, const std::vector<double>& scales,
                                    const std::vector<double>& shifts);
// Whether a row's output counts as unchanged: "yes" when max |dlogit| <= tolerance * max |logit|;
// "eps" for a scale at a normalizer with eps whose deviation is within kEpsSlack * eps/min ms of
// max |logit| (eps changes a row's output by up to about (eps/ms) |1 - 1/alpha^2| / 2 <= 1.5 eps/ms
// for alpha >= 0.5, and the layers after it pass that on to the logits with a gain of order 1);
// "no" otherwise.
inline constexpr double kEpsSlack = 10;
std::string unchanged(const InvarianceRow& row, double max_abs_logit, double tolerance);

// `tolerance`: the deviation, relative to max |logit|, below which a row counts as unchanged.
void print_invariance(std::ostream& out, const InvarianceReport& r, double tolerance);

}  // namespace normlab::analysis
