"""A sweep directory as the notebook user meets it: index.h5 with numbers stored as numbers,
load_runs on the directory or its runs/ folder with other HDF5 files beside the runs, and the whole
sweep as one xarray.Dataset with a `run` dimension."""

import subprocess
import tempfile
import unittest
from pathlib import Path

import h5py
import numpy as np

import support
import normlab

NORMS, SEEDS, LRS = ["rmsnorm", "none"], [0, 1], [0.001, 0.003]
STEPS = 10


def make_sweep(root):
    sweep_file = root / "tiny.toml"
    sweep_file.write_text(
        f'experiment = "{support.REPO / "experiments" / "mlp.toml"}"\n'
        f"[set]\ntrain.steps = {STEPS}\ntrain.eval_every = 5\nmodel.width = 16\nstats.every = 5\n"
        f'[grid]\n"model.norm" = {NORMS!r}\nseed = {SEEDS!r}\n"optim.lr" = {LRS!r}\n'
        .replace("'", '"'))
    out = root / "sweep"
    result = subprocess.run([str(support.BINARY), "sweep", str(sweep_file), "--out", str(out),
                             "--jobs", "2"], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"sweep failed ({result.returncode}):\n{result.stderr}")
    return out


class SweepDirectoryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = make_sweep(Path(cls.tmp.name))
        # An analysis output beside the runs, as `normlab analyze sensitivity` leaves one.
        cls.foreign = cls.out / "runs" / "x.sensitivity.h5"
        with h5py.File(cls.foreign, "w") as f:
            f.attrs["format"] = "normlab-sensitivity"
            f["gain"] = np.zeros(3)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_index_stores_numbers_as_numbers(self):
        with h5py.File(self.out / "index.h5", "r") as f:
            self.assertEqual(f["seed"].dtype, np.int64)
            self.assertEqual(f["optim.lr"].dtype, np.float64)
            self.assertTrue(h5py.check_string_dtype(f["model.norm"].dtype))
            runs = f["run"].asstr()[:]
            self.assertEqual(len(runs), len(NORMS) * len(SEEDS) * len(LRS))
            # Each row's numbers are those of the run it names.
            for i, run_id in enumerate(runs):
                with normlab.open_run(self.out / "runs" / f"{run_id}.h5") as run:
                    self.assertEqual(f["seed"][i], run.flat_config["seed"])
                    self.assertEqual(f["optim.lr"][i], run.flat_config["optim.lr"])

    def test_load_runs_picks_run_files_by_format(self):
        n = len(NORMS) * len(SEEDS) * len(LRS)
        for source in (self.out, self.out / "runs"):
            with normlab.load_runs(source) as runs:
                self.assertEqual(len(runs), n, source)
                self.assertTrue(all(r.path.parent.name == "runs" for r in runs))
                self.assertIn(self.foreign, runs.skipped)
        with normlab.load_runs(self.out) as runs:
            self.assertIn(self.out / "index.h5", runs.skipped)
        # A file named explicitly must be a run file.
        with self.assertRaisesRegex(normlab.RunFileError, "index.h5.*not a normlab run file"):
            normlab.load_runs([self.out / "index.h5"])

    def test_sweep_as_one_dataset(self):
        with normlab.load_runs(self.out) as runs:
            data = normlab.sweep_dataset(runs)
            ids = [r.run_id for r in runs]
            self.assertEqual(list(data["run"].values), ids)
            self.assertEqual(data.sizes["run"], len(ids))
            for key in ("model.norm", "seed", "optim.lr"):
                self.assertEqual(data[key].dims, ("run",))
            for run in runs:
                row = data.sel(run=run.run_id)
                self.assertEqual(row["model.norm"].item(), run.flat_config["model.norm"])
                np.testing.assert_array_equal(row["train_loss"].values,
                                              run.steps()["train_loss"].to_numpy())
                # Sites are the union over the runs; a run's own are read, the others padding.
                own = list(run.sites().index)
                others = [s for s in data["site"].values if s not in own]
                self.assertFalse(np.isnan(row["in_rms"].sel(site=own).values).any())
                self.assertTrue(np.isnan(row["in_rms"].sel(site=others).values).all())
                np.testing.assert_array_equal(
                    row["in_rms"].sel(site=own).values,
                    run.site_stats().pivot(index="stat_step", columns="site", values="in_rms")
                    [own].to_numpy())
        # A directory loads directly too.
        self.assertEqual(normlab.sweep_dataset(self.out).sizes["run"], len(ids))


if __name__ == "__main__":
    unittest.main()
