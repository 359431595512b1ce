// The Transformer's block structure (models/transformer_lm.hpp): how each sublayer wraps its
// function F with the normalizer sites its block's placement asks for (models/placement.hpp),
// forward and backward, and the sites and probes in forward order. The sublayers' functions
// (attention, MLP) and the model's ends (embeddings, head) are in transformer_lm.cpp.
#include "models/transformer_lm.hpp"
#include "models/transformer_kernels.hpp"

namespace normlab::models {

using detail::add_parallel;
using detail::sized;

template <class T>
void TransformerLm<T>::sublayer_forward(Block& blk, Sublayer& sub, bool attention, const T* s) {
  const std::size_t N = B_ * len_, n = N * c_.d;
  const Placement p = blk.placement;
  const T* u = s;
  if (norm_before(p)) {
    sub.u.resize(n);
    sub.norm.forward(params_, sub.u.data(), s, N);
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
  add_parallel(sub.r.data(), s, g, n);
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
    T* du_in = sized(scratch_.du_in, n);
    sub.norm.backward(params_, du_in, du, s, N);
    du = du_in;
  }
  add_parallel(ds, d_sum, du, n);  // the residual path plus the path through F
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
  template std::vector<nn::Probe<T>*> TransformerLm<T>::probes();                             \
  template std::vector<const nn::NormSite<T>*> TransformerLm<T>::norm_sites() const;
NORMLAB_TRANSFORMER_BLOCK_MEMBERS(float)
NORMLAB_TRANSFORMER_BLOCK_MEMBERS(double)
#undef NORMLAB_TRANSFORMER_BLOCK_MEMBERS

}  // namespace normlab::models
