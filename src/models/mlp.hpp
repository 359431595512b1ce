// MLP classifier: depth hidden layers of Linear -> normalizer -> activation [-> dropout], then a
// Linear head and softmax cross-entropy. The normalizer sits before the activation, one kind per
// layer (a hybrid stack is a list of kinds).
//   x (B, in) -> h_l = act(N_l(W_l h_{l-1} + b_l)) (B, width) -> logits = W_o h_L + b_o (B, classes)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "models/model.hpp"
#include "models/site_options.hpp"
#include "nn/layers.hpp"
#include "nn/norm_site.hpp"
#include "nn/params.hpp"
#include "norm/registry.hpp"

namespace normlab::models {

struct MlpConfig {
  std::size_t input = 32, width = 128, depth = 3, classes = 8;
  std::vector<std::string> norms{"rmsnorm"};  // one kind, or one per hidden layer
  SiteOptions norm_options;
  nn::Activation activation = nn::Activation::relu;
  double dropout = 0;
};

template <class T>
class Mlp final : public Model<T> {
 public:
  explicit Mlp(const MlpConfig& config);

  std::string_view family() const override { return "mlp"; }
  std::size_t outputs() const override { return c_.classes; }
  nn::ParamStore<T>& params() override { return params_; }
  const nn::ParamStore<T>& params() const { return params_; }
  const MlpConfig& config() const { return c_; }

  // Forward over x (B, in); returns the mean cross-entropy against labels (B). With `train`,
  // dropout is active (drawing from `rng`). The activations are kept for backward().
  double forward(const T* x, const std::int32_t* labels, std::size_t B, bool train, Rng* rng);
  // The same on a labeled batch (x and targets as the labels).
  double forward_batch(const Batch<T>& batch, bool train, Rng* rng) override;
  // Accumulates the gradient of the last forward's loss into params().grads().
  void backward() override;
  // Fraction of rows of the last forward whose arg-max logit is the label.
  double accuracy() const;
  const std::vector<T>& logits() const override { return logits_; }
  std::vector<nn::Probe<T>*> probes() override;  // the normalizer sites, layer by layer
  std::vector<const nn::NormSite<T>*> norm_sites() const override;

 private:
  struct Layer {
    nn::Param W, b;
    nn::NormSite<T> norm;
    std::size_t in = 0;
    // activations of the last forward
    std::vector<T> pre, normed, act;  // (B, width) each: Linear out, normalizer out, f(normed)
    std::vector<T> mask, dropped;     // (B, width) each, only while dropout is active
    const std::vector<T>& out() const { return mask.empty() ? act : dropped; }  // the layer's output
  };

  MlpConfig c_;
  nn::ParamStore<T> params_;
  std::vector<Layer> layers_;
  nn::Param head_W_, head_b_;
  // last forward
  std::size_t B_ = 0;
  std::vector<T> input_;  // (B, in) copy of the last input
  std::vector<T> logits_, probs_;
  std::vector<std::int32_t> labels_;
  // backward's working memory, kept so that a step in the steady state allocates nothing
  std::vector<T> dlogits_, dh_, dtmp_;  // (B, classes); (B, max(in, width)); (B, width)
};

}  // namespace normlab::models
