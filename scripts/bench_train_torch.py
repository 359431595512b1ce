#!/usr/bin/python3
"""The PyTorch peer of `normlab bench train`: the same three workloads, the same timing protocol.

Run with Debian's interpreter (/usr/bin/python3 sees python3-torch). `normlab bench train` starts
it with the thread count, the shapes and OPENBLAS_CORETYPE of its own run, and reads the JSON
lines it prints on stdout: one line about the setup, then one per (workload, norm):
  {"workload": "mlp", "norm": "rmsnorm", "median_ms": ..., "min_ms": ..., "steps": ...}

A step is what normlab times: zero the gradients, forward, backward, the global gradient norm,
one Adam update (lr 1e-3, torch's defaults otherwise), all in float32.

Standalone:  OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 scripts/bench_train_torch.py --threads 1
"""
import argparse
import ctypes
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# The reference shapes; `normlab bench train` passes its own with --shapes.
SHAPES = {
    "mlp": {"input": 784, "width": 256, "depth": 3, "classes": 10, "batch": 128},
    "gru": {"vocab": 65, "embed": 64, "hidden": 256, "layers": 1, "len": 64, "batch": 32},
    "transformer": {"vocab": 65, "d": 128, "layers": 4, "heads": 4, "len": 64, "batch": 32,
                    "mlp_ratio": 4},
}
EPS = 1e-5  # normlab's default for both normalizers (torch.nn.LayerNorm's), inside the root


class RMSNorm(nn.Module):
    """y = g * x / sqrt(mean(x^2) + eps) (Zhang & Sennrich 2019); torch 1.13 has no nn.RMSNorm."""

    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS)


class LayerNorm(nn.Module):
    """y = g * (x - mean) / sqrt(var + eps) + b, through F.layer_norm."""

    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, EPS)


def make_norm(kind, d):
    return {"rmsnorm": RMSNorm, "layernorm": LayerNorm, "none": lambda d: nn.Identity()}[kind](d)


class Mlp(nn.Module):
    """x -> [Linear -> norm -> ReLU] * depth -> Linear head."""

    def __init__(self, s, norm):
        super().__init__()
        layers, n_in = [], s["input"]
        for _ in range(s["depth"]):
            layers += [nn.Linear(n_in, s["width"]), make_norm(norm, s["width"]), nn.ReLU()]
            n_in = s["width"]
        layers.append(nn.Linear(n_in, s["classes"]))
        self.net = nn.Sequential(*layers)

    def forward(self, x, labels):
        return F.cross_entropy(self.net(x), labels)


class NormGru(nn.Module):
    """One GRU layer with normalized projections (Ba et al. 2016), torch.nn.GRU's gate order r, z, n:
    gx = N_ih(W_ih x_t) + b_ih, gh = N_hh(W_hh h_{t-1}) + b_hh; W_ih x for every step at once."""

    def __init__(self, n_in, H, norm):
        super().__init__()
        self.ih = nn.Linear(n_in, 3 * H, bias=False)
        self.hh = nn.Linear(H, 3 * H, bias=False)
        self.b_ih = nn.Parameter(torch.zeros(3 * H))
        self.b_hh = nn.Parameter(torch.zeros(3 * H))
        self.norm_ih, self.norm_hh = make_norm(norm, 3 * H), make_norm(norm, 3 * H)
        self.H = H

    def forward(self, x):  # x (B, T, in) -> (B, T, H)
        B, T, _ = x.shape
        gx = self.norm_ih(self.ih(x)) + self.b_ih  # (B, T, 3H)
        h = x.new_zeros(B, self.H)
        out = []
        for t in range(T):
            gh = self.norm_hh(self.hh(h)) + self.b_hh  # (B, 3H)
            xr, xz, xn = gx[:, t].chunk(3, dim=1)
            hr, hz, hn = gh.chunk(3, dim=1)
            r = torch.sigmoid(xr + hr)
            z = torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            h = (1 - z) * n + z * h
            out.append(h)
        return torch.stack(out, dim=1)


class GruLm(nn.Module):
    def __init__(self, s, norm):
        super().__init__()
        self.embed = nn.Embedding(s["vocab"], s["embed"])
        if norm == "none":  # no normalizer: torch's own GRU
            self.rnn = nn.GRU(s["embed"], s["hidden"], num_layers=s["layers"], batch_first=True)
        else:
            layers = [NormGru(s["embed"] if l == 0 else s["hidden"], s["hidden"], norm)
                      for l in range(s["layers"])]
            self.rnn = nn.Sequential(*layers)
        self.norm = norm
        self.head = nn.Linear(s["hidden"], s["vocab"])

    def forward(self, tokens, targets):
        h = self.embed(tokens)
        h = self.rnn(h)[0] if self.norm == "none" else self.rnn(h)
        logits = self.head(h)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


