"""What the live profiling tests share: finding the module and the CLI, running `laconic profile`,
writing manifests of arrays, and comparing reports.

CTest runs each test module through tests/python/run_module.py; its classes skip themselves
(requires()) when a prerequisite is missing, and the module is then reported Skipped (exit 77) with
the reason. Run as a script, a module exits 77 at once, printing the reason, when a prerequisite is
missing: numpy, torch, or the module itself (not built:
python3-dev, pybind11-dev, python3-pybind11 and libdlpack-dev are needed; LACONIC_PYTHON_MISSING
says so when CMake found them missing).
"""

import json
import os
import subprocess
import sys
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(REPO, "scripts")
if SCRIPTS not in sys.path:
    sys.path.insert(0, SCRIPTS)
_BUILD_PYTHON = os.path.join(REPO, "build", "python")
if os.path.isdir(_BUILD_PYTHON) and _BUILD_PYTHON not in sys.path:
    sys.path.append(_BUILD_PYTHON)  # PYTHONPATH (CTest's) comes first

SKIP = 77


def missing(*, torch: bool = False, torchvision: bool = False):
    """Why these tests cannot run here, or None."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        return "numpy is not importable (Debian: apt-get install python3-numpy)"
    if os.environ.get("LACONIC_PYTHON_MISSING"):
        return "the Python module is not built: " + os.environ["LACONIC_PYTHON_MISSING"]
    try:
        import laconic  # noqa: F401
    except ImportError as e:
        return (f"the Python module laconic is not importable ({e}); build it with "
                "`cmake --build build --target laconic_python` and put build/python on PYTHONPATH")
    if torch or torchvision:
        try:
            import torch as _torch  # noqa: F401
        except ImportError:
            return "torch is not importable (Debian: apt-get install python3-torch)"
    if torchvision:
        try:
            import torchvision as _tv  # noqa: F401
            import PIL  # noqa: F401
        except ImportError:
            return "torchvision or PIL is not importable (Debian: apt-get install python3-torchvision)"
    return None


def requires(reason):
    """A class decorator: the class's tests skip themselves with `reason` (missing()'s answer) when
    it is not None, so that tests/python/run_module.py reports the module Skipped and says why."""
    return unittest.skipIf(reason is not None, reason or "")


def main(reason):
    """unittest.main(), or exit 77 with the reason when the tests cannot run."""
    if reason:
        print(f"skipped: {reason}")
        sys.exit(SKIP)
    unittest.main(verbosity=2)


def laconic_binary():
    for candidate in (os.environ.get("LACONIC_BINARY"), os.path.join(REPO, "build", "laconic")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise unittest.SkipTest("no laconic binary (set LACONIC_BINARY or build build/laconic)")


def cli_profile(manifest, out_dir, *options, name="cli"):
    """`laconic profile MANIFEST --json --csv OPTIONS`: (json dict, json text, csv text)."""
    json_path = os.path.join(out_dir, f"{name}.json")
    csv_path = os.path.join(out_dir, f"{name}.csv")
    r = subprocess.run([laconic_binary(), "profile", manifest, "-q", "--json", json_path, "--csv", csv_path,
                        *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=900)
    if r.returncode != 0:
        raise AssertionError(f"laconic profile {' '.join(options)} failed ({r.returncode}): {r.stderr}")
    with open(json_path) as f:
        text = f.read()
    with open(csv_path) as f:
        csv = f.read()
    return json.loads(text), text, csv


def without_run_fields(doc):
    """A JSON report without the two fields that say how it was made (engine, source)."""
    doc = json.loads(json.dumps(doc))
    doc.pop("engine", None)
    doc["config"].pop("source", None)
    return doc


def json_text_without_run_fields(text):
    """The report's text with `engine` and `source` blanked, to compare byte for byte."""
    lines = []
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith('"engine":') or stripped.startswith('"source":'):
            line = line.split(":")[0] + ': "",\n' if line.rstrip().endswith(",") else line.split(":")[0] + ': ""\n'
        lines.append(line)
    return "".join(lines)


def write_manifest(directory, network, layers, defaults=None):
    """A manifest of layers given as dicts with numpy arrays: {"name", "type", "stride", "padding",
    "groups", "activations": [array, ...] (one file each), "weights": array, "act": {...},
    "wgt": {...} (extra tensor keys: bits, signed, quantize, ...)}."""
    import numpy as np
    entries = []
    for layer in layers:
        stem = layer["name"].replace("/", "_")
        files = []
        for i, a in enumerate(layer["activations"]):
            path = f"{stem}.act.{i}.npy"
            np.save(os.path.join(directory, path), np.ascontiguousarray(a))
            files.append(path)
        np.save(os.path.join(directory, f"{stem}.w.npy"), np.ascontiguousarray(layer["weights"]))
        entry = {"name": layer["name"], "type": layer.get("type", "conv"),
                 "activations": {"files": files, **layer.get("act", {})},
                 "weights": {"file": f"{stem}.w.npy", **layer.get("wgt", {})}}
        for key in ("stride", "padding", "groups"):
            if key in layer:
                entry[key] = layer[key]
        entries.append(entry)
    manifest = {"network": network, "layers": entries}
    if defaults:
        manifest["defaults"] = defaults
    path = os.path.join(directory, "manifest.json")
    with open(path, "w") as f:
        json.dump(manifest, f)
    return path


def readme_python_blocks(section="## Live profiling from Python"):
    """The ```python blocks of a README section, in order."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    start = text.index(section)
    end = text.find("\n## ", start + len(section))
    body = text[start:end if end >= 0 else len(text)]
    blocks = []
    while "```python\n" in body:
        body = body[body.index("```python\n") + len("```python\n"):]
        blocks.append(body[:body.index("```")])
        body = body[body.index("```") + 3:]
    return blocks


def run_in(directory, code):
    """Runs `code` (a README example) with `directory` as the working directory; its stdout."""
    import contextlib
    import io
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    finally:
        os.chdir(cwd)
    return out.getvalue()
