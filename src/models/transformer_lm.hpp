// Decoder-only Transformer language model with the normalizer's placement as an option.
//
//   x = E[token] + P[position]      (B*len, d), learned positions; with position = rope,
//                                   x = E[token] and q, k rotated per head instead (nn/rope.hpp)
//   each block: two sublayers, attention A then MLP M, each wrapped as the block's placement
//   (models/placement.hpp: pre, post, sandwich, reordered, deepnorm, none; one for all blocks or
//   one per block) says; a final norm before the head when the last block's placement has one.
//   A(u) = Wo · attention(q, k, v) + bo with [q k v] = Wqkv u + bqkv; causal, `heads` heads.
//         With qk_norm, q and k are normalized before the scores, with v_norm v before the
//         weighted sum (HybridNorm's QKV-norm): per head (over head_dim features, one gain shared
//         by the heads) or, with qkv_norm_over = all, over all d features at once (OLMo 2).
//         With rope, q and k are rotated per head after the QK-norm, either form (OLMo 2's order).
//   M(u) = W2 act(W1 u + b1) + b2, hidden width mlp_ratio * d (or mlp_hidden);
//   swiglu: M(u) = W2 (silu(Wg u + bg) * (W1 u + b1)) + b2 (nn/swiglu.hpp).
//   logits = W_head x_final + b_head, W_head = E with tie_embeddings; then c tanh(logits / c)
//         with logit_softcap c. bias = false drops every b above (not the normalizers').
//   Training only: dropout on the attention probabilities and on each branch before its
//         (residual) sum, in every placement: DeepNorm's sum is alpha s + dropout(F(s)).
//
// The normalizer kind per site: `norms` gives one kind or one per block; the role overrides
// (norm_attn, norm_mlp, norm_qk, norm_v, norm_embed, norm_final) replace it for every site of
// that role. With embed_norm, the embedding sum (E[token] alone with rope) is normalized before
// the first block.
// Parameters: embed.weight, pos.weight, norm_embed,
// block{l}.attn.{norm,norm_out,qkv,norm_q,norm_k,norm_v,proj},
// block{l}.mlp.{norm,norm_out,fc,gate,proj}, norm_final, head (weights (out, in) as
// torch.nn.Linear); no pos.weight with rope, gate only with swiglu, no head.weight when tied, no
// Linear .bias with bias = false.
#pragma once

#include <string>
#include <vector>

#include "models/placement.hpp"
#include "models/sequence_model.hpp"
#include "models/site_options.hpp"
#include "nn/attention.hpp"
#include "nn/layers.hpp"
#include "nn/norm_site.hpp"
#include "nn/rope.hpp"

namespace normlab::io {
class Config;
}

namespace normlab::models {

struct TransformerConfig {
  std::size_t vocab = 65, d = 128, layers = 4, heads = 4, context = 64, mlp_ratio = 4;
  std::vector<std::string> norms{"rmsnorm"};  // one kind, or one per block
  std::string norm_attn, norm_mlp, norm_qk, norm_final;  // "" takes the kind from `norms`
  std::string norm_v, norm_embed;                        // likewise (embed: the first block's)
  SiteOptions norm_options;
  std::vector<Placement> placements{Placement::pre};  // one, or one per block
  // Depth-aware schemes (models/transformer_block.cpp): LayerNorm Scaling (Sun et al. 2025) of the
  // pre-norms of block l (1-based) by 1/sqrt(l); GPT-2's init of the residual output projections
  // (attention and MLP proj, SwiGLU's down projection) with std / sqrt(2 layers).
  bool layernorm_scaling = false, scaled_init = false;
  bool qk_norm = false;
  // Where the attention's normalizers sit (models/transformer_block.cpp): QK-norm and V-norm
  // over each head (false) or over all d features (true); V-norm; a norm after the embedding.
  bool qkv_norm_over_all = false, v_norm = false, embed_norm = false;
  nn::Activation activation = nn::Activation::gelu;
  // the modern block (issue 19): model.position, rope_base, activation = "swiglu", mlp_hidden,
  // bias, tie_embeddings, z_loss, logit_softcap, dropout (transformer_modern.cpp reads them)
  bool rope = false;            // rotary positions instead of the learned pos.weight
  double rope_base = 10000;     // RoPE's base (theta_j = base^(-2j/head_dim))
  bool swiglu = false;          // the gated MLP (activation is then unused)
  std::size_t mlp_hidden = 0;   // 0: mlp_ratio * d, or ceil(2 * mlp_ratio * d / 3) with swiglu
  bool bias = true;             // false: no Linear bias anywhere (qkv, proj, fc, gate, head)
  bool tie_embeddings = false;  // the head reuses embed.weight
  double embed_scale = 0;       // > 0: a learned scalar embed.scale, this at init, times E[token]
  double z_loss = 0;            // coefficient of mean log(Z)^2, in the gradient only
  double logit_softcap = 0;     // c of c tanh(logits / c); 0 = off
  double dropout = 0;           // attention probabilities and residual branches, training only
};
// Reads the modern block's keys into `t` (their checks name the key).
void read_modern_keys(const io::Config& c, TransformerConfig& t);

// The keys of the block structure (model.placement, .layernorm_scaling, .scaled_init,
// .qkv_norm_over, .v_norm, .embed_norm, .norm_v, .norm_embed) into `t`, checked; `t.layers` set.
void read_block_keys(const io::Config& c, TransformerConfig& t);

template <class T>
class TransformerLm final : public SequenceModel<T> {
 public:
  explicit TransformerLm(const TransformerConfig& config);

