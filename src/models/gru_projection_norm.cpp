#include "models/gru_projection_norm.hpp"

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
                                        std::size_t H, std::size_t layer, GruNormSplit split) {
  if (split == GruNormSplit::joint) {
    joint_ = nn::NormSite<T>(store, prefix, kind, options, 3 * H, layer);
  } else {
    gates_ = nn::NormSite<T>(store, prefix + "_gates", kind, options, 2 * H, layer);
    cand_ = nn::NormSite<T>(store, prefix + "_cand", kind, options, H, layer);
  }
}

template <class T>
void GruProjectionNorm<T>::forward(const nn::ParamStore<T>& store, std::array<T*, 2> y,
                                   std::array<const T*, 2> x, std::size_t n, std::size_t call) {
  if (joint_.active()) {
    joint_.forward(store, y[0], x[0], n, call);
    return;
  }
  gates_.forward(store, y[0], x[0], n, call);
  cand_.forward(store, y[1], x[1], n, call);
}

template <class T>
void GruProjectionNorm<T>::backward(nn::ParamStore<T>& store, std::array<T*, 2> dx,
                                    std::array<const T*, 2> dy, std::array<const T*, 2> x,
                                    std::size_t n, std::size_t call) {
  if (joint_.active()) {
    joint_.backward(store, dx[0], dy[0], x[0], n, call);
    return;
  }
  gates_.backward(store, dx[0], dy[0], x[0], n, call);
  cand_.backward(store, dx[1], dy[1], x[1], n, call);
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
