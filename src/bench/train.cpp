#include "bench/train.hpp"

#include <cblas.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/kernels.hpp"
#include "core/parallel.hpp"
#include "core/random.hpp"
#include "core/strings.hpp"
#include "core/timer.hpp"
#include "nn/layers.hpp"
#include "bench/torch_peer.hpp"
#include "bench/train_measure.hpp"
#include "bench/workloads.hpp"

namespace normlab::tools {

BenchTrainShapes BenchTrainShapes::quick() {
  BenchTrainShapes s;
  s.mlp_input = 32, s.mlp_width = 16, s.mlp_depth = 2, s.mlp_batch = 8;
  s.gru_embed = 8, s.gru_hidden = 16, s.gru_len = 6, s.gru_batch = 4;
  s.tf_d = 16, s.tf_layers = 1, s.tf_heads = 2, s.tf_len = 6, s.tf_batch = 4;
  s.ng_d = 16, s.ng_layers = 2, s.ng_heads = 2, s.ng_len = 6, s.ng_batch = 3;
  return s;
}

std::string BenchTrainShapes::to_json() const {
  nlohmann::ordered_json j;
  j["mlp"] = {{"input", mlp_input}, {"width", mlp_width}, {"depth", mlp_depth},
              {"classes", mlp_classes}, {"batch", mlp_batch}};
  j["gru"] = {{"vocab", gru_vocab}, {"embed", gru_embed}, {"hidden", gru_hidden},
              {"layers", gru_layers}, {"len", gru_len}, {"batch", gru_batch}};
  j["transformer"] = {{"vocab", tf_vocab}, {"d", tf_d}, {"layers", tf_layers},
                      {"heads", tf_heads}, {"len", tf_len}, {"batch", tf_batch},
                      {"mlp_ratio", tf_mlp_ratio}};
  j["nanogpt"] = {{"vocab", ng_vocab}, {"d", ng_d}, {"layers", ng_layers}, {"heads", ng_heads},
                  {"len", ng_len}, {"batch", ng_batch}, {"mlp_ratio", ng_mlp_ratio}};
  return j.dump();
}

std::vector<int> parse_thread_counts(const std::string& list) {
  std::vector<int> counts;
  for (const auto& item : split(list, ',')) {
    const std::string t(trim(item));
    char* end = nullptr;
    errno = 0;
    const long n = t.empty() ? 0 : std::strtol(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0' || errno != 0 || n < 1 || n > 4096) {
      fail("--threads: '", item, "' is not a positive thread count (a list: 1,2)");
    }
    if (std::find(counts.begin(), counts.end(), int(n)) != counts.end()) {
      fail("--threads: ", n, " is listed twice");
    }
    counts.push_back(int(n));
  }
  if (counts.empty()) fail("--threads: no thread count given");
  return counts;
}

TorchPeer parse_torch_peer(const std::string& name) {
  if (name == "auto") return TorchPeer::automatic;
  if (name == "on") return TorchPeer::on;
  if (name == "off") return TorchPeer::off;
  fail("--torch: '", name, "' is not one of auto, on, off");
}

const std::vector<std::string>& bench_train_workloads() {
  static const std::vector<std::string> names{"mlp", "gru", "transformer", "nanogpt"};
  return names;
}

const std::vector<std::string>& bench_train_norms() {
  static const std::vector<std::string> names{"rmsnorm", "layernorm", "none"};
  return names;
}

namespace {

// Set by main() when it chose OPENBLAS_CORETYPE itself (OpenBLAS had misread the CPU).
const char* kCoreTypeSetByUs = "NORMLAB_SET_OPENBLAS_CORETYPE";

double minimum(const std::vector<double>& v) {
  return v.empty() ? NAN : *std::min_element(v.begin(), v.end());
}

void print_phases(std::ostream& out, const std::string& workload, const std::string& norm,
                  const StepTimes& st) {
  out << "    phases " << std::left << std::setw(12) << workload << std::setw(10) << norm
      << std::right << "  zero " << fixed(median(st.zero), 2) << "  forward "
      << fixed(median(st.forward), 2) << "  backward " << fixed(median(st.backward), 2)
      << "  norm+adam " << fixed(median(st.update), 2) << "  (median ms)\n";
}

std::string join_counts(const std::vector<int>& counts) {
  std::string s;
  for (int n : counts) s += (s.empty() ? "" : ",") + std::to_string(n);
  return s;
}

// Refuses unknown workloads and norms, and bad counts, before anything runs.
void check_options(const BenchTrainOptions& o) {
  for (const auto& w : o.workloads) {
    const auto& known = bench_train_workloads();
    if (std::find(known.begin(), known.end(), w) == known.end())
      fail("--workloads: unknown workload '", w, "'", did_you_mean(w, known), "; available: ",
           join(known, ", "));
  }
  for (const auto& n : o.norms) {
    const auto& known = bench_train_norms();
    if (std::find(known.begin(), known.end(), n) == known.end())
      fail("--norms: unknown normalizer '", n, "'", did_you_mean(n, known), "; available: ",
           join(known, ", "));
  }
  if (o.threads.empty()) fail("--threads: no thread count given");
  for (int n : o.threads) {
    if (n < 1) fail("--threads must be at least 1, got ", n);
  }
  if (o.pythons.empty()) fail("--python: no interpreter given");
  if (o.steps < 1) fail("--steps must be at least 1, got ", o.steps);
  if (o.warmup < 0) fail("--warmup must be at least 0, got ", o.warmup);
  if (o.clock != "wall" && o.clock != "cpu") fail("--clock: '", o.clock, "' is not one of wall, cpu");
}

void print_header(std::ostream& out, const BenchTrainOptions& o, const std::string& coretype) {
  const bool set_by_us = std::getenv(kCoreTypeSetByUs) != nullptr;
  out << "# normlab bench train: ms per training step (zero grads, forward, backward, global grad "
         "norm, Adam; AdamW for nanogpt), float32\n"
      << "# threads " << join_counts(o.threads) << "; " << o.warmup
      << " warm-up steps, then the median (and min) of " << o.steps << " timed steps"
      << (o.quick ? "; --quick shapes" : "") << "\n"
      << "# clock: " << (o.clock == "cpu" ? "cpu (process CPU time, both sides)" : "wall (elapsed time, both sides)") << "\n";
  if (o.clock == "cpu" && *std::max_element(o.threads.begin(), o.threads.end()) > 1) {
    out << "# note: the cpu clock adds up the CPU time of all threads, so a step on 2 threads "
           "cannot read faster than on 1; measure thread scaling with --clock wall\n";
  }
  out << "# " << kCoreTypeVariable << "="
      << (coretype.empty() ? "(unset: OpenBLAS detects the core itself)" : coretype)
      << (set_by_us ? " (unset in the caller's environment; set by normlab at startup, passed to the torch peer)"
                    : coretype.empty() ? "" : " (from the environment, passed to the torch peer)")
      << "; OpenBLAS core in use here: " << openblas_get_corename() << "\n"
      << "# kernels: " << kernels::describe(kernels::active())
      << (std::getenv("NORMLAB_ISA") ? " (chosen by NORMLAB_ISA)" : " (the widest this CPU runs)")
      << ": exp, GELU, tanh, sigmoid and the panel GEMM (core/kernels.hpp)\n"
      << "# GEMM paths: the GRU's recurrent products through the panel kernel; "
      << nn::linear_gemm_paths() << " (nn/layers.cpp says why)\n"
      << "# nanogpt: nanoGPT's CPU config (d 128, 4 layers, 4 heads, T 64, batch 12, AdamW lr 1e-3 "
         "betas (0.9, 0.99) wd 0.1); embeddings untied on both sides (normlab has no tying yet), "
         "biases everywhere and in the head\n"
      << "# shapes " << o.shapes.to_json() << "\n";
  out.flush();
}

void print_peer(std::ostream& out, const BenchTrainOptions& o, const PeerResult& peer) {
  out << "# peer " << peer.label << " (--torch "
      << (o.torch == TorchPeer::automatic ? "auto" : o.torch == TorchPeer::on ? "on" : "off")
      << "): ";
  if (peer.ran) {
    out << "torch " << peer.torch_version << "; BLAS: "
        << (peer.blas.empty() ? "?" : peer.blas) << "; OpenBLAS core in use there: "
        << (peer.openblas_core.empty() ? "- (none loaded)" : peer.openblas_core)
        << "; rmsnorm rows: " << (peer.rmsnorm.empty() ? "?" : peer.rmsnorm) << "\n#   "
        << peer.note << "\n";
    for (const auto& [key, why] : peer.errors) {
      out << "#   " << key.first << " " << key.second << " did not run: " << why << "\n";
    }
  } else {
    out << peer.note << "\n";
  }
}

// The peers' parameter counts must equal normlab's, row by row: an honest check that the twin is
// the same model. Returns the rows checked; throws at the first that differs.
std::size_t check_param_counts(const std::map<Key, Measurement>& ours,
                               const std::vector<PeerResult>& peers) {
  std::size_t checked = 0;
  for (const auto& peer : peers) {
    for (const auto& [key, count] : peer.param_counts) {
      auto it = ours.find(key);
      if (it == ours.end()) continue;
      if (it->second.param_count != count) {
        fail("bench train: ", key.first, " with ", key.second, " has ", it->second.param_count,
             " parameters in normlab but ", count, " in the peer ", peer.label,
             ": the two are not the same model");
      }
      ++checked;
    }
  }
  return checked;
}

// The step-time table: normlab's figures, and each peer's next to them, a column group each.
void print_step_table(std::ostream& out, const BenchTrainOptions& o,
                      const std::map<Key, Measurement>& ours, const std::map<Key, Figure>& figures,
                      const std::vector<PeerResult>& peers) {
  // A peer's group: " |", ms, (min), /LN, peer/normlab; its title above it.
  const int group = 9 + 8 + 7 + 10;
  out << "\n" << std::string(13 + 11 + 12 + 9 + 8 + 12 + 10 + 11, ' ');
  for (const auto& p : peers) {
    if (p.ran) out << " | " << std::left << std::setw(group - 1) << p.label << std::right;
  }
  out << "\n" << std::left << std::setw(13) << "workload" << std::setw(11) << "norm" << std::right
      << std::setw(12) << "normlab ms" << std::setw(9) << "(min)" << std::setw(8) << "/LN"
      << std::setw(12) << "alloc/step" << std::setw(10) << "peak MiB" << std::setw(11) << "params";
  for (const auto& p : peers) {
    if (p.ran) {
      out << " |" << std::setw(9) << "ms" << std::setw(8) << "(min)" << std::setw(7) << "/LN"
          << std::setw(10) << "/normlab";
    }
  }
  out << "\n";
  auto rel = [&](const std::map<Key, Figure>& m, const std::string& w, const std::string& n) {
    auto a = m.find({w, n}), ln = m.find({w, "layernorm"});
    return a == m.end() || ln == m.end() ? NAN : a->second.median_ms / ln->second.median_ms;
  };
  for (const auto& w : o.workloads) {
    for (const auto& n : o.norms) {
      const Figure f = figures.at({w, n});
      const Measurement& m = ours.at({w, n});
      const double allocs = m.allocations_per_step;  // a whole number unless steps differ
      out << std::left << std::setw(13) << w << std::setw(11) << n << std::right << std::setw(12)
          << fixed(f.median_ms, 2) << std::setw(9) << fixed(f.min_ms, 2) << std::setw(8)
          << fixed(rel(figures, w, n), 2) << std::setw(12)
          << fixed(allocs, std::floor(allocs) == allocs ? 0 : 2)
          << std::setw(10) << fixed(m.peak_rss_mib, 1) << std::setw(11) << m.param_count;
      for (const auto& peer : peers) {
        if (!peer.ran) continue;
        auto it = peer.figures.find({w, n});
        const Figure p = it == peer.figures.end() ? Figure{} : it->second;
        out << " |" << std::setw(9) << fixed(p.median_ms, 2) << std::setw(8) << fixed(p.min_ms, 2)
            << std::setw(7) << fixed(rel(peer.figures, w, n), 2) << std::setw(10)
            << fixed(p.median_ms / f.median_ms, 2);
      }
      out << "\n";
    }
  }
  out << "\n/LN: median step time relative to LayerNorm's in the same implementation (< 1: faster "
         "than LayerNorm)\n"
      << "alloc/step: heap allocations (operator new calls) per timed step, zero grads to the end "
         "of the update\n"
      << "peak MiB: the peak resident set size (getrusage) of a process forked to measure only "
         "this row\n"
      << "params: the model's parameter count; each peer's twin printed the same count\n";
  if (!peers.empty()) out << "/normlab: the peer's median over normlab's (> 1 means normlab is faster)\n";
}

// GEMM FLOPs per step over the median step time, against the sgemm rate of this process.
void print_throughput(std::ostream& out, const BenchTrainOptions& o, int threads,
                      const std::map<Key, Figure>& figures, const SgemmRate& sgemm) {
  out << "\nGEMM throughput: FLOPs of the step's matrix products counted from the shapes (the "
         "formulas: bench/train_measure.cpp), over the median step time, against sgemm in this process\n"
      << "sgemm " << sgemm.M << "x" << sgemm.K << " times " << sgemm.K << "x" << sgemm.N << ", "
      << threads << " thread" << (threads == 1 ? "" : "s") << ": " << fixed(sgemm.gflops, 1)
      << " GFLOP/s (median of " << sgemm.repeats << ", " << o.clock << " clock)\n"
      << std::left << std::setw(13) << "workload" << std::setw(11) << "norm" << std::right
      << std::setw(12) << "GFLOP/step" << std::setw(10) << "GFLOP/s" << std::setw(10) << "/sgemm"
      << "\n";
  for (const auto& w : o.workloads) {
    const double flops = gemm_flops(w, o.shapes);
    for (const auto& n : o.norms) {
      const double rate = flops / (1e-3 * figures.at({w, n}).median_ms) * 1e-9;
      out << std::left << std::setw(13) << w << std::setw(11) << n << std::right << std::setw(12)
          << fixed(flops * 1e-9, 3) << std::setw(10) << fixed(rate, 1) << std::setw(10)
          << fixed(rate / sgemm.gflops, 2) << "\n";
    }
  }
}

// Everything measured at one thread count.
struct ThreadRun {
  int threads = 1;
  std::map<Key, Measurement> ours;
  std::map<Key, Figure> figures;
  std::vector<PeerResult> peers;
};

// Per row, each thread count's speedup over the first (its median step time over theirs, and the
// same of the minima: on a shared machine the fastest step is the one least disturbed), for
// normlab and for every peer that ran at both counts. Printed, never asserted.
void print_scaling(std::ostream& out, const BenchTrainOptions& o,
                   const std::vector<ThreadRun>& runs) {
  const ThreadRun& base = runs.front();
  out << "\n## Thread scaling: speedup of each thread count over " << base.threads
      << " thread" << (base.threads == 1 ? "" : "s")
      << " (median step time at " << base.threads << " over the median at n, and (min) the same of the fastest steps; " << o.clock
      << " clock)\n";
  std::vector<std::string> columns;
  for (std::size_t r = 1; r < runs.size(); ++r) {
    const std::string tag = std::to_string(runs[r].threads) + "/" + std::to_string(base.threads);
    columns.push_back("normlab " + tag);
    columns.push_back("(min)");
    for (std::size_t p = 0; p < base.peers.size(); ++p) {
      columns.push_back(base.peers[p].label + " " + tag);
      columns.push_back("(min)");
    }
  }
  out << std::left << std::setw(13) << "workload" << std::setw(11) << "norm" << std::right;
  for (const auto& t : runs) out << std::setw(14) << ("normlab ms@" + std::to_string(t.threads));
  for (const auto& c : columns) out << "  " << std::setw(std::max<int>(8, int(c.size()))) << c;
  out << "\n";
  auto speedup = [](const std::map<Key, Figure>& a, const std::map<Key, Figure>& b, const Key& k,
                    bool of_min) {
    auto x = a.find(k), y = b.find(k);
    if (x == a.end() || y == b.end()) return double(NAN);
    return of_min ? x->second.min_ms / y->second.min_ms : x->second.median_ms / y->second.median_ms;
  };
  for (const auto& w : o.workloads) {
    for (const auto& n : o.norms) {
      const Key k{w, n};
      out << std::left << std::setw(13) << w << std::setw(11) << n << std::right;
      for (const auto& t : runs) out << std::setw(14) << fixed(t.figures.at(k).median_ms, 2);
      std::size_t c = 0;
      for (std::size_t r = 1; r < runs.size(); ++r) {
        for (bool of_min : {false, true}) {
          out << "  " << std::setw(std::max<int>(8, int(columns[c++].size())))
              << fixed(speedup(base.figures, runs[r].figures, k, of_min), 2);
        }
        for (std::size_t p = 0; p < base.peers.size(); ++p) {
          const bool both = base.peers[p].ran && p < runs[r].peers.size() && runs[r].peers[p].ran;
          for (bool of_min : {false, true}) {
            const double s =
                both ? speedup(base.peers[p].figures, runs[r].peers[p].figures, k, of_min) : NAN;
            out << "  " << std::setw(std::max<int>(8, int(columns[c++].size()))) << fixed(s, 2);
          }
        }
      }
      out << "\n";
    }
  }
  out << "(a ratio of n means n times as fast; the target for a Transformer on 2 threads is 1.6)\n";
}

// normlab's rows and every peer at one thread count.
ThreadRun measure_at(std::ostream& out, const BenchTrainOptions& o, int threads,
                     const std::string& coretype, bool first) {
  ThreadRun run;
  run.threads = threads;
  set_blas_threads(threads);
  set_threads(threads);  // the pool for what runs outside BLAS (core/parallel.hpp), as the trainer
  // Each workload x norm is measured in a process of its own (measure_in_child), forked from
  // this one while it is still small.
  // The first figure measured came out twice as slow as its minimum in every phase (the core
  // ramping up): the first child steps its trainee untimed for about a second before timing.
  for (const auto& w : o.workloads) {
    for (const auto& n : o.norms) {
      const double ramp = first && run.ours.empty() ? (o.quick ? 0.05 : 1.0) : 0.0;
      run.ours[{w, n}] = measure_in_child(w, n, o, ramp);
    }
  }
  const SgemmRate sgemm = measure_sgemm(o.clock == "cpu", o.quick);
  for (const auto& python : o.pythons) {
    run.peers.push_back(run_torch_peer(o, python, threads, false, coretype));
    if (o.compile) {
      // Only a torch that ran eagerly is asked to compile; a 1.x says it has no torch.compile.
      PeerResult compiled = run.peers.back().ran
                                ? run_torch_peer(o, python, threads, true, coretype)
                                : PeerResult{};
      if (!run.peers.back().ran) {
        compiled.label = run.peers.back().label + " compiled";
        compiled.note = "not run (the eager peer did not run)";
      }
      run.peers.push_back(std::move(compiled));
    }
  }
  out << "\n## " << threads << " thread" << (threads == 1 ? "" : "s") << "\n";
  for (const auto& peer : run.peers) print_peer(out, o, peer);
  const std::size_t checked = check_param_counts(run.ours, run.peers);
  if (checked > 0) {
    out << "# parameter counts: normlab's equal the peers' in all " << checked
        << " rows they reported\n";
  }
  for (const auto& [key, m] : run.ours) {
    run.figures[key] = {median(m.times.total), minimum(m.times.total)};
  }
  std::vector<PeerResult> shown;
  for (const auto& p : run.peers) {
    if (p.ran) shown.push_back(p);
  }
  print_step_table(out, o, run.ours, run.figures, shown);
  print_throughput(out, o, threads, run.figures, sgemm);
  if (o.phases) {
    out << "\nwhere normlab's step time goes:\n";
    for (const auto& w : o.workloads) {
      for (const auto& n : o.norms) print_phases(out, w, n, run.ours[{w, n}].times);
    }
  }
  out.flush();
  return run;
}

}  // namespace

void bench_train(std::ostream& out, const BenchTrainOptions& o) {
  check_options(o);
  const char* env_core = std::getenv(kCoreTypeVariable);
  const std::string coretype = env_core ? env_core : "";
  print_header(out, o, coretype);
  std::vector<ThreadRun> runs;
  for (int threads : o.threads) runs.push_back(measure_at(out, o, threads, coretype, runs.empty()));
  if (runs.size() > 1) print_scaling(out, o, runs);
}

}  // namespace normlab::tools
