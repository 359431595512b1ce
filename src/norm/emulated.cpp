#include "norm/emulated.hpp"

#include <vector>

#include "core/error.hpp"
#include "norm/registry.hpp"
#include "norm/emulated_kernels.hpp"

namespace normlab::norm {

namespace {

class EmulatedNormalizer final : public norm::Normalizer {
 public:
  explicit EmulatedNormalizer(const norm::NormConfig& c)
      : Normalizer(c), plain_(norm::kind_info(c.kind).make(c)) {
    emulated_norm(c, 1);  // throws for a kind without an emulated form
  }

  std::vector<norm::ParamSpec> param_specs(std::size_t D) const override {
    return plain_->param_specs(D);
  }

  void forward(std::span<float> y, norm::NormCache& cache, std::span<const float> x,
               norm::NormParams<const float> p, std::size_t B, std::size_t D) const override {
    forward_impl<float>(y, cache, x, p, B, D);
  }
  void forward(std::span<double> y, norm::NormCache& cache, std::span<const double> x,
               norm::NormParams<const double> p, std::size_t B, std::size_t D) const override {
    forward_impl<double>(y, cache, x, p, B, D);
  }
  void backward(std::span<float> dx, norm::NormParams<float> grads, const norm::NormCache& cache,
                std::span<const float> dy, std::span<const float> x,
                norm::NormParams<const float> p, std::size_t B, std::size_t D) const override {
    backward_impl<float>(dx, grads, cache, dy, x, p, B, D);
  }
  void backward(std::span<double> dx, norm::NormParams<double> grads,
                const norm::NormCache& cache, std::span<const double> dy,
                std::span<const double> x, norm::NormParams<const double> p, std::size_t B,
                std::size_t D) const override {
    backward_impl<double>(dx, grads, cache, dy, x, p, B, D);
  }

 private:
  // The run-time precision for a model of scalar type T.
  template <class T>
  Precision precision() const {
    using S = norm::Storage;
    const S s = config().storage;
    using fp::Format;
    const Format storage = s == S::native   ? (sizeof(T) == 4 ? Format::float32 : Format::float64)
                           : s == S::float32 ? Format::float32
                           : s == S::bfloat16 ? Format::bfloat16
                                              : Format::float16;
    const norm::Accumulate a = config().accumulate;
    return {storage, a == norm::Accumulate::float64   ? Format::float64
                     : a == norm::Accumulate::float32 ? Format::float32
                                                      : storage};
  }

  // The kind's form at D, with a learned lambda's current value; the gain as applied (g0 + g).
  template <class T>
  EmulatedNorm form(norm::NormParams<const T> p, std::size_t D, std::vector<double>& gain,
                    std::vector<double>& bias) const {
    EmulatedNorm n = emulated_norm(config(), D);
    // eps=auto: the machine epsilon of the stored type (torch: finfo(x.dtype).eps).
    if (config().eps_auto) n.eps = fp::ulp(1.0, precision<T>().storage);
    if (n.subtract == Form::Subtract::learned && !p.lambda.empty()) n.lambda = double(p.lambda[0]);
    gain.assign(p.gain.begin(), p.gain.end());
    for (double& g : gain) g += n.g0;
    bias.assign(p.bias.begin(), p.bias.end());
    return n;
  }

  template <class T>
  void check(const char* name, std::size_t size, std::size_t B, std::size_t D) const {
    if (D == 0) fail(kind(), ": D = 0 features");
    if (size != B * D) fail(kind(), ": ", name, " has ", size, " values, expected B*D = ", B * D);
  }

  template <class T>
  void forward_impl(std::span<T> y, norm::NormCache& cache, std::span<const T> x,
                    norm::NormParams<const T> p, std::size_t B, std::size_t D) const {
    check<T>("x", x.size(), B, D);
    check<T>("y", y.size(), B, D);
    std::vector<double> gain, bias, xd(x.begin(), x.end()), yd(B * D);
    const EmulatedNorm n = form(p, D, gain, bias);
    std::vector<RowStats<double>> stats(B);
    emulated_forward(yd.data(), stats.data(), xd.data(), gain.empty() ? nullptr : gain.data(),
                     bias.empty() ? nullptr : bias.data(), n, precision<T>(), B, D);
    std::copy(yd.begin(), yd.end(), y.begin());
    cache.mean.resize(B), cache.stat.resize(B), cache.rstd.resize(B);
    for (std::size_t i = 0; i < B; ++i) {
      cache.mean[i] = stats[i].mean, cache.stat[i] = stats[i].stat, cache.rstd[i] = stats[i].rstd;
    }
  }

  template <class T>
  void backward_impl(std::span<T> dx, norm::NormParams<T> grads, const norm::NormCache& cache,
                     std::span<const T> dy, std::span<const T> x, norm::NormParams<const T> p,
                     std::size_t B, std::size_t D) const {
    check<T>("x", x.size(), B, D);
    check<T>("dy", dy.size(), B, D);
    check<T>("dx", dx.size(), B, D);
    if (cache.rstd.size() != B) {
      fail(kind(), ": the cache holds ", cache.rstd.size(), " rows, the batch has B = ", B);
    }
    std::vector<double> gain, bias, xd(x.begin(), x.end()), dyd(dy.begin(), dy.end()), dxd(B * D);
    const EmulatedNorm n = form(p, D, gain, bias);
    std::vector<RowStats<double>> stats(B);
    for (std::size_t i = 0; i < B; ++i) stats[i] = {cache.mean[i], cache.stat[i], cache.rstd[i]};
    std::vector<double> dg(grads.gain.size(), 0.0), db(grads.bias.size(), 0.0);
    double dlambda = 0;
    emulated_backward(dxd.data(), dg.empty() ? nullptr : dg.data(),
                      db.empty() ? nullptr : db.data(), grads.lambda.empty() ? nullptr : &dlambda,
                      stats.data(), dyd.data(), xd.data(), gain.empty() ? nullptr : gain.data(), n,
                      precision<T>(), B, D);
    std::copy(dxd.begin(), dxd.end(), dx.begin());
    for (std::size_t j = 0; j < dg.size(); ++j) grads.gain[j] += T(dg[j]);
    for (std::size_t j = 0; j < db.size(); ++j) grads.bias[j] += T(db[j]);
    if (!grads.lambda.empty()) grads.lambda[0] += T(dlambda);
  }

  std::unique_ptr<norm::Normalizer> plain_;  // the kind's own normalizer: its parameters
};

}  // namespace

std::unique_ptr<norm::Normalizer> make_emulated_normalizer(const norm::NormConfig& config) {
  return std::make_unique<EmulatedNormalizer>(config);
}

}  // namespace normlab::norm
