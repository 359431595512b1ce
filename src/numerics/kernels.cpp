#include "numerics/kernels.hpp"

#include <vector>

#include "core/error.hpp"
#include "norm/shift_scale.hpp"

namespace normlab::numerics {

// The forms below mirror the kinds' files in src/norm/ (rmsnorm.cpp, layernorm.cpp, ...); the
// tests hold them to the library: in float64 storage and accumulation the emulated kernels agree
// with every registered kind to rounding.
EmulatedNorm emulated_norm(const norm::NormConfig& c, std::size_t D) {
  using G = EmulatedNorm::Gain;
  EmulatedNorm n;
  n.kind = c.kind;
  n.eps = c.eps;
  n.eps_mode = c.eps_mode;
  n.variance = c.variance;
  n.k = D;
  n.divisor = double(D);
  const std::string& k = c.kind;
  if (k == "rmsnorm") {
  } else if (k == "layernorm") {
    n.lambda = 1, n.full_centering = true;
  } else if (k == "scalenorm") {
    n.divisor = 1, n.gain = G::scalar;
  } else if (k == "prmsnorm") {
    n.k = norm::statistic_features(c.p, D), n.divisor = double(n.k);
  } else if (k == "l2norm") {
    n.divisor = 1;
  } else if (k == "centernorm") {
    n.lambda = 1, n.full_centering = true, n.rescale = false;
  } else if (k == "pcnorm") {
    if (c.learn_lambda) fail("emulated pcnorm: a learned lambda is not supported");
    n.lambda = c.lambda;
  } else if (k == "none") {
    n.rescale = false, n.gain = G::none;
  } else {
    fail("no emulated form of the normalizer '", k, "'");
  }
  return n;
}

namespace {

// Forward and backward of B rows under policy P: inputs rounded to storage, then the row kernels.
template <class P>
void run_batch(BatchOutput out, BatchInput in, const EmulatedNorm& n, std::size_t B,
               std::size_t D) {
  using R = typename P::real;
  const std::size_t gain_size = n.gain == EmulatedNorm::Gain::vector ? D : 1;
  std::vector<R> x(D), dy(D), y(D), dx(D), g(gain_size, R(1)), b(in.b ? D : 0);
  for (std::size_t j = 0; j < g.size() && in.g; ++j) g[j] = P::st(R(in.g[j]));
  for (std::size_t j = 0; j < b.size(); ++j) b[j] = P::st(R(in.b[j]));
  for (std::size_t i = 0; i < B; ++i) {
    for (std::size_t j = 0; j < D; ++j) x[j] = P::st(R(in.x[i * D + j]));
    const auto stats =
        emulated_forward_row<P>(y.data(), x.data(), g.data(), in.b ? b.data() : nullptr, n, D);
    for (std::size_t j = 0; j < D; ++j) out.y[i * D + j] = double(y[j]);
    if (out.stats) out.stats[i] = {double(stats.mean), double(stats.stat), double(stats.rstd)};
    if (!in.dy) continue;
    for (std::size_t j = 0; j < D; ++j) dy[j] = P::st(R(in.dy[i * D + j]));
    emulated_backward_row<P>(dx.data(), nullptr, nullptr, nullptr, stats, dy.data(), x.data(),
                             g.data(), n, D);
    for (std::size_t j = 0; j < D; ++j) out.dx[i * D + j] = double(dx[j]);
  }
}

// Calls f(policy) with the Emulated<Storage, Accumulation> type the run-time pair names.
template <class F>
void with_policy(Precision p, F&& f) {
  auto with_format = [](Format fmt, auto&& next) {
    switch (fmt) {
      case Format::float64: return next(Float64{});
      case Format::float32: return next(Float32{});
      case Format::bfloat16: return next(BFloat16{});
      case Format::float16: return next(Float16{});
    }
  };
  with_format(p.storage, [&](auto S) {
    with_format(p.accumulation, [&](auto A) { f(Emulated<decltype(S), decltype(A)>{}); });
  });
}

}  // namespace

void emulated_batch(BatchOutput out, BatchInput in, const EmulatedNorm& n, Precision p,
                    std::size_t B, std::size_t D) {
  with_policy(p, [&](auto policy) { run_batch<decltype(policy)>(out, in, n, B, D); });
}

void reference_batch(BatchOutput out, BatchInput in, const EmulatedNorm& n, std::size_t B,
                     std::size_t D) {
  EmulatedNorm exact = n;
  exact.variance = norm::VarianceAlgo::two_pass;  // the exact function, computed stably
  run_batch<Exact>(out, in, exact, B, D);
}

}  // namespace normlab::numerics
