"""normlab.train and normlab.open_sweep (analysis/normlab/launch.py) against the binary itself: a
dict or TOML config trains the run the command line trains, errors carry the binary's own message,
an existing run is refused unless overwrite, the TOML writer round-trips through tomllib and the
binary, and a directory of runs reads as one Dataset with the values h5py reads."""

import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import types
import unittest
from pathlib import Path
from unittest import mock

import h5py
import numpy as np

import support
import normlab
from normlab import launch
from normlab.toml_text import to_toml, toml_value

STEPS = 20
TINY = {"train.steps": STEPS, "train.eval_every": 10, "model.width": 16}


def not_experiment(flat):
    """The flat config without train.out, which differs between two directories of one run."""
    return {k: v for k, v in flat.items() if k != "train.out"}


class TrainTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.out = Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def test_nested_dict_trains_what_the_command_line_trains(self):
        config = {"model": {"norm": "layernorm", "width": 16},
                  "train": {"steps": STEPS, "eval_every": 10}, "optim": {"lr": 0.003}}
        with normlab.train(config, out=self.out / "py", name="nested") as run:
            self.assertEqual(run.path, (self.out / "py" / "nested.h5").absolute())
            self.assertEqual(run.status, "completed")
            self.assertEqual(run.steps_done, STEPS)
            self.assertEqual(run.config["model"]["norm"], "layernorm")
            self.assertEqual(run.config["optim"]["lr"], 0.003)
            cli = support.train(self.out / "cli", "nested", "model.norm=layernorm", "model.width=16",
                                f"train.steps={STEPS}", "train.eval_every=10", "optim.lr=0.003")
            with normlab.open_run(cli) as reference:
                self.assertEqual(not_experiment(run.flat_config),
                                 not_experiment(reference.flat_config))
                np.testing.assert_array_equal(run.steps()["train_loss"],
                                              reference.steps()["train_loss"])

    def test_flat_and_mixed_keys(self):
        config = {**TINY, "model.norm": ["layernorm", "rmsnorm", "layernorm"], "seed": 3,
                  "model": {"norm_options": "eps=1e-06"}, "data.noise": 2.5}
        with normlab.train(config, out=self.out, threads=1, set={"optim.lr": 1e-3}) as run:
            self.assertEqual(run.run_id, "mlp-layernorm+rmsnorm+layernorm-s3")
            model = run.config["model"]
            self.assertEqual(model["norm"], ["layernorm", "rmsnorm", "layernorm"])
            self.assertEqual(model["norm_options"], "eps=1e-06")
            self.assertEqual((model["width"], run.config["seed"], run.config["threads"]), (16, 3, 1))
            self.assertEqual((run.config["data"]["noise"], run.config["optim"]["lr"]), (2.5, 1e-3))
            self.assertEqual(run.sites()["kind"].tolist(), ["layernorm", "rmsnorm", "layernorm"])

    def test_toml_file_config(self):
        path = self.out / "exp.toml"
        path.write_text('[model]\nnorm = "none"\nwidth = 16\n[train]\nsteps = 12\n')
        with normlab.train(path, out=self.out, set={"train.eval_every": 6}) as run:
            self.assertEqual(run.run_id, "mlp-none-s0")
            self.assertEqual((run.config["model"]["norm"], run.steps_done), ("none", 12))
            self.assertEqual(run.evals().index.tolist(), [5, 11])
        transformer = str(support.TRANSFORMER)  # a str path and an experiment of the repository
        with normlab.train(transformer, out=self.out, set={"model.width": 32, "data.chars": 20000,
                                                           "train.steps": 3}) as run:
            self.assertEqual((run.config["model"]["family"], run.steps_done), ("transformer", 3))

    def test_defaults_into_runs_under_the_current_directory(self):
        cwd = os.getcwd()
        os.chdir(self.out)
        try:
            with normlab.train(set={"train.steps": 3}) as run:
                self.assertEqual(run.path, self.out.resolve() / "runs" / "mlp-rmsnorm-s0.h5")
                self.assertEqual(run.config["model"]["width"], 128)  # the default
        finally:
            os.chdir(cwd)

    def test_a_wrong_key_raises_the_binary_message(self):
        with self.assertRaises(normlab.TrainError) as caught:
            normlab.train({**TINY, "model": {"nrom": "layernorm"}}, out=self.out)
        message = str(caught.exception)
        self.assertIn("unknown key 'model.nrom' (did you mean 'model.norm'?)", message)
        self.assertEqual(caught.exception.returncode, 1)
        self.assertIn("exit status 1", message)
        self.assertIn(str(support.BINARY), message)  # the command line
        with self.assertRaises(normlab.TrainError) as caught:
            normlab.train(TINY, out=self.out, set={"optim.lrr": 0.1})
        own = support.normlab("train", "--set", "optim.lrr=0.1", check=False).stderr.strip()
        self.assertIn("did you mean 'optim.lr'", own)
        self.assertIn(own, str(caught.exception))  # word for word
        with self.assertRaisesRegex(normlab.TrainError, "'train.steps' must be an integer"):
            normlab.train({"train.steps": 2.5}, out=self.out)
        self.assertEqual(list(self.out.iterdir()), [])  # nothing written

    def test_check_false_warns_and_returns_none(self):
        with self.assertWarnsRegex(UserWarning, "unknown key 'model.nrom'"):
            self.assertIsNone(normlab.train({"model.nrom": "x"}, out=self.out, check=False))

    def test_an_existing_run_needs_overwrite(self):
        normlab.train(TINY, out=self.out, name="r").close()
        path = self.out / "r.h5"
        mtime = path.stat().st_mtime_ns
        with normlab.train(TINY, out=self.out, name="r") as again:  # the same config: done already
            self.assertEqual((again.path, again.steps_done), (path.absolute(), STEPS))
        self.assertEqual(path.stat().st_mtime_ns, mtime)
        longer = {**TINY, "train.steps": 30}
        with self.assertRaisesRegex(normlab.TrainError, r"train\.steps differs\); --overwrite"):
            normlab.train(longer, out=self.out, name="r")
        with normlab.train(longer, out=self.out, name="r", overwrite=True) as run:
            self.assertEqual(run.steps_done, 30)

    def test_a_diverged_run_is_returned(self):
        config = {**TINY, "model.norm": "none", "optim.lr": 1e30}
        with normlab.train(config, out=self.out) as run:
            self.assertEqual(run.status, "diverged")
            self.assertLess(run.steps_done, STEPS)

    def test_not_quiet_prints_the_binary_output(self):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            normlab.train(TINY, out=self.out, quiet=False).close()
        self.assertIn("  model.width = 16", printed.getvalue())
        self.assertIn("completed after 20 steps", printed.getvalue())

    def test_keyboard_interrupt_stops_the_run_which_resumes(self):
        config = {"train.steps": 30000, "model.width": 16, "train.eval_every": 100000}
        partial = self.out / "long.h5.partial"

        def interrupt_when_training():  # as a notebook's interrupt: SIGINT to Python only
            deadline = time.monotonic() + 30
            while not partial.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGINT)

        interrupter = threading.Thread(target=interrupt_when_training)
        interrupter.start()
        with self.assertRaises(KeyboardInterrupt):
            normlab.train(config, out=self.out, name="long")
        interrupter.join()
        with normlab.open_run(partial) as run:  # closed by the binary before train() raised
            self.assertEqual(run.status, "interrupted")
            self.assertLess(run.steps_done, 30000)
        with normlab.train(config, out=self.out, name="long", resume=True) as run:
            self.assertEqual((run.status, run.steps_done), ("completed", 30000))
            self.assertTrue(str(run.attrs["resumed_from"]))


