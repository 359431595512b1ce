// Per-site statistics: what the recorder reports equals what this file computes itself, with plain
// loops, from the same activations, parameters and gradients (docs/FORMAT.md gives the
// definitions); the models' probes see the arrays they claim to; the trainer writes the
// statistics into the run file; readers refuse files that are not runs or are too new.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "helpers.hpp"
#include "io/hdf5.hpp"
#include "io/run_file.hpp"
#include "models/gru_lm.hpp"
#include "models/mlp.hpp"
#include "models/transformer_lm.hpp"
#include "nn/norm_site.hpp"
#include "stats/recorder.hpp"
#include "train/trainer.hpp"

using namespace normlab;
using Catch::Matchers::Contains;

namespace {

// Everything one probe saw in one step, call by call.
struct Seen {
  std::vector<std::vector<double>> x, y, dx, dy;  // per call: (rows * D); y, dy empty when absent
  std::size_t D = 0;
};

template <class T>
class Capture final : public nn::Observer<T> {
 public:
  void forward(const T* x, const T* y, std::size_t rows, std::size_t D) override {
    seen.D = D;
    seen.x.emplace_back(x, x + rows * D);
    seen.y.push_back(y ? std::vector<double>(y, y + rows * D) : std::vector<double>{});
  }
  void backward(const T* dx, const T* dy, std::size_t rows, std::size_t D) override {
    seen.dx.emplace_back(dx, dx + rows * D);
    seen.dy.push_back(dy ? std::vector<double>(dy, dy + rows * D) : std::vector<double>{});
  }
  Seen seen;
};

// The activation statistics by their definitions, one row at a time, without the recorder's code.
std::map<std::string, double> reference_activation_stats(const Seen& s) {
  const double D = double(s.D);
  double n = 0, mean = 0, ratio = 0, rms = 0, sd = 0, share = 0, out = 0, max_abs = 0;
  double gx = 0, gx_n = 0, gy = 0, gy_n = 0;
  for (std::size_t c = 0; c < s.x.size(); ++c) {
    for (std::size_t r = 0; r * s.D < s.x[c].size(); ++r) {
      double m = 0, q2 = 0, v = 0, y2 = 0;
      for (std::size_t i = 0; i < s.D; ++i) m += s.x[c][r * s.D + i] / D;
      for (std::size_t i = 0; i < s.D; ++i) q2 += std::pow(s.x[c][r * s.D + i], 2) / D;
      for (std::size_t i = 0; i < s.D; ++i) v += std::pow(s.x[c][r * s.D + i] - m, 2) / D;
      for (std::size_t i = 0; i < s.D; ++i) max_abs = std::max(max_abs, std::fabs(s.x[c][r * s.D + i]));
      if (!s.y[c].empty()) {
        for (std::size_t i = 0; i < s.D; ++i) y2 += std::pow(s.y[c][r * s.D + i], 2) / D;
      }
      n += 1;
      mean += m;
      ratio += std::fabs(m) / std::sqrt(q2);
      rms += std::sqrt(q2);
      sd += std::sqrt(v);
      share += m * m / q2;
      out += std::sqrt(y2);
    }
    for (double g : s.dx[c]) gx += g * g, gx_n += 1;
    for (double g : s.dy[c]) gy += g * g, gy_n += 1;
  }
  return {{"in_mean", mean / n},     {"in_abs_mean_over_rms", ratio / n},
          {"in_rms", rms / n},       {"in_std", sd / n},
          {"in_max_abs", max_abs},   {"in_mean_share", share / n},
          {"out_rms", s.y[0].empty() ? NAN : out / n},
          {"grad_in_rms", std::sqrt(gx / gx_n)},
          {"grad_out_rms", gy_n > 0 ? std::sqrt(gy / gy_n) : NAN}};
}

// The recorder's value of `stat` at `site`.
template <class T>
double value(const stats::Recorder<T>& rec, const std::string& stat, std::size_t site) {
  const auto& names = stats::stat_names();
  const std::size_t s = std::size_t(std::find(names.begin(), names.end(), stat) - names.begin());
  REQUIRE(s < names.size());
  return rec.values()[s * rec.sites() + site];
}

void check_close(double got, double want, double rel, const std::string& what) {
  INFO(what << ": recorder " << got << ", reference " << want);
  if (std::isnan(want)) {
    CHECK(std::isnan(got));
  } else {
    CHECK(std::fabs(got - want) <= rel * std::max(1.0, std::fabs(want)));
  }
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

double sd_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size()));
}

