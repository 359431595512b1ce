"""The rows of a sweep's figures and tables: its axes (manifest.toml) but seed, each row's label,
and the runs in the sweep's expansion order, so that every figure lists rows in the table's order."""

import tomllib
from pathlib import Path


def sweep_axes(sweep_dir, runs):
    """The manifest's axes (seed included); without a manifest, the config keys that vary."""
    manifest = Path(sweep_dir) / "manifest.toml"
    if manifest.exists():
        return tomllib.loads(manifest.read_text()).get("axes", [])
    from .frames import varying_keys
    return varying_keys(runs)


def row_keys(sweep_dir, runs):
    """The sweep's axes but seed (and name)."""
    keys = [k for k in sweep_axes(sweep_dir, runs) if k not in ("seed", "name")]
    return keys or ["model.norm"]


def in_sweep_order(sweep_dir, runs):
    """The runs in the sweep's expansion order (manifest.toml), so lines come in the table's order."""
    manifest = Path(sweep_dir) / "manifest.toml"
    listed = tomllib.loads(manifest.read_text()).get("runs", []) if manifest.exists() else []
    position = {run_id: i for i, run_id in enumerate(listed)}
    return sorted(runs, key=lambda r: position.get(r.run_id, len(listed)))


def value_text(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def label_of(run, keys):
    """"model.norm=rmsnorm, data.offset=0": the row keys and their values; a key the run's config
    does not have (an option of another normalizer) is left out."""
    values = [(k, run.flat_config.get(k)) for k in keys]
    return ", ".join(f"{k}={value_text(v)}" for k, v in values if v is not None)


def group_runs(runs, keys):
    """{label: [runs]} in the order the runs come."""
    groups = {}
    for run in runs:
        groups.setdefault(label_of(run, keys), []).append(run)
    return groups
