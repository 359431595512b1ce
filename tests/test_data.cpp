// The data side of training: character texts (tinyshakespeare, the embedded grammar), the copy and
// recall sequence tasks, and MNIST from its gzipped IDX files, each with its bad-input messages.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <zlib.h>

#include "data/grammar.hpp"
#include "data/mnist.hpp"
#include "data/sequence.hpp"
#include "data/data_files.hpp"
#include "data/text.hpp"
#include "helpers.hpp"

namespace {

using namespace normlab;
using Catch::Matchers::Contains;
using test::TempDir;

const std::string kShakespeare = data::default_text_path();
const std::string kMnistDir = data::default_mnist_dir();
const std::string kImages = kMnistDir + "/t10k-images-idx3-ubyte.gz";
const std::string kLabels = kMnistDir + "/t10k-labels-idx1-ubyte.gz";

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  gzclose(f);
}

std::string big_endian(std::initializer_list<std::uint32_t> words) {
  std::string out;
  for (std::uint32_t w : words)
    for (int shift = 24; shift >= 0; shift -= 8) out += char((w >> shift) & 0xff);
  return out;
}

// Entropy in nats of the next character given the previous `order` characters, from counts over
// the whole text (order 0: the unigram entropy). An independent reference for the grammar.
double conditional_entropy(const std::string& text, std::size_t order) {
  std::map<std::string, std::map<char, double>> counts;
  for (std::size_t i = order; i < text.size(); ++i) counts[text.substr(i - order, order)][text[i]] += 1;
  const double n = double(text.size() - order);
  double h = 0;
  for (const auto& [context, next] : counts) {
    double total = 0;
    for (const auto& [c, k] : next) total += k;
    for (const auto& [c, k] : next) h -= k / n * std::log(k / total);
  }
  return h;
}

}  // namespace

TEST_CASE("text: tinyshakespeare vocabulary, split and unigram entropy", "[data]") {
  data::CharText text = data::load_char_text(kShakespeare, 0.1);
  CHECK(text.vocab() == 65);
  // Python reference: d = open(path, 'rb').read(); len(d) = 1115394, int(len(d) * 0.9) = 1003854;
  // the validation part's character entropy -sum p log p = 3.3373119106066005 nats.
  CHECK(text.train_size() == 1003854);
  CHECK(text.val_size() == 111540);
  CHECK(text.unigram_entropy() == Approx(3.3373119106066005).epsilon(1e-12));
  CHECK(text.alphabet().front() == '\n');
  CHECK(text.alphabet().back() == 'z');
  const std::string phrase = "First Citizen:\nBefore we proceed any further, hear me speak.";
  auto tokens = text.encode(phrase);
  CHECK(text.decode(tokens) == phrase);
  for (auto t : tokens) CHECK((t >= 0 && t < 65));
  CHECK(text.describe().find("vocab 65") != std::string::npos);
}

TEST_CASE("text: windows, shifted targets, determinism", "[data]") {
  // distinct bytes in increasing order: token i is position i, so windows show as offsets
  const std::string raw = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  data::CharText text(raw, 0.25, "alphabet");
  CHECK(text.vocab() == raw.size());
  CHECK(text.train_size() == 27);
  CHECK(text.val_size() == 9);
  const std::size_t B = 16, T = 5;
  Rng rng(7);
  data::TokenBatch b = text.sample(B, T, rng);
  REQUIRE((b.B == B && b.T == T && b.tokens.size() == B * T && b.targets.size() == B * T));
  for (std::size_t i = 0; i < B; ++i) {
    // one contiguous window inside the training part, targets = tokens shifted by one
    const std::int32_t start = b.tokens[i * T];
    CHECK(start + std::int32_t(T) < 27);
    for (std::size_t t = 0; t < T; ++t) {
      CHECK(b.tokens[i * T + t] == start + std::int32_t(t));
      CHECK(b.targets[i * T + t] == start + std::int32_t(t) + 1);
    }
  }
  Rng same(7), other(8);
  CHECK(text.sample(B, T, same).tokens == b.tokens);
  CHECK(text.sample(B, T, other).tokens != b.tokens);

  // validation: the 9 held-out characters "RSTUVWXYZ" hold (9 - 1) / 2 = 4 windows of T=2,
  // starting at 27, 29, 31, 33; their targets tile positions 28..35 without overlap
  data::TokenBatch v = text.validation(100, 2, rng);
  CHECK(v.B == 4);
  CHECK(v.tokens == std::vector<std::int32_t>{27, 28, 29, 30, 31, 32, 33, 34});
  CHECK(v.targets == std::vector<std::int32_t>{28, 29, 30, 31, 32, 33, 34, 35});
  CHECK(text.validation(3, 2, rng).B == 3);  // capped at B
  CHECK(text.validation(1, 8, rng).B == 1);  // 9 characters: exactly one window of T=8
}

