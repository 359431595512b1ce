#include "data/mnist.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <zlib.h>

#include "core/error.hpp"
#include "data/data_files.hpp"

namespace normlab::data {

namespace {

constexpr std::uint32_t kImagesMagic = 2051, kLabelsMagic = 2049;

// One gzip (or plain) file read front to back; every failure names the file.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path) {
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    if (!file_)
      fail(path, ": cannot open: ", errno ? std::strerror(errno) : "out of memory in zlib");
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;
  ~GzFile() { gzclose(file_); }

  // Up to `n` bytes; fewer only at the end of the data (a truncated gzip stream ends the data).
  std::size_t read(unsigned char* out, std::size_t n) {
    std::size_t total = 0;
    while (total < n) {
      const unsigned chunk = unsigned(std::min<std::size_t>(n - total, 1u << 30));
      const int got = gzread(file_, out + total, chunk);
      if (got < 0) {
        int code = 0;
        const char* message = gzerror(file_, &code);
        fail(path_, ": cannot read: ", code == Z_ERRNO ? std::strerror(errno) : message);
      }
      if (got == 0) break;
      total += std::size_t(got);
    }
    return total;
  }

  // Exactly `n` bytes, else "<path>: truncated: <what> needs n bytes, the file has only m". Grows
  // the buffer as the data arrives, so a corrupt count cannot ask for terabytes up front.
  std::vector<unsigned char> read_exact(std::size_t n, const std::string& what) {
    std::vector<unsigned char> out;
    while (out.size() < n) {
      const std::size_t have = out.size();
      out.resize(std::min(n, have + (std::size_t(1) << 24)));
      const std::size_t got = read(out.data() + have, out.size() - have);
      if (have + got < out.size())
        fail(path_, ": truncated: ", what, " needs ", n, " bytes, the file has only ", have + got);
    }
    return out;
  }

  std::uint32_t read_u32(const char* what) {  // big-endian
    const std::vector<unsigned char> b = read_exact(4, what);
    return std::uint32_t(b[0]) << 24 | std::uint32_t(b[1]) << 16 | std::uint32_t(b[2]) << 8 | b[3];
  }

  void expect_end() {
    unsigned char extra[4096];
    std::size_t n = 0, got;
    while ((got = read(extra, sizeof extra)) > 0) n += got;
    if (n > 0) fail(path_, ": ", n, " extra byte(s) after the data its header describes");
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

void expect_magic(GzFile& f, std::uint32_t want, const char* kind) {
  const std::uint32_t magic = f.read_u32("the magic number");
  if (magic == want) return;
  const char* hint = magic == kImagesMagic   ? " (it is an image file)"
                     : magic == kLabelsMagic ? " (it is a label file)"
                                             : "";
  fail(f.path(), ": magic number ", magic, " is not that of an IDX ", kind, " file (", want, ")",
       hint);
}

}  // namespace

MnistSet load_mnist(const std::string& images_path, const std::string& labels_path) {
  MnistSet set;
  {
    GzFile f(images_path);
    expect_magic(f, kImagesMagic, "image");
    set.N = f.read_u32("the image count");
    const std::uint32_t rows = f.read_u32("the row count"), cols = f.read_u32("the column count");
    if (rows != kMnistSide || cols != kMnistSide)
      fail(images_path, ": images are ", rows, "x", cols, ", expected 28x28");
    const auto bytes = f.read_exact(set.N * kMnistPixels, cat(set.N, " images of 28x28"));
    f.expect_end();
    set.pixels.resize(bytes.size());
    for (std::size_t i = 0; i < bytes.size(); ++i) set.pixels[i] = float(bytes[i]) / 255.0f;
  }
  GzFile f(labels_path);
  expect_magic(f, kLabelsMagic, "label");
  const std::uint32_t count = f.read_u32("the label count");
  if (count != set.N)
    fail(labels_path, ": ", count, " labels, but ", images_path, " has ", set.N, " images");
  const auto bytes = f.read_exact(count, cat(count, " labels"));
  f.expect_end();
  set.labels.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (bytes[i] > 9) fail(labels_path, ": label ", int(bytes[i]), " of example ", i, " is not 0..9");
    set.labels[i] = bytes[i];
  }
  return set;
}

MnistSet load_mnist_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) fail(dir, " (data.path): not a directory");
  const std::string images = (fs::path(dir) / "t10k-images-idx3-ubyte.gz").string();
  const std::string labels = (fs::path(dir) / "t10k-labels-idx1-ubyte.gz").string();
  verify_if_listed(images);
  verify_if_listed(labels);
  return load_mnist(images, labels);
}

template <class T>
MnistTask<T>::MnistTask(MnistSet set, std::size_t val) : set_(std::move(set)), val_(val) {
  if (val_ < 1 || val_ >= set_.N)
    fail("data.val_size must be in [1, ", set_.N, ") for ", set_.N, " MNIST examples, got ", val_);
}

template <class T>
LabeledBatch<T> MnistTask<T>::sample(std::size_t B, Rng& rng) const {
  std::uniform_int_distribution<std::size_t> row(0, train_size() - 1);
  std::vector<std::size_t> rows(B);
  for (auto& r : rows) r = row(rng);
  return gather(rows);
}

template <class T>
LabeledBatch<T> MnistTask<T>::validation() const {
  std::vector<std::size_t> rows(val_);
  for (std::size_t i = 0; i < val_; ++i) rows[i] = train_size() + i;
  return gather(rows);
}

template <class T>
LabeledBatch<T> MnistTask<T>::gather(const std::vector<std::size_t>& rows) const {
  const std::size_t B = rows.size(), D = kMnistPixels;
  LabeledBatch<T> b{B, D, std::vector<T>(B * D), std::vector<std::int32_t>(B)};
  for (std::size_t i = 0; i < B; ++i) {
    const float* x = set_.pixels.data() + rows[i] * D;
    std::copy(x, x + D, b.x.begin() + i * D);
    b.labels[i] = set_.labels[rows[i]];
  }
  return b;
}

template class MnistTask<float>;
template class MnistTask<double>;

}  // namespace normlab::data
