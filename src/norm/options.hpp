// Normalizer options: what a user may set (as text, from a command line, a config or a sweep),
// and the resolved, validated configuration a normalizer is built from.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace normlab::norm {

// Where eps enters the denominator r of a statistic s (a mean square, variance or squared norm):
enum class EpsMode {
  inside,   // r = sqrt(s + eps)       PyTorch nn.LayerNorm / nn.RMSNorm, TensorFlow
  outside,  // r = sqrt(s) + eps       the RMSNorm author's PyTorch code (bzhangGo/rmsnorm)
  clamp,    // r = max(sqrt(s), eps)   the ScaleNorm authors' code (Nguyen & Salazar 2019)
};

// How LayerNorm computes the row variance (all accumulate in double).
enum class VarianceAlgo {
  two_pass,  // mean first, then mean((x - mean)^2): the default, stable
  one_pass,  // naive E[x^2] - E[x]^2: cancels when |mean| >> std (kept for the numerics study)
  welford,   // Welford's streaming update of mean and M2
};

// Emulated low precision (norm/emulated_kernels.hpp), an option of every kind: the format the
// normalizer's inputs, outputs and gradients are rounded to, and the precision of its arithmetic.
// The defaults (native, float64) are the library's own computation, unchanged.
enum class Storage {
  native,    // the model's own type, nothing rounded
  float32,   // rounded to float32 (in a float32 model: native storage, but emulated arithmetic)
  bfloat16,  // rounded to bfloat16 to nearest even
  float16,   // rounded to IEEE float16 (overflow to inf, subnormals)
};
enum class Accumulate {
  float64,  // every intermediate in double (the library's own choice)
  float32,  // every product and partial sum rounded to float32
  storage,  // every product and partial sum rounded to the storage format
};

std::string to_string(EpsMode mode);
std::string to_string(VarianceAlgo algo);
std::string to_string(Storage storage);
std::string to_string(Accumulate accumulate);

// Options as given: name -> value text ("eps" -> "1e-6"). Unset names take the kind's default.
using NormOptions = std::map<std::string, std::string, std::less<>>;

// "eps=1e-6,bias=true" -> {eps: 1e-6, bias: true}; "" -> {}. Names are checked later, per kind.
NormOptions parse_options(std::string_view text);

// Every option any normalizer understands, for help texts and the command line.
struct OptionInfo {
  std::string name;    // e.g. "eps_mode"
  std::string values;  // e.g. "inside|outside|clamp"
  std::string help;
};
const std::vector<OptionInfo>& all_options();
std::vector<std::string> option_names();

// A fully resolved normalizer configuration: every option has a value.
struct NormConfig {
  std::string kind;
  double eps = 1e-5;  // PyTorch's nn.LayerNorm default
  EpsMode eps_mode = EpsMode::inside;
  bool gain = true;  // false: no learned gain (torch.nn.RMSNorm(elementwise_affine=False))
  bool bias = false;
  bool zero_centered_gain = false;
  double p = 0.0625;  // pRMSNorm: the RMSNorm paper's 6.25%
  double lambda = 0.5;
  bool learn_lambda = false;
  VarianceAlgo variance = VarianceAlgo::two_pass;
  double alpha0 = 0.5;  // DyT: the initial value of the learned scalar alpha (the paper's default)
  Storage storage = Storage::native;
  Accumulate accumulate = Accumulate::float64;
};

// The options every kind takes besides its own: storage and accumulate.
const std::vector<std::string>& precision_option_names();
// True when storage or accumulate asks for emulated arithmetic instead of the library's own.
bool emulated_precision(const NormConfig& config);

// Throws Error naming `what` unless 0 <= lambda <= 1 (a fixed option or a learned value given).
void check_lambda(double lambda, std::string_view what);

// Sets one option on `config` from text, validating its value; throws Error naming the option.
void set_option(NormConfig& config, std::string_view name, std::string_view value);

// The current value of one option as text (as set_option reads it back).
std::string get_option(const NormConfig& config, std::string_view name);

}  // namespace normlab::norm
