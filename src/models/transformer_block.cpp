// The Transformer's block structure (models/transformer_lm.hpp): how each sublayer wraps its
// function F with the normalizer sites its block's placement asks for (models/placement.hpp),
// forward and backward, and the sites and probes in forward order. The sublayers' functions
// (attention, MLP) and the model's ends (embeddings, head) are in transformer_lm.cpp.
#include "models/transformer_lm.hpp"

#include <cmath>

#include "core/error.hpp"
#include "models/transformer_kernels.hpp"

namespace normlab::models {

using detail::add_parallel;
using detail::axpy_parallel;
using detail::scale_parallel;
using detail::sized;

// LayerNorm Scaling (Sun et al. 2025, "The Curse of Depth", arXiv 2502.05795): the output of each
// pre-norm of block l (1-based) times 1/sqrt(l), the attention's and the MLP's alike, as the
// authors' code (LayerNorm-Scaling, modeling_llama.py, norm type LNS) does; the final norm is
// not scaled. Here the sites before F: pre, and sandwich's first norm.
// DeepNorm (Wang et al. 2022, arXiv 2203.00555), decoder-only: alpha = (2M)^(1/4) on the residual
// of every deepnorm block, and the init of its MLP weights (fc, proj), the value rows of qkv and
// the attention's output projection times beta = (8M)^(-1/4), M the number of blocks.
// GPT-2's scaled init (model.scaled_init): the residual output projections (attn.proj, mlp.proj)
// drawn with std / sqrt(2 layers) (Radford et al. 2019; nanoGPT's c_proj init).
template <class T>
void TransformerLm<T>::apply_depth_schemes() {
  const std::size_t L = c_.layers, d = c_.d;
  bool any_pre_norm = false;
  for (std::size_t l = 0; l < L; ++l) {
    Block& b = blocks_[l];
    if (c_.layernorm_scaling && norm_before(b.placement)) {
      b.attn.in_scale = b.mlp.in_scale = T(1 / std::sqrt(double(l + 1)));
      any_pre_norm = true;
    }
    if (b.placement == Placement::deepnorm) {
      b.attn.skip_scale = b.mlp.skip_scale = T(deepnorm_alpha(L));
      const double beta = deepnorm_beta(L);
      params_.scale_init(b.qkv_W, beta, 2 * d * d, d * d);  // the value rows [2d, 3d) of (3d, d)
      for (nn::Param w : {b.proj_W, b.fc_W, b.out_W}) params_.scale_init(w, beta);
    }
    if (c_.scaled_init) {
      for (nn::Param w : {b.proj_W, b.out_W}) params_.scale_init(w, 1 / std::sqrt(2.0 * double(L)));
    }
  }
  if (c_.layernorm_scaling && !any_pre_norm) {
    fail("model.layernorm_scaling scales the normalizer before F (placement pre or sandwich); no "
         "block has one (model.placement: ", to_string(blocks_[0].placement), ", ...)");
  }
}

template <class T>
void TransformerLm<T>::sublayer_forward(Block& blk, Sublayer& sub, bool attention, const T* s) {
  const std::size_t N = B_ * len_, n = N * c_.d;
  const Placement p = blk.placement;
  const T* u = s;
  if (norm_before(p)) {
    sub.u.resize(n);
    sub.norm.forward(params_, sub.u.data(), s, N);
    if (sub.in_scale != T(1)) scale_parallel(sub.u.data(), sub.in_scale, n);
    u = sub.u.data();
  }
  sub.f.resize(n);
  if (attention) attention_forward(blk, sub.f.data(), u);
  else mlp_forward(blk, sub.f.data(), u);
  const T* g = sub.f.data();
  if (sub.norm_out.active()) {
    sub.g.resize(n);
    sub.norm_out.forward(params_, sub.g.data(), sub.f.data(), N);
    g = sub.g.data();
  }
  sub.r.resize(n);
  if (sub.skip_scale != T(1)) axpy_parallel(sub.r.data(), sub.skip_scale, s, g, n);
  else add_parallel(sub.r.data(), s, g, n);
  if (norm_after_sum(p)) {
    sub.y.resize(n);
    sub.norm.forward(params_, sub.y.data(), sub.r.data(), N);
  } else {
    sub.y.clear();
  }
}

template <class T>
void TransformerLm<T>::sublayer_backward(Block& blk, Sublayer& sub, bool attention, const T* s,
                                         const T* dy, T* ds) {
  const std::size_t N = B_ * len_, n = N * c_.d;
  const Placement p = blk.placement;
  const T* d_sum = dy;  // the gradient reaching r = s + g
  if (norm_after_sum(p)) {
    T* dr = sized(scratch_.d_sum, n);
    sub.norm.backward(params_, dr, dy, sub.r.data(), N);
    d_sum = dr;
  }
  const T* d_f = d_sum;
  if (sub.norm_out.active()) {
    T* dg = sized(scratch_.d_f, n);
    sub.norm_out.backward(params_, dg, d_sum, sub.f.data(), N);
    d_f = dg;
  }
  const T* u = norm_before(p) ? sub.u.data() : s;
  T* du = sized(scratch_.du, n);
  if (attention) attention_backward(blk, du, d_f, u);
  else mlp_backward(blk, du, d_f, u);
  if (norm_before(p)) {
    if (sub.in_scale != T(1)) scale_parallel(du, sub.in_scale, n);
    T* du_in = sized(scratch_.du_in, n);
    sub.norm.backward(params_, du_in, du, s, N);
    du = du_in;
  }
  // the residual path plus the path through F
  if (sub.skip_scale != T(1)) axpy_parallel(ds, sub.skip_scale, d_sum, du, n);
  else add_parallel(ds, d_sum, du, n);
}

template <class T>
std::vector<nn::Probe<T>*> TransformerLm<T>::probes() {
  std::vector<nn::Probe<T>*> out;
  auto add = [&](nn::NormSite<T>& site) {
    if (site.active()) out.push_back(&site.probe());
  };
  for (Block& b : blocks_) {
    for (nn::NormSite<T>* site : {&b.attn.norm, &b.norm_q, &b.norm_k, &b.attn.norm_out, &b.mlp.norm,
                                  &b.mlp.norm_out}) {
      add(*site);
    }
    out.push_back(&b.residual);
  }
  add(norm_final_);
  return out;
}

template <class T>
std::vector<const nn::NormSite<T>*> TransformerLm<T>::norm_sites() const {
  std::vector<const nn::NormSite<T>*> out;
  auto add = [&](const nn::NormSite<T>& site) {
    if (site.active()) out.push_back(&site);
  };
  for (const Block& b : blocks_) {
    for (const nn::NormSite<T>* site : {&b.attn.norm, &b.norm_q, &b.norm_k, &b.attn.norm_out,
                                        &b.mlp.norm, &b.mlp.norm_out}) {
      add(*site);
    }
  }
  add(norm_final_);
  return out;
}

// The members defined here, for both precisions (the class itself is instantiated in
// transformer_lm.cpp; an explicit instantiation of a class may appear once in a program).
#define NORMLAB_TRANSFORMER_BLOCK_MEMBERS(T)                                                   \
  template void TransformerLm<T>::sublayer_forward(Block&, Sublayer&, bool, const T*);        \
  template void TransformerLm<T>::sublayer_backward(Block&, Sublayer&, bool, const T*,        \
                                                    const T*, T*);                            \
  template void TransformerLm<T>::apply_depth_schemes();                                      \
  template std::vector<nn::Probe<T>*> TransformerLm<T>::probes();                             \
  template std::vector<const nn::NormSite<T>*> TransformerLm<T>::norm_sites() const;
NORMLAB_TRANSFORMER_BLOCK_MEMBERS(float)
NORMLAB_TRANSFORMER_BLOCK_MEMBERS(double)
#undef NORMLAB_TRANSFORMER_BLOCK_MEMBERS

}  // namespace normlab::models
