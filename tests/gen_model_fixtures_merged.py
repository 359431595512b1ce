#!/usr/bin/python3
"""Whole-model PyTorch references for the Transformer with the block structure and the modern
block together (issue 19): RoPE after a QK-norm over all heads or per head, V-norm, the
embedding norm, SwiGLU, bias-free Linears, tied embeddings, DeepNorm and LayerNorm Scaling in
per-block placements, the z-loss and the logit soft-cap in one model.

Usage:
    /usr/bin/python3 tests/gen_model_fixtures_merged.py [--out tests/fixtures/models]
                                                        [--normlab PATH]

The files have the layout and attributes of tests/gen_model_fixtures_modern.py (whose drawing,
loss and writing this file reuses) plus those of tests/gen_model_fixtures_block.py;
tests/test_model_fixtures.cpp reads them with the others. The model is written here as a reader
would put the two together in PyTorch, float64:
  - q, k, v = qkv(u) (no bias with bias = false); QK-norm and V-norm over each head's features or
    over all d of them (qkv_norm_over); then RoPE on q and k (Hugging Face LLaMA's rotate_half)
    per head, after the norms (OLMo 2's order);
  - each sublayer as its block's placement says (pre, post, sandwich, reordered, none, deepnorm
    LN(alpha s + F(s)) with alpha = (2M)^(1/4)), the norm before F times 1/sqrt(l) with
    layernorm_scaling: gen_model_fixtures_block.py's Block.sublayer;
  - the MLP: proj(silu(gate(u)) * fc(u)) (SwiGLU) or proj(act(fc(u)));
  - embed(tokens) (+ pos without RoPE), normalized with embed_norm; the head tied to embed.weight
    with tie_embeddings; c tanh(logits / c) with the soft-cap; cross-entropy + z-loss.
scaled_init (GPT-2's std / sqrt(2 layers) on attn.proj and mlp.proj) changes only how normlab
draws its initial parameters; these files give the parameters, so the attribute is recorded (the
C++ model is built with it) and the init itself is checked by tests/test_merged_block.cpp.
"""

import argparse
import math
import pathlib
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no tests/__pycache__
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gen_fixtures as nf  # noqa: E402
import gen_model_fixtures as gm  # noqa: E402
import gen_model_fixtures_block as gb  # noqa: E402
import gen_model_fixtures_modern as gmm  # noqa: E402

DTYPE = gm.DTYPE
MERGED_BASE = dict(gmm.MODERN_BASE, **gb.BLOCK_BASE, scaled_init=False)

CASES = {
    # LLaMA with OLMo 2's QK-norm over the whole width and HybridNorm's V-norm: RMSNorm pre-norm
    # after a normalized embedding, RoPE after the QK-norm, SwiGLU, no Linear bias, tied
    # embeddings, GPT-2's scaled init, a z-loss
    "tf_merged_rope_qkvall_swiglu_tied": dict(
        norms=["rmsnorm"], placement=["pre"], qk_norm=True, qkv_norm_over="all", v_norm=True,
        embed_norm=True, position="rope", activation="swiglu", bias=False, tie_embeddings=True,
        scaled_init=True, z_loss=0.01),
    # DeepNorm then a sandwich block with LayerNorm Scaling (1/sqrt(2)), a per-head QK-norm
    # before RoPE, SwiGLU with biases and its own width, tied with a head bias, soft-capped
    "tf_merged_deepnorm_sandwich_swiglu": dict(
        norms=["layernorm"], placement=["deepnorm", "sandwich"], layernorm_scaling=True,
        qk_norm=True, position="rope", rope_base=100.0, activation="swiglu", mlp_hidden=6,
        tie_embeddings=True, logit_softcap=2.0),
}


