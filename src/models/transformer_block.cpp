// The Transformer's block structure (models/transformer_lm.hpp): how each sublayer wraps its
// function F with the normalizer sites its block's placement asks for (models/placement.hpp),
// forward and backward, and the sites and probes in forward order. The sublayers' functions
// (attention, MLP) and the model's ends (embeddings, head) are in transformer_lm.cpp.
#include "models/transformer_lm.hpp"

#include <cmath>
#include <tuple>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "io/config.hpp"
#include "models/transformer_kernels.hpp"

namespace normlab::models {

using detail::add_parallel;
using detail::axpy_parallel;
using detail::gather_columns;
using detail::scatter_columns;
using detail::scale_parallel;
using detail::sized;

// LayerNorm Scaling (Sun et al. 2025, "The Curse of Depth", arXiv 2502.05795): the output of each
// pre-norm of block l (1-based) times 1/sqrt(l), the attention's and the MLP's alike, as the
// authors' code (LayerNorm-Scaling, modeling_llama.py, norm type LNS) does; the final norm is
// not scaled. Here the sites before F: pre, and sandwich's first norm.
// DeepNorm (Wang et al. 2022, arXiv 2203.00555), decoder-only: alpha = (2M)^(1/4) on the residual
// of every deepnorm block, and the init of its MLP weights (fc, proj), the value rows of qkv and
// the attention's output projection times beta = (8M)^(-1/4), M the number of blocks. The
// constants and weights are those of the authors' library for a decoder without encoder
// (torchscale: alpha = (2 decoder_layers)^(1/4); fc1, fc2, out_proj, v_proj divided by
// (8 decoder_layers)^(1/4)); the paper's text was not at hand to read.
// With SwiGLU, W2 (silu(Wg u) * (W1 u)), beta scales W1 (fc, the linear "up" branch) and W2
// (proj), not the gate Wg: the MLP's output at init (biases start at 0) is then exactly beta^2
// times the unscaled one, as DeepNet's FFN W2 ReLU(W1 u) with both scaled, while
// silu(beta Wg u) is not proportional to beta. (TorchScale's GLU also scales two of the three,
// by the names fc1 and fc2, but there fc1 is the activated branch; the paper has no gated FFN.)
// GPT-2's scaled init (model.scaled_init): the residual output projections (attn.proj, mlp.proj,
// SwiGLU's down projection included) drawn with std / sqrt(2 layers) (Radford et al. 2019;
// nanoGPT's c_proj init).
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
      for (nn::Param w : {b.proj_W, b.fc_W, b.out_W}) params_.scale_init(w, beta);  // not gate_W
    }
    if (c_.scaled_init) {
      for (nn::Param w : {b.proj_W, b.out_W}) params_.scale_init(w, 1 / std::sqrt(2.0 * double(L)));
    }
  }
  if (c_.layernorm_scaling && !any_pre_norm) {
    std::vector<std::string> names;
    for (const Block& b : blocks_) names.push_back(to_string(b.placement));
    fail("model.layernorm_scaling scales the normalizer before F (placement pre or sandwich); no "
         "block has one (the blocks' placements: ", join(names, ", "), ")");
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
  sub.mask.clear();
  if (dropping()) {  // on the branch, before the sum (nanoGPT's resid_dropout), every placement
    sub.dropped.resize(n);
    nn::dropout_forward(sub.dropped.data(), sub.mask, g, n, c_.dropout, *dropout_rng_);
    g = sub.dropped.data();
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
  const T* d_sum = dy;  // the gradient reaching r = skip_scale s + g (g after its dropout)
  if (norm_after_sum(p)) {
    T* dr = sized(scratch_.d_sum, n);
    sub.norm.backward(params_, dr, dy, sub.r.data(), N);
    d_sum = dr;
  }
  const T* d_g = d_sum;  // the gradient reaching g, before its dropout
  if (!sub.mask.empty()) {
    T* dg = sized(scratch_.d_drop, n);
    nn::dropout_backward(dg, d_sum, sub.mask, n);
    d_g = dg;
  }
  const T* d_f = d_g;
  if (sub.norm_out.active()) {
    T* dg = sized(scratch_.d_f, n);
    sub.norm_out.backward(params_, dg, d_g, sub.f.data(), N);
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
nn::NormSite<T> TransformerLm<T>::make_site(const std::string& name, const std::string& kind,
                                            std::size_t D, std::size_t layer) {
  const std::string_view role = site_role(name);
  if (!c_.norm_options.by_role.contains(role)) {
    return nn::NormSite<T>(params_, name, kind, c_.norm_options.for_kind(kind), D, layer);
  }
  try {
    return nn::NormSite<T>(params_, name, kind, c_.norm_options.for_site(name, kind), D, layer);
  } catch (const Error& e) {
    fail("model.norm_options.", role, " (site ", name, ", a ", kind, "): ", e.what());
  }
}

void read_block_keys(const io::Config& c, TransformerConfig& t) {
  t.placements = parse_placements(c.strings("model.placement"), t.layers);
  t.layernorm_scaling = c.boolean("model.layernorm_scaling");
  t.scaled_init = c.boolean("model.scaled_init");
  const std::string over = c.string("model.qkv_norm_over");
  if (over != "head" && over != "all") {
    fail("model.qkv_norm_over: '", over, "' is not one of head (each head's head_dim features), "
         "all (all width features at once, as OLMo 2's QK-norm)");
  }
  t.qkv_norm_over_all = over == "all";
  t.v_norm = c.boolean("model.v_norm");
  t.embed_norm = c.boolean("model.embed_norm");
  t.norm_v = c.string("model.norm_v");
  t.norm_embed = c.string("model.norm_embed");
  if (t.qkv_norm_over_all && !t.qk_norm && !t.v_norm) {
    fail("model.qkv_norm_over = \"all\" says how QK-norm and V-norm normalize, but neither is on "
         "(set model.qk_norm = true or model.v_norm = true)");
  }
}

// QK-norm and V-norm: a (N, d) copy of q, k or v is (qkv_norm_rows(), features) for its norm:
// (N * heads, head_dim) per head, (N, d) over all heads.
template <class T>
void TransformerLm<T>::qkv_norm_forward(Block& blk, nn::Strided<T>& Q, nn::Strided<T>& K,
                                        nn::Strided<T>& V) {
  const std::size_t N = B_ * len_, d = c_.d;
  for (auto [norm, x, y, view, first] :
       {std::tuple{&blk.norm_q, &blk.q, &blk.qn, &Q, 0 * d},
        std::tuple{&blk.norm_k, &blk.k, &blk.kn, &K, 1 * d},
        std::tuple{&blk.norm_v, &blk.v, &blk.vn, &V, 2 * d}}) {
    if (!norm->active()) continue;
    gather_columns(sized(*x, N * d), blk.qkv.data(), N, d, 3 * d, first);
    norm->forward(params_, sized(*y, N * d), x->data(), qkv_norm_rows());
    *view = {y->data(), d};
  }
}

template <class T>
void TransformerLm<T>::qkv_norm_inputs(Block& blk, nn::Strided<const T>& Q,
                                       nn::Strided<const T>& K, nn::Strided<const T>& V,
                                       nn::Strided<T>& dQ, nn::Strided<T>& dK, nn::Strided<T>& dV) {
  const std::size_t n = B_ * len_ * c_.d, d = c_.d;
  for (auto [norm, y, view, grad, buffer] :
       {std::tuple{&blk.norm_q, &blk.qn, &Q, &dQ, &scratch_.dq},
        std::tuple{&blk.norm_k, &blk.kn, &K, &dK, &scratch_.dk},
        std::tuple{&blk.norm_v, &blk.vn, &V, &dV, &scratch_.dv}}) {
    if (!norm->active()) continue;
    *view = {y->data(), d};
    *grad = {sized(*buffer, n), d};
  }
}

template <class T>
void TransformerLm<T>::qkv_norm_backward(Block& blk, T* dqkv, const nn::Strided<T>& dQ,
                                         const nn::Strided<T>& dK, const nn::Strided<T>& dV) {
  const std::size_t N = B_ * len_, d = c_.d;
  T* tmp = sized(scratch_.dqk, N * d);
  for (auto [norm, g, x, first] : {std::tuple{&blk.norm_q, dQ.data, &blk.q, 0 * d},
                                   std::tuple{&blk.norm_k, dK.data, &blk.k, 1 * d},
                                   std::tuple{&blk.norm_v, dV.data, &blk.v, 2 * d}}) {
    if (!norm->active()) continue;
    norm->backward(params_, tmp, g, x->data(), qkv_norm_rows());
    scatter_columns(dqkv, tmp, N, d, 3 * d, first);
  }
}

template <class T>
const T* TransformerLm<T>::embed_norm_forward() {
  if (!norm_embed_.active()) return x0_.data();
  const std::size_t N = B_ * len_;
  norm_embed_.forward(params_, sized(xe_, N * c_.d), x0_.data(), N);
  return xe_.data();
}

template <class T>
void TransformerLm<T>::embed_norm_backward(std::vector<T>& ds, std::vector<T>& tmp) {
  if (!norm_embed_.active()) return;
  norm_embed_.backward(params_, tmp.data(), ds.data(), x0_.data(), B_ * len_);
  ds.swap(tmp);
}

template <class T>
std::vector<nn::Probe<T>*> TransformerLm<T>::probes() {
  std::vector<nn::Probe<T>*> out;
  auto add = [&](nn::NormSite<T>& site) {
    if (site.active()) out.push_back(&site.probe());
  };
  add(norm_embed_);
  for (Block& b : blocks_) {
    for (nn::NormSite<T>* site : {&b.attn.norm, &b.norm_q, &b.norm_k, &b.norm_v, &b.attn.norm_out,
                                  &b.mlp.norm, &b.mlp.norm_out}) {
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
  add(norm_embed_);
  for (const Block& b : blocks_) {
    for (const nn::NormSite<T>* site : {&b.attn.norm, &b.norm_q, &b.norm_k, &b.norm_v,
                                        &b.attn.norm_out, &b.mlp.norm, &b.mlp.norm_out}) {
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
  template nn::NormSite<T> TransformerLm<T>::make_site(const std::string&, const std::string&,  \
                                                       std::size_t, std::size_t);              \
  template void TransformerLm<T>::qkv_norm_forward(Block&, nn::Strided<T>&, nn::Strided<T>&,  \
                                                   nn::Strided<T>&);                          \
  template void TransformerLm<T>::qkv_norm_inputs(Block&, nn::Strided<const T>&,              \
                                                  nn::Strided<const T>&, nn::Strided<const T>&,  \
                                                  nn::Strided<T>&, nn::Strided<T>&,              \
                                                  nn::Strided<T>&);                              \
  template void TransformerLm<T>::qkv_norm_backward(Block&, T*, const nn::Strided<T>&,        \
                                                    const nn::Strided<T>&, const nn::Strided<T>&); \
  template const T* TransformerLm<T>::embed_norm_forward();                                   \
  template void TransformerLm<T>::embed_norm_backward(std::vector<T>&, std::vector<T>&);      \
  template std::vector<nn::Probe<T>*> TransformerLm<T>::probes();                             \
  template std::vector<const nn::NormSite<T>*> TransformerLm<T>::norm_sites() const;
NORMLAB_TRANSFORMER_BLOCK_MEMBERS(float)
NORMLAB_TRANSFORMER_BLOCK_MEMBERS(double)
#undef NORMLAB_TRANSFORMER_BLOCK_MEMBERS

}  // namespace normlab::models
