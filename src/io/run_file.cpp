#include "io/run_file.hpp"

#include <filesystem>

namespace normlab::io {

RunFile::RunFile(std::string path)
    : path_(std::move(path)), file_(h5::File::create(path_ + ".partial")) {
  file_.write_attribute("/", "format", "normlab-run");
  file_.write_attribute("/", "format_version", kRunFormatVersion);
  file_.write_attribute("/", "status", "running");
  file_.write_attribute("/", "normlab_version", std::string(NORMLAB_VERSION));
}

RunFile::~RunFile() {
  if (finished_) return;
  try {
    file_.write_attribute("/", "status", "interrupted");
    file_.close();
  } catch (...) {
    // Destructors must not throw; the .partial name already tells the run did not finish.
  }
}

void RunFile::finish(const std::string& status) {
  file_.write_attribute("/", "status", status);
  file_.close();
  std::filesystem::rename(path_ + ".partial", path_);
  finished_ = true;
}

}  // namespace normlab::io
