#include "bench/workloads.hpp"

#include "core/error.hpp"
#include "io/config.hpp"
#include "models/registry.hpp"

namespace normlab::tools {

namespace {

std::vector<std::int32_t> random_ints(std::size_t n, std::size_t high, Rng& rng) {
  std::uniform_int_distribution<std::int32_t> dist(0, std::int32_t(high) - 1);
  std::vector<std::int32_t> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A benchmark workload as a config and a task, built by the family registry like any other model.
struct Recipe {
  io::Config config;
  models::TaskInfo task;
  std::size_t B = 0;  // the batch's rows (examples or sequences)
  nn::OptimConfig optim;  // Adam, lr 1e-3, torch's betas and eps
};

Recipe recipe(const std::string& workload, const BenchTrainShapes& s, const std::string& norm) {
  Recipe r;
  io::Config& c = r.config;
  auto set = [&c](const std::string& key, const auto& value) {
    c.set(key + "=" + cat(value));
  };
  set("model.family", workload == "nanogpt" ? "transformer" : workload);
  set("model.norm", norm);
  // A pre-norm GELU Transformer LM (the transformer and nanogpt workloads). Without a normalizer,
  // s' = s + F(s) and no final norm: the same graph as the torch peer's.
  auto transformer = [&](std::size_t d, std::size_t layers, std::size_t heads, std::size_t ratio,
                         std::size_t vocab, std::size_t len, std::size_t batch) {
    set("model.width", d);
    set("model.depth", layers);
    set("model.heads", heads);
    set("model.mlp_ratio", ratio);
    set("model.activation", "gelu");
    set("model.placement", norm == "none" ? "none" : "pre");
    if (norm == "none") set("model.norm", "rmsnorm");  // unused without sites
    r.task = {"random tokens", models::TaskKind::tokens, 0, vocab, len};
    r.B = batch;
  };
  if (workload == "mlp") {  // 784-256-256-256-10, a normalizer before each ReLU ("none": identity)
    set("model.width", s.mlp_width);
    set("model.depth", s.mlp_depth);
    set("model.activation", "relu");
    r.task = {"classification", models::TaskKind::labeled, s.mlp_input, s.mlp_classes, 0};
    r.B = s.mlp_batch;
  } else if (workload == "gru") {
    set("model.embed", s.gru_embed);
    set("model.width", s.gru_hidden);
    set("model.depth", s.gru_layers);
    // With no normalizer the layer is exactly torch.nn.GRU: no identity sites to copy through.
    set("model.gru_norm", norm == "none" ? "none" : "both");
    if (norm == "none") set("model.norm", "rmsnorm");  // unused without sites
    r.task = {"random tokens", models::TaskKind::tokens, 0, s.gru_vocab, s.gru_len};
    r.B = s.gru_batch;
  } else if (workload == "nanogpt") {
    // nanoGPT's model.py with bias=True and dropout 0; untied embeddings (normlab has no tying
    // yet), and a head bias the twin adds to match. Its norm is LayerNorm; rmsnorm and none swap
    // it at every site as in the transformer workload.
    transformer(s.ng_d, s.ng_layers, s.ng_heads, s.ng_mlp_ratio, s.ng_vocab, s.ng_len, s.ng_batch);
    // config/train_shakespeare_char.py: learning_rate 1e-3, beta2 0.99; train.py: beta1 0.9,
    // weight_decay 0.1 on every parameter of 2 or more dimensions (matrices and embeddings),
    // which is what normlab decays by default (decay_gains_biases false). torch.optim.AdamW's
    // eps 1e-8. Warmup and cosine decay change only the lr's value, not the step's cost: constant.
    r.optim.name = "adamw";
    r.optim.lr = 1e-3;
    r.optim.beta1 = 0.9;
    r.optim.beta2 = 0.99;
    r.optim.weight_decay = 0.1;
  } else {
    transformer(s.tf_d, s.tf_layers, s.tf_heads, s.tf_mlp_ratio, s.tf_vocab, s.tf_len, s.tf_batch);
  }
  return r;
}

}  // namespace

Trainee make_trainee(const std::string& workload, const BenchTrainShapes& s,
                     const std::string& norm, Rng& rng) {
  const Recipe r = recipe(workload, s, norm);
  std::shared_ptr<models::Model<float>> model = models::build_model<float>(r.config, r.task);
  model->params().initialize(0, 0.02, rng);
  // A fixed batch: random inputs and labels, or random tokens whose targets are the next tokens.
  auto x = std::make_shared<std::vector<float>>();
  auto tokens = std::make_shared<std::vector<std::int32_t>>();
  auto targets = std::make_shared<std::vector<std::int32_t>>();
  models::Batch<float> batch{r.B, 1, nullptr, nullptr, nullptr};
  if (r.task.kind == models::TaskKind::labeled) {
    x->resize(r.B * r.task.features);
    fill_normal(std::span<float>(*x), rng);
    *targets = random_ints(r.B, r.task.classes, rng);
    batch.x = x->data();
  } else {
    const std::size_t B = r.B, len = r.task.context;
    const auto seq = random_ints(B * (len + 1), r.task.classes, rng);
    tokens->resize(B * len);
    targets->resize(B * len);
    for (std::size_t b = 0; b < B; ++b) {
      for (std::size_t t = 0; t < len; ++t) {
        (*tokens)[b * len + t] = seq[b * (len + 1) + t];
        (*targets)[b * len + t] = seq[b * (len + 1) + t + 1];
      }
    }
    batch.len = len;
    batch.tokens = tokens->data();
  }
  batch.targets = targets->data();
  Trainee t;
  // The lambda keeps the batch's buffers alive with the model.
  t.forward = [model, batch, x, tokens, targets] { return model->forward_batch(batch, true, nullptr); };
  t.backward = [=] { model->backward(); };
  t.params = &model->params();
  t.probes = [=] { return model->probes(); };
  t.model = model;
  t.optim = r.optim;
  return t;
}

}  // namespace normlab::tools
