// MNIST from its IDX files, gzip-compressed as distributed (read with zlib; an uncompressed file
// reads too). IDX: big-endian uint32 magic (2051 images, 2049 labels), the count, for images the
// rows and columns (28, 28), then one unsigned byte per pixel (row-major) or per label (0..9).
// Pixels become floats x / 255 in [0, 1]; no other preprocessing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "data/classification.hpp"

namespace normlab::data {

inline constexpr std::size_t kMnistSide = 28, kMnistPixels = kMnistSide * kMnistSide;

struct MnistSet {
  std::size_t N = 0;
  std::vector<float> pixels;         // (N, 784) in [0, 1]
  std::vector<std::int32_t> labels;  // (N) in [0, 9]
};

// Throws naming the file for: a file that cannot be opened (with the OS reason), a wrong magic
// number, dimensions other than 28x28, a file shorter or longer than its header says, a label
// above 9, and image and label counts that differ.
MnistSet load_mnist(const std::string& images_path, const std::string& labels_path);

// The test set in directory `dir` (data.path): t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz.
MnistSet load_mnist_dir(const std::string& dir);

// The first N - val examples are the training part, the last `val` the validation part.
template <class T>
class MnistTask {
 public:
  MnistTask(MnistSet set, std::size_t val);  // 1 <= val < N (data.val_size)
  LabeledBatch<T> sample(std::size_t B, Rng& rng) const;  // B training examples, with replacement
  LabeledBatch<T> validation() const;                     // (val, 784), in file order
  std::size_t train_size() const { return set_.N - val_; }
  std::size_t val_size() const { return val_; }

 private:
  LabeledBatch<T> gather(const std::vector<std::size_t>& rows) const;

  MnistSet set_;
  std::size_t val_;
};

}  // namespace normlab::data
