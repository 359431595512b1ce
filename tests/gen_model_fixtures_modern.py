#!/usr/bin/python3
"""Whole-model PyTorch references for the modern Transformer block (issue 19).

Usage:
    /usr/bin/python3 tests/gen_model_fixtures_modern.py [--out tests/fixtures/models] [--normlab PATH]

Same file layout, attributes and datasets as tests/gen_model_fixtures.py (whose
helpers this file imports: the normalizers, the parameter draw, the batch, the
writer's attribute syntax), so tests/test_model_fixtures.cpp reads these files
with the others.  The configuration attributes add the modern keys, with
normlab's names and TOML value syntax:
    position ("learned" | "rope"), rope_base, mlp_hidden, bias, tie_embeddings,
    z_loss, logit_softcap; activation may be "swiglu".

The model is written here the way a reader would write a LLaMA or Gemma block in
PyTorch, float64:
  - RoPE as Hugging Face's LLaMA (apply_rotary_pos_emb with rotate_half: feature
    j pairs with j + head_dim/2), applied to q and k after the QK-norm;
  - SwiGLU as Hugging Face's LlamaMLP: proj(silu(gate(u)) * fc(u));
  - bias-free nn.Linear(bias=False) everywhere with bias = false;
  - tied embeddings: F.linear(x, embed.weight, head.bias);
  - the soft-cap c * tanh(logits / c) (Gemma 2), then F.cross_entropy;
  - the z-loss z * mean over scored tokens of logsumexp(logits)^2, added to the
    objective whose gradients and Adam steps are stored.
`loss` and `adam_losses` hold the plain cross-entropy (what normlab reports),
the gradients those of cross-entropy + z-loss.
"""

import argparse
import math
import pathlib
import sys
import zlib

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no tests/__pycache__
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gen_fixtures as nf  # noqa: E402
import gen_model_fixtures as gmf  # noqa: E402

DTYPE = gmf.DTYPE
MODERN_BASE = dict(gmf.TF_BASE, position="learned", rope_base=10000.0, mlp_hidden=0, bias=True,
                   tie_embeddings=False, z_loss=0.0, logit_softcap=0.0)

CASES = {
    # LLaMA: RMSNorm (no bias), pre-norm, RoPE, SwiGLU of width ceil(2/3 * 2 * 8) = 11,
    # no Linear bias, tied embeddings
    "tf_modern_llama": dict(norms=["rmsnorm"], placement="pre", position="rope",
                            activation="swiglu", bias=False, tie_embeddings=True),
    # the loss side: z-loss and a soft-cap small enough to bend the logits (|logits| ~ 3)
    "tf_modern_zloss_softcap": dict(norms=["layernorm"], placement="pre", z_loss=0.05,
                                    logit_softcap=2.0),
    # RoPE after a QK-norm, sandwich, SwiGLU with biases and a given width, tied with a head bias
    "tf_modern_rope_qknorm_tied_bias": dict(norms=["rmsnorm"], placement="sandwich",
                                            qk_norm=True, position="rope", rope_base=100.0,
                                            activation="swiglu", mlp_hidden=6,
                                            tie_embeddings=True, z_loss=0.01),
}


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x, base):
    """x (B, T, heads, hd) rotated as Hugging Face's LLaMA does it."""
    T, hd = x.shape[1], x.shape[-1]
    inv_freq = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=DTYPE) / hd))
    angles = torch.outer(torch.arange(T, dtype=DTYPE), inv_freq)  # (T, hd/2)
    emb = torch.cat((angles, angles), dim=-1)  # (T, hd)
    cos, sin = emb.cos()[None, :, None, :], emb.sin()[None, :, None, :]
    return x * cos + rotate_half(x) * sin


class Attention(nn.Module):
    def __init__(self, c, qk_kind):
        super().__init__()
        d, self.heads = c["d"], c["heads"]
        self.hd = d // self.heads
        self.rope_base = c["rope_base"] if c["position"] == "rope" else None
        self.qkv = nn.Linear(d, 3 * d, bias=c["bias"], dtype=DTYPE)
        self.norm_q = gmf.Norm(qk_kind, c["norm_options"], self.hd) if qk_kind else None
        self.norm_k = gmf.Norm(qk_kind, c["norm_options"], self.hd) if qk_kind else None
        self.proj = nn.Linear(d, d, bias=c["bias"], dtype=DTYPE)

    def forward(self, u):
        B, T, d = u.shape
        q, k, v = self.qkv(u).split(d, dim=-1)
        q, k, v = (t.reshape(B, T, self.heads, self.hd) for t in (q, k, v))
        if self.norm_q is not None:
            q, k = self.norm_q(q), self.norm_k(k)
        if self.rope_base is not None:  # after the QK-norm, as OLMo 2
            q, k = apply_rope(q, self.rope_base), apply_rope(k, self.rope_base)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.hd)
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        probs = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        return self.proj((probs @ v).transpose(1, 2).reshape(B, T, d))


