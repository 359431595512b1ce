// Per-position statistics of a GRU's recurrent pre-activations (the RMSNorm paper's statistics
// table): at each layer's recurrent site gru{l}.norm_hh (with model.gru_norm_split = separate: the
// two sites gru{l}.norm_hh_gates, 2H features, and .norm_hh_cand, H), the input hp_t = W_hh h_{t-1}
// (B, 3H; or its 2H and H parts) and
// the normalizer's output N(hp_t) (before the bias b_hh), per time step t over the held-out
// batches: the mean and the standard deviation of all B * 3H values (two-pass within a call,
// combined across batches with Chan et al.'s formula). At t = 0, h_{-1} = 0 and so is hp_0.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "analysis/loaded_run.hpp"

namespace normlab::analysis {

struct PositionStats {
  std::string site;
  std::vector<double> in_mean, in_std, out_mean, out_std;  // (T) each
};

// Throws an Error naming the file when the run is not a GRU with recurrent sites.
std::vector<PositionStats> measure_positions(LoadedRun& run);
// The positions printed: 0-3, then t where t + 1 is a power of two, and the last (all: every t).
void print_positions(std::ostream& out, const std::string& run, const std::vector<PositionStats>& p,
                     bool all);
void write_positions(const std::string& path, const std::string& run, const std::vector<PositionStats>& p);

}  // namespace normlab::analysis
