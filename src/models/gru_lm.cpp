#include "models/gru_lm.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/kernels.hpp"
#include "core/parallel.hpp"
#include "core/small_gemm.hpp"
#include "models/registry.hpp"
#include "nn/layers.hpp"

namespace normlab::models {

GruNormSites parse_gru_norm_sites(const std::string& name) {
  if (name == "both") return GruNormSites::both;
  if (name == "input") return GruNormSites::input;
  if (name == "recurrent") return GruNormSites::recurrent;
  if (name == "none") return GruNormSites::none;
  fail("model.gru_norm: '", name, "' is not one of both, input, recurrent, none");
}

bool parse_recurrent_init(const std::string& name) {
  if (name == "default") return false;
  if (name == "orthogonal") return true;
  fail("model.recurrent_init: '", name, "' is not one of default, orthogonal");
}

template <class T>
GruLm<T>::GruLm(const GruConfig& config) : c_(config) {
  if (c_.layers == 0 || c_.hidden == 0 || c_.embed == 0 || c_.vocab == 0) {
    fail("the GRU needs at least one layer, hidden and embedding feature and vocabulary entry");
  }
  if (c_.norms.size() != 1 && c_.norms.size() != c_.layers) {
    fail("model.norm lists ", c_.norms.size(), " normalizers; the GRU has ", c_.layers,
         " layers (give one kind, or one per layer)");
  }
  const std::size_t H = c_.hidden;
  embed_ = params_.add("embed.weight", {c_.vocab, c_.embed}, nn::ParamRole::embedding);
  layers_.resize(c_.layers);
  for (std::size_t l = 0; l < c_.layers; ++l) {
    Layer& L = layers_[l];
    const std::string prefix = "gru" + std::to_string(l);
    const std::string& kind = c_.norms.size() == 1 ? c_.norms[0] : c_.norms[l];
    L.in = l == 0 ? c_.embed : H;
    L.W_ih = params_.add(prefix + ".weight_ih", {3 * H, L.in}, nn::ParamRole::weight);
    L.W_hh = params_.add(prefix + ".weight_hh", {3 * H, H}, nn::ParamRole::weight);
    L.b_ih = params_.add(prefix + ".bias_ih", {3 * H}, nn::ParamRole::bias);
    L.b_hh = params_.add(prefix + ".bias_hh", {3 * H}, nn::ParamRole::bias);
    if (c_.orthogonal_recurrent) params_.set_orthogonal(L.W_hh, H);
    const norm::NormOptions& options = c_.norm_options.for_kind(kind);
    if (c_.sites == GruNormSites::both || c_.sites == GruNormSites::input) {
      L.norm_ih = GruProjectionNorm<T>(params_, prefix + ".norm_ih", kind, options, H, l, c_.split);
    }
    if (c_.sites == GruNormSites::both || c_.sites == GruNormSites::recurrent) {
      L.norm_hh = GruProjectionNorm<T>(params_, prefix + ".norm_hh", kind, options, H, l, c_.split);
    }
  }
  head_W_ = params_.add("head.weight", {c_.vocab, H}, nn::ParamRole::weight);
  head_b_ = params_.add("head.bias", {c_.vocab}, nn::ParamRole::bias);
  params_.allocate();
}

namespace {
// The gates' nonlinearities in place over n values: the per-ISA kernels in float
// (core/kernels.hpp, vectorized on every CPU), libm's in double.
inline void gate_sigmoid(float* v, std::size_t n) { kernels::active().sigmoid(v, v, n); }
inline void gate_sigmoid(double* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) v[i] = 1 / (1 + std::exp(-v[i]));
}
inline void gate_tanh(float* v, std::size_t n) { kernels::active().tanh(v, v, n); }
inline void gate_tanh(double* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) v[i] = std::tanh(v[i]);
}
// Rows of a step's gates worth a thread: some 4096 values, each a few exp and multiplies (the
// GRU's step is short, 32 x 256 in bench train: two ranges).
std::size_t gate_rows(std::size_t H) {
  return std::max<std::size_t>(1, 4096 / std::max<std::size_t>(H, 1));
}
template <class T>
void add_rows(T* y, const T* b, std::size_t rows, std::size_t n) {  // y[i, :] += b
  for (std::size_t i = 0; i < rows; ++i) {
#pragma omp simd
    for (std::size_t j = 0; j < n; ++j) y[i * n + j] += b[j];
  }
}
}  // namespace

