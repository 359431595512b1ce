#include "norm/registry.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "norm/emulated.hpp"

namespace normlab::norm {

// One line per normalizer, each defined in its own file.
KindInfo rmsnorm_kind();
KindInfo layernorm_kind();
KindInfo scalenorm_kind();
KindInfo prmsnorm_kind();
KindInfo l2norm_kind();
KindInfo centernorm_kind();
KindInfo pcnorm_kind();
KindInfo none_kind();
KindInfo dyt_kind();

const std::vector<KindInfo>& kinds() {
  static const std::vector<KindInfo> registry = {
      rmsnorm_kind(), layernorm_kind(), scalenorm_kind(),  prmsnorm_kind(),
      l2norm_kind(),  centernorm_kind(), pcnorm_kind(),    none_kind(),
      dyt_kind(),
  };
  return registry;
}

std::vector<std::string> kind_names() {
  std::vector<std::string> names;
  for (const auto& k : kinds()) names.push_back(k.name);
  return names;
}

const KindInfo& kind_info(std::string_view name) {
  for (const auto& k : kinds()) {
    if (k.name == name) return k;
  }
  fail("unknown normalizer '", name, "'", did_you_mean(name, kind_names()),
       "; valid: ", join(kind_names(), ", "));
}

NormConfig resolve(std::string_view kind, const NormOptions& options) {
  const KindInfo& info = kind_info(kind);
  NormConfig config = info.defaults;
  config.kind = info.name;
  for (const auto& [name, value] : options) {
    const auto& all = option_names();
    if (std::find(all.begin(), all.end(), name) == all.end()) {
      fail("unknown option '", name, "'", did_you_mean(name, all),
           "; options of ", info.name, ": ",
           info.options.empty() ? "none" : join(info.options, ", "));
    }
    const auto& precision = precision_option_names();
    if (std::find(info.options.begin(), info.options.end(), name) == info.options.end() &&
        std::find(precision.begin(), precision.end(), name) == precision.end()) {
      fail("option '", name, "' does not apply to ", info.name, " (its options: ",
           info.options.empty() ? "none" : join(info.options, ", "), ")");
    }
    if (info.form.family == KindForm::Family::elementwise &&
        std::find(precision.begin(), precision.end(), name) != precision.end()) {
      fail("option '", name, "' does not apply to ", info.name,
           ": the emulated-precision kernels (storage, accumulate) cover the shift-scale kinds "
           "only, and ", info.name, " is element-wise");
    }
    set_option(config, name, value);
  }
  if (!config.gain && config.zero_centered_gain) {
    fail(info.name, ": zero_centered_gain=true stores a gain, and gain=false has none (drop one)");
  }
  return config;
}

std::unique_ptr<Normalizer> make_normalizer(std::string_view kind, const NormOptions& options) {
  return make_normalizer(resolve(kind, options));
}

// Emulated low precision (storage, accumulate) wraps the kind in numerics' emulated kernels.
std::unique_ptr<Normalizer> make_normalizer(const NormConfig& config) {
  if (emulated_precision(config)) return make_emulated_normalizer(config);
  return kind_info(config.kind).make(config);
}

std::string options_string(const NormConfig& config) {
  std::vector<std::string> parts;
  for (const auto& name : kind_info(config.kind).options) {
    // gain only where it is false: the description of every kind with its gain (every run file,
    // fixture and sweep hash before the option existed) stays what it was.
    if (name == "gain" && config.gain) continue;
    parts.push_back(name + "=" + get_option(config, name));
  }
  // The precision options only where they differ from the default, so that the description of
  // every default normalizer (in run files, fixtures and sweeps) stays what it was.
  if (emulated_precision(config)) {
    for (const auto& name : precision_option_names()) {
      parts.push_back(name + "=" + get_option(config, name));
    }
  }
  return join(parts, ",");
}

std::string describe(const NormConfig& config) {
  return config.kind + "(" + options_string(config) + ")";
}

}  // namespace normlab::norm