class TomlWriterTest(unittest.TestCase):
    def test_round_trip_through_tomllib(self):
        config = {
            "quotes": 'say "hi"', "backslashes": r"C:\dir\n", "unicode": "é中文🙂",
            "controls": "a\nb\tc\r\x00\x1f\x7f\b\f", "empty": "",
            "floats": [1e-5, 0.1, 3.0, 1 / 3, 1e300, 5e-324, -0.0, 2.5e-8, -1.5e16],
            "ints": [0, -7, 2**63 - 1, -2**63], "bools": [True, False], "nested_list": [[1, 2], ["a"]],
            "model": {"norm": "rmsnorm", "norm_options": {"pcnorm": "learn_lambda=true"}},
            "model.width": 16, "train": {}, "key with spaces": 1, "optim.lr": 3e-4,
        }
        text = to_toml(config)
        read = tomllib.loads(text)
        expected = {k: v for k, v in config.items() if "." not in k}
        expected["model"] = {"norm": "rmsnorm", "norm_options": {"pcnorm": "learn_lambda=true"},
                             "width": 16}
        expected["optim"] = {"lr": 3e-4}
        self.assertEqual(read, expected)
        for x, y in zip(read["floats"], config["floats"]):
            self.assertEqual((type(x), repr(x)), (float, repr(y)))  # 3.0 stays a float, -0.0 signed
        self.assertIn("1e-05", text)

    def test_numpy_scalars(self):
        text = to_toml({"a": np.float32(0.1), "b": np.int64(5), "c": np.bool_(True),
                        "d": np.float64(1e-5)})
        self.assertEqual(tomllib.loads(text), {"a": float(np.float32(0.1)), "b": 5, "c": True,
                                               "d": 1e-5})

    def test_unsupported_values_name_the_key(self):
        for value in (None, object(), {1, 2}, Path("x"), b"bytes"):
            with self.assertRaisesRegex(TypeError, r"config key 'model\.norm': a \w+"):
                to_toml({"model": {"norm": value}})
        with self.assertRaisesRegex(TypeError, "'optim.lr'"):
            to_toml({"optim.lr": None})
        with self.assertRaisesRegex(TypeError, "'data.x': a list of tables"):
            to_toml({"data": {"x": [{"a": 1}]}})
        with self.assertRaisesRegex(ValueError, "'seed': 9223372036854775808 does not fit"):
            toml_value(2**63, "seed")
        with self.assertRaisesRegex(ValueError, "'model.norm' is given twice"):
            to_toml({"model.norm": "a", "model": {"norm": "b"}})
        with self.assertRaisesRegex(ValueError, "'model' is given both as a value and as a table"):
            to_toml({"model": "a", "model.norm": "b"})
        with self.assertRaises(TypeError):  # raised before the binary is looked for
            normlab.train({"seed": None}, binary="/nonexistent/normlab")

    def test_the_binary_reads_what_tomllib_reads(self):
        config = {"name": 'a "quoted" run é', "optim": {"lr": 1e-5, "beta2": 0.95},
                  "data.noise": 0.1, "model.norm_options": "eps=1e-6,eps_mode=outside"}
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "c.toml"
            path.write_text(to_toml(config), encoding="utf-8")
            printed = support.normlab("train", path, "--print-config").stdout
        resolved = tomllib.loads(printed)
        self.assertEqual(resolved["name"], config["name"])
        self.assertEqual((resolved["optim"]["lr"], resolved["optim"]["beta2"]), (1e-5, 0.95))
        self.assertEqual(resolved["data"]["noise"], 0.1)
        self.assertEqual(resolved["model"]["norm_options"], "eps=1e-6,eps_mode=outside")