template <class T>
void GruLm<T>::layer_forward(Layer& L, const T* x) {
  const std::size_t B = B_, len = len_, H = c_.hidden, G = 3 * H, rows = len * B;
  const GateLayout lay = layout(rows);
  L.A.resize(rows * G);
  L.gx.resize(rows * G);
  L.gh.resize(rows * G);
  L.hp.resize(rows * G);
  L.r.resize(rows * H);
  L.z.resize(rows * H);
  L.n.resize(rows * H);
  L.h.resize(rows * H);

  // The input projection of every step at once: one GEMM per group over T*B rows, one
  // normalizer call per site.
  const T* W_ih = params_.value(L.W_ih).data();
  const T* b_ih = params_.value(L.b_ih).data();
  for (std::size_t g = 0; g < lay.groups(); ++g) {
    nn::linear_forward(L.A.data() + lay.at(0, g), x, W_ih + lay.first_col(g) * L.in,
                       static_cast<const T*>(nullptr), rows, L.in, lay.width(g));
  }
  if (L.norm_ih.active()) {
    L.norm_ih.forward(params_, lay.rows(L.gx.data(), 0), lay.rows(std::as_const(L.A).data(), 0),
                      rows);
  } else {
    L.gx = L.A;
  }
  for (std::size_t g = 0; g < lay.groups(); ++g) {
    add_rows(L.gx.data() + lay.at(0, g), b_ih + lay.first_col(g), rows, lay.width(g));
  }
  const T* W_hh = params_.value(L.W_hh).data();
  for (std::size_t g = 0; g < lay.groups(); ++g) {  // B = W_hh^T (H, width) from W_hh's rows
    L.W_hh_t[g].pack_transposed(W_hh + lay.first_col(g) * H, H, H, lay.width(g));
  }
  for (std::size_t t = 0; t < len; ++t) {
    recurrent_forward(L, t);
    gates_forward(L, t);
  }
}

template <class T>
void GruLm<T>::recurrent_forward(Layer& L, std::size_t t) {
  const std::size_t B = B_, H = c_.hidden;
  const GateLayout lay = layout(len_ * B);
  const T* b_hh = params_.value(L.b_hh).data();
  for (std::size_t g = 0; g < lay.groups(); ++g) {
    T* hp = L.hp.data() + lay.at(t * B, g);
    const std::size_t w = lay.width(g);
    if (t == 0) std::fill(hp, hp + B * w, T(0));  // h_{-1} = 0
    else gemm_panels(hp, w, L.h.data() + (t - 1) * B * H, H, L.W_hh_t[g], B, false);
  }
  if (L.norm_hh.active()) {
    L.norm_hh.forward(params_, lay.rows(L.gh.data(), t * B),
                      lay.rows(std::as_const(L.hp).data(), t * B), B, t);
  }
  for (std::size_t g = 0; g < lay.groups(); ++g) {
    T* gh = L.gh.data() + lay.at(t * B, g);
    const T* hp = L.hp.data() + lay.at(t * B, g);
    if (!L.norm_hh.active()) std::copy(hp, hp + B * lay.width(g), gh);
    add_rows(gh, b_hh + lay.first_col(g), B, lay.width(g));
  }
}

