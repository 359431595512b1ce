// One normalizer placed in a model: the normalizer, its parameters' handles in the model's
// ParamStore, the cache of its last forward call(s), and forward/backward over that store.
// A site may be called several times per forward (a GRU's recurrent projection, once per time
// step): pass the call index and the site keeps one cache per call. The site is also a probe
// (nn/probe.hpp) named as its parameters' prefix: an attached observer sees x, y, dx and dy.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/params.hpp"
#include "nn/probe.hpp"
#include "norm/registry.hpp"

namespace normlab::nn {

template <class T>
class NormSite {
 public:
  NormSite() = default;
  // Declares the normalizer `kind` over D features; its parameters are named "<prefix>.gain", ...
  // `layer` is the layer or block the site belongs to (for the probe).
  NormSite(ParamStore<T>& store, const std::string& prefix, const std::string& kind,
           const norm::NormOptions& options, std::size_t D, std::size_t layer);

  bool active() const { return norm_ != nullptr; }  // false for a default-constructed site
  const std::string& kind() const { return norm_->kind(); }
  const norm::NormConfig& config() const { return norm_->config(); }  // every option resolved
  std::size_t features() const { return D_; }

  // y (B, D) <- N(x (B, D)); the cache is kept as call number `call`.
  void forward(const ParamStore<T>& store, T* y, const T* x, std::size_t B, std::size_t call = 0);
  // dx (B, D) written, parameter gradients accumulated; x is the input of forward call `call`.
  void backward(ParamStore<T>& store, T* dx, const T* dy, const T* x, std::size_t B,
                std::size_t call = 0);

  const norm::NormCache& cache(std::size_t call = 0) const { return caches_.at(call); }
  Probe<T>& probe() { return probe_; }
  const Probe<T>& probe() const { return probe_; }

 private:
  norm::NormParams<const T> values(const ParamStore<T>& store) const;
  norm::NormParams<T> grads(ParamStore<T>& store) const;

  std::unique_ptr<norm::Normalizer> norm_;
  std::vector<norm::ParamSpec> specs_;
  std::vector<Param> handles_;  // in specs_ order
  std::size_t D_ = 0;
  std::vector<norm::NormCache> caches_;
  Probe<T> probe_;
  std::vector<T> perturbed_;      // the perturbed copy of the input, while a perturbation is attached
  bool perturbed_forward_ = false;  // the last forward was perturbed: backward refuses
};

// A process-wide account of the time spent inside normalizers (forward and backward, every site),
// for `bench pair`'s Amdahl bound. Off by default, when a call pays one relaxed atomic load; on,
// each call reads the clock twice, so time the steps that matter with it off. The clock is the
// calling thread's CPU time (a site called on a pool thread adds that thread's), or wall time.
struct NormTime {
  double seconds = 0;
  std::uint64_t calls = 0;  // forward and backward calls, each counted
};
void start_norm_timing(bool cpu_clock);  // zeroes the account and turns it on
NormTime stop_norm_timing();             // turns it off; what was accounted since the start

// The parameter role of a normalizer parameter named by its spec: "gain" and "alpha" are gains,
// "bias" a bias, "lambda" lambda (none decayed unless optim.decay_gains_biases).
ParamRole norm_param_role(const std::string& spec_name);

}  // namespace normlab::nn
