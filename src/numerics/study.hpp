// `normlab numerics`: precision, cancellation and conditioning of the normalizers (issue 7).
//
// Every case runs one normalizer variant forward and backward over B rows of one input family at
// D features, in one implementation and precision, and compares y and dx with a long-double
// two-pass reference computed from the same (storage-rounded) inputs:
//   implementation "emulated": norm/emulated_kernels.hpp at (storage, accumulation) in
//                  {float32/float32, bfloat16/float32, bfloat16/bfloat16, float16/float32,
//                   float16/float16};
//   implementation "normlab":  the library's own float32 normalizer from the registry (its
//                  reductions run in double; README, "Numerics").
// Then the Jacobian's singular values against their closed forms, and the 1/delta scaling of
// RMSNorm's weight gradient. The HDF5 layout is documented in docs/NUMERICS.md. study.cpp measures,
// study_output.cpp writes the file, the tables and the figure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "norm/options.hpp"
#include "norm/emulated_kernels.hpp"

namespace normlab::tools {

// One input family: how each row is drawn (see docs/NUMERICS.md).
enum class Family { normal, offset, tiny, huge, heavy_tails, sparse };
std::string to_string(Family f);

struct CaseSpec {
  norm::NormConfig config;        // kind and every option (eps, eps_mode, variance, ...)
  std::string variant;            // "two_pass", "one_pass", "welford" (LayerNorm), else "default"
  std::string implementation;     // "emulated" | "normlab"
  norm::Precision precision;  // normlab: float32 storage, float64 accumulation
  Family family = Family::normal;
  double offset_ratio = 0;        // mean/std of the rows (offset family), else 0
  std::size_t D = 8, B = 4;
};

struct ErrorStats {
  double max_rel = 0;     // max over rows of max_j |a_j - r_j| / max_j |r_j|
  double median_rel = 0;  // the median over rows of the same
  double max_ulp = 0;     // max over elements of |a_j - r_j| / ulp_storage(r_j)
  long long nonfinite = 0;  // elements of a that are inf or NaN (their rows count as error inf)
};

struct CaseResult {
  CaseSpec spec;
  ErrorStats y, dx;
  double eps_bias = 0;  // max over rows of the relative change of the exact y from eps = 0 to eps
};

// Row-wise relative errors of a (B, D) against the reference r (B, D).
ErrorStats error_stats(const std::vector<double>& a, const std::vector<double>& r, std::size_t B,
                       std::size_t D, fp::Format storage);

// The input families of the grid, each offset family with its mean/std ratio, in table order.
struct FamilyPoint {
  Family family;
  double ratio;
};
const std::vector<FamilyPoint>& input_families();

// Draws the case's inputs (seeded) and measures it.
CaseResult evaluate_case(const CaseSpec& spec, std::uint64_t seed);

struct ConditioningRow {
  std::string kind;
  std::size_t D = 0;
  double rms = 0, mean = 0, std = 0, eps = 0;
  double sigma_max = 0, sigma_min = 0;  // numeric, sigma_min the smallest above 1e-12 sigma_max
  double rank = 0;                      // singular values above 1e-12 sigma_max
  double closed_sigma_max = 0, closed_sigma_min = 0;  // NaN where no closed form
  double closed_max_error = 0;  // max_i |sigma_i - closed_i| / sigma_max; NaN without closed form
};

struct ScalingRow {
  double delta = 1;
  double grad_norm = 0;   // ||dL/dW|| at weights delta * W
  double scaled = 0;      // delta * grad_norm / grad_norm(delta = 1): 1 under the 1/delta law
};

struct NumericsOptions {
  std::string out = "numerics.h5";
  std::string plot;  // PNG path: run scripts/plot_numerics.py on the output; "" for none
  bool quick = false;
  std::vector<std::size_t> dims;   // empty: the default (quick: 8, 64, 512)
  std::vector<std::string> norms;  // empty: every shift-scale kind but none
  std::uint64_t seed = 0;
};

struct NumericsReport {
  std::vector<CaseResult> cases;
  std::vector<ConditioningRow> conditioning;
  std::vector<ScalingRow> scaling;
};

// The grid of cases the options describe (validated: unknown norms and bad dims throw).
std::vector<CaseSpec> numerics_grid(const NumericsOptions& options);

NumericsReport run_numerics(const NumericsOptions& options);
void write_numerics(const NumericsReport& report, const NumericsOptions& options);
// Compact Markdown: worst relative error of y and dx per variant and precision (max over D) by
// family; the eps study; the conditioning checks; the gradient scaling.
std::string numerics_tables(const NumericsReport& report);
// Draws the figure of a written report (scripts/plot_numerics.py, run with /usr/bin/python3);
// throws naming the command when it fails.
void plot_numerics(const std::string& h5_path, const std::string& png_path);

}  // namespace normlab::tools
