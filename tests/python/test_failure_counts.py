"""experiments/failure_counts.py on a real sweep whose failures are known in advance: runs at
lr 1e-9 learn nothing and end stuck, runs at lr 1e-2 learn; their counts and Fisher's exact p
against scipy's, and the errors for a wrong key or baseline."""
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from scipy import stats

import support

SCRIPT = support.REPO / "experiments" / "failure_counts.py"
SWEEP = """
[set]
train.steps = 30
train.eval_every = 10
train.stuck_after = 10
train.checkpoint_every = 0
stats.every = 0
[grid]
seed = [0, 1, 2]
"optim.lr" = [1e-9, 0.01]
"""


def failure_counts(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


class FailureCountsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = Path(cls.tmp.name)
        (root / "sweep.toml").write_text(SWEEP)
        cls.dir = root / "sweep"
        support.normlab("sweep", root / "sweep.toml", "--out", cls.dir, "--jobs", 2)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_counts_and_fisher_p(self):
        r = failure_counts(self.dir, "--compare", "optim.lr", "--baseline", "0.01")
        self.assertEqual(r.returncode, 0, r.stderr)
        row = [line for line in r.stdout.splitlines() if line.startswith("| 1e-09")]
        self.assertEqual(len(row), 1, r.stdout)
        cells = [c.strip() for c in row[0].strip("|").split("|")]
        self.assertEqual(cells[1:3], ["3/3", "0/3"])
        p = stats.fisher_exact([[3, 0], [0, 3]])[1]
        self.assertAlmostEqual(float(cells[3]), p, places=3)
        self.assertAlmostEqual(p, 0.1, places=12)  # 2 / C(6, 3)

    def test_by_groups_and_where(self):
        r = failure_counts(self.dir, "--compare", "optim.lr", "--baseline", "0.01", "--by", "seed",
                           "--where", "seed=0,1")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [line for line in r.stdout.splitlines() if line.startswith("| 0 |") or line.startswith("| 1 |")]
        self.assertEqual(len(rows), 2, r.stdout)  # seed 2 left out by --where
        self.assertIn("Holm over the 2 comparisons", r.stdout)

    def test_errors_name_the_problem(self):
        r = failure_counts(self.dir, "--compare", "optim.lrr", "--baseline", "0.01")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no config key 'optim.lrr'", r.stderr)
        r = failure_counts(self.dir, "--compare", "optim.lr", "--baseline", "0.5")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no run has optim.lr = 0.5", r.stderr)


if __name__ == "__main__":
    unittest.main()
