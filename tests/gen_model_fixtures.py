#!/usr/bin/python3
"""Deterministic whole-model PyTorch references for the normlab models.

Usage:
    /usr/bin/python3 tests/gen_model_fixtures.py [--out tests/fixtures/models] [--normlab PATH]

(Debian's interpreter is needed: it sees python3-torch, h5py and numpy.)
Rerunning gives byte-identical files.  tests/test_model_fixtures.cpp reads them.

For every case in CASES below the model is written in PyTorch the way a
reader would write it (nn.Linear, nn.Embedding, F.gelu, torch.softmax under a
causal mask, F.cross_entropy(ignore_index=-1); torch.nn.GRU itself for the
unnormalized GRU, an explicit cell loop for the normalized one), in float64,
with the normalizers of tests/gen_fixtures.py (F.layer_norm for LayerNorm
whenever its options are PyTorch's: eps inside the sqrt, plain gain).  The
parameters are drawn here with a fixed seed and stored.

File layout: <out>/<case>.h5, one file per case.

Root attributes (all strings, so the C++ side reads them with one call):
    generator      "tests/gen_model_fixtures.py"
    torch_version  torch.__version__
    case           the case name (= the file stem)
    model          "mlp" | "gru" | "transformer"
    the model's configuration, with normlab's field names and value syntax:
      every model  norms ("kind" or "kind,kind,..." one per layer/block),
                   norm_options ("key=value,..." or "")
      mlp          input, width, depth, classes, activation, B
      gru          vocab, embed, hidden, layers, sites (both|input|recurrent|none),
                   B, T; and split (joint|separate) in the cases that set it (the
                   files written before it existed are joint and stay byte-identical)
      transformer  vocab, d, layers, heads, context, mlp_ratio, placement,
                   qk_norm (true|false), norm_attn, norm_mlp, norm_qk,
                   norm_final ("" = the kind from norms), activation, B, T
    optimizer      "adam", lr "0.01", steps "5"  (torch.optim.Adam, default
                   betas and eps, no weight decay, no clipping)

Datasets:
    params/<name>  float64, every parameter before training, named and shaped
                   exactly as normlab's ParamStore names and shapes it
                   (Linear weights (out, in); normalizer gain (D,) or (1,) for
                   scalenorm, bias (D,), lambda (1,))
    grads/<name>   float64, d loss / d param at the initial parameters
    mlp:           x (B, input) float64, labels (B,) int32
    gru/transformer: tokens (B, T) int32, targets (B, T) int32 (a few are -1:
                   ignored by the loss)
    logits         float64, (B, classes) or (B, T, vocab)
    loss           float64 (1,), the mean cross-entropy over scored targets
    adam_losses    float64 (5,), the loss before each of 5 Adam steps on the
                   same batch, starting from params/

Parameters and MLP inputs are drawn in float32 and widened, so the float test
casts them losslessly.  Each case draws from its own numpy Generator seeded
with crc32(case name) (or the old name of a renamed case, SEED_NAMES).

Self-checks run after writing (and fail loudly): the explicit GRU cell loop
equals torch.nn.GRU; the explicit causal attention equals
torch.nn.MultiheadAttention; every file re-opens with the expected datasets.
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
import gen_fixtures as nf  # noqa: E402  (the normalizer references)

DTYPE = torch.float64
ADAM_LR = 1e-2
ADAM_STEPS = 5

MLP_BASE = dict(input=6, width=8, depth=2, classes=4, B=5, activation="relu")
GRU_BASE = dict(vocab=7, embed=5, hidden=6, layers=2, B=3, T=6, sites="both")
TF_BASE = dict(vocab=7, d=8, layers=2, heads=2, context=6, mlp_ratio=2, B=3, T=6,
               placement="pre", qk_norm=False, norm_attn="", norm_mlp="", norm_qk="",
               norm_final="", activation="gelu")

# name -> (model, config overrides). New cases can go anywhere: every case
# seeds its own generator from its name.
CASES = {
    # MLP: Linear -> normalizer -> activation per hidden layer, Linear head
    "mlp_rmsnorm": ("mlp", dict(norms=["rmsnorm"])),
    "mlp_layernorm": ("mlp", dict(norms=["layernorm"], activation="gelu")),
    "mlp_none": ("mlp", dict(norms=["none"], activation="tanh")),
    "mlp_hybrid_layernorm_rmsnorm": ("mlp", dict(norms=["layernorm", "rmsnorm"])),
    "mlp_rmsnorm_bias_zcg": ("mlp", dict(norms=["rmsnorm"], activation="sigmoid",
                                         norm_options="bias=true,zero_centered_gain=true")),
    # GRU LM
    "gru_rmsnorm_both": ("gru", dict(norms=["rmsnorm"], sites="both")),
    "gru_layernorm_input": ("gru", dict(norms=["layernorm"], sites="input")),
    "gru_none": ("gru", dict(norms=["none"], sites="none")),
    "gru_pcnorm_recurrent": ("gru", dict(norms=["pcnorm"], sites="recurrent",
                                         norm_options="learn_lambda=true")),
    "gru_hybrid_scalenorm_layernorm": ("gru", dict(norms=["scalenorm", "layernorm"],
                                                   sites="both")),
    # GRU LM, the gates and the candidate normalized apart (model.gru_norm_split = separate)
    "gru_layernorm_separate": ("gru", dict(norms=["layernorm"], sites="both", split="separate")),
    "gru_prmsnorm_separate": ("gru", dict(norms=["prmsnorm"], sites="both", split="separate",
                                          norm_options="p=0.25")),
    "gru_hybrid_rmsnorm_pcnorm_recurrent_separate": ("gru", dict(
        norms=["rmsnorm", "pcnorm"], sites="recurrent", split="separate",
        norm_options="")),
    # Transformer LM
    "tf_pre_rmsnorm": ("transformer", dict(norms=["rmsnorm"], placement="pre")),
    "tf_post_layernorm": ("transformer", dict(norms=["layernorm"], placement="post")),
    "tf_sandwich_rmsnorm_qknorm": ("transformer", dict(norms=["rmsnorm"], placement="sandwich",
                                                       qk_norm=True)),
    "tf_reordered_layernorm": ("transformer", dict(norms=["layernorm"], placement="reordered")),
    "tf_none": ("transformer", dict(norms=["none"], placement="none")),
    "tf_pre_hybrid_final_scalenorm": ("transformer", dict(norms=["layernorm", "rmsnorm"],
                                                          placement="pre",
                                                          norm_final="scalenorm")),
    "tf_pre_roles_qk_l2norm": ("transformer", dict(norms=["rmsnorm"], placement="pre",
                                                   norm_attn="layernorm", norm_mlp="pcnorm",
                                                   qk_norm=True, norm_qk="l2norm",
                                                   norm_final="centernorm")),
}

# Cases renamed after their files were written: each draws from its old name's seed, so its values
# stay those of the old file. Placement `peri` became `reordered` in issue 19 (x + N(F(x)) is OLMo
# 2's reordered norm; Peri-LN is `sandwich`).
SEED_NAMES = {"tf_reordered_layernorm": "tf_peri_layernorm"}

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def full_config(model, overrides):
    base = {"mlp": MLP_BASE, "gru": GRU_BASE, "transformer": TF_BASE}[model]
    cfg = dict(base, norm_options="")
    cfg.update(overrides)
    return cfg


# ---------------------------------------------------------------------------
# The normalizer as a module: parameters gain / bias / lambda, as normlab names them
# ---------------------------------------------------------------------------

class Norm(nn.Module):
    """normlab's normalizer `kind` over the last D features of any (..., D) input."""

    def __init__(self, kind, options, D):
        super().__init__()
        self.kind, self.D = kind, D
        self.opts = nf.parse_options(kind, options)
        if kind != "none":
            n = 1 if kind == "scalenorm" else D
            self.gain = nn.Parameter(torch.empty(n, dtype=DTYPE))
            if self.opts["bias"]:
                self.bias = nn.Parameter(torch.empty(D, dtype=DTYPE))
            if kind == "pcnorm" and self.opts["learn_lambda"]:
                self.register_parameter("lambda", nn.Parameter(torch.empty(1, dtype=DTYPE)))

    def forward(self, x):
        rows = x.reshape(-1, self.D)
        prm = dict(self.named_parameters())
        if self.kind == "layernorm" and nf.uses_torch_layernorm(self.opts):
            y = F.layer_norm(rows, (self.D,), prm["gain"], prm.get("bias"), self.opts["eps"])
        else:
            y = nf.NORMALIZERS[self.kind](rows, prm, self.opts)
        return y.reshape(x.shape)


