#!/usr/bin/python3
"""Which normalizer sites need re-centering (LayerNorm) and which only gain control (RMSNorm)?
The study of issue 21, from one script (experiments/README.md, results/recentering/README.md).

  /usr/bin/python3 experiments/recentering/run_study.py [--jobs 2]   # full: results/recentering/,
                                                                   # sweep dirs in sweeps/recentering/
  /usr/bin/python3 experiments/recentering/run_study.py --tiny --out DIR   # every stage, tiny (ctest
                                                                   # recentering.tiny)

A site is what model.norm's per-layer list addresses: an MLP hidden layer (layer{l}.norm) or a
Transformer block (its norms; the last block's also the final norm).
Stages, each resumable (rerunning skips finished runs and analyses):
  runs       per configuration one `normlab sweep`: all-LN, all-RN, LN-except-s and RN-except-s
             for every site s, and pcnorm with learn_lambda=true, over the seeds
  analyze    `normlab analyze recentering` on every all-LN and pcnorm run (its CSV read, its
             table kept as .txt)
  roles      per Transformer configuration: RMSNorm at every attention norm, every MLP norm, or
             the final norm (model.norm_attn / norm_mlp / norm_final), LayerNorm elsewhere
  evaluate   Delta_remove / Delta_add per site with t intervals, Spearman of each predictor and
             of pcnorm's learned lambda with Delta_remove (bootstrap over seeds), thresholds fit on
             one configuration and tested on the others, the command's verdicts per site
  recommend  on each held-out configuration (mlp_w256_d8, tf_w64_d4): all-LN, all-RN, the command's
             recommended stack (its first all-LN seed's RUN.recentering.toml), the stack of the
             best threshold fit on mlp_w128_d6, a random stack with as many LN sites as each, and the
             oracle (LN where Delta_remove's interval is above 0), over the seeds; `normlab table`
             against all-LN with --margin, and `normlab bench pair` recommended vs all-LN
Everything lands in OUT/tables.md and OUT/*.csv; OUT/README.md is written by hand.
"""
import argparse
import csv
import itertools
import os
import random
import subprocess
import sys
import time
import tomllib

import h5py
import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.join(REPO, "analysis"))  # the readers' package: its TOML writer
import study_eval as ev  # noqa: E402
import study_report as rep  # noqa: E402
from normlab.toml_text import toml_value  # noqa: E402

KIND = {"L": "layernorm", "R": "rmsnorm", "P": "pcnorm"}
CODE = {v: k for k, v in KIND.items()}

# The configurations. Both use model.init = "offset" (weights N(0.2, 0.05^2)), the RMSNorm paper's
# robustness test, where re-centering is known to matter in this toolkit (results/init_offset).
MLP_SET = {"model.init": "offset", "train.steps": 1000, "train.eval_every": 100, "stats.every": 50}
FULL = {
    "seeds": list(range(10)),
    "configs": [
        {"name": "mlp_w64_d4", "depth": 4,
         "set": dict(MLP_SET, **{"model.width": 64, "model.depth": 4})},
        {"name": "mlp_w128_d6", "depth": 6,
         "set": dict(MLP_SET, **{"model.width": 128, "model.depth": 6})},
        {"name": "mlp_w256_d8", "depth": 8,
         "set": dict(MLP_SET, **{"model.width": 256, "model.depth": 8})},
        # The other regime: zero-mean weights, so the mean of a hidden layer's input is what the
        # activations and the data offset leave, and ones_response is free to vary.
        {"name": "mlp_w128_d6_normal", "depth": 6,
         "set": dict(MLP_SET, **{"model.width": 128, "model.depth": 6, "model.init": "normal",
                                 "data.offset": 5.0})},
        # A pre-norm decoder-only Transformer LM: a site is a block (its attention and MLP
        # norms; the last block's also takes the final norm).
        {"name": "tf_w64_d4", "depth": 4, "experiment": "transformer.toml",
         "set": {"model.depth": 4, "train.steps": 300, "train.eval_every": 50, "stats.every": 50}},
    ],
    "fit_on": "mlp_w128_d6", "held_out": ["mlp_w256_d8", "tf_w64_d4"],
    "bench": ["--alternations", "20"],
}
TINY_SET = {"model.width": 16, "model.depth": 2, "model.init": "offset", "train.steps": 6,
            "train.eval_every": 3, "data.val_size": 8, "stats.every": 3}
