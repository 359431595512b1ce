// `normlab info RUN.h5 ...`: what a run file holds, in a few lines: its status and config summary,
// how far it got (steps, last losses, evaluations), its sites and how often statistics were taken.
// A file being written, or left by a killed writer (NAME.h5.partial), is read with SWMR, which
// needs no `h5clear`.
#pragma once

#include <ostream>
#include <string>

namespace normlab::tools {

// Throws an Error naming the file when it is not a run file or is of a newer format version.
void print_run_info(std::ostream& out, const std::string& path, bool with_config);

}  // namespace normlab::tools
