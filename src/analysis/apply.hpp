// `normlab apply`: run a normalizer on activations stored in an HDF5 file.
//
// Input datasets:  x (..., D) required, any rank >= 1, normalized over its last axis; dy (shape of
//                  x) optional upstream gradient; parameters by name (gain (D) or (1) for
//                  scalenorm, bias (D), lambda (1)), defaulting to their initial values (gain 1,
//                  bias 0).
// Output datasets: y (shape of x); with dy also dx (shape of x) and d_<param> for every parameter.
// The output is written to OUT.partial and renamed on success, so a failed run leaves nothing; nor
// does an output that overflowed (finite input, a non-finite y or dx).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "norm/options.hpp"

namespace normlab::tools {

struct ApplyRequest {
  std::string kind;
  norm::NormOptions options;
  std::string in;
  std::string out;             // "" -> default_output_path(in); a directory (or DIR/) -> in it
  std::string dtype = "auto";  // auto (as x is stored) | float32 | float64
};

struct ApplyResult {
  std::string out;
  std::string normalizer;  // describe(config)
  std::string dtype;
  std::size_t B = 0, D = 0;  // rows (the product of x's leading axes) and features
  bool backward = false;
};

std::string default_output_path(const std::string& in);  // "acts.h5" -> "acts.normed.h5"

ApplyResult apply_file(const ApplyRequest& request);

// Refuses an output `name` (y, dx: the shape of x, x_shape) holding a non-finite value: an Error
// naming FILE, how many rows hold one and the first as an index of x (x[1, 2, :]). float or double.
template <class T>
void check_finite_output(const std::string& file, const std::string& name, std::span<const T> values,
                         const std::vector<std::size_t>& x_shape);

}  // namespace normlab::tools
