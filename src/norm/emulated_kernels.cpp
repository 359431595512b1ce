#include "norm/emulated_kernels.hpp"

#include <algorithm>
#include <vector>

#include "core/error.hpp"

namespace normlab::norm {

EmulatedNorm emulated_norm(const norm::NormConfig& c, std::size_t D) {
  const Form f = form(c, D);
  if (f.family != Form::Family::shift_scale) {
    fail("no emulated form of the normalizer '", c.kind, "': storage and accumulate apply to the "
         "shift-scale kinds only (", c.kind, " is element-wise)");
  }
  return f;
}

namespace {

// B rows forward under policy P: inputs rounded to storage, then the row kernel.
template <class P>
void forward_rows(double* y, RowStats<double>* stats, const double* x_in, const double* g_in,
                  const double* b_in, const EmulatedNorm& n, std::size_t B, std::size_t D) {
  using R = typename P::real;
  std::vector<R> x(D), yr(D), g(n.gain == EmulatedNorm::Gain::vector ? D : 1, R(1)),
      b(b_in ? D : 0);
  for (std::size_t j = 0; j < g.size() && g_in; ++j) g[j] = P::st(R(g_in[j]));
  for (std::size_t j = 0; j < b.size(); ++j) b[j] = P::st(R(b_in[j]));
  for (std::size_t i = 0; i < B; ++i) {
    for (std::size_t j = 0; j < D; ++j) x[j] = P::st(R(x_in[i * D + j]));
    const auto s = emulated_forward_row<P>(yr.data(), x.data(), g.data(), b_in ? b.data() : nullptr,
                                           n, D);
    for (std::size_t j = 0; j < D; ++j) y[i * D + j] = double(yr[j]);
    if (stats) stats[i] = {double(s.mean), double(s.stat), double(s.rstd)};
  }
}

// B rows backward under policy P, from the forward's stats.
template <class P>
void backward_rows(double* dx, double* dg, double* db, double* dlambda,
                   const RowStats<double>* stats, const double* dy_in, const double* x_in,
                   const double* g_in, const EmulatedNorm& n, std::size_t B, std::size_t D) {
  using R = typename P::real;
  std::vector<R> x(D), dy(D), dxr(D), g(n.gain == EmulatedNorm::Gain::vector ? D : 1, R(1));
  for (std::size_t j = 0; j < g.size() && g_in; ++j) g[j] = P::st(R(g_in[j]));
  for (std::size_t i = 0; i < B; ++i) {
    for (std::size_t j = 0; j < D; ++j) {
      x[j] = P::st(R(x_in[i * D + j]));
      dy[j] = P::st(R(dy_in[i * D + j]));
    }
    const RowStats<R> s{R(stats[i].mean), R(stats[i].stat), R(stats[i].rstd)};
    emulated_backward_row<P>(dxr.data(), dg, db, dlambda, s, dy.data(), x.data(), g.data(), n, D);
    for (std::size_t j = 0; j < D; ++j) dx[i * D + j] = double(dxr[j]);
  }
}

// Forward and backward of B rows under policy P (the backward only with in.dy).
template <class P>
void run_batch(BatchOutput out, BatchInput in, const EmulatedNorm& n, std::size_t B,
               std::size_t D) {
  std::vector<RowStats<double>> stats(B);
  forward_rows<P>(out.y, stats.data(), in.x, in.g, in.b, n, B, D);
  if (out.stats) std::copy(stats.begin(), stats.end(), out.stats);
  if (in.dy) backward_rows<P>(out.dx, nullptr, nullptr, nullptr, stats.data(), in.dy, in.x, in.g, n, B, D);
}

// Calls f(policy) with the Emulated<Storage, Accumulation> type the run-time pair names.
template <class F>
void with_policy(Precision p, F&& f) {
  auto with_format = [](fp::Format fmt, auto&& next) {
    switch (fmt) {
      case fp::Format::float64: return next(fp::Float64{});
      case fp::Format::float32: return next(fp::Float32{});
      case fp::Format::bfloat16: return next(fp::BFloat16{});
      case fp::Format::float16: return next(fp::Float16{});
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

void emulated_forward(double* y, RowStats<double>* stats, const double* x, const double* g,
                      const double* b, const EmulatedNorm& n, Precision p, std::size_t B,
                      std::size_t D) {
  with_policy(p, [&](auto policy) { forward_rows<decltype(policy)>(y, stats, x, g, b, n, B, D); });
}

void emulated_backward(double* dx, double* dg, double* db, double* dlambda,
                       const RowStats<double>* stats, const double* dy, const double* x,
                       const double* g, const EmulatedNorm& n, Precision p, std::size_t B,
                       std::size_t D) {
  with_policy(p, [&](auto policy) {
    backward_rows<decltype(policy)>(dx, dg, db, dlambda, stats, dy, x, g, n, B, D);
  });
}

void reference_batch(BatchOutput out, BatchInput in, const EmulatedNorm& n, std::size_t B,
                     std::size_t D) {
  EmulatedNorm exact = n;
  exact.variance = norm::VarianceAlgo::two_pass;  // the exact function, computed stably
  run_batch<Exact>(out, in, exact, B, D);
}

}  // namespace normlab::norm
