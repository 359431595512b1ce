"""`normlab plot SWEEP_DIR` (analysis/normlab/plots.py) on a tiny real sweep: the PNGs it names
exist and decode as images of a plausible size; the sensitivity plot appears exactly when a
*.sensitivity.h5 file is beside the runs; a bad statistic is an error naming the known ones.
FiguresTest (issue 16): what a paper needs of them: 200 dpi PNGs with a PDF beside each, legends
that name the row key and the number of seeds, panels sharing the y axis, no panel without data,
sensitivity on a log axis with its epsilon stated, an unknown --sites refused by name."""

import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import h5py
import matplotlib.image
import numpy as np

from support import REPO
from support import normlab as run

from normlab import plots  # noqa: E402 (support puts analysis/ on the path)
from normlab.frames import load_runs  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# 12 steps do not leave the unigram loss: the stuck watch is off (margin 0) so that these runs
# complete; test_lr_sensitivity.py draws stuck and diverged runs.
TINY_TRANSFORMER = ("[set]\ntrain.steps = 12\ntrain.eval_every = 4\nmodel.width = 16\nmodel.context = 16\n"
                    "data.chars = 5000\ndata.val_size = 8\nstats.every = 4\ntrain.stuck_margin = 0\n")


def png_dpi(path):
    """The PNG's pHYs chunk as dots per inch (x, y); None without one."""
    data = path.read_bytes()
    at = 8
    while at < len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        kind = data[at + 4:at + 8]
        if kind == b"pHYs":
            body = data[at + 8:at + 8 + length]
            x, y, unit = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big"), body[8]
            return (x * 0.0254, y * 0.0254) if unit == 1 else None
        at += 12 + length
    return None


def sweep(root, name, grid):
    sweep_file = root / f"{name}.toml"
    sweep_file.write_text(f'experiment = "{REPO / "experiments" / "transformer.toml"}"\n'
                          + TINY_TRANSFORMER + "[grid]\n" + grid)
    out = root / name
    run("sweep", sweep_file, "--out", out, "--jobs", 2)
    return out


def groups_of(sweep_dir, runs):
    return plots.group_runs(plots.in_sweep_order(sweep_dir, runs), plots.row_keys(sweep_dir, runs))


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.axison]


SHARED = {}


def setUpModule():
    """One tiny sweep (two normalizers, two seeds) for both classes: sweeping takes most of the time."""
    SHARED["tmp"] = tempfile.TemporaryDirectory()
    SHARED["root"] = Path(SHARED["tmp"].name)
    SHARED["sweep"] = sweep(SHARED["root"], "sweep", '"model.norm" = ["layernorm", "rmsnorm"]\nseed = [0, 1]\n')


def tearDownModule():
    SHARED["tmp"].cleanup()


class PlotsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root, cls.sweep = SHARED["root"], SHARED["sweep"]

    def assert_png(self, path):
        self.assertTrue(path.exists(), path)
        self.assertEqual(path.read_bytes()[:8], PNG_SIGNATURE, path)
        image = matplotlib.image.imread(path)
        self.assertEqual(image.ndim, 3)
        self.assertGreater(min(image.shape[:2]), 200, path)
        self.assertGreater(float(np.std(image)), 0.01, f"{path} is blank")

    def plotted(self, stdout):
        return [Path(line.split("plot -> ", 1)[1]) for line in stdout.splitlines() if "plot -> " in line]

    def test_plots_without_sensitivity(self):
        out = self.root / "plain"
        result = run("plot", self.sweep, "--out", out)
        names = sorted(p.name for p in self.plotted(result.stdout))
        self.assertEqual(names, ["loss_step.png", "loss_time.png", "stat_in_rms.png"])
        for p in self.plotted(result.stdout):
            self.assert_png(p)

    def test_sensitivity_when_present(self):
        """`normlab analyze sensitivity` files beside two runs of different normalizers give
        sensitivity.png; a file of another format beside them is skipped, not an error."""
        runs = sorted((self.sweep / "runs").glob("*.h5"))
        made = []
        for norm in ("layernorm", "rmsnorm"):
            path = next(p for p in runs if f"norm-{norm}" in p.name and ".sensitivity" not in p.name)
            run("analyze", "sensitivity", path, "--batches", 1)
            made.append(path.with_name(path.name.removesuffix(".h5") + ".sensitivity.h5"))
        foreign = self.sweep / "runs" / "foreign.sensitivity.h5"
        with h5py.File(foreign, "w") as f:
            f.create_group("sensitivity")["offset"] = np.array([0.5, 0.2])
        made.append(foreign)
        try:
            for path in made[:2]:
                self.assertTrue(path.exists(), path)
            out = self.root / "with_sensitivity"
            env = dict(os.environ, PYTHONPATH=str(REPO / "analysis"))
            result = subprocess.run([sys.executable, "-m", "normlab.plots", str(self.sweep), "--out",
                                     str(out), "--stat", "in_mean_share"],
                                    capture_output=True, text=True, env=env)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("foreign.sensitivity.h5: not a normlab-sensitivity file", result.stderr)
            names = sorted(p.name for p in self.plotted(result.stdout))
            self.assertEqual(names, ["loss_step.png", "loss_time.png", "sensitivity.png",
                                     "stat_in_mean_share.png"])
            self.assert_png(out / "sensitivity.png")
        finally:
            for path in made:
                path.unlink(missing_ok=True)

    def test_errors(self):
        bad = run("plot", self.sweep, "--stat", "in_rmss", "--out", self.root / "bad", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("no statistic 'in_rmss'", bad.stderr)
        self.assertIn("in_rms", bad.stderr)
        bad = run("plot", self.root / "nowhere", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("not a sweep directory", bad.stderr)


class FiguresTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root, cls.sweep = SHARED["root"] / "figures", SHARED["sweep"]
        cls.root.mkdir()
        # No normalizer and partial centering: only the latter has a lambda, at its norm sites.
        cls.lambda_sweep = sweep(cls.root, "lambda", '"model.norm" = ["none", "pcnorm"]\nseed = [0]\n')

    def test_png_dpi_and_pdf_beside(self):
        result = run("plot", self.sweep, "--out", self.root / "dpi")
        pngs = [Path(line.split("plot -> ", 1)[1]) for line in result.stdout.splitlines() if "plot -> " in line]
        self.assertEqual(len(pngs), 3)
        for png in pngs:
            dpi = png_dpi(png)
            self.assertIsNotNone(dpi, png)
            self.assertGreaterEqual(min(dpi), 199.5, png)
            height, width = matplotlib.image.imread(png).shape[:2]
            self.assertGreaterEqual(width / dpi[0], 4, f"{png}: under 4 inches wide")  # not a thumbnail
            pdf = png.with_suffix(".pdf")
            self.assertTrue(pdf.exists(), pdf)
            data = pdf.read_bytes()
            self.assertTrue(data.startswith(b"%PDF-"), pdf)
            self.assertIn(b"%%EOF", data[-64:], pdf)
            self.assertGreater(len(data), 2000, pdf)

    def test_legend_names_key_and_seeds(self):
        with load_runs(self.sweep / "runs") as runs:
            groups = groups_of(self.sweep, runs)
            self.assertEqual(list(groups), ["model.norm=layernorm", "model.norm=rmsnorm"])
            fig = plots.loss_figure(groups, "step", 1)
            # One legend below the panels: the rows first, then the chance loss the runs carry.
            texts = [t.get_text() for t in fig.legends[0].get_texts()]
            self.assertEqual(texts[:2], ["model.norm=layernorm (n = 2 seeds)", "model.norm=rmsnorm (n = 2 seeds)"])
            chance = sorted({r.chance_loss for r in runs})  # the unigram entropy of each seed's split
            self.assertTrue(np.isfinite(chance).all())
            span = f"{chance[0]:.3g} nats" if len(chance) == 1 else f"{chance[0]:.3g}–{chance[-1]:.3g} nats, by run"
            self.assertEqual(texts[2:], [f"chance loss of the task ({span})"])
            self.assertEqual(fig._suptitle.get_text(), "mean over seeds, band from the lowest to the highest seed")
            self.assertIn("nats", fig.axes[0].get_ylabel())
            for ax in fig.axes:
                self.assertEqual(ax.get_xlabel(), "training step")
            stat = plots.stat_figure(groups, "in_rms")
            self.assertEqual([ax.get_title() for ax in visible_axes(stat)],
                             ["model.norm=layernorm (n = 2 seeds)", "model.norm=rmsnorm (n = 2 seeds)"])

    def test_panels_share_y_by_default(self):
        with load_runs(self.sweep / "runs") as runs:
            groups = groups_of(self.sweep, runs)
            for fig in (plots.stat_figure(groups, "in_rms"), plots.loss_figure(groups, "step", 1)):
                first, second = visible_axes(fig)[:2]
                self.assertTrue(first.get_shared_y_axes().joined(first, second))
                self.assertEqual(first.get_ylim(), second.get_ylim())
            fig = plots.stat_figure(groups, "in_rms", sharey=False)
            first, second = visible_axes(fig)[:2]
            self.assertFalse(first.get_shared_y_axes().joined(first, second))
        self.assertEqual(plots.main([str(self.sweep), "--out", str(self.root / "unshared"), "--no-sharey"]), 0)
        self.assertTrue((self.root / "unshared" / "stat_in_rms.pdf").exists())

    def test_unknown_site_is_an_error_naming_the_valid_ones(self):
        bad = run("plot", self.sweep, "--sites", "norm_final,block0.attn.nrm", "--out", self.root / "bad_site",
                  check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("--sites", bad.stderr)
        self.assertIn("'block0.attn.nrm'", bad.stderr)
        self.assertIn("block0.attn.norm", bad.stderr)
        self.assertFalse((self.root / "bad_site" / "stat_in_rms.png").exists())
        good = run("plot", self.sweep, "--sites", "norm_final", "--out", self.root / "good")
        self.assertIn("stat_in_rms.png", good.stdout)

    def test_no_empty_panel(self):
        """lambda is NaN throughout in the run without a normalizer and at pcnorm's residual sites:
        one panel (pcnorm), listing the sites with a lambda only."""
        with load_runs(self.lambda_sweep / "runs") as runs:
            groups = groups_of(self.lambda_sweep, runs)
            self.assertEqual(sorted(groups), ["model.norm=none", "model.norm=pcnorm"])
            pc = next(r for r in runs if r.flat_config["model.norm"] == "pcnorm")
            lam = pc.stat("lambda")
            with_lambda = [site for site in lam.columns if lam[site].notna().any()]
            self.assertTrue(0 < len(with_lambda) < len(lam.columns), with_lambda)  # residual has none
            fig = plots.stat_figure(groups, "lambda")
            axes = visible_axes(fig)
            self.assertEqual([ax.get_title() for ax in axes], ["model.norm=pcnorm (n = 1 seed)"])
            listed = [t.get_text() for t in axes[0].get_legend().get_texts()]
            self.assertEqual(listed, with_lambda)
            self.assertIsNone(plots.stat_figure({"none": groups["model.norm=none"]}, "lambda"))

    def test_sensitivity_log_axis_and_epsilon(self):
        runs = sorted((self.lambda_sweep / "runs").glob("*.h5"))
        for path in runs:
            run("analyze", "sensitivity", path, "--batches", 1, "--reference", 0.05)
        by_norm = plots.read_sensitivities(self.lambda_sweep)
        self.assertEqual(sorted(by_norm), ["none", "pcnorm"])
        fig = plots.sensitivity_figure(by_norm)
        self.assertIn("ε = 0.05", fig._suptitle.get_text())
        for ax in fig.axes:
            self.assertEqual(ax.get_yscale(), "log")
            self.assertIn("nats", ax.get_ylabel())
        self.assertTrue(fig.axes[0].get_shared_y_axes().joined(fig.axes[0], fig.axes[1]))
        result = run("plot", self.lambda_sweep, "--out", self.root / "sens")
        self.assertTrue((self.root / "sens" / "sensitivity.pdf").exists())
        self.assertGreaterEqual(min(png_dpi(self.root / "sens" / "sensitivity.png")), 199.5)
        self.assertIn("sensitivity.png", result.stdout)

    def test_numerics_figure(self):
        h5, png = self.root / "numerics.h5", self.root / "numerics.png"
        run("numerics", "--quick", "--out", h5, "--plot", png)
        self.assertGreaterEqual(min(png_dpi(png)), 199.5)
        self.assertTrue(png.with_suffix(".pdf").read_bytes().startswith(b"%PDF-"))


if __name__ == "__main__":
    unittest.main()
