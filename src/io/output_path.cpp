#include "io/output_path.hpp"

#include <filesystem>

#include "core/error.hpp"

namespace normlab::io {

namespace fs = std::filesystem;

namespace {

bool names_directory(const std::string& out) {
  std::error_code ec;
  return !out.empty() && (out.back() == '/' || fs::is_directory(out, ec));
}

}  // namespace

std::string output_file(const std::string& out, const std::string& default_path) {
  if (out.empty()) return default_path;
  if (!names_directory(out)) return out;
  return (fs::path(out) / fs::path(default_path).filename()).string();
}

void make_output_directory(const std::string& out) {
  if (out.empty() || out.back() != '/') return;
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) fail(out, ": cannot create the output directory (", ec.message(), ")");
}

}  // namespace normlab::io
