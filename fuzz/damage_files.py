#!/usr/bin/python3
"""Damages normlab's HDF5 files and counts how the readers take them (issue 15).

    /usr/bin/python3 fuzz/damage_files.py --normlab build/normlab --out /tmp/damage [--count 2000]
    /usr/bin/python3 fuzz/damage_files.py --normlab build/normlab --out /tmp/damage --corpus fuzz/corpus
        (the second form only writes the intact seeds into the fuzzers' seed corpus)

Makes intact seeds with the binary (a finished run file, a killed run's .partial and its resume
checkpoint, an `apply` input written with h5py), then `--count` damaged copies: bit flips, byte
overwrites, truncations, and the targeted damages of issue 15 made with h5py (string attributes
stored as arrays, 0-D axes, a scalar train_loss, evaluations without values, an empty site table,
a transposed checkpoint weight, a damaged float datatype). Each damaged file goes to the commands
that read its class:
    run file    normlab info, normlab analyze sensitivity, normlab collect, normlab table
                (collect and table see it in a sweep directory beside an intact run)
    .partial    normlab info, normlab train --resume (beside the intact checkpoint)
    checkpoint  normlab train --resume (beside the intact .partial)
    apply input normlab apply
and every outcome is counted per input class and command:
    crash       killed by a signal (or a sanitizer's report)
    hang        still running after --timeout seconds (20)
    silent      exit 0 on a targeted damage, with output other than the intact file's (it used
                the damaged object)
    dir-failed  collect or table failed for the whole directory because of the one bad run
    unclear     a non-zero exit whose error does not name the file
    clean       a non-zero exit with an `error:` naming the file; for collect, the bad run's row
                "unreadable" with the reason and the good run indexed (table: the good run's table)
    unaffected  exit 0 on a targeted damage with the intact file's output (it never reads that
                object: `analyze` does not read train_loss)
    benign      exit 0 on a random damage with the intact file's output (padding, free space)
    exit0-changed  exit 0 on a random damage with other output: the bits of a stored value
                flipped, which nothing but a checksum of the data can see (a resume that then
                diverges, exit 3, counts here too)
The damaged files stay in --out (not in the repository); a summary table is printed and written
to --out/summary.md, and every non-clean outcome is listed in --out/outcomes.csv.
"""
import argparse
import collections
import concurrent.futures
import csv
import hashlib
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

import h5py
import numpy as np

TINY = """[model]
family = "mlp"
width = 6
depth = 1
norm = "rmsnorm"
[data]
features = 4
classes = 2
val_size = 8
[train]
steps = {steps}
batch = 4
eval_every = 2
checkpoint_every = {checkpoint_every}
[stats]
every = 1
"""


def run(cmd, timeout, cwd=None):
    """(outcome, returncode, output) of one command; 'hang' after `timeout` seconds."""
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                           errors="replace")
    except subprocess.TimeoutExpired:
        return "hang", None, "", time.monotonic() - start
    return None, p.returncode, p.stdout + p.stderr, time.monotonic() - start


# ---- seeds ----

def attr_text(f, name):
    v = f.attrs[name]
    return v.decode() if isinstance(v, bytes) else str(v)


def state_digest(f):
    """A checkpoint's sha256_state as train/checkpoint_digest.cpp computes it (state_text)."""
    def bits(name):
        return struct.unpack("<Q", struct.pack("<d", float(f.attrs[name])))[0]
    text = ("step=%d\noptimizer_t=%d\ntrain_rng=%s\ndropout_rng=%s\ntrain_loss=%d\nval_loss=%d\n"
            "val_metric=%d\nconfig_toml=%s\n") % (
        int(f.attrs["step"]), int(f.attrs["optimizer_t"]), attr_text(f, "train_rng"),
        attr_text(f, "dropout_rng"), bits("train_loss"), bits("val_loss"), bits("val_metric"),
        attr_text(f, "config_toml"))
    return hashlib.sha256(text.encode()).hexdigest()


