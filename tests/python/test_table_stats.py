"""`normlab table`'s statistics against scipy, from a sweep whose every figure is chosen here.

A tiny real sweep (MLP, 5 normalizers x 2 learning rates x 4 seeds) is run; then every run file's
final validation loss, metric and step times are overwritten (h5py, in place) with values drawn
here, some runs are marked diverged or stuck and one file is deleted, so that the table has
paired rows (the same seeds completed), Welch rows (a seed missing on one side) and each verdict.
The expected figures come from scipy.stats (t, ttest_rel, ttest_ind(equal_var=False), and the
one-sided forms of both for the TOST); Holm's adjustment is computed here from scipy's p-values.
The CSV's figures must agree to 1e-9 relative.

scipy 1.10's t.ppf (cephes' stdtrit) is itself off by up to ~1e-9 relative at some df (1.2e-9 at
df 5.12, 2.5e-10 at df 7, against mpmath at 40 digits), while its t.cdf is within 4e-15; so the
quantiles here take one Newton step on scipy's own cdf (t_ppf), which makes them exact to double.
"""

import csv
import io
import math
import tempfile
import tomllib
import unittest
from pathlib import Path

import h5py
import numpy as np
from scipy import stats

from support import normlab as run

NORMS = ["layernorm", "rmsnorm", "scalenorm", "l2norm", "none"]
LRS = [0.001, 0.002]
SEEDS = [0, 1, 2, 3]
STEPS, EVAL_EVERY = 10, 5
REL = 1e-9
ALPHA = 0.05
STATUS = {("l2norm", 0.001, 3): "stuck", ("none", 0.001, 1): "diverged", ("none", 0.002, 2): "stuck",
          ("rmsnorm", 0.002, 0): "diverged"}
DELETED = {("none", 0.001, 2)}
# Per normalizer: the shift of its final loss from LayerNorm's and the spread of that shift over
# seeds, chosen so that one row is clearly worse (different), one within the margin (equivalent)
# and the rest undecided.
SHIFT = {"layernorm": (0, 0), "rmsnorm": (0.08, 0.01), "scalenorm": (0.001, 0.002),
         "l2norm": (0.01, 0.05), "none": (0.3, 0.2)}


def chosen_values():
    """(norm, lr, seed) -> (final val loss, final val metric, ms per step), drawn once."""
    rng = np.random.default_rng(2024)
    seed_effect = rng.normal(0, 0.05, size=len(SEEDS))  # shared by the norms: pairing helps
    values = {}
    for norm in NORMS:
        for lr in LRS:
            for i, seed in enumerate(SEEDS):
                shift, spread = SHIFT[norm]
                loss = 2.0 + 0.1 * (lr == 0.002) + seed_effect[i] + shift + rng.normal(0, spread + 1e-3)
                metric = 0.6 - 0.3 * (loss - 2.0) + rng.normal(0, 0.004)
                ms = {"layernorm": 3.0, "rmsnorm": 2.6, "scalenorm": 2.7, "l2norm": 2.9, "none": 2.0}[norm]
                values[(norm, lr, seed)] = (loss, metric, ms * np.exp(rng.normal(0, 0.05)))
    return values


def make_sweep(root, values):
    sweep_file = root / "stats.toml"
    experiment = Path(__file__).resolve().parents[2] / "experiments" / "mlp.toml"
    sweep_file.write_text(
        f'experiment = "{experiment}"\n'
        f"[set]\ntrain.steps = {STEPS}\ntrain.eval_every = {EVAL_EVERY}\nmodel.width = 8\n"
        "data.val_size = 16\nstats.every = 5\n"
        f'[grid]\n"model.norm" = {NORMS!r}\n"optim.lr" = {LRS!r}\nseed = {SEEDS!r}\n'.replace("'", '"'))
    out = root / "sweep"
    run("sweep", sweep_file, "--out", out, "--jobs", 2)
    for path in sorted((out / "runs").glob("*.h5")):
        with h5py.File(path, "r+") as f:
            config = tomllib.loads(f.attrs["config_toml"])
            key = (config["model"]["norm"], config["optim"]["lr"], config["seed"])
            loss, metric, ms = values[key]
            f["val_loss"][-1] = loss
            f["val_metric"][-1] = metric
            f["step_time"][:] = ms / 1e3
            # Set on every run: a run this short may well have ended stuck at the chance loss.
            f.attrs["status"] = STATUS.get(key, "completed")
        if key in DELETED:
            path.unlink()
    return out