double norm_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

}  // namespace

TEST_CASE("stats: a site's statistics equal their definitions, for every kind of parameter",
          "[stats]") {
  struct Case {
    std::string kind, options;
  };
  const std::vector<Case> cases{
      {"rmsnorm", ""},        {"layernorm", "bias=true"},        {"scalenorm", ""},
      {"pcnorm", "learn_lambda=true"}, {"pcnorm", "lambda=0.3"}, {"rmsnorm", "zero_centered_gain=true"},
      {"l2norm", ""},         {"none", ""}};
  const std::size_t B = 5, D = 24;
  for (const Case& k : cases) {
    DYNAMIC_SECTION(k.kind << "(" << k.options << ")") {
      nn::ParamStore<double> store;
      nn::NormSite<double> site(store, "s", k.kind, norm::parse_options(k.options), D, 0);
      store.allocate();
      Rng rng(7);
      // Parameters away from their initial values, so that every statistic is non-trivial.
      for (const auto& info : store.infos()) {
        auto v = store.value(nn::Param{info.offset, info.size});
        for (double& p : v) p = info.init + 0.3 * test::random_normal(1, rng)[0];
      }
      if (site.probe().lambda.size) store.value(site.probe().lambda)[0] = 0.4;
      const std::vector<double> params_before = store.values();

      stats::Recorder<double> rec({&site.probe()}, store);
      Capture<double> capture;
      // Two calls, as a GRU's recurrent site makes: the statistics take the rows of both.
      std::vector<std::vector<double>> xs{test::random_normal(B * D, rng, 0.7, 1.5),
                                          test::random_normal(B * D, rng, -0.2, 0.5)};
      std::vector<std::vector<double>> dys{test::random_normal(B * D, rng),
                                           test::random_normal(B * D, rng)};
      std::vector<double> y(B * D), dx(B * D);
      rec.begin();
      store.zero_grads();
      for (std::size_t c = 0; c < 2; ++c) site.forward(store, y.data(), xs[c].data(), B, c);
      for (std::size_t c = 0; c < 2; ++c) {
        site.backward(store, dx.data(), dys[c].data(), xs[c].data(), B, c);
      }
      rec.after_backward();
      // The same passes again, watched by a capturing observer: the arrays the probe hands over.
      site.probe().observer = &capture;
      store.zero_grads();
      for (std::size_t c = 0; c < 2; ++c) site.forward(store, y.data(), xs[c].data(), B, c);
      for (std::size_t c = 0; c < 2; ++c) {
        site.backward(store, dx.data(), dys[c].data(), xs[c].data(), B, c);
      }
      site.probe().observer = nullptr;
      REQUIRE(capture.seen.x.size() == 2);
      CHECK(capture.seen.x[1] == xs[1]);
      CHECK(capture.seen.dy[1] == dys[1]);
      for (const auto& [stat, want] : reference_activation_stats(capture.seen)) {
        check_close(value(rec, stat, 0), want, 1e-12, stat);
      }

      // Parameters, their gradients, and an update: θ <- θ - 0.01 g.
      const nn::Probe<double>& p = site.probe();
      auto slice = [](const std::vector<double>& v, nn::Param h) {
        return std::vector<double>(v.begin() + long(h.offset), v.begin() + long(h.offset + h.size));
      };
      std::vector<double> gain = slice(params_before, p.gain), bias = slice(params_before, p.bias);
      const double offset = k.options == "zero_centered_gain=true" ? 1.0 : 0.0;
      CHECK(p.gain_offset == offset);
      for (double& g : gain) g += offset;
      const bool has_gain = !gain.empty(), has_bias = !bias.empty();
      check_close(value(rec, "gain_mean", 0), has_gain ? mean_of(gain) : NAN, 1e-13, "gain_mean");
      check_close(value(rec, "gain_std", 0), has_gain ? sd_of(gain) : NAN, 1e-13, "gain_std");
      check_close(value(rec, "gain_min", 0),
                  has_gain ? *std::min_element(gain.begin(), gain.end()) : NAN, 0, "gain_min");
      check_close(value(rec, "gain_max", 0),
                  has_gain ? *std::max_element(gain.begin(), gain.end()) : NAN, 0, "gain_max");
      check_close(value(rec, "bias_mean", 0), has_bias ? mean_of(bias) : NAN, 1e-13, "bias_mean");
      check_close(value(rec, "bias_std", 0), has_bias ? sd_of(bias) : NAN, 1e-13, "bias_std");
      const double want_lambda = k.options == "learn_lambda=true" ? 0.4
                                 : k.options == "lambda=0.3"      ? 0.3
                                                                  : NAN;
      check_close(value(rec, "lambda", 0), want_lambda, 0, "lambda");
      const std::vector<double> grads = store.grads();
      auto grad_norm = [&](nn::Param h) { return h.size ? norm_of(slice(grads, h)) : NAN; };
      check_close(value(rec, "gain_grad_norm", 0), grad_norm(p.gain), 1e-12, "gain_grad_norm");
      check_close(value(rec, "bias_grad_norm", 0), grad_norm(p.bias), 1e-12, "bias_grad_norm");
      check_close(value(rec, "lambda_grad_norm", 0), grad_norm(p.lambda), 1e-12, "lambda_grad_norm");

      for (std::size_t i = 0; i < store.size(); ++i) store.values()[i] -= 0.01 * grads[i];
      rec.after_update();
      // Every parameter of the store belongs to the site here, so the ratio is over all of them.
      const double want_ratio = store.size() ? 0.01 * norm_of(grads) / norm_of(params_before) : NAN;
      check_close(value(rec, "update_ratio", 0), want_ratio, 1e-12, "update_ratio");
    }
  }
}

