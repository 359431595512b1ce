#!/usr/bin/python3
"""The build enforces the layer graph (the ctest entry layout.layers): a one-line source compiled
as a file of LAYER (the compiler, flags and include roots of one of LAYER's own sources, from the
build's compile_commands.json) must fail on an #include of a layer LAYER does not link, with the
compiler's "No such file" for exactly that header, and must compile with a header it may use (the
positive control: without it a broken command would pass as "refused").

The compiler cannot see two ways around the include roots: a relative include ("../numerics/x.hpp"
is found beside the including file) and a header of a layer reached only through another layer's
transitive link. So every quoted #include under src/ is also read: it may not climb out of its
folder with "..", and a header of layer X in src/L/ needs X in L's dependencies as CMakeLists.txt's
normlab_layer(L DEPS ...) lines declare them (transitively).

    /usr/bin/python3 scripts/check_layers.py BUILD_DIR [--layer norm]
        [--forbidden numerics/conditioning.hpp] [--allowed core/error.hpp]
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

# Flags that name the build's own outputs (object, dependency file): dropped, so the probe writes
# nothing into the build tree.
DROP_WITH_VALUE = {"-o", "-MF", "-MT", "-MQ", "-c"}
DROP = {"-MD", "-MMD"}


def layer_command(build_dir, layer):
    """The compile command (argument list) of one source of src/LAYER/, and its directory."""
    with open(os.path.join(build_dir, "compile_commands.json")) as f:
        entries = json.load(f)
    marker = os.sep + os.path.join("src", layer) + os.sep
    for e in entries:
        if marker in e["file"]:
            args = e["arguments"] if "arguments" in e else shlex.split(e["command"])
            return args, e["directory"], e["file"]
    sys.exit(f"check_layers: no source of src/{layer}/ in {build_dir}/compile_commands.json")


def probe_command(args, source, probe):
    """`args` compiling `probe` instead of `source`, syntax only, writing no file."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in DROP_WITH_VALUE:
            skip = True
            continue
        if a in DROP or a == source:
            continue
        out.append(a)
    return out + ["-fsyntax-only", probe]


def compile_probe(args, directory, source, header, tmp):
    probe = os.path.join(tmp, "probe_" + header.replace("/", "_").replace(".", "_") + ".cpp")
    with open(probe, "w") as f:
        f.write(f'#include "{header}"\n')
    command = probe_command(args, source, probe)
    r = subprocess.run(command, cwd=directory, capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr, command


def declared_layers(cmakelists):
    """{layer: set of layers it may include}, the transitive closure of the DEPS lines."""
    text = open(cmakelists).read()
    deps = {}
    for m in re.finditer(r"normlab_layer\((\w+)([^)]*)\)", text):
        words = m.group(2).split()
        direct, taking = set(), False
        for w in words:
            if w in ("DEPS", "EXTERNAL", "EXCLUDE"):
                taking = w == "DEPS"
            elif taking:
                direct.add(w)
        deps[m.group(1)] = direct
    closure = {}
    for layer in deps:
        seen, stack = {layer}, [layer]
        while stack:
            for d in deps.get(stack.pop(), ()):
                if d not in seen:
                    seen.add(d)
                    stack.append(d)
        closure[layer] = seen
    return closure


INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def include_violations(src_dir, allowed):
    """(file, header, why) for every quoted include that goes around the layer graph."""
    out = []
    for layer in sorted(os.listdir(src_dir)):
        folder = os.path.join(src_dir, layer)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if not name.endswith((".hpp", ".cpp", ".in")):
                continue
            for header in INCLUDE.findall(open(path, encoding="utf-8").read()):
                if ".." in header.split("/"):
                    out.append((path, header, "a relative include climbs out of its layer"))
                    continue
                first = header.split("/")[0]
                if "/" in header and first in allowed and first not in allowed.get(layer, {layer}):
                    out.append((path, header, f"layer {layer} does not depend on {first}"))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build_dir")
    parser.add_argument("--layer", default="norm")
    parser.add_argument("--forbidden", default="numerics/conditioning.hpp")
    parser.add_argument("--allowed", default="core/error.hpp")
    a = parser.parse_args()
    args, directory, source = layer_command(a.build_dir, a.layer)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        status, output, command = compile_probe(args, directory, source, a.allowed, tmp)
        if status != 0:
            failures.append(f"the positive control failed: {a.layer} cannot include {a.allowed}:\n"
                            f"  {shlex.join(command)}\n{output}")
        else:
            print(f"ok: a {a.layer} source compiles with #include \"{a.allowed}\"")
        status, output, command = compile_probe(args, directory, source, a.forbidden, tmp)
        refused = status != 0 and f"{a.forbidden}: No such file" in output
        if not refused:
            what = "compiled" if status == 0 else "failed for another reason than a missing header"
            failures.append(f"a {a.layer} source including {a.forbidden} {what}:\n"
                            f"  {shlex.join(command)}\n{output}")
        else:
            print(f"ok: a {a.layer} source is refused #include \"{a.forbidden}\" (No such file)")
    source_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    allowed = declared_layers(os.path.join(source_root, "CMakeLists.txt"))
    wrong = include_violations(os.path.join(source_root, "src"), allowed)
    for path, header, why in wrong:
        failures.append(f"{os.path.relpath(path, source_root)} includes \"{header}\": {why}")
    if not wrong:
        print(f"ok: every quoted #include under src/ stays within the declared graph "
              f"({len(allowed)} layers)")
    for f in failures:
        print("FAILED: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
