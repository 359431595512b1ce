// `normlab bench train`'s parts that do not time anything: the thread-count list, the JSON line
// protocol with the torch peers, and the nanogpt workload (its parameter count is the one its
// torch twin in scripts/bench_train_torch.py prints, and it steps with nanoGPT's AdamW).
#include <catch2/catch.hpp>

#include <string>

#include "bench/torch_peer.hpp"
#include "bench/train.hpp"
#include "bench/workloads.hpp"
#include "run_cli.hpp"

namespace {
using namespace normlab;
using normlab::test::run_cli;
using Catch::Matchers::Contains;

TEST_CASE("bench train --threads takes a list of positive counts", "[bench]") {
  CHECK(tools::parse_thread_counts("1") == std::vector<int>{1});
  CHECK(tools::parse_thread_counts("1,2") == std::vector<int>{1, 2});
  CHECK(tools::parse_thread_counts(" 2 , 1") == std::vector<int>{2, 1});  // the order is kept
  for (const char* bad : {"", "0", "-1", "1,,2", "two", "1.5", "1,1", "2x"}) {
    INFO(bad);
    CHECK_THROWS_WITH(tools::parse_thread_counts(bad), Contains("--threads"));
  }
}

TEST_CASE("the torch peers' JSON lines are read back", "[bench]") {
  tools::BenchTrainOptions o;
  o.shapes = tools::BenchTrainShapes::quick();
  tools::PeerResult r;
  const std::string setup = R"({"torch": "2.5.1", "threads": 2, "openblas_core": "", "blas": "MKL",)"
                            R"( "rmsnorm": "torch.nn.RMSNorm", "shapes": )" + o.shapes.to_json() + "}";
  tools::read_peer_line(r, setup, o, 2);
  CHECK(r.torch_version == "2.5.1");
  CHECK(r.blas == "MKL");
  CHECK(r.rmsnorm == "torch.nn.RMSNorm");
  tools::read_peer_line(r, R"({"workload": "nanogpt", "norm": "layernorm", "params": 818241,)"
                           R"( "median_ms": 12.5, "min_ms": 11.0, "steps": 3})" "\n", o, 2);
  const tools::Key key{"nanogpt", "layernorm"};
  REQUIRE(r.figures.count(key) == 1);
  CHECK(r.figures[key].median_ms == 12.5);
  CHECK(r.figures[key].min_ms == 11.0);
  CHECK(r.param_counts[key] == 818241);
  tools::read_peer_line(r, R"({"workload": "gru", "norm": "none", "params": 5, "error": "no"})", o, 2);
  CHECK(r.errors[{"gru", "none"}] == "no");
  CHECK(r.figures.count({"gru", "none"}) == 0);
  tools::read_peer_line(r, "W1207 a warning the peer printed\n", o, 2);  // not JSON: ignored
  tools::read_peer_line(r, "{not json", o, 2);
  CHECK(r.figures.size() == 1);
  // The peer must have run what it was asked to.
  CHECK_THROWS_WITH(tools::read_peer_line(r, setup, o, 1), Contains("threads"));
  const std::string other_shapes =
      R"({"torch": "2.5.1", "threads": 2, "shapes": )" + tools::BenchTrainShapes().to_json() + "}";
  CHECK_THROWS_WITH(tools::read_peer_line(r, other_shapes, o, 2), Contains("other shapes"));
}

TEST_CASE("the nanogpt workload is nanoGPT's CPU configuration", "[bench]") {
  const tools::BenchTrainShapes s;
  CHECK(s.ng_d == 128);
  CHECK(s.ng_layers == 4);
  CHECK(s.ng_heads == 4);
  CHECK(s.ng_len == 64);
  CHECK(s.ng_batch == 12);
  CHECK(s.ng_vocab == 65);
  // V d + T d + L (2 LayerNorms 2d, qkv 3d^2 + 3d, proj d^2 + d, fc 4d^2 + 4d, proj 4d^2 + d)
  // + ln_f 2d + head V d + V, with d 128, L 4, T 64, V 65: what the torch twin (nanoGPT's model
  // with bias=True, untied, a head bias) prints for layernorm. RMSNorm has no bias (-2d per norm
  // site, 9 sites), none has no norm at all.
  Rng rng(1);
  CHECK(tools::make_trainee("nanogpt", s, "layernorm", rng).params->size() == 818241);
  CHECK(tools::make_trainee("nanogpt", s, "rmsnorm", rng).params->size() == 818241 - 9 * 128);
  CHECK(tools::make_trainee("nanogpt", s, "none", rng).params->size() == 818241 - 9 * 256);
  const tools::Trainee t = tools::make_trainee("nanogpt", tools::BenchTrainShapes::quick(),
                                               "layernorm", rng);
  CHECK(t.optim.name == "adamw");
  CHECK(t.optim.lr == 1e-3);
  CHECK(t.optim.beta1 == 0.9);
  CHECK(t.optim.beta2 == 0.99);
  CHECK(t.optim.weight_decay == 0.1);
  CHECK(tools::make_trainee("transformer", tools::BenchTrainShapes::quick(), "layernorm", rng)
            .optim.name == "adam");
}

TEST_CASE("bench train refuses bad lists before measuring", "[bench]") {
  auto r = run_cli({"bench", "train", "--quick", "--threads", "1,0", "--torch", "off"});
  CHECK(r.status != 0);
  CHECK_THAT(r.err, Contains("--threads"));
  r = run_cli({"bench", "train", "--quick", "--python", "/usr/bin/python3,", "--torch", "off"});
  CHECK(r.status != 0);
  CHECK_THAT(r.err, Contains("--python"));
  r = run_cli({"bench", "train", "--quick", "--workloads", "nanogtp", "--torch", "off"});
  CHECK(r.status != 0);
  CHECK_THAT(r.err, Contains("nanogpt"));  // did you mean
  r = run_cli({"bench", "train", "--help"});
  CHECK_THAT(r.out, Contains("nanogpt") && Contains("--compile") && Contains("--python"));
}

}  // namespace
