// Decoder-only Transformer language model with the normalizer's placement as an option.
//
//   x = E[token] + P[position]      (B*len, d), learned positions; with position = rope,
//                                   x = E[token] and q, k rotated per head instead (nn/rope.hpp)
//   each block: two sublayers, attention A then MLP M, each wrapped as its placement says:
//     pre       s' = s + F(N(s))                  (GPT-2, Llama; a final norm before the head)
//     post      s' = N(s + F(s))                  (the original Transformer; no final norm)
//     sandwich  s' = s + N_out(F(N(s)))           (Gemma 3; final norm)
//     peri      s' = s + N_out(F(s))              (OLMo 2; final norm)
//     none      s' = s + F(s)
//   A(u) = Wo · attention(q, k, v) + bo with [q k v] = Wqkv u + bqkv; causal, `heads` heads.
//         With qk_norm, q and k are normalized per head (over head_dim features, one gain shared
//         by the heads) before the scores.
//         With rope, q and k are rotated after the QK-norm (OLMo 2's order).
//   M(u) = W2 act(W1 u + b1) + b2, hidden width mlp_ratio * d (or mlp_hidden);
//   swiglu: M(u) = W2 (silu(Wg u + bg) * (W1 u + b1)) + b2 (nn/swiglu.hpp).
//   logits = W_head x_final + b_head, W_head = E with tie_embeddings; then c tanh(logits / c)
//         with logit_softcap c. bias = false drops every b above (not the normalizers').
//   Training only: dropout on the attention probabilities and on each branch before its sum.
//
// The normalizer kind per site: `norms` gives one kind or one per block; the role overrides
// (norm_attn, norm_mlp, norm_qk, norm_final) replace it for every site of that role.
// Parameters: embed.weight, pos.weight, block{l}.attn.{norm,norm_out,qkv,norm_q,norm_k,proj},
// block{l}.mlp.{norm,norm_out,fc,gate,proj}, norm_final, head (weights (out, in) as
// torch.nn.Linear); no pos.weight with rope, gate only with swiglu, no head.weight when tied, no
// Linear .bias with bias = false.
#pragma once

#include <string>
#include <vector>

#include "io/config.hpp"
#include "models/sequence_model.hpp"
#include "models/site_options.hpp"
#include "nn/layers.hpp"
#include "nn/norm_site.hpp"
#include "nn/rope.hpp"

namespace normlab::models {

enum class Placement { pre, post, sandwich, peri, none };
Placement parse_placement(const std::string& name);  // names the key model.placement
const char* to_string(Placement p);

struct TransformerConfig {
  std::size_t vocab = 65, d = 128, layers = 4, heads = 4, context = 64, mlp_ratio = 4;
  std::vector<std::string> norms{"rmsnorm"};  // one kind, or one per block
  std::string norm_attn, norm_mlp, norm_qk, norm_final;  // "" takes the kind from `norms`
  SiteOptions norm_options;
  Placement placement = Placement::pre;
  bool qk_norm = false;
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
    std::vector<T> u;                // (N, d) N(s), the input of F (pre, sandwich)
    std::vector<T> f, g;             // (N, d) F's output; N_out(f) (sandwich, peri)
    std::vector<T> r;                // (N, d) s + g
    std::vector<T> y;                // (N, d) N(r) (post); otherwise the output is r
    std::vector<T> mask, dropped;    // (N, d) dropout on the branch, while training with dropout
    const std::vector<T>& out() const { return y.empty() ? r : y; }
  };
  struct Block {
    Sublayer attn, mlp;
    nn::Param qkv_W, qkv_b, proj_W, proj_b, fc_W, fc_b, out_W, out_b;
    nn::Param gate_W, gate_b;  // swiglu: contiguous after fc's, so [fc; gate] is one (2m, d) Linear
    nn::NormSite<T> norm_q, norm_k;
    nn::Probe<T> residual;  // the stream leaving the block
    std::vector<T> qkv;                  // (N, 3d) [q k v]
    std::vector<T> q, k, qn, kn;         // (N, d) with QK-norm: q and k contiguous, normalized
    std::vector<T> probs, att;           // (B, heads, len, len) softmax; (N, d) attention output
    std::vector<T> probs_mask;           // (B, heads, len, len) dropout on probs, while training
    std::vector<T> hidden, act;  // MLP activations (N, m); swiglu: hidden (N, 2m) [fc | gate]
  };
  // s' = sublayer(s); F is attention or the MLP of `blk`.
  void sublayer_forward(Block& blk, Sublayer& sub, bool attention, const T* s);
  void sublayer_backward(Block& blk, Sublayer& sub, bool attention, const T* s, const T* dy,
                         T* ds);
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
  nn::NormSite<T> norm_final_;
  // Working memory kept between steps, so that a step reuses its buffers instead of asking the
  // allocator for (and the kernel for zeroed pages of) tens of megabytes each time.
  struct Scratch {
    std::vector<T> dqkv, datt, dq, dk, dqk, dact, dhidden;  // inside attention and the MLP
    std::vector<T> d_sum, d_f, du, du_in;                   // inside a sublayer
    std::vector<T> dlogits, ds, ds_next;                    // between the blocks
    std::vector<T> d_drop;                                  // the branch before its dropout
  };
  Scratch scratch_;

  // the last forward
  std::size_t B_ = 0, len_ = 0;
  std::vector<std::int32_t> tokens_, targets_;
  std::vector<T> x0_, xf_;  // (N, d) embeddings; the final norm's output
  std::vector<T> e_, de_;   // (N, d) E[token] before embed.scale and its gradient (embed_scale)
  std::vector<T> logits_, probs_;
  std::vector<double> log_z_;  // (N) log of the softmax normalizer, for the z-loss
};

}  // namespace normlab::models