TEST_CASE("stats: float activations, and a row of zeros, follow the definitions", "[stats]") {
  const std::size_t D = 16;
  std::vector<float> x(3 * D), y(3 * D, 2.0f), dx(3 * D, 0.5f);
  Rng rng(3);
  for (std::size_t i = D; i < x.size(); ++i) x[i] = float(test::random_normal(1, rng, 3, 1)[0]);
  stats::ActivationSums sums;
  sums.add_forward(x.data(), y.data(), 3, D);
  sums.add_backward(dx.data(), static_cast<const float*>(nullptr), 3, D);
  std::vector<double> out(stats::kStatCount);
  sums.finish(out);
  Seen s;
  s.D = D;
  s.x = {std::vector<double>(x.begin() + D, x.end())};  // the reference skips the zero row...
  s.y = {std::vector<double>(2 * D, 2.0)};
  s.dx = {std::vector<double>(3 * D, 0.5)};
  s.dy = {{}};
  auto want = reference_activation_stats(s);
  // ... and a zero row adds 0 to every per-row sum (|m|/q and m²/q² are 0 there by definition)
  // while counting as a row.
  for (const char* stat : {"in_mean", "in_abs_mean_over_rms", "in_rms", "in_std", "in_mean_share"}) {
    want[stat] *= 2.0 / 3.0;
  }
  const auto& names = stats::stat_names();
  for (const auto& [stat, w] : want) {
    const std::size_t k = std::size_t(std::find(names.begin(), names.end(), stat) - names.begin());
    check_close(out[k], w, 1e-12, stat);
  }
  CHECK(std::isnan(out[stats::grad_out_rms]));  // no dy was seen
}

