// model.norm_options as the models take it: one set of normalizer options for every site (the
// string form, norm_options = "eps=1e-6"), or one set per normalizer kind for mixed stacks (the
// table form, norm_options = { pcnorm = "learn_lambda=true", layernorm = "eps=1e-6" }).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "norm/options.hpp"

namespace normlab::models {

struct SiteOptions {
  norm::NormOptions every;                                        // the string form
  std::map<std::string, norm::NormOptions, std::less<>> by_kind;  // the table form

  SiteOptions() = default;
  SiteOptions(norm::NormOptions options) : every(std::move(options)) {}  // implicit: the string form

  // The options of a site of `kind`: its own entry of the table, else the options for every site.
  const norm::NormOptions& for_kind(std::string_view kind) const {
    auto it = by_kind.find(kind);
    return it == by_kind.end() ? every : it->second;
  }
};

}  // namespace normlab::models
