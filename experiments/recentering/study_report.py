"""The outputs of the re-centering study: OUT/tables.md and one CSV per table, plus the
recommendation test's `normlab table` and `normlab bench pair` output (run_study.py calls
write_all). Numbers only: the conclusions go into OUT/README.md by hand."""
import csv
import math
import os
import subprocess
import sys

import study_eval as ev

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def shown(path):
    """A path as the tables show it: relative to the repository when inside it."""
    rel = os.path.relpath(path, REPO)
    return path if rel.startswith("..") else rel

KIND = {"L": "layernorm", "R": "rmsnorm", "P": "pcnorm"}


def fmt(v, digits=4):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:+.{digits}f}" if digits == 4 else f"{v:.{digits}f}"
    return str(v)


def stack_text(codes):
    return "[" + ",".join(KIND[c] for c in codes) + "]"


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def unit_name(f, s):
    """The name of site (unit) s: an MLP layer's norm, or a Transformer block."""
    return f"block{s}" if f["cfg"].get("experiment") == "transformer.toml" else f"layer{s}.norm"


def truth_rows(found, truth):
    rows = []
    for name, f in found.items():
        d = f["depth"]
        for s in range(d):
            rm = ev.t_interval(truth[name]["remove"][s])
            ad = ev.t_interval(truth[name]["add"][s])
            rows.append({"config": name, "site": unit_name(f, s), "n": len(truth[name]["remove"][s]),
                         "delta_remove": rm[0], "delta_remove_lo": rm[1], "delta_remove_hi": rm[2],
                         "delta_add": ad[0], "delta_add_lo": ad[1], "delta_add_hi": ad[2],
                         "needs_centering": truth[name]["labels"][s]})
    return rows


def loss_rows(found):
    rows = []
    for name, f in found.items():
        for codes, by_seed in sorted(f["losses"].items()):
            m, lo, hi = ev.t_interval(list(by_seed.values()))
            status = f["status"][codes]
            rows.append({"config": name, "stack": stack_text(codes), "n": len(by_seed),
                         "val_loss": m, "val_loss_lo": lo, "val_loss_hi": hi,
                         "stuck": status.count("stuck"), "diverged": status.count("diverged")})
    return rows


def predictor_rows(found, features):
    rows = []
    for name, f in found.items():
        for s in range(f["depth"]):
            row = {"config": name, "site": unit_name(f, s)}
            row.update({label: float(v[s]) for label, v in features[name].items()})
            rows.append(row)
    return rows


def run_tool(cmd, dest):
    """Runs a normlab command, keeping its output in dest (and returning it)."""
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        sys.exit(f"run_study.py: {' '.join(cmd)} failed:\n{done.stdout}")
    text = done.stdout.replace(REPO + os.sep, "")  # paths as the repository's, not this machine's
    with open(dest, "w") as f:
        f.write(text)
    return text


def recommendation_outputs(args, plan, recommend):
    """`normlab table` of the held-out sweep against all-LN, and `bench pair` recommended vs
    all-LN (kept from an earlier run when that timed the same recommended stack)."""
    arms = dict(recommend["arms"])
    base = "model.norm=" + ",".join(KIND[c] for c in arms["all-LN"])
    common = ["--rows", "model.norm", "--baseline", base, "--margin", args.margin]
    tag = recommend["config"]
    table = run_tool([args.binary, "table", recommend["sweep_dir"], "--format", "md"] + common,
                     os.path.join(args.out, f"recommend_table_{tag}.md"))
    run_tool([args.binary, "table", recommend["sweep_dir"], "--format", "csv", "--out",
              os.path.join(args.out, f"recommend_table_{tag}.csv")] + common, os.devnull)
    bench_path = os.path.join(args.out, f"recommend_bench_pair_{tag}.txt")
    rec = arms["recommended (analyze recentering)"]
    same = os.path.exists(bench_path) and \
        f"# B: model.norm={toml_list(rec)}\n" in open(bench_path).read()
    if rec == arms["all-LN"]:  # two copies of one arm: nothing to time
        with open(bench_path, "w") as f:
            f.write(f"# B: model.norm={toml_list(rec)}\n# not timed: the recommended stack is "
                    "all-LN, the same as A\n")
    elif not same:  # timed again only when the recommended stack changed
        cfg = [f"{k}={v}" for k, v in
               ((k, v if not isinstance(v, str) else '"' + v + '"')
                for k, v in recommend_config(plan, recommend).items())]
        cmd = [args.binary, "bench", "pair", recommend["experiment"]] + cfg + [
            "--a", "model.norm=" + toml_list(arms["all-LN"]),
            "--b", "model.norm=" + toml_list(rec)] + plan["bench"]
        run_tool(cmd, bench_path)
    bench = open(bench_path).read()
    return table, bench, base


