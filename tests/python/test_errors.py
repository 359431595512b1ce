"""Files that are not runs this reader can read raise RunFileError subclasses naming the file and
what is wrong; so do requests for what a run does not have."""

import shutil
import tempfile
import unittest
from pathlib import Path

import h5py

import support
import normlab


class ErrorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name)
        cls.source = support.train(cls.dir, "run", "train.steps=3")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def copy_with(self, name, **attrs):
        """A copy of the run with some root attributes changed (None: deleted)."""
        path = self.dir / name
        shutil.copy(self.source, path)
        with h5py.File(path, "r+") as f:
            for key, value in attrs.items():
                if value is None:
                    del f.attrs[key]
                else:
                    f.attrs[key] = value
        return path

    def assertRaisesNaming(self, error, path, *words):
        """open_run(path) raises `error`, whose message names the file and holds `words`."""
        with self.assertRaises(error) as caught:
            normlab.open_run(path)
        message = str(caught.exception)
        for expected in (str(path), *words):
            self.assertIn(expected, message)
        self.assertIsInstance(caught.exception, normlab.RunFileError)
        self.assertIsInstance(caught.exception, ValueError)

    def test_not_hdf5(self):
        path = self.dir / "notes.h5"
        path.write_text("step,loss\n0,2.3\n")
        self.assertRaisesNaming(normlab.NotARunError, path, "not an HDF5 file")

    def test_hdf5_without_format(self):
        path = self.dir / "plain.h5"
        with h5py.File(path, "w") as f:
            f["x"] = [1.0, 2.0]
        self.assertRaisesNaming(normlab.NotARunError, path, "no 'format' attribute")

    def test_another_format(self):
        path = self.copy_with("other.h5", format="normlab-apply")
        self.assertRaisesNaming(normlab.NotARunError, path, "'normlab-apply'", "'normlab-run'")

    def test_no_format_version(self):
        path = self.copy_with("unversioned.h5", format_version=None)
        self.assertRaisesNaming(normlab.NotARunError, path, "format_version")

    def test_newer_version(self):
        path = self.copy_with("future.h5", format_version=99)
        self.assertRaisesNaming(normlab.FormatVersionError, path, "version 99",
                                f"newer than {normlab.FORMAT_VERSION}", "update normlab")

    def test_version_without_dimension_scales(self):
        path = self.copy_with("v1.h5", format_version=1)
        self.assertRaisesNaming(normlab.FormatVersionError, path, "version 1", "older")

    def test_missing_file(self):
        with self.assertRaises(FileNotFoundError) as caught:
            normlab.open_run(self.dir / "absent.h5")
        self.assertIn("absent.h5", str(caught.exception))

    def test_what_a_run_lacks(self):
        interrupted = self.copy_with("interrupted.h5", status="interrupted")
        with h5py.File(interrupted, "r+") as f:
            del f["checkpoint"]
        with normlab.open_run(interrupted) as run:
            with self.assertRaises(KeyError) as caught:
                run.checkpoint()
            self.assertIn("status interrupted", str(caught.exception))
            with self.assertRaises(KeyError) as caught:
                run.stat("in_rsm")
            self.assertIn("in_rms", str(caught.exception))  # the statistics it has
        with normlab.open_run(self.source, swmr=True) as run:
            with self.assertRaises(normlab.RunFileError):
                run.dataset()

    def test_load_runs_of_a_file(self):
        with self.assertRaises(NotADirectoryError) as caught:
            normlab.load_runs(str(self.source))
        self.assertIn(str(self.source), str(caught.exception))


if __name__ == "__main__":
    unittest.main()
