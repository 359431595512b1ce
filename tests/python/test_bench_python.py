"""scripts/bench_python.py --quick runs to its end and prints a row for every side it times (the
extension, normlab apply, memcpy; torch and normlab.torch where torch imports) for both kinds, each
with a positive time and the extension's own ratio 1.00. Times are printed, not asserted."""

import os
import re
import subprocess
import sys
import unittest

import support


class BenchPythonTest(unittest.TestCase):
    def test_quick(self):
        env = dict(support.CHILD_ENV, PYTHONPATH=str(support.PACKAGE_ROOT),
                   NORMLAB_BINARY=str(support.BINARY))
        if "LD_PRELOAD" in os.environ:  # the sanitizer build: this interpreter loads the extension
            env["LD_PRELOAD"] = os.environ["LD_PRELOAD"]
            env["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "")
        result = subprocess.run([sys.executable, str(support.REPO / "scripts" / "bench_python.py"), "--quick"],
                                capture_output=True, text=True, env=env)
        self.assertEqual(result.returncode, 0, result.stderr)
        rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if re.match(r"\| \w+ \| \d", line)]
        try:
            import torch  # noqa: F401
            sides = {"module", "apply", "memcpy", "torch", "wrapper"}
        except ImportError:
            sides = {"module", "apply", "memcpy"}
        for kind in ("rmsnorm", "layernorm"):
            found = {cells[3].strip().split(" ")[0]: cells for cells in rows if cells[0].strip() == kind}
            self.assertEqual(set(found), sides, result.stdout)
            self.assertTrue(all(float(cells[4]) > 0 for cells in found.values()), result.stdout)
            self.assertTrue(found["module"][6].strip().startswith("1.00"), result.stdout)


if __name__ == "__main__":
    unittest.main()
