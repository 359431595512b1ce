#!/usr/bin/python3
"""Failure counts of a sweep, pooled the way a claim needs them, with Fisher's exact test.

A failed run is one that diverged (non-finite loss) or ended stuck at the task's chance loss
(docs/FORMAT.md, `status`). Per group (the values of --by), each value of --compare is set
against --baseline: failed/with-result for both, and the two-sided Fisher exact p of the 2×2
table (scipy.stats.fisher_exact), Holm-adjusted over all the comparisons printed. Runs without a
result (missing, interrupted) are counted apart and enter no test.

usage: failure_counts.py SWEEP_DIR --compare KEY --baseline VALUE [--by K1,K2] [--where K=V,...]
  e.g. failure_counts.py sweeps/twt_depth --compare model.placement --baseline pre
           --by optim.warmup,optim.lr --where model.depth=6,8
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "analysis"))
import normlab  # noqa: E402

RESULTS = {"completed", "stuck", "diverged"}
FAILED = {"stuck", "diverged"}


def holm(p):
    """Holm's step-down adjustment of the p-values `p` (in their order)."""
    p = np.asarray(p, float)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def cell_text(value):
    return str(value).lower() if isinstance(value, bool) else str(value)


def parse_where(text):
    """"K=V,K2=V2,V3" -> {K: {V}, K2: {V2, V3}}: a bare value belongs to the key before it.
    Raises ValueError for a bare value with no key before it."""
    where, key = {}, None
    for item in filter(None, text.split(",")):
        if "=" in item:
            key, _, item = item.partition("=")
        elif key is None:
            raise ValueError(f"--where: '{item}' has no key (KEY=VALUE,...)")
        where.setdefault(key, set()).add(item)
    return where


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_dir")
    ap.add_argument("--compare", required=True)
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--by", default="")
    ap.add_argument("--where", default="", help="KEY=VALUE,...: keep only these runs (a key "
                    "given twice keeps either value), e.g. model.depth=6,model.depth=8")
    a = ap.parse_args(argv)
    runs = normlab.load_runs(Path(a.sweep_dir) / "runs", include_partial=True)
    frame = normlab.summary(runs)
    by = [k for k in a.by.split(",") if k]
    try:
        where = parse_where(a.where)
    except ValueError as e:
        sys.exit(f"failure_counts.py: {e}")
    for key in [a.compare, *by, *where]:
        if key not in frame.columns:
            sys.exit(f"failure_counts.py: no config key '{key}' in {a.sweep_dir}")
    for key, values in where.items():
        frame = frame[frame[key].map(cell_text).isin(values)]
    frame = frame.assign(compare=frame[a.compare].map(cell_text))
    if a.baseline not in set(frame["compare"]):
        sys.exit(f"failure_counts.py: no run has {a.compare} = {a.baseline}")
    rows, pvalues = [], []
    groups = frame.groupby(by, sort=False) if by else [((), frame)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        counts = {}
        for value, runs_of in group.groupby("compare", sort=False):
            done = runs_of[runs_of["status"].isin(RESULTS)]
            counts[value] = (int(done["status"].isin(FAILED).sum()), len(done), len(runs_of) - len(done))
        base = counts.get(a.baseline)
        for value, (failed, n, missing) in counts.items():
            if value == a.baseline or base is None or n == 0 or base[1] == 0:
                continue
            table = [[failed, n - failed], [base[0], base[1] - base[0]]]
            p = stats.fisher_exact(table, alternative="two-sided")[1]
            rows.append((key, value, failed, n, missing, base, p))
            pvalues.append(p)
    adjusted = holm(pvalues) if pvalues else []
    header = [*by, a.compare, "failed", f"{a.compare}={a.baseline} failed", "Fisher p", "Holm p"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(by) + " --- |" + " ---: |" * 4)
    for (key, value, failed, n, missing, base, p), p_holm in zip(rows, adjusted):
        extra = f" (+{missing} no result)" if missing else ""
        mark = "*" if p_holm < 0.05 else ""
        cells = [*map(cell_text, key), value, f"{failed}/{n}{extra}", f"{base[0]}/{base[1]}",
                 f"{p:.3g}", f"{p_holm:.3g}{mark}"]
        print("| " + " | ".join(cells) + " |")
    print(f"\nfailed: stuck or diverged, of the runs with a result; Fisher's exact test, two-sided; "
          f"Holm over the {len(pvalues)} comparisons (* p < 0.05 after it).")


if __name__ == "__main__":
    main()
