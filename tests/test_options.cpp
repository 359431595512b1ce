// The registry and option handling: names, defaults, validation, the error messages.
#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "norm/registry.hpp"
#include "norm/shift_scale.hpp"

using namespace normlab;
using Catch::Matchers::Contains;

TEST_CASE("the registry has every normalizer the issue names", "[options]") {
  auto names = norm::kind_names();
  for (std::string k : {"rmsnorm", "layernorm", "scalenorm", "prmsnorm", "l2norm", "centernorm",
                        "pcnorm", "none"}) {
    INFO(k);
    CHECK(std::find(names.begin(), names.end(), k) != names.end());
  }
}

TEST_CASE("defaults follow their references", "[options]") {
  auto ln = norm::resolve("layernorm", {});
  CHECK(ln.eps == 1e-5);
  CHECK(ln.eps_mode == norm::EpsMode::inside);
  CHECK(ln.bias);
  CHECK(ln.variance == norm::VarianceAlgo::two_pass);
  CHECK_FALSE(norm::resolve("rmsnorm", {}).bias);
  CHECK(norm::resolve("scalenorm", {}).eps_mode == norm::EpsMode::clamp);
  CHECK(norm::resolve("prmsnorm", {}).p == 0.0625);
  auto specs = norm::make_normalizer("scalenorm")->param_specs(64);
  REQUIRE(specs.size() == 1);
  CHECK(specs[0].size == 1);
  CHECK(specs[0].init == 8.0);  // sqrt(64)
  auto zc = norm::make_normalizer("rmsnorm", {{"zero_centered_gain", "true"}})->param_specs(4);
  CHECK(zc[0].init == 0.0);
  auto pc = norm::make_normalizer("pcnorm", {{"learn_lambda", "true"}, {"lambda", "0.25"}});
  CHECK(pc->param_specs(4).back().name == "lambda");
  CHECK(pc->param_specs(4).back().init == 0.25);
}

TEST_CASE("options round-trip through their text form", "[options]") {
  for (const auto& k : norm::kinds()) {
    auto config = norm::resolve(k.name, norm::parse_options("")) ;
    auto again = norm::resolve(k.name, norm::parse_options(norm::options_string(config)));
    CHECK(norm::describe(again) == norm::describe(config));
  }
  CHECK(norm::describe(norm::resolve("prmsnorm", {{"p", "0.25"}})) ==
        "prmsnorm(eps=1e-05,eps_mode=inside,bias=false,zero_centered_gain=false,p=0.25)");
}

TEST_CASE("bad names and values give clear errors", "[options]") {
  CHECK_THROWS_WITH(norm::make_normalizer("rmsnrom"),
                    Contains("unknown normalizer 'rmsnrom'") && Contains("did you mean 'rmsnorm'") &&
                        Contains("layernorm"));
  CHECK_THROWS_WITH(norm::make_normalizer("rmsnorm", {{"epss", "1"}}),
                    Contains("unknown option 'epss'") && Contains("did you mean 'eps'"));
  CHECK_THROWS_WITH(norm::make_normalizer("rmsnorm", {{"p", "0.5"}}),
                    Contains("'p' does not apply to rmsnorm"));
  CHECK_THROWS_WITH(norm::make_normalizer("prmsnorm", {{"p", "0"}}), Contains("p must be in (0, 1]"));
  CHECK_THROWS_WITH(norm::make_normalizer("prmsnorm", {{"p", "1.5"}}), Contains("p must be in (0, 1]"));
  CHECK_THROWS_WITH(norm::make_normalizer("rmsnorm", {{"eps", "0"}}), Contains("eps must be"));
  CHECK_THROWS_WITH(norm::make_normalizer("rmsnorm", {{"eps", "-1e-5"}}), Contains("eps must be"));
  CHECK_THROWS_WITH(norm::make_normalizer("rmsnorm", {{"eps", "nan"}}), Contains("eps must be"));
  CHECK_THROWS_WITH(norm::make_normalizer("rmsnorm", {{"eps", "tiny"}}), Contains("not a number"));
  CHECK_THROWS_WITH(norm::make_normalizer("pcnorm", {{"lambda", "1.5"}}),
                    Contains("lambda must be in [0, 1]"));
  CHECK_THROWS_WITH(norm::make_normalizer("pcnorm", {{"lambda", "-0.1"}}),
                    Contains("lambda must be in [0, 1]"));
  CHECK_THROWS_WITH(norm::make_normalizer("rmsnorm", {{"eps_mode", "insde"}}),
                    Contains("did you mean 'inside'"));
  CHECK_THROWS_WITH(norm::make_normalizer("layernorm", {{"variance", "naive"}}),
                    Contains("two_pass, one_pass, welford"));
  CHECK_THROWS_WITH(norm::make_normalizer("rmsnorm", {{"bias", "maybe"}}),
                    Contains("not true or false"));
  CHECK_THROWS_WITH(norm::parse_options("eps"), Contains("not of the form name=value"));
  CHECK_THROWS_WITH(norm::parse_options("eps=1,eps=2"), Contains("given twice"));
}