def make_seeds(normlab, root):
    seeds = os.path.join(root, "seeds")
    shutil.rmtree(seeds, ignore_errors=True)
    os.makedirs(seeds)
    cfg = os.path.join(seeds, "tiny.toml")
    with open(cfg, "w") as f:
        f.write(TINY.format(steps=4, checkpoint_every=0))
    subprocess.run([normlab, "train", cfg, "--out", os.path.join(seeds, "done"), "--set", 'dtype="float64"'],
                   check=True, capture_output=True)
    run_file = os.path.join(seeds, "done", os.listdir(os.path.join(seeds, "done"))[0])

    # A killed run: SIGKILL as soon as its first checkpoint exists, leaving a .partial its writer
    # never closed and a checkpoint; the checkpoint's config is then cut to 12 steps (and the
    # resume asked for 12), so that each resume trains two steps only.
    long_cfg = os.path.join(seeds, "long.toml")
    with open(long_cfg, "w") as f:
        f.write(TINY.format(steps=20000, checkpoint_every=10).replace("width = 6", "width = 64"))
    killed = os.path.join(seeds, "killed")
    p = subprocess.Popen([normlab, "train", long_cfg, "--out", killed], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    while not any(n.endswith(".resume.h5") for n in os.listdir(killed) if os.path.isdir(killed)) \
            if os.path.isdir(killed) else True:
        time.sleep(0.001)
    time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    name = [n for n in os.listdir(killed) if n.endswith(".h5.partial")][0][:-len(".h5.partial")]
    checkpoint = os.path.join(killed, name + ".resume.h5")
    with h5py.File(checkpoint, "r+") as f:
        step = int(f.attrs["step"])
        text = f.attrs["config_toml"]
        text = text.decode() if isinstance(text, bytes) else text
        if state_digest(f) != attr_text(f, "sha256_state"):
            sys.exit("%s: sha256_state is not what state_digest() computes: update it to "
                     "train/checkpoint_digest.cpp's state_text" % checkpoint)
        f.attrs["config_toml"] = text.replace("steps = 20000", "steps = %d" % (step + 2))
        f.attrs["sha256_state"] = state_digest(f)  # the edit is ours: the checkpoint stays intact
    resume_cfg = os.path.join(seeds, "resume.toml")
    with open(resume_cfg, "w") as f:
        f.write(TINY.format(steps=step + 2, checkpoint_every=10).replace("width = 6", "width = 64"))

    apply_in = os.path.join(seeds, "acts.h5")
    rng = np.random.default_rng(1)
    with h5py.File(apply_in, "w") as f:
        f["x"] = rng.normal(size=(4, 8))
        f["dy"] = rng.normal(size=(4, 8))
        f["gain"] = 1 + 0.1 * rng.normal(size=8)
    return {"run": run_file, "partial": os.path.join(killed, name + ".h5.partial"),
            "checkpoint": checkpoint, "apply": apply_in, "name": name, "resume_cfg": resume_cfg}


# ---- damages ----

def flip_bits(data, rng):
    b = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4, 8, 16])):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def overwrite_bytes(data, rng):
    b = bytearray(data)
    i = rng.randrange(len(b))
    n = rng.choice([1, 2, 4, 8, 16, 64])
    b[i:i + n] = bytes(rng.randrange(256) for _ in range(n))[:len(b) - i]
    return bytes(b)


def truncate(data, rng):
    return data[:rng.randrange(len(data))]


def string_array(f, rng):
    name = rng.choice([a for a in ["format", "status", "run_id", "config_toml", "dtype", "train_rng"]
                       if a in f.attrs])
    n = rng.choice([2, 3, 8, 64])
    f.attrs[name] = np.array(["normlab-run"] * n, dtype=h5py.string_dtype())


def replace(f, name, value):
    if name in f:
        del f[name]
    f[name] = value


def zero_d_axis(f, rng):
    replace(f, rng.choice([a for a in ["step", "eval_step", "stat_step"] if a in f]), np.int64(3))


def scalar_loss(f, rng):
    replace(f, "train_loss", np.float64(1.5))


def no_eval_values(f, rng):
    for name in rng.choice([["val_loss"], ["val_metric"], ["val_loss", "val_metric"]]):
        if name in f:
            del f[name]


def empty_site(f, rng):
    replace(f, "site", np.array([], dtype=h5py.string_dtype()))


def transposed_weight(f, rng):
    weights = [n for n in f["checkpoint"] if f["checkpoint"][n].ndim == 2
               and f["checkpoint"][n].shape[0] != f["checkpoint"][n].shape[1]]
    name = "checkpoint/" + rng.choice(weights)
    replace(f, name, np.ascontiguousarray(f[name][()].T))


def damaged_float(f, rng):
    name = rng.choice([n for n in ["x", "dy", "gain", "params", "optimizer_m", "train_loss"] if n in f])
    values = f[name][()]
    t = h5py.h5t.IEEE_F64LE.copy()
    rng.choice([lambda: t.set_ebias(rng.choice([0, 7, 2000])),
                lambda: t.set_fields(63, 52, 11, 0, 52 - rng.randrange(1, 40)),
                lambda: t.set_norm(h5py.h5t.NORM_NONE)])()
    del f[name]
    space = h5py.h5s.create_simple(values.shape)
    d = h5py.h5d.create(f.id, name.encode(), t, space)
    d.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(values, dtype="<f8"), mtype=t)


def checkpoint_array_param(f, rng):
    replace(f, "params", np.float64(0.5))


