#!/usr/bin/python3
"""Checks the outputs of run_study.py (the ctest recentering.tiny): every file is there and well
formed, and the ground truth agrees with the run files read here directly (h5py, not through
run_study.py's loaders).

  /usr/bin/python3 experiments/recentering/check_outputs.py OUT SWEEPS
"""
import csv
import math
import os
import sys

import h5py

CONFIGS_HINT = "run_study.py --tiny writes tiny_a, tiny_b and tiny_tf"


def fail(msg):
    sys.exit("check_outputs.py: " + msg)


def read_csv(out, name, min_rows):
    path = os.path.join(out, name)
    if not os.path.isfile(path):
        fail(f"missing {path}")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if len(rows) < min_rows:
        fail(f"{path}: {len(rows)} rows, expected at least {min_rows}")
    return rows


def num(row, key, where):
    try:
        return float(row[key])
    except (KeyError, ValueError):
        fail(f"{where}: column {key!r} is not a number: {row.get(key)!r}")


def final_losses(sweep_dir):
    """{(norm attribute, seed): final val loss} straight from the run files."""
    out = {}
    runs = os.path.join(sweep_dir, "runs")
    for name in os.listdir(runs):
        if name.endswith(".h5"):
            with h5py.File(os.path.join(runs, name), "r") as f:
                out[(str(f.attrs["norm"]), int(f.attrs["seed"]))] = float(f["val_loss"][-1])
    return out


def check_truth(out, sweeps):
    rows = read_csv(out, "ground_truth.csv", 4)
    configs = sorted({r["config"] for r in rows})
    if len(configs) < 2:
        fail(f"ground_truth.csv has configurations {configs}; {CONFIGS_HINT}")
    for r in rows:
        where = f"ground_truth.csv {r['config']} {r['site']}"
        lo, m, hi = (num(r, k, where) for k in ("delta_remove_lo", "delta_remove", "delta_remove_hi"))
        if not (lo <= m <= hi):
            fail(f"{where}: Delta_remove {m} outside its interval [{lo}, {hi}]")
        if r["needs_centering"] not in ("True", "False") or (r["needs_centering"] == "True") != (lo > 0):
            fail(f"{where}: needs_centering {r['needs_centering']} but the interval starts at {lo}")
    # Delta_remove of layer0 in the first configuration, recomputed from the files.
    name = configs[0]
    losses = final_losses(os.path.join(sweeps, name))
    seeds = sorted({s for _, s in losses})
    depth = sum(1 for r in rows if r["config"] == name)
    all_ln = ",".join(["layernorm"] * depth)
    ln_x0 = ",".join(["rmsnorm"] + ["layernorm"] * (depth - 1))
    want = sum(losses[(ln_x0, s)] - losses[(all_ln, s)] for s in seeds) / len(seeds)
    got = num([r for r in rows if r["config"] == name and r["site"] == "layer0.norm"][0],
              "delta_remove", "ground_truth.csv")
    if not math.isclose(want, got, rel_tol=1e-9, abs_tol=1e-12):
        fail(f"ground_truth.csv {name} layer0.norm: Delta_remove {got}, the run files give {want}")
    return configs


def check_roles(out, sweeps):
    """roles.csv: three roles per Transformer configuration, attn's Delta_remove recomputed from
    the run files, whose site kinds must show RMSNorm at exactly the attention norms."""
    rows = read_csv(out, "roles.csv", 3)
    for name in sorted({r["config"] for r in rows}):
        roles = sorted(r["role"] for r in rows if r["config"] == name)
        if roles != ["attn", "final", "mlp"]:
            fail(f"roles.csv {name}: roles {roles}, expected attn, mlp, final")
        role_dir = os.path.join(sweeps, f"{name}_role_attn", "runs")
        all_ln = final_losses(os.path.join(sweeps, name))
        diffs = []
        for f in os.listdir(role_dir):
            if not f.endswith(".h5"):
                continue
            with h5py.File(os.path.join(role_dir, f), "r") as h:
                for site, kind in zip(h["site"][:], h["site_kind"][:]):
                    want = b"rmsnorm" if site.endswith(b".attn.norm") else b"layernorm"
                    if kind != b"residual" and kind != want:
                        fail(f"{role_dir}/{f}: {site.decode()} is {kind.decode()}, expected {want.decode()}")
                key = (str(h.attrs["norm"]), int(h.attrs["seed"]))
                diffs.append(float(h["val_loss"][-1]) - all_ln[key])
        got = num([r for r in rows if r["config"] == name and r["role"] == "attn"][0],
                  "delta_remove", "roles.csv")
        want = sum(diffs) / len(diffs)
        if not math.isclose(want, got, rel_tol=1e-9, abs_tol=1e-12):
            fail(f"roles.csv {name} attn: Delta_remove {got}, the run files give {want}")


