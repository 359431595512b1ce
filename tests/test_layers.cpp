// The nn layers and the MLP against central finite differences in double, with random upstream
// gradients: relative error ||a - b|| / ||a + b|| <= 1e-6 on input and parameter gradients.
#include <catch2/catch.hpp>

#include "compare.hpp"
#include "gradcheck.hpp"
#include "helpers.hpp"
#include "models/mlp.hpp"
#include "core/strings.hpp"
#include "nn/attention.hpp"
#include "nn/layers.hpp"

namespace {
using namespace normlab;
using test::dot;
using test::numeric_gradient;
}  // namespace

TEST_CASE("linear: dx, dW, db by finite differences", "[layers]") {
  const std::size_t B = 3, in = 5, out = 4;
  Rng rng(1);
  auto x = test::random_normal(B * in, rng), W = test::random_normal(out * in, rng);
  auto b = test::random_normal(out, rng), dy = test::random_normal(B * out, rng);
  auto loss = [&] {
    std::vector<double> y(B * out);
    nn::linear_forward(y.data(), x.data(), W.data(), b.data(), B, in, out);
    return dot(y, dy);
  };
  std::vector<double> dx(B * in), dW(out * in, 0.0), db(out, 0.0);
  nn::linear_backward(dx.data(), dW.data(), db.data(), dy.data(), x.data(), W.data(), B, in, out);
  CHECK_GRADIENT("dx", dx, numeric_gradient(loss, x));
  CHECK_GRADIENT("dW", dW, numeric_gradient(loss, W));
  CHECK_GRADIENT("db", db, numeric_gradient(loss, b));
}

TEST_CASE("activations by finite differences", "[layers]") {
  for (auto a : {nn::Activation::relu, nn::Activation::gelu, nn::Activation::tanh,
                 nn::Activation::sigmoid}) {
    Rng rng(2);
    auto x = test::random_normal(40, rng), dy = test::random_normal(40, rng);
    std::vector<double> y(40), dx(40);
    auto loss = [&] {
      nn::activation_forward(y.data(), x.data(), 40, a);
      return dot(y, dy);
    };
    loss();
    nn::activation_backward(dx.data(), dy.data(), x.data(), y.data(), 40, a);
    CHECK_GRADIENT(nn::to_string(a), dx, numeric_gradient(loss, x));
  }
  // GELU is torch's exact form x * Phi(x): GELU(1) = 0.8413447460685429
  double one = 1, y = 0;
  nn::activation_forward(&y, &one, 1, nn::Activation::gelu);
  CHECK(y == Approx(0.8413447460685429).epsilon(1e-15));
}

TEST_CASE("softmax cross-entropy: stable, and its gradient", "[layers]") {
  const std::size_t B = 3, V = 6;
  Rng rng(3);
  auto logits = test::random_normal(B * V, rng, 0, 3);
  std::vector<std::int32_t> targets{0, 5, 2};
  std::vector<double> probs(B * V), dlogits(B * V);
  auto loss = [&] { return nn::cross_entropy_forward(probs.data(), logits.data(), targets.data(), B, V); };
  loss();
  nn::cross_entropy_backward(dlogits.data(), probs.data(), targets.data(), B, V);
  CHECK_GRADIENT("dlogits", dlogits, numeric_gradient(loss, logits));
  // uniform logits: loss = log V; huge logits do not overflow
  std::vector<double> flat(V, 1e4);
  std::int32_t t = 1;
  CHECK(nn::cross_entropy_forward(probs.data(), flat.data(), &t, 1, V) == Approx(std::log(6.0)));
  flat[1] = 1e4 + 50;
  CHECK(nn::cross_entropy_forward(probs.data(), flat.data(), &t, 1, V) < 1e-20);
  std::int32_t bad = 6;
  CHECK_THROWS_WITH(nn::cross_entropy_forward(probs.data(), flat.data(), &bad, 1, V),
                    Catch::Matchers::Contains("target 6 at row 0 is outside [0, 6)"));
}

TEST_CASE("embedding: scatter-add gradient", "[layers]") {
  const std::size_t V = 5, D = 3, N = 4;
  Rng rng(4);
  auto E = test::random_normal(V * D, rng), dy = test::random_normal(N * D, rng);
  std::vector<std::int32_t> tokens{1, 3, 1, 0};
  auto loss = [&] {
    std::vector<double> y(N * D);
    nn::embedding_forward(y.data(), tokens.data(), E.data(), N, V, D);
    return dot(y, dy);
  };
  std::vector<double> dE(V * D, 0.0);
  nn::embedding_backward(dE.data(), dy.data(), tokens.data(), N, D);
  CHECK_GRADIENT("dE", dE, numeric_gradient(loss, E));
  std::vector<std::int32_t> bad{7};
  std::vector<double> y(D);
  CHECK_THROWS_WITH(nn::embedding_forward(y.data(), bad.data(), E.data(), 1, V, D),
                    Catch::Matchers::Contains("token 7"));
}

