// The modern block's keys of the Transformer (issue 19) -> TransformerConfig: rotary positions,
// SwiGLU, bias-free Linears, tied embeddings, z-loss, logit soft-cap, dropout. Kept apart from
// transformer_lm.cpp's builder so that each check names its key in one place.
#include <cmath>

#include "core/error.hpp"
#include "io/config.hpp"
#include "models/transformer_lm.hpp"

namespace normlab::models {

namespace {

double non_negative(const io::Config& c, const char* key, const char* what) {
  const double v = c.number(key);
  if (!(v >= 0) || !std::isfinite(v)) {
    fail(key, " must be a finite number >= 0 (", what, "), got ", v);
  }
  return v;
}

}  // namespace

void read_modern_keys(const io::Config& c, TransformerConfig& t) {
  const std::string position = c.string("model.position");
  if (position != "learned" && position != "rope") {
    fail("model.position: '", position, "' is not one of learned (pos.weight), rope (rotary)");
  }
  t.rope = position == "rope";
  t.rope_base = c.number("model.rope_base");
  if (!(t.rope_base > 1) || !std::isfinite(t.rope_base)) {
    fail("model.rope_base must be a finite number > 1 (10000 in RoPE and LLaMA), got ",
         t.rope_base);
  }
  if (t.rope && t.d % t.heads == 0 && (t.d / t.heads) % 2 != 0) {  // else the builder says why
    fail("model.position = \"rope\" turns pairs of features: the head dimension model.width / "
         "model.heads = ", t.d, " / ", t.heads, " must be even");
  }
  const std::string activation = c.string("model.activation");
  t.swiglu = activation == "swiglu";
  if (!t.swiglu) {
    if (activation != "relu" && activation != "gelu" && activation != "tanh" &&
        activation != "sigmoid") {
      fail("model.activation: '", activation, "' is not one of relu, gelu, tanh, sigmoid, swiglu");
    }
    t.activation = nn::parse_activation(activation);
  }
  const std::int64_t hidden = c.integer("model.mlp_hidden");
  if (hidden < 0) {
    fail("model.mlp_hidden must be 0 (from model.mlp_ratio) or a width, got ", hidden);
  }
  t.mlp_hidden = std::size_t(hidden);
  t.bias = c.boolean("model.bias");
  t.tie_embeddings = c.boolean("model.tie_embeddings");
  t.embed_scale = non_negative(c, "model.embed_scale",
                               "0 turns it off; the DyT authors' LLaMA starts it at sqrt(width)");
  t.z_loss = non_negative(c, "model.z_loss", "0 turns it off; OLMo 2 uses 1e-5, PaLM 1e-4");
  t.logit_softcap = non_negative(c, "model.logit_softcap", "0 turns it off; Gemma 2 uses 30");
  t.dropout = c.number("model.dropout");
  if (!(t.dropout >= 0 && t.dropout < 1)) fail("model.dropout must be in [0, 1), got ", t.dropout);
}

}  // namespace normlab::models
