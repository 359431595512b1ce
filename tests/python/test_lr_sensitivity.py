"""`normlab plot SWEEP_DIR --lr optim.lr` on a synthetic sweep written here with h5py: 2 norms x
2 placements x 2 qk_norm settings x 4 log-spaced lrs x 3 seeds, with known losses, some runs
stuck, some diverged (one at its first step, without any row), one interrupted, and the
chance loss on every file.

The LR sensitivity (Wortsman et al. 2023, arXiv:2309.14322, section 2.2) is computed here again,
from the chosen values, with numpy and tabulated t quantiles, not with normlab's module:
per seed mean over lrs of min(ℓ, ℓ₀) - ℓ*, diverged runs at ℓ₀; then mean and 95% t interval
over the seeds that have a result at every lr. Each rule has a control showing that the data
tell it from the obvious mistake (a diverged run counted at its last val loss, a stuck run left
uncapped, an incomplete seed kept), so the comparison can fail.
"""

import csv
import tempfile
import unittest
from pathlib import Path

import h5py
import matplotlib.image
import numpy as np
from matplotlib.collections import PathCollection

from support import normlab as run

from normlab import plots  # noqa: E402 (support puts analysis/ on the path)
from normlab.frames import load_runs, summary  # noqa: E402

NORMS = ["layernorm", "rmsnorm"]
PLACEMENTS = ["pre", "post"]
QK = [False, True]
LRS = [1e-3 * 10 ** (k / 2) for k in range(4)]  # evenly log-spaced: the mean is log-uniform
SEEDS = [0, 1, 2]
STEPS, EVALS = 20, [4, 9, 14, 19]
CHANCE = 3.3
# Exact two-sided 95% t quantiles t(0.975, df) (scipy.stats.t.ppf, printed to full precision).
T975 = {1: 12.706204736432095, 2: 4.302652729911275}

DIVERGED = {("layernorm", "post", False, 3): {0, 1, 2}, ("rmsnorm", "post", False, 3): {0, 1, 2},
            ("rmsnorm", "pre", True, 3): {0}}
DIVERGED_AT_START = ("rmsnorm", "pre", True, 3, 0)  # no step, no evaluation: ℓ₀ from its seed
STUCK = {("layernorm", "post", False, 2, 1): 3.32,  # near chance, under ℓ₀
         ("rmsnorm", "post", False, 2, 2): 4.60}    # above ℓ₀: counts ℓ₀
INTERRUPTED = ("layernorm", "pre", True, 0, 2)      # seed 2 of its row is incomplete
DIVERGED_LAST_VAL = 2.0  # a diverged run's last evaluation: low, so counting it would show


def initial_loss(seed):
    """ℓ₀: the same for every lr of a seed (step 0 comes before any update)."""
    return 4.17 + 0.01 * seed


def final_loss(norm, placement, qk, i, seed):
    """A U-shaped final loss over the lr index i, its bottom by row, its width by seed (so that
    the seeds' sensitivities differ)."""
    bottom = {"layernorm": 1.60, "rmsnorm": 1.55}[norm] + (0.1 if placement == "post" else 0.0)
    best_i = 1 if placement == "post" and not qk else 2
    return bottom + 0.12 * (1 + 0.3 * seed) * (i - best_i) ** 2 - (0.05 if qk else 0.0) + 0.02 * seed ** 2


def outcome(norm, placement, qk, i, seed):
    """(status, last val loss) as the test chose them."""
    if seed in DIVERGED.get((norm, placement, qk, i), ()):
        return "diverged", DIVERGED_LAST_VAL
    if (norm, placement, qk, i, seed) in STUCK:
        return "stuck", STUCK[(norm, placement, qk, i, seed)]
    if (norm, placement, qk, i, seed) == INTERRUPTED:
        return "interrupted", final_loss(norm, placement, qk, i, seed)
    return "completed", final_loss(norm, placement, qk, i, seed)


def config_toml(norm, placement, qk, lr, seed):
    return (f'name = "x"\nseed = {seed}\n[model]\nfamily = "transformer"\nnorm = "{norm}"\n'
            f'placement = "{placement}"\nqk_norm = {str(qk).lower()}\n'
            f"[optim]\nlr = {lr!r}\nwarmup = 0\n[train]\nsteps = {STEPS}\n")


def scaled(f, name, values, axis):
    f[name] = values
    f[name].dims[0].attach_scale(f[axis])


