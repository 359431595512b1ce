// The flat parameter store a model owns: every parameter, its gradient and (in the optimizer)
// its moments live in one contiguous buffer each; layers hold handles and see slices.
// Zeroing gradients is one fill; the optimizer is one loop over one buffer.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "core/random.hpp"

namespace normlab::nn {

// What a parameter is, for initialization and for weight-decay exclusion.
enum class ParamRole { weight, bias, gain, embedding, lambda };
std::string to_string(ParamRole role);

// A factor on the init of elements [first, first + count) of a drawn parameter: its draw (by any
// scheme) is multiplied by `factor`, i.e. drawn with `factor` times the scheme's std. A depth-
// aware init (GPT-2's 1/sqrt(2 layers) on the residual projections, DeepNorm's beta) is one per
// parameter, or per row block of one (the value rows of a fused qkv weight).
struct InitScale {
  std::size_t first = 0, count = 0;
  double factor = 1;
};

struct ParamInfo {
  std::string name;                // "block0.attn.wq", "mlp.norm1.gain"
  std::vector<std::size_t> shape;  // e.g. (out, in) for a Linear weight
  ParamRole role;
  double init = 0;  // the starting value of gains, biases and lambda (weights are drawn)
  std::size_t offset = 0, size = 0;
  // > 0: initialize() draws each block of this many rows of the (rows, cols) weight as a random
  // orthogonal matrix instead of by the scheme (a GRU's W_hh under model.recurrent_init).
  std::size_t orthogonal_rows = 0;
  std::vector<InitScale> init_scales;  // applied in order after the draw (set by scale_init)
};

// A parameter's place in the store.
struct Param {
  std::size_t offset = 0, size = 0;
};

template <class T>
class ParamStore {
 public:
  // Declares a parameter; valid until allocate() is called.
  Param add(std::string name, std::vector<std::size_t> shape, ParamRole role, double init = 0);
  void allocate();  // sizes the buffers (values 0) once every parameter is declared
  // Marks weight `p` (rows, cols) for orthogonal init: each of its row blocks of `block` rows
  // becomes a random orthogonal matrix (see fill_orthogonal). Blocks must be square (block ==
  // cols): a non-square block has no W W^T = I and W^T W = I at once, so the property would
  // depend on which side a caller meant.
  void set_orthogonal(Param p, std::size_t block);
  // Multiplies the init of weight or embedding `p` by `factor` (> 0), over its elements
  // [first, first + count) or, by default, all of them; factors on the same elements multiply.
  // Every scheme of initialize() applies it after drawing, so the generator's draws (and every
  // other parameter's values) are those of an unscaled init.
  void scale_init(Param p, double factor, std::size_t first = 0, std::size_t count = 0);

  std::span<T> value(Param p) { return std::span<T>(values_).subspan(p.offset, p.size); }
  std::span<const T> value(Param p) const {
    return std::span<const T>(values_).subspan(p.offset, p.size);
  }
  std::span<T> grad(Param p) { return std::span<T>(grads_).subspan(p.offset, p.size); }

  std::vector<T>& values() { return values_; }
  const std::vector<T>& values() const { return values_; }
  std::vector<T>& grads() { return grads_; }
  const std::vector<ParamInfo>& infos() const { return infos_; }
  const ParamInfo& info(const std::string& name) const;  // throws, naming the known ones
  const ParamInfo* find(const std::string& name) const;  // nullptr when there is none
  std::size_t size() const { return values_.size(); }
  void zero_grads();
  // Draws weights and embeddings from N(mean, std^2) and sets everything else to its init.
  void initialize(double mean, double std, Rng& rng);
  // Initializes by scheme name (model.init), `std` being model.init_std:
  //   normal   weights and embeddings N(0, std^2)
  //   offset   weights and embeddings N(0.2, std^2): the RMSNorm paper's robustness test
  //   xavier   weights N(0, 2 / (fan_in + fan_out)) (Glorot), embeddings N(0, std^2)
  //   kaiming  weights N(0, 2 / fan_in) (He, for ReLU), embeddings N(0, std^2)
  // Gains, biases and lambda start at their init value. Unknown names throw, listing the schemes.
  // Weights marked by set_orthogonal are drawn orthogonal under every scheme (the scheme's mean
  // and std do not apply to them), from the same generator in parameter order. The factors of
  // scale_init multiply every draw, orthogonal ones included.
  void initialize(const std::string& scheme, double std, Rng& rng);

 private:
  void fill_orthogonal_blocks(const ParamInfo& info, Rng& rng);
  void apply_init_scales(const ParamInfo& info);

  std::vector<ParamInfo> infos_;
  std::vector<T> values_, grads_;
  bool allocated_ = false;
};

// q (n, n) row-major <- a random orthogonal matrix, uniform over the orthogonal group (Haar):
// the orthonormalized rows of an n x n standard Gaussian draw, i.e. the Q of its QR factorization
// with R's diagonal made positive (Mezzadri 2007, "How to generate random matrices from the
// classical compact groups"; without that sign fix Q is not Haar-distributed).
void fill_orthogonal(std::span<double> q, std::size_t n, Rng& rng);

}  // namespace normlab::nn