template <class T>
void GruLm<T>::gates_forward(Layer& L, std::size_t t) {
  const std::size_t B = B_, H = c_.hidden;
  const GateLayout lay = layout(len_ * B);
  // The gates of the step's B rows: pre-activations first, then each nonlinearity over all the
  // rows of a range at once (the rows of r, z and n are contiguous for a step). Each sequence's
  // gates come from its own row, and the kernels' bits do not depend on an element's position:
  // the rows split across threads give the same bits.
  parallel_for(B, gate_rows(H), [&](std::size_t first, std::size_t last) {
    const std::size_t m = (last - first) * H;  // the range's values
    T *r = L.r.data() + (t * B + first) * H, *z = L.z.data() + (t * B + first) * H;
    T *n = L.n.data() + (t * B + first) * H, *h = L.h.data() + (t * B + first) * H;
    const T* hprev = t == 0 ? nullptr : h - B * H;
    for (std::size_t b = 0; b < last - first; ++b) {
      const T* gxr = L.gx.data() + lay.gates(t * B + first + b);
      const T* ghr = L.gh.data() + lay.gates(t * B + first + b);
#pragma omp simd
      for (std::size_t j = 0; j < H; ++j) {
        r[b * H + j] = gxr[j] + ghr[j];
        z[b * H + j] = gxr[H + j] + ghr[H + j];
      }
    }
    gate_sigmoid(r, m);
    gate_sigmoid(z, m);
    for (std::size_t b = 0; b < last - first; ++b) {
      const T* gxn = L.gx.data() + lay.cand(t * B + first + b);
      const T* ghn = L.gh.data() + lay.cand(t * B + first + b);
#pragma omp simd
      for (std::size_t j = 0; j < H; ++j) n[b * H + j] = gxn[j] + r[b * H + j] * ghn[j];
    }
    gate_tanh(n, m);
#pragma omp simd
    for (std::size_t i = 0; i < m; ++i) {
      h[i] = (T(1) - z[i]) * n[i] + z[i] * (hprev ? hprev[i] : T(0));
    }
  });
}

template <class T>
void GruLm<T>::gates_backward(const Layer& L, std::size_t t, const T* dh_out) {
  const std::size_t B = B_, H = c_.hidden;
  const GateLayout lay = layout(len_ * B), step = layout(B);
  Scratch& w = scratch_;
  // each sequence's row from its own values: the rows split across threads give the same bits
  parallel_for(B, gate_rows(H), [&](std::size_t first, std::size_t last) {
    for (std::size_t b = first; b < last; ++b) {
      const std::size_t row = t * B + b;
      const T *r = L.r.data() + row * H, *z = L.z.data() + row * H, *n = L.n.data() + row * H;
      const T* ghn = L.gh.data() + lay.cand(row);
      const T* hprev = t == 0 ? nullptr : L.h.data() + (row - B) * H;
      const T* up = dh_out + row * H;
      T* dhb = w.dh_step.data() + b * H;
      T* dhp_b = w.dh_prev.data() + b * H;
      T* dgxr = w.dgx.data() + lay.gates(row);
      T* dgxn = w.dgx.data() + lay.cand(row);
      T* dghr = w.dgh.data() + step.gates(b);
      T* dghn = w.dgh.data() + step.cand(b);
#pragma omp simd
      for (std::size_t j = 0; j < H; ++j) {
        const T d = dhb[j] + up[j];  // from the step above and from this step's output
        const T hp = hprev ? hprev[j] : T(0);
        const T dn = d * (T(1) - z[j]) * (T(1) - n[j] * n[j]);  // through tanh
        const T dz = d * (hp - n[j]) * z[j] * (T(1) - z[j]);    // through sigmoid
        const T dr = dn * ghn[j] * r[j] * (T(1) - r[j]);
        dgxr[j] = dr;
        dgxr[H + j] = dz;
        dgxn[j] = dn;
        dghr[j] = dr;
        dghr[H + j] = dz;
        dghn[j] = dn * r[j];
        dhp_b[j] = d * z[j];
      }
    }
  });
}

template <class T>
void GruLm<T>::recurrent_backward(Layer& L, std::size_t t) {
  const std::size_t B = B_, H = c_.hidden;
  const GateLayout lay = layout(len_ * B), step = layout(B);
  Scratch& w = scratch_;
  T* db_hh = params_.grad(L.b_hh).data();
  for (std::size_t g = 0; g < lay.groups(); ++g) {
    nn::add_column_sums(db_hh + lay.first_col(g), w.dgh.data() + step.at(0, g), B, lay.width(g));
  }
  if (L.norm_hh.active()) {
    L.norm_hh.backward(params_, lay.rows(w.dhp.data(), t * B),
                       step.rows(std::as_const(w.dgh).data(), 0),
                       lay.rows(std::as_const(L.hp).data(), t * B), B, t);
  } else {
    for (std::size_t g = 0; g < lay.groups(); ++g) {
      const T* dgh = w.dgh.data() + step.at(0, g);
      std::copy(dgh, dgh + B * lay.width(g), w.dhp.data() + lay.at(t * B, g));
    }
  }
  // dh_{t-1} = z * dh_t + (dL/d(W_hh h_{t-1})) W_hh
  if (t == 0) return;
  for (std::size_t g = 0; g < lay.groups(); ++g) {
    gemm_panels(w.dh_prev.data(), H, w.dhp.data() + lay.at(t * B, g), lay.width(g), w.W_hh[g], B,
                true);
  }
}