def recommend_config(plan, recommend):
    held = [c for c in plan["configs"] if c["name"] == recommend["config"]][0]
    return held["set"]


def toml_list(codes):
    return "[" + ",".join('"' + KIND[c] + '"' for c in codes) + "]"


def section_truth(found, truth):
    rows = truth_rows(found, truth)
    body = md_table(
        ["config", "site", "n", "Delta_remove [95% t]", "Delta_add [95% t]", "needs re-centering"],
        [[r["config"], r["site"], r["n"],
          f"{fmt(r['delta_remove'])} [{fmt(r['delta_remove_lo'])}, {fmt(r['delta_remove_hi'])}]",
          f"{fmt(r['delta_add'])} [{fmt(r['delta_add_lo'])}, {fmt(r['delta_add_hi'])}]",
          "yes" if r["needs_centering"] else "no"] for r in rows])
    return rows, body


def verdict_rows(found, truth):
    """Per configuration and site: the share of all-LN seeds whose `analyze recentering` verdict
    is recenter, the majority verdict, and the ground truth."""
    rows = []
    for name, f in found.items():
        for s in range(f["depth"]):
            flagged = sum(v[s] == "L" for v in f["verdicts"]) / len(f["verdicts"])
            rm = ev.t_interval(truth[name]["remove"][s])
            rows.append({"config": name, "site": unit_name(f, s), "flagged_share": flagged,
                         "verdict": "recenter" if flagged >= 0.5 else "gain-only",
                         "needs_centering": truth[name]["labels"][s], "delta_remove": rm[0],
                         "delta_remove_lo": rm[1], "delta_remove_hi": rm[2]})
    return rows


def section_verdicts(rows):
    """The per-configuration summary of verdict_rows."""
    summary = []
    for name in dict.fromkeys(r["config"] for r in rows):
        rs = [r for r in rows if r["config"] == name]
        call = [r["verdict"] == "recenter" for r in rs]
        need = [r["needs_centering"] for r in rs]
        missed = [r["site"] for r, c, n in zip(rs, call, need) if n and not c]
        extra = [r["site"] for r, c, n in zip(rs, call, need) if c and not n]
        cost = sum(r["delta_remove"] for r, c in zip(rs, call) if not c)
        summary.append([name, sum(need), sum(call),
                        f"{sum(c == n for c, n in zip(call, need))}/{len(rs)}",
                        ", ".join(missed) or "none", ", ".join(extra) or "none",
                        fmt(cost), f"{max(min(r['flagged_share'], 1 - r['flagged_share']) for r in rs):.1f}"])
    return md_table(["config", "sites needing", "sites flagged", "agreement", "missed (needed, not flagged)",
                     "extra (flagged, not needed)", "sum of Delta_remove over gain-only sites",
                     "least unanimous site (share of seeds in the minority)"], summary)


