"""Frames across runs: a directory of two runs that differ in model.norm gives one summary row per
run with every config key as a column, and long frames that group by the keys that vary."""

import shutil
import tempfile
import unittest
import warnings
from pathlib import Path

import h5py

import support
import normlab

STEPS, STATS_EVERY, EVAL_EVERY = 10, 5, 5
COMMON = [f"train.steps={STEPS}", f"stats.every={STATS_EVERY}", f"train.eval_every={EVAL_EVERY}"]


class FramesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name) / "sweep"
        # The second run one directory down: load_runs searches recursively.
        cls.rms = support.train(cls.dir, "rms", "model.norm=rmsnorm", *COMMON)
        cls.ln = support.train(cls.dir / "more", "ln", "model.norm=layernorm", *COMMON)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_load_runs_from_a_directory_and_a_list(self):
        with normlab.load_runs(self.dir) as runs:
            self.assertEqual(sorted(r.path for r in runs), sorted([self.rms, self.ln]))
        with normlab.load_runs([self.ln]) as runs:
            self.assertEqual([r.run_id for r in runs], ["ln"])

    def test_summary_has_config_columns(self):
        with normlab.load_runs(self.dir) as runs:
            table = normlab.summary(runs).set_index("run_id")
        self.assertEqual(sorted(table.index), ["ln", "rms"])
        for column in ("status", "model.norm", "optim.lr", "train.steps", "stats.every",
                       "model.family", "data.task", "seed", "steps_done", "final_train_loss",
                       "final_val_loss", "best_val_loss", "final_val_metric", "median_step_time"):
            self.assertIn(column, table.columns)
        self.assertEqual(table.loc["rms", "model.norm"], "rmsnorm")
        self.assertEqual(table.loc["ln", "model.norm"], "layernorm")
        self.assertEqual(table.loc["ln", "optim.lr"], 0.001)
        self.assertEqual(table["steps_done"].tolist(), [STEPS, STEPS])
        self.assertEqual(table["status"].tolist(), ["completed", "completed"])
        with h5py.File(self.ln, "r") as f:
            self.assertEqual(table.loc["ln", "final_train_loss"], f["train_loss"][-1])
            self.assertEqual(table.loc["ln", "final_val_loss"], f["val_loss"][-1])
            self.assertEqual(table.loc["ln", "best_val_loss"], f["val_loss"][:].min())
            self.assertEqual(table.loc["ln", "final_val_metric"], f["val_metric"][-1])
        self.assertEqual(len(table.groupby("model.norm")), 2)

    def test_long_frames_carry_the_varying_keys(self):
        with normlab.load_runs(self.dir) as runs:
            varying = normlab.varying_keys(runs)
            steps = normlab.steps_frame(runs)
            evals = normlab.evals_frame(runs)
            stats = normlab.stats_frame(runs)
            chosen = normlab.stats_frame(runs, config=["optim.lr", "model.norm"])
        self.assertEqual(varying, ["name", "model.norm"])  # in config order
        self.assertEqual(steps.columns.tolist()[:4], ["run_id", *varying, "step"])
        self.assertEqual(steps.groupby("model.norm").size().to_dict(),
                         {"layernorm": STEPS, "rmsnorm": STEPS})
        self.assertEqual(evals.groupby("model.norm")["eval_step"].apply(list).to_dict(),
                         {"layernorm": [4, 9], "rmsnorm": [4, 9]})
        stat_steps = support.expected_stat_steps(STEPS, STATS_EVERY)
        self.assertEqual(len(stats), 2 * len(stat_steps) * 3)  # two runs, three sites
        kinds = stats.groupby("model.norm")["kind"].unique().to_dict()
        self.assertEqual({norm: list(k) for norm, k in kinds.items()},
                         {"layernorm": ["layernorm"], "rmsnorm": ["rmsnorm"]})
        self.assertEqual(chosen.columns.tolist()[:3], ["run_id", "optim.lr", "model.norm"])
        self.assertEqual(chosen["optim.lr"].unique().tolist(), [0.001])

    def test_unreadable_file_is_named_unless_skipped(self):
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(self.rms, tmp)
            junk = Path(tmp) / "junk.h5"
            junk.write_text("not a run")
            with self.assertRaises(normlab.RunFileError) as caught:
                normlab.load_runs(tmp)
            self.assertIn(str(junk), str(caught.exception))
            self.assertIn("1 of 2", str(caught.exception))
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                with normlab.load_runs(tmp, skip_unreadable=True) as runs:
                    self.assertEqual([r.run_id for r in runs], ["rms"])
            self.assertEqual(len(seen), 1)
            self.assertIn(str(junk), str(seen[0].message))

    def test_partial_files_only_when_asked(self):
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(self.rms, tmp)
            shutil.copy(self.ln, Path(tmp) / "ln.h5.partial")  # as an interrupted run leaves it
            with normlab.load_runs(tmp) as runs:
                self.assertEqual([r.run_id for r in runs], ["rms"])
            with normlab.load_runs(tmp, include_partial=True) as runs:
                self.assertEqual(sorted(r.run_id for r in runs), ["ln", "rms"])
                self.assertEqual([r.swmr for r in runs if r.run_id == "ln"], [True])
                self.assertEqual(len(normlab.steps_frame(runs)), 2 * STEPS)

    def test_version_2_runs_have_no_statistics(self):
        with tempfile.TemporaryDirectory() as tmp:
            old = Path(tmp) / "old.h5"
            shutil.copy(self.rms, old)
            with h5py.File(old, "r+") as f:  # as version 2 wrote it: no sites, no statistics
                statistics = [n for n, d in f.items()
                              if isinstance(d, h5py.Dataset) and d.ndim == 2]
                for name in ["site", "site_kind", "site_layer", "site_features", "stat_step",
                             *statistics]:
                    del f[name]
                f.attrs["format_version"] = 2
                del f.attrs["stats_every"]
            with normlab.load_runs([old, self.ln]) as runs:
                self.assertEqual(runs[0].statistics, [])
                self.assertEqual(len(runs[0].sites()), 0)
                self.assertEqual(len(runs[0].site_stats()), 0)
                self.assertEqual(len(runs[0].steps()), STEPS)
                self.assertEqual(runs[0].dataset().sizes["step"], STEPS)
                stats = normlab.stats_frame(runs)
                self.assertEqual(stats["run_id"].unique().tolist(), ["ln"])
                self.assertEqual(len(normlab.summary(runs)), 2)


if __name__ == "__main__":
    unittest.main()
