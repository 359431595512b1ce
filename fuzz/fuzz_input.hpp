// Shared by the fuzz targets: the input as a file (the readers take paths; libhdf5 reads it as it
// reads any file), in /dev/shm when there is one so that each iteration stays in memory.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace normlab::fuzz {

inline std::filesystem::path scratch_dir() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path shm("/dev/shm");
    std::filesystem::path base = std::filesystem::is_directory(shm) ? shm : std::filesystem::temp_directory_path();
    auto d = base / ("normlab-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

// Writes the input to `name` in the scratch directory and returns its path.
inline std::string write_input(const std::uint8_t* data, std::size_t size, const std::string& name) {
  const std::filesystem::path path = scratch_dir() / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return path.string();
}

}  // namespace normlab::fuzz
