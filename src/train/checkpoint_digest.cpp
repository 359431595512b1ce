#include "train/checkpoint_digest.hpp"

#include <openssl/evp.h>

#include <bit>
#include <cmath>
#include <limits>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <sstream>
#include <vector>

#include "core/error.hpp"

namespace normlab::train {

namespace {

std::string sha256_hex(const void* data, std::size_t size) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data, size, digest, &length, EVP_sha256(), nullptr) != 1) {
    fail("checkpoint: SHA-256 failed (OpenSSL)");
  }
  std::string hex;
  char byte[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(byte, sizeof byte, "%02x", digest[i]);
    hex += byte;
  }
  return hex;
}

template <class T>
std::string values_digest(const std::vector<T>& values) {
  return sha256_hex(values.data(), values.size() * sizeof(T));
}

template <class T>
std::string state_text(const Checkpoint<T>& c) {
  std::ostringstream s;
  auto bits = [](double x) { return std::bit_cast<std::uint64_t>(x); };
  s << "step=" << c.step << "\noptimizer_t=" << c.optimizer.t << "\ntrain_rng=" << c.train_rng
    << "\ndropout_rng=" << c.dropout_rng << "\ntrain_loss=" << bits(c.train_loss)
    << "\nval_loss=" << bits(c.val_loss) << "\nval_metric=" << bits(c.val_metric)
    << "\nconfig_toml=" << c.config_toml << "\n";
  return s.str();
}

}  // namespace

template <class T>
CheckpointDigests digests_of(const Checkpoint<T>& c) {
  const std::string state = state_text(c);
  return {values_digest(c.params), values_digest(c.optimizer.m), values_digest(c.optimizer.v),
          sha256_hex(state.data(), state.size())};
}

template <class T>
void verify_digests(const std::string& path, const Checkpoint<T>& c, const CheckpointDigests& stored) {
  const CheckpointDigests now = digests_of(c);
  std::string damaged;
  for (auto [name, a, b] : {std::tuple{"params", &now.params, &stored.params},
                            {"optimizer_m", &now.optimizer_m, &stored.optimizer_m},
                            {"optimizer_v", &now.optimizer_v, &stored.optimizer_v},
                            {"state (step, generators, optimizer_t, config, losses)", &now.state,
                             &stored.state}}) {
    if (*a != *b) damaged += (damaged.empty() ? "" : ", ") + std::string(name);
  }
  if (!damaged.empty()) {
    fail(path, ": a damaged checkpoint: the SHA-256 of ", damaged,
         " does not match the one saved with it; it is not resumed (delete it to start afresh)");
  }
}

template <class T>
std::string parameter_digest(std::span<const T> values) {
  std::vector<double> wide(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    wide[i] = std::isnan(values[i]) ? std::numeric_limits<double>::quiet_NaN() : double(values[i]);
  }
  static_assert(std::endian::native == std::endian::little, "the digest is over little-endian bytes");
  return sha256_hex(wide.data(), wide.size() * sizeof(double));
}

template std::string parameter_digest<float>(std::span<const float>);
template std::string parameter_digest<double>(std::span<const double>);
template CheckpointDigests digests_of<float>(const Checkpoint<float>&);
template CheckpointDigests digests_of<double>(const Checkpoint<double>&);
template void verify_digests<float>(const std::string&, const Checkpoint<float>&,
                                    const CheckpointDigests&);
template void verify_digests<double>(const std::string&, const Checkpoint<double>&,
                                     const CheckpointDigests&);

}  // namespace normlab::train
