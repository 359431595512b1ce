// model.norm_options as the models take it: one set of normalizer options for every site (the
// string form, norm_options = "eps=1e-6"), or a table whose entries name a normalizer kind or a
// Transformer site role (the table form, norm_options = { pcnorm = "learn_lambda=true",
// attn = "eps=1e-6", final = "eps=1e-5" }).
// A site takes the entry of its role if there is one, else the entry of its kind, else the
// defaults: the role's entry wins and replaces the kind's whole (the two are not merged), since
// the papers give options by site (DyT's alpha0 differs between the attention, MLP and final
// norms of an LLM) and a kind entry is the fallback for every site of that kind.
#pragma once

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "norm/options.hpp"

namespace normlab::models {

// The Transformer's site roles, as the table form of norm_options and the role overrides
// (norm_attn, norm_mlp, norm_qk, norm_v, norm_embed, norm_final) name them.
inline constexpr std::array<std::string_view, 6> kSiteRoles{"attn", "mlp", "qk", "v", "embed",
                                                           "final"};

// The role of a site named as the Transformer names them: "block{l}.attn.norm_q" -> "qk",
// ".norm_v" -> "v", "norm_embed" -> "embed", "norm_final" -> "final", other "block{l}.attn.*"
// -> "attn", "block{l}.mlp.*" -> "mlp"; "" for the MLP's and the GRU's sites (they have none).
inline std::string_view site_role(std::string_view name) {
  auto ends = [&](std::string_view tail) {
    return name.size() >= tail.size() && name.substr(name.size() - tail.size()) == tail;
  };
  if (name == "norm_embed") return "embed";
  if (name == "norm_final") return "final";
  if (!name.starts_with("block")) return "";
  if (ends(".attn.norm_q") || ends(".attn.norm_k")) return "qk";
  if (ends(".attn.norm_v")) return "v";
  if (name.find(".attn.") != std::string_view::npos) return "attn";
  if (name.find(".mlp.") != std::string_view::npos) return "mlp";
  return "";
}

struct SiteOptions {
  norm::NormOptions every;                                        // the string form
  std::map<std::string, norm::NormOptions, std::less<>> by_kind;  // the table form: kinds
  std::map<std::string, norm::NormOptions, std::less<>> by_role;  // the table form: roles

  SiteOptions() = default;
  SiteOptions(norm::NormOptions options) : every(std::move(options)) {}  // implicit: the string form

  // The options of a site of `kind`: its own entry of the table, else the options for every site.
  const norm::NormOptions& for_kind(std::string_view kind) const {
    auto it = by_kind.find(kind);
    return it == by_kind.end() ? every : it->second;
  }
  // The options of the site named `site` of `kind`: its role's entry, else for_kind(kind).
  const norm::NormOptions& for_site(std::string_view site, std::string_view kind) const {
    auto it = by_role.find(site_role(site));
    return it == by_role.end() ? for_kind(kind) : it->second;
  }
};

}  // namespace normlab::models
