"""A config dict as TOML text, for `normlab train` to read (launch.py).

Only what a normlab config holds: strings, bools, ints, floats, lists of these and tables. Floats are
written with repr, which round-trips (1e-05, 0.1, 3.0); strings as TOML basic strings, escaped. A
dict may give keys nested like the file's tables, flat and dotted ("model.norm"), or both; other
value types (None, objects, arrays of tables) raise a TypeError naming the key. The binary, not this
module, knows which keys exist: it reads the file and names an unknown key with a suggestion.
"""

import math
import numbers
import re

import numpy as np

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_INT64 = (-2**63, 2**63 - 1)
# TOML basic strings: these have short escapes; other control characters (and DEL) are \uXXXX.
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
                  "\r": "\\r"}


def nested(config):
    """{"model.norm": "x", "train": {"steps": 20}} as {"model": {"norm": "x"}, "train": {...}}:
    dotted keys split at every level, tables merged. A key given twice raises a ValueError."""
    result = {}
    _merge_into(result, config, "")
    return result


def to_toml(config):
    """The TOML text of a config dict (nested, dotted or both): the top-level keys first, then a
    [table] per table, in the dict's order."""
    lines = []
    _write_table(lines, nested(config), ())
    return "\n".join(lines) + "\n"


def toml_value(value, key):
    """One value as TOML text (a table as an inline table), as `--set key=VALUE` takes it;
    `key` names the value in a TypeError or ValueError."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        if not _INT64[0] <= int(value) <= _INT64[1]:
            raise ValueError(f"config key {key!r}: {int(value)} does not fit TOML's 64-bit integers")
        return str(int(value))
    if isinstance(value, numbers.Real):
        return _float_text(float(value))
    if isinstance(value, str):
        return _string_text(value, key)
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, dict):
                raise TypeError(f"config key {key!r}: a list of tables (TOML's [[array]]) is not "
                                "supported; normlab configs have none")
        return "[" + ", ".join(toml_value(item, key) for item in value) + "]"
    if isinstance(value, dict):
        items = nested(value).items()
        return "{" + ", ".join(f"{_key_text(k)} = {toml_value(v, f'{key}.{k}')}"
                               for k, v in items) + "}"
    raise TypeError(f"config key {key!r}: a {type(value).__name__} ({value!r}) has no TOML form; "
                    "give a str, bool, int, float, list or dict")


def _merge_into(result, config, prefix):
    if not isinstance(config, dict):
        raise TypeError(f"a config is a dict of keys, got a {type(config).__name__}")
    for key, value in config.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"config key {prefix}{key!r}: keys are non-empty strings")
        *tables, leaf = key.split(".")
        target, path = result, prefix
        for part in tables:
            path += part + "."
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ValueError(f"config key {path[:-1]!r} is given both as a value and as a table")
        full = path + leaf
        if isinstance(value, dict):
            sub = target.setdefault(leaf, {})
            if not isinstance(sub, dict):
                raise ValueError(f"config key {full!r} is given both as a value and as a table")
            _merge_into(sub, value, full + ".")
        elif leaf in target:
            raise ValueError(f"config key {full!r} is given twice")
        else:
            target[leaf] = value


def _write_table(lines, table, path):
    """Appends `table`'s values, then its sub-tables under [a.b] headers."""
    name = ".".join(path)
    for key, value in table.items():
        if not isinstance(value, dict):
            lines.append(f"{_key_text(key)} = {toml_value(value, _dotted(name, key))}")
    for key, value in table.items():
        if isinstance(value, dict):
            sub = (*path, key)
            if lines:
                lines.append("")
            lines.append("[" + ".".join(_key_text(k) for k in sub) + "]")
            _write_table(lines, value, sub)


def _dotted(prefix, key):
    return f"{prefix}.{key}" if prefix else key


def _key_text(key):
    return key if _BARE_KEY.fullmatch(key) else _string_text(key, key)


def _float_text(x):
    if math.isnan(x):
        return "nan"
    return repr(x)  # the shortest text that reads back as x: 1e-05, 0.1, 3.0, inf, -inf


def _string_text(s, key):
    out = []
    for c in s:
        if c in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04X}")
        elif 0xD800 <= ord(c) <= 0xDFFF:  # a lone surrogate (from surrogateescape) is no text
            raise ValueError(f"config key {key!r}: {s!r} holds a lone surrogate, which is not "
                             "text (TOML is UTF-8)")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'