  std::string_view family() const override { return "transformer"; }
  nn::ParamStore<T>& params() override { return params_; }
  std::size_t vocab() const override { return c_.vocab; }
  double forward(const std::int32_t* tokens, const std::int32_t* targets, std::size_t B,
                 std::size_t len) override;
  // Dropout on for the next forwards (drawing from `rng`) or off (rng null).
  void set_training(bool train, Rng* rng) override { dropout_rng_ = train ? rng : nullptr; }
  void backward() override;
  const std::vector<T>& logits() const override { return logits_; }
  std::vector<nn::Probe<T>*> probes() override;
  std::vector<const nn::NormSite<T>*> norm_sites() const override;

 private:
  // One residual sublayer (attention or MLP) with its normalizer sites and saved activations.
  struct Sublayer {
    nn::NormSite<T> norm, norm_out;  // norm: before F (pre, sandwich) or after the sum (post)
    T in_scale = 1;    // u = in_scale N(s): LayerNorm Scaling's 1/sqrt(l) (pre, sandwich)
    T skip_scale = 1;  // r = skip_scale s + g: DeepNorm's alpha
    std::vector<T> u;                // (N, d) N(s), the input of F (pre, sandwich)
    std::vector<T> f, g;             // (N, d) F's output; N_out(f) (sandwich, reordered)
    std::vector<T> r;                // (N, d) s + g
    std::vector<T> y;                // (N, d) N(r) (post); otherwise the output is r
    std::vector<T> mask, dropped;    // (N, d) dropout on the branch, while training with dropout
    const std::vector<T>& out() const { return y.empty() ? r : y; }
  };
  struct Block {
    Placement placement = Placement::pre;
    Sublayer attn, mlp;
    nn::Param qkv_W, qkv_b, proj_W, proj_b, fc_W, fc_b, out_W, out_b;
    nn::Param gate_W, gate_b;  // swiglu: contiguous after fc's, so [fc; gate] is one (2m, d) Linear
    nn::NormSite<T> norm_q, norm_k, norm_v;
    nn::Probe<T> residual;  // the stream leaving the block
    std::vector<T> qkv;                  // (N, 3d) [q k v]
    std::vector<T> q, k, qn, kn;         // (N, d) with QK-norm: q and k contiguous, normalized
    std::vector<T> v, vn;                // (N, d) with V-norm: v contiguous, normalized
    std::vector<T> probs, att;           // (B, heads, len, len) softmax; (N, d) attention output
    std::vector<T> probs_mask;           // (B, heads, len, len) dropout on probs, while training
    std::vector<T> hidden, act;  // MLP activations (N, m); swiglu: hidden (N, 2m) [fc | gate]
  };
  // s' = sublayer(s) as blk.placement says; F is attention or the MLP of `blk`
  // (models/transformer_block.cpp).
  void sublayer_forward(Block& blk, Sublayer& sub, bool attention, const T* s);
  void sublayer_backward(Block& blk, Sublayer& sub, bool attention, const T* s, const T* dy,
                         T* ds);
  // The scales of LayerNorm Scaling and DeepNorm, DeepNorm's and GPT-2's init factors; once the
  // blocks are declared (models/transformer_block.cpp).
  void apply_depth_schemes();
  // The site `name` of `kind` over D features in block `layer`, with the options of its role
  // (model.norm_options' table form) or of its kind; an option its kind lacks names the entry.
  nn::NormSite<T> make_site(const std::string& name, const std::string& kind, std::size_t D,
                            std::size_t layer);
  // QK-norm and V-norm (transformer_block.cpp). Forward: Q, K, V (column blocks of blk.qkv) are
  // repointed to their normalized copies (writable: RoPE then turns Q and K in place, so the
  // saved q and k are the rotated ones and the norms' inputs blk.q, blk.k stay unrotated).
  // Backward: the inputs of attention_backward as the forward had them, dQ, dK, dV repointed to
  // contiguous buffers where a norm follows; then the gradients through the norms into their
  // columns of dqkv (N, 3d).
  void qkv_norm_forward(Block& blk, nn::Strided<T>& Q, nn::Strided<T>& K, nn::Strided<T>& V);
  void qkv_norm_inputs(Block& blk, nn::Strided<const T>& Q, nn::Strided<const T>& K,
                       nn::Strided<const T>& V, nn::Strided<T>& dQ, nn::Strided<T>& dK,
                       nn::Strided<T>& dV);
  void qkv_norm_backward(Block& blk, T* dqkv, const nn::Strided<T>& dQ, const nn::Strided<T>& dK,
                         const nn::Strided<T>& dV);
  std::size_t qkv_norm_rows() const { return B_ * len_ * (c_.qkv_norm_over_all ? 1 : c_.heads); }
  // The norm after the embedding: the first block's input; the gradient back through it.
  const T* embed_norm_forward();
  void embed_norm_backward(std::vector<T>& ds, std::vector<T>& tmp);
  const T* blocks_input() const { return norm_embed_.active() ? xe_.data() : x0_.data(); }
  void attention_forward(Block& blk, T* f, const T* u);
  void attention_backward(Block& blk, T* du, const T* df, const T* u);
  void mlp_forward(Block& blk, T* f, const T* u);
  void mlp_backward(Block& blk, T* du, const T* df, const T* u);

