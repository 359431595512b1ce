#include "norm/array_call.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "norm/registry.hpp"

namespace normlab::norm {

Rows rows_of(std::string_view where, const Shape& x_shape, bool allow_empty) {
  if (x_shape.empty()) {
    fail(where, "'x' is a scalar; normlab normalizes the last axis of an array of shape (..., D): "
                "give at least one row of D features");
  }
  Rows r{1, x_shape.back()};
  for (std::size_t k = 0; k + 1 < x_shape.size(); ++k) r.B *= x_shape[k];
  if (r.D == 0) fail(where, "'x' has D = 0 features (its last axis), shape ", shape_string(x_shape));
  if (r.B == 0 && !allow_empty) fail(where, "'x' has no rows, shape ", shape_string(x_shape));
  return r;
}

void check_like_x(std::string_view where, std::string_view name, const Shape& shape, const Shape& x_shape) {
  if (shape != x_shape) {
    fail(where, "'", name, "' has shape ", shape_string(shape), ", expected the shape of x ",
         shape_string(x_shape));
  }
}

void check_param_shape(std::string_view where, const Normalizer& normalizer, const ParamSpec& spec,
                       const Shape& shape) {
  if (shape != Shape{spec.size}) {
    fail(where, "'", spec.name, "' has shape ", shape_string(shape), ", ", normalizer.kind(), " needs ",
         shape_string(Shape{spec.size}));
  }
}

void check_param_name(std::string_view where, const Normalizer& normalizer,
                      const std::vector<ParamSpec>& specs, std::string_view name) {
  const std::vector<std::string> known{"gain", "bias", "lambda", "alpha"};
  if (std::find(known.begin(), known.end(), name) == known.end()) {
    fail(where, "'", name, "' is not a normalizer parameter", did_you_mean(name, known),
         "; the parameters are gain, bias, lambda and alpha");
  }
  for (const auto& s : specs) {
    if (s.name == name) return;
  }
  fail(where, "'", name, "' is given, but ", describe(normalizer.config()), " has no ", name, " parameter");
}

}  // namespace normlab::norm
