// bench_gemm: the panel GEMM (core/small_gemm.hpp) against OpenBLAS at the products of the bench
// train workloads, per kernel set this CPU runs, in GFLOP/s. The figures behind the choice of
// path in nn/layers.cpp (linear_uses_panels) and of the register blocks in core/kernels.inl.
//
//   build/tests/bench_gemm [--seconds S] [--rounds R] [--threads N] [--filter TEXT]
//   taskset -c 1 build/tests/bench_gemm       # one core, as the figures in the comments were taken
//
// Each row is one product as the layer does it:
//   fwd    y (M, N) = x (M, K) W^T + b, W (N, K) row-major: pack_transposed + panels vs sgemm(N, T)
//   bwd    dx (M, N) = dy (M, K) W, W (K, N):                pack + panels vs sgemm(N, N)
//   wgrad  dW (M, N) += dy^T x, dy (K, M), x (K, N):          transpose dy + pack x + panels
//                                                             vs sgemm(T, N)
//   rec    C (M, N) = A (M, K) B, B packed once beforehand (the GRU's 64 steps): panels vs sgemm
// "+pack" columns include the per-call packing (the layer pays it on every call), "kernel" does
// not. Times are the CPU time of this thread (wall time with --threads above 1), the best of
// --rounds rounds of at least S seconds each, the candidates interleaved within a round (a shared
// machine drifts). The first line names OpenBLAS's kernel family: "Prescott" means it misread
// the CPU (core/gemm.hpp), and OPENBLAS_CORETYPE=SkylakeX (or Haswell) gives its real rate.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/gemm.hpp"
#include "core/kernels.hpp"
#include "core/parallel.hpp"
#include "core/small_gemm.hpp"

namespace {
using namespace normlab;

enum class Kind { fwd, bwd, wgrad, rec };

struct Shape {
  const char* name;
  Kind kind;
  std::size_t M, K, N;
};

// The bench train workloads (bench/train.hpp): Transformer d 128, 2048 rows; MLP 128 rows;
// GRU H 256, E 64, 32 x 64 rows.
const Shape kShapes[] = {
    {"tf qkv", Kind::fwd, 2048, 128, 384},     {"tf proj", Kind::fwd, 2048, 128, 128},
    {"tf fc", Kind::fwd, 2048, 128, 512},      {"tf out", Kind::fwd, 2048, 512, 128},
    {"tf head", Kind::fwd, 2048, 128, 65},     {"tf qkv", Kind::bwd, 2048, 384, 128},
    {"tf proj", Kind::bwd, 2048, 128, 128},    {"tf fc", Kind::bwd, 2048, 512, 128},
    {"tf out", Kind::bwd, 2048, 128, 512},     {"tf head", Kind::bwd, 2048, 65, 128},
    {"tf qkv", Kind::wgrad, 384, 2048, 128},   {"tf proj", Kind::wgrad, 128, 2048, 128},
    {"tf fc", Kind::wgrad, 512, 2048, 128},    {"tf out", Kind::wgrad, 128, 2048, 512},
    {"mlp hidden", Kind::fwd, 128, 256, 256},  {"mlp input", Kind::fwd, 128, 784, 256},
    {"mlp hidden", Kind::bwd, 128, 256, 256},  {"gru W_hh", Kind::rec, 32, 256, 768},
    {"gru W_hh^T", Kind::rec, 32, 768, 256},   {"gru W_ih", Kind::fwd, 2048, 64, 768},
    {"gru W_ih", Kind::bwd, 2048, 768, 64},    {"gru head", Kind::fwd, 2048, 256, 65},
    {"gru head", Kind::bwd, 2048, 65, 256},    {"gru W_hh", Kind::wgrad, 768, 2016, 256},
    {"gru W_ih", Kind::wgrad, 768, 2048, 64},
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::fwd: return "fwd";
    case Kind::bwd: return "bwd";
    case Kind::wgrad: return "wgrad";
    case Kind::rec: return "rec";
  }
  return "";
}

bool wall_clock = false;  // with threads: the CPU time of one thread says nothing

