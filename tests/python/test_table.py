"""`normlab table SWEEP_DIR` against figures computed here, independently, from known inputs.

A tiny real sweep (MLP, 3 normalizers x 3 seeds) is run; then every run file's step_time and
val_loss series are overwritten with values chosen here (h5py, in place), one run is marked
diverged and one run file is deleted. The expected means, sample stds, times per 1k steps (from
the median step time), speedups 1 - T/T_LN (T the geometric mean time) and steps to the target
are computed with numpy from those chosen values, not from normlab's output. The intervals, tests
and verdicts are checked against scipy in test_table_stats.py.
"""

import csv
import io
import tempfile
import tomllib
import unittest
from pathlib import Path

import h5py
import numpy as np
from scipy import stats

from support import normlab as run

NORMS = ["layernorm", "rmsnorm", "none"]
SEEDS = [0, 1, 2]
STEPS, EVAL_EVERY = 20, 5
# Step times in ms by (norm, seed); every run's series is this value but for 3 outliers 100x as
# large, so a table that took the mean instead of the median would be far off.
STEP_MS = {("layernorm", 0): 2.0, ("layernorm", 1): 2.2, ("layernorm", 2): 2.6,
           ("rmsnorm", 0): 1.5, ("rmsnorm", 1): 1.6, ("rmsnorm", 2): 1.8,
           ("none", 0): 1.0, ("none", 1): 1.3, ("none", 2): 9.0}
DIVERGED = ("none", 2)     # status set to diverged: counted, left out of the figures
DELETED = ("rmsnorm", 2)   # run file removed: counted as without a result
REL = 1e-9


def val_curve(norm, seed):
    """Known validation losses at the 4 evaluations: decreasing, seed-dependent."""
    base = {"layernorm": 2.0, "rmsnorm": 1.9, "none": 2.4}[norm]
    return base - np.array([0.0, 0.3, 0.5, 0.6]) + 0.05 * seed**2


def make_sweep(root):
    sweep_file = root / "tiny.toml"
    sweep_file.write_text(
        f'experiment = "{Path(__file__).resolve().parents[2] / "experiments" / "mlp.toml"}"\n'
        f"[set]\ntrain.steps = {STEPS}\ntrain.eval_every = {EVAL_EVERY}\nmodel.width = 16\n"
        "data.val_size = 32\nstats.every = 5\n"
        f'[grid]\n"model.norm" = {NORMS!r}\nseed = {SEEDS!r}\n'.replace("'", '"'))
    out = root / "sweep"
    run("sweep", sweep_file, "--out", out, "--jobs", 2)
    for path in sorted((out / "runs").glob("*.h5")):
        with h5py.File(path, "r+") as f:
            config = tomllib.loads(f.attrs["config_toml"])
            key = (config["model"]["norm"], config["seed"])
            times = np.full(len(f["step"]), STEP_MS[key] / 1e3)
            times[[1, 7, 12]] *= 100
            f["step_time"][:] = times
            assert list(f["eval_step"][:]) == [4, 9, 14, 19], f["eval_step"][:]
            curve = val_curve(*key)
            f["val_loss"][:] = curve
            f["val_metric"][:] = 0.1 * np.arange(4) + 0.01 * config["seed"]
            # Every status set: a run this short may have ended stuck at the chance loss.
            f.attrs["status"] = "diverged" if key == DIVERGED else "completed"
        if key == DELETED:
            path.unlink()
    return out


