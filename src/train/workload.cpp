#include "train/workload.hpp"

#include <algorithm>
#include <functional>
#include <iomanip>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "core/targets.hpp"
#include "data/classification.hpp"
#include "data/grammar.hpp"
#include "data/mnist.hpp"
#include "data/sequence.hpp"
#include "data/data_files.hpp"
#include "data/text.hpp"
#include "models/gru_lm.hpp"
#include "models/mlp.hpp"
#include "models/transformer_lm.hpp"

namespace normlab::train {

// Independent streams from one seed (SplitMix64 of seed and stream number).
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::size_t positive(const io::Config& c, const char* key) {
  std::int64_t v = c.integer(key);
  if (v < 1) fail(key, " must be at least 1, got ", v);
  return std::size_t(v);
}

// The family's embedded task when data.task is "auto".
std::string task_name(const io::Config& c) {
  std::string task = c.string("data.task"), family = c.string("model.family");
  if (task != "auto") return task;
  return family == "mlp" ? "classification" : "grammar";
}

namespace {

// The MLP on labeled examples (the embedded classification task or MNIST).
template <class T>
class ClassifierWorkload final : public Workload<T> {
 public:
  using Sampler = std::function<data::LabeledBatch<T>(std::size_t, Rng&)>;
  ClassifierWorkload(const models::MlpConfig& mc, Sampler sample, data::LabeledBatch<T> val,
                     std::size_t batch)
      : model_(mc), sample_(std::move(sample)), val_(std::move(val)), batch_(batch) {}

  nn::ParamStore<T>& params() override { return model_.params(); }
  std::vector<nn::Probe<T>*> probes() override { return model_.probes(); }
  double step(Rng& data_rng, Rng& dropout_rng) override {
    auto b = sample_(batch_, data_rng);
    model_.params().zero_grads();
    double loss = model_.forward(b.x.data(), b.labels.data(), b.B, true, &dropout_rng);
    model_.backward();
    return loss;
  }
  std::pair<double, double> evaluate() override {
    double loss = 0, correct = 0;
    for (std::size_t start = 0; start < val_.B; start += batch_) {
      std::size_t n = std::min(batch_, val_.B - start);
      loss += model_.forward(val_.x.data() + start * val_.D, val_.labels.data() + start, n, false,
                             nullptr) * double(n);
      correct += model_.accuracy() * double(n);
    }
    return {loss / double(val_.B), correct / double(val_.B)};
  }
  std::size_t validation_batches() const override { return (val_.B + batch_ - 1) / batch_; }
  std::pair<double, double> validation_batch(std::size_t i, bool backward) override {
    const std::size_t start = i * batch_, n = std::min(batch_, val_.B - start);
    const double loss = model_.forward(val_.x.data() + start * val_.D, val_.labels.data() + start,
                                       n, false, nullptr);
    if (backward) model_.backward();
    return {loss, double(n)};
  }
  std::span<const T> logits() const override { return model_.logits(); }

 private:
  models::Mlp<T> model_;
  Sampler sample_;
  data::LabeledBatch<T> val_;
  std::size_t batch_;
};

// A language model (GRU or Transformer) on a token task.
template <class T>
class LanguageWorkload final : public Workload<T> {
 public:
  LanguageWorkload(std::unique_ptr<models::SequenceModel<T>> model,
                   std::unique_ptr<data::TokenTask> task, std::size_t batch, std::size_t len,
                   std::size_t val_sequences, Rng& val_rng)
      : model_(std::move(model)), task_(std::move(task)), batch_(batch), len_(len) {
    if (task_->vocab() != model_->vocab()) fail("internal: task and model vocabularies differ");
    val_ = task_->validation(val_sequences, len_, val_rng);
  }

