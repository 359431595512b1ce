// One run's HDF5 file (format "normlab-run", see FORMAT in README): written to NAME.h5.partial and
// renamed to NAME.h5 when finished, so a reader globbing *.h5 never sees a half-written run.
#pragma once

#include <string>

#include "io/hdf5.hpp"

namespace normlab::io {

inline constexpr long long kRunFormatVersion = 1;

class RunFile {
 public:
  explicit RunFile(std::string path);  // creates path + ".partial" with status "running"
  RunFile(const RunFile&) = delete;
  RunFile& operator=(const RunFile&) = delete;
  ~RunFile();  // an unfinished run is closed with status "interrupted" and left as .partial

  h5::File& file() { return file_; }
  const std::string& path() const { return path_; }
  // Sets the final status, closes and renames to the final path.
  void finish(const std::string& status);

 private:
  std::string path_;
  h5::File file_;
  bool finished_ = false;
};

}  // namespace normlab::io