class OpenSweepTest(unittest.TestCase):
    NORMS = ["rmsnorm", "layernorm", "none"]

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name) / "sweep"
        for norm in cls.NORMS:
            normlab.train({**TINY, "model.norm": norm}, out=cls.dir / "runs").close()
        with h5py.File(cls.dir / "index.h5", "w") as f:  # another format beside the runs
            f.attrs["format"] = "normlab-sweep-index"

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_one_dataset_with_a_run_dimension(self):
        ds = normlab.open_sweep(self.dir)
        self.assertEqual(ds.sizes["run"], 3)
        self.assertEqual(ds.sizes["step"], STEPS)
        self.assertEqual(sorted(ds["model.norm"].values.tolist()), sorted(self.NORMS))
        self.assertEqual(ds["model.norm"].dims, ("run",))
        for run_id in ds["run"].values:
            path = self.dir / "runs" / f"{run_id}.h5"
            with h5py.File(path, "a") as f:  # opens for writing: open_sweep closed it
                np.testing.assert_array_equal(ds["train_loss"].sel(run=run_id).values,
                                              f["train_loss"][:])
        only_norm = normlab.open_sweep(self.dir / "runs", config=["model.norm", "seed"])
        self.assertIn("seed", only_norm.coords)

    def test_include_partial_adds_an_interrupted_run(self):
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "done.h5").symlink_to(self.dir / "runs" / "mlp-none-s0.h5")
            interrupted = self._stopped_run(Path(tmp), "cut", signal.SIGINT, 3)
            self.assertEqual(normlab.open_sweep(tmp).sizes["run"], 1)
            ds = normlab.open_sweep(tmp, include_partial=True)
            self.assertEqual(ds.sizes["run"], 2)
            self.assertEqual(sorted(ds["status"].values.tolist()), ["completed", "interrupted"])
            self.assertTrue(interrupted.exists())
            killed = self._stopped_run(Path(tmp), "killed", signal.SIGKILL, -signal.SIGKILL)
            with self.assertWarnsRegex(UserWarning, f"passed over {killed}, still training or "
                                                    "killed"):
                ds = normlab.open_sweep(tmp, include_partial=True)
            self.assertEqual(sorted(ds["run"].values.tolist()), ["cut", "mlp-none-s0"])

    def _stopped_run(self, out, name, sig, expected_status):
        """A run stopped by `sig` while it trains; returns its NAME.h5.partial."""
        command = support.train_command(out, name, "train.steps=100000", "model.width=16")
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        partial = out / f"{name}.h5.partial"
        deadline = time.monotonic() + 30
        while not partial.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # past the signal handlers' installation, into the steps
        process.send_signal(sig)
        self.assertEqual(process.wait(), expected_status)
        return partial

    def test_clear_errors(self):
        with tempfile.TemporaryDirectory() as tmp:
            empty = Path(tmp) / "empty"
            empty.mkdir()
            with self.assertRaisesRegex(FileNotFoundError, f"{empty}: no run files in it"):
                normlab.open_sweep(empty)
            with self.assertRaisesRegex(FileNotFoundError, "1 HDF5 files of other formats"):
                (empty / "index.h5").symlink_to(self.dir / "index.h5")
                normlab.open_sweep(empty)
            with self.assertRaisesRegex(FileNotFoundError, f"{Path(tmp) / 'missing'}: no such"):
                normlab.open_sweep(Path(tmp) / "missing")
            with self.assertRaisesRegex(NotADirectoryError, "not a directory"):
                normlab.open_sweep(self.dir / "index.h5")


