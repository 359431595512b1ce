// normlab table's arithmetic and statistics against hand-computed closed forms (the whole command
// against numpy and scipy is tests/python/test_table.py and test_table_stats.py), and `normlab
// sweep --set`, which the experiments' --tiny mode uses to shrink every run of a sweep file.
// Student's t has closed forms at 1 and 2 degrees of freedom, so the tests below are built to land
// there: df = 1 is the Cauchy law, F(t) = 1/2 + atan(t)/π; df = 2 has F(t) = 1/2 + t/(2√(2 + t²)).
#include <catch2/catch.hpp>

#include <cmath>

#include "sweep/sweep.hpp"
#include "sweep/table.hpp"

using namespace normlab;
using Catch::Matchers::Contains;

TEST_CASE("table: mean and sample standard deviation", "[table]") {
  // 1, 2, 3, 6: mean 3, squared deviations 4 + 1 + 0 + 9 = 14, sample variance 14/3.
  const tools::Summary m = tools::summarize({1, 2, 3, 6});
  CHECK(m.n == 4);
  CHECK(m.mean == 3.0);
  CHECK(m.std == Approx(std::sqrt(14.0 / 3.0)).epsilon(1e-15));
  // Offsets far above the spread: two-pass keeps the std exact (E[x²] − E[x]² would lose it).
  const tools::Summary big = tools::summarize({1e9 + 1, 1e9 + 2, 1e9 + 3});
  CHECK(big.std == Approx(1.0).epsilon(1e-12));
  const tools::Summary one = tools::summarize({2.5});
  CHECK(one.mean == 2.5);
  CHECK(std::isnan(one.std));
  CHECK(std::isnan(one.lo));
  CHECK(std::isnan(tools::summarize({}).mean));
}

namespace {

const double kPi = std::acos(-1.0);
// Boost's t functions are accurate to a few ulp; the closed forms below lose no more than that.
constexpr double kRel = 1e-13;

double cauchy_cdf(double t) { return 0.5 + std::atan(t) / kPi; }
double cauchy_quantile(double q) { return std::tan(kPi * (q - 0.5)); }
double t2_quantile(double q) { return (2 * q - 1) * std::sqrt(2 / (4 * q * (1 - q))); }
// The two-sided p-values without the cancellation of 1 − F(|t|): π/2 − atan(t) = atan(1/t), and
// 1 − t/r = 2/(r(r + t)) for r = √(2 + t²).
double cauchy_p(double t) { return 2 * std::atan(1 / std::fabs(t)) / kPi; }
double t2_p(double t) {
  const double r = std::sqrt(2 + t * t);
  return 2 / (r * (r + std::fabs(t)));
}

std::vector<tools::Observation> seeds(std::vector<double> values, std::vector<std::string> keys) {
  std::vector<tools::Observation> obs;
  for (std::size_t i = 0; i < values.size(); ++i) obs.push_back({values[i], keys[i]});
  return obs;
}

}  // namespace

TEST_CASE("table: Student's t quantiles and p-values at 1 and 2 degrees of freedom", "[table]") {
  for (double q : {0.6, 0.9, 0.95, 0.975, 0.999}) {
    CHECK(tools::t_quantile(q, 1) == Approx(cauchy_quantile(q)).epsilon(kRel));
    CHECK(tools::t_quantile(q, 2) == Approx(t2_quantile(q)).epsilon(kRel));
    CHECK(tools::t_quantile(1 - q, 2) == Approx(-t2_quantile(q)).epsilon(kRel));
  }
  // Up to a far tail, where 1 − F(t) computed as such would have lost its digits.
  for (double t : {0.0, 0.5, -2.0, 12.0, 1e4, 1e8}) {
    CHECK(tools::t_two_sided_p(t, 1) == Approx(cauchy_p(t)).epsilon(kRel));
    CHECK(tools::t_two_sided_p(t, 2) == Approx(t2_p(t)).epsilon(kRel));
  }
  CHECK_THROWS(tools::t_quantile(0.5, 0));
  CHECK_THROWS(tools::t_quantile(1.0, 3));
}