class SwiGlu(nn.Module):
    def __init__(self, d, hidden, bias):
        super().__init__()
        self.fc = nn.Linear(d, hidden, bias=bias, dtype=DTYPE)    # up_proj
        self.gate = nn.Linear(d, hidden, bias=bias, dtype=DTYPE)  # gate_proj
        self.proj = nn.Linear(hidden, d, bias=bias, dtype=DTYPE)  # down_proj

    def forward(self, u):
        return self.proj(F.silu(self.gate(u)) * self.fc(u))


class Gelu(nn.Module):
    def __init__(self, d, hidden, bias, act):
        super().__init__()
        self.fc = nn.Linear(d, hidden, bias=bias, dtype=DTYPE)
        self.proj = nn.Linear(hidden, d, bias=bias, dtype=DTYPE)
        self.act = act

    def forward(self, u):
        return self.proj(self.act(self.fc(u)))


def mlp_hidden(c):
    if c["mlp_hidden"]:
        return c["mlp_hidden"]
    ratio_width = c["mlp_ratio"] * c["d"]
    return math.ceil(2 * ratio_width / 3) if c["activation"] == "swiglu" else ratio_width


class Block(nn.Module):
    sublayer = gmf.Block.sublayer
    forward = gmf.Block.forward

    def __init__(self, c, l):
        super().__init__()
        d, opts = c["d"], c["norm_options"]
        before_or_after, on_output, _ = gmf.PLACEMENT_SITES[c["placement"]]
        self.placement = c["placement"]
        ka = c["norm_attn"] or gmf.kind_for(c["norms"], l)
        km = c["norm_mlp"] or gmf.kind_for(c["norms"], l)
        kqk = (c["norm_qk"] or gmf.kind_for(c["norms"], l)) if c["qk_norm"] else ""
        self.attn = Attention(c, kqk)
        if c["activation"] == "swiglu":
            self.mlp = SwiGlu(d, mlp_hidden(c), c["bias"])
        else:
            self.mlp = Gelu(d, mlp_hidden(c), c["bias"], gmf.ACTIVATIONS[c["activation"]])
        for sub, kind in ((self.attn, ka), (self.mlp, km)):
            sub.norm = gmf.Norm(kind, opts, d) if before_or_after else None
            sub.norm_out = gmf.Norm(kind, opts, d) if on_output else None


class HeadBias(nn.Module):
    """The head of tied embeddings: only a bias (normlab's head.bias), the weight is embed's."""

    def __init__(self, V):
        super().__init__()
        self.bias = nn.Parameter(torch.empty(V, dtype=DTYPE))