  nn::ParamStore<T>& params() override { return model_->params(); }
  std::vector<nn::Probe<T>*> probes() override { return model_->probes(); }
  double step(Rng& data_rng, Rng&) override {
    auto b = task_->sample(batch_, len_, data_rng);
    model_->params().zero_grads();
    double loss = model_->forward(b.tokens.data(), b.targets.data(), b.B, b.T);
    model_->backward();
    return loss;
  }
  std::pair<double, double> evaluate() override {
    double loss = 0, correct = 0, scored = 0;
    for (std::size_t start = 0; start < val_.B; start += batch_) {
      const std::size_t n = std::min(batch_, val_.B - start);
      const std::int32_t* targets = val_.targets.data() + start * val_.T;
      const double count = double(nn::scored_targets(targets, n * val_.T));
      loss += model_->forward(val_.tokens.data() + start * val_.T, targets, n, val_.T) * count;
      correct += double(model_->correct(targets));
      scored += count;
    }
    return {loss / scored, correct / scored};
  }
  std::size_t validation_batches() const override { return (val_.B + batch_ - 1) / batch_; }
  std::pair<double, double> validation_batch(std::size_t i, bool backward) override {
    const std::size_t start = i * batch_, n = std::min(batch_, val_.B - start);
    const std::int32_t* targets = val_.targets.data() + start * val_.T;
    const double loss = model_->forward(val_.tokens.data() + start * val_.T, targets, n, val_.T);
    if (backward) model_->backward();
    return {loss, double(nn::scored_targets(targets, n * val_.T))};
  }
  std::span<const T> logits() const override { return model_->logits(); }

