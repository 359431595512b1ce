#include "train/demo.hpp"

#include <cmath>
#include <iomanip>

#include <sstream>

#include "core/random.hpp"
#include "core/timer.hpp"
#include "io/config.hpp"
#include "io/run_schema.hpp"
#include "norm/registry.hpp"
#include "train/experiments_toml.hpp"
#include "train/trainer.hpp"

namespace normlab::tools {

namespace {

struct RowSummary {
  double abs_mean = 0;  // mean over rows of |row mean|
  double rms = 0;       // mean over rows of the row RMS
};

RowSummary summarize(const std::vector<double>& a, std::size_t B, std::size_t D) {
  RowSummary s;
  for (std::size_t i = 0; i < B; ++i) {
    double sum = 0, sq = 0;
    for (std::size_t j = 0; j < D; ++j) {
      sum += a[i * D + j];
      sq += a[i * D + j] * a[i * D + j];
    }
    s.abs_mean += std::abs(sum / double(D)) / double(B);
    s.rms += std::sqrt(sq / double(D)) / double(B);
  }
  return s;
}

// max |a - b| relative to the RMS of a
double relative_change(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = 0, sq = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(a[i] - b[i]));
    sq += a[i] * a[i];
  }
  return worst / std::sqrt(sq / double(a.size()));
}

}  // namespace

void run_normalizer_table(std::ostream& out, std::uint64_t seed) {
  const std::size_t B = 256, D = 512;
  const double shift = 3.0, scale = 2.5;
  Rng rng(seed);
  std::vector<double> offsets(B), log_scales(B), x(B * D);
  fill_uniform(std::span<double>(offsets), rng, -2, 2);
  fill_uniform(std::span<double>(log_scales), rng, std::log(0.1), std::log(10.0));
  fill_normal(std::span<double>(x), rng);
  for (std::size_t i = 0; i < B; ++i)
    for (std::size_t j = 0; j < D; ++j) x[i * D + j] = offsets[i] + std::exp(log_scales[i]) * x[i * D + j];
  std::vector<double> x_shifted(x), x_scaled(x);
  for (auto& v : x_shifted) v += shift;
  for (auto& v : x_scaled) v *= scale;

  RowSummary in = summarize(x, B, D);
  out << "normlab demo: every normalizer at its defaults on x (B = " << B << ", D = " << D
      << "), rows with offsets in [-2, 2] and scales in [0.1, 10], seed " << seed << "\n"
      << "input: mean |row mean| " << std::setprecision(3) << in.abs_mean << ", mean row RMS "
      << in.rms << "\n\n"
      << "| normalizer | mean abs(row mean) | mean row RMS | change under x+" << shift
      << " | change under " << scale << "x |\n|---|---|---|---|---|\n";
  for (const auto& info : norm::kinds()) {
    auto normalizer = norm::make_normalizer(info.name);
    auto specs = normalizer->param_specs(D);
    std::vector<double> params = norm::initial_params<double>(specs);
    auto p = norm::bind_params<const double>(specs, std::span<const double>(params));
    auto run = [&](const std::vector<double>& input) {
      std::vector<double> y(B * D);
      norm::NormCache cache;
      normalizer->forward(std::span<double>(y), cache, std::span<const double>(input), p, B, D);
      return y;
    };
    std::vector<double> y = run(x);
    RowSummary s = summarize(y, B, D);
    out << "| " << info.name << " | " << std::scientific << std::setprecision(2) << s.abs_mean
        << " | " << s.rms << " | " << relative_change(y, run(x_shifted)) << " | "
        << relative_change(y, run(x_scaled)) << " |\n"
        << std::defaultfloat;
  }
  out << "\nchange = max |y' - y| / RMS(y). Re-centering kinds (layernorm, centernorm) ignore "
         "the shift;\nthe re-scaling kinds (all but centernorm and none) ignore the scale up to eps.\n";
}

void run_default_experiment(std::ostream& out, std::uint64_t seed, const std::string& out_dir,
                            std::int64_t steps) {
  out << "\ndefault experiment: each family with rmsnorm, layernorm and none (float32, 1 thread, seed "
      << seed << "); run files in " << out_dir << "/\n\n"
      << "| family | task | norm | steps | train loss | val loss | val accuracy | ms/step | time vs "
         "layernorm |\n|---|---|---|---|---|---|---|---|---|\n";
  Timer total;
  for (const auto& e : kFamilyExperiments) {
    struct Row {
      std::string norm;
      train::TrainResult r;
    };
    std::vector<Row> rows;
    std::string task;
    for (const char* norm : {"rmsnorm", "layernorm", "none"}) {
      io::Config c = io::Config::parse(e.toml, std::string("experiments/") + e.family + ".toml");
      c.set("seed=" + std::to_string(seed));
      c.set(std::string("model.norm=") + norm);
      if (steps > 0) c.set("train.steps=" + std::to_string(steps));
      task = c.string("data.task");
      std::ostringstream log;  // the per-run log stays quiet here; the run file has the curves
      rows.push_back({norm, train::run(c, out_dir, log)});
    }
    double layernorm_ms = rows[1].r.ms_per_step;
    for (const auto& [norm, r] : rows) {
      out << "| " << e.family << " | " << task << " | " << norm << " | " << r.steps
          << (r.status == io::schema::status::kCompleted ? "" : " (" + r.status + ")") << std::fixed
          << std::setprecision(4) << " | " << r.final_train_loss << " | " << r.val_loss << " | "
          << std::setprecision(3) << r.val_metric << " | " << std::setprecision(2)
          << r.ms_per_step << " | " << std::setprecision(2) << r.ms_per_step / layernorm_ms
          << " |\n" << std::defaultfloat;
    }
  }
  out << "\nlosses are mean cross-entropy in nats (LMs: per character); ms/step is the median over "
         "the steps;\n`normlab train experiments/<family>.toml --set model.norm=...` repeats a row "
         "(total "
      << std::setprecision(3) << total.seconds() << " s)\n";
}

}  // namespace normlab::tools
