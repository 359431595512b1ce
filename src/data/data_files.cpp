#include "data/data_files.hpp"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/error.hpp"

namespace normlab::data {

namespace fs = std::filesystem;

std::string default_text_path() { return std::string(kDataDir) + "/tinyshakespeare/input.txt"; }
std::string default_mnist_dir() { return std::string(kDataDir) + "/mnist"; }

std::string sha256_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail(path, ": cannot open: ", std::strerror(errno));
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    fail(path, ": cannot start a SHA-256 digest (OpenSSL)");
  char buffer[1 << 16];
  std::size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, f.get())) > 0) {
    EVP_DigestUpdate(ctx.get(), buffer, got);
  }
  if (std::ferror(f.get())) fail(path, ": cannot read: ", std::strerror(errno));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &size);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < size; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

namespace {

// The digest data/SHA256SUMS lists for `relative` (a path inside data/), or "" if it lists none.
std::string listed_digest(const fs::path& manifest, const std::string& relative) {
  std::ifstream in(manifest);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string digest, name;
    if (fields >> digest >> name && name == relative) return digest;
  }
  return "";
}

}  // namespace

void verify_if_listed(const std::string& path, const std::string& data_dir) {
  std::error_code ec;
  const fs::path file = fs::weakly_canonical(path, ec);
  const fs::path dir = fs::weakly_canonical(data_dir, ec);
  if (ec) return;
  const fs::path relative = file.lexically_relative(dir);
  if (relative.empty() || *relative.begin() == "..") return;  // not under data/
  const fs::path manifest = dir / "SHA256SUMS";
  const std::string want = listed_digest(manifest, relative.generic_string());
  if (want.empty()) return;
  const std::string got = sha256_file(path);
  if (got != want) {
    fail(path, ": SHA-256 ", got, " differs from ", want, " listed in ", manifest.string(),
         ": the file is damaged or was replaced (data/README.md says where it comes from)");
  }
}

}  // namespace normlab::data
