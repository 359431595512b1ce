"""docs/FORMAT.md and the writer agree. The tables of FORMAT.md are parsed: every root attribute,
dataset, statistic and site name in real run files is documented, with its type, shape and
dimension scales, and everything documented is in the files."""

import re
import tempfile
import unittest

import h5py
import numpy as np

import support
import normlab

FORMAT_MD = support.REPO / "docs" / "FORMAT.md"


def tables(markdown):
    """{heading: the body rows of the table under it, each a list of cells}."""
    found, heading = {}, None
    for line in markdown.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(set(c) <= set("-: ") for c in cells):  # the rule under the header
                found.setdefault(heading, []).append(cells)
    return {h: rows[1:] for h, rows in found.items()}  # without the header row


def names(cell):
    """The `backticked` names in a cell."""
    return re.findall(r"`([^`]+)`", cell)


def h5_type(attr_or_dataset_type):
    """The FORMAT.md spelling of an HDF5 type: string (variable-length UTF-8), int64, float64."""
    t = attr_or_dataset_type
    if isinstance(t, h5py.h5t.TypeStringID):
        return "string" if t.is_variable_str() and t.get_cset() == h5py.h5t.CSET_UTF8 else repr(t)
    return str(t.dtype)


def site_regex(pattern):
    """A site pattern of FORMAT.md (`block{l}.attn.norm`) as a regular expression."""
    return re.compile(re.escape(pattern).replace(re.escape("{l}"), r"\d+"))


def scale_name(dataset, dim):
    """The name of the dimension scale attached to a dataset's axis, or None."""
    return dataset.dims[dim][0].name.lstrip("/") if len(dataset.dims[dim]) else None


class FormatDocTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = FORMAT_MD.read_text()
        cls.tables = tables(cls.doc)
        cls.tmp = tempfile.TemporaryDirectory()
        out = cls.tmp.name
        # One run per family; between them every kind of site, with and without biases.
        cls.runs = {
            "mlp": support.train(out, "mlp", "model.norm=layernorm", "train.steps=6",
                                 "train.eval_every=3", "stats.every=2"),
            "transformer": support.train(out, "transformer", *support.SMALL_LM,
                                         "model.placement=sandwich", "model.qk_norm=true",
                                         "train.steps=3", config=support.TRANSFORMER),
            "gru": support.train(out, "gru", *support.SMALL_LM, "train.steps=3",
                                 config=support.GRU),
        }

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def section(self, heading):
        self.assertIn(heading, self.tables, f"FORMAT.md has no table under '{heading}'")
        return self.tables[heading]

    def statistics(self):
        return [n for row in self.section("Statistics") for n in names(row[0])]

    def test_version(self):
        title = self.doc.splitlines()[0]
        self.assertEqual(title, f"# The run file, format version {normlab.FORMAT_VERSION}")
        versions = self.section(title.lstrip("# "))
        self.assertEqual(versions[-1][0], str(normlab.FORMAT_VERSION))
        for family, path in self.runs.items():
            with h5py.File(path, "r") as f:
                self.assertEqual(f.attrs["format_version"], normlab.FORMAT_VERSION, family)

    def test_root_attributes(self):
        documented = {n: row[1] for row in self.section("Root attributes") for n in names(row[0])}
        for family, path in self.runs.items():
            with self.subTest(family=family), h5py.File(path, "r") as f:
                self.assertEqual(f.attrs["status"], "completed")  # so `finished` is there too
                self.assertEqual(sorted(f.attrs), sorted(documented))
                for name in f.attrs:
                    self.assertEqual(h5_type(f.attrs.get_id(name).get_type()), documented[name],
                                     f"the type of attribute {name}")

    def test_datasets(self):
        rows = self.section("Datasets")
        scale_rows = [r for r in rows if r[3].startswith("scale of")]
        # The shape letters of the axes: (N) step, (E) eval_step, (S) site, (K) stat_step.
        axis_of_letter = {r[1].strip("()"): names(r[3])[0] for r in scale_rows}
        self.assertEqual(sorted(axis_of_letter.values()),
                         ["eval_step", "site", "stat_step", "step"])
        documented = {}  # name -> (shape letters, type, dimensions cell)
        for row in rows:
            if row[0] == "*statistic*":
                for name in self.statistics():
                    documented[name] = row[1:4]
            elif not row[0].startswith("`checkpoint/"):
                for name in names(row[0]):
                    documented[name] = row[1:4]
        for family, path in self.runs.items():
            with self.subTest(family=family), h5py.File(path, "r") as f:
                root = {n for n, d in f.items() if isinstance(d, h5py.Dataset)}
                self.assertEqual(sorted(root), sorted(documented))
                for name in root:
                    shape, dtype, dims = documented[name]
                    d = f[name]
                    self.assertEqual(h5_type(d.id.get_type()), dtype, f"the type of {name}")
                    axes = [axis_of_letter[s.strip()] for s in shape.strip("()").split(",")]
                    self.assertEqual(d.shape, tuple(len(f[a]) for a in axes),
                                     f"the shape of {name}")
                    if dims.startswith("scale of"):
                        self.assertTrue(h5py.h5ds.is_scale(d.id), f"{name} is not a scale")
                        self.assertEqual(h5py.h5ds.get_scale_name(d.id).decode(), name)
                    else:
                        self.assertEqual([scale_name(d, i) for i in range(d.ndim)], names(dims),
                                         f"the dimension scales of {name}")
                parameters = f["checkpoint"]
                self.assertGreater(len(parameters), 0)
                for name, d in parameters.items():
                    self.assertEqual(str(d.dtype), f.attrs["dtype"], f"checkpoint/{name}")

    def test_statistics(self):
        documented = self.statistics()
        self.assertEqual(len(documented), len(set(documented)))
        for family, path in self.runs.items():
            with self.subTest(family=family), normlab.open_run(path) as run:
                self.assertEqual(sorted(run.statistics), sorted(documented))

    def test_site_names_and_parameters(self):
        """Each family's sites follow its row of the Sites table, in that order, and a site's
        parameters are in the checkpoint as `<site>.gain`, `.bias`, when its statistics say so."""
        patterns = {row[0].strip("`"): names(row[1]) for row in self.section("Sites")}
        for family, path in self.runs.items():
            with self.subTest(family=family), normlab.open_run(path) as run:
                order = [site_regex(p) for p in patterns[family]
                         if p not in run.flat_config]  # the gru row names model.gru_norm
                sites = run.sites()
                checkpoint = run.checkpoint()
                first = run.site_stats().query("stat_step == 0").set_index("site")
                self.assertGreater(len(sites), 0)
                positions = []
                for site in sites.index:
                    matches = [i for i, p in enumerate(order) if p.fullmatch(site)]
                    self.assertEqual(len(matches), 1, f"site {site} against {patterns[family]}")
                    positions.append((sites.loc[site, "layer"], matches[0]))
                self.assertEqual(positions, sorted(positions), "sites out of forward order")
                for site, kind in sites["kind"].items():
                    has_gain = not np.isnan(first.loc[site, "gain_mean"])
                    has_bias = not np.isnan(first.loc[site, "bias_mean"])
                    self.assertEqual(f"{site}.gain" in checkpoint, has_gain, site)
                    self.assertEqual(f"{site}.bias" in checkpoint, has_bias, site)
                    self.assertEqual(has_gain, kind not in ("residual", "none"), site)


if __name__ == "__main__":
    unittest.main()