def kind_for(norms, index):
    return norms[0] if len(norms) == 1 else norms[index]


# ---------------------------------------------------------------------------
# MLP
# ---------------------------------------------------------------------------

class Mlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.act = ACTIVATIONS[c["activation"]]
        self.linears = nn.ModuleList()
        self.norms = nn.ModuleList()
        for l in range(c["depth"]):
            fan_in = c["input"] if l == 0 else c["width"]
            self.linears.append(nn.Linear(fan_in, c["width"], dtype=DTYPE))
            self.norms.append(Norm(kind_for(c["norms"], l), c["norm_options"], c["width"]))
        self.head = nn.Linear(c["width"], c["classes"], dtype=DTYPE)

    def forward(self, x):
        h = x
        for linear, norm in zip(self.linears, self.norms):
            h = self.act(norm(linear(h)))
        return self.head(h)

    def loss(self, batch):
        logits = self(batch["x"])
        return logits, F.cross_entropy(logits, batch["labels"], ignore_index=-1)

    def normlab_params(self):
        p = {}
        for l, (linear, norm) in enumerate(zip(self.linears, self.norms)):
            p[f"layer{l}.weight"] = linear.weight
            p[f"layer{l}.bias"] = linear.bias
            for n, t in norm.named_parameters():
                p[f"layer{l}.norm.{n}"] = t
        p["head.weight"] = self.head.weight
        p["head.bias"] = self.head.bias
        return p


