// GRU language model: Embedding -> `layers` GRU layers -> Linear head -> softmax cross-entropy.
//
// The GRU follows torch.nn.GRU (gate order r, z, n in the rows of W_ih and W_hh, two bias vectors),
// with the normalized projections of Ba et al. (2016), as in the RMSNorm paper's RNNSearch
// experiments: the normalizer is applied to the input projection W_ih x and, separately, to the
// recurrent projection W_hh h, before the biases:
//   gx = N_ih(W_ih x_t) + b_ih          gh = N_hh(W_hh h_{t-1}) + b_hh          (B, 3H) each
//   r = sigmoid(gx_r + gh_r)   z = sigmoid(gx_z + gh_z)   n = tanh(gx_n + r * gh_n)
//   h_t = (1 - z) * n + z * h_{t-1}                                              h_{-1} = 0
// `sites` chooses which projections are normalized; with none the layer is exactly torch.nn.GRU.
// `split` chooses whether N_ih and N_hh each normalize all 3H features at once (joint) or the
// gates [r | z] (2H) and the candidate n (H) apart (separate, as Nematus; models/
// gru_projection_norm.hpp). Either way the candidate's recurrent term is r * (N(W_hn h) + b_hn):
// normalized before the reset gate multiplies it, as in Nematus's layer-normalized GRU, where
// r * LN(U_x h) enters tanh. Nematus has no recurrent bias and adds the input bias before its
// normalizer; the torch layout keeps b_hh and adds both biases after, so with a normalizer that
// has a bias of its own the two differ only by where a bias sits.
// `orthogonal_recurrent` marks each H x H gate block of W_hh for a random orthogonal init (the
// recurrent init of Nematus and of the paper's RNNSearch; nn::ParamStore::set_orthogonal).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "core/small_gemm.hpp"
#include "models/gru_projection_norm.hpp"
#include "models/sequence_model.hpp"
#include "models/site_options.hpp"
#include "nn/norm_site.hpp"

namespace normlab::models {

enum class GruNormSites { both, input, recurrent, none };
GruNormSites parse_gru_norm_sites(const std::string& name);  // names the key model.gru_norm
// model.recurrent_init: "default" (W_hh drawn by model.init) -> false, "orthogonal" -> true
bool parse_recurrent_init(const std::string& name);

struct GruConfig {
  std::size_t vocab = 65, embed = 64, hidden = 128, layers = 1;
  std::vector<std::string> norms{"rmsnorm"};  // one kind, or one per layer
  SiteOptions norm_options;
  GruNormSites sites = GruNormSites::both;
  GruNormSplit split = GruNormSplit::joint;  // model.gru_norm_split
  bool orthogonal_recurrent = false;         // model.recurrent_init = "orthogonal"
};

template <class T>
class GruLm final : public SequenceModel<T> {
 public:
  explicit GruLm(const GruConfig& config);

  std::string_view family() const override { return "gru"; }
  nn::ParamStore<T>& params() override { return params_; }
  std::size_t vocab() const override { return c_.vocab; }
  double forward(const std::int32_t* tokens, const std::int32_t* targets, std::size_t B,
                 std::size_t len) override;
  void backward() override;
  const std::vector<T>& logits() const override { return logits_; }
  std::vector<nn::Probe<T>*> probes() override;
  std::vector<const nn::NormSite<T>*> norm_sites() const override;

 private:
  struct Layer {
    std::size_t in = 0;
    nn::Param W_ih, W_hh, b_ih, b_hh;
    GruProjectionNorm<T> norm_ih, norm_hh;  // inactive when that projection is not normalized
    // the last forward, time-major: row t*B + b; the 3H-feature buffers in the layout of
    // layout(T*B) (joint: torch's (T*B, 3H) rows; separate: gates then candidates)
    std::vector<T> A;        // (T*B, 3H) W_ih x before the normalizer
    std::vector<T> gx, gh;   // (T*B, 3H) the gate inputs after normalizer and bias
    std::vector<T> hp;       // (T*B, 3H) W_hh h_{t-1} before the normalizer
    std::vector<T> r, z, n;  // (T*B, H)
    std::vector<T> h;        // (T*B, H) the outputs h_t
    // per group of the layout, W_hh^T (H, 3H) or its gate and candidate columns, packed once per
    // forward for the T recurrent products (core/small_gemm.hpp)
    std::array<Panels<T>, 2> W_hh_t;
  };
  GateLayout layout(std::size_t rows) const {
    return {c_.split == GruNormSplit::separate, c_.hidden, rows};
  }
  void layer_forward(Layer& L, const T* x);
  void recurrent_forward(Layer& L, std::size_t t);  // gh of step t from h_{t-1}
  void gates_forward(Layer& L, std::size_t t);      // r, z, n, h of step t
  // dh (T*B, H) is the gradient reaching the outputs; writes dx (T*B, in) unless null.
  void layer_backward(Layer& L, const T* x, const T* dh, T* dx);
  // Step t: scratch_.dgh and the gate rows of scratch_.dgx from the gradient reaching h_t.
  void gates_backward(const Layer& L, std::size_t t, const T* dh_out);
  // Step t: dhp_t through the recurrent normalizer, then dh_{t-1} (scratch_.dh_prev).
  void recurrent_backward(Layer& L, std::size_t t);

  GruConfig c_;
  nn::ParamStore<T> params_;
  nn::Param embed_, head_W_, head_b_;
  std::vector<Layer> layers_;
  // the last forward
  std::size_t B_ = 0, len_ = 0;
  std::vector<std::int32_t> tokens_tm_, targets_;  // tokens time-major; targets as given (B, T)
  std::vector<T> x0_;                              // (T*B, embed) time-major embeddings
  std::vector<T> top_;                             // (B*T, H) last layer's outputs, batch-major
  std::vector<T> logits_, probs_;                  // (B*T, V)
  // Working memory kept between steps, so that a step in the steady state allocates nothing.
  struct Scratch {
    std::vector<T> dlogits, dtop, dh, dx;  // backward(): (B*T, V), (B*T, H), (T*B, H), (T*B, in)
    std::vector<T> dgx, dhp, dA;           // layer_backward(): (T*B, 3H) each
    std::vector<T> dgh, dh_step, dh_prev;  // layer_backward(), one step: (B, 3H), (B, H), (B, H)
    std::array<Panels<T>, 2> W_hh;  // layer_backward(): W_hh (3H, H) per group, packed for T steps
  };
  Scratch scratch_;
};

}  // namespace normlab::models
