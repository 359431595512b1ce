#include "models/transformer_lm.hpp"

#include <algorithm>
#include <tuple>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "models/registry.hpp"
#include "models/transformer_kernels.hpp"
#include "nn/attention.hpp"
#include "nn/swiglu.hpp"

namespace normlab::models {

using detail::add;
using detail::add_parallel;
using detail::kElementGrain;
using detail::sized;

template <class T>
TransformerLm<T>::TransformerLm(const TransformerConfig& config) : c_(config) {
  const std::size_t d = c_.d;
  if (c_.layers == 0 || d == 0 || c_.heads == 0 || c_.context == 0 || c_.vocab == 0 ||
      c_.mlp_ratio == 0) {
    fail("the Transformer needs at least one layer, head, feature, position and vocabulary entry");
  }
  if (d % c_.heads != 0) {
    fail("model.width (d = ", d, ") is not divisible by model.heads (", c_.heads, ")");
  }
  if (c_.norms.size() != 1 && c_.norms.size() != c_.layers) {
    fail("model.norm lists ", c_.norms.size(), " normalizers; the Transformer has ", c_.layers,
         " blocks (give one kind, or one per block)");
  }
  hd_ = d / c_.heads;
  m_ = c_.mlp_hidden ? c_.mlp_hidden
       : c_.swiglu   ? (2 * c_.mlp_ratio * d + 2) / 3  // ceil(2/3 mlp_ratio d): GELU's parameters
                     : c_.mlp_ratio * d;
  if (c_.rope) rope_ = nn::rope_table(c_.context, hd_, c_.rope_base);  // checks hd_ is even
  if (c_.placements.size() != 1 && c_.placements.size() != c_.layers) {
    fail("model.placement lists ", c_.placements.size(), " placements; the Transformer has ",
         c_.layers, " blocks (give one placement, or one per block)");
  }
  auto kind = [&](const std::string& role_kind, std::size_t l) {
    if (!role_kind.empty()) return role_kind;
    return c_.norms.size() == 1 ? c_.norms[0] : c_.norms[l];
  };
  auto site = [&](const std::string& name, const std::string& k, std::size_t D, std::size_t l) {
    return make_site(name, k, D, l);  // transformer_block.cpp: the options of its role or kind
  };
  auto add_bias = [&](const std::string& name, std::size_t n) {
    return c_.bias ? params_.add(name, {n}, nn::ParamRole::bias) : nn::Param{};
  };
  embed_ = params_.add("embed.weight", {c_.vocab, d}, nn::ParamRole::embedding);
  if (c_.embed_scale > 0) embed_scale_ = params_.add("embed.scale", {1}, nn::ParamRole::gain, c_.embed_scale);
  if (!c_.rope) pos_ = params_.add("pos.weight", {c_.context, d}, nn::ParamRole::embedding);
  if (c_.embed_norm) norm_embed_ = site("norm_embed", kind(c_.norm_embed, 0), d, 0);
  blocks_.resize(c_.layers);
  for (std::size_t l = 0; l < c_.layers; ++l) {
    Block& b = blocks_[l];
    b.placement = c_.placements.size() == 1 ? c_.placements[0] : c_.placements[l];
    const Placement p = b.placement;
    const std::string a = "block" + std::to_string(l) + ".attn", m = "block" + std::to_string(l) + ".mlp";
    const std::string ka = kind(c_.norm_attn, l), km = kind(c_.norm_mlp, l);
    if (norm_before(p) || norm_after_sum(p)) b.attn.norm = site(a + ".norm", ka, d, l);
    b.qkv_W = params_.add(a + ".qkv.weight", {3 * d, d}, nn::ParamRole::weight);
    b.qkv_b = add_bias(a + ".qkv.bias", 3 * d);
    const std::size_t qkv_features = c_.qkv_norm_over_all ? d : hd_;
    if (c_.qk_norm) {
      b.norm_q = site(a + ".norm_q", kind(c_.norm_qk, l), qkv_features, l);
      b.norm_k = site(a + ".norm_k", kind(c_.norm_qk, l), qkv_features, l);
    }
    if (c_.v_norm) b.norm_v = site(a + ".norm_v", kind(c_.norm_v, l), qkv_features, l);
    b.proj_W = params_.add(a + ".proj.weight", {d, d}, nn::ParamRole::weight);
    b.proj_b = add_bias(a + ".proj.bias", d);
    if (norm_on_output(p)) b.attn.norm_out = site(a + ".norm_out", ka, d, l);
    if (norm_before(p) || norm_after_sum(p)) b.mlp.norm = site(m + ".norm", km, d, l);
    b.fc_W = params_.add(m + ".fc.weight", {m_, d}, nn::ParamRole::weight);
    if (c_.swiglu) b.gate_W = params_.add(m + ".gate.weight", {m_, d}, nn::ParamRole::weight);
    b.fc_b = add_bias(m + ".fc.bias", m_);
    if (c_.swiglu) b.gate_b = add_bias(m + ".gate.bias", m_);
    b.out_W = params_.add(m + ".proj.weight", {d, m_}, nn::ParamRole::weight);
    b.out_b = add_bias(m + ".proj.bias", d);
    if (norm_on_output(p)) b.mlp.norm_out = site(m + ".norm_out", km, d, l);
    b.residual.name = "block" + std::to_string(l) + ".residual";
    b.residual.kind = "residual";
    b.residual.layer = l;
    b.residual.features = d;
  }
  apply_depth_schemes();
  if (final_norm(blocks_.back().placement)) {
    norm_final_ = site("norm_final", kind(c_.norm_final, c_.layers - 1), d, c_.layers);
  }
  head_W_ = c_.tie_embeddings ? embed_
                              : params_.add("head.weight", {c_.vocab, d}, nn::ParamRole::weight);
  head_b_ = add_bias("head.bias", c_.vocab);
  params_.allocate();
}

template <class T>
void TransformerLm<T>::attention_forward(Block& blk, T* f, const T* u) {
  const std::size_t N = B_ * len_, d = c_.d, n = N * d;
  // qkv (N, 3d): q, k and v are its column blocks, which attention reads with row stride 3d
  blk.qkv.resize(N * 3 * d);
  T* qkv = blk.qkv.data();
  nn::linear_forward(qkv, u, params_.value(blk.qkv_W).data(), bias(blk.qkv_b), N, d, 3 * d);
  nn::Strided<T> Q{qkv, 3 * d}, K{qkv + d, 3 * d}, V{qkv + 2 * d, 3 * d};
  qkv_norm_forward(blk, Q, K, V);  // QK-norm, V-norm (transformer_block.cpp)
  if (c_.rope) {  // after the QK-norm (OLMo 2), per head or across heads, in place: the backward
                  // reads only the rotated q, k; the norms' inputs blk.q, blk.k stay unrotated
    nn::rope_forward(Q, rope_, N, len_, c_.heads);
    nn::rope_forward(K, rope_, N, len_, c_.heads);
  }
  const std::size_t scores = B_ * c_.heads * len_ * len_;
  blk.probs.resize(scores);
  blk.att.resize(n);
  blk.probs_mask.clear();
  if (dropping()) nn::dropout_mask(blk.probs_mask, scores, c_.dropout, *dropout_rng_);
  nn::attention_forward<T>({blk.att.data(), d}, blk.probs.data(), {Q.data, Q.ld}, {K.data, K.ld},
                           {V.data, V.ld}, B_, len_, c_.heads, hd_,
                           blk.probs_mask.empty() ? nullptr : blk.probs_mask.data());
  nn::linear_forward(f, blk.att.data(), params_.value(blk.proj_W).data(), bias(blk.proj_b), N, d,
                     d);
}

template <class T>
void TransformerLm<T>::attention_backward(Block& blk, T* du, const T* df, const T* u) {
  const std::size_t N = B_ * len_, d = c_.d, n = N * d;
  T* datt = sized(scratch_.datt, n);
  nn::linear_backward(datt, params_.grad(blk.proj_W).data(), bias_grad(blk.proj_b), df,
                      blk.att.data(), params_.value(blk.proj_W).data(), N, d, d);
  // dq, dk, dv go straight into the column blocks of dqkv (N, 3d), except that with QK-norm or
  // V-norm they first come out contiguous, for the norms' backward
  T* dqkv = sized(scratch_.dqkv, N * 3 * d);
  const T* qkv = blk.qkv.data();
  nn::Strided<const T> Q{qkv, 3 * d}, K{qkv + d, 3 * d}, V{qkv + 2 * d, 3 * d};
  nn::Strided<T> dQ{dqkv, 3 * d}, dK{dqkv + d, 3 * d}, dV{dqkv + 2 * d, 3 * d};
  qkv_norm_inputs(blk, Q, K, V, dQ, dK, dV);
  nn::attention_backward<T>(dQ, dK, dV, {datt, d}, blk.probs.data(), Q, K, V, B_, len_, c_.heads,
                            hd_, blk.probs_mask.empty() ? nullptr : blk.probs_mask.data());
  if (c_.rope) {  // the gradients before the rotation, in place (contiguous or in dqkv)
    nn::rope_backward(dQ, rope_, N, len_, c_.heads);
    nn::rope_backward(dK, rope_, N, len_, c_.heads);
  }
  qkv_norm_backward(blk, dqkv, dQ, dK, dV);  // through the norms, into their columns of dqkv
  nn::linear_backward(du, params_.grad(blk.qkv_W).data(), bias_grad(blk.qkv_b), dqkv, u,
                      params_.value(blk.qkv_W).data(), N, d, 3 * d);
}

template <class T>
void TransformerLm<T>::mlp_forward(Block& blk, T* f, const T* u) {
  // swiglu: fc and gate, adjacent in the store, are one (2m, d) Linear with [fc | gate] rows
  const std::size_t N = B_ * len_, d = c_.d, wide = c_.swiglu ? 2 * m_ : m_;
  blk.hidden.resize(N * wide);
  blk.act.resize(N * m_);
  nn::linear_forward(blk.hidden.data(), u, params_.value(blk.fc_W).data(), bias(blk.fc_b), N, d,
                     wide);
  if (c_.swiglu) nn::swiglu_forward(blk.act.data(), blk.hidden.data(), N, m_);
  else nn::activation_forward(blk.act.data(), blk.hidden.data(), N * m_, c_.activation);
  nn::linear_forward(f, blk.act.data(), params_.value(blk.out_W).data(), bias(blk.out_b), N, m_, d);
}

template <class T>
void TransformerLm<T>::mlp_backward(Block& blk, T* du, const T* df, const T* u) {
  const std::size_t N = B_ * len_, d = c_.d, wide = c_.swiglu ? 2 * m_ : m_;
  T* dact = sized(scratch_.dact, N * m_);
  nn::linear_backward(dact, params_.grad(blk.out_W).data(), bias_grad(blk.out_b), df,
                      blk.act.data(), params_.value(blk.out_W).data(), N, m_, d);
  T* dhidden = dact;
  if (c_.swiglu) {
    dhidden = sized(scratch_.dhidden, N * wide);
    nn::swiglu_backward(dhidden, dact, blk.hidden.data(), N, m_);
  } else {
    nn::activation_backward(dact, dact, blk.hidden.data(), blk.act.data(), N * m_, c_.activation);
  }
  nn::linear_backward(du, params_.grad(blk.fc_W).data(), bias_grad(blk.fc_b), dhidden, u,
                      params_.value(blk.fc_W).data(), N, d, wide);
}

template <class T>
double TransformerLm<T>::forward(const std::int32_t* tokens, const std::int32_t* targets,
                                 std::size_t B, std::size_t len) {
  if (len > c_.context) {
    fail("sequence length ", len, " is longer than model.context (", c_.context, ")");
  }
  B_ = B;
  len_ = len;
  const std::size_t N = B * len, d = c_.d, V = c_.vocab;
  tokens_.assign(tokens, tokens + N);
  targets_.assign(targets, targets + N);
  x0_.resize(N * d);
  nn::embedding_forward(x0_.data(), tokens_.data(), params_.value(embed_).data(), N, V, d);
  if (c_.embed_scale > 0) {  // x0 = scale * E[token] (+ positions below); E[token] kept for backward
    e_.assign(x0_.begin(), x0_.end());
    const T scale = params_.value(embed_scale_)[0];
    for (T& v : x0_) v *= scale;
  }
  const T* pos = params_.value(pos_).data();
  if (!c_.rope) parallel_for(N, kElementGrain / d + 1, [&](std::size_t first, std::size_t last) {
    for (std::size_t i = first; i < last; ++i) {
      add(x0_.data() + i * d, x0_.data() + i * d, pos + (i % len) * d, d);
    }
  });
  const T* s = embed_norm_forward();
  for (Block& blk : blocks_) {
    sublayer_forward(blk, blk.attn, true, s);
    sublayer_forward(blk, blk.mlp, false, blk.attn.out().data());
    std::vector<T>& stream = blk.mlp.y.empty() ? blk.mlp.r : blk.mlp.y;  // mlp.out()
    blk.residual.perturb(stream.data(), N);  // the analysis tools' hook; a null check otherwise
    s = stream.data();
    blk.residual.forward(s, nullptr, N);
  }
  if (norm_final_.active()) {
    xf_.resize(N * d);
    norm_final_.forward(params_, xf_.data(), s, N);
    s = xf_.data();
  }
  logits_.resize(N * V);
  probs_.resize(N * V);
  nn::linear_forward(logits_.data(), s, params_.value(head_W_).data(), bias(head_b_), N, d, V);
  return nn::lm_loss_forward(probs_.data(), log_z_, logits_.data(), targets_.data(), N, V,
                             {c_.z_loss, c_.logit_softcap});
}

template <class T>
void TransformerLm<T>::backward() {
  const std::size_t N = B_ * len_, d = c_.d, V = c_.vocab;
  T* dlogits = sized(scratch_.dlogits, N * V);
  std::vector<T>& ds = scratch_.ds;
  std::vector<T>& tmp = scratch_.ds_next;
  ds.resize(N * d);
  tmp.resize(N * d);
  nn::lm_loss_backward(dlogits, probs_.data(), log_z_, logits_.data(), targets_.data(), N, V,
                       {c_.z_loss, c_.logit_softcap});
  const T* last = blocks_.back().mlp.out().data();
  // tied: head_W_ is embed_, whose gradient the embedding's scatter adds to below
  nn::linear_backward(ds.data(), params_.grad(head_W_).data(), bias_grad(head_b_),
                      dlogits, norm_final_.active() ? xf_.data() : last,
                      params_.value(head_W_).data(), N, d, V);
  if (norm_final_.active()) {
    norm_final_.backward(params_, tmp.data(), ds.data(), last, N);
    ds.swap(tmp);
  }
  for (std::size_t l = blocks_.size(); l-- > 0;) {
    Block& blk = blocks_[l];
    blk.residual.backward(ds.data(), nullptr, N);  // ds: the gradient at the block's output
    sublayer_backward(blk, blk.mlp, false, blk.attn.out().data(), ds.data(), tmp.data());
    const T* s = l == 0 ? blocks_input() : blocks_[l - 1].mlp.out().data();
    sublayer_backward(blk, blk.attn, true, s, tmp.data(), ds.data());
  }
  embed_norm_backward(ds, tmp);  // ds: the gradient at the embedding sum
  const T* de = ds.data();  // the gradient reaching E[token]
  if (c_.embed_scale > 0) {  // d scale = sum(dx0 * E[token]); dE[token] = scale * dx0
    const T scale = params_.value(embed_scale_)[0];
    double dscale = 0;
    de_.resize(N * d);
    for (std::size_t i = 0; i < N * d; ++i) {
      dscale += double(ds[i]) * double(e_[i]);
      de_[i] = scale * ds[i];
    }
    params_.grad(embed_scale_)[0] += T(dscale);
    de = de_.data();
  }
  nn::embedding_backward(params_.grad(embed_).data(), de, tokens_.data(), N, d);
  if (c_.rope) return;  // no learned positions
  T* dpos = params_.grad(pos_).data();
  // each position's row sums its sequences in order, whichever thread has it
  parallel_for(len_, kElementGrain / (B_ * d) + 1, [&](std::size_t first, std::size_t last) {
    for (std::size_t t = first; t < last; ++t) {
      for (std::size_t b = 0; b < B_; ++b) {
        add(dpos + t * d, dpos + t * d, ds.data() + (b * len_ + t) * d, d);
      }
    }
  });
}

template class TransformerLm<float>;
template class TransformerLm<double>;

// ---- the family: model.* keys and the task -> TransformerConfig ----

namespace {

template <class T>
std::unique_ptr<Model<T>> build_transformer(const io::Config& c, const TaskInfo& task,
                                            const SiteOptions& options) {
  TransformerConfig t;
  t.vocab = task.classes;
  t.d = positive(c, "model.width");
  t.layers = positive(c, "model.depth");
  t.heads = positive(c, "model.heads");
  t.context = task.context;
  t.mlp_ratio = positive(c, "model.mlp_ratio");
  t.norms = c.strings("model.norm");
  t.norm_attn = c.string("model.norm_attn");
  t.norm_mlp = c.string("model.norm_mlp");
  t.norm_qk = c.string("model.norm_qk");
  t.norm_final = c.string("model.norm_final");
  t.norm_options = options;
  t.qk_norm = c.boolean("model.qk_norm");
  read_block_keys(c, t);   // transformer_block.cpp
  read_modern_keys(c, t);  // transformer_modern.cpp; model.activation among them
  return std::make_unique<TransformerLm<T>>(t);
}

}  // namespace

FamilyInfo transformer_family() {
  return {"transformer", "decoder-only Transformer LM, the normalizer's placement as an option",
          TaskKind::tokens, "grammar", &build_transformer<float>, &build_transformer<double>};
}

}  // namespace normlab::models