class ModernTransformerLm(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, V = c["d"], c["vocab"]
        self.c = c
        self.embed = nn.Embedding(V, d, dtype=DTYPE)
        self.pos = nn.Embedding(c["context"], d, dtype=DTYPE) if c["position"] == "learned" else None
        self.L = c["layers"]
        for l in range(self.L):
            setattr(self, f"block{l}", Block(c, l))
        final = gmf.PLACEMENT_SITES[c["placement"]][2]
        kind = c["norm_final"] or gmf.kind_for(c["norms"], self.L - 1)
        self.norm_final = gmf.Norm(kind, c["norm_options"], d) if final else None
        if not c["tie_embeddings"]:
            self.head = nn.Linear(d, V, bias=c["bias"], dtype=DTYPE)
        elif c["bias"]:
            self.head = HeadBias(V)
        else:
            self.head = None

    def forward(self, tokens):
        T = tokens.shape[1]
        s = self.embed(tokens)
        if self.pos is not None:
            s = s + self.pos(torch.arange(T))
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

    def losses(self, batch):
        """(logits, cross-entropy, the objective: cross-entropy + z-loss)."""
        logits = self(batch["tokens"])
        V = logits.shape[-1]
        rows, targets = logits.reshape(-1, V), batch["targets"].reshape(-1)
        ce = F.cross_entropy(rows, targets, ignore_index=-1)
        scored = targets != -1
        z = self.c["z_loss"] * (torch.logsumexp(rows[scored], dim=-1) ** 2).mean()
        return logits, ce, ce + z

    def normlab_params(self):
        return dict(self.named_parameters())


def build(c, params):
    torch.manual_seed(0)  # the modules' own init is overwritten below
    model = ModernTransformerLm(c)
    named = model.normlab_params()
    assert set(named) == set(params), (sorted(named), sorted(params))
    with torch.no_grad():
        for name, t in named.items():
            t.copy_(torch.tensor(params[name]))
    return model


def run_case(name):
    c = dict(MODERN_BASE, norm_options="")
    c.update(CASES[name])
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    params = gmf.draw_params(ModernTransformerLm(c), rng)
    batch = gmf.draw_batch("transformer", c, rng)
    tb = gmf.torch_batch(batch)

    model = build(c, params)
    logits, ce, objective = model.losses(tb)
    objective.backward()
    grads = {n: t.grad.detach().numpy().copy() for n, t in model.normlab_params().items()}

    model = build(c, params)
    opt = torch.optim.Adam(model.parameters(), lr=gmf.ADAM_LR)
    losses = []
    for _ in range(gmf.ADAM_STEPS):
        opt.zero_grad()
        _, step_ce, step_objective = model.losses(tb)
        losses.append(step_ce.item())
        step_objective.backward()
        opt.step()
    assert losses[0] == ce.item()
    outputs = {"logits": logits.detach().numpy(), "loss": np.array([ce.item()]),
               "adam_losses": np.array(losses)}
    return c, params, batch, outputs, grads


def write_case(out_dir, name):
    c, params, batch, outputs, grads = run_case(name)
    path = out_dir / f"{name}.h5"
    with h5py.File(path, "w", track_order=False) as f:
        f.attrs["generator"] = "tests/gen_model_fixtures_modern.py"
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["case"] = name
        f.attrs["model"] = "transformer"
        for k, v in gmf.config_attrs(c).items():
            f.attrs[k] = v
        f.attrs["optimizer"] = "adam"
        f.attrs["lr"] = repr(gmf.ADAM_LR)
        f.attrs["steps"] = str(gmf.ADAM_STEPS)
        for n, v in params.items():
            f.create_dataset(f"params/{n}", data=v, track_times=False)
        for n, v in grads.items():
            f.create_dataset(f"grads/{n}", data=v.astype(np.float64), track_times=False)
        for n, v in {**batch, **outputs}.items():
            f.create_dataset(n, data=v, track_times=False)
    with h5py.File(path, "r") as f:  # every parameter has its gradient; Adam lowered the loss
        assert sorted(f["params"].keys()) == sorted(f["grads"].keys())
        losses = f["adam_losses"][()]
        assert losses[-1] < losses[0], (name, losses)
    return path


def check_rope_is_relative():
    """The reference RoPE keeps norms, and <rope(q) at t, rope(k) at s> depends on t - s only."""
    gen = torch.Generator().manual_seed(2)
    q = torch.randn(1, 1, 1, 8, generator=gen, dtype=DTYPE).expand(1, 6, 1, 8)
    k = torch.randn(1, 1, 1, 8, generator=gen, dtype=DTYPE).expand(1, 6, 1, 8)
    rq, rk = apply_rope(q, 10.0)[0, :, 0], apply_rope(k, 10.0)[0, :, 0]
    worst = float((rq.norm(dim=-1) - q[0, :, 0].norm(dim=-1)).abs().max())
    for lag in range(3):
        dots = [float(rq[t + lag] @ rk[t]) for t in range(6 - lag)]
        worst = max(worst, max(dots) - min(dots))
    assert worst < 1e-13, worst
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures/models")
    parser.add_argument("--normlab", default=str(nf.default_normlab()))
    args = parser.parse_args()
    nf.load_registry(args.normlab)
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    for name in CASES:
        path = write_case(out_dir, name)
        print(f"{path}: {path.stat().st_size} bytes")
    print(f"RoPE reference: norms kept and dot products relative, to {check_rope_is_relative():.1e}")


if __name__ == "__main__":
    main()
