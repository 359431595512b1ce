#include "models/mlp.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "models/registry.hpp"

namespace normlab::models {

template <class T>
Mlp<T>::Mlp(const MlpConfig& config) : c_(config) {
  if (c_.depth == 0) fail("model.depth must be at least 1");
  if (c_.width == 0) fail("model.width must be at least 1");
  if (c_.norms.size() != 1 && c_.norms.size() != c_.depth) {
    fail("model.norm lists ", c_.norms.size(), " normalizers; the MLP has depth ", c_.depth,
         " (give one kind, or one per hidden layer)");
  }
  layers_.resize(c_.depth);
  for (std::size_t l = 0; l < c_.depth; ++l) {
    Layer& L = layers_[l];
    const std::string prefix = "layer" + std::to_string(l);
    L.in = l == 0 ? c_.input : c_.width;
    L.W = params_.add(prefix + ".weight", {c_.width, L.in}, nn::ParamRole::weight);
    L.b = params_.add(prefix + ".bias", {c_.width}, nn::ParamRole::bias);
    const std::string& kind = c_.norms.size() == 1 ? c_.norms[0] : c_.norms[l];
    L.norm = nn::NormSite<T>(params_, prefix + ".norm", kind, c_.norm_options.for_kind(kind),
                             c_.width, l);
  }
  head_W_ = params_.add("head.weight", {c_.classes, c_.width}, nn::ParamRole::weight);
  head_b_ = params_.add("head.bias", {c_.classes}, nn::ParamRole::bias);
  params_.allocate();
}

template <class T>
double Mlp<T>::forward(const T* x, const std::int32_t* labels, std::size_t B, bool train,
                       Rng* rng) {
  B_ = B;
  input_.assign(x, x + B * c_.input);
  labels_.assign(labels, labels + B);
  const std::size_t W = c_.width, n = B * W;
  const T* h = input_.data();
  for (Layer& L : layers_) {
    L.pre.resize(n);
    L.normed.resize(n);
    L.act.resize(n);
    nn::linear_forward(L.pre.data(), h, params_.value(L.W).data(), params_.value(L.b).data(), B,
                       L.in, W);
    L.norm.forward(params_, L.normed.data(), L.pre.data(), B);
    nn::activation_forward(L.act.data(), L.normed.data(), n, c_.activation);
    if (train && c_.dropout > 0) {
      L.dropped.resize(n);
      nn::dropout_forward(L.dropped.data(), L.mask, L.act.data(), n, c_.dropout, *rng);
    } else {
      L.mask.clear();
    }
    h = L.out().data();
  }
  logits_.resize(B * c_.classes);
  probs_.resize(B * c_.classes);
  nn::linear_forward(logits_.data(), h, params_.value(head_W_).data(),
                     params_.value(head_b_).data(), B, W, c_.classes);
  return nn::cross_entropy_forward(probs_.data(), logits_.data(), labels_.data(), B, c_.classes);
}

template <class T>
double Mlp<T>::forward_batch(const Batch<T>& b, bool train, Rng* rng) {
  if (!b.x || !b.targets || b.len != 1) fail("internal: the MLP takes labeled batches");
  return forward(b.x, b.targets, b.B, train, rng);
}

template <class T>
void Mlp<T>::backward() {
  const std::size_t B = B_, W = c_.width, n = B * W;
  std::vector<T>& dlogits = dlogits_;  // members: sized once, then reused step after step
  std::vector<T>& dh = dh_;
  std::vector<T>& dtmp = dtmp_;
  dlogits.resize(B * c_.classes);
  dh.resize(n);
  dtmp.resize(n);
  nn::cross_entropy_backward(dlogits.data(), probs_.data(), labels_.data(), B, c_.classes);
  nn::linear_backward(dh.data(), params_.grad(head_W_).data(), params_.grad(head_b_).data(),
                      dlogits.data(), layers_.back().out().data(), params_.value(head_W_).data(), B,
                      W, c_.classes);
  for (std::size_t l = layers_.size(); l-- > 0;) {
    Layer& L = layers_[l];
    if (!L.mask.empty()) nn::dropout_backward(dh.data(), dh.data(), L.mask, n);
    nn::activation_backward(dh.data(), dh.data(), L.normed.data(), L.act.data(), n, c_.activation);
    L.norm.backward(params_, dtmp.data(), dh.data(), L.pre.data(), B);
    const T* h = l == 0 ? input_.data() : layers_[l - 1].out().data();
    dh.resize(B * L.in);
    nn::linear_backward(l == 0 ? nullptr : dh.data(), params_.grad(L.W).data(),
                        params_.grad(L.b).data(), dtmp.data(), h, params_.value(L.W).data(), B,
                        L.in, W);
  }
}

template <class T>
double Mlp<T>::accuracy() const {
  std::size_t correct = 0;
  for (std::size_t i = 0; i < B_; ++i) {
    const T* row = logits_.data() + i * c_.classes;
    correct += std::size_t(std::max_element(row, row + c_.classes) - row) == std::size_t(labels_[i]);
  }
  return B_ ? double(correct) / double(B_) : 0.0;
}

template <class T>
std::vector<nn::Probe<T>*> Mlp<T>::probes() {
  std::vector<nn::Probe<T>*> out;
  for (Layer& L : layers_) out.push_back(&L.norm.probe());
  return out;
}

template <class T>
std::vector<const nn::NormSite<T>*> Mlp<T>::norm_sites() const {
  std::vector<const nn::NormSite<T>*> out;
  for (const Layer& L : layers_) out.push_back(&L.norm);
  return out;
}

template class Mlp<float>;
template class Mlp<double>;

// ---- the family: model.* keys and the task -> MlpConfig ----

namespace {

MlpConfig mlp_config(const io::Config& c, const TaskInfo& task, const SiteOptions& options) {
  MlpConfig mc;
  mc.input = task.features;
  mc.classes = task.classes;
  mc.width = positive(c, "model.width");
  mc.depth = positive(c, "model.depth");
  mc.norms = c.strings("model.norm");
  mc.norm_options = options;
  mc.activation = nn::parse_activation(c.string("model.activation"));
  mc.dropout = c.number("model.dropout");
  if (!(mc.dropout >= 0 && mc.dropout < 1)) fail("model.dropout must be in [0, 1), got ", mc.dropout);
  return mc;
}

template <class T>
std::unique_ptr<Model<T>> build_mlp(const io::Config& c, const TaskInfo& task,
                                    const SiteOptions& options) {
  return std::make_unique<Mlp<T>>(mlp_config(c, task, options));
}
}  // namespace

FamilyInfo mlp_family() {
  return {"mlp", "classifier: depth x (Linear -> norm -> activation [-> dropout]) -> Linear head",
          TaskKind::labeled, "classification", &build_mlp<float>, &build_mlp<double>};
}

}  // namespace normlab::models
