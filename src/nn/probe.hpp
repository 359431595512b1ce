// A probe: a named point of a model where activations can be watched (a normalizer site, the
// residual stream leaving a Transformer block). The model calls the observer attached to a probe,
// when one is, with what passes that point in forward and in backward; the statistics layer
// (src/stats) attaches observers on the steps it records. Unobserved, a probe costs one branch.
// The analysis tools (src/analysis) may also attach a perturbation, which replaces what enters the
// point in forward: a normalizer then normalizes the perturbed copy of its input (the rest of the
// model, a pre-norm residual path for one, sees the original), and the residual stream leaving a
// block is perturbed in place (the next block sees it). Without one the cost is a null check.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "nn/params.hpp"

namespace normlab::nn {

template <class T>
class Observer {
 public:
  virtual ~Observer() = default;
  // x (rows, D): the input at the point; y: a normalizer's output, nullptr at other points.
  virtual void forward(const T* x, const T* y, std::size_t rows, std::size_t D) = 0;
  // dx (rows, D): the gradient at the input; dy: at a normalizer's output, nullptr elsewhere.
  virtual void backward(const T* dx, const T* dy, std::size_t rows, std::size_t D) = 0;
};

template <class T>
class Perturbation {
 public:
  virtual ~Perturbation() = default;
  // Replaces x (rows, D) in place by its perturbed value.
  virtual void apply(T* x, std::size_t rows, std::size_t D) = 0;
};

template <class T>
struct Probe {
  std::string name;       // "block0.attn.norm", "block0.residual"
  std::string kind;       // the normalizer kind, or "residual"
  std::size_t layer = 0;  // the layer or block it belongs to
  std::size_t features = 0;
  // The normalizer's parameters (size 0 when absent), and how to read them.
  Param gain, bias, lambda;
  Param alpha;                 // an element-wise kind's scalar alpha (DyT), size 0 elsewhere
  double gain_offset = 0;      // added to the stored gain: the Form's g0 (norm/form.hpp)
  double fixed_lambda = NAN;   // partial centering's lambda when it is an option, not learned
  double eps = NAN;            // the normalizer's eps, when it has one
  Observer<T>* observer = nullptr;
  Perturbation<T>* perturbation = nullptr;  // forward only: no backward after a perturbed forward
  // The call number of the forward or backward the observer is shown (a GRU's recurrent site is
  // called once per time step: call t; backward runs them in reverse). 0 for one-call sites.
  std::size_t call = 0;

  void forward(const T* x, const T* y, std::size_t rows) const {
    if (observer) observer->forward(x, y, rows, features);
  }
  void backward(const T* dx, const T* dy, std::size_t rows) const {
    if (observer) observer->backward(dx, dy, rows, features);
  }
  // Applies the attached perturbation, if any, to x (rows, features) in place.
  void perturb(T* x, std::size_t rows) const {
    if (perturbation) perturbation->apply(x, rows, features);
  }
};

}  // namespace normlab::nn