class FindBinaryTest(unittest.TestCase):
    def test_a_bad_environment_path_is_an_error(self):
        with mock.patch.dict(os.environ, {"NORMLAB_BINARY": "/nonexistent/normlab"}):
            with self.assertRaisesRegex(FileNotFoundError, "NORMLAB_BINARY=/nonexistent/normlab"):
                normlab.train(TINY)
            self.assertEqual(launch.find_binary(support.BINARY), support.BINARY)  # binary= first
        with self.assertRaisesRegex(FileNotFoundError, "binary=/nonexistent/normlab"):
            launch.find_binary("/nonexistent/normlab")

    def test_the_search_order_and_what_it_tried(self):
        environment = {k: v for k, v in os.environ.items() if k != "NORMLAB_BINARY"}
        environment["PATH"] = ""
        missing = Path("/nonexistent/build/normlab")
        with mock.patch.dict(os.environ, environment, clear=True), \
                mock.patch.object(launch, "_CHECKOUT_BINARY", missing):
            fake_core = mock.Mock(build_binary=str(support.BINARY))
            with mock.patch.dict(sys.modules, {"normlab._core": fake_core}), \
                    mock.patch.object(normlab, "_core", fake_core, create=True):
                self.assertEqual(launch.find_binary(), support.BINARY)
            no_attribute = types.SimpleNamespace()  # an extension without build_binary
            with mock.patch.dict(sys.modules, {"normlab._core": no_attribute}), \
                    mock.patch.object(normlab, "_core", no_attribute, create=True):
                with self.assertRaises(FileNotFoundError) as caught:
                    launch.find_binary()
        message = str(caught.exception)
        for tried in ("$NORMLAB_BINARY (not set)", "normlab._core.build_binary (no such", "on PATH",
                      str(missing), "cmake --build build"):
            self.assertIn(tried, message)

    def test_the_checkout_build_comes_last(self):
        if not launch._CHECKOUT_BINARY.is_file():
            self.skipTest(f"no {launch._CHECKOUT_BINARY}")
        environment = {k: v for k, v in os.environ.items() if k != "NORMLAB_BINARY"}
        environment["PATH"] = ""
        no_attribute = types.SimpleNamespace()
        with mock.patch.dict(os.environ, environment, clear=True), \
                mock.patch.dict(sys.modules, {"normlab._core": no_attribute}), \
                mock.patch.object(normlab, "_core", no_attribute, create=True):
            self.assertEqual(launch.find_binary(), launch._CHECKOUT_BINARY)


if __name__ == "__main__":
    unittest.main()
