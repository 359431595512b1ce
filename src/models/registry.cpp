#include "models/registry.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "norm/registry.hpp"

namespace normlab::models {

// One line per family, each defined in its model's own file.
FamilyInfo mlp_family();
FamilyInfo gru_family();
FamilyInfo transformer_family();

const std::vector<FamilyInfo>& families() {
  static const std::vector<FamilyInfo> registry = {
      mlp_family(),
      gru_family(),
      transformer_family(),
  };
  return registry;
}

const char* to_string(TaskKind kind) {
  return kind == TaskKind::labeled ? "labeled examples" : "token sequences";
}

std::vector<std::string> family_names() {
  std::vector<std::string> names;
  for (const auto& f : families()) names.push_back(f.name);
  return names;
}

const FamilyInfo& family_info(std::string_view name) {
  for (const auto& f : families()) {
    if (f.name == name) return f;
  }
  fail("model.family: '", name, "' is not one of ", join(family_names(), ", "),
       did_you_mean(name, family_names()));
}

std::size_t positive(const io::Config& c, const char* key) {
  std::int64_t v = c.integer(key);
  if (v < 1) fail(key, " must be at least 1, got ", v);
  return std::size_t(v);
}

SiteOptions site_options(const io::Config& c) {
  const char* key = "model.norm_options";
  if (!c.is_table(key)) return SiteOptions(norm::parse_options(c.string(key)));
  SiteOptions options;
  const std::vector<std::string> kinds = norm::kind_names();
  const std::vector<std::string> roles(kSiteRoles.begin(), kSiteRoles.end());
  for (const auto& [name, text] : c.string_table(key)) {
    const bool is_kind = std::find(kinds.begin(), kinds.end(), name) != kinds.end();
    const bool is_role = std::find(roles.begin(), roles.end(), name) != roles.end();
    if (!is_kind && !is_role) {
      std::vector<std::string> both = kinds;
      both.insert(both.end(), roles.begin(), roles.end());
      fail(key, ": '", name, "' is neither a normalizer kind nor a Transformer site role",
           did_you_mean(name, both), "; kinds: ", join(kinds, ", "),
           "; roles: ", join(roles, ", "));
    }
    norm::NormOptions parsed;
    try {
      parsed = norm::parse_options(text);
      // a kind's entry is checked against it now; a role's when its sites are built (their kinds)
      if (is_kind) norm::resolve(name, parsed);
    } catch (const Error& e) {
      fail(key, ".", name, ": ", e.what());
    }
    (is_kind ? options.by_kind : options.by_role)[name] = std::move(parsed);
  }
  return options;
}

namespace {

// The table form names kinds and roles; each must be the kind or role of some site of the model.
template <class T>
void check_kinds_used(const SiteOptions& options, const Model<T>& model) {
  std::vector<std::string> used, used_roles;
  for (const nn::NormSite<T>* site : model.norm_sites()) {
    if (std::find(used.begin(), used.end(), site->kind()) == used.end()) used.push_back(site->kind());
    const std::string role(site_role(site->probe().name));
    const bool new_role = std::find(used_roles.begin(), used_roles.end(), role) == used_roles.end();
    if (!role.empty() && new_role) used_roles.push_back(role);
  }
  for (const auto& [role, given] : options.by_role) {
    if (std::find(used_roles.begin(), used_roles.end(), role) != used_roles.end()) continue;
    fail("model.norm_options: options for the role ", role, ", but no site of this ",
         model.family(), " has it (its sites' roles: ",
         used_roles.empty() ? std::string("none") : join(used_roles, ", "), "); drop the ", role,
         " entry");
  }
  for (const auto& [kind, given] : options.by_kind) {
    if (std::find(used.begin(), used.end(), kind) != used.end()) continue;
    fail("model.norm_options: options for ", kind, ", but no site of this ", model.family(),
         " is a ", kind, " (its sites use ", used.empty() ? std::string("no normalizer") : join(used, ", "),
         "); drop the ", kind, " entry or add it to model.norm");
  }
}

}  // namespace

template <class T>
std::unique_ptr<Model<T>> build_model(const io::Config& c, const TaskInfo& task) {
  const FamilyInfo& family = family_info(c.string("model.family"));
  if (task.kind != family.takes) {
    fail("data.task '", task.name, "' gives ", to_string(task.kind), "; model.family '",
         family.name, "' takes ", to_string(family.takes));
  }
  const SiteOptions options = site_options(c);
  std::unique_ptr<Model<T>> model;
  if constexpr (std::is_same_v<T, float>) {
    model = family.build_float(c, task, options);
  } else {
    model = family.build_double(c, task, options);
  }
  check_kinds_used(options, *model);
  return model;
}

template std::unique_ptr<Model<float>> build_model<float>(const io::Config&, const TaskInfo&);
template std::unique_ptr<Model<double>> build_model<double>(const io::Config&, const TaskInfo&);

}  // namespace normlab::models
