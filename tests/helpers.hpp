// Shared test helpers: run a normalizer on std::vectors in one call.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "core/random.hpp"
#include "norm/registry.hpp"

namespace normlab::test {

// One forward (and optionally backward) of `n` over x (B, D) with flat parameters `params`.
template <class T>
struct Pass {
  std::vector<T> y, dx, grads;
  norm::NormCache cache;
};

template <class T>
Pass<T> run(const norm::Normalizer& n, const std::vector<T>& x, const std::vector<T>& params,
            std::size_t B, std::size_t D, const std::vector<T>* dy = nullptr) {
  auto specs = n.param_specs(D);
  auto p = norm::bind_params<const T>(specs, std::span<const T>(params));
  Pass<T> out;
  out.y.resize(B * D);
  n.forward(std::span<T>(out.y), out.cache, std::span<const T>(x), p, B, D);
  if (dy) {
    out.dx.resize(B * D);
    out.grads.assign(params.size(), T(0));
    n.backward(std::span<T>(out.dx), norm::bind_params<T>(specs, std::span<T>(out.grads)),
               out.cache, std::span<const T>(*dy), std::span<const T>(x), p, B, D);
  }
  return out;
}

// Random parameters near their initial values (gain g0 * (1 + 0.2 N), bias 0.2 N, lambda as
// initialised +- 0.1), so that gain and bias gradients are not taken at a special point.
inline std::vector<double> random_params(const norm::Normalizer& n, std::size_t D, Rng& rng) {
  std::vector<double> flat;
  std::normal_distribution<double> normal;
  for (const auto& s : n.param_specs(D)) {
    for (std::size_t i = 0; i < s.size; ++i) {
      if (s.name == "gain") flat.push_back(s.init + 0.2 * normal(rng) * std::max(1.0, s.init));
      else if (s.name == "bias") flat.push_back(0.2 * normal(rng));
      else flat.push_back(s.init + 0.1 * normal(rng));
    }
  }
  return flat;
}

inline std::vector<double> random_normal(std::size_t n, Rng& rng, double mean = 0, double sd = 1) {
  std::vector<double> v(n);
  fill_normal(std::span<double>(v), rng, mean, sd);
  return v;
}

// A file's whole contents, to compare files byte for byte.
inline std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A fresh directory per test, removed afterwards.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("normlab_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

}  // namespace normlab::test