TARGETED = {
    "run": [string_array, zero_d_axis, scalar_loss, no_eval_values, empty_site, transposed_weight],
    "partial": [string_array, zero_d_axis, scalar_loss, no_eval_values, empty_site],
    "checkpoint": [string_array, damaged_float, checkpoint_array_param],
    "apply": [damaged_float],
}
RANDOM = [flip_bits, flip_bits, overwrite_bytes, truncate]


def damage(seed_path, kind, out_path, rng, targeted):
    """Writes a damaged copy; returns the damage's name."""
    if targeted:
        fn = rng.choice(TARGETED[kind])
        shutil.copyfile(seed_path, out_path)
        if kind == "partial":  # h5py cannot open a file its writer left open: clear the flag
            subprocess.run(["h5clear", "-s", out_path], check=True, capture_output=True)
        with h5py.File(out_path, "r+") as f:
            fn(f, rng)
        return fn.__name__
    fn = rng.choice(RANDOM)
    with open(seed_path, "rb") as f:
        data = f.read()
    with open(out_path, "wb") as f:
        f.write(fn(data, rng))
    return fn.__name__


# ---- commands ----

def commands(kind, path, seeds, work, normlab):
    """[(command name, argv, cwd, the path the error must name)] for one damaged file."""
    out = []
    if kind in ("run", "partial"):
        out.append(("info", [normlab, "info", path], None))
    if kind == "run":
        out.append(("analyze", [normlab, "analyze", "sensitivity", path, "--out",
                                os.path.join(work, "s.h5"), "--epsilons", "-0.1,0.1", "--batches", "1"], None))
        sweep = os.path.join(work, "sweep")
        os.makedirs(os.path.join(sweep, "runs"))
        shutil.copyfile(seeds["run"], os.path.join(sweep, "runs", "good.h5"))
        shutil.copyfile(path, os.path.join(sweep, "runs", "bad.h5"))
        out.append(("collect", [normlab, "collect", sweep], None))
        out.append(("table", [normlab, "table", sweep, "--format", "csv"], None))
    if kind in ("partial", "checkpoint"):
        rd = os.path.join(work, "resume")
        os.makedirs(rd)
        name = seeds["name"]
        shutil.copyfile(seeds["partial"] if kind == "checkpoint" else path,
                        os.path.join(rd, name + ".h5.partial"))
        shutil.copyfile(seeds["checkpoint"] if kind == "partial" else path,
                        os.path.join(rd, name + ".resume.h5"))
        out.append(("resume", [normlab, "train", seeds["resume_cfg"], "--out", rd, "--resume"], None))
    if kind == "apply":
        out.append(("apply", [normlab, "apply", "--norm", "rmsnorm", "--in", path, "--out",
                              os.path.join(work, "y.h5")], None))
    return out


def normalized(text, path, work):
    """The output with what differs between runs of the same input taken out: paths, timings."""
    text = text.replace(path, "FILE").replace(work, "WORK")
    return re.sub(r"[0-9.e+-]+ ms/step|peak RSS [0-9.]+ MiB", "#", text)


def classify(name, outcome, rc, text, targeted, intact_text, earlier):
    if outcome == "hang":
        return "hang"
    if rc < 0 or rc >= 128 or "Sanitizer" in text:
        return "crash"
    if rc != 0:
        if name in ("collect", "table"):
            return "dir-failed"  # one bad file must not stop the index of the good ones
        if rc == 3 and "diverged after" in text:  # a resume from damaged values that diverged
            return "exit0-changed"
        message = text.partition("error:")[2]
        return "clean" if "FILE" in message or "WORK" in message else "unclear"  # names the file
    if text == intact_text:
        return "unaffected" if targeted else "benign"
    if name == "collect" and ",unreadable," in text:
        return "clean"  # the bad run is a row saying why, the good one is indexed
    if name == "table" and earlier.get("collect") == "clean":
        return "clean"  # the table of the good run (the unreadable one has no figures)
    return "silent" if targeted else "exit0-changed"


def trial(args):
    index, kind, path, seeds, normlab, timeout, targeted, damage_name, intact = args
    work = path + ".work"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    results, verdicts = [], {}
    for name, argv, cwd in commands(kind, path, seeds, work, normlab):
        outcome, rc, text, seconds = run(argv, timeout, cwd)
        if name == "collect" and rc == 0:
            with open(os.path.join(work, "sweep", "index.csv"), errors="replace") as f:
                text += f.read()
        text = normalized(text, path, work)
        verdict = classify(name, outcome, rc, text, targeted, intact.get(name), verdicts)
        verdicts[name] = verdict
        results.append((index, kind, damage_name, name, verdict, rc, round(seconds, 2),
                        text.strip().splitlines()[-1][:200] if text.strip() else ""))
    shutil.rmtree(work, ignore_errors=True)
    return results


