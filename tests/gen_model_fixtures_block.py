#!/usr/bin/python3
"""Whole-model PyTorch references for the Transformer's block structure (issue 19): per-layer
placement (Mix-LN), DeepNorm, LayerNorm Scaling, QK-norm across all heads, V-norm and a norm
after the embedding.

Usage:
    /usr/bin/python3 tests/gen_model_fixtures_block.py [--out tests/fixtures/models] [--normlab PATH]
                                                       [--case NAME ...]

The files have the layout of tests/gen_model_fixtures.py (whose helpers write them) and sit
beside its files; tests/test_model_fixtures.cpp reads both. The Transformer written here is that
file's, extended, as a reader would write each scheme from its paper:
    placement     one name or a list, one per block: pre, post, sandwich, reordered, none, and
                  deepnorm  s' = LN(alpha s + F(s)), alpha = (2M)^(1/4) for M blocks (Wang et al.
                  2022, DeepNet, the decoder-only row); a final norm when the last block's
                  placement is pre, sandwich or reordered
    layernorm_scaling  the output of each pre-norm (pre, sandwich) of block l (1-based) times
                  1/sqrt(l) (Sun et al. 2025, LayerNorm Scaling)
    qkv_norm_over "head": QK-norm and V-norm over each head's head_dim features (one gain shared
                  by the heads); "all": over all d features of q, k, v at once (OLMo 2)
    v_norm        normalize v before attention (HybridNorm's QKV-norm, Zhuo et al. 2025)
    embed_norm    normalize the embedding sum before the first block (site norm_embed)
Written attributes beyond the base file's: placement may be "a,b,..."; layernorm_scaling,
qkv_norm_over, v_norm, embed_norm, norm_v, norm_embed (the C++ test reads them when present).
"""

import argparse
import math
import pathlib
import sys

import torch
import torch.nn as nn

sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gen_model_fixtures as gm  # noqa: E402  (the base models, drawing and writing)

DTYPE = gm.DTYPE
BLOCK_BASE = dict(layernorm_scaling=False, qkv_norm_over="head", v_norm=False, embed_norm=False,
                  norm_v="", norm_embed="")

CASES = {
    # Mix-LN (Li et al. 2024): post-norm in the first block, pre-norm after it; final norm
    "tf_mixln_post_pre_layernorm": ("transformer", dict(
        norms=["layernorm"], layers=3, placement=["post", "pre", "pre"], **BLOCK_BASE)),
    # every placement in one model, the last one without a final norm
    "tf_mixed_placements_rmsnorm": ("transformer", dict(
        norms=["rmsnorm"], layers=4, placement=["sandwich", "reordered", "pre", "post"],
        **BLOCK_BASE)),
    # DeepNorm: post-norm with the residual scaled by alpha = (2M)^(1/4), M = 2 blocks
    "tf_deepnorm_layernorm": ("transformer", dict(
        norms=["layernorm"], placement=["deepnorm"], **BLOCK_BASE)),
    # LayerNorm Scaling over three pre-norm blocks, the middle one sandwich
    "tf_lns_rmsnorm": ("transformer", dict(
        norms=["rmsnorm"], layers=3, placement=["pre", "sandwich", "pre"],
        **dict(BLOCK_BASE, layernorm_scaling=True))),
    # QK-norm across all heads with V-norm and a norm after the embedding (OLMo 2's QK-norm over
    # the width; HybridNorm's V-norm)
    "tf_qkv_all_embed_rmsnorm": ("transformer", dict(
        norms=["rmsnorm"], placement=["pre"], qk_norm=True,
        **dict(BLOCK_BASE, qkv_norm_over="all", v_norm=True, embed_norm=True))),
    # per head, with their own kinds: QK l2norm, V layernorm, embed scalenorm
    "tf_qkv_head_roles_layernorm": ("transformer", dict(
        norms=["layernorm"], placement=["sandwich"], qk_norm=True, norm_qk="l2norm",
        **dict(BLOCK_BASE, v_norm=True, norm_v="rmsnorm", embed_norm=True,
               norm_embed="scalenorm"))),
}

SITES = {  # placement -> (norm before F or after the sum, norm_out, final norm when last)
    "pre": (True, False, True), "post": (True, False, False), "sandwich": (True, True, True),
    "reordered": (False, True, True), "deepnorm": (True, False, False),
    "none": (False, False, False),
}


def placement_of(c, l):
    p = c["placement"]
    return p[0] if len(p) == 1 else p[l]


class Attention(nn.Module):
    """Causal multi-head self-attention with optional QK-norm and V-norm, each over one head's
    features or over all d of them."""

    def __init__(self, c, qk_kind, v_kind):
        super().__init__()
        d, opts = c["d"], c["norm_options"]
        self.d, self.heads, self.hd = d, c["heads"], d // c["heads"]
        self.over_all = c["qkv_norm_over"] == "all"
        D = d if self.over_all else self.hd
        self.qkv = nn.Linear(d, 3 * d, dtype=DTYPE)
        self.norm_q = gm.Norm(qk_kind, opts, D) if qk_kind else None
        self.norm_k = gm.Norm(qk_kind, opts, D) if qk_kind else None
        self.norm_v = gm.Norm(v_kind, opts, D) if v_kind else None
        self.proj = nn.Linear(d, d, dtype=DTYPE)

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
            else:  # over (B, T, heads, hd): each head apart, one gain shared by the heads
                normed.append(norm(heads(t)))
        q, k, v = (t.transpose(1, 2) for t in normed)  # (B, heads, T, hd)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.hd)
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        probs = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        return self.proj((probs @ v).transpose(1, 2).reshape(B, T, d))


