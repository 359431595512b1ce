// The one interface every model family implements (the MLP, the GRU LM, the Transformer LM, ...):
// a batch in, the mean cross-entropy over its scored targets out, an explicit backward into the
// flat parameter store, and the points (normalizer sites, residual streams) the statistics and
// analysis layers watch. The trainer, the benchmarks, the analysis tools and the tests all drive a
// model through this interface, built by the family registry (models/registry.hpp).
// One virtual call per batch; the families' kernels underneath are unchanged.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/random.hpp"
#include "core/targets.hpp"
#include "nn/norm_site.hpp"
#include "nn/params.hpp"
#include "nn/probe.hpp"

namespace normlab::models {

// What a family's input is: labeled examples (x, one class label per row) or token sequences.
enum class TaskKind { labeled, tokens };
const char* to_string(TaskKind kind);  // "labeled examples", "token sequences"

// One batch, as views: B labeled examples, x (B, features) and targets (B, 1) the class labels;
// or B token sequences, tokens (B, len) and targets (B, len) the next tokens. A target of kIgnore
// carries no loss. The model copies what backward() needs.
template <class T>
struct Batch {
  std::size_t B = 0, len = 1;
  const T* x = nullptr;                    // (B, features), labeled examples only
  const std::int32_t* tokens = nullptr;    // (B, len), token sequences only
  const std::int32_t* targets = nullptr;   // (B, len)
};

template <class T>
class Model {
 public:
  virtual ~Model() = default;
  virtual std::string_view family() const = 0;  // its name in the registry: "mlp", "gru", ...
  virtual nn::ParamStore<T>& params() = 0;

  // Forward on `batch`; returns the mean cross-entropy over its scored targets and keeps what
  // backward() needs. With `train`, dropout (where the family has it) draws from `dropout_rng`.
  virtual double forward_batch(const Batch<T>& batch, bool train, Rng* dropout_rng) = 0;
  // Accumulates the gradient of the last forward's loss into params().grads().
  virtual void backward() = 0;
  // The logits of the last forward, (B * len, outputs()) row-major.
  virtual const std::vector<T>& logits() const = 0;
  virtual std::size_t outputs() const = 0;  // classes, or the vocabulary

  // The model's probes (normalizer sites, residual streams) in forward order.
  virtual std::vector<nn::Probe<T>*> probes() = 0;
  // Its normalizer sites in forward order (the probes that normalize), for their kinds and
  // configurations.
  virtual std::vector<const nn::NormSite<T>*> norm_sites() const = 0;

  // Scored targets of the last forward whose arg-max logit is the target (a count); `targets` are
  // the last batch's, one per row of logits().
  std::size_t correct(const std::int32_t* targets) const {
    const std::vector<T>& z = logits();
    const std::size_t V = outputs(), rows = z.size() / V;
    std::size_t n = 0;
    for (std::size_t i = 0; i < rows; ++i) {
      const T* row = z.data() + i * V;
      n += targets[i] != kIgnore &&
           std::size_t(std::max_element(row, row + V) - row) == std::size_t(targets[i]);
    }
    return n;
  }
};

}  // namespace normlab::models
