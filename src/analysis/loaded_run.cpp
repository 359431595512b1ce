#include "analysis/loaded_run.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"
#include "io/run_schema.hpp"
#include "train/checkpoint_digest.hpp"

namespace normlab::analysis {

namespace schema = io::schema;

namespace {
// The value of statistic `stat` at every site in the last stat step, or NaN everywhere.
std::vector<double> last_stat(const h5::File& f, const std::string& stat, std::size_t sites) {
  std::vector<double> out(sites, NAN);
  if (!f.has(stat) || !f.has(schema::axis::kStatStep)) return out;
  const std::size_t K = f.length(schema::axis::kStatStep);
  if (K == 0) return out;
  const auto values = f.read<double>(stat);  // (K, S)
  if (values.dimension() != 2 || values.shape()[1] != sites || values.shape()[0] < K) return out;
  for (std::size_t s = 0; s < sites; ++s) out[s] = values(K - 1, s);
  return out;
}

// The parameter's values against the SHA-256 written with them (schema::kCheckpointSha256);
// false when the file has none (written before there was one).
bool check_digest(const h5::File& f, const std::string& path, const std::string& param,
                  std::span<const double> values) {
  const std::string dataset = schema::checkpoint_dataset(param);
  if (!f.has_attribute(dataset, schema::kCheckpointSha256)) return false;
  const std::string stored = f.read_string_attribute(dataset, schema::kCheckpointSha256);
  if (train::parameter_digest(values) != stored) {
    fail(path, ": checkpoint/", param, " does not match the SHA-256 written with it (the file was ",
         "edited or damaged after the run finished); it is not analyzed");
  }
  return true;
}

}  // namespace

LoadedRun load_run(const std::string& path, std::optional<std::uint64_t> val_seed,
                   std::size_t batches, std::ostream& log) {
  h5::File f = io::open_run(path);
  if (!f.has(schema::kCheckpointGroup)) {
    const std::string status =
        f.has_attribute("/", schema::attr::kStatus)
            ? f.read_string_attribute("/", schema::attr::kStatus)
            : "?";
    fail(path, ": no checkpoint/ group (status '", status,
         "'): only completed or diverged runs carry their final parameters");
  }
  LoadedRun run{path, io::run_config(f, path, log),
                nullptr, {}, {}, {}, {}, 0};
  const std::uint64_t seed = std::uint64_t(run.config.integer("seed"));
  run.work = train::make_workload<double>(
      run.config, seed, val_seed ? *val_seed : train::derive_seed(seed, train::kValData), log);
  nn::ParamStore<double>& store = run.work->params();
  std::size_t unverified = 0;
  for (const auto& info : store.infos()) {
    const std::string name = schema::checkpoint_dataset(info.name);
    if (!f.has(name)) fail(path, ": the model its config builds has parameter ", info.name, ", the checkpoint has not");
    const auto values = f.read<double>(name);
    const h5::Shape shape(values.shape().begin(), values.shape().end());
    if (shape != info.shape) {  // a transposed weight has the right size but not the right shape
      fail(path, ": checkpoint/", info.name, " has shape ", h5::shape_string(shape),
           ", the model's parameter has shape ", h5::shape_string(info.shape));
    }
    if (!check_digest(f, path, info.name, std::span<const double>(values.data(), values.size())))
      ++unverified;
    std::copy(values.begin(), values.end(), store.values().begin() + std::ptrdiff_t(info.offset));
  }
  if (unverified > 0) {
    log << "note: " << path << ": " << unverified << " of its checkpoint/ parameters carry no SHA-256 "
        << "(a file written before normlab wrote them); they are loaded unverified\n";
  }
  run.probes = run.work->probes();
  const std::size_t S = run.probes.size();
  if (f.has(schema::axis::kSite)) {
    const auto names = f.read_strings(schema::axis::kSite);
    bool same = names.size() == S;
    for (std::size_t s = 0; same && s < S; ++s) same = names[s] == run.probes[s]->name;
    if (!same) fail(path, ": its `site` list differs from the sites of the model its config builds");
    run.recorded_abs_mean_over_rms = last_stat(f, schema::stat::kInAbsMeanOverRms, S);
    run.recorded_lambda = last_stat(f, schema::stat::kLambda, S);
    run.recorded_mean_share = last_stat(f, schema::stat::kInMeanShare, S);
  } else {
    run.recorded_mean_share.assign(S, NAN);
    run.recorded_abs_mean_over_rms.assign(S, NAN);
    run.recorded_lambda.assign(S, NAN);
  }
  const std::size_t available = run.work->validation_batches();
  run.batches = batches == 0 ? available : std::min(batches, available);
  return run;
}

double held_out_loss(LoadedRun& run, bool backward) {
  if (backward) run.work->params().zero_grads();
  double sum = 0, weight = 0;
  for (std::size_t b = 0; b < run.batches; ++b) {
    const auto [loss, w] = run.work->validation_batch(b, backward);
    sum += loss * w;
    weight += w;
  }
  return sum / weight;
}

template <class T>
double row_rms(const T* x_row, std::size_t D) {
  double s = 0;
  for (std::size_t i = 0; i < D; ++i) s += double(x_row[i]) * double(x_row[i]);
  return std::sqrt(s / double(D));
}
template double row_rms(const float*, std::size_t);
template double row_rms(const double*, std::size_t);

namespace {
std::vector<double> ranks(const std::vector<double>& v) {  // 1-based, ties get the mean rank
  std::vector<std::size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    for (std::size_t k = i; k <= j; ++k) r[order[k]] = 0.5 * double(i + j) + 1;
    i = j + 1;
  }
  return r;
}
}  // namespace

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) fail("spearman: ", a.size(), " values against ", b.size());
  std::vector<double> x, y;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isfinite(a[i]) && std::isfinite(b[i])) {
      x.push_back(a[i]);
      y.push_back(b[i]);
    }
  }
  if (x.size() < 3) return NAN;
  const std::vector<double> rx = ranks(x), ry = ranks(y);  // Pearson's r of the ranks
  const double n = double(rx.size()), mean = (n + 1) / 2;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < rx.size(); ++i) {
    sxy += (rx[i] - mean) * (ry[i] - mean);
    sxx += (rx[i] - mean) * (rx[i] - mean);
    syy += (ry[i] - mean) * (ry[i] - mean);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : NAN;
}

}  // namespace normlab::analysis
