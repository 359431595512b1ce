// `normlab apply`: run a normalizer on activations stored in an HDF5 file.
//
// Input datasets:  x (B, D) required; dy (B, D) optional upstream gradient; parameters by name
//                  (gain (D) or (1) for scalenorm, bias (D), lambda (1)), defaulting to their
//                  initial values (gain 1, bias 0).
// Output datasets: y (B, D); with dy also dx (B, D) and d_<param> for every parameter.
// The output is written to OUT.partial and renamed on success, so a failed run leaves nothing.
#pragma once

#include <cstddef>
#include <string>

#include "norm/options.hpp"

namespace normlab::tools {

struct ApplyRequest {
  std::string kind;
  norm::NormOptions options;
  std::string in;
  std::string out;             // "" -> default_output_path(in)
  std::string dtype = "auto";  // auto (as x is stored) | float32 | float64
};

struct ApplyResult {
  std::string out;
  std::string normalizer;  // describe(config)
  std::string dtype;
  std::size_t B = 0, D = 0;
  bool backward = false;
};

std::string default_output_path(const std::string& in);  // "acts.h5" -> "acts.normed.h5"

ApplyResult apply_file(const ApplyRequest& request);

}  // namespace normlab::tools
