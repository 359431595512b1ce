// The normalizer interface: forward and backward over the rows of a (B, D) matrix, in float and
// double. Concrete normalizers come from the registry (registry.hpp) by name.
//
// Conventions (as in llm.c): arguments are outputs, cache, inputs, parameters, sizes.
// forward writes y and fills a cache; backward reads that cache, WRITES dx and ACCUMULATES (+=)
// into the parameter gradients, so zeroing gradients is one fill before the first backward.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "norm/options.hpp"

namespace normlab::norm {

// One learned parameter of a normalizer, in the order they sit in a flat parameter buffer.
struct ParamSpec {
  std::string name;   // "gain", "bias", "lambda" or "alpha"
  std::size_t size;   // number of values: D, or 1 for a scalar
  double init;        // initial value of every element
};

// Views of a normalizer's parameters (or of their gradients); an empty span is an absent one.
template <class T>
struct NormParams {
  std::span<T> gain;    // (D), or (1) for a scalar gain
  std::span<T> bias;    // (D)
  std::span<T> lambda;  // (1), partial centering with a learned lambda
  std::span<T> alpha;   // (1), an element-wise kind's input scale (DyT)

  NormParams() = default;
  NormParams(std::span<T> g, std::span<T> b, std::span<T> l, std::span<T> a = {})
      : gain(g), bias(b), lambda(l), alpha(a) {}
  template <class U>  // NormParams<T> -> NormParams<const T>
  NormParams(const NormParams<U>& o)
      : gain(o.gain), bias(o.bias), lambda(o.lambda), alpha(o.alpha) {}
};

// Slices a flat buffer laid out as `specs` says into named views.
template <class T>
NormParams<T> bind_params(const std::vector<ParamSpec>& specs, std::span<T> flat);

std::size_t total_size(const std::vector<ParamSpec>& specs);

// A flat parameter buffer holding every parameter's initial value.
template <class T>
std::vector<T> initial_params(const std::vector<ParamSpec>& specs) {
  std::vector<T> flat;
  for (const auto& s : specs) flat.insert(flat.end(), s.size, T(s.init));
  return flat;
}

// Per-row statistics from one forward call, needed by its backward. A value type: keep one per
// call (a GRU unrolled over T steps keeps T of them). Accumulated and stored in double. An
// element-wise kind (DyT) has none: it keeps B rows of mean 0, stat 0, rstd 1, as a kind that
// neither centers nor rescales.
struct NormCache {
  std::vector<double> mean;  // (B) row mean of x (0 where the kind does not center)
  std::vector<double> stat;  // (B) the statistic under the root: mean square, variance, |x|^2
  std::vector<double> rstd;  // (B) 1 / denominator (1 where the kind does not rescale)
};

class Normalizer {
 public:
  explicit Normalizer(NormConfig config) : config_(std::move(config)) {}
  virtual ~Normalizer() = default;

  const NormConfig& config() const { return config_; }
  const std::string& kind() const { return config_.kind; }

  // The learned parameters for D features, in flat-buffer order, with their initial values.
  virtual std::vector<ParamSpec> param_specs(std::size_t D) const = 0;

  // y (B,D) <- norm(x (B,D)); cache <- per-row statistics.
  virtual void forward(std::span<float> y, NormCache& cache, std::span<const float> x,
                       NormParams<const float> params, std::size_t B, std::size_t D) const = 0;
  virtual void forward(std::span<double> y, NormCache& cache, std::span<const double> x,
                       NormParams<const double> params, std::size_t B, std::size_t D) const = 0;

  // dx (B,D) <- dL/dx; grads += dL/dparams. `cache` and `x` are those of the matching forward.
  virtual void backward(std::span<float> dx, NormParams<float> grads, const NormCache& cache,
                        std::span<const float> dy, std::span<const float> x,
                        NormParams<const float> params, std::size_t B, std::size_t D) const = 0;
  virtual void backward(std::span<double> dx, NormParams<double> grads, const NormCache& cache,
                        std::span<const double> dy, std::span<const double> x,
                        NormParams<const double> params, std::size_t B, std::size_t D) const = 0;

 protected:
  // Throws Error "<kind>: <name> has n values, expected B*D = want" unless s holds `want` values:
  // the size check of x, y, dy and dx that every kind's forward and backward make.
  template <class T>
  void check_rows(const char* name, std::span<T> s, std::size_t want) const {
    if (s.size() != want) fail(kind(), ": ", name, " has ", s.size(), " values, expected B*D = ", want);
  }

 private:
  NormConfig config_;
};

}  // namespace normlab::norm
