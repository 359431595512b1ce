#include "train/workload.hpp"

#include <algorithm>
#include <functional>
#include <iomanip>
#include <optional>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "data/classification.hpp"
#include "data/grammar.hpp"
#include "data/mnist.hpp"
#include "data/sequence.hpp"
#include "data/data_files.hpp"
#include "data/text.hpp"
#include "models/registry.hpp"
#include "nn/layers.hpp"
#include "norm/registry.hpp"

namespace normlab::train {

// Independent streams from one seed (SplitMix64 of seed and stream number).
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

namespace {

// The tasks data.task names, by what they give a model, and what their validation metric is.
struct TaskEntry {
  const char* name;
  models::TaskKind kind;
  const char* metric;
};
constexpr TaskEntry kTasks[] = {
    {"classification", models::TaskKind::labeled, "accuracy"},  // of the classes
    {"mnist", models::TaskKind::labeled, "accuracy"},
    {"copy", models::TaskKind::tokens, "accuracy"},  // of the scored next tokens
    {"recall", models::TaskKind::tokens, "accuracy"},
    {"grammar", models::TaskKind::tokens, "accuracy"},
    {"text", models::TaskKind::tokens, "accuracy"},
};

std::vector<std::string> task_names(std::optional<models::TaskKind> kind = std::nullopt) {
  std::vector<std::string> names;
  for (const TaskEntry& t : kTasks) {
    if (!kind || t.kind == *kind) names.emplace_back(t.name);
  }
  return names;
}

// The entry of `task`, refused unless `family` takes the kind of data it gives.
const TaskEntry& task_entry(const std::string& task, const models::FamilyInfo& family) {
  for (const TaskEntry& t : kTasks) {
    if (task != t.name) continue;
    if (t.kind != family.takes) {
      fail("data.task '", task, "' is a ",
           t.kind == models::TaskKind::labeled ? "classification" : "token", " task; model.family '",
           family.name, "' needs ",
           join(task_names(family.takes), family.takes == models::TaskKind::labeled ? " or " : ", "));
    }
    return t;
  }
  std::vector<std::string> all{"auto"};
  for (const auto& name : task_names()) all.push_back(name);
  fail("data.task: '", task, "' is not one of ", join(all, ", "), did_you_mean(task, all));
}

// Where a workload's batches come from: fresh training batches, and the fixed validation set.
template <class T>
class DataSource {
 public:
  virtual ~DataSource() = default;
  // A fresh training batch of B rows drawn from `rng`; the view holds until the next call.
  virtual models::Batch<T> train_batch(std::size_t B, Rng& rng) = 0;
  virtual std::size_t val_rows() const = 0;
  // Rows [start, start + n) of the validation set.
  virtual models::Batch<T> val_batch(std::size_t start, std::size_t n) const = 0;
  virtual double chance_loss() const = 0;  // Workload::chance_loss
};

template <class T>
models::Batch<T> view(const data::LabeledBatch<T>& b, std::size_t start, std::size_t n) {
  return {n, 1, b.x.data() + start * b.D, nullptr, b.labels.data() + start};
}

// Labeled examples: the embedded classification task or MNIST.
template <class T>
class LabeledSource final : public DataSource<T> {
 public:
  using Sampler = std::function<data::LabeledBatch<T>(std::size_t, Rng&)>;
  LabeledSource(Sampler sample, data::LabeledBatch<T> val, std::size_t classes)
      : sample_(std::move(sample)), val_(std::move(val)), classes_(classes) {}
  models::Batch<T> train_batch(std::size_t B, Rng& rng) override {
    last_ = sample_(B, rng);
    return view(last_, 0, last_.B);
  }
  std::size_t val_rows() const override { return val_.B; }
  models::Batch<T> val_batch(std::size_t start, std::size_t n) const override {
    return view(val_, start, n);
  }
  double chance_loss() const override { return std::log(double(classes_)); }

