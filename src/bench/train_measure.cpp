#include "bench/train_measure.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <span>

#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/random.hpp"
#include "core/timer.hpp"
#include "nn/optim.hpp"
#include "bench/alloc_count.hpp"
#include "bench/workloads.hpp"

namespace normlab::tools {

namespace {

// Steps `t`: untimed for `ramp_seconds` of wall time (the core ramping up), then `warmup` untimed
// steps (page faults, BLAS buffers, the optimizer's moments, the buffers the model keeps), then
// `steps` timed ones, counting their heap allocations.
Measurement time_steps(Trainee& t, double ramp_seconds, int warmup, int steps, bool cpu_clock) {
  nn::Optimizer<float> optimizer(t.optim, *t.params);  // Adam, or AdamW for nanogpt
  for (StepClock wall(false); wall.seconds() < ramp_seconds;) {
    t.params->zero_grads();
    t.forward();
    t.backward();
    optimizer.step(*t.params, nn::global_norm(t.params->grads()));
  }
  Measurement m;
  StepTimes& st = m.times;
  for (auto* v : {&st.total, &st.zero, &st.forward, &st.backward, &st.update}) v->reserve(steps);
  std::uint64_t allocations = 0;
  for (int i = 0; i < warmup + steps; ++i) {
    const std::uint64_t allocations_before = alloc_count::allocations();
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
    const std::uint64_t step_allocations = alloc_count::allocations() - allocations_before;
    if (!std::isfinite(loss) || !std::isfinite(norm)) {
      fail("bench train: the loss or gradient norm is not finite at step ", i,
           " (loss ", loss, ", norm ", norm, ")");
    }
    if (i < warmup) continue;
    allocations += step_allocations;
    m.allocations_max = std::max(m.allocations_max, step_allocations);
    st.total.push_back(1e3 * total);
    st.zero.push_back(1e3 * zero);
    st.forward.push_back(1e3 * fwd);
    st.backward.push_back(1e3 * bwd);
    st.update.push_back(1e3 * upd);
  }
  m.allocations_per_step = double(allocations) / double(steps);
  return m;
}

nlohmann::json to_json(const Measurement& m) {
  const StepTimes& st = m.times;
  return {{"total", st.total}, {"zero", st.zero}, {"forward", st.forward},
          {"backward", st.backward}, {"update", st.update},
          {"allocations_per_step", m.allocations_per_step},
          {"allocations_max", m.allocations_max}, {"peak_rss_mib", m.peak_rss_mib},
          {"param_count", m.param_count}};
}

Measurement from_json(const nlohmann::json& j) {
  Measurement m;
  StepTimes& st = m.times;
  j.at("total").get_to(st.total);
  j.at("zero").get_to(st.zero);
  j.at("forward").get_to(st.forward);
  j.at("backward").get_to(st.backward);
  j.at("update").get_to(st.update);
  m.allocations_per_step = j.at("allocations_per_step").get<double>();
  m.allocations_max = j.at("allocations_max").get<std::uint64_t>();
  m.peak_rss_mib = j.at("peak_rss_mib").get<double>();
  m.param_count = j.at("param_count").get<std::size_t>();
  return m;
}

// This process's peak resident set size so far (getrusage: KiB on Linux), in MiB.
double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
}

// ---- GEMM floating-point operations per training step, counted from the shapes ----
// A GEMM of (M, K) by (K, N) is 2 M N K FLOPs. Only GEMMs are counted (normalizers, softmax,
// activations, the optimizer are not): the figure to hold against the sgemm rate.

// MLP: forward 2 B (in W + (depth - 1) W^2 + W classes). Backward: each Linear's dW (the same
// FLOPs as its forward) and dx (the same again), but the first layer computes no dx: 3 x forward
// - 2 B in W.
double mlp_gemm_flops(const BenchTrainShapes& s) {
  const double B = double(s.mlp_batch), in = double(s.mlp_input), W = double(s.mlp_width);
  const double forward = 2 * B * (in * W + double(s.mlp_depth - 1) * W * W + W * double(s.mlp_classes));
  return 3 * forward - 2 * B * in * W;
}

// GRU LM, G = 3H, rows = B T: per layer the input projection 2 rows in G and T - 1 recurrent
// products 2 B H G (h_{-1} = 0 is not multiplied); the head 2 rows H V. Backward: every GEMM's
// dW and dx (the recurrent dh_{t-1} too, for t > 0; dW_hh as one GEMM over (T-1) B rows), each
// as many FLOPs as the forward one: 3 x forward.
double gru_gemm_flops(const BenchTrainShapes& s) {
  const double B = double(s.gru_batch), T = double(s.gru_len), H = double(s.gru_hidden);
  const double G = 3 * H, rows = B * T;
  double forward = 2 * rows * H * double(s.gru_vocab);
  for (std::size_t l = 0; l < s.gru_layers; ++l) {
    const double in = l == 0 ? double(s.gru_embed) : H;
    forward += 2 * rows * in * G + (T - 1) * 2 * B * H * G;
  }
  return 3 * forward;
}

// Transformer LM, N = B T tokens, m = mlp_ratio d, per block: qkv 2 N d 3d, scores Q K^T and
// P V 2 B T^2 d each (the full T x T square: the kernel computes every score of each (b, head)
// with one GEMM and masks after, and P V multiplies the zeros too), out proj 2 N d^2, MLP fc and
// proj 2 N d m each; then the head 2 N d V. Backward: every Linear's dW and dx (the embedding's
// input needs dx of qkv too), and attention's four T x T GEMMs (dP = dO V^T, dV = P^T dO,
// dQ = dS K, dK = dS^T Q) against forward's two: 3 x forward.
// nanogpt is the same graph at its own shapes.
double transformer_gemm_flops(std::size_t batch, std::size_t len, std::size_t width,
                              std::size_t layers, std::size_t mlp_ratio, std::size_t vocab) {
  const double B = double(batch), T = double(len), d = double(width);
  const double N = B * T, m = double(mlp_ratio) * d;
  const double block = 2 * N * d * (3 * d)      // qkv
                       + 2 * (2 * B * T * T * d)  // Q K^T and P V over the heads: B heads T^2 hd
                       + 2 * N * d * d            // out proj
                       + 2 * (2 * N * d * m);     // MLP fc and proj
  const double forward = double(layers) * block + 2 * N * d * double(vocab);
  return 3 * forward;
}

}  // namespace

