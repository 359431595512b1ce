// The normalizer of one GRU projection P = W_ih x or W_hh h (B, 3H), whose features are the
// reset gate, the update gate and the candidate, [r | z | n] as torch.nn.GRU orders them
// (model.gru_norm_split):
//   joint      N(P) over all 3H features, one site <prefix> (Ba et al. 2016's normalized GRU)
//   separate   [N_g(P[:, :2H]) | N_c(P[:, 2H:])]: the gates (2H) and the candidate (H) with their
//              own statistics and parameters, sites <prefix>_gates and <prefix>_cand
// `separate` is the GRU of Nematus, whose layer-normalized GRU (and the RMSNorm paper's RNNSearch
// built on it) keeps the gate and candidate weights as separate matrices (W, U over 2H; Wx, Ux over
// H) and normalizes each product apart. It changes what a normalizer sees: LayerNorm's mean and
// RMSNorm's root mean square are taken per group, and pRMSNorm's first p% features come from both
// groups (joint, they all come from the reset gate).
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "models/site_options.hpp"
#include "nn/norm_site.hpp"

namespace normlab::models {

enum class GruNormSplit { joint, separate };
GruNormSplit parse_gru_norm_split(const std::string& name);  // names the key model.gru_norm_split

// Where row i's features sit in a buffer of N rows x 3H values (a projection, its normalized
// form, their gradients): torch's interleaved rows [r z n] (joint); or the N rows' gates [r z]
// as one (N, 2H) block followed by their candidates as one (N, H) block (separate), so that
// each group is contiguous and its normalizer, bias and GEMMs run in place. Gathering the groups
// out of interleaved rows instead cost 12% of a training step in copies (GRU H = 128, B = 32).
// A group g (joint: 0, all 3H; separate: 0 the gates, 1 the candidate) is the weight rows and
// bias entries [first_col(g), first_col(g) + width(g)); width(g) is also its row stride.
struct GateLayout {
  bool separate = false;
  std::size_t H = 0, N = 0;

  std::size_t groups() const { return separate ? 2 : 1; }
  std::size_t width(std::size_t g) const { return separate ? (g == 0 ? 2 * H : H) : 3 * H; }
  std::size_t first_col(std::size_t g) const { return g == 0 ? 0 : 2 * H; }
  // the offset of group g of row `row`
  std::size_t at(std::size_t row, std::size_t g) const {
    if (!separate) return row * 3 * H;
    return g == 0 ? row * 2 * H : N * 2 * H + row * H;
  }
  std::size_t gates(std::size_t row) const { return at(row, 0); }  // r at +0, z at +H
  std::size_t cand(std::size_t row) const { return separate ? at(row, 1) : row * 3 * H + 2 * H; }
  // Row `first` onwards of `base`, as group pointers (joint: [0] the whole rows).
  template <class P>
  std::array<P*, 2> rows(P* base, std::size_t first) const {
    return {base + at(first, 0), base + at(first, 1)};
  }
};

template <class T>
class GruProjectionNorm {
 public:
  GruProjectionNorm() = default;  // inactive: the projection is not normalized
  // Declares the site(s) of `kind` over a projection of 3H features named from `prefix`
  // ("gru0.norm_ih"); `layer` is the GRU layer, for the probes.
  GruProjectionNorm(nn::ParamStore<T>& store, const std::string& prefix, const std::string& kind,
                    const norm::NormOptions& options, std::size_t H, std::size_t layer,
                    GruNormSplit split);

  bool active() const { return joint_.active() || gates_.active(); }

  // y <- the normalized x, n rows given as group pointers (GateLayout::rows); the sites keep
  // their caches as call number `call`.
  void forward(const nn::ParamStore<T>& store, std::array<T*, 2> y, std::array<const T*, 2> x,
               std::size_t n, std::size_t call = 0);
  // dx written from dy, parameter gradients accumulated; x is forward call `call`'s input.
  void backward(nn::ParamStore<T>& store, std::array<T*, 2> dx, std::array<const T*, 2> dy,
                std::array<const T*, 2> x, std::size_t n, std::size_t call = 0);

  // Its sites in forward order (one joint, or the gates then the candidate).
  void append_sites(std::vector<const nn::NormSite<T>*>& out) const;
  void append_probes(std::vector<nn::Probe<T>*>& out);

 private:
  nn::NormSite<T> joint_;         // active when joint
  nn::NormSite<T> gates_, cand_;  // active when separate
};

}  // namespace normlab::models
