"""Summarize the bfloat16 training sweep (experiments/sweeps/numerics_bf16.toml) as Markdown.

usage: /usr/bin/python3 scripts/numerics_bf16_table.py sweeps/numerics_bf16

Per run: the final validation loss and accuracy, and the largest difference of the training loss
along the whole run from the run with the same normalizer and seed but the library's own
normalizer (same initialization and data order, so the curves are paired).
"""
import os
import sys

import h5py
import numpy as np
import pandas as pd


def main(sweep_dir):
    index = pd.read_csv(os.path.join(sweep_dir, "index.csv"), keep_default_na=False)
    curves = {}
    for _, r in index.iterrows():
        with h5py.File(r["path"], "r") as f:
            curves[r["id"]] = f["train_loss"][()]
    index["precision"] = index["model.norm_options"].replace("", "library (float32)")
    rows = []
    for _, r in index.iterrows():
        base = index[(index["model.norm"] == r["model.norm"]) & (index["seed"] == r["seed"])
                     & (index["model.norm_options"] == "")].iloc[0]
        a, b = curves[r["id"]], curves[base["id"]]
        rows.append({
            "norm": r["model.norm"], "normalizer precision": r["precision"], "seed": r["seed"],
            "final val loss": r["final_val_loss"], "val accuracy": r["final_val_metric"],
            "val loss - library": r["final_val_loss"] - base["final_val_loss"],
            "max train-loss gap": float(np.max(np.abs(a - b))),
            "ms/step": r["ms_per_step"],
        })
    t = pd.DataFrame(rows).sort_values(["norm", "normalizer precision", "seed"])
    cols = list(t.columns)
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for _, r in t.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, float):
                cells.append(f"{v:.0f}" if c == "ms/step" else f"{v:+.4f}" if "library" in c and "max" not in c
                             else f"{v:.4f}")
            else:
                cells.append(str(v))
        print("| " + " | ".join(cells) + " |")
    print()
    g = t.groupby(["norm", "normalizer precision"])
    summary = g[["final val loss", "val accuracy"]].agg(["mean", "min", "max"])
    print("Mean (min, max) over seeds:\n")
    print("| norm | normalizer precision | final val loss | val accuracy |")
    print("|---|---|---|---|")
    for (norm, prec), r in summary.iterrows():
        print(f"| {norm} | {prec} | {r[('final val loss', 'mean')]:.4f} ({r[('final val loss', 'min')]:.4f}, "
              f"{r[('final val loss', 'max')]:.4f}) | {r[('val accuracy', 'mean')]:.4f} "
              f"({r[('val accuracy', 'min')]:.4f}, {r[('val accuracy', 'max')]:.4f}) |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