  TransformerConfig c_;
  std::size_t hd_ = 0, m_ = 0;  // head dimension, MLP hidden width
  nn::ParamStore<T> params_;
  nn::Param embed_, pos_, head_W_, head_b_;  // pos_ without rope; head_W_ = embed_ when tied
  nn::Param embed_scale_;                   // with embed_scale > 0
  nn::RopeTable rope_;
  Rng* dropout_rng_ = nullptr;  // set while training with dropout
  T* bias(nn::Param p) { return p.size ? params_.value(p).data() : nullptr; }  // null: no bias
  T* bias_grad(nn::Param p) { return p.size ? params_.grad(p).data() : nullptr; }
  bool dropping() const { return dropout_rng_ && c_.dropout > 0; }
  std::vector<Block> blocks_;
  nn::NormSite<T> norm_final_, norm_embed_;
  // Working memory kept between steps, so that a step reuses its buffers instead of asking the
  // allocator for (and the kernel for zeroed pages of) tens of megabytes each time.
  struct Scratch {
    std::vector<T> dqkv, datt, dq, dk, dv, dqk, dact, dhidden;  // inside attention and the MLP
    std::vector<T> d_sum, d_f, du, du_in;                   // inside a sublayer
    std::vector<T> dlogits, ds, ds_next;                    // between the blocks
    std::vector<T> d_drop;                                  // the branch before its dropout
  };
  Scratch scratch_;

  // the last forward
  std::size_t B_ = 0, len_ = 0;
  std::vector<std::int32_t> tokens_, targets_;
  std::vector<T> x0_, xe_, xf_;  // (N, d) embeddings; the embed norm's and final norm's outputs
  std::vector<T> e_, de_;        // (N, d) E[token] before embed.scale and its gradient (embed_scale)
  std::vector<T> logits_, probs_;
  std::vector<double> log_z_;  // (N) log of the softmax normalizer, for the z-loss
};

}  // namespace normlab::models
