// Writing a small text file so that a reader sees all of it or none: into a temporary file beside
// it, then a rename (atomic on one file system).
#pragma once

#include <string>

namespace normlab::io {

// Throws an Error naming the file when it cannot be written.
void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace normlab::io
