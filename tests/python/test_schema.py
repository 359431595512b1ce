"""One schema, no drift: every run-file name the Python reader uses (analysis/normlab/schema.py) is
the C++ writer's (src/io/run_schema.hpp, printed as JSON by the normlab_schema program), the
reader's modules spell no such name themselves, and docs/FORMAT.md documents every name the C++
schema defines."""

import ast
import json
import re
import subprocess
import unittest

import support
from normlab import schema

READER = support.REPO / "analysis" / "normlab"
FORMAT_MD = support.REPO / "docs" / "FORMAT.md"

# The Python prefixes and the namespaces of io::schema they stand for: ATTR_RUN_ID is attr::kRunId.
NAMESPACES = {"ATTR": "attr", "AXIS": "axis", "SERIES": "series", "SITE": "site",
              "STATUS": "status", "SUFFIX": "suffix"}
TOP_LEVEL = {"FORMAT": "kRunFormat", "FORMAT_VERSION": "kRunFormatVersion",
             "CHECKPOINT_GROUP": "kCheckpointGroup"}


def camel(words):
    """["RUN", "ID"] -> "kRunId", the C++ spelling of a constant."""
    return "k" + "".join(w.capitalize() for w in words)


def cpp_value(cpp, python_name):
    """The C++ value of the constant a Python name stands for; KeyError when there is none."""
    if python_name in TOP_LEVEL:
        return cpp[TOP_LEVEL[python_name]]
    prefix, *rest = python_name.split("_")
    if prefix not in NAMESPACES or not rest:
        raise KeyError(f"{python_name}: no prefix of {sorted(NAMESPACES)} and not one of "
                       f"{sorted(TOP_LEVEL)}")
    return cpp[NAMESPACES[prefix]][camel(rest)]


def docstring_nodes(tree):
    """The string constants that are docstrings (of the module, classes and functions)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


class SchemaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        result = subprocess.run([str(support.SCHEMA_BINARY)], capture_output=True, text=True)
        if result.returncode != 0:
            raise AssertionError(f"{support.SCHEMA_BINARY} failed: {result.stderr}")
        cls.cpp = json.loads(result.stdout)
        # Every name of the run file and of the files beside it (not the sweep index's columns).
        c = cls.cpp
        cls.run_file_names = {c["kRunFormat"], c["kCheckpointGroup"], *c["kStatistics"]}
        for group in ("attr", "status", "axis", "series", "site", "suffix"):
            cls.run_file_names.update(c[group].values())

    def test_every_python_name_is_the_cpp_one(self):
        names = [n for n in vars(schema) if n.isupper()]
        self.assertGreaterEqual(len(names), 15)
        for name in names:
            with self.subTest(name=name):
                self.assertEqual(getattr(schema, name), cpp_value(self.cpp, name))

    def test_the_mapping_finds_a_renamed_constant(self):
        # What a drift looks like: a C++ name changed, or a Python name without a C++ constant.
        renamed = json.loads(json.dumps(self.cpp))
        renamed["attr"]["kRunId"] = "run_name"
        self.assertNotEqual(schema.ATTR_RUN_ID, cpp_value(renamed, "ATTR_RUN_ID"))
        with self.assertRaises(KeyError):
            cpp_value(self.cpp, "ATTR_RUN_NAME")
        with self.assertRaises(KeyError):
            cpp_value(self.cpp, "RUNID")

    def test_the_order_of_a_row(self):
        series = self.cpp["series"]
        self.assertEqual(self.cpp["kStepSeries"], [series[k] for k in
                                                   ("kTrainLoss", "kLr", "kGradNorm", "kStepTime")])
        self.assertEqual(self.cpp["kEvalSeries"], [series["kValLoss"], series["kValMetric"]])
        self.assertEqual(len(set(self.cpp["kStatistics"])), len(self.cpp["kStatistics"]))

    def test_site_tables_carry_the_prefix_sites_drops(self):
        for name in self.cpp["site"].values():
            self.assertTrue(name.startswith(schema.AXIS_SITE + "_"), name)

    def test_the_reader_spells_no_run_file_name_itself(self):
        for module in ("runs.py", "frames.py"):
            tree = ast.parse((READER / module).read_text())
            docstrings = docstring_nodes(tree)
            spelled = sorted({node.value for node in ast.walk(tree)
                              if isinstance(node, ast.Constant) and isinstance(node.value, str)
                              and id(node) not in docstrings and node.value in self.run_file_names})
            self.assertEqual(spelled, [], f"{module} spells these itself; use normlab.schema")

    def test_format_md_documents_every_cpp_name(self):
        doc = FORMAT_MD.read_text()
        self.assertIn(f"format version {self.cpp['kRunFormatVersion']}", doc.splitlines()[0])
        # A name is mentioned as a backticked token (`train_loss`), a part of one (`checkpoint/<param>`),
        # or for a suffix, inside one (`NAME.h5.partial`).
        backticked = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", doc, flags=re.S))
        parts = {part for token in backticked for part in re.split(r"[^\w.-]+", token)}

        def mentioned(name):
            return name in parts or (name.startswith(".") and any(name in t for t in backticked))
        checkpoint = {k: v for k, v in self.cpp["resume"].items() if k != "kFormatVersion"}
        names = self.run_file_names | set(checkpoint.values())
        for name in sorted(names):
            with self.subTest(name=name):
                self.assertTrue(mentioned(name), f"docs/FORMAT.md does not mention `{name}`")
        self.assertIn(f"| `format_version` | int64 | {self.cpp['resume']['kFormatVersion']} |", doc)


if __name__ == "__main__":
    unittest.main()
