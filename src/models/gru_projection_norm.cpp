#include "models/gru_projection_norm.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace normlab::models {

GruNormSplit parse_gru_norm_split(const std::string& name) {
  if (name == "joint") return GruNormSplit::joint;
  if (name == "separate") return GruNormSplit::separate;
  fail("model.gru_norm_split: '", name, "' is not one of joint, separate");
}

template <class T>
GruProjectionNorm<T>::GruProjectionNorm(nn::ParamStore<T>& store, const std::string& prefix,
                                        const std::string& kind, const norm::NormOptions& options,
                                        std::size_t H, std::size_t layer, GruNormSplit split)
    : H_(H) {
  if (split == GruNormSplit::joint) {
    joint_ = nn::NormSite<T>(store, prefix, kind, options, 3 * H, layer);
  } else {
    gates_ = nn::NormSite<T>(store, prefix + "_gates", kind, options, 2 * H, layer);
    cand_ = nn::NormSite<T>(store, prefix + "_cand", kind, options, H, layer);
  }
}

namespace {
// g (B, 2H), c (B, H) <- the gate and candidate columns of p (B, 3H)
template <class T>
void split_rows(T* g, T* c, const T* p, std::size_t B, std::size_t H) {
  for (std::size_t b = 0; b < B; ++b) {
    std::copy(p + b * 3 * H, p + b * 3 * H + 2 * H, g + b * 2 * H);
    std::copy(p + b * 3 * H + 2 * H, p + (b + 1) * 3 * H, c + b * H);
  }
}
// p (B, 3H) <- [g (B, 2H) | c (B, H)]
template <class T>
void join_rows(T* p, const T* g, const T* c, std::size_t B, std::size_t H) {
  for (std::size_t b = 0; b < B; ++b) {
    std::copy(g + b * 2 * H, g + (b + 1) * 2 * H, p + b * 3 * H);
    std::copy(c + b * H, c + (b + 1) * H, p + b * 3 * H + 2 * H);
  }
}
}  // namespace

template <class T>
void GruProjectionNorm<T>::forward(const nn::ParamStore<T>& store, T* y, const T* x,
                                   std::size_t B, std::size_t call) {
  if (joint_.active()) {
    joint_.forward(store, y, x, B, call);
    return;
  }
  const std::size_t H = H_;
  xg_.resize(B * 2 * H);
  xc_.resize(B * H);
  yg_.resize(B * 2 * H);
  yc_.resize(B * H);
  split_rows(xg_.data(), xc_.data(), x, B, H);
  gates_.forward(store, yg_.data(), xg_.data(), B, call);
  cand_.forward(store, yc_.data(), xc_.data(), B, call);
  join_rows(y, yg_.data(), yc_.data(), B, H);
}

template <class T>
void GruProjectionNorm<T>::backward(nn::ParamStore<T>& store, T* dx, const T* dy, const T* x,
                                    std::size_t B, std::size_t call) {
  if (joint_.active()) {
    joint_.backward(store, dx, dy, x, B, call);
    return;
  }
  const std::size_t H = H_;
  xg_.resize(B * 2 * H);
  xc_.resize(B * H);
  yg_.resize(B * 2 * H);  // holds dy's gate part
  yc_.resize(B * H);
  dg_.resize(B * 2 * H);
  dc_.resize(B * H);
  split_rows(xg_.data(), xc_.data(), x, B, H);
  split_rows(yg_.data(), yc_.data(), dy, B, H);
  gates_.backward(store, dg_.data(), yg_.data(), xg_.data(), B, call);
  cand_.backward(store, dc_.data(), yc_.data(), xc_.data(), B, call);
  join_rows(dx, dg_.data(), dc_.data(), B, H);
}

template <class T>
void GruProjectionNorm<T>::append_sites(std::vector<const nn::NormSite<T>*>& out) const {
  for (const nn::NormSite<T>* s : {&joint_, &gates_, &cand_}) {
    if (s->active()) out.push_back(s);
  }
}

template <class T>
void GruProjectionNorm<T>::append_probes(std::vector<nn::Probe<T>*>& out) {
  for (nn::NormSite<T>* s : {&joint_, &gates_, &cand_}) {
    if (s->active()) out.push_back(&s->probe());
  }
}

template class GruProjectionNorm<float>;
template class GruProjectionNorm<double>;

}  // namespace normlab::models
