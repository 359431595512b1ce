#include "norm/options.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/strings.hpp"

namespace normlab::norm {

std::string to_string(EpsMode mode) {
  switch (mode) {
    case EpsMode::inside: return "inside";
    case EpsMode::outside: return "outside";
    case EpsMode::clamp: return "clamp";
  }
  return "?";
}

std::string to_string(VarianceAlgo algo) {
  switch (algo) {
    case VarianceAlgo::two_pass: return "two_pass";
    case VarianceAlgo::one_pass: return "one_pass";
    case VarianceAlgo::welford: return "welford";
  }
  return "?";
}

std::string to_string(Storage storage) {
  switch (storage) {
    case Storage::native: return "native";
    case Storage::float32: return "float32";
    case Storage::bfloat16: return "bfloat16";
    case Storage::float16: return "float16";
  }
  return "?";
}

std::string to_string(Accumulate accumulate) {
  switch (accumulate) {
    case Accumulate::float64: return "float64";
    case Accumulate::float32: return "float32";
    case Accumulate::storage: return "storage";
  }
  return "?";
}

const std::vector<std::string>& precision_option_names() {
  static const std::vector<std::string> names = {"storage", "accumulate"};
  return names;
}

bool emulated_precision(const NormConfig& c) {
  return c.storage != Storage::native || c.accumulate != Accumulate::float64;
}

NormOptions parse_options(std::string_view text) {
  NormOptions options;
  if (trim(text).empty()) return options;
  for (const std::string& item : split(text, ',')) {
    auto eq = item.find('=');
    std::string name(trim(std::string_view(item).substr(0, eq)));
    if (eq == std::string::npos || name.empty()) {
      fail("option '", trim(item), "' is not of the form name=value");
    }
    if (options.count(name)) fail("option '", name, "' is given twice");
    options[name] = std::string(trim(std::string_view(item).substr(eq + 1)));
  }
  return options;
}

const std::vector<OptionInfo>& all_options() {
  static const std::vector<OptionInfo> options = {
      {"eps", "float > 0", "added to the statistic s where eps_mode says"},
      {"eps_mode", "inside|outside|clamp",
       "inside: sqrt(s + eps) (PyTorch, TensorFlow); outside: sqrt(s) + eps (RMSNorm author's "
       "code); clamp: max(sqrt(s), eps) (ScaleNorm authors' code)"},
      {"gain", "true|false",
       "learned gain g; false: none (torch.nn.RMSNorm(elementwise_affine=False) is rmsnorm with "
       "gain=false); described only when false"},
      {"bias", "true|false", "learned bias b (D) added after the gain"},
      {"zero_centered_gain", "true|false",
       "store the gain as w (initialised 0) and apply g0 + w, g0 = 1 (sqrt(D) for ScaleNorm)"},
      {"p", "0 < p <= 1", "pRMSNorm: the RMS is estimated from the first k = ceil(p*D) features"},
      {"lambda", "0 <= lambda <= 1", "partial centering: subtract lambda * mean(x)"},
      {"learn_lambda", "true|false", "lambda is a learned scalar parameter, initialised to lambda"},
      {"variance", "two_pass|one_pass|welford",
       "LayerNorm variance: two-pass, naive E[x^2]-E[x]^2, or Welford (all accumulate in double)"},
      {"alpha0", "float > 0", "DyT: the initial value of the learned scalar alpha in tanh(alpha * x)"},
      {"storage", "float32|bfloat16|float16",
       "every kind: emulate storing x, y, dy, dx (and the gain) in this format, rounded to nearest "
       "even (docs/NUMERICS.md); default native: the model's own type"},
      {"accumulate", "float64|float32|storage",
       "every kind: the emulated arithmetic's precision, each product and partial sum rounded; "
       "float64 with native storage is the library's own computation"},
  };
  return options;
}

std::vector<std::string> option_names() {
  std::vector<std::string> names;
  for (const auto& o : all_options()) names.push_back(o.name);
  return names;
}

namespace {

template <class Enum>
Enum parse_enum(std::string_view name, std::string_view value,
                std::initializer_list<Enum> choices) {
  std::vector<std::string> valid;
  for (Enum e : choices) {
    if (to_string(e) == value) return e;
    valid.push_back(to_string(e));
  }
  fail("option ", name, ": '", value, "' is not one of ", join(valid, ", "),
       did_you_mean(value, valid));
}

}  // namespace

void check_lambda(double lambda, std::string_view what) {
  if (!(lambda >= 0 && lambda <= 1)) fail(what, ": lambda must be in [0, 1], got ", lambda);
}

void set_option(NormConfig& c, std::string_view name, std::string_view text) {
  std::string what = cat("option ", name);
  text = trim(text);
  if (name == "eps") {
    double eps = parse_double(text, what);
    if (!(eps > 0) || !std::isfinite(eps)) fail(what, ": eps must be a finite number > 0, got ", text);
    c.eps = eps;
  } else if (name == "eps_mode") {
    c.eps_mode = parse_enum(name, text, {EpsMode::inside, EpsMode::outside, EpsMode::clamp});
  } else if (name == "gain") {
    c.gain = parse_bool(text, what);
  } else if (name == "bias") {
    c.bias = parse_bool(text, what);
  } else if (name == "zero_centered_gain") {
    c.zero_centered_gain = parse_bool(text, what);
  } else if (name == "p") {
    double p = parse_double(text, what);
    if (!(p > 0 && p <= 1)) fail(what, ": p must be in (0, 1], got ", text);
    c.p = p;
  } else if (name == "lambda") {
    c.lambda = parse_double(text, what);
    check_lambda(c.lambda, what);
  } else if (name == "learn_lambda") {
    c.learn_lambda = parse_bool(text, what);
  } else if (name == "variance") {
    c.variance = parse_enum(name, text,
                            {VarianceAlgo::two_pass, VarianceAlgo::one_pass, VarianceAlgo::welford});
  } else if (name == "alpha0") {
    double a = parse_double(text, what);
    if (!(a > 0) || !std::isfinite(a)) fail(what, ": alpha0 must be a finite number > 0, got ", text);
    c.alpha0 = a;
  } else if (name == "storage") {
    c.storage = parse_enum(name, text,
                           {Storage::native, Storage::float32, Storage::bfloat16, Storage::float16});
  } else if (name == "accumulate") {
    c.accumulate =
        parse_enum(name, text, {Accumulate::float64, Accumulate::float32, Accumulate::storage});
  } else {
    fail("unknown option '", name, "'", did_you_mean(name, option_names()),
         "; options are: ", join(option_names(), ", "));
  }
}

std::string get_option(const NormConfig& c, std::string_view name) {
  auto boolean = [](bool b) { return std::string(b ? "true" : "false"); };
  if (name == "eps") return format_double(c.eps);
  if (name == "eps_mode") return to_string(c.eps_mode);
  if (name == "gain") return boolean(c.gain);
  if (name == "bias") return boolean(c.bias);
  if (name == "zero_centered_gain") return boolean(c.zero_centered_gain);
  if (name == "p") return format_double(c.p);
  if (name == "lambda") return format_double(c.lambda);
  if (name == "learn_lambda") return boolean(c.learn_lambda);
  if (name == "variance") return to_string(c.variance);
  if (name == "alpha0") return format_double(c.alpha0);
  if (name == "storage") return to_string(c.storage);
  if (name == "accumulate") return to_string(c.accumulate);
  fail("unknown option '", name, "'", did_you_mean(name, option_names()));
}

}  // namespace normlab::norm
