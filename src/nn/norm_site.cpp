#include "nn/norm_site.hpp"

#include <time.h>

#include <atomic>

#include "core/error.hpp"

namespace normlab::nn {

namespace {
std::atomic<bool> g_timing{false};
std::atomic<bool> g_timing_cpu{true};
std::atomic<std::int64_t> g_timed_ns{0};
std::atomic<std::uint64_t> g_timed_calls{0};

std::int64_t clock_ns(bool cpu) {
  timespec ts;
  clock_gettime(cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Adds the time from its construction to its end to the account, while timing is on.
class TimedCall {
 public:
  TimedCall() : on_(g_timing.load(std::memory_order_relaxed)) {
    if (on_) cpu_ = g_timing_cpu.load(std::memory_order_relaxed), start_ = clock_ns(cpu_);
  }
  ~TimedCall() {
    if (!on_) return;
    g_timed_ns.fetch_add(clock_ns(cpu_) - start_, std::memory_order_relaxed);
    g_timed_calls.fetch_add(1, std::memory_order_relaxed);
  }
  TimedCall(const TimedCall&) = delete;
  TimedCall& operator=(const TimedCall&) = delete;

 private:
  bool on_, cpu_ = true;
  std::int64_t start_ = 0;
};
}  // namespace

void start_norm_timing(bool cpu_clock) {
  g_timed_ns = 0;
  g_timed_calls = 0;
  g_timing_cpu = cpu_clock;
  g_timing = true;
}

NormTime stop_norm_timing() {
  g_timing = false;
  return {1e-9 * double(g_timed_ns.load()), g_timed_calls.load()};
}

// An element-wise kind's alpha scales like a gain: not decayed (unless optim.decay_gains_biases),
// it starts at its spec's init.
ParamRole norm_param_role(const std::string& spec_name) {
  if (spec_name == "gain" || spec_name == "alpha") return ParamRole::gain;
  if (spec_name == "bias") return ParamRole::bias;
  if (spec_name == "lambda") return ParamRole::lambda;
  fail("internal: no parameter role for the normalizer parameter '", spec_name, "'");
}

template <class T>
NormSite<T>::NormSite(ParamStore<T>& store, const std::string& prefix, const std::string& kind,
                      const norm::NormOptions& options, std::size_t D, std::size_t layer)
    : norm_(norm::make_normalizer(kind, options)), specs_(norm_->param_specs(D)), D_(D) {
  for (const auto& s : specs_) {
    handles_.push_back(store.add(prefix + "." + s.name, {s.size}, norm_param_role(s.name), s.init));
  }
  probe_.name = prefix;
  probe_.kind = kind;
  probe_.layer = layer;
  probe_.features = D;
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    if (specs_[i].name == "gain") probe_.gain = handles_[i];
    else if (specs_[i].name == "bias") probe_.bias = handles_[i];
    else if (specs_[i].name == "alpha") probe_.alpha = handles_[i];
    else probe_.lambda = handles_[i];
  }
  // What the probe reports about the normalizer comes from its Form: the gain as applied, g0 + g;
  // eps where it divides by r(s); lambda where it is a fixed option.
  const norm::Form form = norm::form(norm_->config(), D);
  probe_.gain_offset = form.g0;
  if (form.rescale) probe_.eps = form.eps;
  if (form.subtract == norm::Form::Subtract::fixed) probe_.fixed_lambda = form.lambda;
}

namespace {
// Named views (gain, bias, lambda) of a site's parameters, or of their gradients.
template <class V, class Slice>
norm::NormParams<V> bind(const std::vector<norm::ParamSpec>& specs,
                         const std::vector<Param>& handles, Slice slice) {
  norm::NormParams<V> p;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    std::span<V> v = slice(handles[i]);
    if (specs[i].name == "gain") p.gain = v;
    else if (specs[i].name == "bias") p.bias = v;
    else if (specs[i].name == "alpha") p.alpha = v;
    else p.lambda = v;
  }
  return p;
}
}  // namespace

template <class T>
norm::NormParams<const T> NormSite<T>::values(const ParamStore<T>& store) const {
  return bind<const T>(specs_, handles_, [&](Param h) { return store.value(h); });
}

template <class T>
norm::NormParams<T> NormSite<T>::grads(ParamStore<T>& store) const {
  return bind<T>(specs_, handles_, [&](Param h) { return store.grad(h); });
}

template <class T>
void NormSite<T>::forward(const ParamStore<T>& store, T* y, const T* x, std::size_t B,
                          std::size_t call) {
  if (caches_.size() <= call) caches_.resize(call + 1);
  perturbed_forward_ = probe_.perturbation != nullptr;
  if (perturbed_forward_) {  // the analysis tools' hook (nn/probe.hpp): normalize a perturbed copy
    perturbed_.assign(x, x + B * D_);
    probe_.perturb(perturbed_.data(), B);
    x = perturbed_.data();
  }
  {
    const TimedCall timed;
    norm_->forward(std::span<T>(y, B * D_), caches_[call], std::span<const T>(x, B * D_),
                   values(store), B, D_);
  }
  probe_.call = call;
  probe_.forward(x, y, B);
}

template <class T>
void NormSite<T>::backward(ParamStore<T>& store, T* dx, const T* dy, const T* x, std::size_t B,
                           std::size_t call) {
  if (perturbed_forward_) {
    fail("internal: backward of normalizer site ", probe_.name,
         " after a perturbed forward (its input was not the one the model kept)");
  }
  {
    const TimedCall timed;
    norm_->backward(std::span<T>(dx, B * D_), grads(store), caches_.at(call),
                    std::span<const T>(dy, B * D_), std::span<const T>(x, B * D_), values(store),
                    B, D_);
  }
  probe_.call = call;
  probe_.backward(dx, dy, B);
}

template class NormSite<float>;
template class NormSite<double>;

}  // namespace normlab::nn
