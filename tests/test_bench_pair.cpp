// `normlab bench pair`: its arithmetic against closed forms and scipy, its argument parsing, the
// normalizer timing hook it reads, and the command end to end on a tiny model, checked for what
// the report holds (never for what it measured: the machines are shared and noisy).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bench/pair.hpp"
#include "bench/pair_stats.hpp"
#include "core/random.hpp"
#include "nn/norm_site.hpp"
#include "run_cli.hpp"

namespace {
using namespace normlab;
using normlab::test::run_cli;
using Catch::Matchers::Contains;

TEST_CASE("bench pair's ratio and interval are those of the paired log ratios", "[bench][pair]") {
  // ln(b/a) = 0.1, 0.2, 0.3: mean 0.2, sd 0.1, n 3; t_{0.975, 2} = 0.95 / sqrt(2 0.975 0.025) (the
  // t distribution with 2 df has a closed-form quantile); the interval exp(0.2 -+ t 0.1 / sqrt(3)).
  // The references are mpmath's at 30 digits; scipy 1.10's t.interval agrees to 1e-10 (its t.ppf
  // is only that accurate), so the tolerance here is boost's accuracy, not scipy's.
  const std::vector<double> a{1, 1, 1}, b{std::exp(0.1), std::exp(0.2), std::exp(0.3)};
  const tools::PairedRatio r = tools::paired_ratio(a, b);
  CHECK(r.n == 3);
  CHECK(r.mean_log == Approx(0.2).epsilon(1e-12));
  CHECK(r.sd_log == Approx(0.1).epsilon(1e-12));
  CHECK(r.t_quantile == Approx(0.95 / std::sqrt(2 * 0.975 * 0.025)).epsilon(1e-13));
  CHECK(r.ratio == Approx(std::exp(0.2)).epsilon(1e-12));
  CHECK(r.lo == Approx(0.9527394893706002).epsilon(1e-12));
  CHECK(r.hi == Approx(1.5658264554844905).epsilon(1e-12));
  CHECK(r.contains_one());

  // Block times like a real session's (ms per step): exp of the mean log ratio and of scipy's
  // t.interval(0.95, 9, loc=mean(ln(b/a)), scale=sem(ln(b/a))), evaluated in mpmath.
  const std::vector<double> ta{16.47, 16.10, 17.15, 16.32, 16.58,
                               16.21, 16.90, 16.44, 16.39, 16.75};
  const std::vector<double> tb{15.76, 15.52, 16.41, 15.80, 15.95,
                               15.49, 16.30, 15.71, 15.88, 16.02};
  const tools::PairedRatio s = tools::paired_ratio(ta, tb);
  CHECK(s.ratio == Approx(0.9608705714603926).epsilon(1e-12));
  CHECK(s.lo == Approx(0.9571212427282087).epsilon(1e-12));
  CHECK(s.hi == Approx(0.9646345874289623).epsilon(1e-12));
  CHECK(s.sd_log == Approx(0.005465306786354239).epsilon(1e-10));
  CHECK(s.t_quantile == Approx(2.2621571627982055).epsilon(1e-12));
  CHECK_FALSE(s.contains_one());

  // A/B is the reciprocal of B/A, the interval's ends swapped.
  const tools::PairedRatio back = tools::paired_ratio(tb, ta);
  CHECK(back.ratio == Approx(1 / s.ratio).epsilon(1e-12));
  CHECK(back.lo == Approx(1 / s.hi).epsilon(1e-12));
  CHECK(back.hi == Approx(1 / s.lo).epsilon(1e-12));
}

TEST_CASE("bench pair's ratio refuses what cannot be paired", "[bench][pair]") {
  const std::vector<double> two{1, 2}, three{1, 2, 3}, zero{1, 0};
  CHECK_THROWS_WITH(tools::paired_ratio(two, three), Contains("pairs"));
  CHECK_THROWS_WITH(tools::paired_ratio(two, zero), Contains("not > 0"));
  const std::vector<double> one{2};
  const tools::PairedRatio r = tools::paired_ratio(one, one);
  CHECK(r.ratio == 1);
  CHECK(std::isnan(r.lo));  // no interval from one pair
  CHECK(tools::ratio_verdict(r, "B", "A") == "no interval (fewer than 2 alternations)");
  // Equal times: a zero-width interval at 1, which contains 1.
  const tools::PairedRatio same = tools::paired_ratio(three, three);
  CHECK(same.lo == 1);
  CHECK(same.hi == 1);
  CHECK(same.contains_one());
}

TEST_CASE("bench pair states the verdict the interval carries", "[bench][pair]") {
  tools::PairedRatio r;
  r.n = 20;
  r.ratio = 0.953, r.lo = 0.941, r.hi = 0.966;
  CHECK(tools::ratio_verdict(r, "B", "A") == "B faster by 4.7% [3.4%, 5.9%]");
  r.ratio = 1.05, r.lo = 1.02, r.hi = 1.08;
  CHECK(tools::ratio_verdict(r, "B", "A") == "B slower by 5.0% [2.0%, 8.0%]");
  r.ratio = 0.995, r.lo = 0.98, r.hi = 1.01;
  CHECK(tools::ratio_verdict(r, "C2", "C1") ==
        "no difference detected (C2 between 2.0% faster and 1.0% slower than C1)");
}

TEST_CASE("bench pair's Amdahl bound flags a speedup beyond the normalizers' share",
          "[bench][pair]") {
  CHECK_FALSE(tools::beyond_amdahl(0.95, 0.10));  // 5% faster, normalizers 10% of the step
  CHECK(tools::beyond_amdahl(0.85, 0.10));        // 15% faster: impossible
  CHECK_FALSE(tools::beyond_amdahl(1.20, 0.10));  // slower is not a speedup
  CHECK(tools::beyond_amdahl(0.999, 0.0));        // with no normalizers, any speedup is noise
}

TEST_CASE("bench pair's arms are key=value lists split before each config key", "[bench][pair]") {
  using V = std::vector<std::string>;
  CHECK(tools::split_assignments("model.norm=layernorm") == V{"model.norm=layernorm"});
  CHECK(tools::split_assignments("model.norm=layernorm, optim.lr=0.001") ==
        V{"model.norm=layernorm", "optim.lr=0.001"});
  // eps_mode is an option inside the value, not a config key: the value stays whole.
  CHECK(tools::split_assignments("model.norm_options=eps=1e-6,eps_mode=outside,seed=3") ==
        V{"model.norm_options=eps=1e-6,eps_mode=outside", "seed=3"});
  CHECK(tools::split_assignments(R"(model.norm=["layernorm","rmsnorm"])") ==
        V{R"(model.norm=["layernorm","rmsnorm"])"});
  CHECK_THROWS_WITH(tools::split_assignments("layernorm"), Contains("not key=value"));
  CHECK_THROWS_WITH(tools::split_assignments(""), Contains("empty"));

  tools::BenchPairOptions o;
  tools::norms_to_arms("layernorm, rmsnorm", o);
  CHECK(o.a == V{"model.norm=layernorm"});
  CHECK(o.b == V{"model.norm=rmsnorm"});
  CHECK_THROWS_WITH(tools::norms_to_arms("layernorm", o), Contains("two normalizers"));
  CHECK_THROWS_WITH(tools::norms_to_arms("a,b,c", o), Contains("two normalizers"));

  CHECK(tools::command_line("normlab bench pair", {"x.toml", "--a", "model.norm=[\"a\", \"b\"]",
                                                   "it's"}) ==
        "normlab bench pair x.toml --a 'model.norm=[\"a\", \"b\"]' 'it'\\''s'");
}

TEST_CASE("bench pair's normalizer timing hook counts calls only while it is on", "[bench][pair]") {
  const std::size_t B = 3, D = 8;
  nn::ParamStore<float> store;
  nn::NormSite<float> site(store, "s", "layernorm", {}, D, 0);
  store.allocate();
  Rng rng(5);
  store.initialize(0.0, 1.0, rng);
  std::vector<float> x(B * D), y(B * D), dy(B * D, 1.0f), dx(B * D);
  fill_normal(std::span<float>(x), rng);
  site.forward(store, y.data(), x.data(), B);  // off: not counted
  nn::start_norm_timing(true);
  site.forward(store, y.data(), x.data(), B);
  site.backward(store, dx.data(), dy.data(), x.data(), B);
  const nn::NormTime on = nn::stop_norm_timing();
  CHECK(on.calls == 2);
  CHECK(on.seconds >= 0);
  site.forward(store, y.data(), x.data(), B);
  nn::start_norm_timing(false);  // starting again zeroes the account
  const nn::NormTime empty = nn::stop_norm_timing();
  CHECK(empty.calls == 0);
  CHECK(empty.seconds == 0);
}

// A tiny GRU: a session of 10 alternations of 2-step blocks takes well under a second.
const std::vector<std::string> kTiny{"bench", "pair", "model.family=gru", "model.width=8",
                                     "model.embed=4", "model.context=6", "train.batch=2",
                                     "data.val_size=4", "--block", "2", "--warmup", "0",
                                     "--share-blocks", "1"};

// kTiny with `more`, and 10 alternations unless `more` says how many.
std::vector<std::string> tiny(std::vector<std::string> more) {
  std::vector<std::string> args = kTiny;
  if (std::find(more.begin(), more.end(), "--alternations") == more.end()) {
    args.insert(args.end(), {"--alternations", "10"});
  }
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST_CASE("bench pair reports every figure a reviewer asks for", "[bench][pair][cli]") {
  const auto r = run_cli(tiny({"--norms", "layernorm,rmsnorm"}));
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  for (const char* field :
       {"# command: normlab bench pair model.family=gru", "# A: model.norm=layernorm",
        "# B: model.norm=rmsnorm", "# C1: model.norm=layernorm   (control: a copy of A)",
        "# C2: model.norm=layernorm   (control: another copy of A: must come out equal to C1)",
        "# threads 1", "OpenBLAS core in use here: ", "# kernels: ", "# clock: cpu",
        "10 of blocks of 2 steps", "median ms/step", "B/A ", "95% interval", "t with 9 df",
        "control C2/C1 (two copies of A: the same arithmetic on the same values) ", "  A  p = ",
        "  B  p = ",
        "Amdahl bound: ", "B can be faster than A by at most p_A = "}) {
    CHECK_THAT(r.out, Contains(field));
  }
  // The verdicts are whichever the figures gave; each is one of the stated forms.
  CHECK((r.out.find("B faster by") != std::string::npos ||
         r.out.find("B slower by") != std::string::npos ||
         r.out.find("no difference detected (B between") != std::string::npos));
  CHECK((r.out.find("within the bound") != std::string::npos ||
         r.out.find("IMPOSSIBLE") != std::string::npos));
  CHECK((r.out.find("as it must be") != std::string::npos ||
         r.out.find("NOT TRUSTWORTHY") != std::string::npos));
}

TEST_CASE("bench pair takes arms as overrides and runs without the control", "[bench][pair][cli]") {
  const auto r = run_cli(tiny({"--a", "model.norm=rmsnorm", "--b", "model.norm=rmsnorm,seed=0",
                               "--control", "none", "--raw", "--clock", "wall"}));
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Contains("# B: model.norm=rmsnorm,seed=0"));
  CHECK_THAT(r.out, Contains("control: not run (--control none)"));
  CHECK_THAT(r.out, Contains("ln(B/A)"));
  CHECK_THAT(r.out, Contains("# clock: wall"));
  CHECK(r.out.find("# C1") == std::string::npos);
}

TEST_CASE("bench pair runs the control of two kinds it is given", "[bench][pair][cli]") {
  const auto r = run_cli(tiny({"--norms", "layernorm,rmsnorm", "--control", "rmsnorm,l2norm"}));
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Contains("# C1: model.norm=rmsnorm   (control)"));
  CHECK_THAT(r.out, Contains("# C2: model.norm=l2norm   (control: must come out equal to C1)"));
  CHECK_THAT(r.out, Contains("control C2/C1 (model.norm=l2norm over model.norm=rmsnorm) "));
  tools::BenchPairOptions o;
  o.a = {"model.norm=layernorm"};
  o.control = "copy";
  CHECK(tools::control_arms(o).size() == 2);
  CHECK(tools::control_arms(o)[1].sets == o.a);
  o.control = "none";
  CHECK(tools::control_arms(o).empty());
  o.control = "l2norm";
  CHECK_THROWS_WITH(tools::control_arms(o), Contains("--control"));
}

TEST_CASE("bench pair refuses a session it cannot stand behind", "[bench][pair][cli]") {
  auto r = run_cli(tiny({"--norms", "layernorm,rmsnorm", "--alternations", "9"}));
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("at least 10"));
  r = run_cli({"bench", "pair"});  // no arms
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("--norms"));
  r = run_cli(tiny({"--norms", "layernorm,rmsnorm", "--a", "model.norm=rmsnorm"}));
  CHECK(r.status == 2);
  r = run_cli(tiny({"--norms", "layernorm,rmsnrom"}));  // a bad arm fails before anything runs
  CHECK(r.status == 1);
  CHECK(r.out.empty());
  r = run_cli(tiny({"--norms", "layernorm,rmsnorm", "--clock", "tsc"}));
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("--clock"));
  r = run_cli({"bench", "pair", "--help"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Contains("copies of A") && Contains("Amdahl") && Contains("taskset"));
}

}  // namespace
