#include "train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <iomanip>

#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/strings.hpp"
#include "core/timer.hpp"
#include "data/classification.hpp"
#include "io/run_file.hpp"
#include "models/mlp.hpp"
#include "nn/optim.hpp"

namespace normlab::train {

namespace {

// Independent streams from one seed (SplitMix64 of seed and stream number).
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
enum Stream : std::uint64_t { kInit, kTrainData, kValData, kDropout, kTaskDefinition };

std::size_t positive(const io::Config& c, const char* key) {
  std::int64_t v = c.integer(key);
  if (v < 1) fail(key, " must be at least 1, got ", v);
  return std::size_t(v);
}

nn::OptimConfig optim_config(const io::Config& c) {
  nn::OptimConfig o;
  o.name = c.string("optim.name");
  o.lr = c.number("optim.lr");
  o.momentum = c.number("optim.momentum");
  o.beta1 = c.number("optim.beta1");
  o.beta2 = c.number("optim.beta2");
  o.eps = c.number("optim.eps");
  o.weight_decay = c.number("optim.weight_decay");
  o.decay_gains_biases = c.boolean("optim.decay_gains_biases");
  o.clip = c.number("optim.clip");
  o.schedule = c.string("optim.schedule");
  o.warmup = c.integer("optim.warmup");
  o.steps = c.integer("train.steps");
  nn::validate(o);
  return o;
}

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class T>
TrainResult run_typed(const io::Config& c, const std::string& path, std::ostream& log) {
  const std::uint64_t seed = std::uint64_t(c.integer("seed"));
  const std::string family = c.string("model.family");
  if (family != "mlp") {
    fail("model.family: '", family, "' is not implemented yet; available: mlp");
  }
  const std::string task_name = c.string("data.task");
  if (task_name != "classification") {
    fail("data.task: '", task_name, "' is not one of: classification");
  }
  data::ClassificationConfig dc;
  dc.features = positive(c, "data.features");
  dc.classes = positive(c, "data.classes");
  dc.noise = c.number("data.noise");
  dc.offset = c.number("data.offset");
  dc.scale = c.number("data.scale");
  data::ClassificationTask<T> task(dc, derive_seed(seed, kTaskDefinition));

  models::MlpConfig mc;
  mc.input = dc.features;
  mc.classes = dc.classes;
  mc.width = positive(c, "model.width");
  mc.depth = positive(c, "model.depth");
  mc.norms = c.strings("model.norm");
  mc.norm_options = norm::parse_options(c.string("model.norm_options"));
  mc.activation = nn::parse_activation(c.string("model.activation"));
  mc.dropout = c.number("model.dropout");
  if (!(mc.dropout >= 0 && mc.dropout < 1)) fail("model.dropout must be in [0, 1), got ", mc.dropout);
  models::Mlp<T> model(mc);

  const std::string init = c.string("model.init");
  if (init != "normal" && init != "offset") fail("model.init: '", init, "' is not one of normal, offset");
  const double init_std = c.number("model.init_std");
  if (!(init_std > 0)) fail("model.init_std must be > 0, got ", init_std);
  Rng init_rng(derive_seed(seed, kInit));
  model.params().initialize(init == "offset" ? 0.2 : 0.0, init_std, init_rng);

  const nn::OptimConfig oc = optim_config(c);
  nn::Optimizer<T> optimizer(oc, model.params());
  const std::size_t steps = positive(c, "train.steps"), batch = positive(c, "train.batch");
  const std::size_t eval_every = positive(c, "train.eval_every");
  const std::size_t val_size = positive(c, "data.val_size");

  Rng val_rng(derive_seed(seed, kValData));
  const auto val = task.sample(val_size, val_rng);
  Rng train_rng(derive_seed(seed, kTrainData)), dropout_rng(derive_seed(seed, kDropout));

  io::RunFile run(path);
  h5::File& f = run.file();
  f.write_attribute("/", "run_id", run_name(c));
  f.write_attribute("/", "config_toml", c.to_toml());
  f.write_attribute("/", "started", now_iso());
  for (const char* key : {"model.family", "model.norm", "model.norm_options", "data.task",
                          "optim.name", "dtype"}) {
    f.write_attribute("/", std::string(key).substr(std::string(key).find('.') + 1),
                      c.value_text(key));
  }
  f.write_attribute("/", "seed", (long long)seed);
  f.write_attribute("/", "lr", oc.lr);

  auto evaluate = [&]() {
    double loss = 0, correct = 0;
    for (std::size_t start = 0; start < val.B; start += batch) {
      std::size_t n = std::min(batch, val.B - start);
      loss += model.forward(val.x.data() + start * val.D, val.labels.data() + start, n, false,
                            nullptr) * double(n);
      correct += model.accuracy() * double(n);
    }
    return std::pair{loss / double(val.B), correct / double(val.B)};
  };

  std::vector<long long> step_index, eval_step;
  std::vector<double> train_loss, lrs, grad_norms, step_times, val_loss, val_metric;
  std::string status = "completed";
  for (std::size_t t = 0; t < steps; ++t) {
    Timer timer;
    auto b = task.sample(batch, train_rng);
    model.params().zero_grads();
    double loss = model.forward(b.x.data(), b.labels.data(), batch, true, &dropout_rng);
    model.backward();
    double norm = nn::global_norm(model.params().grads());
    if (!std::isfinite(loss) || !std::isfinite(norm)) {
      log << "step " << t << ": " << (std::isfinite(loss) ? "gradient norm" : "loss")
          << " is not finite; the run diverged\n";
      status = "diverged";
      break;
    }
    double lr = optimizer.step(model.params(), norm);
    step_times.push_back(timer.seconds());
    step_index.push_back((long long)t);
    train_loss.push_back(loss);
    lrs.push_back(lr);
    grad_norms.push_back(norm);
    if ((t + 1) % eval_every == 0 || t + 1 == steps) {
      auto [vl, vm] = evaluate();
      eval_step.push_back((long long)t);
      val_loss.push_back(vl);
      val_metric.push_back(vm);
      log << "step " << std::setw(5) << t + 1 << "  train loss " << std::fixed
          << std::setprecision(4) << loss << "  val loss " << vl << "  val accuracy "
          << std::setprecision(3) << vm << std::defaultfloat << "\n";
    }
  }

  auto write = [&](const char* name, const auto& v) {
    using V = typename std::decay_t<decltype(v)>::value_type;
    f.write<V>(name, {v.size()}, std::span<const V>(v));
  };
  write("step", step_index);
  write("train_loss", train_loss);
  write("lr", lrs);
  write("grad_norm", grad_norms);
  write("step_time", step_times);
  write("eval_step", eval_step);
  write("val_loss", val_loss);
  write("val_metric", val_metric);
  f.write_attribute("/val_metric", "name", "accuracy");
  for (const auto& info : model.params().infos()) {
    f.write<T>("checkpoint/" + info.name, info.shape,
               std::span<const T>(model.params().values().data() + info.offset, info.size));
  }
  f.write_attribute("/", "finished", now_iso());
  run.finish(status);

  TrainResult r;
  r.path = path;
  r.status = status;
  r.steps = (std::int64_t)train_loss.size();
  r.final_train_loss = train_loss.empty() ? NAN : train_loss.back();
  r.val_loss = val_loss.empty() ? NAN : val_loss.back();
  r.val_metric = val_metric.empty() ? NAN : val_metric.back();
  r.ms_per_step = 1e3 * median(step_times);
  return r;
}

}  // namespace

std::string run_name(const io::Config& c) {
  std::string name = c.string("name");
  if (!name.empty()) return name;
  return c.string("model.family") + "-" + join(c.strings("model.norm"), "+") + "-s" +
         std::to_string(c.integer("seed"));
}

TrainResult run(const io::Config& c, const std::string& out_dir, std::ostream& log) {
  const std::string dtype = c.string("dtype");
  if (dtype != "float32" && dtype != "float64") fail("dtype: '", dtype, "' is not one of float32, float64");
  const std::int64_t threads = c.integer("threads");
  if (threads < 1) fail("threads must be at least 1, got ", threads);
  set_blas_threads(int(threads));
  const std::string dir = out_dir.empty() ? c.string("train.out") : out_dir;
  std::filesystem::create_directories(dir);
  const std::string path = (std::filesystem::path(dir) / (run_name(c) + ".h5")).string();
  return dtype == "float64" ? run_typed<double>(c, path, log) : run_typed<float>(c, path, log);
}

}  // namespace normlab::train