def role_rows(roles):
    rows = []
    for name, by_role in roles.items():
        for role, r in by_role.items():
            m, lo, hi = ev.t_interval(r["remove"])
            row = {"config": name, "role": role, "n": len(r["remove"]), "delta_remove": m,
                   "delta_remove_lo": lo, "delta_remove_hi": hi, "needs_centering": bool(lo > 0)}
            row.update(r["preds"])
            rows.append(row)
    return rows


def section_roles(rows):
    if not rows:
        return "No Transformer configuration: no role ablation.\n"
    return md_table(["config", "role", "n", "Delta_remove [95% t]", "needs re-centering",
                     "mean_leak", "scale_cv", "grad_ones_share", "ones_response"],
                    [[r["config"], r["role"], r["n"],
                      f"{fmt(r['delta_remove'])} [{fmt(r['delta_remove_lo'])}, {fmt(r['delta_remove_hi'])}]",
                      "yes" if r["needs_centering"] else "no", f"{r['mean_leak']:.3g}",
                      f"{r['scale_cv']:.3g}", f"{r['grad_ones_share']:.3g}",
                      f"{r['ones_response']:.3g}"] for r in rows])


def section_rho(rho_rows):
    body = md_table(["config", "predictor", "sites", "Spearman rho [95% bootstrap over seeds]",
                     "resamples defined"],
                    [[r["config"], r["predictor"], r["sites"],
                      f"{fmt(r['rho'], 2)} [{fmt(r['lo'], 2)}, {fmt(r['hi'], 2)}]",
                      f"{r['defined_share']:.2f}"] for r in rho_rows])
    return body


def section_oos(oos_rows):
    return md_table(["fit on", "test on", "predictor", "rule", "agreement (fit)",
                     "agreement (test)", "majority baseline (test)"],
                    [[r["fit_on"], r["test_on"], r["predictor"],
                      f"{'' if r['sign'] > 0 else '-'}x >= {fmt(r['threshold'], 3)}",
                      fmt(r["train_agreement"], 2), fmt(r["test_agreement"], 2),
                      fmt(r["majority_baseline"], 2)] for r in oos_rows])


def section_recommend(args, plan, recommend):
    """The recommendation test on one held-out configuration, as a tables.md section."""
    table, bench, base = recommendation_outputs(args, plan, recommend)
    arms = dict(recommend["arms"])
    rec = arms["recommended (analyze recentering)"]
    same_note = (" (the recommended stack is all-LN here, so there is nothing to time)"
                 if rec == arms["all-LN"] else "")
    arm_table = md_table(["arm", "model.norm"], [[a, stack_text(s)] for a, s in recommend["arms"]])
    return f"""## The recommendation on {recommend['config']}

{arm_table}
Arms with the same stack share one set of runs, so one row of the table below. Each random stack
has as many LayerNorm sites as the stack it names, at places drawn with Python's
`random.Random(2021)`.

`normlab table {shown(recommend['sweep_dir'])} --rows model.norm --baseline {base} --margin {args.margin}`
(sweep file `{shown(recommend['sweep_file'])}`). `normlab table` leaves stuck and diverged runs out
of its figures and counts them in its own columns:

{table}
`normlab bench pair`, recommended (B) against all-LN (A), on {recommend['config']}{same_note}:

```
{bench.strip()}
```

"""