template <class T>
void GruLm<T>::layer_backward(Layer& L, const T* x, const T* dh_out, T* dx) {
  const std::size_t B = B_, len = len_, H = c_.hidden, G = 3 * H, rows = len * B;
  const GateLayout lay = layout(rows);
  const T* W_hh = params_.value(L.W_hh).data();
  Scratch& w = scratch_;
  w.dgx.resize(rows * G);
  w.dhp.resize(rows * G);
  w.dgh.resize(B * G);
  w.dh_step.assign(B * H, T(0));  // nothing reaches h_{T-1} from a later step
  w.dh_prev.resize(B * H);        // written for each b before the GEMM adds to it
  for (std::size_t g = 0; g < lay.groups(); ++g) {  // B = W_hh (width, H) for dh_{t-1} += dhp_t W_hh
    w.W_hh[g].pack(W_hh + lay.first_col(g) * H, H, lay.width(g), H);
  }
  for (std::size_t t = len; t-- > 0;) {
    gates_backward(L, t, dh_out);
    recurrent_backward(L, t);
    std::swap(w.dh_step, w.dh_prev);
  }
  // dW_hh += sum_t dhp_t^T h_{t-1}: one GEMM per group over steps 1..T-1 (h_{-1} = 0 adds nothing).
  T* dW_hh = params_.grad(L.W_hh).data();
  for (std::size_t g = 0; g < lay.groups() && len > 1; ++g) {
    gemm(Trans::yes, Trans::no, lay.width(g), H, (len - 1) * B, T(1), w.dhp.data() + lay.at(B, g),
         lay.width(g), L.h.data(), H, T(1), dW_hh + lay.first_col(g) * H, H);
  }
  T* db_ih = params_.grad(L.b_ih).data();
  for (std::size_t g = 0; g < lay.groups(); ++g) {
    nn::add_column_sums(db_ih + lay.first_col(g), w.dgx.data() + lay.at(0, g), rows, lay.width(g));
  }
  const T* dpre = w.dgx.data();
  if (L.norm_ih.active()) {
    w.dA.resize(rows * G);
    L.norm_ih.backward(params_, lay.rows(w.dA.data(), 0), lay.rows(std::as_const(w.dgx).data(), 0),
                       lay.rows(std::as_const(L.A).data(), 0), rows);
    dpre = w.dA.data();
  }
  // dW_ih and dx per group; the candidate's share of dx is added to the gates' by a second GEMM
  const T* W_ih = params_.value(L.W_ih).data();
  T* dW_ih = params_.grad(L.W_ih).data();
  for (std::size_t g = 0; g < lay.groups(); ++g) {
    const std::size_t c0 = lay.first_col(g) * L.in, wd = lay.width(g);
    nn::linear_backward(g == 0 ? dx : static_cast<T*>(nullptr), dW_ih + c0,
                        static_cast<T*>(nullptr), dpre + lay.at(0, g), x, W_ih + c0, rows, L.in, wd);
    if (g > 0 && dx) {
      gemm(Trans::no, Trans::no, rows, L.in, wd, T(1), dpre + lay.at(0, g), wd, W_ih + c0, L.in,
           T(1), dx, L.in);
    }
  }
}

