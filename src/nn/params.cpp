#include "nn/params.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/strings.hpp"

namespace normlab::nn {

std::string to_string(ParamRole role) {
  switch (role) {
    case ParamRole::weight: return "weight";
    case ParamRole::bias: return "bias";
    case ParamRole::gain: return "gain";
    case ParamRole::embedding: return "embedding";
    case ParamRole::lambda: return "lambda";
  }
  return "?";
}

template <class T>
Param ParamStore<T>::add(std::string name, std::vector<std::size_t> shape, ParamRole role,
                         double init) {
  if (allocated_) fail("parameter '", name, "' declared after the store was allocated");
  for (const auto& i : infos_) {
    if (i.name == name) fail("parameter '", name, "' declared twice");
  }
  std::size_t size = 1;
  for (auto n : shape) size *= n;
  std::size_t offset = infos_.empty() ? 0 : infos_.back().offset + infos_.back().size;
  infos_.push_back({std::move(name), std::move(shape), role, init, offset, size, 0, {}});
  return {offset, size};
}

template <class T>
void ParamStore<T>::allocate() {
  std::size_t total = infos_.empty() ? 0 : infos_.back().offset + infos_.back().size;
  values_.assign(total, T(0));
  grads_.assign(total, T(0));
  allocated_ = true;
}

template <class T>
void ParamStore<T>::set_orthogonal(Param p, std::size_t block) {
  for (auto& i : infos_) {
    if (i.offset != p.offset || i.size != p.size) continue;
    if (i.role != ParamRole::weight || i.shape.size() != 2 || block == 0 || block != i.shape[1] ||
        i.shape[0] % block != 0) {
      fail("orthogonal init of '", i.name, "' (", i.shape.size() == 2 ? i.shape[0] : 0, " x ",
           i.shape.size() == 2 ? i.shape[1] : 0, ") in blocks of ", block,
           " rows: needs a 2-D weight made of square blocks");
    }
    i.orthogonal_rows = block;
    return;
  }
  fail("internal: set_orthogonal of a parameter this store did not declare");
}

template <class T>
void ParamStore<T>::scale_init(Param p, double factor, std::size_t first, std::size_t count) {
  for (auto& i : infos_) {
    if (i.offset != p.offset || i.size != p.size) continue;
    if (count == 0) count = i.size - std::min(first, i.size);
    if ((i.role != ParamRole::weight && i.role != ParamRole::embedding) || !(factor > 0) ||
        first + count > i.size) {
      fail("init scale ", factor, " of '", i.name, "' (", to_string(i.role), ", ", i.size,
           " elements) over elements [", first, ", ", first + count,
           "): needs a drawn parameter (weight or embedding), a factor > 0 and a range inside it");
    }
    i.init_scales.push_back({first, count, factor});
    return;
  }
  fail("internal: scale_init of a parameter this store did not declare");
}

template <class T>
void ParamStore<T>::apply_init_scales(const ParamInfo& info) {
  for (const InitScale& s : info.init_scales) {
    T* v = values_.data() + info.offset + s.first;
    for (std::size_t k = 0; k < s.count; ++k) v[k] = T(double(v[k]) * s.factor);
  }
}

template <class T>
const ParamInfo* ParamStore<T>::find(const std::string& name) const {
  for (const auto& i : infos_) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

template <class T>
const ParamInfo& ParamStore<T>::info(const std::string& name) const {
  if (const ParamInfo* found = find(name)) return *found;
  std::vector<std::string> names;
  for (const auto& i : infos_) names.push_back(i.name);
  fail("no parameter '", name, "'", did_you_mean(name, names));
}

template <class T>
void ParamStore<T>::zero_grads() {
  std::fill(grads_.begin(), grads_.end(), T(0));
}

template <class T>
void ParamStore<T>::initialize(double mean, double std, Rng& rng) {
  if (!allocated_) fail("initialize() before allocate()");
  for (const auto& i : infos_) {
    std::span<T> v(values_.data() + i.offset, i.size);
    if (i.orthogonal_rows > 0) fill_orthogonal_blocks(i, rng);
    else if (i.role == ParamRole::weight || i.role == ParamRole::embedding) fill_normal(v, rng, mean, std);
    else std::fill(v.begin(), v.end(), T(i.init));
    apply_init_scales(i);
  }
}

template <class T>
void ParamStore<T>::initialize(const std::string& scheme, double std, Rng& rng) {
  const std::vector<std::string> schemes{"normal", "offset", "xavier", "kaiming"};
  if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) {
    fail("model.init: '", scheme, "' is not one of ", join(schemes, ", "),
         did_you_mean(scheme, schemes));
  }
  if (!(std > 0)) fail("model.init_std must be > 0, got ", std);
  if (scheme == "normal" || scheme == "offset") {
    initialize(scheme == "offset" ? 0.2 : 0.0, std, rng);
    return;
  }
  if (!allocated_) fail("initialize() before allocate()");
  for (const auto& i : infos_) {
    std::span<T> v(values_.data() + i.offset, i.size);
    if (i.orthogonal_rows > 0) {
      fill_orthogonal_blocks(i, rng);
    } else if (i.role == ParamRole::weight && i.shape.size() == 2) {
      const double fan_out = double(i.shape[0]), fan_in = double(i.shape[1]);
      const double sd = scheme == "xavier" ? std::sqrt(2 / (fan_in + fan_out)) : std::sqrt(2 / fan_in);
      fill_normal(v, rng, 0.0, sd);
    } else if (i.role == ParamRole::weight || i.role == ParamRole::embedding) {
      fill_normal(v, rng, 0.0, std);
    } else {
      std::fill(v.begin(), v.end(), T(i.init));
    }
    apply_init_scales(i);
  }
}

template <class T>
void ParamStore<T>::fill_orthogonal_blocks(const ParamInfo& info, Rng& rng) {
  const std::size_t n = info.orthogonal_rows;
  std::vector<double> q(n * n);
  // Blocks in row order, each from its own draw: Nematus's ortho_weight per gate block, so each
  // gate's recurrent matrix is orthogonal on its own (the stacked (3H, H) W_hh cannot be).
  for (std::size_t first = 0; first < info.size; first += n * n) {
    fill_orthogonal(q, n, rng);
    std::transform(q.begin(), q.end(), values_.begin() + std::ptrdiff_t(info.offset + first),
                   [](double v) { return T(v); });
  }
}

void fill_orthogonal(std::span<double> q, std::size_t n, Rng& rng) {
  if (q.size() != n * n) fail("internal: fill_orthogonal of ", q.size(), " values as ", n, " x ", n);
  fill_normal(q, rng, 0.0, 1.0);
  // Gram-Schmidt over the rows of the Gaussian G: G = L Q, L lower triangular with a positive
  // diagonal (each row's length before scaling), which is G^T = Q^T R with R = L^T: the QR with
  // R's diagonal positive, of a G^T that is as Gaussian as G. The second pass ("twice is
  // enough", Giraud et al. 2005) removes what rounding left of the earlier rows, so Q Q^T = I to
  // ~1e-15 even for an ill-conditioned draw, where one pass would lose orthogonality.
  for (std::size_t i = 0; i < n; ++i) {
    double* v = q.data() + i * n;
    for (int pass = 0; pass < 2; ++pass) {
      for (std::size_t k = 0; k < i; ++k) {
        const double* u = q.data() + k * n;
        double d = 0;
        for (std::size_t j = 0; j < n; ++j) d += u[j] * v[j];
        for (std::size_t j = 0; j < n; ++j) v[j] -= d * u[j];
      }
    }
    double norm2 = 0;
    for (std::size_t j = 0; j < n; ++j) norm2 += v[j] * v[j];
    if (!(norm2 > 0)) fail("orthogonal init: a Gaussian draw of rank < ", n, " (probability 0)");
    const double scale = 1 / std::sqrt(norm2);
    for (std::size_t j = 0; j < n; ++j) v[j] *= scale;
  }
}

template class ParamStore<float>;
template class ParamStore<double>;

}  // namespace normlab::nn
