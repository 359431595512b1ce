// The gain option (gain=false: no learned gain, torch.nn.RMSNorm(elementwise_affine=False)) and
// the description of every kind's defaults, which run files, fixtures and sweep hashes record:
// they must read as they did before the option existed.
#include <catch2/catch.hpp>
#include <map>

#include "core/error.hpp"
#include "helpers.hpp"

namespace {

using namespace normlab;
using Catch::Matchers::Contains;

}  // namespace

TEST_CASE("the description of every kind at its defaults is the one run files already hold",
          "[options][gain]") {
  // Literal strings as normlab wrote them before gain (and eps=auto) existed (main f487239, and
  // dyt as first committed). A new kind adds its line; an existing line never changes.
  const std::map<std::string, std::string> recorded = {
      {"rmsnorm", "rmsnorm(eps=1e-05,eps_mode=inside,bias=false,zero_centered_gain=false)"},
      {"layernorm",
       "layernorm(eps=1e-05,eps_mode=inside,bias=true,zero_centered_gain=false,variance=two_pass)"},
      {"scalenorm", "scalenorm(eps=1e-05,eps_mode=clamp,bias=false,zero_centered_gain=false)"},
      {"prmsnorm",
       "prmsnorm(eps=1e-05,eps_mode=inside,bias=false,zero_centered_gain=false,p=0.0625)"},
      {"l2norm", "l2norm(eps=1e-05,eps_mode=inside,bias=false,zero_centered_gain=false)"},
      {"centernorm", "centernorm(bias=true,zero_centered_gain=false)"},
      {"pcnorm",
       "pcnorm(eps=1e-05,eps_mode=inside,bias=false,zero_centered_gain=false,lambda=0.5,"
       "learn_lambda=false)"},
      {"none", "none()"},
      {"dyt", "dyt(alpha0=0.5,bias=true)"},
  };
  for (const auto& name : norm::kind_names()) {
    INFO(name);
    REQUIRE(recorded.count(name));
    const auto config = norm::resolve(name, {});
    CHECK(norm::describe(config) == recorded.at(name));
    // gain=true said out loud is the default: the same description.
    const auto& options = norm::kind_info(name).options;
    if (std::find(options.begin(), options.end(), "gain") != options.end()) {
      CHECK(norm::describe(norm::resolve(name, {{"gain", "true"}})) == recorded.at(name));
    }
  }
}

TEST_CASE("gain=false: listed in the description, read back, no gain parameter", "[options][gain]") {
  const auto config = norm::resolve("rmsnorm", {{"gain", "false"}});
  CHECK(norm::describe(config) ==
        "rmsnorm(eps=1e-05,eps_mode=inside,gain=false,bias=false,zero_centered_gain=false)");
  CHECK(norm::resolve("rmsnorm", norm::parse_options(norm::options_string(config))).gain == false);
  for (const auto& k : norm::kinds()) {
    const auto& o = k.options;
    const bool has = std::find(o.begin(), o.end(), "gain") != o.end();
    INFO(k.name);
    CHECK(has == (k.form.gain != norm::KindForm::Gain::none));  // every kind with a gain
    if (!has) {
      CHECK_THROWS_WITH(norm::resolve(k.name, {{"gain", "false"}}), Contains("does not apply"));
      continue;
    }
    auto n = norm::make_normalizer(k.name, {{"gain", "false"}});
    for (const auto& s : n->param_specs(8)) CHECK(s.name != "gain");
    CHECK(norm::form(n->config(), 8).gain_size() == 0);
  }
  CHECK_THROWS_WITH(norm::resolve("rmsnorm", {{"gain", "false"}, {"zero_centered_gain", "true"}}),
                    Contains("zero_centered_gain") && Contains("gain=false"));
  CHECK_THROWS_WITH(norm::resolve("rmsnorm", {{"gain", "maybe"}}), Contains("gain"));
}

TEST_CASE("gain=false computes the kind with a gain of ones, in the library and emulated",
          "[options][gain]") {
  const std::size_t B = 3, D = 11;
  Rng rng(31);
  const auto x = test::random_normal(B * D, rng, 0.4, 1.7), dy = test::random_normal(B * D, rng);
  // (scalenorm's scalar gain starts at sqrt(D), not 1: its gain=false is its fixture's business.)
  for (const char* kind : {"rmsnorm", "layernorm", "pcnorm", "l2norm", "dyt"}) {
    for (const char* precision : {"", "storage=float32"}) {
      if (std::string(kind) == "dyt" && *precision) continue;  // no emulated form
      INFO(kind << " " << precision);
      auto options = norm::parse_options(precision);
      auto with = norm::make_normalizer(kind, options);
      options["gain"] = "false";
      auto without = norm::make_normalizer(kind, options);
      auto p_with = norm::initial_params<double>(with->param_specs(D));  // the gain at init: 1
      auto p_without = norm::initial_params<double>(without->param_specs(D));
      const auto a = test::run<double>(*with, x, p_with, B, D, &dy);
      const auto b = test::run<double>(*without, x, p_without, B, D, &dy);
      CHECK(a.y == b.y);
      CHECK(a.dx == b.dx);
    }
  }
}