TEST_CASE("stats: the models' probes, in forward order, see the arrays they name", "[stats]") {
  SECTION("Transformer (pre, QK-norm): sites, residual streams, and what links them") {
    models::TransformerConfig t;
    t.vocab = 11;
    t.d = 16;
    t.layers = 2;
    t.heads = 2;
    t.context = 6;
    t.mlp_ratio = 2;
    t.qk_norm = true;
    t.norms = {"layernorm", "rmsnorm"};
    models::TransformerLm<double> model(t);
    Rng rng(5);
    model.params().initialize("normal", 0.3, rng);
    std::vector<std::string> names;
    for (auto* p : model.probes()) names.push_back(p->name);
    CHECK(names == std::vector<std::string>{
                       "block0.attn.norm", "block0.attn.norm_q", "block0.attn.norm_k",
                       "block0.mlp.norm", "block0.residual", "block1.attn.norm",
                       "block1.attn.norm_q", "block1.attn.norm_k", "block1.mlp.norm",
                       "block1.residual", "norm_final"});
    CHECK(model.probes()[0]->kind == "layernorm");
    CHECK(model.probes()[5]->kind == "rmsnorm");
    CHECK(model.probes()[10]->layer == 2);
    CHECK(model.probes()[1]->features == 8);  // head_dim

    std::vector<std::int32_t> tokens(2 * 6), targets(2 * 6);
    for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = int(i * 7 % 11), targets[i] = int(i * 3 % 11);
    std::vector<Capture<double>> captures(names.size());
    auto probes = model.probes();
    for (std::size_t i = 0; i < probes.size(); ++i) probes[i]->observer = &captures[i];
    model.params().zero_grads();
    model.forward(tokens.data(), targets.data(), 2, 6);
    model.backward();
    for (auto* p : probes) p->observer = nullptr;
    // The stream leaving block 0 enters block 1's first norm; the one leaving block 1 enters the
    // final norm, and (no other path) carries exactly the gradient the final norm passes back.
    CHECK(captures[4].seen.x[0] == captures[5].seen.x[0]);
    CHECK(captures[9].seen.x[0] == captures[10].seen.x[0]);
    CHECK(captures[9].seen.dx[0] == captures[10].seen.dx[0]);
    CHECK(captures[4].seen.y[0].empty());

    // The recorder on an identical pass reports the statistics of the captured arrays.
    stats::Recorder<double> rec(model.probes(), model.params());
    rec.begin();
    model.params().zero_grads();
    model.forward(tokens.data(), targets.data(), 2, 6);
    model.backward();
    rec.after_backward();
    for (std::size_t i = 0; i < probes.size(); ++i) {
      for (const auto& [stat, want] : reference_activation_stats(captures[i].seen)) {
        check_close(value(rec, stat, i), want, 1e-12, names[i] + " " + stat);
      }
    }
    CHECK(std::isnan(value(rec, "gain_mean", 4)));  // a residual stream has no parameters
  }
  SECTION("GRU: the recurrent site takes the rows of every time step") {
    models::GruConfig g;
    g.vocab = 7;
    g.embed = 5;
    g.hidden = 6;
    g.layers = 2;
    models::GruLm<double> model(g);
    Rng rng(2);
    model.params().initialize("normal", 0.3, rng);
    auto probes = model.probes();
    REQUIRE(probes.size() == 4);
    CHECK(probes[1]->name == "gru0.norm_hh");
    CHECK(probes[2]->layer == 1);
    Capture<double> hh;
    probes[1]->observer = &hh;
    std::vector<std::int32_t> tokens(3 * 4, 1), targets(3 * 4, 2);
    model.params().zero_grads();
    model.forward(tokens.data(), targets.data(), 3, 4);
    model.backward();
    probes[1]->observer = nullptr;
    CHECK(hh.seen.x.size() == 4);   // one call per time step
    CHECK(hh.seen.dx.size() == 4);
    CHECK(hh.seen.x[0].size() == 3 * 18);
    g.sites = models::GruNormSites::none;
    CHECK(models::GruLm<double>(g).probes().empty());
  }
}

