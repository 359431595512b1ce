// Flat parameter buffers (normalizer.hpp): one contiguous buffer per normalizer, sliced into the
// named views its forward and backward take.
#include <span>
#include <vector>

#include "core/error.hpp"
#include "norm/normalizer.hpp"

namespace normlab::norm {

std::size_t total_size(const std::vector<ParamSpec>& specs) {
  std::size_t n = 0;
  for (const auto& s : specs) n += s.size;
  return n;
}

template <class T>
NormParams<T> bind_params(const std::vector<ParamSpec>& specs, std::span<T> flat) {
  if (flat.size() != total_size(specs)) {
    fail("parameter buffer has ", flat.size(), " values, the normalizer needs ",
         total_size(specs));
  }
  NormParams<T> p;
  std::size_t offset = 0;
  for (const auto& s : specs) {
    std::span<T> view = flat.subspan(offset, s.size);
    if (s.name == "gain") p.gain = view;
    else if (s.name == "bias") p.bias = view;
    else if (s.name == "lambda") p.lambda = view;
    else if (s.name == "alpha") p.alpha = view;
    else fail("internal: unknown normalizer parameter '", s.name, "'");
    offset += s.size;
  }
  return p;
}

template NormParams<float> bind_params(const std::vector<ParamSpec>&, std::span<float>);
template NormParams<double> bind_params(const std::vector<ParamSpec>&, std::span<double>);
template NormParams<const float> bind_params(const std::vector<ParamSpec>&, std::span<const float>);
template NormParams<const double> bind_params(const std::vector<ParamSpec>&,
                                              std::span<const double>);

}  // namespace normlab::norm
