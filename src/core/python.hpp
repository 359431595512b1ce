// Running Debian's /usr/bin/python3 (the one with numpy, h5py, matplotlib and torch; the python3
// first on PATH may lack them) for the parts of normlab written in Python: the plots.
#pragma once

#include <string>
#include <vector>

namespace normlab {

// `/usr/bin/python3 ARGS...` through the shell, each argument single-quoted, with PYTHONPATH set
// to `pythonpath` when it is not empty and no bytecode written into the source tree. Returns the
// shell's status (0: success). An argument holding a single quote is refused: an Error
// "WHO: argument with a quote: ARG".
int run_python(const std::string& who, const std::vector<std::string>& args,
               const std::string& pythonpath = "");

// The command line run_python runs (for error messages).
std::string python_command(const std::string& who, const std::vector<std::string>& args,
                           const std::string& pythonpath = "");

}  // namespace normlab
