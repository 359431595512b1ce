"""The example notebooks, stored without outputs, run end to end with nbclient in a kernel of this
interpreter and draw their figures: analysis/examples/statistics.ipynb on two runs this test makes,
and bindings.ipynb (issue 20: the extension, normlab.torch against PyTorch, normlab.train) with the
build's package. bindings.ipynb needs torch: without it that test is skipped, unless
NORMLAB_REQUIRE_TORCH=1 (CI), when it fails."""

import json
import os
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import nbclient
import nbformat

import support

NOTEBOOK = support.REPO / "analysis" / "examples" / "statistics.ipynb"
BINDINGS = support.REPO / "analysis" / "examples" / "bindings.ipynb"
RUN_SETTINGS = ["train.steps=30", "train.eval_every=10", "stats.every=5"]


def kernel_environment(test):
    """A temporary directory with the kernel the notebooks name, NORMLAB_RUNS (tmp/runs) and the
    Jupyter directories in it, for the rest of the test."""
    tmp = Path(test.enterContext(tempfile.TemporaryDirectory()))
    # The notebook's kernel, `python3`, spelled out for this interpreter: JUPYTER_PATH comes
    # before the user's and the system's kernelspecs, so the test does not depend on them.
    # Debian's python3-ipykernel installs the same spec for /usr/bin/python3.
    spec = tmp / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python"}))
    test.enterContext(mock.patch.dict(os.environ, {
        "NORMLAB_RUNS": str(tmp / "runs"),
        "JUPYTER_PATH": str(tmp / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),  # connection files
        "IPYTHONDIR": str(tmp / "ipython"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # quiets ipykernel's debugger at start
        "NORMLAB_PACKAGE": str(support.PACKAGE_ROOT),
    }))
    return tmp


def execute(path, extra_cells=()):
    """The notebook at `path`, with `extra_cells` (code) appended, executed (CellExecutionError,
    with the cell, on an error)."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.extend(nbformat.v4.new_code_cell(code) for code in extra_cells)
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return notebook


def stored_clean(test, path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            test.assertEqual(cell.outputs, [], f"{path.name}: cell {cell.id} is stored with outputs")
            test.assertIsNone(cell.execution_count, f"{path.name}: cell {cell.id}")


class NotebookTest(unittest.TestCase):
    def make_runs_and_kernel(self):
        """Two runs in NORMLAB_RUNS, and the kernel the notebook names."""
        tmp = kernel_environment(self)
        for norm in ("rmsnorm", "layernorm"):
            support.train(tmp / "runs", f"mlp-{norm}", f"model.norm={norm}", *RUN_SETTINGS)

    def test_stored_clean(self):
        stored_clean(self, NOTEBOOK)

    def test_runs_end_to_end(self):
        self.make_runs_and_kernel()
        notebook = execute(NOTEBOOK, ["import sys, h5py, xarray, h5netcdf, pandas\nprint(sys.executable)"])

        outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
        self.assertEqual([o for o in outputs if o.output_type == "error"], [])
        figures = [o for o in outputs if "image/png" in o.get("data", {})]
        self.assertEqual(len(figures), 2, "the loss curves and the heatmaps")
        tables = "\n".join(o.data["text/plain"] for o in outputs
                           if "text/plain" in o.get("data", {}))
        for expected in ("mlp-rmsnorm", "mlp-layernorm", "in_mean_share"):
            self.assertIn(expected, tables)
        printed = notebook.cells[-1].outputs[0].text.strip()
        self.assertEqual(os.path.realpath(printed), os.path.realpath(sys.executable))


class BindingsNotebookTest(unittest.TestCase):
    def test_stored_clean(self):
        stored_clean(self, BINDINGS)

    def test_runs_end_to_end(self):
        try:
            import torch  # noqa: F401
        except ImportError:
            if os.environ.get("NORMLAB_REQUIRE_TORCH") == "1":
                raise
            self.skipTest("torch is not installed (scripts/install-deps.sh --python)")
        tmp = kernel_environment(self)
        notebook = execute(BINDINGS)
        outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
        self.assertEqual([o for o in outputs if o.output_type == "error"], [])
        self.assertEqual(len([o for o in outputs if "image/png" in o.get("data", {})]), 2,
                         "the bfloat16 histogram and the statistics over steps")
        printed = "".join(o.text for o in outputs if o.output_type == "stream")
        self.assertIn(str(support.PACKAGE_ROOT), printed, "the build's package, with its extension")
        self.assertIn("gradcheck RMSNorm: True", printed)
        self.assertIn("rmsnorm: completed", printed)
        self.assertIn("layernorm: completed", printed)
        self.assertEqual(sorted(p.name for p in (tmp / "runs").glob("*.h5")),
                         ["mlp-layernorm.h5", "mlp-rmsnorm.h5"])
        tables = "\n".join(o.data["text/plain"] for o in outputs if "text/plain" in o.get("data", {}))
        self.assertIn("rmsnorm mean", tables)


if __name__ == "__main__":
    unittest.main()