TEST_CASE("stats: the trainer writes them into the run file at its cadence", "[stats][train]") {
  test::TempDir dir;
  std::ostringstream log;
  io::Config c;
  for (const char* s : {"train.steps=12", "stats.every=5", "optim.lr=0.002", "model.norm=layernorm",
                        "model.norm_options=bias=true", "train.eval_every=6",
                        "model.activation=tanh"}) {  // tanh: no dead units, no zero gradients
    c.set(s);
  }
  auto r = train::run(c, dir.path.string(), log);
  REQUIRE(r.status == "completed");
  h5::File f = io::open_run(r.path);
  CHECK(f.read_integer_attribute("/", "format_version") == io::kRunFormatVersion);
  CHECK(f.read_integer_attribute("/", "stats_every") == 5);
  CHECK(f.read_strings("site") == std::vector<std::string>{"layer0.norm", "layer1.norm", "layer2.norm"});
  CHECK(f.read_strings("site_kind") == std::vector<std::string>(3, "layernorm"));
  auto steps = f.read<long long>("stat_step");
  CHECK(std::vector<long long>(steps.begin(), steps.end()) == std::vector<long long>{0, 5, 10, 11});
  for (const auto& name : stats::stat_names()) CHECK(f.shape(name) == h5::Shape{4, 3});
  auto gain_mean = f.read<double>("gain_mean"), gain_std = f.read<double>("gain_std");
  auto ratio = f.read<double>("update_ratio"), lambda = f.read<double>("lambda");
  auto bias_mean = f.read<double>("bias_mean");
  for (std::size_t s = 0; s < 3; ++s) {
    // At step 0 the gains are at their init (1) and the biases at 0. Adam's first update moves
    // every parameter by lr * g / (|g| + eps) = lr in size, so ‖Δθ‖ = lr·sqrt(2D) against
    // ‖θ‖ = sqrt(D) (D gains of 1, D biases of 0): a ratio of lr·sqrt(2).
    CHECK(gain_mean(0, s) == 1.0);
    CHECK(gain_std(0, s) == 0.0);
    CHECK(bias_mean(0, s) == 0.0);
    CHECK(ratio(0, s) == Approx(0.002 * std::sqrt(2.0)).epsilon(1e-4));
    CHECK(std::isnan(lambda(0, s)));  // layernorm has no lambda
    CHECK(gain_std(3, s) > 0);        // the gains have moved apart by the end
  }

  c.set("stats.every=0");
  c.set("name=nostats");
  h5::File off = io::open_run(train::run(c, dir.path.string(), log).path);
  CHECK(off.shape("stat_step") == h5::Shape{0});
  CHECK(off.shape("in_rms") == h5::Shape{0, 3});

  c.set("stats.every=-1");
  CHECK_THROWS_WITH(train::run(c, dir.path.string(), log), Contains("stats.every"));
}

TEST_CASE("run files: readers refuse what is not a run, or a newer format", "[stats][io]") {
  test::TempDir dir;
  const std::string text = dir / "notes.h5";
  std::ofstream(text) << "not HDF5\n";
  CHECK_THROWS_WITH(io::open_run(text), Contains(text) && Contains("not an HDF5 file"));

  const std::string other = dir / "other.h5";
  {
    h5::File f = h5::File::create(other);
    f.write<double>("x", {2}, std::vector<double>{1, 2});
  }
  CHECK_THROWS_WITH(io::open_run(other), Contains(other) && Contains("not a normlab run"));

  const std::string newer = dir / "newer.h5";
  {
    io::RunFile run(newer);
    run.file().write_attribute("/", "format_version", 99LL);
    run.start();
    run.finish("completed");
  }
  CHECK_THROWS_WITH(io::open_run(newer),
                    Contains(newer) && Contains("version 99 is newer") && Contains("update normlab"));
}