def write_run(path, key, run_id):
    """A run file as docs/FORMAT.md describes it, with the losses chosen above."""
    norm, placement, qk, i, seed = key
    status, last_val = outcome(*key)
    steps = 0 if key == DIVERGED_AT_START else (12 if status == "diverged" else STEPS)
    evals = [e for e in EVALS if e < steps]
    train = np.linspace(initial_loss(seed), last_val, steps) if steps else np.zeros(0)
    val = np.linspace((initial_loss(seed) + last_val) / 2, last_val, len(evals))
    sites = ["block0.attn.norm", "norm_final"]
    with h5py.File(path, "w") as f:
        f.attrs.update({"format": "normlab-run", "format_version": 3, "run_id": run_id,
                        "status": status, "chance_loss": CHANCE,
                        "config_toml": config_toml(norm, placement, qk, LRS[i], seed)})
        for axis, values in (("step", np.arange(steps)), ("eval_step", np.array(evals, dtype=np.int64)),
                             ("stat_step", np.arange(0, steps, 5)), ("site", np.array(sites, dtype=object))):
            f.create_dataset(axis, data=values, dtype=h5py.string_dtype() if axis == "site" else None)
            f[axis].make_scale(axis)
        for name, values in (("train_loss", train), ("lr", np.full(steps, LRS[i])),
                             ("grad_norm", np.ones(steps)), ("step_time", np.full(steps, 1e-3))):
            scaled(f, name, values, "step")
        scaled(f, "val_loss", val, "eval_step")
        scaled(f, "val_metric", np.zeros(len(evals)), "eval_step")
        scaled(f, "site_kind", np.array([norm, norm], dtype=object), "site")
        rms = np.outer(1 + np.arange(len(f["stat_step"])), [1.0, 2.0]) * (3.0 if status == "stuck" else 1.0)
        f["in_rms"] = rms
        f["in_rms"].dims[0].attach_scale(f["stat_step"])
        f["in_rms"].dims[1].attach_scale(f["site"])


def make_sweep(root, name="sweep", norms=NORMS, placements=PLACEMENTS, qks=QK):
    """runs/ and a manifest.toml naming the axes and the runs in expansion order."""
    sweep = root / name
    (sweep / "runs").mkdir(parents=True)
    ids = []
    for norm in norms:
        for placement in placements:
            for qk in qks:
                for i in range(len(LRS)):
                    for seed in SEEDS:
                        run_id = f"{norm}-{placement}-qk{int(qk)}-lr{i}-s{seed}"
                        write_run(sweep / "runs" / f"{run_id}.h5", (norm, placement, qk, i, seed), run_id)
                        ids.append(run_id)
    (sweep / "manifest.toml").write_text(
        'axes = ["model.norm", "model.placement", "model.qk_norm", "optim.lr", "seed"]\n'
        f"runs = {ids!r}\n".replace("'", '"'))
    return sweep


def hand_row(norm, placement, qk, diverged_at=None, stuck_uncapped=False, keep_incomplete=False):
    """The row computed here: per-seed sensitivities, mean, interval, best lr and loss. The
    keyword arguments make the mistakes the controls look for."""
    per_seed, capped_rows = {}, {}
    for seed in SEEDS:
        l0 = initial_loss(seed)
        statuses = [outcome(norm, placement, qk, i, seed) for i in range(len(LRS))]
        if any(s == "interrupted" for s, _ in statuses) and not keep_incomplete:
            continue
        capped = []
        for status, last in statuses:
            if status == "diverged":
                capped.append(last if diverged_at == "last" else l0)
            elif status == "stuck" and stuck_uncapped:
                capped.append(last)
            else:
                capped.append(min(last, l0))
        capped = np.array(capped)
        finite_best = min(c for c, (s, _) in zip(capped, statuses) if s != "diverged")
        per_seed[seed] = capped.mean() - finite_best
        capped_rows[seed] = capped
    x = np.array(list(per_seed.values()))
    half = T975[len(x) - 1] * x.std(ddof=1) / np.sqrt(len(x))
    mean_by_lr = np.mean(list(capped_rows.values()), axis=0)
    best = int(np.argmin(mean_by_lr))
    return dict(per_seed=per_seed, mean=x.mean(), low=x.mean() - half, high=x.mean() + half,
                best_lr=LRS[best], best_loss=mean_by_lr[best])


class LrSensitivityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.root = Path(cls.tmp.name)
        cls.sweep = make_sweep(cls.root)
        cls.out = cls.root / "plots"
        cls.result = run("plot", cls.sweep, "--lr", "optim.lr", "--out", cls.out)
        with open(cls.out / "lr_sensitivity.csv", newline="") as f:
            cls.rows = {(r["model.norm"], r["model.placement"], r["model.qk_norm"]): r
                        for r in csv.DictReader(f)}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def row(self, norm, placement, qk):
        return self.rows[(norm, placement, str(qk))]

    def assert_close(self, got, want, what):
        self.assertAlmostEqual(float(got), float(want), delta=1e-9 * max(1.0, abs(want)), msg=what)

    def test_every_row_against_the_hand_computation(self):
        self.assertEqual(len(self.rows), len(NORMS) * len(PLACEMENTS) * len(QK))
        for norm in NORMS:
            for placement in PLACEMENTS:
                for qk in QK:
                    want, got = hand_row(norm, placement, qk), self.row(norm, placement, qk)
                    name = f"{norm}/{placement}/qk={qk}"
                    self.assert_close(got["lr_sensitivity"], want["mean"], name)
                    self.assert_close(got["ci95_low"], want["low"], name)
                    self.assert_close(got["ci95_high"], want["high"], name)
                    self.assert_close(got["best_lr"], want["best_lr"], name)
                    self.assert_close(got["best_loss"], want["best_loss"], name)
                    self.assertEqual(int(got["seeds"]), len(want["per_seed"]), name)
                    per_seed = dict(p.split("=") for p in got["per_seed"].split(";"))
                    for seed, value in want["per_seed"].items():
                        self.assert_close(per_seed[str(seed)], value, f"{name} seed {seed}")

    def test_the_data_tell_each_rule_from_its_mistake(self):
        """Controls: the same computation with one rule broken differs from the output."""
        cases = [(("layernorm", "post", False), dict(diverged_at="last")),
                 (("rmsnorm", "post", False), dict(stuck_uncapped=True)),
                 (("layernorm", "pre", True), dict(keep_incomplete=True))]
        for key, mistake in cases:
            got = float(self.row(*key)["lr_sensitivity"])
            wrong = hand_row(*key, **mistake)["mean"]
            self.assertGreater(abs(got - wrong), 1e-3, f"{key} {mistake}: the data cannot tell")

    def test_counts_and_fallback(self):
        row = self.row("rmsnorm", "pre", True)  # seed 0 diverged at its first step: ℓ₀ from seed 0
        self.assertEqual((row["diverged"], row["stuck"], row["seeds"]), ("1", "0", "3"))
        self.assertEqual(self.row("layernorm", "pre", True)["seeds_incomplete"], "1")
        self.assertEqual(self.row("layernorm", "pre", True)["no_result"], "1")
        self.assertEqual(self.row("layernorm", "post", False)["diverged"], "3")
        md = (self.out / "lr_sensitivity.md").read_text()
        self.assertIn("Wortsman", md)
        self.assertIn("1 incomplete, left out", md)
        self.assertNotIn("not evenly log-spaced", md)

    def test_figures_written(self):
        names = sorted(Path(line.split(" -> ", 1)[1]).name for line in self.result.stdout.splitlines()
                       if " -> " in line)
        self.assertEqual(names, ["loss_lr.png", "loss_step.png", "loss_time.png", "lr_sensitivity.csv",
                                 "lr_sensitivity.md", "stat_in_rms.png"])
        for name in ("loss_lr.png", "loss_step.png", "stat_in_rms.png"):
            image = matplotlib.image.imread(self.out / name)
            self.assertGreater(float(np.std(image)), 0.01, f"{name} is blank")
            self.assertTrue((self.out / name).with_suffix(".pdf").exists())

    def test_lr_figure_draws_failures_at_their_counted_value(self):
        with load_runs(self.sweep / "runs") as runs:
            fig = plots.lr_figure_of(self.sweep, runs, "optim.lr")
            self.assertEqual([ax.get_title() for ax in fig.axes[:2]],
                             ["model.placement=pre", "model.placement=post"])
            self.assertEqual(fig.axes[0].get_xscale(), "log")
            post = fig.axes[1]
            crosses = [c for c in post.collections if isinstance(c, PathCollection)]
            offsets = np.concatenate([c.get_offsets() for c in crosses])
            for seed in SEEDS:  # every diverged run of the post row at lr index 3, at its ℓ₀
                hit = np.isclose(offsets[:, 0], LRS[3]) & np.isclose(offsets[:, 1], initial_loss(seed))
                self.assertTrue(hit.any(), f"no marker at ({LRS[3]}, {initial_loss(seed)})")
            legend = [t.get_text() for t in post.get_legend().get_texts()]
            self.assertTrue(any(t.startswith("norm=layernorm, qk_norm=False: LR sens.") for t in legend), legend)

    def test_loss_plot_keeps_failures_out_of_the_mean(self):
        with load_runs(self.sweep / "runs") as runs:
            runs = [r for r in runs if r.steps_done > 0]
            groups = plots.group_runs(plots.in_sweep_order(self.sweep, runs), plots.row_keys(self.sweep, runs))
            label = "model.norm=layernorm, model.placement=post, model.qk_norm=False, optim.lr=0.01"
            self.assertIn(label, groups)
            fig = plots.loss_figure({label: groups[label]}, "step", 1)
            ax_train, ax_val = fig.axes
            texts = [t.get_text() for t in fig.legends[0].get_texts()]
            self.assertEqual(texts[0], f"{label} (n = 3 seeds: 1/3 stuck)")
            self.assertIn("stuck run (not in the mean)", texts)
            self.assertIn("not in the mean", fig._suptitle.get_text())
            mean_line = next(line for line in ax_val.lines if line.get_marker() == ".")
            done = [outcome("layernorm", "post", False, 2, s)[1] for s in (0, 2)]
            self.assertAlmostEqual(mean_line.get_ydata()[-1], np.mean(done), places=9)
            dashed = [line for line in ax_val.lines if line.get_linestyle() == "--"]
            self.assertEqual(len(dashed), 1)
            self.assertAlmostEqual(dashed[0].get_ydata()[-1], 3.32, places=9)
            chance = [line for line in ax_train.lines if list(line.get_ydata()) == [CHANCE, CHANCE]]
            self.assertEqual(len(chance), 1, "no chance line")
            self.assertIn("chance loss of the task (3.3 nats)", texts)

    def test_diverged_run_marked_where_it_stopped(self):
        with load_runs(self.sweep / "runs") as runs:
            runs = [r for r in runs if r.steps_done > 0]
            groups = plots.group_runs(plots.in_sweep_order(self.sweep, runs), plots.row_keys(self.sweep, runs))
            label = next(k for k in groups if "layernorm, model.placement=post, model.qk_norm=False" in k
                         and k.endswith(f"optim.lr={LRS[3]:g}"))
            fig = plots.loss_figure({label: groups[label]}, "step", 1)
            crosses = [line for line in fig.axes[0].lines if line.get_marker() == "X"]
            self.assertEqual(len(crosses), 3)
            self.assertEqual({float(c.get_xdata()[0]) for c in crosses}, {11.0})  # 12 steps: 0..11
            self.assertIn("3/3 diverged", fig.legends[0].get_texts()[0].get_text())
            stat = plots.stat_figure({label: groups[label]}, "in_rms")
            self.assertIn("diverged runs' mean dotted", stat._suptitle.get_text())

    def test_frames_expose_status_and_chance_loss(self):
        with load_runs(self.sweep / "runs") as runs:
            table = summary(runs)
        self.assertEqual(set(table["status"]), {"completed", "stuck", "diverged", "interrupted"})
        self.assertTrue(np.allclose(table["chance_loss"], CHANCE))
        start = table[table["run_id"] == "rmsnorm-pre-qk1-lr3-s0"]["initial_train_loss"]
        self.assertTrue(np.isnan(start.iloc[0]))

    def test_wrong_key_is_an_error_naming_it(self):
        bad = run("plot", self.sweep, "--lr", "optim.lrr", "--out", self.root / "bad", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("'optim.lrr'", bad.stderr)
        self.assertIn("optim.lr", bad.stderr.replace("'optim.lrr'", ""))
        self.assertFalse((self.root / "bad" / "loss_step.png").exists())
        fixed = run("plot", self.sweep, "--lr", "optim.warmup", "--out", self.root / "bad2", check=False)
        self.assertEqual(fixed.returncode, 1)
        self.assertIn("'optim.warmup' is not an axis", fixed.stderr)

    def test_automatic_when_lr_is_an_axis_and_off_with_none(self):
        small = make_sweep(self.root, "small", ["rmsnorm"], ["pre"], [False])  # the figures are quick
        auto = run("plot", small, "--out", self.root / "auto")
        self.assertIn("loss_lr.png", auto.stdout)
        self.assertEqual(len((self.root / "auto" / "lr_sensitivity.csv").read_text().splitlines()), 2)
        off = run("plot", small, "--lr", "none", "--out", self.root / "off")
        self.assertNotIn("loss_lr.png", off.stdout)
        self.assertFalse((self.root / "off" / "lr_sensitivity.csv").exists())


if __name__ == "__main__":
    unittest.main()
