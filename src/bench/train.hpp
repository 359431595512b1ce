// `normlab bench train`: milliseconds per training step (zero the gradients, forward, backward,
// global gradient norm, Adam or AdamW update) in float32 for four reference workloads, each with
// RMSNorm, LayerNorm and no normalizer, next to the same workloads written in PyTorch
// (scripts/bench_train_torch.py) by one or more interpreters (one torch each) and measured in the
// same run, with the same thread count and the same OpenBLAS core setting; at one or more thread
// counts, with the speedup over the first. Prints figures; asserts nothing about time.
// Each workload x norm runs in a forked process of its own, which also reports its heap
// allocations per timed step (bench/alloc_count.hpp) and its peak resident set size; then the
// step's GEMM FLOPs (counted from the shapes) per second against an sgemm measured in this run.
//
//   mlp          784-256-256-256-10 (models::Mlp), batch 128, normalizer before each ReLU
//   gru          GRU LM, V 65, embed 64, H 256, 1 layer, T 64, batch 32; normalized input and
//                recurrent projections (GruNormSites::both); `none` is exactly torch.nn.GRU
//   transformer  decoder-only LM, V 65, d 128, 4 layers, 4 heads, T 64, batch 32, pre-norm,
//                mlp_ratio 4, GELU; `none` has no normalizer sites at all (Placement::none)
//   nanogpt      nanoGPT's CPU configuration of its README (shakespeare-char, --device=cpu):
//                V 65, d 128, 4 layers, 4 heads, T 64, batch 12, pre-LayerNorm, GELU MLP x4,
//                learned positions, dropout 0, AdamW (lr 1e-3, betas (0.9, 0.99), weight decay
//                0.1 on matrices and embeddings, as config/train_shakespeare_char.py and
//                train.py set it). Built as normlab's Transformer, which has no tied embeddings
//                yet and a bias in every Linear and LayerNorm and in the head: the torch twin is
//                built the same way (bias=True, which train.py sets False; a head bias; untied).
//                The gradient norm is computed, not clipped with (nanoGPT clips at 1.0)
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

namespace normlab::tools {

// Every shape of the three workloads; the one source of truth, handed to the PyTorch peer too.
struct BenchTrainShapes {
  std::size_t mlp_input = 784, mlp_width = 256, mlp_depth = 3, mlp_classes = 10, mlp_batch = 128;
  std::size_t gru_vocab = 65, gru_embed = 64, gru_hidden = 256, gru_layers = 1, gru_len = 64,
              gru_batch = 32;
  std::size_t tf_vocab = 65, tf_d = 128, tf_layers = 4, tf_heads = 4, tf_len = 64, tf_batch = 32,
              tf_mlp_ratio = 4;
  std::size_t ng_vocab = 65, ng_d = 128, ng_layers = 4, ng_heads = 4, ng_len = 64, ng_batch = 12,
              ng_mlp_ratio = 4;

  static BenchTrainShapes quick();  // tiny shapes for smoke tests: milliseconds, not seconds
  std::string to_json() const;      // {"mlp": {...}, "gru": {...}, "transformer": {...}, ...}
};

enum class TorchPeer { automatic, on, off };
TorchPeer parse_torch_peer(const std::string& name);  // auto | on | off

// A comma list of positive thread counts ("1,2"), in the given order, without repeats.
std::vector<int> parse_thread_counts(const std::string& list);

struct BenchTrainOptions {
  // BLAS threads here, torch.set_num_threads (and OMP/MKL/OpenBLAS threads) in the peers. With
  // more than one count, every count is measured and each later one's speedup over the first is
  // printed per row.
  std::vector<int> threads{1};
  int steps = 20;   // timed steps per figure; the median and min are reported
  int warmup = 3;   // untimed steps first (page faults, BLAS buffers, the optimizer's moments)
  std::vector<std::string> workloads{"mlp", "gru", "transformer", "nanogpt"};
  std::vector<std::string> norms{"rmsnorm", "layernorm", "none"};
  BenchTrainShapes shapes;
  bool quick = false;  // recorded for the report; `shapes` already holds the quick shapes
  TorchPeer torch = TorchPeer::automatic;  // automatic: run the peer when python can import torch
  // The peers' interpreters, one column group each: Debian's sees python3-torch (1.13);
  // scripts/install-torch2.sh makes .venv-torch2/bin/python with a torch 2.x.
  std::vector<std::string> pythons{"/usr/bin/python3"};
  // Also time each peer's models through torch.compile (torch >= 2), as a peer of its own.
  bool compile = false;
  std::string torch_script;                 // default: <source dir>/scripts/bench_train_torch.py
  bool phases = false;  // also print where normlab's step time goes (forward, backward, update)
  // wall: elapsed time. cpu: the process's CPU time (all its threads), which on one thread does
  // not count the time other processes hold the core: the figure to trust on a loaded machine.
  std::string clock = "wall";
};

// The workload and norm names `bench train` knows.
const std::vector<std::string>& bench_train_workloads();
const std::vector<std::string>& bench_train_norms();

void bench_train(std::ostream& out, const BenchTrainOptions& options);

}  // namespace normlab::tools