TEST_CASE("table: the mean's 95% interval", "[table]") {
  // Two values, df = 1: 3 ± tan(0.475π) · s/√2 with s = √2 (values 2 and 4).
  const tools::Summary s = tools::summarize({2, 4});
  CHECK(s.lo == Approx(3 - cauchy_quantile(0.975)).epsilon(kRel));
  CHECK(s.hi == Approx(3 + cauchy_quantile(0.975)).epsilon(kRel));
  // Three values, df = 2: 1, 2, 6 have mean 3 and s² = (4 + 1 + 9)/2 = 7.
  const tools::Summary three = tools::summarize({1, 2, 6});
  CHECK(three.hi - three.mean == Approx(t2_quantile(0.975) * std::sqrt(7.0 / 3)).epsilon(kRel));
  const tools::Summary same = tools::summarize({1.5, 1.5, 1.5});
  CHECK(same.lo == 1.5);
  CHECK(same.hi == 1.5);
}

TEST_CASE("table: paired and Welch differences", "[table]") {
  // Paired, n = 2: d = (2, 3), mean 2.5, s_d = √0.5, se = 0.5, t = 5, df = 1.
  tools::Difference p = tools::paired_difference({3, 5}, {1, 2});
  CHECK(p.test == tools::TestKind::kPaired);
  CHECK(p.diff == 2.5);
  CHECK(p.se == Approx(0.5).epsilon(kRel));
  CHECK(p.df == 1);
  CHECK(p.t == Approx(5).epsilon(kRel));
  CHECK(p.p == Approx(cauchy_p(5)).epsilon(kRel));
  CHECK(p.lo == Approx(2.5 - 0.5 * cauchy_quantile(0.975)).epsilon(kRel));
  // Welch with equal sizes and variances: df = 2(n − 1). x = (0, 2), y = (3, 5): se² = 1 + 1,
  // df = 2² / (1 + 1) = 2, t = −3/√2.
  tools::Difference w = tools::welch_difference({0, 2}, {3, 5});
  CHECK(w.test == tools::TestKind::kWelch);
  CHECK(w.diff == -3);
  CHECK(w.df == Approx(2).epsilon(kRel));
  CHECK(w.p == Approx(t2_p(3 / std::sqrt(2.0))).epsilon(kRel));
  CHECK(w.hi == Approx(-3 + std::sqrt(2.0) * t2_quantile(0.975)).epsilon(kRel));
  // Unequal: x = (1, 3), s²/n = 1; y = (0, 3, 6), s²/n = 3: df = 16 / (1/1 + 9/2) = 32/11.
  w = tools::welch_difference({1, 3}, {0, 3, 6});
  CHECK(w.df == Approx(32.0 / 11).epsilon(kRel));
  CHECK(w.se == Approx(2).epsilon(kRel));
  // One run on a side: the difference, no test.
  w = tools::welch_difference({1}, {0, 3, 6});
  CHECK(w.diff == -2);
  CHECK(std::isnan(w.p));
  CHECK(std::isnan(w.lo));
  // Identical differences: se = 0, t would be infinite; no test rather than p = 0.
  p = tools::paired_difference({2, 3, 4}, {1, 2, 3});
  CHECK(p.diff == 1);
  CHECK(std::isnan(p.p));
  CHECK_THROWS(tools::paired_difference({1, 2}, {1, 2, 3}));
}

TEST_CASE("table: rows are paired by seed only when their seeds match", "[table]") {
  const auto base = seeds({1, 2, 4}, {"s0", "s1", "s2"});
  // The same seeds in another order: paired, matched by key (d = 3 − 1, 4 − 2, 7 − 4).
  tools::Difference d = tools::compare_rows(seeds({4, 7, 3}, {"s1", "s2", "s0"}), base);
  CHECK(d.test == tools::TestKind::kPaired);
  CHECK(d.diff == Approx(7.0 / 3).epsilon(kRel));
  CHECK(d.se == Approx(std::sqrt(1.0 / 3 / 3)).epsilon(kRel));  // s_d² = (1/9 + 1/9 + 4/9)/2
  CHECK(d.df == 2);
  // A seed missing (or a NaN value, left out): Welch.
  d = tools::compare_rows(seeds({4, 6}, {"s1", "s2"}), base);
  CHECK(d.test == tools::TestKind::kWelch);
  d = tools::compare_rows(seeds({4, 6, std::nan("")}, {"s1", "s2", "s0"}), base);
  CHECK(d.test == tools::TestKind::kWelch);
  CHECK(d.diff == Approx(5 - 7.0 / 3).epsilon(kRel));
  // A seed twice (another axis left out of the rows, unpaired): Welch.
  d = tools::compare_rows(seeds({4, 6, 3}, {"s1", "s1", "s0"}), seeds({1, 2, 4}, {"s1", "s1", "s0"}));
  CHECK(d.test == tools::TestKind::kWelch);
  // One seed each: nothing to pair with n − 1 = 0.
  d = tools::compare_rows(seeds({4}, {"s0"}), seeds({3}, {"s0"}));
  CHECK(d.test == tools::TestKind::kWelch);
  CHECK(d.diff == 1);
}

