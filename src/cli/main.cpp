#include <cstdlib>
#include <iostream>
#include <unistd.h>

#include "cli/cli.hpp"
#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/kernels.hpp"

int main(int argc, char** argv) {
  // OpenBLAS picks its kernels when it loads. Where it misreads the CPU and no OPENBLAS_CORETYPE
  // was given, start again with the right one in the environment (once: the variable is then set).
  if (!std::getenv("OPENBLAS_CORETYPE")) {
    if (const char* core = normlab::better_blas_core()) {
      ::setenv("OPENBLAS_CORETYPE", core, 1);
      ::setenv("NORMLAB_SET_OPENBLAS_CORETYPE", "1", 1);  // for the record (normlab bench says so)
      ::execv("/proc/self/exe", argv);  // returns only on failure: then go on as we are
    }
  }
  // The kernel set is chosen once; a NORMLAB_ISA this CPU cannot run fails here, before any
  // command has written anything, rather than at a run's first GELU.
  try {
    normlab::kernels::active();
  } catch (const normlab::Error& e) {
    std::cerr << "normlab: error: " << e.what() << "\n";
    return 2;
  }
  return normlab::cli::run(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr);
}
