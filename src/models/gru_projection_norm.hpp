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

#include <cstddef>
#include <string>
#include <vector>

#include "models/site_options.hpp"
#include "nn/norm_site.hpp"

namespace normlab::models {

enum class GruNormSplit { joint, separate };
GruNormSplit parse_gru_norm_split(const std::string& name);  // names the key model.gru_norm_split

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

  // y (B, 3H) <- the normalized x (B, 3H); the sites keep their caches as call number `call`.
  void forward(const nn::ParamStore<T>& store, T* y, const T* x, std::size_t B,
               std::size_t call = 0);
  // dx (B, 3H) written from dy (B, 3H), parameter gradients accumulated; x is forward call `call`'s.
  void backward(nn::ParamStore<T>& store, T* dx, const T* dy, const T* x, std::size_t B,
                std::size_t call = 0);

  // Its sites in forward order (one joint, or the gates then the candidate).
  void append_sites(std::vector<const nn::NormSite<T>*>& out) const;
  void append_probes(std::vector<nn::Probe<T>*>& out);

 private:
  nn::NormSite<T> joint_;         // active when joint
  nn::NormSite<T> gates_, cand_;  // active when separate
  std::size_t H_ = 0;
  // separate: the two groups gathered into rows of their own, since a site normalizes contiguous
  // (B, D) rows; reused call after call, so a step in the steady state allocates nothing.
  std::vector<T> xg_, xc_, yg_, yc_, dg_, dc_;  // (B, 2H) and (B, H) pairs
};

}  // namespace normlab::models
