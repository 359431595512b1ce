#include "stats/recorder.hpp"

#include <algorithm>
#include <cmath>

#include "io/run_schema.hpp"

namespace normlab::stats {

static_assert(io::schema::kStatistics.size() == kStatCount,
              "stats::Stat and io::schema::kStatistics list the same statistics, in one order");

const std::vector<std::string>& stat_names() {
  static const std::vector<std::string> names(io::schema::kStatistics.begin(),
                                              io::schema::kStatistics.end());
  return names;
}

namespace {
template <class T>
double sum_of_squares(const T* v, std::size_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (std::size_t i = 0; i < n; ++i) s += double(v[i]) * double(v[i]);
  return s;
}
}  // namespace

template <class T>
void ActivationSums::add_forward(const T* x, const T* y, std::size_t rows, std::size_t D) {
  const double n = double(D);
  for (std::size_t r = 0; r < rows; ++r) {
    const T* row = x + r * D;
    double s1 = 0, s2 = 0, mx = 0;
#pragma omp simd reduction(+ : s1, s2) reduction(max : mx)
    for (std::size_t i = 0; i < D; ++i) {
      const double v = row[i];
      s1 += v;
      s2 += v * v;
      mx = std::max(mx, std::abs(v));
    }
    const double m = s1 / n, ms = s2 / n, q = std::sqrt(ms);
    double c = 0;  // second pass: the variance without cancellation
#pragma omp simd reduction(+ : c)
    for (std::size_t i = 0; i < D; ++i) c += (double(row[i]) - m) * (double(row[i]) - m);
    sum_mean += m;
    sum_rms += q;
    sum_std += std::sqrt(c / n);
    if (ms > 0) {
      sum_abs_mean_over_rms += std::abs(m) / q;
      sum_mean_share += m * m / ms;
    }
    max_abs = std::max(max_abs, mx);
    if (y) sum_out_rms += std::sqrt(sum_of_squares(y + r * D, D) / n);
  }
  this->rows += double(rows);
  saw_output = saw_output || y != nullptr;
}

template <class T>
void ActivationSums::add_saturation(const T* x, double alpha, std::size_t rows, std::size_t D) {
  const std::size_t n = rows * D;
  const double a = std::abs(alpha);
  double count = 0;
#pragma omp simd reduction(+ : count)
  for (std::size_t i = 0; i < n; ++i) count += a * std::abs(double(x[i])) > kSaturation ? 1 : 0;
  saturated += count;
  elements += double(n);
}

template <class T>
void ActivationSums::add_backward(const T* dx, const T* dy, std::size_t rows, std::size_t D) {
  grad_in_sq += sum_of_squares(dx, rows * D);
  grad_in_count += double(rows * D);
  if (dy) {
    grad_out_sq += sum_of_squares(dy, rows * D);
    grad_out_count += double(rows * D);
  }
}

void ActivationSums::finish(std::span<double> out) const {
  out[in_mean] = sum_mean / rows;  // 0 / 0 = NaN when no row was seen
  out[in_abs_mean_over_rms] = sum_abs_mean_over_rms / rows;
  out[in_rms] = sum_rms / rows;
  out[in_std] = sum_std / rows;
  out[in_max_abs] = rows > 0 ? max_abs : NAN;
  out[in_mean_share] = sum_mean_share / rows;
  out[out_rms] = saw_output ? sum_out_rms / rows : NAN;
  out[grad_in_rms] = std::sqrt(grad_in_sq / grad_in_count);
  out[grad_out_rms] = std::sqrt(grad_out_sq / grad_out_count);
}

template <class T>
class Recorder<T>::SiteObserver final : public nn::Observer<T> {
 public:
  void forward(const T* x, const T* y, std::size_t rows, std::size_t D) override {
    sums.add_forward(x, y, rows, D);
    if (alpha) sums.add_saturation(x, double(*alpha), rows, D);
  }
  void backward(const T* dx, const T* dy, std::size_t rows, std::size_t D) override {
    sums.add_backward(dx, dy, rows, D);
  }
  ActivationSums sums;
  const T* alpha = nullptr;  // the site's alpha (an element-wise kind), read at each forward
};

template <class T>
Recorder<T>::Recorder(std::vector<nn::Probe<T>*> probes, nn::ParamStore<T>& store)
    : probes_(std::move(probes)),
      store_(store),
      observers_(probes_.size()),
      before_(probes_.size()),
      values_(kStatCount * probes_.size(), NAN) {}

template <class T>
io::SiteTable Recorder<T>::site_table() const {
  io::SiteTable table;
  for (const nn::Probe<T>* p : probes_) {
    table.names.push_back(p->name);
    table.kinds.push_back(p->kind);
    table.layers.push_back((long long)p->layer);
    table.features.push_back((long long)p->features);
  }
  return table;
}

template <class T>
Recorder<T>::~Recorder() {
  for (nn::Probe<T>* p : probes_) p->observer = nullptr;
}

template <class T>
void Recorder<T>::begin() {
  std::fill(values_.begin(), values_.end(), NAN);
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    observers_[i].sums = ActivationSums{};
    const nn::Param a = probes_[i]->alpha;
    observers_[i].alpha = a.size ? store_.value(a).data() : nullptr;
    probes_[i]->observer = &observers_[i];
  }
}