# ---------------------------------------------------------------------------
# GRU LM
# ---------------------------------------------------------------------------

class ProjectionNorm(nn.Module):
    """The normalizer of a GRU projection (..., 3H), features [r | z | n]: one over all 3H
    (split "joint"), or the gates (2H) and the candidate (H) apart ("separate", Nematus)."""

    def __init__(self, kind, options, H, split):
        super().__init__()
        self.H, self.split = H, split
        if split == "joint":
            self.joint = Norm(kind, options, 3 * H)
        else:
            self.gates = Norm(kind, options, 2 * H)
            self.cand = Norm(kind, options, H)

    def forward(self, p):
        if self.split == "joint":
            return self.joint(p)
        return torch.cat([self.gates(p[..., :2 * self.H]), self.cand(p[..., 2 * self.H:])], dim=-1)

    def sites(self, name):  # normlab site name -> Norm
        if self.split == "joint":
            return {name: self.joint}
        return {f"{name}_gates": self.gates, f"{name}_cand": self.cand}


class NormGruLayer(nn.Module):
    """One GRU layer (torch.nn.GRU's gate order r, z, n and two biases) with the normalizer
    applied to the projections W_ih x and W_hh h (3H features each), before the biases."""

    def __init__(self, fan_in, H, kind, options, sites, split):
        super().__init__()
        self.H = H
        self.weight_ih = nn.Parameter(torch.empty(3 * H, fan_in, dtype=DTYPE))
        self.weight_hh = nn.Parameter(torch.empty(3 * H, H, dtype=DTYPE))
        self.bias_ih = nn.Parameter(torch.empty(3 * H, dtype=DTYPE))
        self.bias_hh = nn.Parameter(torch.empty(3 * H, dtype=DTYPE))
        normed = {"norm_ih": sites in ("both", "input"), "norm_hh": sites in ("both", "recurrent")}
        self.norm_ih = ProjectionNorm(kind, options, H, split) if normed["norm_ih"] else None
        self.norm_hh = ProjectionNorm(kind, options, H, split) if normed["norm_hh"] else None

    def forward(self, x):  # x (B, T, in) -> (B, T, H)
        B, T, _ = x.shape
        a = F.linear(x, self.weight_ih)
        gx = (self.norm_ih(a) if self.norm_ih is not None else a) + self.bias_ih
        h = torch.zeros(B, self.H, dtype=x.dtype)
        outputs = []
        for t in range(T):
            hp = F.linear(h, self.weight_hh)
            gh = (self.norm_hh(hp) if self.norm_hh is not None else hp) + self.bias_hh
            x_r, x_z, x_n = gx[:, t].chunk(3, dim=-1)
            h_r, h_z, h_n = gh.chunk(3, dim=-1)
            r = torch.sigmoid(x_r + h_r)
            z = torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + r * h_n)  # the reset gate scales the normalized W_hn h + b_hn
            h = (1 - z) * n + z * h
            outputs.append(h)
        return torch.stack(outputs, dim=1)


