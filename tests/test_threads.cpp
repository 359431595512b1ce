// Determinism with threads (core/parallel.hpp, the config's `threads` key). The kernels split
// across threads write each output from its own inputs, and reduce over rows in blocks fixed by
// the shapes alone (block_rows), never by the thread count; so a kernel gives the same bits on 1
// and 2 threads, and so does a training run as long as OpenBLAS, which the trainer gives the same
// thread count, does (it splits a product's rows and columns among its threads, never the sum
// over k). Checked here: the kernels on shapes with several blocks and a partial last one, and
// Transformer and GRU runs of a few steps, repeated on 2 threads and against 1.
#include <catch2/catch.hpp>

#include <bit>
#include <cstdint>
#include <functional>

#include "core/gemm.hpp"
#include "core/parallel.hpp"
#include "helpers.hpp"
#include "io/config.hpp"
#include "io/hdf5.hpp"
#include "io/run_file.hpp"
#include "nn/attention.hpp"
#include "nn/layers.hpp"
#include "train/trainer.hpp"

using namespace normlab;

namespace {

// Restores the pool and OpenBLAS thread counts a test found (the pool's; OpenBLAS's was 1).
struct KeepThreads {
  int before = threads();
  ~KeepThreads() {
    set_threads(before);
    set_blas_threads(1);
  }
};

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::bit_cast<std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>(a[i]) !=
        std::bit_cast<std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>(b[i])) {
      return false;
    }
  }
  return true;
}

template <class T>
std::vector<T> normal(std::size_t n, Rng& rng, double mean = 0) {
  std::vector<T> v(n);
  std::normal_distribution<double> d(mean, 1);
  for (auto& x : v) x = T(d(rng));
  return v;
}

// What `compute` returns on 1 thread and on 2: its outputs, in the order it lists them.
template <class T>
std::pair<std::vector<std::vector<T>>, std::vector<std::vector<T>>> on_1_and_2(
    const std::function<std::vector<std::vector<T>>()>& compute) {
  const KeepThreads keep;
  set_threads(1);
  auto one = compute();
  set_threads(2);
  auto two = compute();
  return {one, two};
}

}  // namespace

TEMPLATE_TEST_CASE("determinism: normalizers give the same bits on 1 and 2 threads",
                   "[threads]", float, double) {
  using T = TestType;
  // D = 64: blocks of 128 rows; B = 300 is two blocks and a partial third. D = 5000: one row a
  // block (a row of its own per range). B = 7: one block, the plain loop.
  for (const std::string kind : {"layernorm", "rmsnorm", "prmsnorm", "scalenorm", "pcnorm"}) {
    for (auto [B, D] : {std::pair<std::size_t, std::size_t>{300, 64}, {3, 5000}, {7, 64}}) {
      INFO(kind << ", B = " << B << ", D = " << D);
      norm::NormConfig config = norm::kind_info(kind).defaults;
      if (kind == "pcnorm") config.learn_lambda = true;
      const auto n = norm::kind_info(kind).make(config);
      Rng rng(B + D);
      const std::vector<T> x = normal<T>(B * D, rng, 3), dy = normal<T>(B * D, rng);
      const auto p64 = test::random_params(*n, D, rng);
      const std::vector<T> params(p64.begin(), p64.end());
      auto [one, two] = on_1_and_2<T>([&] {
        const test::Pass<T> pass = test::run(*n, x, params, B, D, &dy);
        return std::vector<std::vector<T>>{pass.y, pass.dx, pass.grads};
      });
      CHECK(same_bits(one[0], two[0]));
      CHECK(same_bits(one[1], two[1]));
      CHECK(same_bits(one[2], two[2]));
    }
  }
}

