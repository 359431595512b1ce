#include "io/text_file.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"

namespace normlab::io {

void write_text_atomically(const std::string& path, const std::string& text) {
  // The process id in the name keeps two writers (shards of one sweep) off each other's file.
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream f(tmp);
    f << text;
    if (!f) fail(tmp, ": cannot write");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace normlab::io