namespace {
// Mean, population standard deviation, min and max of v + offset (two passes).
struct Summary {
  double mean = NAN, sd = NAN, min = NAN, max = NAN;
};
template <class T>
Summary summarize(std::span<const T> v, double offset) {
  if (v.empty()) return {};
  Summary s{0, 0, INFINITY, -INFINITY};
  for (T x : v) {
    const double g = double(x) + offset;
    s.mean += g;
    s.min = std::min(s.min, g);
    s.max = std::max(s.max, g);
  }
  s.mean /= double(v.size());
  for (T x : v) s.sd += (double(x) + offset - s.mean) * (double(x) + offset - s.mean);
  s.sd = std::sqrt(s.sd / double(v.size()));
  return s;
}
}  // namespace

template <class T>
void Recorder<T>::after_backward() {
  const std::size_t S = probes_.size();
  std::vector<double> column(kStatCount);
  for (std::size_t i = 0; i < S; ++i) {
    nn::Probe<T>& p = *probes_[i];
    p.observer = nullptr;
    observers_[i].sums.finish(column);
    for (std::size_t s = in_mean; s <= grad_out_rms; ++s) at(Stat(s), i) = column[s];

    const Summary g = summarize<T>(store_.value(p.gain), p.gain_offset);
    const Summary b = summarize<T>(store_.value(p.bias), 0.0);
    at(gain_mean, i) = g.mean;
    at(gain_std, i) = g.sd;
    at(gain_min, i) = g.min;
    at(gain_max, i) = g.max;
    at(bias_mean, i) = b.mean;
    at(bias_std, i) = b.sd;
    at(lambda, i) = p.lambda.size ? double(store_.value(p.lambda)[0]) : p.fixed_lambda;
    auto grad_norm = [&](nn::Param h) {
      return h.size ? std::sqrt(sum_of_squares(store_.grad(h).data(), h.size)) : NAN;
    };
    at(gain_grad_norm, i) = grad_norm(p.gain);
    at(bias_grad_norm, i) = grad_norm(p.bias);
    at(lambda_grad_norm, i) = grad_norm(p.lambda);
    // An element-wise kind: alpha, and the share of the step's inputs it saturates. (It has no
    // per-row statistic: nothing else is written for one that a shift-scale kind would have.)
    const ActivationSums& sums = observers_[i].sums;
    at(alpha, i) = p.alpha.size ? double(store_.value(p.alpha)[0]) : NAN;
    at(saturated_share, i) = p.alpha.size && sums.elements > 0 ? sums.saturated / sums.elements
                                                                : NAN;

    before_[i].clear();
    for (nn::Param h : {p.gain, p.bias, p.lambda, p.alpha}) {
      for (T v : store_.value(h)) before_[i].push_back(double(v));
    }
  }
}

template <class T>
void Recorder<T>::after_update() {
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    const nn::Probe<T>& p = *probes_[i];
    if (before_[i].empty()) continue;  // no parameters: NaN
    double diff = 0, norm = 0;
    std::size_t k = 0;
    for (nn::Param h : {p.gain, p.bias, p.lambda, p.alpha}) {
      for (T v : store_.value(h)) {
        const double old = before_[i][k++];
        diff += (double(v) - old) * (double(v) - old);
        norm += old * old;
      }
    }
    at(update_ratio, i) = std::sqrt(diff) / std::sqrt(norm);
  }
}

template void ActivationSums::add_forward(const float*, const float*, std::size_t, std::size_t);
template void ActivationSums::add_forward(const double*, const double*, std::size_t, std::size_t);
template void ActivationSums::add_saturation(const float*, double, std::size_t, std::size_t);
template void ActivationSums::add_saturation(const double*, double, std::size_t, std::size_t);
template void ActivationSums::add_backward(const float*, const float*, std::size_t, std::size_t);
template void ActivationSums::add_backward(const double*, const double*, std::size_t, std::size_t);
template class Recorder<float>;
template class Recorder<double>;

}  // namespace normlab::stats
