#include "analysis/files.hpp"

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"

namespace normlab::analysis {

namespace fs = std::filesystem;

std::string beside_run(const std::string& run, const std::string& suffix) {
  std::string base = run;
  if (base.ends_with(".h5")) base.resize(base.size() - 3);
  return base + suffix;
}

std::vector<std::string> sensitivity_files(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const auto& in : inputs) {
    if (!fs::is_directory(in)) {
      files.push_back(in);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& e : fs::recursive_directory_iterator(in)) {
      if (e.path().string().ends_with(".sensitivity.h5")) found.push_back(e.path().string());
    }
    if (found.empty()) fail("analyze correlate: no *.sensitivity.h5 file under ", in);
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

std::string correlation_path(const std::vector<std::string>& inputs) {
  if (inputs.empty()) fail("analyze correlate: no input given");
  const fs::path first(inputs[0]);
  return ((fs::is_directory(first) ? first : first.parent_path()) / "correlation.h5").string();
}

}  // namespace normlab::analysis
