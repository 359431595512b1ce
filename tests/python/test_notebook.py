"""The example notebook (analysis/examples/statistics.ipynb), stored without outputs, runs end to
end with nbclient on two runs this test makes, in a kernel of this interpreter, and draws its
figures."""

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
RUN_SETTINGS = ["train.steps=30", "train.eval_every=10", "stats.every=5"]


class NotebookTest(unittest.TestCase):
    def make_runs_and_kernel(self):
        """Two runs in NORMLAB_RUNS, and the kernel the notebook names."""
        tmp = Path(self.enterContext(tempfile.TemporaryDirectory()))
        for norm in ("rmsnorm", "layernorm"):
            support.train(tmp / "runs", f"mlp-{norm}", f"model.norm={norm}", *RUN_SETTINGS)
        # The notebook's kernel, `python3`, spelled out for this interpreter: JUPYTER_PATH comes
        # before the user's and the system's kernelspecs, so the test does not depend on them.
        # Debian's python3-ipykernel installs the same spec for /usr/bin/python3.
        spec = tmp / "jupyter" / "kernels" / "python3"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3", "language": "python"}))
        self.enterContext(mock.patch.dict(os.environ, {
            "NORMLAB_RUNS": str(tmp / "runs"),
            "JUPYTER_PATH": str(tmp / "jupyter"),
            "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),  # connection files
            "IPYTHONDIR": str(tmp / "ipython"),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # quiets ipykernel's debugger at start
        }))

    def test_stored_clean(self):
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                self.assertEqual(cell.outputs, [], f"cell {cell.id} is stored with outputs")
                self.assertIsNone(cell.execution_count, f"cell {cell.id}")

    def test_runs_end_to_end(self):
        self.make_runs_and_kernel()
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        notebook.cells.append(nbformat.v4.new_code_cell(
            "import sys, h5py, xarray, h5netcdf, pandas\nprint(sys.executable)"))
        client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                         resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        client.execute()  # raises CellExecutionError, with the cell and its traceback, on an error

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


if __name__ == "__main__":
    unittest.main()