double thread_seconds() {
  timespec ts{};
  clock_gettime(wall_clock ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Seconds per call of f: calls repeated until `seconds` have passed.
double per_call(const std::function<void()>& f, double seconds) {
  f();  // warm the caches and the packing buffers
  std::size_t calls = 0;
  const double t0 = thread_seconds();
  double t = t0;
  do {
    f();
    ++calls;
    t = thread_seconds();
  } while (t - t0 < seconds);
  return (t - t0) / double(calls);
}

struct Operands {
  std::vector<float> A, W, C, bias, At;
  Panels<float> P;
};

void run_shape(const Shape& s, double seconds, int rounds) {
  const std::size_t M = s.M, K = s.K, N = s.N;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  Operands o;
  o.A.resize(M * K), o.W.resize(K * N), o.C.resize(M * N), o.bias.resize(N), o.At.resize(K * M);
  for (auto* v : {&o.A, &o.W, &o.C, &o.bias}) {
    for (float& x : *v) x = normal(rng);
  }
  // As the layer holds its operands: fwd W (N, K); bwd W (K, N); wgrad dy (K, M), x (K, N).
  std::function<void()> blas;
  switch (s.kind) {
    case Kind::fwd:
      blas = [&] {
        for (std::size_t i = 0; i < M; ++i) std::copy_n(o.bias.data(), N, o.C.data() + i * N);
        gemm(Trans::no, Trans::yes, M, N, K, 1.0f, o.A.data(), K, o.W.data(), K, 1.0f,
             o.C.data(), N);
      };
      break;
    case Kind::bwd:
    case Kind::rec:
      blas = [&] {
        gemm(Trans::no, Trans::no, M, N, K, 1.0f, o.A.data(), K, o.W.data(), N, 0.0f,
             o.C.data(), N);
      };
      break;
    case Kind::wgrad:
      blas = [&] {
        gemm(Trans::yes, Trans::no, M, N, K, 1.0f, o.At.data(), M, o.W.data(), N, 1.0f,
             o.C.data(), N);
      };
      break;
  }
  const auto pack = [&] {
    if (s.kind == Kind::fwd) {
      o.P.pack_transposed(o.W.data(), K, K, N);
    } else if (s.kind == Kind::wgrad) {
      for (std::size_t k = 0; k < K; ++k)  // dy (K, M) -> A (M, K)
        for (std::size_t i = 0; i < M; ++i) o.A[i * K + k] = o.At[k * M + i];
      o.P.pack(o.W.data(), N, K, N);
    } else {
      o.P.pack(o.W.data(), N, K, N);
    }
  };
  pack();
  const double flops = 2.0 * double(M) * double(N) * double(K);
  std::vector<const kernels::Table*> tables = kernels::runnable();
  std::vector<double> best_blas(1, 1e30), best_kernel(tables.size(), 1e30),
      best_panels(tables.size(), 1e30);
  for (int r = 0; r < rounds; ++r) {
    best_blas[0] = std::min(best_blas[0], per_call(blas, seconds));
    for (std::size_t t = 0; t < tables.size(); ++t) {
      const kernels::Table& k = *tables[t];
      const bool acc = s.kind == Kind::wgrad;
      const float* b = s.kind == Kind::fwd ? o.bias.data() : nullptr;
      best_kernel[t] = std::min(best_kernel[t], per_call([&] {
        gemm_panels(k, o.C.data(), N, o.A.data(), K, o.P, M, acc, b);
      }, seconds));
      if (s.kind != Kind::rec) {
        best_panels[t] = std::min(best_panels[t], per_call([&] {
          pack();
          gemm_panels(k, o.C.data(), N, o.A.data(), K, o.P, M, acc, b);
        }, seconds));
      }
    }
  }
  std::printf("%-11s %-5s %5zu %5zu %5zu | blas %6.1f", s.name, kind_name(s.kind), M, K, N,
              flops / best_blas[0] * 1e-9);
  for (std::size_t t = 0; t < tables.size(); ++t) {
    std::printf(" | %s kernel %6.1f", tables[t]->name, flops / best_kernel[t] * 1e-9);
    if (s.kind != Kind::rec) {
      std::printf(" +pack %6.1f (%.2fx blas)", flops / best_panels[t] * 1e-9,
                  best_blas[0] / best_panels[t]);
    } else {
      std::printf(" (%.2fx blas)", best_blas[0] / best_kernel[t]);
    }
  }
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 0.1;
  int rounds = 3, threads = 1;
  std::string filter;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: bench_gemm [--seconds S (0.1)] [--rounds R (3)] [--threads N (1)] "
                   "[--filter TEXT]\n");
      return 2;
    }
  }
  // Threads: the panel GEMM's pool and OpenBLAS's alike; with more than one, wall-clock time.
  set_threads(threads);
  set_blas_threads(threads);
  wall_clock = threads > 1;
  std::printf("OpenBLAS core %s; kernel sets:", blas_core());
  for (const kernels::Table* t : kernels::runnable()) {
    std::printf(" %s (%zu x %zu block)", kernels::describe(*t).c_str(), t->gemm_rows,
                t->gemm_cols);
  }
  std::printf("\nGFLOP/s, best of %d rounds of %.2f s\n", rounds, seconds);
  for (const Shape& s : kShapes) {
    const std::string label = std::string(s.name) + " " + kind_name(s.kind);
    if (!filter.empty() && label.find(filter) == std::string::npos) continue;
    run_shape(s, seconds, rounds);
  }
}