TEST_CASE("k = ceil(p * D), robust to rounding, at least 1", "[options]") {
  CHECK(norm::statistic_features(0.0625, 64) == 4);
  CHECK(norm::statistic_features(0.0625, 1) == 1);
  CHECK(norm::statistic_features(0.0625, 37) == 3);  // 2.3125 -> 3
  CHECK(norm::statistic_features(0.1, 30) == 3);     // 3.0000000000000004 must not give 4
  CHECK(norm::statistic_features(0.3, 10) == 3);
  CHECK(norm::statistic_features(1.0, 4097) == 4097);
}

TEST_CASE("the kernels check shapes and name them", "[options]") {
  auto n = norm::make_normalizer("layernorm");
  std::vector<double> x(6), y(6), g(3, 1.0), b(3, 0.0), short_gain(2, 1.0);
  norm::NormCache cache;
  norm::NormParams<const double> p(std::span<const double>(g), std::span<const double>(b), {});
  CHECK_THROWS_WITH(n->forward(std::span<double>(y), cache, std::span<const double>(x), p, 3, 3),
                    Contains("x has 6 values, expected B*D = 9"));
  CHECK_THROWS_WITH(n->forward(std::span<double>(y), cache, std::span<const double>(x), p, 2, 0),
                    Contains("D = 0"));
  norm::NormParams<const double> bad(std::span<const double>(short_gain),
                                     std::span<const double>(b), {});
  CHECK_THROWS_WITH(n->forward(std::span<double>(y), cache, std::span<const double>(x), bad, 2, 3),
                    Contains("'gain' has 2 values, expected 3"));
  n->forward(std::span<double>(y), cache, std::span<const double>(x), p, 2, 3);
  std::vector<double> dx(6), dy(6), grads(6);
  auto gp = norm::bind_params<double>(n->param_specs(3), std::span<double>(grads));
  norm::NormCache empty;  // not the cache of a forward on this batch
  CHECK_THROWS_WITH(n->backward(std::span<double>(dx), gp, empty, std::span<const double>(dy),
                                std::span<const double>(x), p, 2, 3),
                    Contains("cache holds 0 rows, the batch has B = 2"));
  CHECK_NOTHROW(n->backward(std::span<double>(dx), gp, cache, std::span<const double>(dy),
                            std::span<const double>(x), p, 2, 3));
}

TEST_CASE("backward writes dx and accumulates parameter gradients", "[options]") {
  const std::size_t B = 3, D = 5;
  std::vector<double> x{0.3, -1, 2, 0.5, 1.5, -0.2, 0.1, 0.7, -2, 1, 3, 2, 1, 0, -1};
  std::vector<double> dy{1, 0.5, -1, 2, 0.3, -0.4, 1, 1, 0.2, -1, 0.6, 0.1, -0.3, 0.8, 1.1};
  for (const auto& k : norm::kinds()) {
    auto n = norm::make_normalizer(k.name, k.name == "pcnorm" ? norm::NormOptions{{"learn_lambda", "true"}, {"bias", "true"}}
                                                              : norm::NormOptions{});
    auto specs = n->param_specs(D);
    auto params = norm::initial_params<double>(specs);
    auto p = norm::bind_params<const double>(specs, std::span<const double>(params));
    std::vector<double> y(B * D), dx(B * D, 123.0), grads(params.size(), 0.0);
    auto g = norm::bind_params<double>(specs, std::span<double>(grads));
    norm::NormCache cache;
    n->forward(std::span<double>(y), cache, std::span<const double>(x), p, B, D);
    n->backward(std::span<double>(dx), g, cache, std::span<const double>(dy),
                std::span<const double>(x), p, B, D);
    const auto dx_once = dx, grads_once = grads;
    n->backward(std::span<double>(dx), g, cache, std::span<const double>(dy),
                std::span<const double>(x), p, B, D);
    INFO(k.name);
    CHECK(dx == dx_once);  // written, not accumulated (the 123s are gone after the first call)
    // += row by row onto a non-zero start rounds differently from doubling: compare to 1e-12
    for (std::size_t i = 0; i < grads.size(); ++i)
      CHECK(grads[i] == Approx(2 * grads_once[i]).epsilon(1e-12).margin(1e-15));
    if (k.name != "none") {
      CHECK(std::any_of(grads.begin(), grads.end(), [](double v) { return v != 0; }));
    }
  }
}

TEST_CASE("string helpers", "[options]") {
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(closest_match("layrnorm", {"rmsnorm", "layernorm"}) == "layernorm");
  CHECK(closest_match("zzz", {"rmsnorm", "layernorm"}).empty());
  CHECK(format_double(1e-5) == "1e-05");
  CHECK(split("a,b,,c", ',') == std::vector<std::string>{"a", "b", "", "c"});
}