TEST_CASE("dropout: kept units scaled by 1/(1-p), gradient through the same mask", "[layers]") {
  Rng rng(5);
  std::vector<double> x(10000, 1.0), y(10000), mask, dx(10000);
  nn::dropout_forward(y.data(), mask, x.data(), x.size(), 0.25, rng);
  double kept = 0;
  for (double m : mask) {
    CHECK((m == 0.0 || m == Approx(1 / 0.75)));
    kept += m != 0;
  }
  CHECK(kept / 10000 == Approx(0.75).margin(0.02));  // binomial sd 0.0043
  nn::dropout_backward(dx.data(), x.data(), mask, x.size());
  CHECK(dx == mask);
}

TEST_CASE("MLP: every parameter gradient by finite differences, across normalizers",
          "[layers][mlp]") {
  const std::vector<std::vector<std::string>> stacks = {
      {"rmsnorm"}, {"layernorm"}, {"none"}, {"pcnorm"}, {"layernorm", "rmsnorm"}};
  for (const auto& norms : stacks) {
    for (auto act : {nn::Activation::relu, nn::Activation::gelu, nn::Activation::tanh}) {
      models::MlpConfig c;
      c.input = 5;
      c.width = 6;
      c.depth = 2;
      c.classes = 3;
      c.norms = norms;
      c.norm_options = norms[0] == "pcnorm" ? norm::NormOptions{{"learn_lambda", "true"}}
                                            : norm::NormOptions{};
      c.activation = act;
      models::Mlp<double> mlp(c);
      Rng rng(6);
      mlp.params().initialize(0.0, 0.5, rng);
      for (auto& v : mlp.params().values()) v += 0.05 * std::normal_distribution<double>()(rng);
      const std::size_t B = 4;
      auto x = test::random_normal(B * c.input, rng, 0.5);
      std::vector<std::int32_t> labels{0, 2, 1, 2};
      auto loss = [&] { return mlp.forward(x.data(), labels.data(), B, false, nullptr); };
      loss();
      mlp.params().zero_grads();
      mlp.backward();
      std::vector<double> analytic = mlp.params().grads();
      INFO(join(norms, "+") << " " << nn::to_string(act));
      CHECK_GRADIENT("parameters", analytic, numeric_gradient(loss, mlp.params().values()));
    }
  }
}

TEST_CASE("MLP with dropout: gradients through the kept units, by finite differences",
          "[layers][mlp]") {
  models::MlpConfig c;
  c.input = 5;
  c.width = 8;
  c.depth = 2;
  c.classes = 3;
  c.activation = nn::Activation::tanh;  // its backward reads the activation's output
  c.dropout = 0.3;
  models::Mlp<double> mlp(c);
  Rng rng(8);
  mlp.params().initialize(0.0, 0.5, rng);
  const std::size_t B = 4;
  auto x = test::random_normal(B * c.input, rng, 0.5);
  std::vector<std::int32_t> labels{0, 2, 1, 2};
  auto loss = [&] {
    Rng masks(7);  // the same dropout masks on every evaluation
    return mlp.forward(x.data(), labels.data(), B, true, &masks);
  };
  const double with_dropout = loss();
  mlp.params().zero_grads();
  mlp.backward();
  std::vector<double> analytic = mlp.params().grads();
  CHECK_GRADIENT("parameters", analytic, numeric_gradient(loss, mlp.params().values()));
  CHECK(with_dropout != mlp.forward(x.data(), labels.data(), B, false, nullptr));  // it did drop
}

TEST_CASE("attention: causal (the future changes nothing before it), gradients by finite "
          "differences", "[layers][attention]") {
  const std::size_t B = 2, len = 5, heads = 2, hd = 3, d = heads * hd, n = B * len * d;
  Rng rng(9);
  auto q = test::random_normal(n, rng), k = test::random_normal(n, rng);
  auto v = test::random_normal(n, rng), dout = test::random_normal(n, rng);
  std::vector<double> out(n), probs(B * heads * len * len);
  auto forward = [&](std::vector<double>& o, const std::vector<double>& q_,
                     const std::vector<double>& k_, const std::vector<double>& v_) {
    nn::attention_forward<double>({o.data(), d}, probs.data(), {q_.data(), d}, {k_.data(), d},
                                  {v_.data(), d}, B, len, heads, hd);
  };
  forward(out, q, k, v);

  // Change q, k, v at the last position of sequence 0: rows before it must not move at all.
  auto k2 = k, v2 = v, q2 = q, out2 = out;
  const std::size_t last = (len - 1) * d;
  for (std::size_t j = 0; j < d; ++j) {
    k2[last + j] += 1.0;
    v2[last + j] -= 2.0;
    q2[last + j] *= 3.0;
  }
  forward(out2, q2, k2, v2);
  CHECK(std::equal(out.begin(), out.begin() + last, out2.begin()));
  CHECK(!std::equal(out.begin() + last, out.begin() + last + d, out2.begin() + last));

  auto loss = [&] {
    forward(out, q, k, v);
    return dot(out, dout);
  };
  loss();
  std::vector<double> dq(n), dk(n), dv(n);
  nn::attention_backward<double>({dq.data(), d}, {dk.data(), d}, {dv.data(), d}, {dout.data(), d},
                                 probs.data(), {q.data(), d}, {k.data(), d}, {v.data(), d}, B, len,
                                 heads, hd);
  CHECK_GRADIENT("dq", dq, numeric_gradient(loss, q));
  CHECK_GRADIENT("dk", dk, numeric_gradient(loss, k));
  CHECK_GRADIENT("dv", dv, numeric_gradient(loss, v));
}

