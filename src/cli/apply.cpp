// normlab apply: a normalizer over activations stored in HDF5 (analysis/apply.hpp).
#include "analysis/apply.hpp"
#include "cli/common.hpp"
#include "norm/registry.hpp"

namespace normlab::cli {

int cmd_apply(const Args& args, std::ostream& out) {
  tools::ApplyRequest request;
  po::options_description desc("options");
  desc.add_options()
      ("norm", po::value(&request.kind)->required(), "normalizer kind (see `normlab norms`)")
      ("in", po::value(&request.in)->required(), "input HDF5 file")
      ("out", po::value(&request.out), "output HDF5 file, or a directory (DIR/) for the default name "
                                     "(default: IN with .normed.h5, beside it)")
      ("dtype", po::value(&request.dtype)->default_value("auto"),
       "auto (as x is stored) | float32 | float64");
  po::options_description config_spelling;  // --eps_mode as the config's norm_options spell it
  for (const auto& o : norm::all_options()) {
    desc.add_options()(flag_name(o.name).c_str(), po::value<std::string>(),
                       (o.values + ": " + o.help).c_str());
    if (flag_name(o.name) != o.name) config_spelling.add_options()(o.name.c_str(), po::value<std::string>());
  }
  po::variables_map vm;
  const std::string usage =
      "usage: normlab apply --norm KIND --in X.h5 [--out Y.h5|DIR/] [--dtype D] [normalizer options]\n\n"
      "Runs a normalizer over the last axis of activations stored in HDF5.\n"
      "reads:  x (..., D) required, any rank >= 1; dy (shape of x) optional upstream gradient;\n"
      "        parameters by name, gain (D) (scalenorm: (1)), bias (D), lambda (1), alpha (1, dyt),\n"
      "        default gain 1, bias 0, alpha alpha0\n"
      "writes: y (shape of x); with dy also dx (shape of x) and d_gain, d_bias, d_lambda, d_alpha as\n"
      "        the normalizer has them; attributes normalizer, kind, options, dtype, source\n"
      "A non-finite y or dx from finite input (an overflow) is an error, never written.\n"
      "Normalizer options are spelt --eps-mode or, as in a config's norm_options, --eps_mode.\n"
      "The output appears only when complete (written to OUT.partial, then renamed).";
  if (!parse(args, desc, vm, out, usage, nullptr, &config_spelling)) return 0;
  for (const auto& o : norm::all_options()) {
    for (const std::string& name : {flag_name(o.name), o.name}) {
      if (vm.count(name)) request.options[o.name] = vm[name].as<std::string>();
    }
  }
  tools::ApplyResult r = tools::apply_file(request);
  out << "normlab apply: " << r.normalizer << " on " << request.in << " (B = " << r.B
      << ", D = " << r.D << ", " << r.dtype << ")" << (r.backward ? ", forward and backward" : "")
      << " -> " << r.out << "\n";
  return 0;
}

}  // namespace normlab::cli