// Builds and steps one workload in a forked child, which sends its figures back through a pipe:
// ru_maxrss only ever grows, so a fresh process per workload is what makes the peak RSS its own.
// A forked child's starts at zero (Linux) and counts the parent's pages as the child touches them.
Measurement measure_in_child(const std::string& workload, const std::string& norm,
                             const BenchTrainOptions& o, double ramp_seconds) {
  int fds[2];
  if (pipe(fds) != 0) fail("bench train: pipe() failed");
  const pid_t pid = fork();
  if (pid < 0) fail("bench train: fork() failed");
  if (pid == 0) {  // the child: measure, write one JSON line, leave without the parent's atexit
    close(fds[0]);
    std::string message;
    int code = 0;
    try {
      Rng rng(1234);
      Trainee t = make_trainee(workload, o.shapes, norm, rng);
      Measurement m = time_steps(t, ramp_seconds, o.warmup, o.steps, o.clock == "cpu");
      m.peak_rss_mib = peak_rss_mib();
      m.param_count = t.params->size();
      message = to_json(m).dump();
    } catch (const std::exception& e) {
      message = nlohmann::json{{"error", e.what()}}.dump();
      code = 1;
    }
    message += "\n";
    for (std::size_t done = 0; done < message.size();) {
      const ssize_t n = write(fds[1], message.data() + done, message.size() - done);
      if (n <= 0) _exit(2);
      done += std::size_t(n);
    }
    close(fds[1]);
    _exit(code);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    text.append(buf, std::size_t(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object() && j.contains("error")) {
    fail("bench train: ", workload, " with ", norm, ": ", j["error"].get<std::string>());
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !j.is_object()) {
    fail("bench train: the process measuring ", workload, " with ", norm, " ended with status ",
         status, " and sent '", text, "'");
  }
  return from_json(j);
}

double gemm_flops(const std::string& workload, const BenchTrainShapes& s) {
  if (workload == "mlp") return mlp_gemm_flops(s);
  if (workload == "gru") return gru_gemm_flops(s);
  if (workload == "nanogpt") {
    return transformer_gemm_flops(s.ng_batch, s.ng_len, s.ng_d, s.ng_layers, s.ng_mlp_ratio,
                                  s.ng_vocab);
  }
  return transformer_gemm_flops(s.tf_batch, s.tf_len, s.tf_d, s.tf_layers, s.tf_mlp_ratio,
                                s.tf_vocab);
}

SgemmRate measure_sgemm(bool cpu_clock, bool quick) {
  SgemmRate r;
  if (quick) r.repeats = 3;
  std::vector<float> A(r.M * r.K), Bm(r.K * r.N), C(r.M * r.N);
  Rng rng(99);
  fill_normal(std::span<float>(A), rng);
  fill_normal(std::span<float>(Bm), rng);
  std::vector<double> rates;
  for (int i = 0; i < r.repeats + 3; ++i) {
    StepClock clock(cpu_clock);
    gemm(Trans::no, Trans::no, r.M, r.N, r.K, 1.0f, A.data(), r.K, Bm.data(), r.N, 0.0f, C.data(),
         r.N);
    const double seconds = clock.seconds();
    if (i >= 3) rates.push_back(2.0 * double(r.M) * double(r.N) * double(r.K) / seconds * 1e-9);
  }
  r.gflops = median(rates);
  return r;
}

}  // namespace normlab::tools
