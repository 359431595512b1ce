#!/usr/bin/python3
"""The PyTorch peer of `normlab bench train`: the same four workloads, the same timing protocol.

Run with Debian's interpreter (/usr/bin/python3 sees python3-torch 1.13) or with the torch 2.x of
scripts/install-torch2.sh (.venv-torch2/bin/python). `normlab bench train` starts it with the
thread count, the shapes and OPENBLAS_CORETYPE of its own run, and reads the JSON lines it prints
on stdout: one line about the setup, then one per (workload, norm):
  {"workload": "mlp", "norm": "rmsnorm", "median_ms": ..., "min_ms": ..., "steps": ...,
   "params": ...}
or, for a row that could not run (torch.compile failed), {"workload", "norm", "params", "error"}.

A step is what normlab times: zero the gradients, forward, backward, the global gradient norm,
one Adam update (lr 1e-3, torch's defaults otherwise; nanogpt: nanoGPT's AdamW), all in float32.
With --compile every model goes through torch.compile first (torch >= 2; inductor on the CPU
needs a C++ compiler).

Standalone:  OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 scripts/bench_train_torch.py --threads 1
"""
import argparse
import ctypes
import json
import math
import os
import re
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
    "nanogpt": {"vocab": 65, "d": 128, "layers": 4, "heads": 4, "len": 64, "batch": 12,
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


# torch >= 2.4 has its own fused-where-it-can RMSNorm; older ones use the class above.
HAVE_TORCH_RMSNORM = hasattr(nn, "RMSNorm")


def rms_norm(d):
    return nn.RMSNorm(d, eps=EPS) if HAVE_TORCH_RMSNORM else RMSNorm(d)


def make_norm(kind, d):
    return {"rmsnorm": rms_norm, "layernorm": LayerNorm, "none": lambda d: nn.Identity()}[kind](d)


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


# ---- nanogpt: the model written as nanoGPT's model.py writes it ----
# With the differences normlab's Transformer has today, so that both sides build the same model:
# embeddings untied (no wte/lm_head weight sharing yet), bias=True (every Linear and LayerNorm),
# and lm_head with a bias too. Dropout is 0 in nanoGPT's CPU configuration, so no Dropout modules.
# The norm can be swapped (rmsnorm, none) as in the other workloads; `none` drops ln_f too.

class NanoLayerNorm(nn.Module):
    """LayerNorm with an optional bias (torch 1.13's nn.LayerNorm cannot leave it out)."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, EPS)


def nano_norm(kind, d, bias):
    if kind == "layernorm":
        return NanoLayerNorm(d, bias)
    return make_norm(kind, d)


class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        assert c["d"] % c["heads"] == 0, "the width must split evenly into heads"
        self.c_attn = nn.Linear(c["d"], 3 * c["d"], bias=c["bias"])  # q, k, v of every head
        self.c_proj = nn.Linear(c["d"], c["d"], bias=c["bias"])
        self.n_head, self.n_embd = c["heads"], c["d"]
        # torch 2.x: the fused kernel; torch 1.x: scores, a causal mask and softmax written out.
        self.flash = hasattr(F, "scaled_dot_product_attention")
        if not self.flash:
            T = c["len"]
            self.register_buffer("mask", torch.tril(torch.ones(T, T)).view(1, 1, T, T))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        hs = C // self.n_head
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        if self.flash:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B, nh, T, T)
            att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
            y = F.softmax(att, dim=-1) @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c["d"], c["mlp_ratio"] * c["d"], bias=c["bias"])
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(c["mlp_ratio"] * c["d"], c["d"], bias=c["bias"])

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class NanoBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = nano_norm(c["norm"], c["d"], c["bias"])
        self.attn = CausalSelfAttention(c)
        self.ln_2 = nano_norm(c["norm"], c["d"], c["bias"])
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, s, norm):
        super().__init__()
        c = dict(s, norm=norm, bias=True)
        self.config = c
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c["vocab"], c["d"]),
            wpe=nn.Embedding(c["len"], c["d"]),
            h=nn.ModuleList([NanoBlock(c) for _ in range(c["layers"])]),
            ln_f=nano_norm(norm, c["d"], c["bias"]) if norm != "none" else nn.Identity(),
        ))
        # Untied: nanoGPT shares wte.weight with lm_head.weight; normlab cannot yet.
        self.lm_head = nn.Linear(c["d"], c["vocab"], bias=True)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c["layers"]))

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            torch.nn.init.zeros_(module.bias)

    def forward(self, idx, targets):
        B, T = idx.size()
        assert T <= self.config["len"], f"a sequence of {T} tokens is longer than the context"
        pos = torch.arange(0, T, dtype=torch.long, device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)  # (B, T, d)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))  # (B, T, V)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    def configure_optimizers(self, weight_decay, learning_rate, betas):
        """nanoGPT's split: every parameter of 2 or more dimensions (matrices, embeddings) decays,
        biases and gains do not."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)


def make(workload, s, norm, gen):
    """The model and its fixed batch, initialized as normlab does: weights N(0, 0.02^2),
    biases 0, gains 1 (nanogpt: its own init, as nanoGPT's; the step's cost does not depend on
    the values)."""
    if workload == "nanogpt":
        torch.manual_seed(1234)  # GPT's init draws from the global generator, as nanoGPT's does
        model = GPT(s, norm)
        seq = torch.randint(s["vocab"], (s["batch"], s["len"] + 1), generator=gen)
        return model, (seq[:, :-1].contiguous(), seq[:, 1:].contiguous())
    model = {"mlp": Mlp, "gru": GruLm, "transformer": TransformerLm}[workload](s, norm)
    with torch.no_grad():
        for p in model.parameters():  # matrices are weights and embeddings, vectors biases
            if p.dim() >= 2:
                p.normal_(0.0, 0.02, generator=gen)
            else:
                p.zero_()
        for m in model.modules():
            if isinstance(m, (RMSNorm, LayerNorm)) or (HAVE_TORCH_RMSNORM
                                                        and isinstance(m, nn.RMSNorm)):
                m.weight.fill_(1.0)
    if workload == "mlp":
        batch = (torch.randn(s["batch"], s["input"], generator=gen),
                 torch.randint(s["classes"], (s["batch"],), generator=gen))
    else:
        seq = torch.randint(s["vocab"], (s["batch"], s["len"] + 1), generator=gen)
        batch = (seq[:, :-1].contiguous(), seq[:, 1:].contiguous())
    return model, batch


def make_optimizer(workload, model):
    if workload == "nanogpt":
        # config/train_shakespeare_char.py: learning_rate 1e-3, beta2 0.99; train.py:
        # weight_decay 0.1, beta1 0.9. The same as normlab's nanogpt row.
        return model.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    return torch.optim.Adam(model.parameters(), lr=1e-3)


def time_steps(model, batch, warmup, steps, clock, opt=None, step_model=None):
    """step_model: what to call for the loss (the compiled module), `model` by default."""
    params = [p for p in model.parameters()]
    # `is None`, not `or`: a compiled module's truth value asks the model for a len().
    opt = torch.optim.Adam(params, lr=1e-3) if opt is None else opt
    step_model = model if step_model is None else step_model
    times = []
    for i in range(warmup + steps):
        t0 = clock()
        opt.zero_grad()
        loss = step_model(*batch)
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


def blas_info():
    """What this torch multiplies float32 matrices with, from its build configuration."""
    config = torch.__config__.show()
    found = re.search(r"BLAS_INFO=(\w+)", config)
    blas = found.group(1) if found else "?"
    words = {"mkl": "MKL", "open": "OpenBLAS", "openblas": "OpenBLAS"}
    text = words.get(blas, blas)
    if blas == "generic" and openblas_core():  # Debian's: the system libblas, OpenBLAS here
        text = "OpenBLAS (BLAS_INFO=generic: the system libblas)"
    if torch.backends.mkldnn.is_available():
        text += ", oneDNN"
    if blas == "mkl":
        text += " (not OpenBLAS: OPENBLAS_CORETYPE has no effect here; MKL_NUM_THREADS set)"
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--workloads", default="mlp,gru,transformer,nanogpt")
    ap.add_argument("--norms", default="rmsnorm,layernorm,none")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall: elapsed time; cpu: the process's CPU time, as normlab's --clock")
    ap.add_argument("--shapes", default=json.dumps(SHAPES), help="JSON, as normlab passes it")
    ap.add_argument("--compile", action="store_true", help="time torch.compile'd models")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    shapes = json.loads(a.shapes)
    rmsnorm = ("torch.nn.RMSNorm" if HAVE_TORCH_RMSNORM
               else "its own RMSNorm module (torch < 2.4 has no torch.nn.RMSNorm)")
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "openblas_core": openblas_core(), "blas": blas_info(), "rmsnorm": rmsnorm,
                      "clock": a.clock, "shapes": shapes}), flush=True)
    if a.compile and not hasattr(torch, "compile"):
        print(json.dumps({"error": f"torch {torch.__version__} has no torch.compile"}), flush=True)
        return
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
            n_params = sum(p.numel() for p in model.parameters())
            clock = time.perf_counter if a.clock == "wall" else time.process_time
            opt = make_optimizer(workload, model)
            row = {"workload": workload, "norm": norm, "params": n_params}
            step_model = model
            if a.compile:
                # The first steps compile (forward and, through AOTAutograd, backward); they are
                # untimed: one step here, then the usual warm-up.
                try:
                    step_model = torch.compile(model)
                    time_steps(model, batch, 1, 0, clock, opt, step_model)
                except Exception as e:  # inductor's failures come in many classes
                    why = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
                    print(json.dumps(dict(row, error=f"torch.compile failed: {why}")), flush=True)
                    continue
            times = time_steps(model, batch, a.warmup, a.steps, clock, opt, step_model)
            print(json.dumps(dict(row, median_ms=sorted(times)[len(times) // 2],
                                  min_ms=min(times), steps=a.steps)), flush=True)


if __name__ == "__main__":
    main()