TINY = {
    "seeds": [0, 1],
    "configs": [{"name": "tiny_a", "depth": 2, "set": dict(TINY_SET)},
                {"name": "tiny_b", "depth": 2, "set": dict(TINY_SET, **{"data.offset": 1.0})},
                {"name": "tiny_tf", "depth": 2, "experiment": "transformer.toml",
                 "set": {"model.width": 16, "model.depth": 2, "model.heads": 2,
                         "model.context": 12, "data.chars": 4000, "data.val_size": 6,
                         "train.batch": 4, "train.steps": 6, "train.eval_every": 3,
                         "stats.every": 3}}],
    "fit_on": "tiny_a", "held_out": ["tiny_b", "tiny_tf"],
    "bench": ["--alternations", "10", "--block-seconds", "0.02", "--warmup", "1",
              "--share-blocks", "2"],
}


def norm_list(codes):
    return [KIND[c] for c in codes]


def experiment_of(cfg):
    return os.path.join(REPO, "experiments", cfg.get("experiment", "mlp.toml"))


def write_sweep(path, cfg, stacks, seeds, options):
    """A sweep file: cfg's [set], one zipped axis (model.norm, model.norm_options), seeds."""
    lines = ["# written by experiments/recentering/run_study.py; rerun it, do not edit",
             "experiment = " + toml_value(experiment_of(cfg), "experiment"), "",
             "[set]"]
    lines += [f"{k} = {toml_value(v, k)}" for k, v in cfg["set"].items()]
    lines += ["", "[[zip]]",
              '"model.norm" = ' + toml_value([norm_list(s) for s in stacks], "model.norm"),
              '"model.norm_options" = ' + toml_value(options, "model.norm_options"), "", "[grid]",
              "seed = " + toml_value(seeds, "seed"), ""]
    text = "\n".join(lines)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path) or open(path).read() != text:
        with open(path, "w") as f:
            f.write(text)