class Block(nn.Module):
    def __init__(self, c, l):
        super().__init__()
        d, opts = c["d"], c["norm_options"]
        self.placement = placement_of(c, l)
        before_or_after, on_output, _ = SITES[self.placement]
        self.alpha = (2 * c["layers"]) ** 0.25  # DeepNorm's, used by deepnorm blocks only
        self.lns = 1 / math.sqrt(l + 1) if c["layernorm_scaling"] else 1.0
        kind = gm.kind_for(c["norms"], l)
        ka, km = c["norm_attn"] or kind, c["norm_mlp"] or kind
        kqk = (c["norm_qk"] or kind) if c["qk_norm"] else ""
        kv = (c["norm_v"] or kind) if c["v_norm"] else ""
        self.attn = Attention(c, kqk, kv)
        self.mlp = gm.FeedForward(d, c["mlp_ratio"] * d, gm.ACTIVATIONS[c["activation"]])
        for sub, k in ((self.attn, ka), (self.mlp, km)):
            sub.norm = gm.Norm(k, opts, d) if before_or_after else None
            sub.norm_out = gm.Norm(k, opts, d) if on_output else None

    def sublayer(self, f, s):
        p = self.placement
        if p == "pre":
            return s + f(f.norm(s) * self.lns)
        if p == "post":
            return f.norm(s + f(s))
        if p == "deepnorm":
            return f.norm(self.alpha * s + f(s))
        if p == "sandwich":
            return s + f.norm_out(f(f.norm(s) * self.lns))
        if p == "reordered":
            return s + f.norm_out(f(s))
        return s + f(s)

    def forward(self, s):
        return self.sublayer(self.mlp, self.sublayer(self.attn, s))


class TransformerLm(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, L = c["d"], c["layers"]
        self.embed = nn.Embedding(c["vocab"], d, dtype=DTYPE)
        self.pos = nn.Embedding(c["context"], d, dtype=DTYPE)
        kind_embed = c["norm_embed"] or gm.kind_for(c["norms"], 0)
        self.norm_embed = gm.Norm(kind_embed, c["norm_options"], d) if c["embed_norm"] else None
        self.L = L
        for l in range(L):
            setattr(self, f"block{l}", Block(c, l))
        final = SITES[placement_of(c, L - 1)][2]
        kind = c["norm_final"] or gm.kind_for(c["norms"], L - 1)
        self.norm_final = gm.Norm(kind, c["norm_options"], d) if final else None
        self.head = nn.Linear(d, c["vocab"], dtype=DTYPE)

    def forward(self, tokens):  # (B, T) -> (B, T, V)
        T = tokens.shape[1]
        s = self.embed(tokens) + self.pos(torch.arange(T))
        if self.norm_embed is not None:
            s = self.norm_embed(s)
        for l in range(self.L):
            s = getattr(self, f"block{l}")(s)
        if self.norm_final is not None:
            s = self.norm_final(s)
        return self.head(s)

    loss = gm.GruLm.loss

    def normlab_params(self):
        return dict(self.named_parameters())


def check_matches_base():
    """On the base file's configurations (one placement, QK-norm per head, nothing new) this
    Transformer is that file's: same logits and gradients from the same parameters."""
    worst = 0.0
    for name in ("tf_pre_rmsnorm", "tf_post_layernorm", "tf_sandwich_rmsnorm_qknorm",
                 "tf_reordered_layernorm"):
        kind, overrides = gm.CASES[name]
        base = gm.full_config(kind, overrides)
        ours = dict(base, placement=[base["placement"]], **BLOCK_BASE)
        rng = gm.np.random.default_rng(7)
        params = gm.draw_params(gm.TransformerLm(base), rng)
        tb = gm.torch_batch(gm.draw_batch(kind, base, rng))
        out = []
        for model in (build(gm.TransformerLm, base, params), build(TransformerLm, ours, params)):
            logits, loss = model.loss(tb)
            loss.backward()
            out.append((logits.detach(), {n: t.grad for n, t in model.normlab_params().items()}))
        (l0, g0), (l1, g1) = out
        worst = max(worst, float((l0 - l1).abs().max()),
                    *(float((g0[n] - g1[n]).abs().max()) for n in g0))
    assert worst == 0.0, worst
    return worst


def build(cls, c, params):
    torch.manual_seed(0)
    model = cls(c)
    with torch.no_grad():
        for n, t in model.normlab_params().items():
            t.copy_(torch.tensor(params[n]))
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures/models")
    parser.add_argument("--normlab", default=str(gm.nf.default_normlab()))
    parser.add_argument("--case", action="append", choices=sorted(CASES), metavar="NAME")
    args = parser.parse_args()
    gm.nf.load_registry(args.normlab)
    torch.set_num_threads(1)
    print(f"this Transformer vs the base file's on its cases: max abs difference "
          f"{check_matches_base():.1e}")
    # the base file's drawing and writing, with these cases and this Transformer
    gm.CASES = dict(CASES)
    gm.MODELS = dict(gm.MODELS, transformer=TransformerLm)
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in args.case or CASES:
        path = gm.write_case(out_dir, name)
        gm.verify_file(path, name)
        with gm.h5py.File(path, "r+") as f:
            f.attrs["generator"] = "tests/gen_model_fixtures_block.py"
        print(f"{path}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