template <class T>
double GruLm<T>::forward(const std::int32_t* tokens, const std::int32_t* targets, std::size_t B,
                         std::size_t len) {
  B_ = B;
  len_ = len;
  const std::size_t H = c_.hidden, V = c_.vocab, rows = B * len;
  tokens_tm_.resize(rows);
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t t = 0; t < len; ++t) tokens_tm_[t * B + b] = tokens[b * len + t];
  }
  targets_.assign(targets, targets + rows);
  x0_.resize(rows * c_.embed);
  nn::embedding_forward(x0_.data(), tokens_tm_.data(), params_.value(embed_).data(), rows, V,
                        c_.embed);
  const T* x = x0_.data();
  for (Layer& L : layers_) {
    layer_forward(L, x);
    x = L.h.data();
  }
  top_.resize(rows * H);  // batch-major, to meet the (B, T) targets
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t t = 0; t < len; ++t) {
      std::copy(x + (t * B + b) * H, x + (t * B + b + 1) * H, top_.data() + (b * len + t) * H);
    }
  }
  logits_.resize(rows * V);
  probs_.resize(rows * V);
  nn::linear_forward(logits_.data(), top_.data(), params_.value(head_W_).data(),
                     params_.value(head_b_).data(), rows, H, V);
  return nn::cross_entropy_forward(probs_.data(), logits_.data(), targets_.data(), rows, V);
}

template <class T>
void GruLm<T>::backward() {
  const std::size_t B = B_, len = len_, H = c_.hidden, V = c_.vocab, rows = B * len;
  std::vector<T>& dlogits = scratch_.dlogits;
  std::vector<T>& dtop = scratch_.dtop;
  std::vector<T>& dh = scratch_.dh;
  dlogits.resize(rows * V);
  dtop.resize(rows * H);
  dh.resize(rows * H);
  nn::cross_entropy_backward(dlogits.data(), probs_.data(), targets_.data(), rows, V);
  nn::linear_backward(dtop.data(), params_.grad(head_W_).data(), params_.grad(head_b_).data(),
                      dlogits.data(), top_.data(), params_.value(head_W_).data(), rows, H, V);
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t t = 0; t < len; ++t) {
      std::copy(dtop.data() + (b * len + t) * H, dtop.data() + (b * len + t + 1) * H,
                dh.data() + (t * B + b) * H);
    }
  }
  std::vector<T>& dx = scratch_.dx;
  // dh and dx trade places layer by layer: both hold the larger size, so neither regrows later.
  dh.reserve(rows * std::max(H, c_.embed));
  dx.reserve(rows * std::max(H, c_.embed));
  for (std::size_t l = layers_.size(); l-- > 0;) {
    Layer& L = layers_[l];
    dx.resize(rows * L.in);
    layer_backward(L, l == 0 ? x0_.data() : layers_[l - 1].h.data(), dh.data(), dx.data());
    std::swap(dh, dx);
  }
  nn::embedding_backward(params_.grad(embed_).data(), dh.data(), tokens_tm_.data(), rows, c_.embed);
}

template <class T>
std::vector<nn::Probe<T>*> GruLm<T>::probes() {
  std::vector<nn::Probe<T>*> out;
  for (Layer& L : layers_) {
    L.norm_ih.append_probes(out);
    L.norm_hh.append_probes(out);
  }
  return out;
}

template <class T>
std::vector<const nn::NormSite<T>*> GruLm<T>::norm_sites() const {
  std::vector<const nn::NormSite<T>*> out;
  for (const Layer& L : layers_) {
    L.norm_ih.append_sites(out);
    L.norm_hh.append_sites(out);
  }
  return out;
}

template class GruLm<float>;
template class GruLm<double>;

// ---- the family: model.* keys and the task -> GruConfig ----

namespace {

template <class T>
std::unique_ptr<Model<T>> build_gru(const io::Config& c, const TaskInfo& task,
                                    const SiteOptions& options) {
  GruConfig g;
  g.vocab = task.classes;
  g.embed = positive(c, "model.embed");
  g.hidden = positive(c, "model.width");
  g.layers = positive(c, "model.depth");
  g.norms = c.strings("model.norm");
  g.norm_options = options;
  g.sites = parse_gru_norm_sites(c.string("model.gru_norm"));
  g.split = parse_gru_norm_split(c.string("model.gru_norm_split"));
  g.orthogonal_recurrent = parse_recurrent_init(c.string("model.recurrent_init"));
  return std::make_unique<GruLm<T>>(g);
}

}  // namespace

FamilyInfo gru_family() {
  return {"gru", "GRU language model: Embedding -> depth GRU layers (normalized projections) -> head",
          TaskKind::tokens, "grammar", &build_gru<float>, &build_gru<double>};
}

}  // namespace normlab::models
