// The normalizer registry: models, the command line and sweeps select a normalizer by name.
// Adding a normalizer is one new file defining a `KindInfo xxx_kind()` plus one line in
// registry.cpp (and its cases in tests/gen_fixtures.py). A shift-scale kind states its KindForm
// (norm/form.hpp) and gets its options and normalizer from shift_scale_kind(); another kind (an
// element-wise one) gives its options, its KindForm with family = elementwise, and its own make.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "norm/form.hpp"
#include "norm/normalizer.hpp"
#include "norm/options.hpp"

namespace normlab::norm {

struct KindInfo {
  std::string name;                  // "rmsnorm"
  std::string formula;               // one line of math
  std::string reference;             // the paper, and which reference its defaults follow
  std::vector<std::string> options;  // names of the options that apply (see all_options())
  NormConfig defaults;               // this kind's defaults for every option
  KindForm form;                     // what it computes, resolved by form() (norm/form.hpp)
  std::function<std::unique_ptr<Normalizer>(const NormConfig&)> make;
};

const std::vector<KindInfo>& kinds();
std::vector<std::string> kind_names();
const KindInfo& kind_info(std::string_view name);  // throws, listing the valid names

// Validates options against the kind (unknown or inapplicable names, bad values) and fills in the
// kind's defaults for the rest.
NormConfig resolve(std::string_view kind, const NormOptions& options);

std::unique_ptr<Normalizer> make_normalizer(std::string_view kind, const NormOptions& options = {});
std::unique_ptr<Normalizer> make_normalizer(const NormConfig& config);

// "layernorm(eps=1e-05,eps_mode=inside,bias=true,...)": the kind with every applicable option,
// except gain (listed only as gain=false) and storage/accumulate (listed only when emulated).
std::string describe(const NormConfig& config);

// The applicable options as "name=value,..." — parse_options() reads it back.
std::string options_string(const NormConfig& config);

// Every kind as JSON (`normlab norms --json`, read by tests/gen_fixtures.py): name, formula,
// reference, options with their defaults, and the form (norm/form.hpp) with D left symbolic;
// then every option's values and help. norm/registry_json.cpp documents the fields.
std::string registry_json();

}  // namespace normlab::norm