 private:
  Sampler sample_;
  data::LabeledBatch<T> val_, last_;
  std::size_t classes_;
};

// Token sequences of length len: a sequence task or a character text.
template <class T>
class TokenSource final : public DataSource<T> {
 public:
  TokenSource(std::unique_ptr<data::TokenTask> task, std::size_t len, std::size_t val_sequences,
              Rng& val_rng)
      : task_(std::move(task)), len_(len), val_(task_->validation(val_sequences, len, val_rng)) {}
  models::Batch<T> train_batch(std::size_t B, Rng& rng) override {
    last_ = task_->sample(B, len_, rng);
    return view(last_, 0, last_.B);
  }
  std::size_t val_rows() const override { return val_.B; }
  models::Batch<T> val_batch(std::size_t start, std::size_t n) const override {
    return view(val_, start, n);
  }
  double chance_loss() const override { return task_->unigram_entropy(); }

 private:
  static models::Batch<T> view(const data::TokenBatch& b, std::size_t start, std::size_t n) {
    return {n, b.T, nullptr, b.tokens.data() + start * b.T, b.targets.data() + start * b.T};
  }
  std::unique_ptr<data::TokenTask> task_;
  std::size_t len_;
  data::TokenBatch val_, last_;
};

// Any model family on its data.
template <class T>
class ModelWorkload final : public Workload<T> {
 public:
  ModelWorkload(std::unique_ptr<models::Model<T>> model, std::unique_ptr<DataSource<T>> data,
                std::size_t batch, std::string metric)
      : model_(std::move(model)), data_(std::move(data)), batch_(batch), metric_(std::move(metric)) {}

  nn::ParamStore<T>& params() override { return model_->params(); }
  std::vector<nn::Probe<T>*> probes() override { return model_->probes(); }
  const std::string& val_metric_name() const override { return metric_; }
  double chance_loss() const override { return data_->chance_loss(); }
  double step(Rng& data_rng, Rng& dropout_rng) override {
    const models::Batch<T> b = data_->train_batch(batch_, data_rng);
    model_->params().zero_grads();
    const double loss = model_->forward_batch(b, true, &dropout_rng);
    model_->backward();
    return loss;
  }
  std::pair<double, double> evaluate() override {
    double loss = 0, correct = 0, scored = 0;
    for (std::size_t i = 0; i < validation_batches(); ++i) {
      const models::Batch<T> b = val_batch(i);
      const double count = double(nn::scored_targets(b.targets, b.B * b.len));
      loss += model_->forward_batch(b, false, nullptr) * count;
      correct += double(model_->correct(b.targets));
      scored += count;
    }
    return {loss / scored, correct / scored};
  }
  std::size_t validation_batches() const override {
    return (data_->val_rows() + batch_ - 1) / batch_;
  }
  std::pair<double, double> validation_batch(std::size_t i, bool backward) override {
    const models::Batch<T> b = val_batch(i);
    const double loss = model_->forward_batch(b, false, nullptr);
    if (backward) model_->backward();
    return {loss, double(nn::scored_targets(b.targets, b.B * b.len))};
  }
  std::span<const T> logits() const override { return model_->logits(); }