TEST_CASE("determinism: attention, cross-entropy and embedding give the same bits on 1 and 2 "
          "threads", "[threads]") {
  using T = float;
  const std::size_t B = 3, len = 9, heads = 3, hd = 4, d = heads * hd, N = B * len, n = N * d;
  Rng rng(5);
  const auto q = normal<T>(n, rng), k = normal<T>(n, rng), v = normal<T>(n, rng),
             dout = normal<T>(n, rng);
  auto [one, two] = on_1_and_2<T>([&] {
    std::vector<T> out(n), probs(B * heads * len * len), dq(n), dk(n), dv(n);
    nn::attention_forward<T>({out.data(), d}, probs.data(), {q.data(), d}, {k.data(), d},
                             {v.data(), d}, B, len, heads, hd);
    nn::attention_backward<T>({dq.data(), d}, {dk.data(), d}, {dv.data(), d}, {dout.data(), d},
                              probs.data(), {q.data(), d}, {k.data(), d}, {v.data(), d}, B, len,
                              heads, hd);
    return std::vector<std::vector<T>>{out, probs, dq, dk, dv};
  });
  for (std::size_t i = 0; i < one.size(); ++i) CHECK(same_bits(one[i], two[i]));

  // 1000 rows of V = 17: blocks of 512 rows, two of them; some targets ignored. Tokens repeat,
  // so rows of the embedding's gradient collect several rows of dy.
  const std::size_t rows = 1000, V = 17, D = 24;
  std::vector<std::int32_t> targets(rows), tokens(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    tokens[i] = std::int32_t(i * 7 % V);
    targets[i] = i % 11 == 0 ? kIgnore : tokens[i];
  }
  const auto logits = normal<T>(rows * V, rng), E = normal<T>(V * D, rng),
             dy = normal<T>(rows * D, rng);
  std::vector<double> losses;
  auto [one_l, two_l] = on_1_and_2<T>([&] {
    std::vector<T> probs(rows * V), dlogits(rows * V), y(rows * D), dE(V * D, T(0.5));
    losses.push_back(nn::cross_entropy_forward(probs.data(), logits.data(), targets.data(), rows, V));
    nn::cross_entropy_backward(dlogits.data(), probs.data(), targets.data(), rows, V);
    nn::embedding_forward(y.data(), tokens.data(), E.data(), rows, V, D);
    nn::embedding_backward(dE.data(), dy.data(), tokens.data(), rows, D);
    return std::vector<std::vector<T>>{probs, dlogits, y, dE};
  });
  REQUIRE(losses.size() == 2);
  CHECK(std::bit_cast<std::uint64_t>(losses[0]) == std::bit_cast<std::uint64_t>(losses[1]));
  for (std::size_t i = 0; i < one_l.size(); ++i) CHECK(same_bits(one_l[i], two_l[i]));
}

namespace {

// A small run of `family` on `threads` threads; its losses, gradient norms and final parameters
// (the run file's checkpoint group), all read as double (exact for float32).
std::vector<std::vector<double>> run_on(const std::string& family, int threads,
                                        const test::TempDir& dir, const std::string& name,
                                        int blas_threads = 0) {
  io::Config c;
  for (const char* s : {"model.width=64", "model.depth=2", "model.context=32", "train.batch=32",
                        "optim.lr=0.01", "data.val_size=64", "data.chars=50000",
                        "train.steps=6", "train.eval_every=6", "model.activation=gelu"}) {
    c.set(s);
  }
  c.set("model.family=" + family);
  if (family == "transformer") {  // every site a normalizer can take, QK-norm included
    c.set("model.placement=sandwich");
    c.set("model.qk_norm=true");
  } else {  // a step's gates in two ranges (gru_lm.cpp's gate_rows: 32 rows of 128)
    c.set("model.width=128");
    c.set("train.batch=64");
    c.set("model.gru_norm=both");
  }
  c.set("threads=" + std::to_string(threads));
  c.set("blas_threads=" + std::to_string(blas_threads));
  c.set("name=" + name);
  std::ostringstream log;
  const auto r = train::run(c, dir.path.string(), log);
  INFO(log.str());
  REQUIRE(r.status == "completed");
  h5::File f = io::open_run(r.path);
  std::vector<std::vector<double>> out;
  for (const std::string name : {"train_loss", "grad_norm"}) {
    const auto v = f.read<double>(name);
    out.emplace_back(v.begin(), v.end());
  }
  for (const auto& param : f.members("checkpoint")) {
    const auto v = f.read<double>("checkpoint/" + param);
    out.emplace_back(v.begin(), v.end());
  }
  return out;
}

}  // namespace

// The pool's split is normlab's, and changes no bit: 1 and 2 pool threads give the same run with
// OpenBLAS held at 1 thread (blas_threads). OpenBLAS's own split is not: with its Haswell kernels
// (OPENBLAS_CORETYPE=Haswell, what AVX2-only CPUs run) 1 and 2 OpenBLAS threads differ in the
// last bits of some products, with its Cooperlake/SkylakeX kernels they do not. So the test holds
// OpenBLAS fixed for the comparison across thread counts, and lets it thread for the repeat.
TEST_CASE("determinism: Transformer and GRU runs on 2 threads repeat bit for bit; the pool's "
          "threads change no bit", "[threads][train]") {
  const KeepThreads keep;
  for (const std::string family : {"transformer", "gru"}) {
    INFO(family);
    test::TempDir dir;
    const auto two = run_on(family, 2, dir, "two");
    const auto again = run_on(family, 2, dir, "again");
    const auto pool_two = run_on(family, 2, dir, "pool-two", 1);
    const auto pool_one = run_on(family, 1, dir, "pool-one", 1);
    REQUIRE(two.size() > 2);
    REQUIRE(two.size() == again.size());
    REQUIRE(pool_two.size() == pool_one.size());
    for (std::size_t i = 0; i < two.size(); ++i) {
      INFO("dataset " << i << " (0: train_loss, 1: grad_norm, then the parameters)");
      CHECK(same_bits(two[i], again[i]));
      CHECK(same_bits(pool_two[i], pool_one[i]));
    }
  }
}