class GruLm(nn.Module):
    def __init__(self, c, force_loop=False):
        super().__init__()
        V, E, H, L = c["vocab"], c["embed"], c["hidden"], c["layers"]
        self.embed = nn.Embedding(V, E, dtype=DTYPE)
        self.use_torch_gru = c["sites"] == "none" and not force_loop
        if self.use_torch_gru:
            self.gru = nn.GRU(E, H, num_layers=L, batch_first=True, dtype=DTYPE)
        else:
            self.layers = nn.ModuleList(
                NormGruLayer(E if l == 0 else H, H, kind_for(c["norms"], l), c["norm_options"],
                             c["sites"], c.get("split", "joint")) for l in range(L))
        self.head = nn.Linear(H, V, dtype=DTYPE)
        self.L = L

    def forward(self, tokens):  # (B, T) -> (B, T, V)
        x = self.embed(tokens)
        if self.use_torch_gru:
            x, _ = self.gru(x)
        else:
            for layer in self.layers:
                x = layer(x)
        return self.head(x)

    def loss(self, batch):
        logits = self(batch["tokens"])
        V = logits.shape[-1]
        return logits, F.cross_entropy(logits.reshape(-1, V), batch["targets"].reshape(-1),
                                       ignore_index=-1)

    def normlab_params(self):
        p = {"embed.weight": self.embed.weight}
        for l in range(self.L):
            for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                p[f"gru{l}.{w}"] = (getattr(self.gru, f"{w}_l{l}") if self.use_torch_gru
                                    else getattr(self.layers[l], w))
            if not self.use_torch_gru:
                for site in ("norm_ih", "norm_hh"):
                    projection = getattr(self.layers[l], site)
                    if projection is None:
                        continue
                    for name, norm in projection.sites(f"gru{l}.{site}").items():
                        for n, t in norm.named_parameters():
                            p[f"{name}.{n}"] = t
        p["head.weight"] = self.head.weight
        p["head.bias"] = self.head.bias
        return p


# ---------------------------------------------------------------------------
# Transformer LM. Module attribute names are normlab's parameter names, so
# named_parameters() already speaks normlab.
# ---------------------------------------------------------------------------

PLACEMENT_SITES = {  # placement -> (norm before F or after the sum, norm_out, final norm)
    "pre": (True, False, True), "post": (True, False, False),
    "sandwich": (True, True, True), "reordered": (False, True, True),
    "none": (False, False, False),
}


class Attention(nn.Module):
    """Causal multi-head self-attention; `norm` / `norm_out` are its sublayer's sites."""

    def __init__(self, d, heads, qk_kind, options):
        super().__init__()
        self.d, self.heads, self.hd = d, heads, d // heads
        self.qkv = nn.Linear(d, 3 * d, dtype=DTYPE)
        self.norm_q = Norm(qk_kind, options, self.hd) if qk_kind else None
        self.norm_k = Norm(qk_kind, options, self.hd) if qk_kind else None
        self.proj = nn.Linear(d, d, dtype=DTYPE)

    def forward(self, u):  # (B, T, d)
        B, T, d = u.shape
        q, k, v = self.qkv(u).split(d, dim=-1)
        q, k, v = (t.reshape(B, T, self.heads, self.hd) for t in (q, k, v))
        if self.norm_q is not None:  # per head, over head_dim, one gain shared by the heads
            q, k = self.norm_q(q), self.norm_k(k)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, heads, T, hd)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.hd)
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        probs = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        out = (probs @ v).transpose(1, 2).reshape(B, T, d)
        return self.proj(out)