def write_all(args, plan, found, truth, rho_rows, oos_rows, features, recommends, roles):
    os.makedirs(args.out, exist_ok=True)
    truth_csv, truth_md = section_truth(found, truth)
    stuck = [f"{r['config']} {r['stack']} ({r['stuck']} stuck, {r['diverged']} diverged)"
             for r in loss_rows(found) if r["stuck"] or r["diverged"]]
    stuck_note = "; ".join(stuck) if stuck else "none"
    write_csv(os.path.join(args.out, "ground_truth.csv"), truth_csv)
    write_csv(os.path.join(args.out, "losses.csv"), loss_rows(found))
    write_csv(os.path.join(args.out, "predictors.csv"), predictor_rows(found, features))
    write_csv(os.path.join(args.out, "spearman.csv"), rho_rows)
    write_csv(os.path.join(args.out, "out_of_sample.csv"), oos_rows)
    roles_csv = role_rows(roles)
    if roles_csv:
        write_csv(os.path.join(args.out, "roles.csv"), roles_csv)
    verdicts = verdict_rows(found, truth)
    write_csv(os.path.join(args.out, "verdicts.csv"), verdicts)
    recommend_text = "".join(section_recommend(args, plan, r) for r in recommends)
    seeds = ", ".join(str(s) for s in plan["seeds"])
    configs = md_table(["configuration", "sites", "experiment", "settings over it"],
                       [[c["name"], c["depth"], "experiments/" + c.get("experiment", "mlp.toml"),
                         ", ".join(f"{k}={v}" for k, v in c["set"].items())]
                        for c in plan["configs"]])
    text = f"""# Re-centering study (issue 21): tables

<!-- written by experiments/recentering/run_study.py{' --tiny' if args.tiny else ''}; rerun it,
do not edit. The conclusions are in README.md, written by hand. -->

A site is one entry of `model.norm`'s per-layer list: an MLP hidden layer (`layer{{l}}.norm`), or a
Transformer block (its attention and MLP norms; the last block's also the final norm, which
takes the last block's kind). A block's predictor is the largest over its norms, as the
command's verdict takes it (one flagged norm makes the block layernorm).
Seeds {seeds}. Losses are final validation losses (nats).

## Configurations

{configs}
## Ground truth per site

Delta_remove(s) = loss(LayerNorm everywhere but s, RMSNorm at s) - loss(all LayerNorm);
Delta_add(s) = loss(all RMSNorm) - loss(RMSNorm everywhere but s, LayerNorm at s); each paired by
seed, mean with a 95% t interval. A site *needs re-centering* when Delta_remove's interval lies
above 0. Every stack's mean loss: `losses.csv`. The ground truth counts every run's final loss,
stuck (trained to the end at chance) and diverged ones included: stalling is the cost being
measured. Runs stuck or diverged here: {stuck_note}.

{truth_md}
## Ground truth per role (Transformer)

Delta_remove(role) = loss(LayerNorm everywhere but RMSNorm at every site of the role:
`model.norm_attn`, `model.norm_mlp` or `model.norm_final` = rmsnorm) - loss(all LayerNorm), paired
by seed. The predictors are means over the role's sites and the all-LN seeds (`roles.csv`).

{section_roles(roles_csv)}
## Predictors against Delta_remove

Spearman's rho over the sites of the per-site means (over seeds) of each predictor (from
`normlab analyze recentering` on the all-LN runs, and on the pcnorm learn_lambda=true runs) and of
Delta_remove; the interval resamples seeds (the same seeds for both sides), 2000 resamples.
n/a: the predictor is constant over the sites (e.g. offset_ratio is 0 at every LayerNorm site),
so it ranks nothing. `role` is not listed: every MLP site is `hidden`, and every Transformer
block holds one norm of each role. `resamples defined`: the share of resamples where rho was defined.
Per-site predictor means: `predictors.csv`.

{section_rho(rho_rows)}
## Out of sample

Each predictor's rule "needs re-centering when sign * x >= t", fit on one configuration (the
sign and threshold agreeing with the most sites' labels above), then applied to the other. The
majority baseline: the fit configuration's majority label applied to the test one.

{section_oos(oos_rows)}
## The command's verdicts against the ground truth

`normlab analyze recentering` (its default rule) on each all-LN seed: a site is flagged when the
majority of seeds' verdicts is `recenter` (per site and seed: `verdicts.csv`). The sum of
Delta_remove over the sites it leaves gain-only is what its stack would cost if the per-site costs
added up (they need not: the recommendation test measures the stack itself).

{section_verdicts(verdicts)}
{recommend_text}"""
    with open(os.path.join(args.out, "tables.md"), "w") as f:
        f.write(text)
