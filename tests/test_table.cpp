// normlab table's arithmetic against hand-computed closed forms (the whole command against numpy
// is tests/python/test_table.py), and `normlab sweep --set`, which the experiments' --tiny mode
// uses to shrink every run of a sweep file.
#include <catch2/catch.hpp>

#include <cmath>

#include "sweep/sweep.hpp"
#include "sweep/table.hpp"

using namespace normlab;
using Catch::Matchers::Contains;

TEST_CASE("table: mean and sample standard deviation", "[table]") {
  // 1, 2, 3, 6: mean 3, squared deviations 4 + 1 + 0 + 9 = 14, sample variance 14/3.
  const tools::MeanStd m = tools::mean_std({1, 2, 3, 6});
  CHECK(m.n == 4);
  CHECK(m.mean == 3.0);
  CHECK(m.std == Approx(std::sqrt(14.0 / 3.0)).epsilon(1e-15));
  // Offsets far above the spread: two-pass keeps the std exact (E[x²] − E[x]² would lose it).
  const tools::MeanStd big = tools::mean_std({1e9 + 1, 1e9 + 2, 1e9 + 3});
  CHECK(big.std == Approx(1.0).epsilon(1e-12));
  const tools::MeanStd one = tools::mean_std({2.5});
  CHECK(one.mean == 2.5);
  CHECK(std::isnan(one.std));
  CHECK(std::isnan(tools::mean_std({}).mean));
}

TEST_CASE("table: steps to a target loss", "[table]") {
  const std::vector<double> eval_steps{49, 99, 149, 199}, loss{2.0, 1.6, 1.3, 1.35};
  CHECK(tools::steps_to_target(eval_steps, loss, 1.6).value() == 100);   // <=: equal counts
  CHECK(tools::steps_to_target(eval_steps, loss, 1.31).value() == 150);  // the first, not the last
  CHECK(tools::steps_to_target(eval_steps, loss, 2.5).value() == 50);
  CHECK_FALSE(tools::steps_to_target(eval_steps, loss, 1.2).has_value());
  CHECK_FALSE(tools::steps_to_target({}, {}, 1.0).has_value());
}

TEST_CASE("sweep --set: fixes a key for every run, refuses an axis key", "[table][sweep]") {
  const std::string text = R"(
[set]
train.steps = 7
[grid]
"model.norm" = ["rmsnorm", "layernorm"]
seed = [0, 1]
)";
  const sweep::Sweep plain = sweep::parse(text, "s.toml");
  const sweep::Sweep tiny = sweep::parse(text, "s.toml", {"train.steps=3", "model.width=16"});
  REQUIRE(tiny.runs.size() == 4);
  for (const auto& r : tiny.runs) {
    CHECK(r.config.integer("train.steps") == 3);  // after the file's [set]
    CHECK(r.config.integer("model.width") == 16);
  }
  CHECK(tiny.runs[1].config.string("model.norm") == "rmsnorm");
  CHECK(tiny.runs[1].config.integer("seed") == 1);
  CHECK(tiny.runs[0].id != plain.runs[0].id);  // another config, another hash
  CHECK_THROWS_WITH(sweep::parse(text, "s.toml", {"seed=3"}),
                    Contains("--set seed: the key is an axis"));
  CHECK_THROWS_WITH(sweep::parse(text, "s.toml", {"train.stpes=3"}),
                    Contains("s.toml: --set") && Contains("train.steps"));
}
