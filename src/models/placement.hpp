// Where a Transformer block puts its normalizers (model.placement), one placement per block or
// one for all. Each of a block's two sublayers (attention, MLP) with input s and function F is:
//   pre        s' = s + F(N(s))                   GPT-2, Llama
//   post       s' = N(s + F(s))                   the original Transformer
//   sandwich   s' = s + N_out(F(N(s)))            Peri-LN (Kim et al. 2025); Gemma's pre+post norm
//   reordered  s' = s + N_out(F(s))               OLMo 2's "reordered norm" (`peri` before run
//                                                 format 4; Peri-LN is `sandwich`)
//   deepnorm   s' = N(alpha s + F(s))             DeepNorm (Wang et al. 2022, DeepNet): post-norm
//                                                 with alpha = (2M)^(1/4) for M blocks, and the
//                                                 init of the MLP's weights and the attention's
//                                                 value and output projections times
//                                                 beta = (8M)^(-1/4) (the decoder-only row;
//                                                 SwiGLU: fc and proj, not the gate)
//   none       s' = s + F(s)
// A list gives Mix-LN (Li et al. 2024): e.g. post in the first blocks, pre after them.
#pragma once

#include <cmath>
#include <string>
#include <vector>

namespace normlab::models {

enum class Placement { pre, post, sandwich, reordered, deepnorm, none };

Placement parse_placement(const std::string& name);  // errors name model.placement
const char* to_string(Placement p);
// model.placement's value: one name, or one per block (`layers` of them); errors name the key.
std::vector<Placement> parse_placements(const std::vector<std::string>& names, std::size_t layers);

inline bool norm_before(Placement p) { return p == Placement::pre || p == Placement::sandwich; }
inline bool norm_after_sum(Placement p) { return p == Placement::post || p == Placement::deepnorm; }
inline bool norm_on_output(Placement p) {
  return p == Placement::sandwich || p == Placement::reordered;
}
// The model has a final norm before the head when its LAST block's placement leaves the stream
// unnormalized and has a norm of its own (pre, sandwich, reordered): for Mix-LN (post, then pre)
// that is the pre-norm models' final norm; a model ending in post-norm (or deepnorm) blocks ends
// normalized.
inline bool final_norm(Placement last) {
  return last == Placement::pre || last == Placement::sandwich || last == Placement::reordered;
}

// DeepNorm's constants for a decoder of M blocks (DeepNet's Table, decoder-only): the residual's
// alpha and the init scale beta of the MLP weights and the value and output projections.
inline double deepnorm_alpha(std::size_t M) { return std::pow(2.0 * double(M), 0.25); }
inline double deepnorm_beta(std::size_t M) { return std::pow(8.0 * double(M), -0.25); }

}  // namespace normlab::models
