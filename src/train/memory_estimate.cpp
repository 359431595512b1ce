#include "train/memory_estimate.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "core/error.hpp"
#include "core/gemm.hpp"
#include "train/workload.hpp"

namespace normlab::train {

namespace {

// The keys that size a run: the candidates for the one an over-large estimate names.
constexpr const char* kSizeKeys[] = {"model.width", "model.depth",   "model.embed",  "model.context",
                                     "model.heads", "model.mlp_ratio", "model.mlp_hidden", "train.batch", "data.features",
                                     "data.classes", "data.symbols",  "data.chars",   "data.val_size"};

// Element counts (values of the run's dtype) and bytes of other data.
struct Counts {
  double params = 0, activations = 0, data_bytes = 0;
};

Counts mlp_counts(const io::Config& c, double B, double val) {
  auto n = [&](const char* key) { return double(std::max<std::int64_t>(c.integer(key), 0)); };
  const bool mnist = task_name(c) == "mnist";
  const double F = mnist ? 784 : n("data.features"), C = mnist ? 10 : n("data.classes");
  const double W = n("model.width"), L = std::max(n("model.depth"), 1.0);
  Counts k;
  k.params = F * W + (L - 1) * W * W + W * C + 4 * W * L + C;
  // per hidden layer: the linear, norm, activation and dropout outputs and their gradients
  k.activations = B * (F + 8 * W * L + 3 * C);
  k.data_bytes = (val + B) * (F * 8 + 8) + (mnist ? 10000.0 * 784 * 2 : 0);
  return k;
}

// The GRU and the Transformer: vocabulary, sequence data.
Counts lm_counts(const io::Config& c, double B, double val) {
  auto n = [&](const char* key) { return double(std::max<std::int64_t>(c.integer(key), 0)); };
  const std::string task = task_name(c);
  const double V = task == "copy" || task == "recall" ? n("data.symbols") + 2 : 256;
  const double d = n("model.width"), L = std::max(n("model.depth"), 1.0), T = n("model.context");
  Counts k;
  if (c.string("model.family") == "gru") {
    const double E = n("model.embed");
    k.params = V * E + 3 * d * E + (L - 1) * 3 * d * d + L * (3 * d * d + 10 * d) + d * V + V;
    k.activations = B * T * (E + 20 * d * L + 3 * V);
  } else {
    const double r = n("model.mlp_ratio"), heads = n("model.heads");
    // The MLP: hidden width h (model.mlp_hidden, else r*d, or ceil(2rd/3) for swiglu) and its
    // matrices (fc and proj; swiglu adds the gate); a learned position table unless rope; the
    // head unless tied to the embeddings.
    const bool swiglu = c.string("model.activation") == "swiglu";
    const double h = n("model.mlp_hidden") > 0 ? n("model.mlp_hidden")
                     : swiglu                  ? std::ceil(2 * r * d / 3)
                                               : r * d;
    const double mlp_matrices = swiglu ? 3 : 2;
    const double positions = c.string("model.position") == "rope" ? 0 : T * d;
    const double head = c.boolean("model.tie_embeddings") ? 0 : d * V;
    // (the hidden biases: fc's, and the gate's with swiglu)
    k.params = V * d + positions + L * (4 * d * d + mlp_matrices * d * h + 10 * d + (mlp_matrices - 1) * h) +
               head + V;
    // per block: the projections, norms and MLP (each hidden value three times over with swiglu's
    // gate); the attention probabilities; the logits
    k.activations = B * T * (L * (12 * d + (mlp_matrices + 1) * h) + 3 * V) + 3 * B * heads * T * T * L;
  }
  k.data_bytes = (val + B) * T * 8 + (task == "grammar" ? 6 * n("data.chars") : 0);
  return k;
}

Counts counts(const io::Config& c) {
  const double B = double(std::max<std::int64_t>(c.integer("train.batch"), 0));
  const double val = double(std::max<std::int64_t>(c.integer("data.val_size"), 0));
  const models::FamilyInfo& family = models::family_info(c.string("model.family"));
  return family.takes == models::TaskKind::labeled ? mlp_counts(c, B, val) : lm_counts(c, B, val);
}

}  // namespace

double estimate_parameters(const io::Config& c) { return counts(c).params; }

double estimate_memory(const io::Config& c) {
  const Counts k = counts(c);
  const double value_bytes = c.string("dtype") == "float64" ? 8 : 4;
  // values, gradients, two optimizer moments and a spare copy (the checkpoint's)
  return value_bytes * (5 * k.params + k.activations) + k.data_bytes;
}

MemoryLimit memory_limit() {
  MemoryLimit limit{double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE)),
                    "physical memory", 0};
  if (const double as = address_space_limit(); as > 0 && as < limit.bytes) {
    // OpenBLAS maps its buffers (one thread's at least) besides what the run allocates
    limit = {as, "the address-space limit (ulimit -v)",
             kBlasBaseAddressSpace + kBlasThreadAddressSpace};
  }
  return limit;
}

namespace {

// The size key whose default value would shrink the estimate most.
std::string dominant_key(const io::Config& c, double need) {
  const io::Config defaults;
  std::string dominant = kSizeKeys[0];
  double smallest = need;
  for (const char* key : kSizeKeys) {
    io::Config reset = c;
    reset.set(std::string(key) + "=" + defaults.value_text(key));
    if (const double e = estimate_memory(reset); e < smallest) {
      smallest = e;
      dominant = key;
    }
  }
  return dominant;
}

}  // namespace

void check_memory(const io::Config& c, const MemoryLimit& limit) {
  const double run = estimate_memory(c), need = run + limit.overhead;
  if (need <= limit.bytes) return;
  const double gib = 1024.0 * 1024 * 1024;
  std::ostringstream s;
  s << std::setprecision(3);
  if (run < limit.overhead) {  // no size key matters: the limit is below what any run maps
    s << "the run would need about " << need / gib << " GiB of address space (" << limit.overhead / gib
      << " GiB of it OpenBLAS's buffers and the program), more than " << limit.what << ", "
      << limit.bytes / gib << " GiB; raise the limit";
    fail(s.str());
  }
  const std::string key = dominant_key(c, run);
  s << key << " = " << c.integer(key) << ": the run would need about " << need / gib
    << " GiB (parameters with their gradients and optimizer moments, the activations of a batch, "
    << "the data), more than " << limit.what << ", " << limit.bytes / gib << " GiB; reduce " << key;
  fail(s.str());
}

}  // namespace normlab::train