class FeedForward(nn.Module):
    def __init__(self, d, hidden, act):
        super().__init__()
        self.fc = nn.Linear(d, hidden, dtype=DTYPE)
        self.proj = nn.Linear(hidden, d, dtype=DTYPE)
        self.act = act

    def forward(self, u):
        return self.proj(self.act(self.fc(u)))


class Block(nn.Module):
    def __init__(self, c, l):
        super().__init__()
        d, opts = c["d"], c["norm_options"]
        before_or_after, on_output, _ = PLACEMENT_SITES[c["placement"]]
        self.placement = c["placement"]
        ka = c["norm_attn"] or kind_for(c["norms"], l)
        km = c["norm_mlp"] or kind_for(c["norms"], l)
        kqk = (c["norm_qk"] or kind_for(c["norms"], l)) if c["qk_norm"] else ""
        self.attn = Attention(d, c["heads"], kqk, opts)
        self.mlp = FeedForward(d, c["mlp_ratio"] * d, ACTIVATIONS[c["activation"]])
        for sub, kind in ((self.attn, ka), (self.mlp, km)):
            sub.norm = Norm(kind, opts, d) if before_or_after else None
            sub.norm_out = Norm(kind, opts, d) if on_output else None

    def sublayer(self, f, s):
        p = self.placement
        if p == "pre":
            return s + f(f.norm(s))
        if p == "post":
            return f.norm(s + f(s))
        if p == "sandwich":
            return s + f.norm_out(f(f.norm(s)))
        if p == "reordered":
            return s + f.norm_out(f(s))
        return s + f(s)

    def forward(self, s):
        return self.sublayer(self.mlp, self.sublayer(self.attn, s))