TEMPLATE_TEST_CASE("attention: q, k, v as column blocks of one (N, 3d) matrix give what separate "
                   "contiguous matrices give", "[layers][attention]", float, double) {
  using T = TestType;
  const std::size_t B = 3, len = 7, heads = 2, hd = 4, d = heads * hd, N = B * len, n = N * d;
  Rng rng(21);
  std::vector<T> qkv(N * 3 * d), dout(n);
  for (auto& x : qkv) x = T(std::normal_distribution<double>()(rng));
  for (auto& x : dout) x = T(std::normal_distribution<double>()(rng));
  std::vector<T> q(n), k(n), v(n);  // the column blocks, copied out
  for (std::size_t i = 0; i < N; ++i) {
    std::copy_n(qkv.data() + i * 3 * d, d, q.data() + i * d);
    std::copy_n(qkv.data() + i * 3 * d + d, d, k.data() + i * d);
    std::copy_n(qkv.data() + i * 3 * d + 2 * d, d, v.data() + i * d);
  }
  std::vector<T> out(n), probs(B * heads * len * len), out_s(n), probs_s(probs.size());
  nn::attention_forward<T>({out.data(), d}, probs.data(), {q.data(), d}, {k.data(), d},
                           {v.data(), d}, B, len, heads, hd);
  nn::attention_forward<T>({out_s.data(), d}, probs_s.data(), {qkv.data(), 3 * d},
                           {qkv.data() + d, 3 * d}, {qkv.data() + 2 * d, 3 * d}, B, len, heads, hd);
  // The same GEMMs and softmax over the same values: equal up to the BLAS kernel's blocking,
  // which may differ with the stride (a few ulps).
  const test::Tolerance tol = std::is_same_v<T, float> ? test::Tolerance{1e-5, 1e-6}
                                                       : test::Tolerance{1e-13, 1e-14};
  NORMLAB_CHECK_CLOSE("probs_s", probs_s.data(), probs_s.size(), probs.data(), probs.size(), tol);
  NORMLAB_CHECK_CLOSE("out_s", out_s.data(), out_s.size(), out.data(), out.size(), tol);

  std::vector<T> dq(n), dk(n), dv(n), dqkv(N * 3 * d);
  nn::attention_backward<T>({dq.data(), d}, {dk.data(), d}, {dv.data(), d}, {dout.data(), d},
                            probs.data(), {q.data(), d}, {k.data(), d}, {v.data(), d}, B, len,
                            heads, hd);
  nn::attention_backward<T>({dqkv.data(), 3 * d}, {dqkv.data() + d, 3 * d},
                            {dqkv.data() + 2 * d, 3 * d}, {dout.data(), d}, probs.data(),
                            {qkv.data(), 3 * d}, {qkv.data() + d, 3 * d},
                            {qkv.data() + 2 * d, 3 * d}, B, len, heads, hd);
  std::vector<T> dq_s(n), dk_s(n), dv_s(n);
  for (std::size_t i = 0; i < N; ++i) {
    std::copy_n(dqkv.data() + i * 3 * d, d, dq_s.data() + i * d);
    std::copy_n(dqkv.data() + i * 3 * d + d, d, dk_s.data() + i * d);
    std::copy_n(dqkv.data() + i * 3 * d + 2 * d, d, dv_s.data() + i * d);
  }
  NORMLAB_CHECK_CLOSE("dq_s", dq_s.data(), dq_s.size(), dq.data(), dq.size(), tol);
  NORMLAB_CHECK_CLOSE("dk_s", dk_s.data(), dk_s.size(), dk.data(), dk.size(), tol);
  NORMLAB_CHECK_CLOSE("dv_s", dv_s.data(), dv_s.size(), dv.data(), dv.size(), tol);
}

