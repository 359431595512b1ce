#!/usr/bin/python3
"""Summary tables of experiment 7 (issue 8) from a transformer_sensitivity directory: per site and
normalizer, the offset and gain sensitivities (mean over seeds), |mean|/RMS recorded at the site
input, and partial centering's learned lambda per site read from each run's checkpoint.

usage: summarize_sensitivity.py DIR COMMAND_LINE   (DIR holds runs/ and sensitivity/)"""
import glob
import os
import sys

import h5py
import numpy as np
import pandas as pd


def load(directory):
    rows = []
    for path in sorted(glob.glob(os.path.join(directory, "sensitivity", "*.sensitivity.h5"))):
        with h5py.File(path, "r") as f:
            g = f["sensitivity"]
            run = g.attrs["run"]
            with h5py.File(run, "r") as r:
                norm, seed = r.attrs["norm"], int(r.attrs["seed"])
                val_loss = float(r["val_loss"][-1])
                ckpt = {k: np.asarray(v) for k, v in r["checkpoint"].items()}
            for i, site in enumerate(g["site"].asstr()[:]):
                lam = ckpt.get(site + ".lambda")
                rows.append(dict(norm=norm, seed=seed, site=site, kind=g["site_kind"].asstr()[i],
                                 order=i, val_loss=val_loss,
                                 base_loss=float(g.attrs["base_loss"]),
                                 gain=float(g["gain_sensitivity"][i]),
                                 offset=float(g["offset_sensitivity"][i]),
                                 control=float(g["control_sensitivity"][i]),
                                 abs_mean_over_rms=float(g["in_abs_mean_over_rms"][i]),
                                 lam=float(lam[0]) if lam is not None else np.nan,
                                 reference=float(g.attrs["reference_epsilon"])))
    return pd.DataFrame(rows)


def markdown(frame, fmt="{:.3g}"):
    cols = list(frame.columns)
    out = ["| " + " | ".join([frame.index.name or ""] + cols) + " |",
           "| --- |" + " ---: |" * len(cols)]
    for idx, row in frame.iterrows():
        out.append("| " + " | ".join([str(idx)] + ["-" if pd.isna(v) else fmt.format(v) for v in row]) + " |")
    return "\n".join(out)


def main():
    directory, command = sys.argv[1], sys.argv[2]
    d = load(directory)
    if d.empty:
        sys.exit(f"summarize_sensitivity.py: no *.sensitivity.h5 under {directory}/sensitivity")
    norms = [n for n in ["none", "layernorm", "rmsnorm", "pcnorm", "scalenorm"] if n in set(d.norm)]
    order = d.groupby("site")["order"].min().sort_values().index
    eps = d.reference.iloc[0]
    seeds = sorted(set(d.seed))
    print("# Transformer: sensitivity summary\n")
    print(f"Regenerate: `{command}`. Seeds {seeds}; every value is the mean over the seeds.")
    print(f"Sensitivity = mean of |dL(+eps)| and |dL(-eps)| at eps = {eps:g} on the held-out batches.\n")
    print("## Held-out loss\n")
    print(markdown(d.groupby("norm")[["base_loss"]].mean().reindex(norms).rename_axis("norm"), "{:.4f}"))
    for what, title in [("offset", "Offset sensitivity (x + eps RMS(x) 1)"),
                        ("gain", "Gain sensitivity (x (1 + eps))"),
                        ("control", "Control (random direction of the same norm)"),
                        ("abs_mean_over_rms", "|mean|/RMS at the site input (recorded, last stat step)")]:
        table = d.pivot_table(index="site", columns="norm", values=what, aggfunc="mean")
        print(f"\n## {title}\n")
        print(markdown(table.reindex(index=order, columns=norms).rename_axis("site")))
    offset_over_gain = d.assign(r=d.offset / d.gain).pivot_table(index="site", columns="norm", values="r",
                                                                  aggfunc="median")
    print("\n## Offset / gain sensitivity (median over seeds)\n")
    print(markdown(offset_over_gain.reindex(index=order, columns=norms).rename_axis("site")))
    pc = d[(d.norm == "pcnorm") & d.lam.notna()]
    if not pc.empty:
        lam = pc.pivot_table(index="site", columns="seed", values="lam", aggfunc="first")
        lam.columns = [f"seed {s}" for s in lam.columns]
        lam["mean"] = lam.mean(axis=1)
        print("\n## Learned lambda of partial centering per site (checkpoint; init 0.5)\n")
        print(markdown(lam.reindex(index=[s for s in order if s in lam.index]).rename_axis("site"), "{:.3f}"))


if __name__ == "__main__":
    main()