TEST_CASE("table: equivalence by two one-sided tests", "[table]") {
  // d = (−1, 1): Δ = 0, se = 1, df = 1; margin 1: each one-sided p is P(T ≥ 1) = 1/4.
  tools::Difference d = tools::paired_difference({0, 2}, {1, 1});
  tools::add_equivalence(d, 1.0);
  CHECK(d.p_tost == Approx(0.25).epsilon(kRel));
  CHECK(d.hi_tost == Approx(cauchy_quantile(0.95)).epsilon(kRel));
  CHECK(d.lo_tost == Approx(-cauchy_quantile(0.95)).epsilon(kRel));
  // Shifted: Δ = 0.5 gives P(T ≥ 1.5) and P(T ≤ −0.5); the larger, 1/2 − atan(0.5)/π, wins.
  d = tools::paired_difference({0.5, 2.5}, {1, 1});
  tools::add_equivalence(d, 1.0);
  CHECK(d.p_tost == Approx(cauchy_cdf(-0.5)).epsilon(kRel));
  // Equivalent exactly when the 90% interval lies inside the margin.
  d = tools::paired_difference({1.01, 1.02, 1.0, 1.01}, {1, 1, 1, 1});
  tools::add_equivalence(d, 0.05);
  CHECK(d.p_tost < 0.05);
  CHECK(d.hi_tost < 0.05);
  tools::Difference none = tools::paired_difference({0, 2}, {1, 1});
  tools::add_equivalence(none, 0.0);
  CHECK(std::isnan(none.p_tost));
}

TEST_CASE("table: Holm's adjustment", "[table]") {
  const double nan = std::nan("");
  // m = 4 (the NaN does not count): 0.01·4, 0.03·3, max(0.04·2, 0.09), 0.5·1.
  const std::vector<double> a = tools::holm_adjust({0.01, 0.04, 0.03, nan, 0.5});
  CHECK(a[0] == Approx(0.04).epsilon(kRel));
  CHECK(a[1] == Approx(0.09).epsilon(kRel));
  CHECK(a[2] == Approx(0.09).epsilon(kRel));
  CHECK(std::isnan(a[3]));
  CHECK(a[4] == Approx(0.5).epsilon(kRel));
  CHECK(tools::holm_adjust({0.6, 0.7}) == std::vector<double>{1.0, 1.0});
  CHECK(tools::holm_adjust({}).empty());
}

TEST_CASE("table: equivalence margins from --margin", "[table]") {
  const std::vector<std::string> both{"val_loss", "val_metric"};
  CHECK(tools::parse_margins("", both) == std::vector<double>{tools::kDefaultLossMargin, tools::kDefaultMetricMargin});
  CHECK(tools::parse_margins("0.05", both) == std::vector<double>{0.05, tools::kDefaultMetricMargin});
  CHECK(tools::parse_margins("0.05", {"val_metric"}) == std::vector<double>{0.05});
  CHECK(tools::parse_margins("val_metric=0.01, val_loss=0", both) == std::vector<double>{0, 0.01});
  CHECK_THROWS_WITH(tools::parse_margins("val_los=0.1", both), Contains("did you mean 'val_loss'"));
  CHECK_THROWS_WITH(tools::parse_margins("val_metric=0.1", {"val_loss"}), Contains("not a metric of the table"));
  CHECK_THROWS_WITH(tools::parse_margins("-0.1", both), Contains("≥ 0"));
  CHECK_THROWS_WITH(tools::parse_margins("val_loss=x", both), Contains("--margin val_loss=x"));
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