TEST_CASE("text: bad inputs, each with its message", "[data]") {
  TempDir dir;
  CHECK_THROWS_WITH(data::load_char_text(dir / "missing.txt", 0.1),
                    Contains("missing.txt: cannot read the text file: No such file or directory"));
  CHECK_THROWS_WITH(data::load_char_text(dir.path.string(), 0.1),
                    Contains(": cannot read the text file: Is a directory"));
  write_file(dir / "empty.txt", "");
  CHECK_THROWS_WITH(data::load_char_text(dir / "empty.txt", 0.1),
                    Contains("empty.txt: the text file is empty"));
  write_file(dir / "short.txt", "to be or not to be, that is the question");  // 40 characters
  CHECK_THROWS_WITH(data::load_char_text(dir / "short.txt", 1.0),
                    Contains("data.val_fraction must be in (0, 1), got 1"));
  CHECK_THROWS_WITH(data::load_char_text(dir / "short.txt", 0),
                    Contains("data.val_fraction must be in (0, 1), got 0"));
  CHECK_THROWS_WITH(data::load_char_text(dir / "short.txt", 0.01),
                    Contains("leave 39 for training and 1 for validation; each part needs at least 2"));
  data::CharText text = data::load_char_text(dir / "short.txt", 0.25);  // 30 train, 10 validation
  Rng rng(1);
  CHECK_THROWS_WITH(text.validation(4, 10, rng),
                    Contains("model.context T=10 is longer than the validation text (10 characters) "
                             "of " + dir / "short.txt"));
  CHECK_THROWS_WITH(text.sample(4, 30, rng),
                    Contains("model.context T=30 is longer than the training text (30 characters)"));
  CHECK_THROWS_WITH(text.sample(4, 0, rng), Contains("model.context must be at least 1"));
  CHECK_NOTHROW(text.sample(4, 29, rng));
  CHECK_THROWS_WITH(text.encode("Q"), Contains("byte 81 at position 0 is not in the vocabulary"));
  const std::int32_t bad[] = {0, 99};
  CHECK_THROWS_WITH(text.decode(bad), Contains("token 99 at position 1 is outside the vocabulary"));
}

TEST_CASE("grammar: deterministic sentences with structure to learn", "[data]") {
  const std::string text = data::grammar_text(200000, 3);
  REQUIRE(text.size() == 200000);
  CHECK(data::grammar_text(200000, 3) == text);
  CHECK(data::grammar_text(1000, 4) != text.substr(0, 1000));
  CHECK(text.substr(0, 1000) == data::grammar_text(1000, 3));  // a prefix of the longer text
  CHECK(std::isupper(static_cast<unsigned char>(text[0])));
  CHECK(text.find(". ") != std::string::npos);
  CHECK(text.find("  ") == std::string::npos);
  // Counted references: a few characters of context should take the entropy far below the
  // unigram's. Measured at this seed: 2.92, 1.75 and 0.79 nats for orders 0, 1 and 2.
  const double h0 = conditional_entropy(text, 0), h1 = conditional_entropy(text, 1),
               h2 = conditional_entropy(text, 2);
  INFO("unigram " << h0 << ", bigram " << h1 << ", trigram " << h2 << " nats");
  CHECK(h1 < 0.85 * h0);
  CHECK(h2 < 0.6 * h0);

  data::CharText task = data::make_grammar_text(100000, 0.1, 3);
  CHECK(task.train_size() == 90000);
  CHECK(task.vocab() < 40);  // lower case letters, a few capitals, space and the full stop
  CHECK(task.unigram_entropy() == Approx(h0).epsilon(0.05));
  CHECK(task.describe().find("grammar(seed=3)") != std::string::npos);
}