class TransformerLm(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["d"]
        self.embed = nn.Embedding(c["vocab"], d, dtype=DTYPE)
        self.pos = nn.Embedding(c["context"], d, dtype=DTYPE)
        self.L = c["layers"]
        for l in range(self.L):
            setattr(self, f"block{l}", Block(c, l))
        final = PLACEMENT_SITES[c["placement"]][2]
        kind = c["norm_final"] or kind_for(c["norms"], self.L - 1)
        self.norm_final = Norm(kind, c["norm_options"], d) if final else None
        self.head = nn.Linear(d, c["vocab"], dtype=DTYPE)

    def forward(self, tokens):  # (B, T) -> (B, T, V)
        T = tokens.shape[1]
        s = self.embed(tokens) + self.pos(torch.arange(T))
        for l in range(self.L):
            s = getattr(self, f"block{l}")(s)
        if self.norm_final is not None:
            s = self.norm_final(s)
        return self.head(s)

    loss = GruLm.loss

    def normlab_params(self):
        return dict(self.named_parameters())


MODELS = {"mlp": Mlp, "gru": GruLm, "transformer": TransformerLm}


# ---------------------------------------------------------------------------
# Drawing a case
# ---------------------------------------------------------------------------

def draw_params(model, rng):
    """normlab name -> float32-exact float64 array, in the model's parameter order."""
    f32 = np.float32

    def normal(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    out = {}
    for name, t in model.normlab_params().items():
        shape = tuple(t.shape)
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "gain":
            # find the owning Norm to read its options
            norm = model.get_submodule(torch_name(model, t).rsplit(".", 1)[0])
            g0 = f32(math.sqrt(norm.D)) if norm.kind == "scalenorm" else f32(1)
            if norm.opts["zero_centered_gain"]:
                v = f32(0.1) * g0 * normal(*shape)
            else:
                v = g0 * (f32(1) + f32(0.1) * normal(*shape))
        elif leaf == "lambda":
            v = np.clip(f32(0.5) + f32(0.1) * normal(*shape), f32(0.05), f32(0.95))
        elif name in ("embed.weight", "pos.weight"):
            v = normal(*shape)
        elif len(shape) == 2:  # Linear / GRU weights (out, in)
            v = normal(*shape) / f32(math.sqrt(shape[1]))
        else:  # Linear, GRU and normalizer biases
            v = f32(0.1) * normal(*shape)
        assert v.dtype == np.float32 and v.shape == shape, name
        out[name] = v.astype(np.float64)
    return out


def torch_name(model, tensor):
    for n, t in model.named_parameters():
        if t is tensor:
            return n
    raise KeyError("parameter not in the model")


def draw_batch(model_kind, c, rng):
    if model_kind == "mlp":
        x = rng.standard_normal((c["B"], c["input"]), dtype=np.float32).astype(np.float64)
        labels = rng.integers(0, c["classes"], size=c["B"]).astype(np.int32)
        return {"x": x, "labels": labels}
    B, T, V = c["B"], c["T"], c["vocab"]
    tokens = rng.integers(0, V, size=(B, T)).astype(np.int32)
    targets = rng.integers(0, V, size=(B, T)).astype(np.int32)
    targets[0, 1] = targets[1, T - 1] = targets[2, 0] = -1  # ignored by the loss
    return {"tokens": tokens, "targets": targets}


def torch_batch(batch):
    return {k: torch.tensor(v, dtype=DTYPE if v.dtype == np.float64 else torch.long)
            for k, v in batch.items()}


def build(model_kind, c, params, **kwargs):
    torch.manual_seed(0)  # the modules' own init is overwritten below
    model = MODELS[model_kind](c, **kwargs)
    named = model.normlab_params()
    assert set(named) == set(params), (sorted(named), sorted(params))
    assert len({id(t) for t in named.values()}) == len(list(model.parameters()))
    with torch.no_grad():
        for name, t in named.items():
            t.copy_(torch.tensor(params[name]))
    return model


def run_case(name):
    model_kind, overrides = CASES[name]
    c = full_config(model_kind, overrides)
    rng = np.random.default_rng(zlib.crc32(SEED_NAMES.get(name, name).encode()))
    model = MODELS[model_kind](c)
    params = draw_params(model, rng)
    batch = draw_batch(model_kind, c, rng)
    tb = torch_batch(batch)

    model = build(model_kind, c, params)
    logits, loss = model.loss(tb)
    loss.backward()
    grads = {n: t.grad.detach().numpy().copy() for n, t in model.normlab_params().items()}

    model = build(model_kind, c, params)  # a fresh copy for the Adam trajectory
    opt = torch.optim.Adam(model.parameters(), lr=ADAM_LR)
    losses = []
    for _ in range(ADAM_STEPS):
        opt.zero_grad()
        _, step_loss = model.loss(tb)
        losses.append(step_loss.item())
        step_loss.backward()
        opt.step()
    assert losses[0] == loss.item()

    return c, params, batch, {
        "logits": logits.detach().numpy(),
        "loss": np.array([loss.item()]),
        "adam_losses": np.array(losses),
    }, grads


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def config_attrs(c):
    def text(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return ",".join(v)
        return str(v)
    return {k: text(v) for k, v in sorted(c.items())}


def write_case(out_dir, name):
    model_kind = CASES[name][0]
    c, params, batch, outputs, grads = run_case(name)
    path = out_dir / f"{name}.h5"
    with h5py.File(path, "w", track_order=False) as f:
        f.attrs["generator"] = "tests/gen_model_fixtures.py"
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["case"] = name
        f.attrs["model"] = model_kind
        for k, v in config_attrs(c).items():
            f.attrs[k] = v
        f.attrs["optimizer"] = "adam"
        f.attrs["lr"] = repr(ADAM_LR)
        f.attrs["steps"] = str(ADAM_STEPS)
        for n, v in params.items():
            f.create_dataset(f"params/{n}", data=v, track_times=False)
        for n, v in grads.items():
            f.create_dataset(f"grads/{n}", data=v.astype(np.float64), track_times=False)
        for n, v in {**batch, **outputs}.items():
            f.create_dataset(n, data=v, track_times=False)
    return path


# ---------------------------------------------------------------------------
# Self-checks of the reference models
# ---------------------------------------------------------------------------

def check_gru_loop_is_nn_gru():
    """The cell loop (with no normalizer) is torch.nn.GRU: same logits and gradients."""
    c = full_config("gru", CASES["gru_none"][1])
    rng = np.random.default_rng(zlib.crc32(b"gru_none"))
    params = draw_params(GruLm(c), rng)
    tb = torch_batch(draw_batch("gru", c, rng))
    results = []
    for force_loop in (False, True):
        model = build("gru", c, params, force_loop=force_loop)
        logits, loss = model.loss(tb)
        loss.backward()
        results.append((logits.detach(), {n: t.grad for n, t in model.normlab_params().items()}))
    (l0, g0), (l1, g1) = results
    worst = float((l0 - l1).abs().max())
    for n in g0:
        worst = max(worst, float((g0[n] - g1[n]).abs().max()))
    assert worst < 1e-13, worst
    return worst


def check_attention_is_multihead_attention():
    """Attention (no qk-norm) is torch.nn.MultiheadAttention with a causal mask."""
    gen = torch.Generator().manual_seed(1)
    d, heads, B, T = 8, 2, 3, 6
    att = Attention(d, heads, "", "")
    mha = nn.MultiheadAttention(d, heads, batch_first=True, dtype=DTYPE)
    with torch.no_grad():
        for t in list(att.parameters()):
            t.copy_(torch.randn(t.shape, generator=gen, dtype=DTYPE) * 0.5)
        mha.in_proj_weight.copy_(att.qkv.weight)
        mha.in_proj_bias.copy_(att.qkv.bias)
        mha.out_proj.weight.copy_(att.proj.weight)
        mha.out_proj.bias.copy_(att.proj.bias)
    u = torch.randn(B, T, d, generator=gen, dtype=DTYPE)
    mask = ~torch.ones(T, T, dtype=torch.bool).tril()  # True = may not attend
    want, _ = mha(u, u, u, attn_mask=mask, need_weights=False)
    worst = float((att(u) - want).abs().max())
    assert worst < 1e-13, worst
    return worst


def verify_file(path, name):
    model_kind, _ = CASES[name]
    with h5py.File(path, "r") as f:
        assert f.attrs["case"] == name and f.attrs["model"] == model_kind
        assert sorted(f["params"].keys()) == sorted(f["grads"].keys())
        for n in f["params"]:
            assert f["params"][n].shape == f["grads"][n].shape, n
            assert np.all(np.isfinite(f["grads"][n][()])), n
        inputs = ["x", "labels"] if model_kind == "mlp" else ["tokens", "targets"]
        assert set(f.keys()) == {"params", "grads", "logits", "loss", "adam_losses", *inputs}
        losses = f["adam_losses"][()]
        assert losses.shape == (ADAM_STEPS,) and losses[-1] < losses[0], (name, losses)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures/models",
                        help="output directory (default: tests/fixtures/models)")
    parser.add_argument("--normlab", default=str(nf.default_normlab()),
                        help="the normlab binary whose `norms --json` gives the normalizers' "
                             "default options (default: build/normlab)")
    parser.add_argument("--case", action="append", choices=sorted(CASES), metavar="NAME",
                        help="write only this case (repeatable; default: every case)")
    args = parser.parse_args()
    nf.load_registry(args.normlab)  # the normalizer references read their defaults from it
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # a fixed summation order
    total = 0
    for name in args.case or CASES:
        path = write_case(out_dir, name)
        verify_file(path, name)
        size = path.stat().st_size
        total += size
        print(f"{path}: {size} bytes")
    print(f"total: {total} bytes in {len(args.case or CASES)} files")
    print(f"cell loop vs torch.nn.GRU: max abs difference {check_gru_loop_is_nn_gru():.1e}")
    print(f"causal attention vs torch.nn.MultiheadAttention: max abs difference "
          f"{check_attention_is_multihead_attention():.1e}")


if __name__ == "__main__":
    main()
