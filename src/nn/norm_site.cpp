#include "nn/norm_site.hpp"

#include "core/error.hpp"

namespace normlab::nn {

ParamRole norm_param_role(const std::string& spec_name) {
  if (spec_name == "gain") return ParamRole::gain;
  if (spec_name == "bias") return ParamRole::bias;
  return ParamRole::lambda;
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
  norm_->forward(std::span<T>(y, B * D_), caches_[call], std::span<const T>(x, B * D_),
                 values(store), B, D_);
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
  norm_->backward(std::span<T>(dx, B * D_), grads(store), caches_.at(call),
                  std::span<const T>(dy, B * D_), std::span<const T>(x, B * D_), values(store), B,
                  D_);
  probe_.call = call;
  probe_.backward(dx, dy, B);
}

template class NormSite<float>;
template class NormSite<double>;

}  // namespace normlab::nn
