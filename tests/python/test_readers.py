"""h5py, the pandas reader (analysis/normlab) and xarray's h5netcdf engine all read real runs of the
three model families, and agree: dimensions, coordinates, shapes, site tables and values."""

import tempfile
import unittest

import h5py
import numpy as np
import xarray as xr

import support
import normlab

MLP_STEPS, MLP_STATS_EVERY = 20, 5
MLP_SITES = ["layer0.norm", "layer1.norm", "layer2.norm"]  # depth 3
TF_STEPS, TF_STATS_EVERY = 7, 3
GRU_STEPS = 4  # with the default stats.every = 10: the first and the last step


class ReadersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        out = cls.tmp.name
        cls.mlp = support.train(out, "mlp", 'model.norm=["layernorm","rmsnorm","none"]',
                                f"train.steps={MLP_STEPS}", "train.eval_every=10",
                                f"stats.every={MLP_STATS_EVERY}")
        cls.transformer = support.train(out, "transformer", *support.SMALL_LM, "model.qk_norm=true",
                                        f"train.steps={TF_STEPS}", f"stats.every={TF_STATS_EVERY}",
                                        config=support.TRANSFORMER)
        cls.gru = support.train(out, "gru", *support.SMALL_LM, "model.depth=2",
                                f"train.steps={GRU_STEPS}", config=support.GRU)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_h5py_reads_the_layout(self):
        with h5py.File(self.mlp, "r") as f:
            self.assertEqual(f.attrs["format"], "normlab-run")
            self.assertEqual(f.attrs["format_version"], 4)
            self.assertEqual(f.attrs["stats_every"], MLP_STATS_EVERY)
            self.assertEqual(list(f["step"][:]), list(range(MLP_STEPS)))
            self.assertEqual(list(f["eval_step"][:]), [9, 19])
            self.assertEqual(list(f["stat_step"][:]),
                             support.expected_stat_steps(MLP_STEPS, MLP_STATS_EVERY))
            self.assertEqual(list(f["site"].asstr()[:]), MLP_SITES)
            self.assertEqual(list(f["site_kind"].asstr()[:]), ["layernorm", "rmsnorm", "none"])
            self.assertEqual(f["in_rms"].shape, (5, 3))

    def test_pandas_reader_matches_h5py(self):
        with normlab.open_run(self.mlp) as run, h5py.File(self.mlp, "r") as f:
            steps = run.steps()
            self.assertEqual(steps.index.name, "step")
            self.assertEqual(sorted(steps.columns), ["grad_norm", "lr", "step_time", "train_loss"])
            np.testing.assert_array_equal(steps["train_loss"], f["train_loss"][:])
            np.testing.assert_array_equal(run.evals()["val_metric"], f["val_metric"][:])
            self.assertEqual(run.evals().index.tolist(), [9, 19])

            sites = run.sites()
            self.assertEqual(sites.index.tolist(), MLP_SITES)
            self.assertEqual(sites["kind"].tolist(), ["layernorm", "rmsnorm", "none"])
            self.assertEqual(sites["layer"].tolist(), [0, 1, 2])
            self.assertEqual(sites["features"].tolist(), [128] * 3)

            wide = run.stat("in_rms")
            self.assertEqual(wide.index.name, "stat_step")
            self.assertEqual(wide.columns.tolist(), sites.index.tolist())
            np.testing.assert_array_equal(wide.to_numpy(), f["in_rms"][:])

            long = run.site_stats()
            self.assertEqual(len(long), 5 * 3)
            self.assertEqual(long.columns.tolist(),
                             ["stat_step", "site", "features", "kind", "layer", *run.statistics])
            row = long[(long["stat_step"] == 10) & (long["site"] == "layer1.norm")]
            self.assertEqual(row["kind"].item(), "rmsnorm")
            self.assertEqual(row["out_rms"].item(), f["out_rms"][2, 1])

            self.assertEqual(run.flat_config["model.norm"], "layernorm,rmsnorm,none")
            self.assertEqual(run.flat_config["model.norm"], run.attrs["norm"])
            self.assertEqual(run.flat_config["stats.every"], MLP_STATS_EVERY)
            checkpoint = run.checkpoint()
            np.testing.assert_array_equal(checkpoint["layer0.norm.bias"],
                                          f["checkpoint/layer0.norm.bias"][:])

    def test_xarray_sees_dimensions_and_coordinates(self):
        with xr.open_dataset(self.mlp, engine="h5netcdf") as ds, normlab.open_run(self.mlp) as run:
            self.assertEqual(dict(ds.sizes), {"step": MLP_STEPS, "eval_step": 2, "stat_step": 5,
                                              "site": 3})
            for dim in ("step", "eval_step", "stat_step", "site"):
                self.assertIn(dim, ds.indexes, f"{dim} is not a coordinate")
            self.assertEqual(ds["train_loss"].dims, ("step",))
            self.assertEqual(ds["val_loss"].dims, ("eval_step",))
            self.assertEqual(ds["site_kind"].dims, ("site",))
            for name in run.statistics:
                self.assertEqual(ds[name].dims, ("stat_step", "site"), name)
            self.assertEqual(ds["site"].values.tolist(), MLP_SITES)
            self.assertEqual(ds["stat_step"].values.tolist(),
                             support.expected_stat_steps(MLP_STEPS, MLP_STATS_EVERY))
            self.assertEqual(ds["in_std"].sel(site="layer2.norm", stat_step=15).item(),
                             run.stat("in_std").loc[15, "layer2.norm"])

    def test_run_dataset_has_site_coordinates_and_config(self):
        with normlab.open_run(self.transformer) as run:
            ds = run.dataset()
            sites = run.sites()
        for column in ("kind", "layer", "features"):
            self.assertIn(f"site_{column}", ds.coords)
            self.assertEqual(ds[f"site_{column}"].values.tolist(), sites[column].tolist())
        self.assertEqual(ds.attrs["model.qk_norm"], True)
        self.assertEqual(ds.attrs["train.steps"], TF_STEPS)
        self.assertEqual(ds.attrs["run_id"], "transformer")
        self.assertEqual(ds["stat_step"].values.tolist(),
                         support.expected_stat_steps(TF_STEPS, TF_STATS_EVERY))
        # Selecting by the site coordinates works across the stat_step dimension.
        residual = ds["in_rms"].where(ds["site_kind"] == "residual", drop=True)
        self.assertEqual(residual["site"].values.tolist(), ["block0.residual", "block1.residual"])

    def test_transformer_sites(self):
        with normlab.open_run(self.transformer) as run:
            sites = run.sites()
            stats = run.site_stats()
            stat_steps = run.stat("in_rms").index.tolist()
        per_block = ["attn.norm", "attn.norm_q", "attn.norm_k", "mlp.norm", "residual"]
        self.assertEqual(sites.index.tolist(),
                         [f"block{l}.{s}" for l in range(2) for s in per_block] + ["norm_final"])
        self.assertEqual(sites.loc["block1.residual", "kind"], "residual")
        self.assertEqual(sites.loc["block0.mlp.norm", "kind"], "rmsnorm")
        self.assertEqual(sites.loc["norm_final", "layer"], 2)  # the number of blocks
        self.assertEqual(sites.loc["block1.attn.norm_q", "features"], 32 // 4)  # head_dim
        self.assertEqual(sites.loc["block0.attn.norm", "features"], 32)
        self.assertEqual(stat_steps, support.expected_stat_steps(TF_STEPS, TF_STATS_EVERY))
        residual = stats[stats["kind"] == "residual"]
        self.assertTrue(residual[["in_rms", "in_mean", "grad_in_rms"]].notna().all().all())
        self.assertTrue(residual[["out_rms", "gain_mean", "update_ratio"]].isna().all().all())

    def test_gru_sites(self):
        with normlab.open_run(self.gru) as run:
            sites = run.sites()
            stat_steps = run.stat("in_rms").index.tolist()
        self.assertEqual(sites.index.tolist(),
                         ["gru0.norm_ih", "gru0.norm_hh", "gru1.norm_ih", "gru1.norm_hh"])
        self.assertEqual(sites["layer"].tolist(), [0, 0, 1, 1])
        self.assertEqual(sites["features"].tolist(), [3 * 32] * 4)  # the three gates
        self.assertEqual(stat_steps, [0, GRU_STEPS - 1])

    def test_statistics_are_consistent(self):
        """Relations the definitions in docs/FORMAT.md imply, on every site of every run."""
        for path in (self.mlp, self.transformer, self.gru):
            with normlab.open_run(path) as run:
                s = run.site_stats()
            with self.subTest(run=path.name):
                self.assertTrue(s["in_mean_share"].between(0, 1).all())
                self.assertTrue(s["in_abs_mean_over_rms"].between(0, 1).all())
                self.assertTrue((s["in_std"] <= s["in_rms"] * (1 + 1e-12)).all())
                self.assertTrue((s["in_max_abs"] >= s["in_rms"]).all())
                self.assertTrue((s["grad_in_rms"] > 0).all())
                first = s[(s["stat_step"] == 0) & s["kind"].isin(["rmsnorm", "layernorm"])]
                self.assertTrue((first["gain_mean"] == 1).all() and (first["gain_std"] == 0).all())
        with normlab.open_run(self.mlp) as run:
            first = run.site_stats().query("stat_step == 0").set_index("site")
        self.assertEqual(first.loc["layer0.norm", "bias_mean"], 0)  # layernorm: bias from 0
        self.assertTrue(np.isnan(first.loc["layer1.norm", "bias_mean"]))  # rmsnorm: no bias
        none = first.loc["layer2.norm"]  # output = input, no parameters
        self.assertAlmostEqual(none["out_rms"], none["in_rms"], delta=1e-6 * none["in_rms"])
        self.assertTrue(np.isnan(none[["gain_mean", "bias_mean", "lambda"]].astype(float)).all())


if __name__ == "__main__":
    unittest.main()
