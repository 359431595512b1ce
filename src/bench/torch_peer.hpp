// `normlab bench train`'s PyTorch peer: scripts/bench_train_torch.py run with the same shapes,
// thread count, step counts, clock and OpenBLAS core setting, its per-step figures read back from
// the JSON lines it prints.
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <utility>

#include "bench/train.hpp"

namespace normlab::tools {

// The OpenBLAS core setting, passed on to the peer so that both sides run the same kernels.
inline constexpr const char* kCoreTypeVariable = "OPENBLAS_CORETYPE";

struct Figure {
  double median_ms = NAN, min_ms = NAN;
};
using Key = std::pair<std::string, std::string>;  // workload, norm

struct PeerResult {
  bool ran = false;
  std::string note;  // why it did not run, or what ran
  std::string torch_version, openblas_core;
  std::map<Key, Figure> figures;
};

// Runs the peer unless o.torch is off (or automatic and the interpreter cannot import torch);
// `coretype` is the OPENBLAS_CORETYPE in use here ("" when unset).
PeerResult run_torch_peer(const BenchTrainOptions& o, const std::string& coretype);

}  // namespace normlab::tools
