// normlab numerics: precision, cancellation and conditioning of the normalizers (numerics/study.hpp).
#include "cli/common.hpp"
#include "core/strings.hpp"
#include "io/output_path.hpp"
#include "numerics/study.hpp"

namespace normlab::cli {

int cmd_numerics(const Args& args, std::ostream& out) {
  tools::NumericsOptions o;
  std::string dims, norms;
  po::options_description desc("options");
  desc.add_options()
      ("out", po::value(&o.out)->default_value(o.out), "the HDF5 file written (docs/NUMERICS.md), or "
                                                       "a directory (DIR/) to write numerics.h5 into")
      ("plot", po::value(&o.plot), "also draw the figure into this PNG (scripts/plot_numerics.py)")
      ("quick", po::bool_switch(&o.quick), "a small grid for tests (D = 8, 64, 512; seconds)")
      ("dims", po::value(&dims), "feature sizes D, e.g. 8,64,512,4096,16384 (the default)")
      ("norms", po::value(&norms), "normalizer kinds (default: every shift-scale kind but none)")
      ("seed", po::value(&o.seed)->default_value(o.seed), "seed of the input draws");
  po::variables_map vm;
  const std::string usage =
      "usage: normlab numerics [--out FILE.h5|DIR/] [--plot FILE.png] [--quick] [--dims ...] [--norms ...]\n\n"
      "Precision, cancellation and conditioning of the normalizers: forward and backward in\n"
      "emulated bfloat16/float16/float32 (and normlab's own float32) against a long-double\n"
      "reference over input families and D; Jacobian singular values against closed forms;\n"
      "the 1/delta gradient scaling of RMSNorm. Writes HDF5, prints Markdown tables.";
  if (!parse(args, desc, vm, out, usage)) return 0;
  o.dims = parse_positive_integers(dims, "--dims");
  o.norms = split_list(norms);
  const std::string out_flag = o.out;
  o.out = io::output_file(out_flag, "numerics.h5");
  tools::numerics_grid(o);  // validates the options before the work starts
  const tools::NumericsReport report = tools::run_numerics(o);
  io::make_output_directory(out_flag);
  tools::write_numerics(report, o);
  out << tools::numerics_tables(report) << "\n" << report.cases.size() << " cases, "
      << report.conditioning.size() << " Jacobians -> " << o.out << "\n";
  if (!o.plot.empty()) {
    tools::plot_numerics(o.out, o.plot);
    out << "plot -> " << o.plot << "\n";
  }
  return 0;
}

}  // namespace normlab::cli