TEST_CASE("copy: layout, scored targets equal the prefix", "[data]") {
  data::CopyTask copy(8);
  CHECK(copy.vocab() == 9);
  CHECK(copy.unigram_entropy() == Approx(std::log(8.0)));
  for (std::size_t T : {2, 7, 10}) {
    const std::size_t B = 32, k = T / 2;
    Rng rng(T);
    data::TokenBatch b = copy.sample(B, T, rng);
    REQUIRE((b.B == B && b.T == T && b.tokens.size() == B * T && b.targets.size() == B * T));
    for (std::size_t i = 0; i < B; ++i) {
      const std::int32_t* x = b.tokens.data() + i * T;
      const std::int32_t* y = b.targets.data() + i * T;
      std::size_t scored = 0;
      for (std::size_t t = 0; t < T; ++t) scored += y[t] != kIgnore;
      CHECK(scored == k);
      CHECK(x[k] == copy.delimiter());
      for (std::size_t j = 0; j < k; ++j) {
        CHECK((x[j] >= 0 && x[j] < 8));
        CHECK(y[j] == kIgnore);
        CHECK(y[k + j] == x[j]);                      // the answer is the prefix
        if (j > 0) CHECK(x[k + j] == x[j - 1]);       // teacher forcing: the answer so far
      }
      if (T % 2 == 1) CHECK((x[T - 1] == x[k - 1] && y[T - 1] == kIgnore));
    }
    Rng same(T);
    CHECK(copy.sample(B, T, same).tokens == b.tokens);
    CHECK(copy.validation(B, T, rng).tokens != b.tokens);  // fresh draws from the rng
  }
  Rng rng(0);
  CHECK_THROWS_WITH(copy.sample(4, 1, rng), Contains("model.context T=1 is too short for copy"));
  CHECK_THROWS_WITH(data::CopyTask(1), Contains("data.symbols must be at least 2, got 1"));
}

TEST_CASE("recall: layout, one scored target, the queried key's value", "[data]") {
  const std::size_t S = 6;
  data::RecallTask recall(S);
  CHECK(recall.vocab() == 14);
  CHECK(recall.unigram_entropy() == Approx(std::log(6.0)));
  for (std::size_t T : {4, 9, 14}) {
    const std::size_t B = 64, n = (T - 2) / 2;
    Rng rng(T);
    data::TokenBatch b = recall.sample(B, T, rng);
    REQUIRE((b.B == B && b.T == T && b.tokens.size() == B * T && b.targets.size() == B * T));
    std::size_t answers_at_first_pair = 0;
    for (std::size_t i = 0; i < B; ++i) {
      const std::int32_t* x = b.tokens.data() + i * T;
      const std::int32_t* y = b.targets.data() + i * T;
      for (std::size_t t = 0; t + 1 < T; ++t) CHECK(y[t] == kIgnore);
      if (T % 2 == 1) CHECK(x[0] == recall.pad());
      const std::int32_t* pairs = x + T % 2;
      std::map<std::int32_t, std::int32_t> value_of;
      for (std::size_t j = 0; j < n; ++j) {
        CHECK((pairs[2 * j] >= 0 && pairs[2 * j] < std::int32_t(S)));
        CHECK((pairs[2 * j + 1] >= std::int32_t(S) && pairs[2 * j + 1] < std::int32_t(2 * S)));
        value_of[pairs[2 * j]] = pairs[2 * j + 1];
      }
      CHECK(value_of.size() == n);  // distinct keys
      CHECK(x[T - 2] == recall.query());
      REQUIRE(value_of.count(x[T - 1]) == 1);
      CHECK(y[T - 1] == value_of[x[T - 1]]);
      answers_at_first_pair += x[T - 1] == pairs[0];
    }
    if (n > 1) CHECK(answers_at_first_pair < B);  // the queried pair varies
    Rng same(T);
    CHECK(recall.sample(B, T, same).tokens == b.tokens);
  }
  Rng rng(0);
  CHECK_THROWS_WITH(recall.sample(4, 3, rng), Contains("model.context T=3 is too short for recall"));
  CHECK_NOTHROW(recall.sample(4, 2 * S + 3, rng));  // S pairs: every key once
  CHECK_THROWS_WITH(recall.sample(4, 2 * S + 4, rng),
                    Contains("asks recall for 7 distinct keys but data.symbols=6; use T <= 15"));
  CHECK_THROWS_WITH(data::make_sequence_task("recal", 4),
                    Contains("'recal' is not a sequence task (copy, recall) (did you mean 'recall'?)"));
  CHECK(data::make_sequence_task("copy", 4)->vocab() == 5);
}

