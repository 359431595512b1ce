// A normalizer call on arrays of any rank, normalized over the last axis: the checks of shapes and
// parameters, with the messages `normlab apply` (analysis/apply.cpp) and the Python module
// (python/module.cpp) share. `where` goes before each quoted name: "acts.h5: dataset " for apply
// ("acts.h5: dataset 'x' is a scalar ..."), "" for Python ("'x' is a scalar ...").
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "norm/normalizer.hpp"
#include "norm/options.hpp"

namespace normlab::norm {

using Shape = std::vector<std::size_t>;

// x of shape (..., D) as B rows of D features (B the product of the leading axes; 1 for a vector).
// Throws for a scalar and for D = 0; for B = 0 too unless allow_empty (an empty batch, as torch's
// modules take one).
struct Rows {
  std::size_t B = 0, D = 0;
};
Rows rows_of(std::string_view where, const Shape& x_shape, bool allow_empty = false);

// "'dy' has shape (8, 64), expected the shape of x (2, 4, 64)".
void check_like_x(std::string_view where, std::string_view name, const Shape& shape, const Shape& x_shape);

// A given parameter's shape against its spec: "'gain' has shape (2,), rmsnorm needs (3,)".
void check_param_shape(std::string_view where, const Normalizer& normalizer, const ParamSpec& spec,
                       const Shape& shape);

// A given parameter the normalizer does not have: "'bias' is given, but rmsnorm(...) has no bias
// parameter". Names other than gain, bias, lambda and alpha are refused with the nearest one.
void check_param_name(std::string_view where, const Normalizer& normalizer,
                      const std::vector<ParamSpec>& specs, std::string_view name);

// A learned lambda held to the range a fixed one is (0 <= lambda <= 1).
template <class T>
void check_param_values(std::string_view where, const ParamSpec& spec, std::span<const T> values) {
  if (spec.name != "lambda") return;
  for (T v : values) check_lambda(double(v), cat(where, "'lambda'"));
}

}  // namespace normlab::norm