class Attention(nn.Module):
    def __init__(self, c, qk_kind, v_kind):
        super().__init__()
        d, opts = c["d"], c["norm_options"]
        self.heads, self.hd = c["heads"], d // c["heads"]
        self.over_all = c["qkv_norm_over"] == "all"
        self.rope_base = c["rope_base"] if c["position"] == "rope" else None
        D = d if self.over_all else self.hd
        self.qkv = nn.Linear(d, 3 * d, bias=c["bias"], dtype=DTYPE)
        self.norm_q = gm.Norm(qk_kind, opts, D) if qk_kind else None
        self.norm_k = gm.Norm(qk_kind, opts, D) if qk_kind else None
        self.norm_v = gm.Norm(v_kind, opts, D) if v_kind else None
        self.proj = nn.Linear(d, d, bias=c["bias"], dtype=DTYPE)

    def forward(self, u):  # (B, T, d)
        B, T, d = u.shape
        q, k, v = self.qkv(u).split(d, dim=-1)
        heads = lambda t: t.reshape(B, T, self.heads, self.hd)  # noqa: E731
        normed = []
        for t, norm in ((q, self.norm_q), (k, self.norm_k), (v, self.norm_v)):
            if norm is None:
                normed.append(heads(t))
            elif self.over_all:  # over (B, T, d): all heads at once
                normed.append(heads(norm(t)))
            else:  # each head apart, one gain shared by the heads
                normed.append(norm(heads(t)))
        q, k, v = normed
        if self.rope_base is not None:  # after the norms, per head
            q, k = gmm.apply_rope(q, self.rope_base), gmm.apply_rope(k, self.rope_base)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, heads, T, hd)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.hd)
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        probs = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        return self.proj((probs @ v).transpose(1, 2).reshape(B, T, d))


class Block(nn.Module):
    sublayer = gb.Block.sublayer  # the placements, DeepNorm's alpha, LayerNorm Scaling
    forward = gb.Block.forward

    def __init__(self, c, l):
        super().__init__()
        d, opts = c["d"], c["norm_options"]
        self.placement = gb.placement_of(c, l)
        before_or_after, on_output, _ = gb.SITES[self.placement]
        self.alpha = (2 * c["layers"]) ** 0.25
        self.lns = 1 / math.sqrt(l + 1) if c["layernorm_scaling"] else 1.0
        kind = gm.kind_for(c["norms"], l)
        ka, km = c["norm_attn"] or kind, c["norm_mlp"] or kind
        kqk = (c["norm_qk"] or kind) if c["qk_norm"] else ""
        kv = (c["norm_v"] or kind) if c["v_norm"] else ""
        self.attn = Attention(c, kqk, kv)
        if c["activation"] == "swiglu":
            self.mlp = gmm.SwiGlu(d, gmm.mlp_hidden(c), c["bias"])
        else:
            self.mlp = gmm.Gelu(d, gmm.mlp_hidden(c), c["bias"], gm.ACTIVATIONS[c["activation"]])
        for sub, k in ((self.attn, ka), (self.mlp, km)):
            sub.norm = gm.Norm(k, opts, d) if before_or_after else None
            sub.norm_out = gm.Norm(k, opts, d) if on_output else None


class MergedTransformerLm(nn.Module):
    losses = gmm.ModernTransformerLm.losses  # cross-entropy, and + z-loss for the gradients

    def __init__(self, c):
        super().__init__()
        d, V, L = c["d"], c["vocab"], c["layers"]
        self.c, self.L = c, L
        self.embed = nn.Embedding(V, d, dtype=DTYPE)
        learned = c["position"] == "learned"
        self.pos = nn.Embedding(c["context"], d, dtype=DTYPE) if learned else None
        kind_embed = c["norm_embed"] or gm.kind_for(c["norms"], 0)
        self.norm_embed = gm.Norm(kind_embed, c["norm_options"], d) if c["embed_norm"] else None
        for l in range(L):
            setattr(self, f"block{l}", Block(c, l))
        final = gb.SITES[gb.placement_of(c, L - 1)][2]
        kind = c["norm_final"] or gm.kind_for(c["norms"], L - 1)
        self.norm_final = gm.Norm(kind, c["norm_options"], d) if final else None
        if not c["tie_embeddings"]:
            self.head = nn.Linear(d, V, bias=c["bias"], dtype=DTYPE)
        else:
            self.head = gmm.HeadBias(V) if c["bias"] else None

    def forward(self, tokens):  # (B, T) -> (B, T, V)
        T = tokens.shape[1]
        s = self.embed(tokens)
        if self.pos is not None:
            s = s + self.pos(torch.arange(T))
        if self.norm_embed is not None:
            s = self.norm_embed(s)
        for l in range(self.L):
            s = getattr(self, f"block{l}")(s)
        if self.norm_final is not None:
            s = self.norm_final(s)
        if self.c["tie_embeddings"]:
            logits = F.linear(s, self.embed.weight, self.head.bias if self.head else None)
        else:
            logits = self.head(s)
        cap = self.c["logit_softcap"]
        return cap * torch.tanh(logits / cap) if cap > 0 else logits

    def normlab_params(self):
        return dict(self.named_parameters())


