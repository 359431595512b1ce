// The real data sets shipped in the repository's data/ folder (Tiny Shakespeare, MNIST t10k), and
// the check that a file read from there is the one data/SHA256SUMS lists.
#pragma once

#include <string>

namespace normlab::data {

// The repository's data/ folder, and the default paths of the `text` and `mnist` tasks in it.
inline constexpr const char* kDataDir = NORMLAB_SOURCE_DIR "/data";
std::string default_text_path();  // data/tinyshakespeare/input.txt
std::string default_mnist_dir();  // data/mnist

// The lowercase hex SHA-256 of a file's bytes; throws naming the file if it cannot be read.
std::string sha256_file(const std::string& path);

// If `path` is a file under `data_dir` that data_dir/SHA256SUMS lists, checks its SHA-256 and
// throws naming the file, both digests and the manifest when they differ; any other file passes
// unchecked (a user's own data has no manifest).
void verify_if_listed(const std::string& path, const std::string& data_dir = kDataDir);

}  // namespace normlab::data
