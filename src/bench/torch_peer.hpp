// `normlab bench train`'s PyTorch peers: scripts/bench_train_torch.py run by each interpreter of
// --python with the same shapes, thread count, step counts, clock and OpenBLAS core setting, its
// per-step figures read back from the JSON lines it prints.
#pragma once

#include <cmath>
#include <cstddef>
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
  std::string label;  // "torch 2.5.1", "torch 2.5.1 compiled": the column group's title
  std::string note;   // why it did not run, or the command that ran
  std::string torch_version, openblas_core;
  std::string blas;     // what the peer's torch multiplies matrices with (its own words)
  std::string rmsnorm;  // which RMSNorm its rmsnorm rows use
  std::map<Key, Figure> figures;
  std::map<Key, std::size_t> param_counts;  // the peer's model's parameters, per row
  std::map<Key, std::string> errors;        // rows that did not run (a compile that failed), why
};

// The JSON line protocol, one line of the peer's stdout into `r`: the setup line (torch version,
// threads, shapes, which must equal normlab's) or one row's figures. Lines that are not JSON
// objects are ignored. Throws when the peer ran other shapes or thread counts than asked.
void read_peer_line(PeerResult& r, const std::string& line, const BenchTrainOptions& o,
                    int threads);

// Runs the peer with `python` at `threads` threads unless o.torch is off (or automatic and the
// interpreter cannot import torch); `compiled`: the models go through torch.compile, and a torch
// without it (1.x) is reported as not run. `coretype` is the OPENBLAS_CORETYPE in use here ("" when
// unset).
PeerResult run_torch_peer(const BenchTrainOptions& o, const std::string& python, int threads,
                          bool compiled, const std::string& coretype);

}  // namespace normlab::tools