TEST_CASE("mnist: the t10k set, labels and pixels against an independent reader", "[data]") {
  data::MnistSet set = data::load_mnist_dir(kMnistDir);
  REQUIRE(set.N == 10000);
  REQUIRE(set.pixels.size() == 10000 * 784);
  REQUIRE(set.labels.size() == 10000);
  // From /usr/bin/python3: d = gzip.open(labels).read(); [d[8:].count(bytes([k])) for k in range(10)]
  // and the first ten labels list(d[8:18]); the first image's byte sum from the images file.
  const std::vector<std::size_t> expected = {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009};
  std::vector<std::size_t> histogram(10);
  for (auto l : set.labels) ++histogram[std::size_t(l)];
  CHECK(histogram == expected);
  CHECK(std::vector<std::int32_t>(set.labels.begin(), set.labels.begin() + 10) ==
        std::vector<std::int32_t>{7, 2, 1, 0, 4, 1, 4, 9, 5, 9});
  double first = 0;
  for (std::size_t j = 0; j < 784; ++j) first += set.pixels[j];
  CHECK(first == Approx(18454.0 / 255).epsilon(1e-6));
  const auto [lo, hi] = std::minmax_element(set.pixels.begin(), set.pixels.end());
  CHECK(*lo == 0.0f);
  CHECK(*hi == 1.0f);

  data::MnistTask<float> task(std::move(set), 1000);
  CHECK(task.train_size() == 9000);
  data::LabeledBatch<float> v = task.validation();
  CHECK((v.B == 1000 && v.D == 784 && v.x.size() == 1000 * 784 && v.labels.size() == 1000));
  Rng rng(5), same(5);
  data::LabeledBatch<float> b = task.sample(32, rng);
  CHECK((b.B == 32 && b.D == 784 && b.x.size() == 32 * 784));
  CHECK(task.sample(32, same).x == b.x);
  CHECK_THROWS_WITH(data::MnistTask<double>(data::load_mnist(kImages, kLabels), 10000),
                    Contains("data.val_size must be in [1, 10000) for 10000 MNIST examples, got 10000"));
  CHECK_THROWS_WITH(data::MnistTask<double>(data::load_mnist(kImages, kLabels), 0),
                    Contains("got 0"));
}

TEST_CASE("mnist: bad files, each with its message", "[data]") {
  TempDir dir;
  CHECK_THROWS_WITH(data::load_mnist(dir / "none.gz", kLabels),
                    Contains("none.gz: cannot open: No such file or directory"));
  CHECK_THROWS_WITH(data::load_mnist_dir(dir / "nowhere"), Contains("nowhere (data.path): not a directory"));
  CHECK_THROWS_WITH(data::load_mnist_dir(dir.path.string()),
                    Contains("t10k-images-idx3-ubyte.gz: cannot open: No such file or directory"));
  CHECK_THROWS_WITH(data::load_mnist(kLabels, kLabels),
                    Contains("magic number 2049 is not that of an IDX image file (2051) (it is a label file)"));
  write_gz(dir / "bad_magic.gz", big_endian({0x12345678, 1, 28, 28}));
  CHECK_THROWS_WITH(data::load_mnist(dir / "bad_magic.gz", kLabels),
                    Contains("bad_magic.gz: magic number 305419896 is not that of an IDX image file"));
  write_gz(dir / "small.gz", big_endian({2051, 1, 14, 14}));
  CHECK_THROWS_WITH(data::load_mnist(dir / "small.gz", kLabels),
                    Contains("small.gz: images are 14x14, expected 28x28"));
  write_gz(dir / "header.gz", big_endian({2051, 1}));
  CHECK_THROWS_WITH(data::load_mnist(dir / "header.gz", kLabels),
                    Contains("header.gz: truncated: the row count needs 4 bytes, the file has only 0"));
  // two images promised, one present
  write_gz(dir / "one.gz", big_endian({2051, 2, 28, 28}) + std::string(784, '\x80'));
  CHECK_THROWS_WITH(data::load_mnist(dir / "one.gz", kLabels),
                    Contains("one.gz: truncated: 2 images of 28x28 needs 1568 bytes, the file has only 784"));
  // the real labels file cut in half: the gzip stream ends early
  const std::string labels_gz = read_file(kLabels);
  write_file(dir / "cut.gz", labels_gz.substr(0, labels_gz.size() / 2));
  CHECK_THROWS_WITH(data::load_mnist(kImages, dir / "cut.gz"),
                    Contains("cut.gz: truncated: 10000 labels needs 10000 bytes, the file has only"));
  write_gz(dir / "long.gz", big_endian({2051, 1, 28, 28}) + std::string(785, '\0'));
  CHECK_THROWS_WITH(data::load_mnist(dir / "long.gz", kLabels),
                    Contains("long.gz: 1 extra byte(s) after the data its header describes"));
  write_gz(dir / "images.gz", big_endian({2051, 1, 28, 28}) + std::string(784, '\0'));
  write_gz(dir / "labels.gz", big_endian({2049, 2}) + std::string("\x01\x02"));
  CHECK_THROWS_WITH(data::load_mnist(dir / "images.gz", dir / "labels.gz"),
                    Contains("labels.gz: 2 labels, but " + dir / "images.gz" + " has 1 images"));
  write_gz(dir / "label10.gz", big_endian({2049, 1}) + std::string("\x0a"));
  CHECK_THROWS_WITH(data::load_mnist(dir / "images.gz", dir / "label10.gz"),
                    Contains("label10.gz: label 10 of example 0 is not 0..9"));
  write_gz(dir / "label1.gz", big_endian({2049, 1}) + std::string("\x03"));
  data::MnistSet tiny = data::load_mnist(dir / "images.gz", dir / "label1.gz");
  CHECK((tiny.N == 1 && tiny.labels[0] == 3));
}

