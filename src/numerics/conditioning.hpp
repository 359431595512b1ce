// Conditioning of a normalizer: its Jacobian J = dy/dx at one row x, J's singular values, and the
// closed forms they are checked against. All in double, unit gain, no bias.
//
// RMSNorm, y = x / r, r^2 = ms + eps, ms = |x|^2 / D:
//   J = (1/r) (I - x x^T / (D r^2)).  J is symmetric; x is an eigenvector with eigenvalue
//   (1/r)(1 - ms/(ms + eps)) = (1/r) eps/(ms + eps), and every vector orthogonal to x has 1/r.
//   So sigma_max = 1/r (multiplicity D-1), sigma_min = (1/r) eps/(ms + eps), and the condition
//   number is (ms + eps)/eps: scale invariance makes J nearly singular along x.
// LayerNorm, z = P x with P = I - 1 1^T/D, v = |z|^2/D, r^2 = v + eps, y = z / r:
//   J = (1/r) (P - z z^T / (D r^2)).  1 is in the kernel (rank D-1); on the subspace orthogonal
//   to 1, z has (1/r) eps/(v + eps) and the other D-2 directions 1/r. The mean of x does not
//   enter: LayerNorm's Jacobian depends on the std only, RMSNorm's on the RMS (mean included).
// l2norm, r^2 = |x|^2 + eps: as RMSNorm with D = 1 in the formula: 1/r (D-1 times), (1/r) eps/r^2.
// ScaleNorm (clamp, |x| > eps), y = g x/|x|: g/|x| (D-1 times) and 0 along x.
//
// The RMSNorm paper's "implicit learning-rate adaptation" follows: for h = W x and y = RMSNorm(h),
// scaling W by delta scales h and r by delta (when ms >> eps), so dL/dh = J^T dL/dy scales by
// 1/delta, and so does dL/dW = (dL/dh) x^T.
#pragma once

#include <cstddef>
#include <vector>

#include "norm/normalizer.hpp"

namespace normlab::numerics {

// J (D, D), row-major, J[i*D + j] = dy_i/dx_j, at the row x (D) with parameters `params` (flat,
// in param_specs order): row i is the backward's dx for the upstream gradient e_i.
std::vector<double> jacobian(const norm::Normalizer& n, const std::vector<double>& x,
                             const std::vector<double>& params);

// Singular values of the square matrix m (n, n), descending (LAPACK's SVD through xtensor-blas's
// linalg::svd).
std::vector<double> singular_values(std::vector<double> m, std::size_t n);

// The closed-form singular values (descending) of `config.kind` at x with unit gain; empty when
// no closed form is written down here (pcnorm, prmsnorm, centernorm, none, or another eps mode).
std::vector<double> closed_form_singular_values(const norm::NormConfig& config,
                                                const std::vector<double>& x);

// ||dL/dW||_F for h = delta * W x (rows of W (H, D), batch X (B, D)), y = RMSNorm(h) with unit
// gain and eps, L = sum(y * dy) (dy (B, H)): the gradient with respect to the scaled weights.
double rmsnorm_weight_gradient_norm(double delta, const std::vector<double>& W,
                                    const std::vector<double>& X, const std::vector<double>& dy,
                                    double eps, std::size_t B, std::size_t D, std::size_t H);

}  // namespace normlab::numerics
