#!/usr/bin/python3
"""The repository stands alone (the ctest entry layout.standalone): a clone needs no folder beside
it. Fails, naming every offender, when

  - a tracked file (git ls-files) outside results/ (the record of past runs, which may say where
    their data came from then) names `../shared`, `/work/shared` or `shared/data`;
  - a tracked TOML file gives a data path outside the repository (absolute, or starting with ..);
  - experiments/defaults.toml's data.path is not "" (the data/ folder of the repository);
  - a default data file (data/tinyshakespeare/input.txt, data/mnist/t10k-*) is missing or not
    listed in data/SHA256SUMS;
  - BINARY, run from a directory outside the repository, cannot train one step of the `text` task
    from REPO/data/tinyshakespeare/input.txt or of the `mnist` task with the default data.path.

    /usr/bin/python3 scripts/check_standalone.py REPO BINARY
    /usr/bin/python3 scripts/check_standalone.py --self-test
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import tomllib

PATTERNS = [b"../shared", b"/work/shared", b"shared/data"]
EXCLUDED_PREFIXES = ("results/",)
THIS = "scripts/check_standalone.py"
DEFAULT_FILES = ["tinyshakespeare/input.txt", "mnist/t10k-images-idx3-ubyte.gz",
                 "mnist/t10k-labels-idx1-ubyte.gz"]
DATA_PATH = re.compile(r'^\s*(?:data\.)?path\s*=\s*\[?\s*"([^"]*)"', re.MULTILINE)


def shared_references(repo, files):
    """PATH: pattern, for every file (relative to repo) naming a folder outside the repository."""
    found = []
    for name in files:
        if name == THIS or name.startswith(EXCLUDED_PREFIXES):
            continue
        path = os.path.join(repo, name)
        if not os.path.isfile(path):  # deleted in the work tree, or a submodule
            continue
        with open(path, "rb") as f:
            text = f.read()
        found += [f"{name}: names {p.decode()}" for p in PATTERNS if p in text]
        if name.endswith(".toml"):
            for value in DATA_PATH.findall(text.decode("utf-8", "replace")):
                if value.startswith(("/", "..")):
                    found.append(f"{name}: data path {value!r} lies outside the repository")
    return found


def train_once(binary, cwd, overrides):
    """`normlab train` for one step in cwd (outside the repository): (exit status, output)."""
    command = [binary, "train", "train.steps=1", "train.eval_every=1", *overrides, "--out", cwd]
    r = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr, " ".join(command)


def default_problems(repo, binary):
    problems = []
    with open(os.path.join(repo, "experiments", "defaults.toml"), "rb") as f:
        path = tomllib.load(f).get("data", {}).get("path")
    if path != "":
        problems.append(f"experiments/defaults.toml: data.path = {path!r}; \"\" (data/ in the repository) expected")
    data_dir = os.path.join(repo, "data")
    with open(os.path.join(data_dir, "SHA256SUMS")) as f:
        listed = {line.split()[-1] for line in f if line.strip()}
    for name in DEFAULT_FILES:
        if not os.path.isfile(os.path.join(data_dir, name)):
            problems.append(f"data/{name}: missing (a default data file)")
        if name not in listed:
            problems.append(f"data/{name}: not listed in data/SHA256SUMS")
    # The defaults the binary resolves: both real-data tasks train from a directory outside the
    # repository, and the text task names the file it read.
    with tempfile.TemporaryDirectory() as cwd:
        text = os.path.join(data_dir, "tinyshakespeare", "input.txt")
        for overrides, expected in [
                (["model.family=gru", "model.width=8", "model.depth=1", "train.batch=2", "data.task=text"],
                 f"characters of {text}:"),
                (["data.task=mnist"], "data: MNIST t10k")]:
            status, output, command = train_once(binary, cwd, overrides)
            if status != 0 or expected not in output:
                problems.append(f"{command}: status {status}, expected {expected!r} in its output:\n{output}")
    return problems


def self_test():
    """The check finds a reference in a source and a TOML path outside, and passes results/."""
    with tempfile.TemporaryDirectory() as repo:
        files = {"src/a.cpp": 'const char* p = "../shared/data";\n',
                 "experiments/s.toml": '[set]\ndata.path = "/data/mnist"\n',
                 "experiments/ok.toml": '[data]\npath = "data/mnist"\n',
                 "results/x/README.md": "read from /work/shared/data/mnist then\n",
                 "README.md": "nothing here\n"}
        for name, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(repo, name)), exist_ok=True)
            with open(os.path.join(repo, name), "w") as f:
                f.write(text)
        found = shared_references(repo, sorted(files))
    want = ["experiments/s.toml: data path '/data/mnist' lies outside the repository",
            "src/a.cpp: names ../shared", "src/a.cpp: names shared/data"]
    if found != want:
        print(f"check_standalone self-test: found {found}, expected {want}")
        return 1
    print("check_standalone self-test: ok")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", nargs="?")
    parser.add_argument("binary", nargs="?")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.repo or not args.binary:
        parser.error("REPO and BINARY are required")
    listed = subprocess.run(["git", "-C", args.repo, "ls-files", "-z"], capture_output=True)
    if listed.returncode != 0:
        print(f"check_standalone: {args.repo}: git ls-files failed (not a git checkout?): {listed.stderr.decode().strip()}")
        return 1
    files = [f for f in listed.stdout.decode().split("\0") if f]
    problems = shared_references(args.repo, files) + default_problems(args.repo, os.path.abspath(args.binary))
    for p in problems:
        print(p)
    if problems:
        print(f"check_standalone: {len(problems)} problems: the repository must not need ../shared")
        return 1
    print(f"check_standalone: {len(files)} tracked files, none names ../shared; data defaults in {args.repo}/data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