def objective(model, batch):
    """(logits, the objective whose gradients are compared) of either kind of model."""
    if hasattr(model, "losses"):  # this file's and the modern file's: cross-entropy + z-loss
        logits, _, total = model.losses(batch)
        return logits, total
    return model.loss(batch)  # the block file's: cross-entropy


def same_outputs(a, b, batch):
    """max |difference| of logits and every gradient of two models with the same parameters."""
    out = []
    for model in (a, b):
        logits, total = objective(model, batch)
        total.backward()
        out.append((logits.detach(), {n: t.grad for n, t in model.normlab_params().items()}))
    (l0, g0), (l1, g1) = out
    assert set(g0) == set(g1), (sorted(g0), sorted(g1))
    return max(float((l0 - l1).abs().max()), *(float((g0[n] - g1[n]).abs().max()) for n in g0))


def with_params(model, params):
    with torch.no_grad():
        for n, t in model.normlab_params().items():
            t.copy_(torch.tensor(params[n]))
    return model


def check_matches_parents():
    """On the modern file's cases and the block file's, this Transformer is that file's: the
    same logits and gradients, bit for bit, from the same parameters."""
    worst = 0.0
    rng = gm.np.random.default_rng(11)
    for name, overrides in gmm.CASES.items():
        c = dict(gmm.MODERN_BASE, norm_options="", **overrides)
        ours = dict(MERGED_BASE, norm_options="", **dict(overrides, placement=[c["placement"]]))
        params = gm.draw_params(gmm.ModernTransformerLm(c), rng)
        tb = gm.torch_batch(gm.draw_batch("transformer", c, rng))
        worst = max(worst, same_outputs(with_params(gmm.ModernTransformerLm(c), params),
                                        with_params(MergedTransformerLm(ours), params), tb))
    for name, (_, overrides) in gb.CASES.items():
        c = gm.full_config("transformer", overrides)
        ours = dict(MERGED_BASE, **c)
        params = gm.draw_params(gb.TransformerLm(c), rng)
        tb = gm.torch_batch(gm.draw_batch("transformer", c, rng))
        worst = max(worst, same_outputs(with_params(gb.TransformerLm(c), params),
                                        with_params(MergedTransformerLm(ours), params), tb))
    assert worst == 0.0, worst
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures/models")
    parser.add_argument("--normlab", default=str(nf.default_normlab()))
    args = parser.parse_args()
    nf.load_registry(args.normlab)
    torch.set_num_threads(1)
    print(f"this Transformer vs the modern and block files' on their cases: max abs difference "
          f"{check_matches_parents():.1e}")
    # the modern file's drawing, Adam trajectory and writing, with these cases and this model
    gmm.CASES = dict(CASES)
    gmm.MODERN_BASE = MERGED_BASE
    gmm.ModernTransformerLm = MergedTransformerLm
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in CASES:
        path = gmm.write_case(out_dir, name)
        with gm.h5py.File(path, "r+") as f:
            f.attrs["generator"] = "tests/gen_model_fixtures_merged.py"
        print(f"{path}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