def read_text(out, name):
    path = os.path.join(out, name)
    if not os.path.isfile(path):
        fail(f"missing {path}")
    return open(path).read()


def check_tables(out, configs):
    for r in read_csv(out, "spearman.csv", 2 * len(configs)):
        rho = num(r, "rho", "spearman.csv")
        if not (math.isnan(rho) or -1 - 1e-12 <= rho <= 1 + 1e-12):
            fail(f"spearman.csv: rho {rho} outside [-1, 1] ({r['predictor']})")
    for r in read_csv(out, "out_of_sample.csv", 2):
        for k in ("train_agreement", "test_agreement", "majority_baseline"):
            v = num(r, k, "out_of_sample.csv")
            if not (math.isnan(v) or 0 <= v <= 1):
                fail(f"out_of_sample.csv: {k} {v} outside [0, 1]")
    for r in read_csv(out, "predictors.csv", 4):
        for k in ("in_mean_share (all-LN runs)", "ones_response (all-LN runs)"):
            v = num(r, k, "predictors.csv")
            if not 0 <= v <= 1 + 1e-9:
                fail(f"predictors.csv: {k} {v} outside [0, 1]")
    tables = sorted(n for n in os.listdir(out) if n.startswith("recommend_table_") and n.endswith(".csv"))
    if len(tables) < 2:
        fail(f"{out}: recommendation tables {tables}; {CONFIGS_HINT}, tiny_b and tiny_tf held out")
    for name in tables:
        rows = read_csv(out, name, 2)
        if not any(r.get("val_loss_diff", "") not in ("", "nan") for r in rows):
            fail(f"{name}: no row compared with the all-LN baseline (val_loss_diff empty)")
        tag = name[len("recommend_table_"):-len(".csv")]
        bench = read_text(out, f"recommend_bench_pair_{tag}.txt")
        if ("B/A" not in bench or "control" not in bench) and "not timed" not in bench:
            fail(f"recommend_bench_pair_{tag}.txt: no B/A ratio or control in the bench pair report")
    for r in read_csv(out, "verdicts.csv", 4):
        share = num(r, "flagged_share", "verdicts.csv")
        if not 0 <= share <= 1 or r["verdict"] != ("recenter" if share >= 0.5 else "gain-only"):
            fail(f"verdicts.csv {r['config']} {r['site']}: verdict {r['verdict']} at share {share}")
    text = read_text(out, "tables.md")
    for head in ("## Ground truth per site", "## Ground truth per role", "## Predictors against Delta_remove",
                 "## Out of sample", "## The command's verdicts", "## The recommendation on"):
        if head not in text:
            fail(f"tables.md: no section {head!r}")


def check_consistency(out):
    """spearman.csv and out_of_sample.csv against a recomputation here from the per-site means in
    predictors.csv and ground_truth.csv (scipy's spearmanr; the rules' agreement by hand)."""
    from scipy.stats import spearmanr
    truth = read_csv(out, "ground_truth.csv", 4)
    preds = read_csv(out, "predictors.csv", 4)
    for r in read_csv(out, "spearman.csv", 2):
        cfg, label = r["config"], r["predictor"]
        x = [float(p[label]) for p in preds if p["config"] == cfg]
        y = [float(t["delta_remove"]) for t in truth if t["config"] == cfg]
        if len(set(x)) < 2 or len(set(y)) < 2 or not all(map(math.isfinite, x)):
            continue
        want, got = spearmanr(x, y)[0], float(r["rho"])
        if not math.isclose(want, got, abs_tol=1e-9):
            fail(f"spearman.csv {cfg} {label}: rho {got}, the per-site means give {want}")
    for r in read_csv(out, "out_of_sample.csv", 2):
        sign, t = float(r["sign"]), float(r["threshold"])
        if not math.isfinite(t):
            continue
        for key, cfg in (("train_agreement", r["fit_on"]), ("test_agreement", r["test_on"])):
            x = [float(p[r["predictor"]]) for p in preds if p["config"] == cfg]
            y = [t_["needs_centering"] == "True" for t_ in truth if t_["config"] == cfg]
            calls = [(sign * v >= t) if math.isfinite(v) else (not lab) for v, lab in zip(x, y)]
            want = sum(c == lab for c, lab in zip(calls, y)) / len(y)
            if not math.isclose(want, float(r[key]), abs_tol=1e-12):
                fail(f"out_of_sample.csv {r['predictor']} {key}: {r[key]}, recomputed {want}")


def main():
    if len(sys.argv) != 3:
        fail("usage: check_outputs.py OUT SWEEPS")
    out, sweeps = sys.argv[1], sys.argv[2]
    configs = check_truth(out, sweeps)
    check_tables(out, configs)
    check_roles(out, sweeps)
    check_consistency(out)
    print(f"check_outputs.py: {out} is complete and well formed ({', '.join(configs)})")


if __name__ == "__main__":
    main()
