// The registry and option handling: names, defaults, validation, the error messages.
#include <catch2/catch.hpp>

#include <map>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "helpers.hpp"
#include "norm/form.hpp"
#include "norm/registry.hpp"

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

TEST_CASE("each kind's options, in describe() order, follow from its form", "[options]") {
  // What describe() writes into run files and fixtures: the lists the kinds had when each file
  // named them, before they were derived from the form; and gain, which describe() writes only
  // as gain=false (tests/test_gain_option.cpp holds the default descriptions to their text).
  const std::map<std::string, std::vector<std::string>> want{
      {"rmsnorm", {"eps", "eps_mode", "gain", "bias", "zero_centered_gain"}},
      {"layernorm", {"eps", "eps_mode", "gain", "bias", "zero_centered_gain", "variance"}},
      {"scalenorm", {"eps", "eps_mode", "gain", "bias", "zero_centered_gain"}},
      {"prmsnorm", {"eps", "eps_mode", "gain", "bias", "zero_centered_gain", "p"}},
      {"l2norm", {"eps", "eps_mode", "gain", "bias", "zero_centered_gain"}},
      {"centernorm", {"gain", "bias", "zero_centered_gain"}},
      {"pcnorm",
       {"eps", "eps_mode", "gain", "bias", "zero_centered_gain", "lambda", "learn_lambda"}},
      {"none", {}}};
  for (const auto& [kind, options] : want) {
    INFO(kind);
    CHECK(norm::kind_info(kind).options == options);
  }
}

TEST_CASE("a kind's Form, resolved for its options and D", "[options]") {
  using F = norm::Form;
  auto form_of = [](const std::string& kind, const norm::NormOptions& o, std::size_t D) {
    return norm::form(norm::resolve(kind, o), D);
  };
  const F rms = form_of("rmsnorm", {}, 16);
  CHECK(rms.subtract == F::Subtract::none);
  CHECK(rms.lambda == 0);
  CHECK(rms.k == 16);
  CHECK(rms.divisor == 16);
  CHECK(rms.rescale);
  CHECK(rms.gain == F::Gain::vector);
  CHECK(rms.gain_init == 1);
  CHECK(rms.g0 == 0);
  CHECK(rms.gain_size() == 16);
  CHECK(rms.bias_size() == 0);
  CHECK(rms.invariant_to(norm::RowTransform::scale));
  CHECK_FALSE(rms.invariant_to(norm::RowTransform::shift));

  const F ln = form_of("layernorm", {{"eps", "0.01"}, {"eps_mode", "outside"}}, 5);
  CHECK(ln.subtract == F::Subtract::mean);
  CHECK(ln.lambda == 1);
  CHECK(ln.eps == 0.01);
  CHECK(ln.eps_mode == norm::EpsMode::outside);
  CHECK(ln.bias_size() == 5);
  CHECK(ln.invariant_to(norm::RowTransform::shift));

  const F scale = form_of("scalenorm", {{"zero_centered_gain", "true"}}, 49);
  CHECK(scale.statistic == F::Statistic::sum_square);
  CHECK(scale.divisor == 1);
  CHECK(scale.gain == F::Gain::scalar);
  CHECK(scale.gain_size() == 1);
  CHECK(scale.gain_init == 7);  // sqrt(49)
  CHECK(scale.g0 == 7);
  CHECK(scale.stored_gain_init() == 0);

  const F prms = form_of("prmsnorm", {{"p", "0.25"}}, 10);
  CHECK(prms.k == 3);  // ceil(2.5)
  CHECK(prms.divisor == 3);

  const F pc = form_of("pcnorm", {{"lambda", "0.3"}, {"learn_lambda", "true"}}, 4);
  CHECK(pc.subtract == F::Subtract::learned);
  CHECK(pc.lambda == 0.3);
  CHECK(pc.lambda_size() == 1);
  CHECK_FALSE(pc.invariant_to(norm::RowTransform::shift));
  CHECK(form_of("pcnorm", {{"lambda", "1"}}, 4).invariant_to(norm::RowTransform::shift));

  const F center = form_of("centernorm", {{"zero_centered_gain", "true"}}, 4);
  CHECK_FALSE(center.rescale);
  CHECK(center.g0 == 1);
  CHECK_FALSE(center.invariant_to(norm::RowTransform::scale));
  CHECK(center.invariant_to(norm::RowTransform::shift));

  const F none = form_of("none", {}, 4);
  CHECK(none.gain_size() == 0);
  CHECK_FALSE(none.invariant_to(norm::RowTransform::scale));
  CHECK_FALSE(none.invariant_to(norm::RowTransform::shift));
}