def run_sweep(args, sweep_file, out_dir):
    start = time.time()
    cmd = [args.binary, "sweep", sweep_file, "--out", out_dir, "--jobs", str(args.jobs)]
    print("==", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print("\n".join(done.stdout.strip().splitlines()[-3:]))
    if done.returncode != 0:
        sys.exit(f"run_study.py: the sweep {sweep_file} failed (exit {done.returncode})")
    print(f"   took {time.time() - start:.0f} s", flush=True)


def ground_truth_stacks(depth):
    stacks = [ev.stack(depth, "L"), ev.stack(depth, "R")]
    for s in range(depth):
        stacks += [ev.stack(depth, "L", s), ev.stack(depth, "R", s)]
    return list(dict.fromkeys(stacks))  # with two sites, LN-except-0 is RN-except-1


def stage_runs(args, plan):
    for cfg in plan["configs"]:
        d = cfg["depth"]
        stacks = ground_truth_stacks(d) + [("P",) * d]
        options = [""] * (len(stacks) - 1) + ["learn_lambda=true"]
        path = os.path.join(args.sweeps, cfg["name"] + ".toml")
        write_sweep(path, cfg, stacks, plan["seeds"], options)
        run_sweep(args, path, os.path.join(args.sweeps, cfg["name"]))


def unit_lambdas(f, depth):
    """The last recorded lambda per unit (model.norm's list entry) of an open run file: a site's
    unit is its site_layer, the final norm's (layer = depth) the last block's; a unit with several
    sites takes the largest, as run_study ranks every predictor of a block."""
    layers = [int(v) for v in f["site_layer"][:]]
    per_unit = {}
    for lam, layer in zip(f["lambda"][-1, :], layers):
        if np.isfinite(lam):
            unit = min(layer, depth - 1)
            per_unit[unit] = max(per_unit.get(unit, -np.inf), float(lam))
    return [per_unit.get(u, float("nan")) for u in range(depth)]


def load_runs(sweep_dir, depth):
    """{stack codes: {seed: (val_loss, path, lambda per site, status)}} over the sweep's run
    files. A stuck or diverged run keeps its final loss: being stuck at chance is the cost."""
    runs = {}
    run_dir = os.path.join(sweep_dir, "runs")
    for name in sorted(os.listdir(run_dir)):
        if not name.endswith(".h5") or name.endswith("recentering.h5"):
            continue
        path = os.path.join(run_dir, name)
        with h5py.File(path, "r") as f:
            codes = tuple(CODE[k] for k in str(f.attrs["norm"]).split(","))
            seed = int(f.attrs["seed"])
            loss = float(f["val_loss"][-1]) if len(f["val_loss"]) else float("nan")
            lam = unit_lambdas(f, depth) if "lambda" in f and len(f["lambda"]) else []
            status = str(f.attrs["status"])
        runs.setdefault(codes, {})[seed] = (loss, path, lam, status)
    return runs


def analyze_run(args, run_path, dest_dir, depth):
    """`normlab analyze recentering` on one run, its table kept as dest_dir/ID.txt, its CSV as
    ID.recentering.csv and its config as ID.recentering.toml; skipped when all exist."""
    base = os.path.join(dest_dir, os.path.basename(run_path)[:-3])
    txt, toml, csv_path = base + ".txt", base + ".recentering.toml", base + ".recentering.csv"
    if not all(os.path.exists(p) for p in (txt, toml, csv_path)):
        os.makedirs(dest_dir, exist_ok=True)
        cmd = [args.binary, "analyze", "recentering", run_path, "--out", toml, "--overwrite"]
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            sys.exit(f"run_study.py: {' '.join(cmd)} failed:\n{done.stdout}")
        with open(txt, "w") as f:
            f.write(done.stdout)
    with open(toml, "rb") as f:
        recommended = tomllib.load(f)["model"]["norm"]
    return unit_predictors(csv_path, depth), recommended


def unit_predictors(csv_path, depth):
    """{unit: {predictor: value}} from the command's CSV. A unit is one entry of model.norm's
    list: an MLP layer has one site; a Transformer block has several (attention and MLP norms,
    the last block the final norm too), and takes each predictor's largest value over them, as
    the command's verdict does (one flagged site makes the block layernorm)."""
    units = {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            unit = min(int(row["layer"]), depth - 1)
            values = units.setdefault(unit, {p: [] for p in ev.PREDICTORS})
            for p in ev.PREDICTORS:
                values[p].append(float(row[p]) if row[p] not in ("", "nan") else float("nan"))
    if sorted(units) != list(range(depth)):
        sys.exit(f"run_study.py: {csv_path}: sites for units {sorted(units)}, expected 0..{depth - 1}")
    out = {}
    for unit, values in units.items():
        out[unit] = {p: (float(np.nanmax(v)) if np.isfinite(v).any() else float("nan"))
                     for p, v in values.items()}
        out[unit]["depth"] = unit / depth
    return out


ROLES = {"attn": "attn-input", "mlp": "mlp-input", "final": "final"}  # override key: CSV role


def stage_roles(args, plan, found):
    """Per Transformer configuration and role (the attention norms, the MLP norms, the final
    norm): LayerNorm everywhere but RMSNorm at every site of that role (model.norm_<role>), over
    the seeds. Returns {config: {role: {"remove": [per seed], "preds": {predictor: mean}}}}: the
    loss paired with the ground truth's all-LN runs, and each predictor's mean over the role's
    sites and the all-LN seeds."""
    out = {}
    for cfg in plan["configs"]:
        if cfg.get("experiment") != "transformer.toml":
            continue
        name, d = cfg["name"], cfg["depth"]
        all_ln = found[name]["losses"][ev.stack(d, "L")]
        out[name] = {}
        for role in ROLES:
            role_cfg = dict(cfg, set=dict(cfg["set"], **{f"model.norm_{role}": "rmsnorm"}))
            path = os.path.join(args.sweeps, f"{name}_role_{role}.toml")
            write_sweep(path, role_cfg, [ev.stack(d, "L")], plan["seeds"], [""])
            sweep_dir = os.path.join(args.sweeps, f"{name}_role_{role}")
            run_sweep(args, path, sweep_dir)
            losses = load_runs(sweep_dir, d)[ev.stack(d, "L")]  # the runs' attrs name model.norm
            out[name][role] = {"remove": [losses[k][0] - all_ln[k] for k in plan["seeds"]],
                               "preds": role_predictors(args, name, ROLES[role])}
    return out


def role_predictors(args, name, role):
    """Each predictor's mean over the sites of `role` in every all-LN seed's analysis CSV."""
    values = {p: [] for p in ev.PREDICTORS}
    analyze_dir = os.path.join(args.out, name, "analyze")
    for f in sorted(os.listdir(analyze_dir)):
        if not (f.endswith(".recentering.csv") and "_norm-layernorm" in f):
            continue
        with open(os.path.join(analyze_dir, f), newline="") as fh:
            for row in csv.DictReader(fh):
                if row["role"] == role:
                    for p in ev.PREDICTORS:
                        if row[p] not in ("", "nan"):
                            values[p].append(float(row[p]))
    return {p: float(np.mean(v)) if v else float("nan") for p, v in values.items()}


def stage_analyze(args, plan):
    """Per configuration: predictors[name][kind L|P] = array (seeds x sites); the recommended
    stack of the first seed's all-LN run; the learned lambdas (seeds x sites)."""
    found = {}
    for cfg in plan["configs"]:
        d, name = cfg["depth"], cfg["name"]
        runs = load_runs(os.path.join(args.sweeps, name), d)
        missing = [s for s in ground_truth_stacks(d) + [("P",) * d]
                   if sorted(runs.get(s, {})) != plan["seeds"]]
        if missing:
            sys.exit(f"run_study.py: {name}: runs missing for {missing[:3]} (rerun the runs stage)")
        preds = {"L": {p: [] for p in ev.PREDICTORS}, "P": {p: [] for p in ev.PREDICTORS}}
        verdicts = []  # per all-LN seed: the command's recommended stack
        for code in ("L", "P"):
            for seed in plan["seeds"]:
                path = runs[(code,) * d][seed][1]
                sites, rec = analyze_run(args, path, os.path.join(args.out, name, "analyze"), d)
                for p in ev.PREDICTORS:
                    preds[code][p].append([sites[s][p] for s in range(d)])
                if code == "L":
                    verdicts.append(tuple(CODE[k] for k in rec))
        recommended = verdicts[0]
        losses = {s: {k: v[0] for k, v in by_seed.items()} for s, by_seed in runs.items()}
        lam = [runs[("P",) * d][k][2] for k in plan["seeds"]]
        status = {s: [v[3] for v in by_seed.values()] for s, by_seed in runs.items()}
        found[name] = {"depth": d, "losses": losses, "preds": preds, "lambda": lam, "status": status,
                       "recommended": recommended, "verdicts": verdicts, "cfg": cfg}
    return found


def evaluate(plan, found):
    """Ground truth, Spearman rows and out-of-sample rows (study_report writes them)."""
    seeds = plan["seeds"]
    truth, rho_rows, features = {}, [], {}
    for name, f in found.items():
        d = f["depth"]
        remove, add = ev.paired_deltas(f["losses"], d, seeds)
        labels = ev.needs_centering(remove)
        truth[name] = {"remove": remove, "add": add, "labels": labels}
        delta = np.array([[remove[s][k] for s in range(d)] for k in range(len(seeds))])
        cands = {f"{p} (all-LN runs)": f["preds"]["L"][p] for p in ev.PREDICTORS}
        cands.update({f"{p} (pcnorm runs)": f["preds"]["P"][p] for p in ev.PREDICTORS
                      if p not in ("depth",)})
        cands["learned lambda (pcnorm)"] = f["lambda"]
        features[name] = {}
        for label, per_seed in cands.items():
            rho, lo, hi, share = ev.spearman_bootstrap(delta, per_seed)
            rho_rows.append({"config": name, "predictor": label, "sites": d, "rho": rho,
                             "lo": lo, "hi": hi, "defined_share": share})
            features[name][label] = ev.site_means(per_seed, np.arange(len(seeds)))
    oos_rows = out_of_sample(truth, features)
    return truth, rho_rows, oos_rows, features


def out_of_sample(truth, features):
    rows = []
    for train, test in itertools.permutations(truth, 2):
        for label in features[train]:
            sign, t, agree = ev.fit_threshold(features[train][label], truth[train]["labels"])
            rows.append({"fit_on": train, "test_on": test, "predictor": label, "sign": sign,
                         "threshold": t, "train_agreement": agree,
                         "test_agreement": ev.apply_threshold(features[test][label],
                                                              truth[test]["labels"], sign, t),
                         "majority_baseline": ev.majority_agreement(truth[train]["labels"],
                                                                    truth[test]["labels"])})
    return rows


def fitted_stack(oos_rows, features, fit_on, held_out):
    """The stack that the predictor fit best on fit_on calls for on held_out, from held_out's
    per-site means over seeds of the all-LN (or pcnorm) runs' predictors."""
    rows = [r for r in oos_rows if r["fit_on"] == fit_on and r["test_on"] == held_out
            and np.isfinite(r["threshold"])]
    if not rows:
        return None, None
    best = max(rows, key=lambda r: r["train_agreement"])
    v = np.asarray(features[held_out][best["predictor"]], dtype=float)
    codes = tuple("L" if np.isfinite(x) and best["sign"] * x >= best["threshold"] else "R"
                  for x in v)
    return codes, best["predictor"]


def random_stack(depth, like, rng_seed=2021):
    """As many LN sites as `like` has, at places drawn by a fixed seed."""
    codes = ["R"] * depth
    for s in random.Random(rng_seed).sample(range(depth), sum(c == "L" for c in like)):
        codes[s] = "L"
    return tuple(codes)


def stage_recommend(args, plan, found, truth, oos_rows, features, held_name):
    """A held-out configuration: all-LN, all-RN, the command's recommended stack, the stack of
    the threshold fit on plan["fit_on"], random stacks with as many LN sites, and the oracle of
    the ground truth, over the seeds."""
    held = [c for c in plan["configs"] if c["name"] == held_name][0]
    name, d = held["name"], held["depth"]
    rec = found[name]["recommended"]
    fitted, fitted_by = fitted_stack(oos_rows, features, plan["fit_on"], name)
    oracle = tuple("L" if y else "R" for y in truth[name]["labels"])
    arms = [("all-LN", ev.stack(d, "L")), ("all-RN", ev.stack(d, "R")),
            ("recommended (analyze recentering)", rec),
            ("random, as many LN sites as recommended", random_stack(d, rec))]
    if fitted is not None:
        arms += [(f"fitted on {plan['fit_on']} ({fitted_by})", fitted),
                 ("random, as many LN sites as fitted", random_stack(d, fitted))]
    arms.append(("oracle (LN where Delta_remove's interval is above 0)", oracle))
    stacks = list(dict.fromkeys(s for _, s in arms))  # one run set per distinct stack
    path = os.path.join(args.sweeps, name + "_recommend.toml")
    write_sweep(path, held, stacks, plan["seeds"], [""] * len(stacks))
    sweep_dir = os.path.join(args.sweeps, name + "_recommend")
    run_sweep(args, path, sweep_dir)
    return {"config": name, "arms": arms, "sweep_dir": sweep_dir, "sweep_file": path,
            "experiment": experiment_of(held)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="every stage at a tiny size (the ctest)")
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time (normlab sweep --jobs)")
    ap.add_argument("--binary", default=os.path.join(REPO, "build", "normlab"),
                    help="the normlab binary (default build/normlab)")
    ap.add_argument("--out", help="results (default results/recentering; --tiny: build/recentering-tiny/results)")
    ap.add_argument("--sweeps", help="sweep dirs (default sweeps/recentering; --tiny: beside --out)")
    ap.add_argument("--margin", default="0.02", help="normlab table --margin (val_loss, nats)")
    ap.add_argument("--seeds", type=int, help="seeds per stack (default 10; --tiny 2)")
    args = ap.parse_args()
    plan = dict(TINY if args.tiny else FULL)
    if args.seeds:
        plan["seeds"] = list(range(args.seeds))
    default_out = os.path.join(REPO, "build", "recentering-tiny", "results") if args.tiny \
        else os.path.join(REPO, "results", "recentering")
    args.out = os.path.abspath(args.out or default_out)
    args.sweeps = os.path.abspath(args.sweeps or (os.path.join(args.out, "..", "sweeps") if args.tiny
                                                  else os.path.join(REPO, "sweeps", "recentering")))
    args.binary = os.path.abspath(args.binary)
    start = time.time()
    stage_runs(args, plan)
    found = stage_analyze(args, plan)
    truth, rho_rows, oos_rows, features = evaluate(plan, found)
    roles = stage_roles(args, plan, found)
    recommends = [stage_recommend(args, plan, found, truth, oos_rows, features, name)
                  for name in plan["held_out"]]
    rep.write_all(args, plan, found, truth, rho_rows, oos_rows, features, recommends, roles)
    print(f"run_study.py: done in {time.time() - start:.0f} s -> {args.out}/tables.md")


if __name__ == "__main__":
    main()