def close(got, want, what):
    """got (CSV text) equals want to REL, both empty/NaN alike."""
    if want is None or (isinstance(want, float) and math.isnan(want)):
        if got != "":
            raise AssertionError(f"{what}: {got!r}, want empty")
        return
    if not math.isclose(float(got), want, rel_tol=REL, abs_tol=1e-13):
        raise AssertionError(f"{what}: {got} != {want!r} (rel {abs(float(got) - want) / abs(want):.2e})")


def holm(p):
    """Holm's step-down adjustment, written out: the k-th smallest of m times (m - k + 1), made
    monotone, capped at 1."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    adjusted, running = [None] * len(p), 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - k) * p[i]))
        adjusted[i] = running
    return adjusted


def t_ppf(q, df):
    t = stats.t.ppf(q, df)
    return t - (stats.t.cdf(t, df) - q) / stats.t.pdf(t, df)


def welch_df(x, y):
    vx, vy = np.var(x, ddof=1) / len(x), np.var(y, ddof=1) / len(y)
    return (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))


def compare(x, y, margin):
    """x, y: {pair key: value} of the row and its baseline. The figures scipy gives for them."""
    paired = len(x) >= 2 and set(x) == set(y)
    keys = sorted(x)
    a = np.array([x[k] for k in keys]) if paired else np.array(list(x.values()))
    b = np.array([y[k] for k in keys]) if paired else np.array(list(y.values()))
    if paired:
        r = stats.ttest_rel(a, b)
        df = r.df
        one_sided = lambda shift, alt: stats.ttest_rel(a + shift, b, alternative=alt).pvalue
    else:
        r = stats.ttest_ind(a, b, equal_var=False)
        df = welch_df(a, b)
        one_sided = lambda shift, alt: stats.ttest_ind(a + shift, b, equal_var=False, alternative=alt).pvalue
    diff = a.mean() - b.mean()
    se = diff / r.statistic
    half = t_ppf(0.975, df) * se
    lo, hi = diff - half, diff + half
    want = dict(test="paired" if paired else "welch", diff=diff, diff_se=se, df=df, t=r.statistic,
                diff_ci_lo=lo, diff_ci_hi=hi, p=r.pvalue)
    if margin > 0:
        # TOST as two of scipy's one-sided tests on shifted data: H0 diff <= -m, H0 diff >= m.
        want["p_tost"] = max(one_sided(margin, "greater"), one_sided(-margin, "less"))
        half90 = t_ppf(0.95, df) * se
        want["diff_ci90_lo"], want["diff_ci90_hi"] = diff - half90, diff + half90
        want["margin"] = margin
    return want


def summary(v):
    v = np.array(list(v))
    if len(v) < 2:
        return dict(n=len(v), mean=v.mean(), std=None, ci_lo=None, ci_hi=None)
    half = t_ppf(0.975, len(v) - 1) * stats.sem(v)
    lo, hi = v.mean() - half, v.mean() + half
    return dict(n=len(v), mean=v.mean(), std=v.std(ddof=1), ci_lo=lo, ci_hi=hi)


def expected(values, rows, baseline, margins):
    """The table from the chosen values: rows is the list of row-key names among ("norm", "lr"),
    baseline (key index name, value), or a list of them: the baseline row has these values, a
    row's own values of the other row keys."""
    index = {"norm": 0, "lr": 1, "seed": 2}
    groups = {}
    for key, v in values.items():
        status = "missing" if key in DELETED else STATUS.get(key, "completed")
        row = tuple(key[index[r]] for r in rows)
        pair = tuple(key[i] for n, i in index.items() if n not in rows)
        groups.setdefault(row, []).append((status, pair, v))
    want = {}
    for row, runs in groups.items():
        ok = [(pair, v) for status, pair, v in runs if status == "completed"]
        w = dict(completed=len(ok), stuck=sum(s == "stuck" for s, _, _ in runs),
                 diverged=sum(s == "diverged" for s, _, _ in runs), no_result=sum(s == "missing" for s, _, _ in runs))
        for m, metric in enumerate(("val_loss", "val_metric")):
            w[metric] = summary(v[m] for _, v in ok)
        w["time"] = summary(v[2] for _, v in ok)
        w["obs"] = {metric: {pair: v[m] for pair, v in ok} for m, metric in enumerate(("val_loss", "val_metric"))}
        w["log_time"] = np.log([v[2] for _, v in ok])
        want[row] = w
    fixed = dict([baseline] if isinstance(baseline, tuple) else baseline)
    for row, w in want.items():
        base_row = tuple(fixed.get(name, v) for name, v in zip(rows, row))
        if row == base_row or base_row not in want:
            continue
        base = want[base_row]
        w["baseline"] = True
        for metric in ("val_loss", "val_metric"):
            w[metric].update(compare(w["obs"][metric], base["obs"][metric], margins[metric]))
        x, y = w["log_time"], base["log_time"]
        d = x.mean() - y.mean()
        se = d / stats.ttest_ind(x, y, equal_var=False).statistic
        half = t_ppf(0.975, welch_df(x, y)) * se
        w["speedup"] = (100 * (1 - math.exp(d)), 100 * (1 - math.exp(d + half)), 100 * (1 - math.exp(d - half)))
        w["log_time_df"] = welch_df(x, y)
    for metric in ("val_loss", "val_metric"):
        compared = [row for row, w in want.items() if "baseline" in w]
        for row, p in zip(compared, holm([want[r][metric]["p"] for r in compared])):
            s = want[row][metric]
            s["p_holm"] = p
            s["verdict"] = ("equivalent" if s.get("p_tost", 1) < ALPHA else
                            "different" if p < ALPHA else "inconclusive")
    return want


class TableStatsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.root = Path(cls.tmp.name)
        cls.values = chosen_values()
        cls.sweep = make_sweep(cls.root, cls.values)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def table(self, *extra):
        text = run("table", self.sweep, "--format", "csv", *extra).stdout
        return list(csv.DictReader(io.StringIO(text)))

    def check(self, got_rows, want, rows):
        names = {"norm": "model.norm", "lr": "optim.lr"}
        self.assertEqual(len(got_rows), len(want))
        for g in got_rows:
            row = tuple(g[names[r]] if r == "norm" else float(g[names[r]]) for r in rows)
            w = want[row]
            for col in ("completed", "stuck", "diverged", "no_result"):
                self.assertEqual(int(g[col]), w[col], f"{row} {col}")
            for metric in ("val_loss", "val_metric"):
                s = w[metric]
                self.assertEqual(int(g[f"{metric}_n"]), s["n"])
                for fig in ("mean", "std", "ci_lo", "ci_hi", "diff", "diff_se", "df", "t", "diff_ci_lo",
                            "diff_ci_hi", "p", "p_holm", "margin", "diff_ci90_lo", "diff_ci90_hi", "p_tost"):
                    close(g[f"{metric}_{fig}"], s.get(fig), f"{row} {metric}_{fig}")
                self.assertEqual(g[f"{metric}_test"], s.get("test", ""), f"{row} {metric}_test")
                self.assertEqual(g[f"{metric}_verdict"], s.get("verdict", ""), f"{row} {metric}_verdict")
                sig = "" if "p_holm" not in s else str(int(s["p_holm"] < ALPHA))
                self.assertEqual(g[f"{metric}_significant"], sig, f"{row} {metric}_significant")
            for fig in ("mean", "std", "ci_lo", "ci_hi"):
                close(g[f"s_per_1k_steps_{fig}"], w["time"][fig], f"{row} s_per_1k_steps_{fig}")
            speedup = w.get("speedup", (None, None, None))
            for col, v in zip(("speedup_vs_baseline_pct", "speedup_ci_lo_pct", "speedup_ci_hi_pct"), speedup):
                close(g[col], v, f"{row} {col}")
            close(g["log_time_df"], w.get("log_time_df"), f"{row} log_time_df")

    def test_default_baseline(self):
        want = expected(self.values, ["norm", "lr"], ("norm", "layernorm"), {"val_loss": 0.02, "val_metric": 0.005})
        # The chosen values give the table every case it must handle.
        tests = {w["val_loss"].get("test") for w in want.values()}
        verdicts = {w["val_loss"].get("verdict") for w in want.values()}
        self.assertEqual(tests, {None, "paired", "welch"})
        self.assertEqual(verdicts, {None, "equivalent", "different", "inconclusive"})
        self.check(self.table(), want, ["norm", "lr"])

    def test_other_baseline_and_margins(self):
        margins = {"val_loss": 0.05, "val_metric": 0.0}
        want = expected(self.values, ["norm", "lr"], ("norm", "rmsnorm"), margins)
        self.check(self.table("--baseline", "rmsnorm", "--margin", "0.05,val_metric=0"), want, ["norm", "lr"])
        want = expected(self.values, ["norm", "lr"], ("lr", 0.001), {"val_loss": 0.02, "val_metric": 0.005})
        self.check(self.table("--baseline", "optim.lr=0.001"), want, ["norm", "lr"])
        # Several keys: every row against the one row with both values (the DyT table's use)
        want = expected(self.values, ["norm", "lr"], [("norm", "rmsnorm"), ("lr", 0.001)],
                        {"val_loss": 0.02, "val_metric": 0.005})
        self.assertGreater(sum("baseline" in w for w in want.values()), 2)
        self.check(self.table("--baseline", "model.norm=rmsnorm,optim.lr=0.001"), want, ["norm", "lr"])

    def test_rows_pool_the_other_axes(self):
        # One row per normalizer: runs pair on (learning rate, seed), 8 pairs where none is missing.
        want = expected(self.values, ["norm"], ("norm", "layernorm"), {"val_loss": 0.02, "val_metric": 0.005})
        self.assertEqual(want[("scalenorm",)]["val_loss"]["test"], "paired")
        self.assertEqual(want[("scalenorm",)]["val_loss"]["df"], 7)
        self.check(self.table("--rows", "model.norm"), want, ["norm"])

    def test_markdown_and_latex_show_the_csv_figures(self):
        rows = {(r["model.norm"], r["optim.lr"]): r for r in self.table()}
        md = run("table", self.sweep).stdout
        lines = [l for l in md.splitlines() if l.startswith("|")]
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        self.assertIn("stuck", header)
        for line in lines[2:]:
            cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|"))))
            r = rows[(cells["model.norm"], cells["optim.lr"])]
            self.assertEqual(cells["stuck"], r["stuck"])
            loss = cells["val loss [95% CI]"]
            self.assertTrue(loss.startswith(f"{float(r['val_loss_mean']):.3f}"), loss)
            delta = cells["Δ val loss vs layernorm [95% CI], p"]
            if r["baseline"] == "self":
                self.assertEqual(delta, "baseline")
            elif r["val_loss_p"]:
                lo, hi = float(r["val_loss_diff_ci_lo"]), float(r["val_loss_diff_ci_hi"])
                self.assertIn(f"[{lo:+.3f}, {hi:+.3f}]", delta)
                self.assertEqual(delta.endswith("*"), r["val_loss_significant"] == "1", delta)
                self.assertTrue(cells["TOST ±0.02"].startswith(r["val_loss_verdict"]))
                self.assertEqual(cells["test"].split(", ")[0], r["val_loss_test"])
        self.assertIn("Holm", md)
        self.assertIn("normlab bench pair", md)
        self.assertIn("stuck", md.split("\n\n")[-1])

        tex = run("table", self.sweep, "--format", "latex").stdout
        body = tex[tex.index("\\begin{tabular}"):]
        spec = body[len("\\begin{tabular}{"):body.index("}", len("\\begin{tabular}{"))]
        table_rows = [l for l in body.splitlines() if l.endswith("\\\\")]
        self.assertEqual(len(table_rows), len(lines) - 1)
        for r in table_rows:
            self.assertEqual(r.count(" & ") + 1, len(spec), r)
            self.assertNotIn("±", r)
            self.assertNotIn("Δ", r)
        self.assertIn("$\\Delta$ val loss", table_rows[0])
        self.assertIn("95\\% CI", table_rows[0])
        self.assertTrue(all(l.startswith("%") for l in tex[:tex.index("\\begin{tabular}")].splitlines()))

    def test_bad_baseline_and_margin(self):
        for args, message in ((["--baseline", "rmsnrom"], "did you mean 'rmsnorm'"),
                              (["--baseline", "optim.lrr=0.001"], "did you mean 'optim.lr'"),
                              (["--baseline", "0.002"], "--baseline optim.lr=0.002"),
                              (["--baseline", "optim.lr=0.5"], "no row has optim.lr = '0.5'"),
                              (["--rows", "optim.lr", "--baseline", "rmsnorm"], "model.norm is not a row key"),
                              (["--baseline", "optim.lr=0.001,optim.lr=0.002"], "optim.lr is given twice"),
                              (["--margin", "val_los=1"], "did you mean 'val_loss'"),
                              (["--margin", "-1"], "≥ 0")):
            bad = run("table", self.sweep, *args, check=False)
            self.assertEqual(bad.returncode, 1, args)
            self.assertIn(message, bad.stderr, args)


if __name__ == "__main__":
    unittest.main()