 private:
  models::Batch<T> val_batch(std::size_t i) const {
    const std::size_t start = i * batch_;
    return data_->val_batch(start, std::min(batch_, data_->val_rows() - start));
  }
  std::unique_ptr<models::Model<T>> model_;
  std::unique_ptr<DataSource<T>> data_;
  std::size_t batch_;
  std::string metric_;
};

// The embedded classification task or MNIST; fills in the task's features and classes.
template <class T>
std::unique_ptr<DataSource<T>> labeled_data(const io::Config& c, models::TaskInfo& task,
                                            std::uint64_t seed, std::uint64_t val_seed,
                                            std::size_t val_size, std::ostream& log) {
  if (task.name == "classification") {
    data::ClassificationConfig dc;
    dc.features = positive(c, "data.features");
    dc.classes = positive(c, "data.classes");
    dc.noise = c.number("data.noise");
    dc.offset = c.number("data.offset");
    dc.scale = c.number("data.scale");
    auto gen = std::make_shared<data::ClassificationTask<T>>(dc, derive_seed(seed, kTaskDefinition));
    Rng val_rng(val_seed);
    auto val = gen->sample(val_size, val_rng);
    task.features = dc.features;
    task.classes = dc.classes;
    log << "data: " << dc.classes << " Gaussian clusters in " << dc.features << " features (noise "
        << dc.noise << ", offset " << dc.offset << ", scale " << dc.scale << ")\n";
    return std::make_unique<LabeledSource<T>>(
        [gen](std::size_t B, Rng& rng) { return gen->sample(B, rng); }, std::move(val), dc.classes);
  }
  const std::string path = c.string("data.path");
  auto gen = std::make_shared<data::MnistTask<T>>(
      data::load_mnist_dir(path.empty() ? data::default_mnist_dir() : path), val_size);
  task.features = data::kMnistPixels;
  task.classes = 10;
  log << "data: MNIST t10k, " << gen->train_size() << " training and " << gen->val_size()
      << " validation images (the last data.val_size of the file)\n";
  return std::make_unique<LabeledSource<T>>(
      [gen](std::size_t B, Rng& rng) { return gen->sample(B, rng); }, gen->validation(), task.classes);
}

// A sequence task, the grammar text or a text file; fills in the vocabulary and the context.
template <class T>
std::unique_ptr<DataSource<T>> token_data(const io::Config& c, models::TaskInfo& task,
                                          std::uint64_t seed, std::uint64_t val_seed,
                                          std::size_t val_size, std::ostream& log) {
  task.context = positive(c, "model.context");
  std::unique_ptr<data::TokenTask> tokens;
  const double val_fraction = c.number("data.val_fraction");
  if (task.name == "grammar") {
    tokens = std::make_unique<data::CharText>(data::make_grammar_text(
        positive(c, "data.chars"), val_fraction, derive_seed(seed, kTaskDefinition)));
  } else if (task.name == "text") {
    const std::string path = c.string("data.path");
    tokens = std::make_unique<data::CharText>(data::load_char_text(
        path.empty() ? data::default_text_path() : path, val_fraction));
  } else {
    tokens = data::make_sequence_task(task.name, positive(c, "data.symbols"));
  }
  task.classes = tokens->vocab();
  log << "data: " << tokens->describe() << "; unigram entropy " << std::setprecision(4)
      << tokens->unigram_entropy() << " nats\n";
  Rng val_rng(val_seed);
  return std::make_unique<TokenSource<T>>(std::move(tokens), task.context, val_size, val_rng);
}

// One line per distinct normalizer configuration, with the sites that have it.
template <class T>
void log_sites(const models::Model<T>& model, std::ostream& log) {
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;  // description, sites
  for (const nn::NormSite<T>* site : model.norm_sites()) {
    const std::string description = norm::describe(site->config());
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == description; });
    if (it == groups.end()) it = groups.insert(groups.end(), {description, {}});
    it->second.push_back(site->probe().name);
  }
  for (const auto& [description, sites] : groups) {
    log << "normalizer: " << description << " at " << join(sites, ", ") << "\n";
  }
}

}  // namespace

// The family's embedded task when data.task is "auto".
std::string task_name(const io::Config& c) {
  const std::string task = c.string("data.task");
  if (task != "auto") return task;
  return models::family_info(c.string("model.family")).default_task;
}

template <class T>
std::unique_ptr<Workload<T>> make_workload(const io::Config& c, std::uint64_t seed,
                                           std::uint64_t val_seed, std::ostream& log) {
  const models::FamilyInfo& family = models::family_info(c.string("model.family"));
  models::TaskInfo info;
  info.name = task_name(c);
  const TaskEntry& entry = task_entry(info.name, family);
  info.kind = entry.kind;
  const std::size_t batch = positive(c, "train.batch"), val_size = positive(c, "data.val_size");
  std::unique_ptr<DataSource<T>> data =
      info.kind == models::TaskKind::labeled
          ? labeled_data<T>(c, info, seed, val_seed, val_size, log)
          : token_data<T>(c, info, seed, val_seed, val_size, log);
  std::unique_ptr<models::Model<T>> model = models::build_model<T>(c, info);
  log_sites(*model, log);
  return std::make_unique<ModelWorkload<T>>(std::move(model), std::move(data), batch, entry.metric);
}

template std::unique_ptr<Workload<float>> make_workload<float>(const io::Config&, std::uint64_t,
                                                                std::uint64_t, std::ostream&);
template std::unique_ptr<Workload<double>> make_workload<double>(const io::Config&, std::uint64_t,
                                                                  std::uint64_t, std::ostream&);

}  // namespace normlab::train
