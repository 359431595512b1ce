"""experiments/gap_by_step.py on a tiny real sweep (MLP, 2 normalizers x 2 data offsets x 3 seeds,
an evaluation every 5 of 20 steps) against figures computed here from the run files read with h5py:
the paired differences of val_loss and val_metric, scipy's t interval and ttest_rel. One run is
marked stuck and one run file deleted, so that in one group a single seed pairs (no interval) and
two seeds are on one side only; and the errors for a wrong key, a missing step and a missing dir.
"""
import csv
import io
import math
import subprocess
import sys
import tempfile
import tomllib
import unittest
from pathlib import Path

import h5py
import numpy as np
from scipy import stats

import support

SCRIPT = support.REPO / "experiments" / "gap_by_step.py"
SEEDS = [0, 1, 2]
STUCK = ("rmsnorm", 5.0, 0)     # status set to stuck: left out, its seed unpaired
DELETED = ("layernorm", 5.0, 1)  # run file removed: its seed unpaired
SWEEP = f"""
experiment = "{support.REPO / "experiments" / "mlp.toml"}"
[set]
train.steps = 20
train.eval_every = 5
train.checkpoint_every = 0
model.width = 16
data.val_size = 32
stats.every = 0
[grid]
"model.norm" = ["layernorm", "rmsnorm"]
"data.offset" = [0.0, 5.0]
seed = {SEEDS}
"""
REL = 1e-9
COMPARE = ["--compare", "model.norm", "--baseline", "layernorm", "--value", "rmsnorm"]


def gap_by_step(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True)


def make_sweep(root):
    (root / "sweep.toml").write_text(SWEEP)
    out = root / "sweep"
    support.normlab("sweep", root / "sweep.toml", "--out", out, "--jobs", 2)
    for path in sorted((out / "runs").glob("*.h5")):
        with h5py.File(path, "r+") as f:
            config = tomllib.loads(f.attrs["config_toml"])
            key = (config["model"]["norm"], config["data"]["offset"], config["seed"])
            # Every status set: a run this short may have ended stuck at the chance loss.
            f.attrs["status"] = "stuck" if key == STUCK else "completed"
        if key == DELETED:
            path.unlink()
    return out


def read_runs(sweep):
    """{(norm, offset, seed): (status, {step as counted: {metric: value}})}, read with h5py."""
    runs = {}
    for path in (sweep / "runs").glob("*.h5"):
        with h5py.File(path, "r") as f:
            config = tomllib.loads(f.attrs["config_toml"])
            key = (config["model"]["norm"], config["data"]["offset"], config["seed"])
            evals = {int(s) + 1: {"val_loss": float(loss), "val_metric": float(metric)}
                     for s, loss, metric in zip(f["eval_step"][:], f["val_loss"][:],
                                                f["val_metric"][:])}
            status = f.attrs["status"]
            runs[key] = (status.decode() if isinstance(status, bytes) else status, evals)
    return runs


def expected(runs, offset, step, metric):
    """n, mean difference, CI, p, means, computed here from the run files."""
    done = {k: evals for k, (status, evals) in runs.items() if status == "completed"}
    seeds = [s for s in SEEDS
             if ("layernorm", offset, s) in done and ("rmsnorm", offset, s) in done]
    base = np.array([done[("layernorm", offset, s)][step][metric] for s in seeds])
    value = np.array([done[("rmsnorm", offset, s)][step][metric] for s in seeds])
    d = value - base
    if len(d) < 2:
        return [len(d), d.mean(), math.nan, math.nan, math.nan, base.mean(), value.mean()]
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    return [len(d), d.mean(), low, high, stats.ttest_rel(value, base).pvalue, base.mean(),
            value.mean()]


class GapByStepTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.sweep = make_sweep(Path(cls.tmp.name))
        cls.runs = read_runs(cls.sweep)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def csv_rows(self, *extra):
        r = gap_by_step(self.sweep, *COMPARE, "--csv", *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        return list(csv.DictReader(io.StringIO(r.stdout)))

    def assert_row(self, row, want):
        names = ["mean_diff", "ci_low", "ci_high", "p", "mean_baseline", "mean_value"]
        self.assertEqual(int(row["n"]), want[0], row)
        for name, w in zip(names, want[1:]):
            got = float(row[name])
            if math.isnan(w):
                self.assertTrue(math.isnan(got), (name, row))
            else:
                self.assertTrue(math.isclose(got, w, rel_tol=REL, abs_tol=1e-15), (name, got, w))

    def test_csv_matches_the_run_files(self):
        steps = sorted(next(iter(self.runs.values()))[1])
        self.assertEqual(steps, [5, 10, 15, 20])  # eval_step 4, 9, 14, 19
        for metric in ["val_loss", "val_metric"]:
            rows = self.csv_rows("--metric", metric)
            self.assertEqual([(r["data.offset"], int(r["step"])) for r in rows],
                             [(o, s) for o in ["0.0", "5.0"] for s in steps])
            for row in rows:
                want = expected(self.runs, float(row["data.offset"]), int(row["step"]), metric)
                self.assert_row(row, want)
            self.assertEqual({int(r["n"]) for r in rows}, {3, 1})  # offset 5: seed 2 pairs alone

    def test_where_and_steps(self):
        rows = self.csv_rows("--where", "data.offset=0.0", "--steps", "10,20")
        self.assertNotIn("data.offset", rows[0])  # a --where key is no group
        self.assertEqual([int(r["step"]) for r in rows], [10, 20])
        for row in rows:
            self.assert_row(row, expected(self.runs, 0.0, int(row["step"]), "val_loss"))

    def test_markdown_table_and_notes(self):
        r = gap_by_step(self.sweep, *COMPARE, "--steps", "20")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "| data.offset | step | n | rmsnorm − layernorm | 95% CI | "
                                   "paired t p | mean layernorm | mean rmsnorm |")
        cells = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
                 for line in lines[2:4]}
        want = expected(self.runs, 0.0, 20, "val_loss")
        self.assertEqual(cells["0.0"][1:5], ["20", "3", f"{want[1]:+.3f}",
                                             f"[{want[2]:+.3f}, {want[3]:+.3f}]"])
        alone = expected(self.runs, 5.0, 20, "val_loss")  # seed 2 only: no interval, no test
        self.assertEqual(cells["5.0"][2:6], ["1", f"{alone[1]:+.3f}", "—", "—"])
        self.assertIn("Left out: 1 stuck", r.stdout)
        self.assertIn("Seeds on one side only, left out: 2 (data.offset=5.0, seed 0: layernorm "
                      "only; data.offset=5.0, seed 1: rmsnorm only)", r.stdout)

    def test_errors_name_the_problem(self):
        r = gap_by_step(self.sweep, "--compare", "model.nrom", "--baseline", "layernorm",
                        "--value", "rmsnorm")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no config key 'model.nrom'", r.stderr)
        self.assertIn("did you mean 'model.norm'?", r.stderr)
        self.assertIn("the sweep's axes: model.norm, data.offset, seed", r.stderr)
        r = gap_by_step(self.sweep, *COMPARE, "--steps", "10,7")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no evaluation at step 7; the runs were evaluated at steps 5, 10, 15, 20",
                      r.stderr)
        r = gap_by_step(self.sweep, *COMPARE[:-1], "groupnorm")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no run has model.norm = groupnorm (values: layernorm, rmsnorm)", r.stderr)
        r = gap_by_step(self.sweep / "nothing", *COMPARE)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no such directory", r.stderr)


if __name__ == "__main__":
    unittest.main()
