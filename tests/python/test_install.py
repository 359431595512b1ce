"""`pip install .` (pyproject.toml, setup.py): into a fresh virtual environment that sees Debian's
packages (numpy, h5py, torch), without the network (--no-build-isolation --no-index: setuptools
and the dependencies are Debian's), building the extension with the project's CMake from scratch.
The installed package, imported from elsewhere, has every module of analysis/normlab and an
extension that computes what the build tree's does, bit for bit.

About a minute the first time: the C++ core and norm layers are compiled in setuptools' build
directory (build/pip in the repository, CMAKE_BUILD_PARALLEL_LEVEL=2), which later runs rebuild
incrementally."""

import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np

import support
import normlab

CHECK = """
import json, sys, numpy as np, normlab
x = np.load(sys.argv[1])
y, cache = normlab.Normalizer("layernorm", bias=True, eps=1e-6).forward(x)
np.save(sys.argv[2], y)
print(json.dumps({"file": normlab.__file__, "core": normlab._core.__file__,
                  "modules": sorted(m.name for m in __import__("pkgutil").iter_modules(normlab.__path__))}))
"""


class InstallTest(unittest.TestCase):
    def test_pip_install(self):
        tmp = Path(self.enterContext(tempfile.TemporaryDirectory()))
        venv = tmp / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
        env = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL="2", PIP_DISABLE_PIP_VERSION_CHECK="1")
        env.pop("PYTHONPATH", None)
        install = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-build-isolation", "--no-deps",
                                  "--no-index", str(support.REPO)], capture_output=True, text=True, env=env)
        self.assertEqual(install.returncode, 0, install.stdout[-3000:] + install.stderr[-3000:])

        x = np.random.default_rng(0).normal(2.0, 3.0, size=(5, 7, 48)).astype(np.float32)
        np.save(tmp / "x.npy", x)
        run = subprocess.run([str(venv / "bin" / "python"), "-c", CHECK, str(tmp / "x.npy"), str(tmp / "y.npy")],
                             capture_output=True, text=True, env=env, cwd=tmp)  # not the repository
        self.assertEqual(run.returncode, 0, run.stderr)
        found = json.loads(run.stdout.splitlines()[-1])
        self.assertTrue(found["file"].startswith(str(venv)), found)
        self.assertTrue(found["core"].startswith(str(venv)), found)
        sources = sorted(p.stem for p in (support.REPO / "analysis" / "normlab").glob("*.py") if p.stem != "__init__")
        self.assertEqual(sorted(set(found["modules"]) - {"_core"}), sources)
        want, _ = normlab.Normalizer("layernorm", bias=True, eps=1e-6).forward(x)  # the build tree's
        self.assertTrue(np.array_equal(np.load(tmp / "y.npy"), want))


if __name__ == "__main__":
    unittest.main()
