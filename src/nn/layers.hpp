// Layer kernels: free functions, forward and backward side by side, templated on float/double.
// Argument order everywhere: outputs, caches, inputs, parameters, sizes. Backward WRITES the input
// gradient and ACCUMULATES (+=) into parameter gradients.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "core/targets.hpp"

namespace normlab::nn {

// ---- Linear: y = x W^T + b, W stored (out, in) as torch.nn.Linear ----
// y (B, out); x (B, in); W (out, in); b (out) or empty.
// Which GEMM each Linear product takes on this CPU, in words (bench prints it).
std::string linear_gemm_paths();

template <class T>
void linear_forward(T* y, const T* x, const T* W, const T* b, std::size_t B, std::size_t in,
                    std::size_t out);
// dx (B, in) written unless null; dW (out, in) +=; db (out) += unless null.
template <class T>
void linear_backward(T* dx, T* dW, T* db, const T* dy, const T* x, const T* W, std::size_t B,
                     std::size_t in, std::size_t out);

// ---- element-wise activations: y = f(x); dx = dy * f'(.) (written; dx may alias dy) ----
// Split across the run's threads (core/parallel.hpp); the bits do not depend on the count.
enum class Activation { relu, gelu, tanh, sigmoid };
Activation parse_activation(const std::string& name);
const char* to_string(Activation a);

// y (n); x (n)
template <class T>
void activation_forward(T* y, const T* x, std::size_t n, Activation a);
// dx (n) from dy (n), the input x and the output y of the forward
template <class T>
void activation_backward(T* dx, const T* dy, const T* x, const T* y, std::size_t n, Activation a);

// db (n) += the column sums of dy (rows, n): a bias gradient.
template <class T>
void add_column_sums(T* db, const T* dy, std::size_t rows, std::size_t n);

// ---- softmax cross-entropy, mean over the scored rows; stable (subtracts the row max) ----
// probs (B, V) cache; logits (B, V); targets (B), each in [0, V) or kIgnore (no loss, zero
// gradient; torch's ignore_index). Returns the mean loss over scored rows (accumulated in double;
// 0 when no row is scored).
template <class T>
double cross_entropy_forward(T* probs, const T* logits, const std::int32_t* targets, std::size_t B,
                             std::size_t V);
// How many of the n targets carry a loss (are not kIgnore).
std::size_t scored_targets(const std::int32_t* targets, std::size_t n);
// dlogits (B, V) written = scale * (probs - onehot) / (scored rows); 0 on ignored rows
template <class T>
void cross_entropy_backward(T* dlogits, const T* probs, const std::int32_t* targets,
                            std::size_t B, std::size_t V, double scale = 1.0);

// ---- a language model's loss on its logits: soft-cap, cross-entropy, z-loss ----
// logits <- c tanh(logits / c) first when softcap c > 0 (Gemma 2); then the cross-entropy above;
// with z_loss > 0 the gradient also gets that of z_loss * mean over the scored rows of
// (log Z_i)^2, Z_i = sum_j exp(logit_ij) (PaLM, OLMo 2). The value returned stays the plain
// cross-entropy: the losses a run reports and compares are the same with the z-loss on or off.
struct LossOptions {
  double z_loss = 0, softcap = 0;
};
// probs (B, V) and log_z (B, with z_loss) caches; logits (B, V) capped in place; targets (B)
template <class T>
double lm_loss_forward(T* probs, std::vector<double>& log_z, T* logits, const std::int32_t* targets,
                       std::size_t B, std::size_t V, LossOptions o);
// The z-loss's own value, mean over scored rows of log_z^2, from the last lm_loss_forward.
double z_loss_value(const std::vector<double>& log_z, const std::int32_t* targets, std::size_t B);
// dlogits (B, V) written: the gradient of the objective at the logits before the cap;
// logits (B, V) the capped ones of the forward
template <class T>
void lm_loss_backward(T* dlogits, const T* probs, const std::vector<double>& log_z,
                      const T* logits, const std::int32_t* targets, std::size_t B, std::size_t V,
                      LossOptions o);

// ---- Embedding: y[i] = E[tokens[i]] ----
// y (N, D); tokens (N); E (V, D). Tokens outside [0, V) throw.
template <class T>
void embedding_forward(T* y, const std::int32_t* tokens, const T* E, std::size_t N, std::size_t V,
                       std::size_t D);
// dE (V, D) += scatter of dy (N, D)
template <class T>
void embedding_backward(T* dE, const T* dy, const std::int32_t* tokens, std::size_t N,
                        std::size_t D);

// ---- inverted dropout: y = x * mask / (1 - p); mask drawn here, kept for the backward ----
// y (n), mask (n) in {0, 1/(1-p)}; p in [0, 1)
template <class T>
void dropout_forward(T* y, std::vector<T>& mask, const T* x, std::size_t n, double p, Rng& rng);
// mask (n) drawn alone, each entry 1/(1-p) with probability 1-p, else 0 (the draws of the forward)
template <class T>
void dropout_mask(std::vector<T>& mask, std::size_t n, double p, Rng& rng);
template <class T>
void dropout_backward(T* dx, const T* dy, const std::vector<T>& mask, std::size_t n);

}  // namespace normlab::nn
