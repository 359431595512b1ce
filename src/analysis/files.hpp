// Where `normlab analyze` puts its files by default, and how `analyze correlate` finds the
// sensitivity files it reads (docs/ANALYSIS.md).
#pragma once

#include <string>
#include <vector>

namespace normlab::analysis {

// The file beside a run file: "DIR/X.h5" -> "DIR/X<suffix>" (a name without .h5 keeps its whole
// name: "DIR/X" -> "DIR/X<suffix>").
std::string beside_run(const std::string& run, const std::string& suffix);
inline std::string sensitivity_path(const std::string& run) { return beside_run(run, ".sensitivity.h5"); }
inline std::string positions_path(const std::string& run) { return beside_run(run, ".positions.h5"); }

// The sensitivity files the inputs name: a file as given, a directory as every *.sensitivity.h5
// under it (recursively, sorted by path); a directory without one is an Error.
std::vector<std::string> sensitivity_files(const std::vector<std::string>& inputs);
// The default output of correlate: correlation.h5 in the first input when it is a directory,
// else beside the first input file.
std::string correlation_path(const std::vector<std::string>& inputs);

}  // namespace normlab::analysis