def expected_rows(target=None):
    """The table computed here from the chosen inputs."""
    rows = {}
    for norm in NORMS:
        ok = [s for s in SEEDS if (norm, s) not in (DIVERGED, DELETED)]
        finals = np.array([val_curve(norm, s)[-1] for s in ok])
        metrics = np.array([0.3 + 0.01 * s for s in ok])
        times = np.array([STEP_MS[(norm, s)] for s in ok])  # ms/step = s per 1k steps
        rows[norm] = dict(completed=len(ok), diverged=int(any((norm, s) == DIVERGED for s in SEEDS)),
                          no_result=int(any((norm, s) == DELETED for s in SEEDS)),
                          val_loss=(finals.mean(), finals.std(ddof=1)),
                          val_metric=(metrics.mean(), metrics.std(ddof=1)),
                          time=(times.mean(), times.std(ddof=1)), ok=ok, log_time=np.log(times).mean())
    log_t_ln = rows["layernorm"]["log_time"]
    goal = rows["layernorm"]["val_loss"][0] if target is None else target
    for norm, row in rows.items():
        row["speedup"] = None if norm == "layernorm" else 100 * (1 - np.exp(row["log_time"] - log_t_ln))
        reached = []
        for s in row["ok"]:
            hits = [i for i, v in enumerate(val_curve(norm, s)) if v <= goal]
            if hits:
                reached.append(5 * hits[0] + 5)  # eval_step 4, 9, ... -> steps taken 5, 10, ...
        row["target"] = goal
        row["reached"] = len(reached)
        row["steps"] = reached
    return rows


class TableTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.root = Path(cls.tmp.name)
        cls.sweep = make_sweep(cls.root)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def csv_rows(self, *extra):
        text = run("table", self.sweep, "--format", "csv", *extra).stdout
        return {r["model.norm"]: r for r in csv.DictReader(io.StringIO(text))}

    def check(self, got, want):
        self.assertEqual(list(got), NORMS)  # the sweep's order
        for norm in NORMS:
            g, w = got[norm], want[norm]
            self.assertEqual(int(g["runs"]), 3)
            self.assertEqual(int(g["completed"]), w["completed"], norm)
            self.assertEqual(int(g["diverged"]), w["diverged"], norm)
            self.assertEqual(int(g["no_result"]), w["no_result"], norm)
            for name, col in (("val_loss", "val_loss"), ("val_metric", "val_metric"),
                              ("time", "s_per_1k_steps")):
                self.assertAlmostEqual(float(g[col + "_mean"]), w[name][0], delta=REL * abs(w[name][0]),
                                       msg=f"{norm} {col}_mean")
                self.assertAlmostEqual(float(g[col + "_std"]), w[name][1], delta=1e-9,
                                       msg=f"{norm} {col}_std")
            if w["speedup"] is None:
                self.assertEqual(g["speedup_vs_baseline_pct"], "")
                self.assertEqual(g["baseline"], "self")
            else:
                self.assertAlmostEqual(float(g["speedup_vs_baseline_pct"]), w["speedup"], delta=1e-9)
                self.assertEqual(g["baseline"], "model.norm=layernorm")
            self.assertAlmostEqual(float(g["target_loss"]), w["target"], delta=1e-12)
            self.assertEqual(int(g["reached_target"]), w["reached"], norm)
            if w["steps"]:
                self.assertAlmostEqual(float(g["steps_to_target_mean"]), np.mean(w["steps"]), delta=1e-9)
            else:
                self.assertEqual(g["steps_to_target_mean"], "")

    def test_csv_default_target(self):
        want = expected_rows()
        # The inputs were chosen so that the figures are not trivial: the speedups differ from
        # zero, and some runs reach LayerNorm's final loss while others do not.
        self.assertGreater(want["rmsnorm"]["speedup"], 20)
        self.assertEqual(want["none"]["reached"], 0)
        self.assertTrue(0 < want["layernorm"]["reached"] < 3)
        self.check(self.csv_rows(), want)

    def test_csv_explicit_target(self):
        self.check(self.csv_rows("--target-loss", "1.72"), expected_rows(1.72))

    def test_metric_option(self):
        # Only the accuracy shown: the default target is still LayerNorm's final val loss.
        got = self.csv_rows("--metric", "val_metric")
        want = expected_rows()
        self.assertNotIn("val_loss_mean", got["rmsnorm"])
        self.assertAlmostEqual(float(got["rmsnorm"]["val_metric_mean"]), want["rmsnorm"]["val_metric"][0],
                               delta=1e-12)
        self.assertAlmostEqual(float(got["rmsnorm"]["target_loss"]), want["rmsnorm"]["target"], delta=1e-12)
        self.assertEqual(int(got["rmsnorm"]["reached_target"]), want["rmsnorm"]["reached"])

    def test_markdown_and_latex(self):
        md = run("table", self.sweep).stdout
        lines = [l for l in md.splitlines() if l.startswith("|")]
        self.assertEqual(len(lines), 2 + len(NORMS))
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        self.assertIn("speedup vs layernorm [95% CI]", header)
        rms = [c.strip() for c in lines[3].strip("|").split("|")]
        want = expected_rows()["rmsnorm"]
        self.assertEqual(rms[0], "rmsnorm")
        # Two completed runs: mean ± t(0.975, 1) s/√2.
        half = stats.t.ppf(0.975, 1) * want["val_loss"][1] / np.sqrt(2)
        mean = want["val_loss"][0]
        self.assertEqual(rms[header.index("val loss [95% CI]")], f"{mean:.3f} [{mean - half:.3f}, {mean + half:.3f}]")
        self.assertTrue(rms[header.index("speedup vs layernorm [95% CI]")].startswith(f"+{want['speedup']:.1f}% ["))
        self.assertEqual(rms[header.index("no result")], "1")
        self.assertEqual(rms[header.index("stuck")], "0")

        tex = run("table", self.sweep, "--format", "latex").stdout
        body = tex[tex.index("\\begin{tabular}"):]
        self.assertTrue(body.rstrip().endswith("\\end{tabular}"))
        spec = body[len("\\begin{tabular}{"):body.index("}", len("\\begin{tabular}{"))]
        rows = [l for l in body.splitlines() if l.endswith("\\\\")]
        self.assertEqual(len(rows), 1 + len(NORMS))
        for r in rows:  # every row has as many cells as the column spec
            self.assertEqual(r.count(" & ") + 1, len(spec), r)
        self.assertIn("95\\% CI", rows[0])
        self.assertNotIn("±", body)

        out = self.root / "t.md"
        run("table", self.sweep, "--out", out)
        self.assertEqual(out.read_text(), md)

    def test_rows_option(self):
        got = run("table", self.sweep, "--format", "csv", "--rows", "model.norm,seed").stdout
        rows = list(csv.DictReader(io.StringIO(got)))
        self.assertEqual(len(rows), 9)  # the deleted run still has a row, from configs/
        self.assertEqual({(r["model.norm"], r["seed"]) for r in rows},
                         {(n, str(s)) for n in NORMS for s in SEEDS})
        # Within a seed, speedup is against that seed's LayerNorm run.
        r = next(r for r in rows if r["model.norm"] == "rmsnorm" and r["seed"] == "1")
        self.assertAlmostEqual(float(r["speedup_vs_baseline_pct"]), 100 * (2.2 - 1.6) / 2.2, delta=1e-9)

    def test_errors(self):
        bad = run("table", self.sweep, "--rows", "model.nrom", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("unknown key 'model.nrom'", bad.stderr)
        self.assertIn("did you mean 'model.norm'", bad.stderr)
        empty = self.root / "empty"
        empty.mkdir()
        bad = run("table", empty, check=False)
        self.assertIn("not a sweep directory", bad.stderr)
        (empty / "runs").mkdir()
        bad = run("table", empty, check=False)
        self.assertIn("no runs", bad.stderr)
        bad = run("table", self.root / "nowhere", check=False)
        self.assertIn("no such directory", bad.stderr)
        bad = run("table", self.sweep, "--metric", "val_los", check=False)
        self.assertIn("did you mean 'val_loss'", bad.stderr)
        bad = run("table", self.sweep, "--format", "tex", check=False)
        self.assertIn("'tex' is not one of md, csv, latex", bad.stderr)

    def test_no_layernorm_row(self):
        got = self.csv_rows_without_layernorm()
        for r in got:
            self.assertEqual(r["speedup_vs_baseline_pct"], "")
            self.assertEqual(r["steps_to_target_mean"], "")

    def csv_rows_without_layernorm(self):
        text = run("table", self.sweep, "--format", "csv", "--rows", "seed").stdout
        return list(csv.DictReader(io.StringIO(text)))


if __name__ == "__main__":
    unittest.main()
