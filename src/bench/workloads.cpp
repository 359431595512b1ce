#include "bench/workloads.hpp"

#include "models/gru_lm.hpp"
#include "models/mlp.hpp"
#include "models/transformer_lm.hpp"

namespace normlab::tools {

namespace {

std::vector<std::int32_t> random_ints(std::size_t n, std::size_t high, Rng& rng) {
  std::uniform_int_distribution<std::int32_t> dist(0, std::int32_t(high) - 1);
  std::vector<std::int32_t> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

Trainee make_mlp(const BenchTrainShapes& s, const std::string& norm, Rng& rng) {
  models::MlpConfig c;
  c.input = s.mlp_input, c.width = s.mlp_width, c.depth = s.mlp_depth, c.classes = s.mlp_classes;
  c.norms = {norm};
  c.activation = nn::Activation::relu;
  auto model = std::make_shared<models::Mlp<float>>(c);
  model->params().initialize(0, 0.02, rng);
  auto x = std::make_shared<std::vector<float>>(s.mlp_batch * s.mlp_input);
  fill_normal(std::span<float>(*x), rng);
  auto labels = std::make_shared<std::vector<std::int32_t>>(random_ints(s.mlp_batch, s.mlp_classes, rng));
  const std::size_t B = s.mlp_batch;
  Trainee t;
  t.forward = [=] { return model->forward(x->data(), labels->data(), B, true, nullptr); };
  t.backward = [=] { model->backward(); };
  t.params = &model->params();
  t.probes = [=] { return model->probes(); };
  t.model = model;
  return t;
}

// Random tokens (B, len) and their targets, the next random token: a language-model batch.
Trainee make_sequence(std::shared_ptr<models::SequenceModel<float>> model, std::size_t B,
                      std::size_t len, std::size_t V, Rng& rng) {
  model->params().initialize(0, 0.02, rng);
  auto seq = random_ints(B * (len + 1), V, rng);
  auto tokens = std::make_shared<std::vector<std::int32_t>>(B * len);
  auto targets = std::make_shared<std::vector<std::int32_t>>(B * len);
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t t = 0; t < len; ++t) {
      (*tokens)[b * len + t] = seq[b * (len + 1) + t];
      (*targets)[b * len + t] = seq[b * (len + 1) + t + 1];
    }
  }
  Trainee tr;
  tr.forward = [=] { return model->forward(tokens->data(), targets->data(), B, len); };
  tr.backward = [=] { model->backward(); };
  tr.params = &model->params();
  tr.probes = [=] { return model->probes(); };
  tr.model = model;
  return tr;
}

Trainee make_gru(const BenchTrainShapes& s, const std::string& norm, Rng& rng) {
  models::GruConfig c;
  c.vocab = s.gru_vocab, c.embed = s.gru_embed, c.hidden = s.gru_hidden, c.layers = s.gru_layers;
  c.norms = {norm};
  // With no normalizer the layer is exactly torch.nn.GRU: no identity sites to copy through.
  c.sites = norm == "none" ? models::GruNormSites::none : models::GruNormSites::both;
  if (norm == "none") c.norms = {"rmsnorm"};  // unused without sites
  return make_sequence(std::make_shared<models::GruLm<float>>(c), s.gru_batch, s.gru_len,
                       s.gru_vocab, rng);
}

Trainee make_transformer(const BenchTrainShapes& s, const std::string& norm, Rng& rng) {
  models::TransformerConfig c;
  c.vocab = s.tf_vocab, c.d = s.tf_d, c.layers = s.tf_layers, c.heads = s.tf_heads;
  c.context = s.tf_len, c.mlp_ratio = s.tf_mlp_ratio;
  c.activation = nn::Activation::gelu;
  c.norms = {norm == "none" ? "rmsnorm" : norm};
  // Without a normalizer, s' = s + F(s) and no final norm: the same graph as the torch peer's.
  c.placement = norm == "none" ? models::Placement::none : models::Placement::pre;
  return make_sequence(std::make_shared<models::TransformerLm<float>>(c), s.tf_batch, s.tf_len,
                       s.tf_vocab, rng);
}

}  // namespace

Trainee make_trainee(const std::string& workload, const BenchTrainShapes& s,
                     const std::string& norm, Rng& rng) {
  if (workload == "mlp") return make_mlp(s, norm, rng);
  if (workload == "gru") return make_gru(s, norm, rng);
  return make_transformer(s, norm, rng);
}

}  // namespace normlab::tools