def intact_outputs(seeds, normlab, root, timeout):
    """The output of every command on the intact seeds, to tell benign damage from a change."""
    out = {}
    for kind in ("run", "partial", "checkpoint", "apply"):
        path = os.path.join(root, "intact-%s.h5%s" % (kind, ".partial" if kind == "partial" else ""))
        shutil.copyfile(seeds[kind], path)
        work = path + ".work"
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        out[kind] = {}
        for name, argv, cwd in commands(kind, path, seeds, work, normlab):
            _, rc, text, _ = run(argv, timeout, cwd)
            if rc != 0:
                sys.exit("intact %s fails %s: %s" % (kind, name, text))
            if name == "collect":
                with open(os.path.join(work, "sweep", "index.csv"), errors="replace") as f:
                    text += f.read()
            out[kind][name] = (normalized(text, path, work), path)
        shutil.rmtree(work, ignore_errors=True)
    return out


def write_corpus(seeds, corpus):
    for sub, files in {"run_file": [seeds["run"], seeds["partial"]], "checkpoint": [seeds["checkpoint"]],
                       "apply": [seeds["apply"]],
                       "config": [os.path.join(os.path.dirname(__file__), "..", "experiments", n)
                                  for n in ("mlp.toml", "gru.toml", "transformer.toml")]}.items():
        os.makedirs(os.path.join(corpus, sub), exist_ok=True)
        for i, f in enumerate(files):
            name = "seed%d%s" % (i, ".toml" if sub == "config" else ".h5")
            shutil.copyfile(f, os.path.join(corpus, sub, name))
            if f.endswith(".partial"):  # the killed writer's flag cleared: readable without SWMR too
                subprocess.run(["h5clear", "-s", os.path.join(corpus, sub, name)], check=True)
    with open(os.path.join(corpus, "config", "seed9.toml"), "w") as f:
        f.write(TINY.format(steps=4, checkpoint_every=0))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--normlab", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--corpus", help="write the seeds to CORPUS/{run_file,checkpoint,apply,config} and stop")
    a = ap.parse_args()
    normlab = os.path.abspath(a.normlab)
    root = os.path.abspath(a.out)
    os.makedirs(root, exist_ok=True)
    seeds = make_seeds(normlab, root)
    if a.corpus:
        write_corpus(seeds, a.corpus)
        return
    intact = intact_outputs(seeds, normlab, root, a.timeout)
    rng = random.Random(a.seed)
    shares = {"run": 0.35, "partial": 0.25, "checkpoint": 0.2, "apply": 0.2}
    files = os.path.join(root, "files")
    shutil.rmtree(files, ignore_errors=True)
    os.makedirs(files)
    jobs = []
    for i in range(a.count):
        kind = rng.choices(list(shares), weights=list(shares.values()))[0]
        targeted = rng.random() < 0.3
        path = os.path.join(files, "%05d-%s.h5%s" % (i, kind, ".partial" if kind == "partial" else ""))
        damage_name = damage(seeds[kind], kind, path, rng, targeted)
        intact_kind = {k: v[0] for k, v in intact[kind].items()}
        jobs.append((i, kind, path, seeds, normlab, a.timeout, targeted, damage_name, intact_kind))
    rows = []
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
        for results in pool.map(trial, jobs):
            rows.extend(results)
    counts = collections.Counter((r[1], r[3], r[4]) for r in rows)
    verdicts = ["crash", "hang", "silent", "dir-failed", "unclear", "clean", "unaffected", "benign",
                "exit0-changed"]
    lines = ["| input | command | files | " + " | ".join(verdicts) + " |",
             "| --- | --- | ---: | " + " | ".join("---:" for _ in verdicts) + " |"]
    for kind in shares:
        for name in sorted({r[3] for r in rows if r[1] == kind}):
            n = sum(counts[(kind, name, v)] for v in verdicts)
            lines.append("| %s | %s | %d | %s |" % (kind, name, n, " | ".join(str(counts[(kind, name, v)]) for v in verdicts)))
    by_damage = collections.Counter(r[2] for r in rows if r[3] in ("info", "resume", "apply"))
    summary = "\n".join(lines) + "\n\n%d damaged files; damages: %s\nslowest command: %.1f s\n" % (
        a.count, dict(by_damage), max(r[6] for r in rows))
    print(summary)
    with open(os.path.join(root, "summary.md"), "w") as f:
        f.write(summary)
    with open(os.path.join(root, "outcomes.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "input", "damage", "command", "verdict", "exit", "seconds", "last line"])
        w.writerows(r for r in rows if r[4] not in ("clean", "benign", "unaffected"))
    sys.exit(1 if any(counts[(k, n, v)] for k, n, v in counts if v in ("crash", "hang", "silent", "dir-failed")) else 0)


if __name__ == "__main__":
    main()
