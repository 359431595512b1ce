#include "numerics/conditioning.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <span>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "norm/registry.hpp"

namespace normlab::numerics {

std::vector<double> jacobian(const norm::Normalizer& n, const std::vector<double>& x,
                             const std::vector<double>& params) {
  const std::size_t D = x.size();
  const auto specs = n.param_specs(D);
  auto p = norm::bind_params<const double>(specs, std::span<const double>(params));
  std::vector<double> y(D), dx(D), dy(D), grads(params.size()), J(D * D);
  norm::NormCache cache;
  n.forward(std::span<double>(y), cache, std::span<const double>(x), p, 1, D);
  for (std::size_t i = 0; i < D; ++i) {
    std::fill(dy.begin(), dy.end(), 0.0);
    dy[i] = 1;
    n.backward(std::span<double>(dx), norm::bind_params<double>(specs, std::span<double>(grads)),
               cache, std::span<const double>(dy), std::span<const double>(x), p, 1, D);
    std::copy(dx.begin(), dx.end(), J.begin() + std::ptrdiff_t(i * D));
  }
  return J;
}

// LAPACK's divide-and-conquer SVD (dgesdd through xtensor-blas's linalg::svd; OpenBLAS provides
// LAPACK): backward stable, so a singular value 1e-9 of the largest keeps its leading digits,
// which eig(m^T m) would square away.
std::vector<double> singular_values(std::vector<double> m, std::size_t n) {
  if (m.size() != n * n) fail("singular_values: ", m.size(), " values for a ", n, "x", n, " matrix");
  if (n == 0) return {};
  xt::xtensor<double, 2> a = xt::adapt(m, std::array<std::size_t, 2>{n, n});
  const auto [u, sigma, vt] = xt::linalg::svd(a, /*full_matrices=*/false, /*compute_uv=*/false);
  std::vector<double> s(sigma.begin(), sigma.end());
  std::sort(s.begin(), s.end(), std::greater<>());  // LAPACK's order already; kept explicit
  return s;
}

std::vector<double> closed_form_singular_values(const norm::NormConfig& c,
                                                const std::vector<double>& x) {
  const std::size_t D = x.size();
  double sum = 0, sum_sq = 0;
  for (double v : x) sum += v, sum_sq += v * v;
  const double mean = sum / double(D);
  // (1/r) repeated `plain` times, then (1/r) eps/r^2_stat along the statistic's direction, then
  // zeros: r^2 = stat + eps.
  auto spectrum = [&](double stat, std::size_t plain, std::size_t zeros) {
    const double r = std::sqrt(stat + c.eps);
    std::vector<double> s(plain, 1 / r);
    s.push_back(c.eps / (stat + c.eps) / r);
    s.insert(s.end(), zeros, 0.0);
    std::sort(s.begin(), s.end(), std::greater<>());
    return s;
  };
  const bool inside = c.eps_mode == norm::EpsMode::inside;
  if (c.kind == "rmsnorm" && inside) return spectrum(sum_sq / double(D), D - 1, 0);
  if (c.kind == "l2norm" && inside) return spectrum(sum_sq, D - 1, 0);
  if (c.kind == "layernorm" && inside && D >= 2) {
    double var = 0;
    for (double v : x) var += (v - mean) * (v - mean);
    return spectrum(var / double(D), D - 2, 1);
  }
  if (c.kind == "scalenorm" && c.eps_mode == norm::EpsMode::clamp) {
    const double norm = std::sqrt(sum_sq);
    if (!(norm > c.eps)) return {};
    std::vector<double> s(D - 1, std::sqrt(double(D)) / norm);
    s.push_back(0.0);
    return s;
  }
  return {};
}

double rmsnorm_weight_gradient_norm(double delta, const std::vector<double>& W,
                                    const std::vector<double>& X, const std::vector<double>& dy,
                                    double eps, std::size_t B, std::size_t D, std::size_t H) {
  if (W.size() != H * D || X.size() != B * D || dy.size() != B * H) {
    fail("rmsnorm_weight_gradient_norm: W has ", W.size(), " values (H*D = ", H * D, "), X ",
         X.size(), " (B*D = ", B * D, "), dy ", dy.size(), " (B*H = ", B * H, ")");
  }
  auto n = norm::make_normalizer("rmsnorm", {{"eps", format_double(eps)}});
  std::vector<double> h(B * H, 0.0), y(B * H), dh(B * H), gain(H, 1.0), dgain(H, 0.0);
  for (std::size_t b = 0; b < B; ++b)  // h (B, H) = X (B, D) (delta W)^T
    for (std::size_t o = 0; o < H; ++o)
      for (std::size_t j = 0; j < D; ++j) h[b * H + o] += X[b * D + j] * delta * W[o * D + j];
  norm::NormParams<const double> p(std::span<const double>(gain), {}, {});
  norm::NormParams<double> g(std::span<double>(dgain), {}, {});
  norm::NormCache cache;
  n->forward(std::span<double>(y), cache, std::span<const double>(h), p, B, H);
  n->backward(std::span<double>(dh), g, cache, std::span<const double>(dy),
              std::span<const double>(h), p, B, H);
  double sq = 0;  // dL/d(delta W) (H, D) = dh^T X
  for (std::size_t o = 0; o < H; ++o) {
    for (std::size_t j = 0; j < D; ++j) {
      double v = 0;
      for (std::size_t b = 0; b < B; ++b) v += dh[b * H + o] * X[b * D + j];
      sq += v * v;
    }
  }
  return std::sqrt(sq);
}

}  // namespace normlab::numerics
