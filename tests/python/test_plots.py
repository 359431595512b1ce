"""`normlab plot SWEEP_DIR` (analysis/normlab/plots.py) on a tiny real sweep: the PNGs it names
exist and decode as images of a plausible size; the sensitivity plot appears exactly when a
*.sensitivity.h5 file is beside the runs; a bad statistic is an error naming the known ones."""

import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import h5py
import matplotlib.image
import numpy as np

from support import BINARY, REPO

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(*args, check=True):
    result = subprocess.run([str(BINARY), *map(str, args)], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"normlab {' '.join(map(str, args))} failed:\n{result.stderr}")
    return result


class PlotsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = Path(cls.tmp.name)
        sweep_file = root / "tiny.toml"
        sweep_file.write_text(
            f'experiment = "{REPO / "experiments" / "transformer.toml"}"\n'
            "[set]\ntrain.steps = 12\ntrain.eval_every = 4\nmodel.width = 16\nmodel.context = 16\n"
            "data.chars = 5000\ndata.val_size = 8\nstats.every = 4\n"
            '[grid]\n"model.norm" = ["layernorm", "rmsnorm"]\nseed = [0, 1]\n')
        cls.sweep = root / "sweep"
        run("sweep", sweep_file, "--out", cls.sweep, "--jobs", 2)
        cls.root = root

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def assert_png(self, path):
        self.assertTrue(path.exists(), path)
        self.assertEqual(path.read_bytes()[:8], PNG_SIGNATURE, path)
        image = matplotlib.image.imread(path)
        self.assertEqual(image.ndim, 3)
        self.assertGreater(min(image.shape[:2]), 200, path)
        self.assertGreater(float(np.std(image)), 0.01, f"{path} is blank")

    def plotted(self, stdout):
        return [Path(line.split("plot -> ", 1)[1]) for line in stdout.splitlines() if "plot -> " in line]

    def test_plots_without_sensitivity(self):
        out = self.root / "plain"
        result = run("plot", self.sweep, "--out", out)
        names = sorted(p.name for p in self.plotted(result.stdout))
        self.assertEqual(names, ["loss_step.png", "loss_time.png", "stat_in_rms.png"])
        for p in self.plotted(result.stdout):
            self.assert_png(p)

    def test_sensitivity_when_present(self):
        """`normlab analyze sensitivity` files beside two runs of different normalizers give
        sensitivity.png; a file of another format beside them is skipped, not an error."""
        runs = sorted((self.sweep / "runs").glob("*.h5"))
        made = []
        for norm in ("layernorm", "rmsnorm"):
            path = next(p for p in runs if f"norm-{norm}" in p.name and ".sensitivity" not in p.name)
            run("analyze", "sensitivity", path, "--batches", 1)
            made.append(path.with_name(path.name.removesuffix(".h5") + ".sensitivity.h5"))
        foreign = self.sweep / "runs" / "foreign.sensitivity.h5"
        with h5py.File(foreign, "w") as f:
            f.create_group("sensitivity")["offset"] = np.array([0.5, 0.2])
        made.append(foreign)
        try:
            for path in made[:2]:
                self.assertTrue(path.exists(), path)
            out = self.root / "with_sensitivity"
            env = dict(os.environ, PYTHONPATH=str(REPO / "analysis"))
            result = subprocess.run([sys.executable, "-m", "normlab.plots", str(self.sweep), "--out",
                                     str(out), "--stat", "in_mean_share"],
                                    capture_output=True, text=True, env=env)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("foreign.sensitivity.h5: not a normlab-sensitivity file", result.stderr)
            names = sorted(p.name for p in self.plotted(result.stdout))
            self.assertEqual(names, ["loss_step.png", "loss_time.png", "sensitivity.png",
                                     "stat_in_mean_share.png"])
            self.assert_png(out / "sensitivity.png")
        finally:
            for path in made:
                path.unlink(missing_ok=True)

    def test_errors(self):
        bad = run("plot", self.sweep, "--stat", "in_rmss", "--out", self.root / "bad", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("no statistic 'in_rmss'", bad.stderr)
        self.assertIn("in_rms", bad.stderr)
        bad = run("plot", self.root / "nowhere", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("not a sweep directory", bad.stderr)


if __name__ == "__main__":
    unittest.main()