TEST_CASE("stats: a zero-centered gain is recorded as applied, g0 + w, for every kind with a gain",
          "[stats][options]") {
  // zero_centered_gain stores w and applies g0 + w, g0 the gain the plain kind starts from (1, or
  // sqrt(D) for scalenorm's scalar gain). Two independent checks per kind: the forward of the
  // zero-centered site with stored w equals that of the plain site with stored g0 + w, and the
  // recorded gain_mean/min/max are those of g0 + w.
  const std::size_t B = 4, D = 9;
  for (const auto& info : norm::kinds()) {
    const auto& opts = info.options;
    if (std::find(opts.begin(), opts.end(), "zero_centered_gain") == opts.end()) continue;
    DYNAMIC_SECTION(info.name) {
      nn::ParamStore<double> plain_store, zc_store;
      nn::NormSite<double> plain(plain_store, "s", info.name, {}, D, 0);
      nn::NormSite<double> zc(zc_store, "s", info.name, {{"zero_centered_gain", "true"}}, D, 0);
      Rng rng(19);
      plain_store.allocate();
      zc_store.allocate();
      plain_store.initialize(0.0, 1.0, rng);  // no weights here: every parameter at its init
      zc_store.initialize(0.0, 1.0, rng);
      REQUIRE(zc.probe().gain.size > 0);
      const double g0 = plain_store.value(plain.probe().gain)[0];  // the plain kind's init
      // sqrt(9) for a kind that declares a sqrt(D) gain (scalenorm), else 1.
      CHECK(g0 == (info.form.gain_init == norm::KindForm::GainInit::sqrt_d ? 3.0 : 1.0));
      CHECK(zc_store.value(zc.probe().gain)[0] == 0.0);

      auto w = zc_store.value(zc.probe().gain);
      auto applied = plain_store.value(plain.probe().gain);
      for (std::size_t j = 0; j < w.size(); ++j) {
        w[j] = 0.3 * test::random_normal(1, rng)[0];
        applied[j] = g0 + w[j];
      }
      for (auto [to, from] : {std::pair{plain.probe().bias, zc.probe().bias},
                              std::pair{plain.probe().lambda, zc.probe().lambda}}) {
        auto src = zc_store.value(from), dst = plain_store.value(to);
        for (std::size_t j = 0; j < src.size(); ++j) src[j] = dst[j] = 0.1 * double(j + 1);
      }
      const auto x = test::random_normal(B * D, rng, 0.5, 1.5);
      std::vector<double> y_plain(B * D), y_zc(B * D);
      plain.forward(plain_store, y_plain.data(), x.data(), B);
      zc.forward(zc_store, y_zc.data(), x.data(), B);
      for (std::size_t i = 0; i < y_zc.size(); ++i) {
        CHECK(y_zc[i] == Approx(y_plain[i]).epsilon(1e-14).margin(1e-14));
      }

      stats::Recorder<double> rec({&zc.probe()}, zc_store);
      rec.begin();
      zc_store.zero_grads();
      const auto dy = test::random_normal(B * D, rng);
      std::vector<double> dx(B * D);
      zc.forward(zc_store, y_zc.data(), x.data(), B);
      zc.backward(zc_store, dx.data(), dy.data(), x.data(), B);
      rec.after_backward();
      const std::vector<double> a(applied.begin(), applied.end());
      CHECK(zc.probe().gain_offset == g0);
      check_close(value(rec, "gain_mean", 0), mean_of(a), 1e-14, "gain_mean");
      check_close(value(rec, "gain_std", 0), sd_of(a), 1e-12, "gain_std");
      check_close(value(rec, "gain_min", 0), *std::min_element(a.begin(), a.end()), 1e-15,
                  "gain_min");
      check_close(value(rec, "gain_max", 0), *std::max_element(a.begin(), a.end()), 1e-15,
                  "gain_max");
    }
  }
}