class Block(nn.Module):
    """Pre-norm: s + Attn(N(s)), then s + Mlp(N(s)); causal attention with a mask and softmax."""

    def __init__(self, s, norm):
        super().__init__()
        d = s["d"]
        self.heads = s["heads"]
        self.norm_attn, self.norm_mlp = make_norm(norm, d), make_norm(norm, d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.fc = nn.Linear(d, s["mlp_ratio"] * d)
        self.fc_proj = nn.Linear(s["mlp_ratio"] * d, d)
        T = s["len"]
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def attention(self, u):  # u (B, T, d)
        B, T, d = u.shape
        q, k, v = self.qkv(u).split(d, dim=2)
        q, k, v = (a.view(B, T, self.heads, d // self.heads).transpose(1, 2) for a in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // self.heads))  # (B, h, T, T)
        att = att.masked_fill(~self.mask[:T, :T], float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, d)
        return self.proj(y)

    def forward(self, s):
        s = s + self.attention(self.norm_attn(s))
        return s + self.fc_proj(F.gelu(self.fc(self.norm_mlp(s))))


class TransformerLm(nn.Module):
    def __init__(self, s, norm):
        super().__init__()
        self.embed = nn.Embedding(s["vocab"], s["d"])
        self.pos = nn.Embedding(s["len"], s["d"])
        self.blocks = nn.Sequential(*[Block(s, norm) for _ in range(s["layers"])])
        self.norm_final = make_norm(norm, s["d"])
        self.head = nn.Linear(s["d"], s["vocab"])

    def forward(self, tokens, targets):
        T = tokens.shape[1]
        x = self.embed(tokens) + self.pos(torch.arange(T))
        logits = self.head(self.norm_final(self.blocks(x)))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def make(workload, s, norm, gen):
    """The model and its fixed batch, initialized as normlab does: weights N(0, 0.02^2),
    biases 0, gains 1."""
    model = {"mlp": Mlp, "gru": GruLm, "transformer": TransformerLm}[workload](s, norm)
    with torch.no_grad():
        for p in model.parameters():  # matrices are weights and embeddings, vectors biases
            if p.dim() >= 2:
                p.normal_(0.0, 0.02, generator=gen)
            else:
                p.zero_()
        for m in model.modules():
            if isinstance(m, (RMSNorm, LayerNorm)):
                m.weight.fill_(1.0)
    if workload == "mlp":
        batch = (torch.randn(s["batch"], s["input"], generator=gen),
                 torch.randint(s["classes"], (s["batch"],), generator=gen))
    else:
        seq = torch.randint(s["vocab"], (s["batch"], s["len"] + 1), generator=gen)
        batch = (seq[:, :-1].contiguous(), seq[:, 1:].contiguous())
    return model, batch


def time_steps(model, batch, warmup, steps, clock):
    params = [p for p in model.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    times = []
    for i in range(warmup + steps):
        t0 = clock()
        opt.zero_grad()
        loss = model(*batch)
        loss.backward()
        norm = torch.norm(torch.stack([p.grad.norm() for p in params])).item()
        opt.step()
        dt = clock() - t0
        if not (math.isfinite(loss.item()) and math.isfinite(norm)):
            raise SystemExit(f"step {i}: loss {loss.item()} or gradient norm {norm} is not finite")
        if i >= warmup:
            times.append(1e3 * dt)
    return times


def openblas_core():
    """The OpenBLAS core torch's BLAS runs on (the library torch loaded, asked through ctypes)."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0", mode=os.RTLD_NOLOAD | os.RTLD_GLOBAL)
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--workloads", default="mlp,gru,transformer")
    ap.add_argument("--norms", default="rmsnorm,layernorm,none")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall: elapsed time; cpu: the process's CPU time, as normlab's --clock")
    ap.add_argument("--shapes", default=json.dumps(SHAPES), help="JSON, as normlab passes it")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    shapes = json.loads(a.shapes)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "openblas_core": openblas_core(), "clock": a.clock, "shapes": shapes}), flush=True)
    # As normlab: step the first workload untimed for about a second (the core ramping up).
    first = a.workloads.split(",")[0]
    model, batch = make(first, shapes[first], a.norms.split(",")[0], torch.Generator().manual_seed(1))
    start = time.perf_counter()
    while time.perf_counter() - start < 1.0:
        time_steps(model, batch, 1, 0, time.perf_counter)
    for workload in a.workloads.split(","):
        for norm in a.norms.split(","):
            gen = torch.Generator().manual_seed(1234)
            model, batch = make(workload, shapes[workload], norm, gen)
            clock = time.perf_counter if a.clock == "wall" else time.process_time
            times = time_steps(model, batch, a.warmup, a.steps, clock)
            print(json.dumps({"workload": workload, "norm": norm,
                              "median_ms": sorted(times)[len(times) // 2], "min_ms": min(times),
                              "steps": a.steps}), flush=True)


if __name__ == "__main__":
    main()
