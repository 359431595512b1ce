#include "tools/bench_train.hpp"

#include <cblas.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
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
#include "core/random.hpp"
#include "core/strings.hpp"
#include "core/timer.hpp"
#include "nn/optim.hpp"
#include "tools/bench_workloads.hpp"

namespace normlab::tools {

BenchTrainShapes BenchTrainShapes::quick() {
  BenchTrainShapes s;
  s.mlp_input = 32, s.mlp_width = 16, s.mlp_depth = 2, s.mlp_batch = 8;
  s.gru_embed = 8, s.gru_hidden = 16, s.gru_len = 6, s.gru_batch = 4;
  s.tf_d = 16, s.tf_layers = 1, s.tf_heads = 2, s.tf_len = 6, s.tf_batch = 4;
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
  return j.dump();
}

TorchPeer parse_torch_peer(const std::string& name) {
  if (name == "auto") return TorchPeer::automatic;
  if (name == "on") return TorchPeer::on;
  if (name == "off") return TorchPeer::off;
  fail("--torch: '", name, "' is not one of auto, on, off");
}

const std::vector<std::string>& bench_train_workloads() {
  static const std::vector<std::string> names{"mlp", "gru", "transformer"};
  return names;
}

const std::vector<std::string>& bench_train_norms() {
  static const std::vector<std::string> names{"rmsnorm", "layernorm", "none"};
  return names;
}

namespace {

const char* kCoreTypeVariable = "OPENBLAS_CORETYPE";
// Set by main() when it chose OPENBLAS_CORETYPE itself (OpenBLAS had misread the CPU).
const char* kCoreTypeSetByUs = "NORMLAB_SET_OPENBLAS_CORETYPE";

}  // namespace

namespace {

// Milliseconds of the timed steps, per step, in total and by phase.
struct StepTimes {
  std::vector<double> total, zero, forward, backward, update;  // update: global norm + Adam
};

double minimum(const std::vector<double>& v) {
  return v.empty() ? NAN : *std::min_element(v.begin(), v.end());
}

StepTimes time_steps(Trainee& t, int warmup, int steps, bool cpu_clock) {
  nn::OptimConfig oc;  // Adam, lr 1e-3, torch's betas and eps
  nn::Optimizer<float> optimizer(oc, *t.params);
  StepTimes st;
  for (int i = 0; i < warmup + steps; ++i) {
    StepClock step(cpu_clock), phase(cpu_clock);
    t.params->zero_grads();
    const double zero = phase.seconds();
    phase.reset();
    const double loss = t.forward();
    const double fwd = phase.seconds();
    phase.reset();
    t.backward();
    const double bwd = phase.seconds();
    phase.reset();
    const double norm = nn::global_norm(t.params->grads());
    optimizer.step(*t.params, norm);
    const double upd = phase.seconds();
    const double total = step.seconds();
    if (!std::isfinite(loss) || !std::isfinite(norm)) {
      fail("bench train: the loss or gradient norm is not finite at step ", i,
           " (loss ", loss, ", norm ", norm, ")");
    }
    if (i < warmup) continue;
    st.total.push_back(1e3 * total);
    st.zero.push_back(1e3 * zero);
    st.forward.push_back(1e3 * fwd);
    st.backward.push_back(1e3 * bwd);
    st.update.push_back(1e3 * upd);
  }
  return st;
}

struct Figure {
  double median_ms = NAN, min_ms = NAN;
};
using Key = std::pair<std::string, std::string>;  // workload, norm

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string default_torch_script() {
  return (std::filesystem::path(NORMLAB_SOURCE_DIR) / "scripts" / "bench_train_torch.py").string();
}

bool python_has_torch(const std::string& python) {
  const std::string cmd = shell_quote(python) + " -c 'import torch' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

struct PeerResult {
  bool ran = false;
  std::string note;  // why it did not run, or what ran
  std::string torch_version, openblas_core;
  std::map<Key, Figure> figures;
};

PeerResult run_torch_peer(const BenchTrainOptions& o, const std::string& coretype) {
  PeerResult r;
  const std::string script = o.torch_script.empty() ? default_torch_script() : o.torch_script;
  if (o.torch == TorchPeer::off) {
    r.note = "off (--torch off)";
    return r;
  }
  const bool have = python_has_torch(o.python);
  if (!have) {
    if (o.torch == TorchPeer::on) fail("--torch on: ", o.python, " cannot import torch");
    r.note = "not available (" + o.python + " cannot import torch); normlab figures only";
    return r;
  }
  if (!std::filesystem::exists(script)) fail("bench train: no torch peer script at ", script);
  const std::string n = std::to_string(o.threads);
  std::string cmd = std::string(kCoreTypeVariable) + "=" + shell_quote(coretype) +
                    " OMP_NUM_THREADS=" + n + " OPENBLAS_NUM_THREADS=" + n + " " +
                    shell_quote(o.python) + " " + shell_quote(script) + " --threads " + n +
                    " --steps " + std::to_string(o.steps) + " --warmup " +
                    std::to_string(o.warmup) + " --clock " + o.clock + " --workloads " + join(o.workloads, ",") +
                    " --norms " + join(o.norms, ",") + " --shapes " + shell_quote(o.shapes.to_json());
  r.note = cmd;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) fail("bench train: could not start the torch peer: ", cmd);
  std::string line;
  char buf[4096];
  std::vector<std::string> lines;
  while (std::fgets(buf, sizeof buf, pipe)) {
    line += buf;
    if (!line.empty() && line.back() == '\n') {
      lines.push_back(line);
      line.clear();
    }
  }
  if (!line.empty()) lines.push_back(line);
  const int status = pclose(pipe);
  for (const auto& l : lines) {
    if (trim(l).empty() || trim(l).front() != '{') continue;
    auto j = nlohmann::json::parse(l, nullptr, false);
    if (j.is_discarded()) continue;
    if (j.contains("torch")) {
      r.torch_version = j.value("torch", "");
      r.openblas_core = j.value("openblas_core", "");
      if (j.contains("shapes") && j["shapes"] != nlohmann::json::parse(o.shapes.to_json())) {
        fail("bench train: the torch peer ran other shapes than normlab: ", j["shapes"].dump());
      }
      if (j.value("threads", -1) != o.threads) {
        fail("bench train: the torch peer ran ", j.value("threads", -1), " threads, not ", o.threads);
      }
    } else if (j.contains("workload")) {
      r.figures[{j["workload"], j["norm"]}] = {j["median_ms"], j["min_ms"]};
    }
  }
  if (status != 0) {
    r.note = "failed (exit status " + std::to_string(status) + "): " + cmd;
    return r;
  }
  r.ran = true;
  return r;
}

std::string fixed(double v, int precision) {
  if (!std::isfinite(v)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v;
  return s.str();
}

void print_phases(std::ostream& out, const std::string& workload, const std::string& norm,
                  const StepTimes& st) {
  out << "    phases " << std::left << std::setw(12) << workload << std::setw(10) << norm
      << std::right << "  zero " << fixed(median(st.zero), 2) << "  forward "
      << fixed(median(st.forward), 2) << "  backward " << fixed(median(st.backward), 2)
      << "  norm+adam " << fixed(median(st.update), 2) << "  (median ms)\n";
}

}  // namespace

void bench_train(std::ostream& out, const BenchTrainOptions& o) {
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
  if (o.threads < 1) fail("--threads must be at least 1, got ", o.threads);
  if (o.steps < 1) fail("--steps must be at least 1, got ", o.steps);
  if (o.warmup < 0) fail("--warmup must be at least 0, got ", o.warmup);
  if (o.clock != "wall" && o.clock != "cpu") fail("--clock: '", o.clock, "' is not one of wall, cpu");
  set_blas_threads(o.threads);

  const char* env_core = std::getenv(kCoreTypeVariable);
  const std::string coretype = env_core ? env_core : "";
  const bool set_by_us = std::getenv(kCoreTypeSetByUs) != nullptr;
  out << "# normlab bench train: ms per training step (zero grads, forward, backward, global grad "
         "norm, Adam), float32\n"
      << "# threads " << o.threads << "; " << o.warmup << " warm-up steps, then the median (and min) of "
      << o.steps << " timed steps" << (o.quick ? "; --quick shapes" : "") << "\n"
      << "# clock: " << (o.clock == "cpu" ? "cpu (process CPU time, both sides)" : "wall (elapsed time, both sides)") << "\n"
      << "# " << kCoreTypeVariable << "="
      << (coretype.empty() ? "(unset: OpenBLAS detects the core itself)" : coretype)
      << (set_by_us ? " (unset in the caller's environment; set by normlab at startup, passed to the torch peer)"
                    : coretype.empty() ? "" : " (from the environment, passed to the torch peer)")
      << "; OpenBLAS core in use here: " << openblas_get_corename() << "\n"
      << "# shapes " << o.shapes.to_json() << "\n";
  out.flush();

  // The first figure measured came out twice as slow as its minimum in every phase (the core
  // ramping up): step the first workload untimed for about a second before anything is timed.
  {
    Rng rng(1234);
    Trainee t = make_trainee(o.workloads.front(), o.shapes, o.norms.front(), rng);
    nn::Optimizer<float> optimizer(nn::OptimConfig{}, *t.params);
    for (StepClock wall(false); wall.seconds() < (o.quick ? 0.05 : 1.0);) {
      t.params->zero_grads();
      t.forward();
      t.backward();
      optimizer.step(*t.params, nn::global_norm(t.params->grads()));
    }
  }
  std::map<Key, Figure> ours;
  std::map<Key, StepTimes> ours_steps;
  for (const auto& w : o.workloads) {
    for (const auto& n : o.norms) {
      Rng rng(1234);
      Trainee t = make_trainee(w, o.shapes, n, rng);
      StepTimes st = time_steps(t, o.warmup, o.steps, o.clock == "cpu");
      ours[{w, n}] = {median(st.total), minimum(st.total)};
      ours_steps[{w, n}] = st;
    }
  }

  PeerResult peer = run_torch_peer(o, coretype);
  out << "# torch peer (--torch "
      << (o.torch == TorchPeer::automatic ? "auto: runs when the interpreter can import torch"
                                          : o.torch == TorchPeer::on ? "on" : "off")
      << "): ";
  if (peer.ran) {
    out << "torch " << peer.torch_version << ", OpenBLAS core in use there: "
        << (peer.openblas_core.empty() ? "?" : peer.openblas_core) << "\n#   " << peer.note << "\n";
  } else {
    out << peer.note << "\n";
  }

  out << "\n" << std::left << std::setw(13) << "workload" << std::setw(11) << "norm" << std::right
      << std::setw(12) << "normlab ms" << std::setw(9) << "(min)" << std::setw(8) << "/LN";
  if (peer.ran) {
    out << std::setw(12) << "torch ms" << std::setw(9) << "(min)" << std::setw(8) << "/LN"
        << std::setw(15) << "torch/normlab";
  }
  out << "\n";
  auto rel = [&](const std::map<Key, Figure>& m, const std::string& w, const std::string& n) {
    auto a = m.find({w, n}), ln = m.find({w, "layernorm"});
    return a == m.end() || ln == m.end() ? NAN : a->second.median_ms / ln->second.median_ms;
  };
  for (const auto& w : o.workloads) {
    for (const auto& n : o.norms) {
      const Figure f = ours[{w, n}];
      out << std::left << std::setw(13) << w << std::setw(11) << n << std::right << std::setw(12)
          << fixed(f.median_ms, 2) << std::setw(9) << fixed(f.min_ms, 2) << std::setw(8)
          << fixed(rel(ours, w, n), 2);
      if (peer.ran) {
        auto it = peer.figures.find({w, n});
        const Figure p = it == peer.figures.end() ? Figure{} : it->second;
        out << std::setw(12) << fixed(p.median_ms, 2) << std::setw(9) << fixed(p.min_ms, 2)
            << std::setw(8) << fixed(rel(peer.figures, w, n), 2) << std::setw(15)
            << fixed(p.median_ms / f.median_ms, 2);
      }
      out << "\n";
    }
  }
  out << "\n/LN: median step time relative to LayerNorm's in the same implementation (< 1: faster "
         "than LayerNorm)\n";
  if (peer.ran) out << "torch/normlab: > 1 means normlab is faster\n";
  if (o.phases) {
    out << "\nwhere normlab's step time goes:\n";
    for (const auto& w : o.workloads) {
      for (const auto& n : o.norms) print_phases(out, w, n, ours_steps[{w, n}]);
    }
  }
}

}  // namespace normlab::tools