 private:
  std::unique_ptr<models::SequenceModel<T>> model_;
  std::unique_ptr<data::TokenTask> task_;
  std::size_t batch_, len_;
  data::TokenBatch val_;
};

}  // namespace

template <class T>
std::unique_ptr<Workload<T>> make_workload(const io::Config& c, std::uint64_t seed,
                                           std::uint64_t val_seed, std::ostream& log) {
  const std::string family = c.string("model.family"), task = task_name(c);
  const std::size_t batch = positive(c, "train.batch"), val_size = positive(c, "data.val_size");
  const norm::NormOptions options = norm::parse_options(c.string("model.norm_options"));
  const std::vector<std::string> norms = c.strings("model.norm");
  const std::vector<std::string> labeled_tasks{"classification", "mnist"},
      token_tasks{"copy", "recall", "grammar", "text"}, families{"mlp", "gru", "transformer"};
  auto among = [](const std::string& name, const std::vector<std::string>& names) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  const bool labeled = among(task, labeled_tasks);
  if (!labeled && !among(task, token_tasks)) {
    std::vector<std::string> all{"auto"};
    all.insert(all.end(), labeled_tasks.begin(), labeled_tasks.end());
    all.insert(all.end(), token_tasks.begin(), token_tasks.end());
    fail("data.task: '", task, "' is not one of ", join(all, ", "), did_you_mean(task, all));
  }
  if (!among(family, families)) {
    fail("model.family: '", family, "' is not one of ", join(families, ", "),
         did_you_mean(family, families));
  }
  if (family == "mlp" && !labeled) {
    fail("data.task '", task, "' is a token task; model.family 'mlp' needs ",
         join(labeled_tasks, " or "));
  }
  if (family != "mlp" && labeled) {
    fail("data.task '", task, "' is a classification task; model.family '", family, "' needs ",
         join(token_tasks, ", "));
  }

  if (family == "mlp") {
    models::MlpConfig mc;
    mc.width = positive(c, "model.width");
    mc.depth = positive(c, "model.depth");
    mc.norms = norms;
    mc.norm_options = options;
    mc.activation = nn::parse_activation(c.string("model.activation"));
    mc.dropout = c.number("model.dropout");
    if (!(mc.dropout >= 0 && mc.dropout < 1)) fail("model.dropout must be in [0, 1), got ", mc.dropout);
    typename ClassifierWorkload<T>::Sampler sample;
    data::LabeledBatch<T> val;
    if (task == "classification") {
      data::ClassificationConfig dc;
      dc.features = positive(c, "data.features");
      dc.classes = positive(c, "data.classes");
      dc.noise = c.number("data.noise");
      dc.offset = c.number("data.offset");
      dc.scale = c.number("data.scale");
      auto gen = std::make_shared<data::ClassificationTask<T>>(dc, derive_seed(seed, kTaskDefinition));
      Rng val_rng(val_seed);
      val = gen->sample(val_size, val_rng);
      sample = [gen](std::size_t B, Rng& rng) { return gen->sample(B, rng); };
      mc.input = dc.features;
      mc.classes = dc.classes;
      log << "data: " << dc.classes << " Gaussian clusters in " << dc.features << " features (noise "
          << dc.noise << ", offset " << dc.offset << ", scale " << dc.scale << ")\n";
    } else {
      const std::string path = c.string("data.path");
      auto gen = std::make_shared<data::MnistTask<T>>(
          data::load_mnist_dir(path.empty() ? data::default_mnist_dir() : path), val_size);
      val = gen->validation();
      sample = [gen](std::size_t B, Rng& rng) { return gen->sample(B, rng); };
      mc.input = data::kMnistPixels;
      mc.classes = 10;
      log << "data: MNIST t10k, " << gen->train_size() << " training and " << gen->val_size()
          << " validation images (the last data.val_size of the file)\n";
    }
    return std::make_unique<ClassifierWorkload<T>>(mc, std::move(sample), std::move(val), batch);
  }

  const std::size_t len = positive(c, "model.context");
  std::unique_ptr<data::TokenTask> data_task;
  const double val_fraction = c.number("data.val_fraction");
  if (task == "grammar") {
    data_task = std::make_unique<data::CharText>(data::make_grammar_text(
        positive(c, "data.chars"), val_fraction, derive_seed(seed, kTaskDefinition)));
  } else if (task == "text") {
    const std::string path = c.string("data.path");
    data_task = std::make_unique<data::CharText>(data::load_char_text(
        path.empty() ? data::default_text_path() : path, val_fraction));
  } else {
    data_task = data::make_sequence_task(task, positive(c, "data.symbols"));
  }
  log << "data: " << data_task->describe() << "; unigram entropy " << std::setprecision(4)
      << data_task->unigram_entropy() << " nats\n";

  std::unique_ptr<models::SequenceModel<T>> model;
  if (family == "gru") {
    models::GruConfig g;
    g.vocab = data_task->vocab();
    g.embed = positive(c, "model.embed");
    g.hidden = positive(c, "model.width");
    g.layers = positive(c, "model.depth");
    g.norms = norms;
    g.norm_options = options;
    g.sites = models::parse_gru_norm_sites(c.string("model.gru_norm"));
    model = std::make_unique<models::GruLm<T>>(g);
  } else {
    models::TransformerConfig t;
    t.vocab = data_task->vocab();
    t.d = positive(c, "model.width");
    t.layers = positive(c, "model.depth");
    t.heads = positive(c, "model.heads");
    t.context = len;
    t.mlp_ratio = positive(c, "model.mlp_ratio");
    t.norms = norms;
    t.norm_attn = c.string("model.norm_attn");
    t.norm_mlp = c.string("model.norm_mlp");
    t.norm_qk = c.string("model.norm_qk");
    t.norm_final = c.string("model.norm_final");
    t.norm_options = options;
    t.placement = models::parse_placement(c.string("model.placement"));
    t.qk_norm = c.boolean("model.qk_norm");
    t.activation = nn::parse_activation(c.string("model.activation"));
    model = std::make_unique<models::TransformerLm<T>>(t);
  }
  Rng val_rng(val_seed);
  return std::make_unique<LanguageWorkload<T>>(std::move(model), std::move(data_task), batch, len,
                                               val_size, val_rng);
}

template std::unique_ptr<Workload<float>> make_workload<float>(const io::Config&, std::uint64_t,
                                                                std::uint64_t, std::ostream&);
template std::unique_ptr<Workload<double>> make_workload<double>(const io::Config&, std::uint64_t,
                                                                  std::uint64_t, std::ostream&);

}  // namespace normlab::train
