"""A run watched while `normlab train` writes it: its `.partial` file opened with SWMR grows with
each refresh(), every row read is complete, every series is as long as its axis or longer (as
docs/FORMAT.md promises), and the finished file then opens as completed."""

import subprocess
import tempfile
import time
import unittest
from pathlib import Path

import h5py
import numpy as np

import support
import normlab

STEPS, FLUSH_EVERY, STATS_EVERY = 4000, 5, 50  # about two seconds of training
SERIES = {"step": ["train_loss", "lr", "grad_norm", "step_time"],
          "eval_step": ["val_loss", "val_metric"]}  # and on stat_step, the statistics


def series_behind_their_axis(f, series):
    """{series: (its rows, its axis's rows)} for the series shorter than their axis, read as a
    SWMR reader should: axes refreshed first, then the values."""
    for axis in series:
        f[axis].refresh()
    lengths = {}
    for axis, names in series.items():
        for name in names:
            f[name].refresh()
            lengths[name] = (len(f[name]), len(f[axis]))
    return {name: rows for name, rows in lengths.items() if rows[0] < rows[1]}


def open_when_ready(path, process, timeout=30):
    """Opens a .partial run with SWMR once the writer has created it and entered SWMR mode."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return normlab.open_run(path, swmr=True)
        except (FileNotFoundError, normlab.RunFileError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class LiveTest(unittest.TestCase):
    def test_watch_a_run_grow(self):
        with tempfile.TemporaryDirectory() as out:
            command = support.train_command(out, "live", f"train.steps={STEPS}",
                                            f"train.flush_every={FLUSH_EVERY}",
                                            f"stats.every={STATS_EVERY}", "train.eval_every=1000")
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       text=True)
            final = Path(out) / "live.h5"
            stat_steps = support.expected_stat_steps(STEPS, STATS_EVERY)
            counts = []
            try:
                partial = Path(out) / "live.h5.partial"
                with open_when_ready(partial, process) as run, \
                        h5py.File(partial, "r", swmr=True) as f:
                    self.assertEqual(run.status, "running")
                    series = {**SERIES, "stat_step": run.statistics}
                    polls = 0
                    while process.poll() is None:
                        polls += 1
                        self.assertEqual(series_behind_their_axis(f, series), {},
                                         f"at poll {polls}")
                        if polls % 10:  # the cheap check at every poll, the frames at every 10th
                            continue
                        run.refresh()
                        steps, stats = run.steps(), run.site_stats()
                        # Every row read is one the writer completed.
                        self.assertEqual(steps.index.tolist(), list(range(len(steps))))
                        self.assertTrue((steps["train_loss"] > 0).all(), "an unwritten row")
                        self.assertTrue(np.isfinite(steps.to_numpy()).all())
                        seen = sorted(stats["stat_step"].unique())
                        self.assertEqual(seen, stat_steps[:len(seen)])
                        self.assertTrue((stats["in_rms"] > 0).all(), "an unwritten row")
                        counts.append(len(steps))
            finally:
                if process.poll() is None:
                    process.kill()
                stderr = process.communicate()[1]
            self.assertEqual(process.returncode, 0, stderr)
            growths = sum(b > a for a, b in zip(counts, counts[1:]))
            self.assertGreaterEqual(growths, 2, f"step counts seen while training: {counts}")
            self.assertLess(counts[0], STEPS)

            self.assertFalse((Path(out) / "live.h5.partial").exists())
            with normlab.open_run(final) as run:
                self.assertEqual(run.status, "completed")
                self.assertEqual(run.steps_done, STEPS)
                self.assertEqual(run.stat("in_rms").index.tolist(), stat_steps)
                self.assertGreater(len(run.checkpoint()), 0)


if __name__ == "__main__":
    unittest.main()
