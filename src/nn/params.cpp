#include "nn/params.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/strings.hpp"

namespace normlab::nn {

std::string to_string(ParamRole role) {
  switch (role) {
    case ParamRole::weight: return "weight";
    case ParamRole::bias: return "bias";
    case ParamRole::gain: return "gain";
    case ParamRole::embedding: return "embedding";
    case ParamRole::lambda: return "lambda";
  }
  return "?";
}

template <class T>
Param ParamStore<T>::add(std::string name, std::vector<std::size_t> shape, ParamRole role,
                         double init) {
  if (allocated_) fail("parameter '", name, "' declared after the store was allocated");
  for (const auto& i : infos_) {
    if (i.name == name) fail("parameter '", name, "' declared twice");
  }
  std::size_t size = 1;
  for (auto n : shape) size *= n;
  std::size_t offset = infos_.empty() ? 0 : infos_.back().offset + infos_.back().size;
  infos_.push_back({std::move(name), std::move(shape), role, init, offset, size});
  return {offset, size};
}

template <class T>
void ParamStore<T>::allocate() {
  std::size_t total = infos_.empty() ? 0 : infos_.back().offset + infos_.back().size;
  values_.assign(total, T(0));
  grads_.assign(total, T(0));
  allocated_ = true;
}

template <class T>
const ParamInfo& ParamStore<T>::info(const std::string& name) const {
  for (const auto& i : infos_) {
    if (i.name == name) return i;
  }
  std::vector<std::string> names;
  for (const auto& i : infos_) names.push_back(i.name);
  fail("no parameter '", name, "'", did_you_mean(name, names));
}

template <class T>
void ParamStore<T>::zero_grads() {
  std::fill(grads_.begin(), grads_.end(), T(0));
}

template <class T>
void ParamStore<T>::initialize(double mean, double std, Rng& rng) {
  if (!allocated_) fail("initialize() before allocate()");
  for (const auto& i : infos_) {
    std::span<T> v(values_.data() + i.offset, i.size);
    if (i.role == ParamRole::weight || i.role == ParamRole::embedding) fill_normal(v, rng, mean, std);
    else std::fill(v.begin(), v.end(), T(i.init));
  }
}

template <class T>
void ParamStore<T>::initialize(const std::string& scheme, double std, Rng& rng) {
  const std::vector<std::string> schemes{"normal", "offset", "xavier", "kaiming"};
  if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) {
    fail("model.init: '", scheme, "' is not one of ", join(schemes, ", "),
         did_you_mean(scheme, schemes));
  }
  if (!(std > 0)) fail("model.init_std must be > 0, got ", std);
  if (scheme == "normal" || scheme == "offset") {
    initialize(scheme == "offset" ? 0.2 : 0.0, std, rng);
    return;
  }
  if (!allocated_) fail("initialize() before allocate()");
  for (const auto& i : infos_) {
    std::span<T> v(values_.data() + i.offset, i.size);
    if (i.role == ParamRole::weight && i.shape.size() == 2) {
      const double fan_out = double(i.shape[0]), fan_in = double(i.shape[1]);
      const double sd = scheme == "xavier" ? std::sqrt(2 / (fan_in + fan_out)) : std::sqrt(2 / fan_in);
      fill_normal(v, rng, 0.0, sd);
    } else if (i.role == ParamRole::weight || i.role == ParamRole::embedding) {
      fill_normal(v, rng, 0.0, std);
    } else {
      std::fill(v.begin(), v.end(), T(i.init));
    }
  }
}

template class ParamStore<float>;
template class ParamStore<double>;

}  // namespace normlab::nn