namespace {

// The digest data/SHA256SUMS lists for a name, read here independently of the loader.
std::string manifest_digest(const std::string& name) {
  std::ifstream in(std::string(normlab::data::kDataDir) + "/SHA256SUMS");
  std::string digest, file;
  while (in >> digest >> file) {
    if (file == name) return digest;
  }
  return "";
}

}  // namespace

TEST_CASE("data files: the shipped data sets are in the repository and intact", "[data]") {
  // The defaults point inside the checkout, not beside it (a clone has nothing beside it).
  const std::string root = std::filesystem::weakly_canonical(NORMLAB_SOURCE_DIR).string();
  for (const std::string& path : {data::default_text_path(), data::default_mnist_dir()}) {
    CAPTURE(path);
    CHECK(std::filesystem::weakly_canonical(path).string().rfind(root + "/data/", 0) == 0);
    CHECK(std::filesystem::exists(path));
  }
  // The digests README and SHA256SUMS list (those of the canonical files).
  CHECK(manifest_digest("tinyshakespeare/input.txt") ==
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed");
  CHECK(manifest_digest("mnist/t10k-images-idx3-ubyte.gz") ==
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6");
  CHECK(manifest_digest("mnist/t10k-labels-idx1-ubyte.gz") ==
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6");
  CHECK(data::sha256_file(data::default_text_path()) == manifest_digest("tinyshakespeare/input.txt"));
  CHECK_NOTHROW(data::verify_if_listed(data::default_text_path()));
}

TEST_CASE("data files: SHA-256 against FIPS 180-2's vectors, and a replaced file refused", "[data]") {
  TempDir tmp;
  const std::string dir = tmp.path.string();
  write_file(dir + "/abc.txt", "abc");
  write_file(dir + "/empty.txt", "");
  // FIPS 180-2, appendix B.1, and the digest of the empty message.
  CHECK(data::sha256_file(dir + "/abc.txt") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(data::sha256_file(dir + "/empty.txt") ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK_THROWS_WITH(data::sha256_file(dir + "/missing.txt"), Contains("missing.txt: cannot open"));

  write_file(dir + "/SHA256SUMS",
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  abc.txt\n"
             "0000000000000000000000000000000000000000000000000000000000000000  empty.txt\n");
  CHECK_NOTHROW(data::verify_if_listed(dir + "/abc.txt", dir));
  CHECK_THROWS_WITH(data::verify_if_listed(dir + "/empty.txt", dir),
                    Contains("empty.txt: SHA-256 e3b0c442") && Contains("differs from 0000") &&
                        Contains("SHA256SUMS"));
  write_file(dir + "/unlisted.txt", "anything");
  CHECK_NOTHROW(data::verify_if_listed(dir + "/unlisted.txt", dir));  // a user's own file
  CHECK_NOTHROW(data::verify_if_listed(dir + "/empty.txt", dir + "/elsewhere"));  // not under it

  // A damaged shipped file is refused by the loader itself: a copy of data/ with one byte changed.
  std::filesystem::create_directories(dir + "/data/tinyshakespeare");
  std::string text = read_file(data::default_text_path());
  text[1000] ^= 1;
  write_file(dir + "/data/tinyshakespeare/input.txt", text);
  std::filesystem::copy_file(std::string(data::kDataDir) + "/SHA256SUMS", dir + "/data/SHA256SUMS");
  CHECK_THROWS_WITH(data::verify_if_listed(dir + "/data/tinyshakespeare/input.txt", dir + "/data"),
                    Contains("input.txt: SHA-256") && Contains("differs from 86c4e6aa"));
}