TEST_CASE("the Form agrees with the normalizer's parameters for every kind", "[options]") {
  for (const auto& k : norm::kinds()) {
    for (const char* zc : {"false", "true"}) {
      norm::NormOptions o;
      const auto& names = k.options;
      if (std::find(names.begin(), names.end(), "zero_centered_gain") != names.end()) {
        o["zero_centered_gain"] = zc;
      }
      if (std::find(names.begin(), names.end(), "learn_lambda") != names.end()) {
        o["learn_lambda"] = "true";
      }
      const auto n = norm::make_normalizer(k.name, o);
      const norm::Form f = norm::form(n->config(), 25);
      std::map<std::string, norm::ParamSpec> specs;
      for (const auto& s : n->param_specs(25)) specs[s.name] = s;
      INFO(norm::describe(n->config()));
      CHECK(specs.count("gain") == (f.gain_size() > 0));
      CHECK(specs.count("bias") == (f.bias_size() > 0));
      CHECK(specs.count("lambda") == (f.lambda_size() > 0));
      if (specs.count("gain")) {
        CHECK(specs["gain"].size == f.gain_size());
        CHECK(specs["gain"].init == f.stored_gain_init());
      }
    }
  }
}

TEST_CASE("zero-centered gain: stored w computes as the plain kind with stored g0 + w, in the "
          "library and in emulated precision", "[options]") {
  // g0 is the plain kind's initial gain: 1, or sqrt(D) = 3 at D = 9 (scalenorm's scalar gain).
  const std::size_t B = 3, D = 9;
  Rng rng(23);
  const auto x = test::random_normal(B * D, rng, 0.3, 2.0), dy = test::random_normal(B * D, rng);
  for (const auto& k : norm::kinds()) {
    const auto& names = k.options;
    if (std::find(names.begin(), names.end(), "zero_centered_gain") == names.end()) continue;
    for (const char* precision : {"", "storage=float32"}) {
      norm::NormOptions plain_options = norm::parse_options(precision), zc_options = plain_options;
      zc_options["zero_centered_gain"] = "true";
      auto plain = norm::make_normalizer(k.name, plain_options);
      auto zc = norm::make_normalizer(k.name, zc_options);
      const auto plain_specs = plain->param_specs(D);
      REQUIRE(plain_specs[0].name == "gain");
      const double g0 = plain_specs[0].init;
      // The kind's declared initial gain, not its name: a new kind with a sqrt(D) gain is held
      // to the same rule.
      CHECK(g0 == (k.form.gain_init == norm::KindForm::GainInit::sqrt_d ? 3.0 : 1.0));
      // w, then the rest (bias, lambda) alike on both sides; w is exact in float32 as is g0 + w.
      auto w = norm::initial_params<double>(zc->param_specs(D));
      auto applied = w;
      for (std::size_t j = 0; j < plain_specs[0].size; ++j) {
        w[j] = double(float(0.25 * test::random_normal(1, rng)[0]));
        applied[j] = g0 + w[j];
      }
      INFO(k.name << " " << precision);
      const auto a = test::run(*plain, x, applied, B, D, &dy);
      const auto b = test::run(*zc, x, w, B, D, &dy);
      for (std::size_t i = 0; i < a.y.size(); ++i) CHECK(b.y[i] == Approx(a.y[i]).epsilon(1e-14));
      for (std::size_t i = 0; i < a.dx.size(); ++i) {
        CHECK(b.dx[i] == Approx(a.dx[i]).epsilon(1e-12).margin(1e-14));
      }
      for (std::size_t i = 0; i < a.grads.size(); ++i) {
        CHECK(b.grads[i] == Approx(a.grads[i]).epsilon(1e-12).margin(1e-14));
      }
    }
  }
}

TEST_CASE("registry_json lists every kind with its defaults and form", "[options]") {
  const std::string json = norm::registry_json();
  for (const auto& k : norm::kinds()) CHECK_THAT(json, Contains("{\"name\": \"" + k.name + "\""));
  CHECK_THAT(json, Contains("\"defaults\": {\"eps\": 1e-05, \"eps_mode\": \"clamp\", \"gain\": "
                            "true, \"bias\": false, \"zero_centered_gain\": false}"));  // scalenorm
  CHECK_THAT(json, Contains("\"gain\": \"scalar\", \"gain_size\": \"1\", \"gain_init\": "
                            "\"sqrt(D)\""));
  CHECK_THAT(json, Contains("\"k\": \"ceil(p*D)\""));
  CHECK_THAT(json, Contains("\"invariant_to\": [\"scale\", \"shift\"]"));  // layernorm
  // Balanced brackets outside strings (tests/gen_fixtures.py parses it with json.loads).
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      CHECK(--depth >= 0);
    }
  }
  CHECK(depth == 0);
  CHECK_FALSE(in_string);
}
