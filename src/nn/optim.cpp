#include "nn/optim.hpp"

#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace normlab::nn {

void validate(const OptimConfig& c) {
  if (c.name != "sgd" && c.name != "adam" && c.name != "adamw")
    fail("optim.name: '", c.name, "' is not one of sgd, adam, adamw");
  if (!(c.lr > 0) || !std::isfinite(c.lr)) fail("optim.lr must be a finite number > 0, got ", c.lr);
  if (!(c.momentum >= 0 && c.momentum < 1)) fail("optim.momentum must be in [0, 1), got ", c.momentum);
  if (!(c.beta1 >= 0 && c.beta1 < 1)) fail("optim.beta1 must be in [0, 1), got ", c.beta1);
  if (!(c.beta2 >= 0 && c.beta2 < 1)) fail("optim.beta2 must be in [0, 1), got ", c.beta2);
  // inf passes `> 0` but makes every Adam update 0: the run "completes" without training
  if (!(c.eps > 0) || !std::isfinite(c.eps)) fail("optim.eps must be a finite number > 0, got ", c.eps);
  if (!(c.weight_decay >= 0) || !std::isfinite(c.weight_decay))
    fail("optim.weight_decay must be a finite number >= 0, got ", c.weight_decay);
  if (!(c.clip >= 0) || !std::isfinite(c.clip))
    fail("optim.clip must be a finite number >= 0 (0 turns clipping off), got ", c.clip);
  if (c.schedule != "constant" && c.schedule != "cosine" && c.schedule != "inverse_sqrt")
    fail("optim.schedule: '", c.schedule, "' is not one of constant, cosine, inverse_sqrt");
  if (c.warmup < 0) fail("optim.warmup must be >= 0, got ", c.warmup);
  if (!(c.min_lr >= 0 && c.min_lr <= c.lr)) {
    fail("optim.min_lr must be in [0, optim.lr = ", c.lr, "], got ", c.min_lr);
  }
  if (c.min_lr > 0 && c.schedule != "cosine") {
    fail("optim.min_lr is the floor of the cosine schedule; optim.schedule is '", c.schedule,
         "' (set optim.schedule = \"cosine\", or min_lr = 0)");
  }
}

double learning_rate(const OptimConfig& c, std::int64_t t) {
  if (t < c.warmup) return c.lr * double(t + 1) / double(c.warmup);
  if (c.schedule == "cosine") {
    double span = double(std::max<std::int64_t>(c.steps - c.warmup, 1));
    double progress = std::min(1.0, double(t - c.warmup) / span);
    // with min_lr = 0 exactly lr * 0.5 * (1 + cos): lr - 0 and x + 0 round to themselves
    return c.min_lr + (c.lr - c.min_lr) * 0.5 * (1 + std::cos(std::numbers::pi * progress));
  }
  if (c.schedule == "inverse_sqrt") {
    double w = double(std::max<std::int64_t>(c.warmup, 1));
    return c.lr * std::sqrt(w / double(std::max<std::int64_t>(t + 1, c.warmup)));
  }
  return c.lr;
}

template <class T>
double global_norm(const std::vector<T>& grads) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (std::size_t i = 0; i < grads.size(); ++i) s += double(grads[i]) * double(grads[i]);
  return std::sqrt(s);
}

template <class T>
Optimizer<T>::Optimizer(OptimConfig config, const ParamStore<T>& params)
    : c_(std::move(config)), m_(params.size(), T(0)), v_(params.size(), T(0)),
      decay_(params.size(), 0) {
  validate(c_);
  for (const auto& info : params.infos()) {
    bool decays = info.role == ParamRole::weight || info.role == ParamRole::embedding ||
                  c_.decay_gains_biases;
    std::fill_n(decay_.begin() + info.offset, info.size, decays ? 1 : 0);
  }
}

template <class T>
void Optimizer<T>::set_state(OptimizerState<T> state) {
  if (state.m.size() != m_.size() || state.v.size() != v_.size()) {
    fail("optimizer state: moments of ", state.m.size(), " and ", state.v.size(), " values for ",
         m_.size(), " parameters");
  }
  if (state.t < 0) fail("optimizer state: a negative step count ", state.t);
  t_ = state.t;
  m_ = std::move(state.m);
  v_ = std::move(state.v);
}

template <class T>
double Optimizer<T>::step(ParamStore<T>& params, double norm) {
  std::vector<T>& p = params.values();
  std::vector<T>& g = params.grads();
  const double lr = learning_rate(c_, t_);
  ++t_;
  if (c_.clip > 0 && norm > c_.clip) {
    const T scale = T(c_.clip / (norm + 1e-6));  // torch.nn.utils.clip_grad_norm_'s 1e-6
    for (auto& v : g) v *= scale;
  }
  const double wd = c_.weight_decay;
  const std::size_t n = p.size();
  if (c_.name == "sgd") {
    for (std::size_t i = 0; i < n; ++i) {
      double grad = double(g[i]) + (decay_[i] ? wd * double(p[i]) : 0.0);
      double buf = t_ == 1 ? grad : c_.momentum * double(m_[i]) + grad;  // torch: first buf = g
      m_[i] = T(buf);
      p[i] = T(double(p[i]) - lr * buf);
    }
    return lr;
  }
  const bool decoupled = c_.name == "adamw";
  const double bias1 = 1 - std::pow(c_.beta1, double(t_));
  const double bias2 = 1 - std::pow(c_.beta2, double(t_));
  // Per element in the parameters' type, with the scalars rounded to it once, as torch.optim.Adam
  // does for float parameters: in float the square root and the two divisions (the step's cost)
  // take half the time they take in double, and no conversions are needed.
  const T beta1 = T(c_.beta1), one_minus_beta1 = T(1 - c_.beta1), beta2 = T(c_.beta2),
          one_minus_beta2 = T(1 - c_.beta2), eps = T(c_.eps), sqrt_bias2 = T(std::sqrt(bias2)),
          step = T(lr / bias1), l2 = T(wd), shrink = T(1 - lr * wd);
  const bool decay = wd > 0;
  T *pp = p.data(), *gp = g.data(), *mp = m_.data(), *vp = v_.data();
  const std::uint8_t* dp = decay_.data();
  // Element-wise and independent: `omp simd` vectorizes it without changing any result.
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T param = pp[i];
    T grad = gp[i];
    if (dp[i] && decay) {
      if (decoupled) param *= shrink;
      else grad += l2 * param;
    }
    const T m = beta1 * mp[i] + one_minus_beta1 * grad;
    const T v = beta2 * vp[i] + one_minus_beta2 * grad * grad;
    mp[i] = m;
    vp[i] = v;
    // torch.optim.Adam: p -= lr * m_hat / (sqrt(v_hat) + eps) written as below
    const T denom = std::sqrt(v) / sqrt_bias2 + eps;
    pp[i] = param - step * m / denom;
  }
  return lr;
}

template double global_norm<float>(const std::vector<float>&);
template double global_norm<double>(const std::vector<double>&);
template class Optimizer<float>;
template class Optimizer<double>;

}  // namespace normlab::nn
