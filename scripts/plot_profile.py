#!/usr/bin/python3
"""Figures and a one-page summary from a `laconic profile --json` report.

    /usr/bin/python3 scripts/plot_profile.py REPORT.json --out DIR

writes into DIR, from the report alone (no traces, no laconic binary):

  work_potential.png/.svg   per layer: potential speedup of zero skipping, Stripes, Pragmatic and
                            Laconic over the bit-parallel baseline (baseline work / work, log scale)
  cycle_speedup.png/.svg    per layer: Stripes', Pragmatic's and Laconic's cycle speedup over the baseline,
                            each accelerator at its own geometry
  terms_per_layer.png/.svg  per layer: the share of activation and of weight values with t terms
  terms_overall.png/.svg    the same over the whole network
  network_summary.png/.svg  whole network: potentials and cycle speedups, all and conv layers
  figure_data.json          every plotted number, read back from the drawn figures
  summary.md                one page: configuration, totals, busiest layers, the PNG figures
  summary.html              the same as one self-contained file with the SVG figures inline

Every number is a ratio of the report's integer counts (MODEL.md §4, §5, §8, §9): totals are
ratios of sums, never means of ratios. Reads reports of schema 2 (laconic 0.2: each accelerator's
geometry and options, Pragmatic cycles); the titles and the summary state them. Needs numpy and matplotlib (Debian: python3-numpy python3-matplotlib).
The same report and matplotlib version give the same bytes (no dates in the files).
Exit status: 0 success, 1 a report that cannot be read or is not a laconic profile report,
2 bad usage.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import math
import os
import re
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

try:
    import numpy as np
except ImportError:  # the first python3 on PATH may be one without Debian's packages
    sys.exit(f"plot_profile.py: needs numpy, which {sys.executable} does not have: run it with Debian's "
             "/usr/bin/python3 (apt-get install python3-numpy)")

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
except ImportError:  # pragma: no cover - reported by main()
    matplotlib = None

PROG = "plot_profile.py"

# One colour and marker per accelerator, the same in every figure (colour-blind safe pairs).
STYLE = {
    "zero_skip": ("#7f7f7f", "s", "zero skipping"),
    "stripes": ("#0072b2", "^", "Stripes"),
    "pragmatic": ("#e69f00", "D", "Pragmatic"),
    "laconic": ("#009e73", "o", "Laconic"),
}
WORK_METHODS = ("zero_skip", "stripes", "pragmatic", "laconic")
CYCLE_METHODS = ("stripes", "pragmatic", "laconic")
ACCELERATORS = ("baseline", "stripes", "pragmatic", "laconic")
ACCELERATOR_NAMES = {"baseline": "baseline", "stripes": "Stripes", "pragmatic": "Pragmatic", "laconic": "Laconic"}
SCHEMA = 2  # the report layout this script reads (README "JSON report")
TENSORS = ("activations", "weights")
FIGURES = ("work_potential", "cycle_speedup", "terms_per_layer", "terms_overall", "network_summary")

CAPTIONS = {
    "work_potential": "Potential speedup of each layer over the bit-parallel baseline: baseline work / work, "
                      "work counted in single-bit products (MODEL.md §4). Zero skipping skips products with a "
                      "zero operand, Stripes processes activations bit-serially at the layer's precision, "
                      "Pragmatic processes activation terms, Laconic terms of both operands.",
    "cycle_speedup": "Cycle speedup of each layer over the bit-parallel baseline: baseline cycles / cycles, each "
                     "accelerator at its own geometry (MODEL.md §5, §8, §9; the title gives them). Below 1, the "
                     "accelerator is slower than the baseline.",
    "terms_per_layer": "Share of each layer's values that have t terms under the encoding (MODEL.md §3); "
                       "activations over the samples profiled, weights once.",
    "terms_overall": "Share of all values of the network with t terms; activations over all layers and samples, "
                     "weights over all layers.",
    "network_summary": "Whole network: ratios of sums over all layers (and over the conv layers, hatched, "
                       "where the network has other layers too).",
}


class ReportError(Exception):
    """The report cannot be read or is not a laconic profile report; the message says why."""


# ------------------------------------------------------------------------------------------------
# Reading the report


def _field(obj: Any, key: str, where: str, kind: str, path: str) -> Any:
    name = f"{where}.{key}" if where else key
    if not isinstance(obj, dict):
        raise ReportError(f"{path}: not a laconic profile report: {where or 'the document'} is not an object")
    if key not in obj:
        raise ReportError(f"{path}: not a laconic profile report: {name} is missing")
    value = obj[key]
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ReportError(f"{path}: not a laconic profile report: {name} is not a non-negative integer "
                              f"(it is {json.dumps(value)[:40]})")
    elif kind == "string":
        if not isinstance(value, str):
            raise ReportError(f"{path}: not a laconic profile report: {name} is not a string")
    elif kind == "list":
        if not isinstance(value, list):
            raise ReportError(f"{path}: not a laconic profile report: {name} is not a list")
    elif kind == "object":
        if not isinstance(value, dict):
            raise ReportError(f"{path}: not a laconic profile report: {name} is not an object")
    return value


def load_report(path: str) -> Dict[str, Any]:
    """The report at `path`, its fields checked; raises ReportError naming the file and the field."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ReportError(f"{path}: cannot read the report: {e.strerror or e}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReportError(f"{path}: not a laconic profile report: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("tool") != "laconic":
        raise ReportError(f'{path}: not a laconic profile report (no "tool": "laconic"; '
                          f"make one with laconic profile --json)")
    if doc.get("kind") == "comparison":
        raise ReportError(f"{path}: is the output of laconic compare, not a profile report")
    if "partial" in doc:
        raise ReportError(f"{path}: a partial report (one shard of a run, laconic profile --shard); merge the "
                          f"shards' reports first: laconic merge PART.json... --json FILE")
    if "schema" not in doc:
        raise ReportError(f"{path}: a report of laconic {doc.get('version', '0.1')} (report schema 1: one geometry "
                          f"for every accelerator, no Pragmatic cycles); re-run laconic profile --json with laconic "
                          f"0.2 or later to plot it (this script reads report schema {SCHEMA})")
    schema = doc["schema"]
    if isinstance(schema, bool) or not isinstance(schema, int):
        raise ReportError(f"{path}: not a laconic profile report: schema is not an integer")
    if schema != SCHEMA:
        raise ReportError(f"{path}: a report of schema {schema}; this script reads schema {SCHEMA}")
    for key in ("version", "network", "engine"):
        _field(doc, key, "", "string", path)
    config = _field(doc, "config", "", "object", path)
    _field(config, "encoding", "config", "string", path)
    _field(config, "baseline_width", "config", "count", path)
    if _field(config, "preset", "config", "any", path) is not None:
        _field(config, "preset", "config", "string", path)
    accelerators = _field(config, "accelerators", "config", "object", path)
    for name in ACCELERATORS:
        where = f"config.accelerators.{name}"
        entry = _field(accelerators, name, "config.accelerators", "object", path)
        for key in ("tiles", "rows", "columns", "lanes"):
            _field(entry, key, where, "count", path)
        if name in ("pragmatic", "laconic"):
            _field(entry, "column_registers", where, "count", path)
        if name == "pragmatic" and _field(entry, "shifter_bits", where, "any", path) is not None:
            _field(entry, "shifter_bits", where, "count", path)
    _field(config, "depthwise", "config", "string", path)
    if not isinstance(_field(config, "fold_first_layer", "config", "any", path), bool):
        raise ReportError(f"{path}: not a laconic profile report: config.fold_first_layer is not true or false")
    if _field(config, "sample_limit", "config", "any", path) is not None:
        _field(config, "sample_limit", "config", "count", path)
    _field(config, "source", "config", "string", path)
    layers = _field(doc, "layers", "", "list", path)
    if not layers:
        raise ReportError(f"{path}: the report has no layers; there is nothing to plot")
    names = set()
    for i, layer in enumerate(layers):
        where = f"layers[{i}]"
        name = _field(layer, "name", where, "string", path)
        if name in names:
            raise ReportError(f"{path}: not a laconic profile report: two layers are named {name!r}")
        names.add(name)
        kind = _field(layer, "type", where, "string", path)
        if kind not in ("conv", "fc"):
            raise ReportError(f"{path}: not a laconic profile report: {where}.type is {kind!r}, not conv or fc")
        for key in ("samples", "macs"):
            _field(layer, key, where, "count", path)
        work = _field(layer, "work", where, "object", path)
        for key in ("baseline",) + WORK_METHODS:
            _field(work, key, where + ".work", "count", path)
        cycles = _field(layer, "cycles", where, "object", path)
        for key in ("baseline",) + CYCLE_METHODS:
            _field(cycles, key, where + ".cycles", "count", path)
        terms = _field(layer, "terms", where, "object", path)
        for tensor in TENSORS:
            t = _field(terms, tensor, where + ".terms", "object", path)
            hist = _field(t, "histogram", f"{where}.terms.{tensor}", "list", path)
            if not hist:
                raise ReportError(f"{path}: not a laconic profile report: {where}.terms.{tensor}.histogram is empty")
            for j, count in enumerate(hist):
                if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                    raise ReportError(f"{path}: not a laconic profile report: {where}.terms.{tensor}.histogram[{j}] "
                                      f"is not a non-negative integer")
    totals = _field(doc, "totals", "", "object", path)
    for which in ("all", "conv"):
        t = _field(totals, which, "totals", "object", path)
        for key in ("layers", "macs"):
            _field(t, key, f"totals.{which}", "count", path)
        for group, keys in (("work", ("baseline",) + WORK_METHODS), ("cycles", ("baseline",) + CYCLE_METHODS)):
            g = _field(t, group, f"totals.{which}", "object", path)
            for key in keys:
                _field(g, key, f"totals.{which}.{group}", "count", path)
    return doc


# ------------------------------------------------------------------------------------------------
# Numbers: ratios of the report's integer counts


def speedup(baseline: int, x: int) -> float:
    """baseline / x as the profile computes it: +inf where x is 0 (MODEL.md §4)."""
    return math.inf if x == 0 else baseline / x


def work_potential(counts: Dict[str, Any], method: str) -> float:
    return speedup(counts["work"]["baseline"], counts["work"][method])


def cycle_speedup(counts: Dict[str, Any], method: str) -> float:
    return speedup(counts["cycles"]["baseline"], counts["cycles"][method])


def histogram_matrix(report: Dict[str, Any], tensor: str) -> np.ndarray:
    """Per layer (rows), the count of values with t terms (columns), padded to the longest histogram."""
    hists = [layer["terms"][tensor]["histogram"] for layer in report["layers"]]
    width = max(len(h) for h in hists)
    m = np.zeros((len(hists), width), dtype=np.float64)
    for i, h in enumerate(hists):
        m[i, :len(h)] = h
    return m


def overall_histogram(report: Dict[str, Any], tensor: str) -> List[int]:
    """Exact integer sum of the layers' histograms."""
    hists = [layer["terms"][tensor]["histogram"] for layer in report["layers"]]
    width = max(len(h) for h in hists)
    return [sum(h[t] for h in hists if t < len(h)) for t in range(width)]


def histogram_stats(hist: Sequence[int]) -> Tuple[float, float]:
    """(mean terms per value, zero fraction) of a histogram; (0, 0) when it counts no value."""
    values = sum(hist)
    if values == 0:
        return 0.0, 0.0
    return sum(t * n for t, n in enumerate(hist)) / values, hist[0] / values


def shares(hist_row: np.ndarray) -> np.ndarray:
    total = hist_row.sum()
    return hist_row / total if total > 0 else np.zeros_like(hist_row)


# ------------------------------------------------------------------------------------------------
# Text


def times(v: float) -> str:
    """A speedup or potential as the Markdown report prints it (report.hpp, speedup_text), so
    that a figure and its table agree: three significant digits below 1, two decimals from 1 on."""
    if math.isinf(v):
        return "inf"
    return f"{v:.3g}" if v < 1 else f"{v:.2f}"


def geometry_text(g: Dict[str, Any]) -> str:
    """T×Rt×Ct×L of one accelerator, e.g. 16×16×1×16."""
    return f"{g['tiles']}×{g['rows']}×{g['columns']}×{g['lanes']}"


def geometry_long(g: Dict[str, Any]) -> str:
    def n(v, one, many):
        return f"{v} {one if v == 1 else many}"
    return (f"{n(g['tiles'], 'tile', 'tiles')} × {n(g['rows'], 'row', 'rows')} (filters) × "
            f"{n(g['columns'], 'column', 'columns')} (windows) × {n(g['lanes'], 'lane', 'lanes')} (channels)")


def shifter_text(config: Dict[str, Any]) -> str:
    b = config["accelerators"]["pragmatic"]["shifter_bits"]
    return "inf" if b is None else str(b)


def registers_text(r: int) -> str:
    return "no column registers (lockstep)" if r == 0 else f"{r} column register{'s' if r != 1 else ''}"


def accelerator_options(config: Dict[str, Any], name: str) -> str:
    """What the accelerator computes and its options (MODEL.md §8, §9), for the summary."""
    a = config["accelerators"]
    if name == "baseline":
        return f"bit-parallel (DaDianNao-like), {config['baseline_width']}-bit operands"
    if name == "stripes":
        return "bit-serial activations at each layer's activation width"
    if name == "pragmatic":
        return (f"term-serial activations ({config['encoding']} terms), first-stage shifter B = {shifter_text(config)}, "
                f"{registers_text(a['pragmatic']['column_registers'])}")
    return f"terms of both operands ({config['encoding']}), {registers_text(a['laconic']['column_registers'])}"


def accelerators_short(config: Dict[str, Any]) -> List[str]:
    """One short line per accelerator for figure titles: name, T×Rt×Ct×L and options."""
    a = config["accelerators"]
    return [f"baseline {geometry_text(a['baseline'])} ({config['baseline_width']}-bit)",
            f"Stripes {geometry_text(a['stripes'])}",
            f"Pragmatic {geometry_text(a['pragmatic'])} (B = {shifter_text(config)}, "
            f"R = {a['pragmatic']['column_registers']})",
            f"Laconic {geometry_text(a['laconic'])} (R = {a['laconic']['column_registers']})"]


def preset_text(config: Dict[str, Any]) -> str:
    p = config["preset"]
    return "custom" if p is None else p


def options_short(config: Dict[str, Any]) -> str:
    return (f"preset {preset_text(config)}, depthwise {config['depthwise']}, "
            f"first-layer fold {'on' if config['fold_first_layer'] else 'off'}")


def accelerators_title(config: Dict[str, Any]) -> str:
    """Every accelerator's geometry and options in three lines, for the titles of cycle figures."""
    lines = accelerators_short(config)
    return f"T×Rt×Ct×L: {lines[0]}, {lines[1]},\n{lines[2]}, {lines[3]};\n{options_short(config)}"


def samples_text(report: Dict[str, Any]) -> str:
    counts = sorted({layer["samples"] for layer in report["layers"]})
    per = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    limit = report["config"]["sample_limit"]
    return f"{per} per layer" + ("" if limit is None else f" (limited to the first {limit})")


def config_line(report: Dict[str, Any]) -> str:
    c = report["config"]
    return f"{c['encoding']} encoding, {c['baseline_width']}-bit baseline"


# ------------------------------------------------------------------------------------------------
# Figures


def _setup_matplotlib() -> None:
    plt.rcParams.update({
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "legend.fontsize": 8,
        "svg.fonttype": "none",  # text stays text: searchable, editable, small
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.axisbelow": True,
    })


def _layer_axis(ax, names: Sequence[str]) -> None:
    n = len(names)
    ax.set_xticks(range(n))
    size = 8 if n <= 20 else 6.5 if n <= 60 else 5
    ax.set_xticklabels(names, rotation=90 if n > 8 else 30, ha="center" if n > 8 else "right", fontsize=size)
    ax.set_xlim(-0.6, n - 0.4)
    ax.grid(axis="x", visible=False)


def _log_axis(ax, values: Sequence[float], reference: Optional[float] = None) -> None:
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    if reference is not None:
        finite.append(reference)
    lo, hi = (min(finite), max(finite)) if finite else (0.5, 2.0)
    ax.set_yscale("log")
    ax.set_ylim(lo / 1.6, hi * 1.6)
    ax.yaxis.set_major_locator(LogLocator(base=10))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    if hi / lo < 300:  # up to about two and a half decades: label the 2× and 5× steps too
        ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())


def _layer_width(n: int) -> float:
    return min(max(6.5, 0.2 * n + 2.0), 18.0)


def _legend_above(ax, fig, title: str, entries: int) -> None:
    """The legend between the title and the axes, in as many rows as the figure's width needs."""
    ncol = entries if fig.get_figwidth() >= 10 else 2
    rows = -(-entries // ncol)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=ncol, frameon=False, borderaxespad=0.2)
    ax.set_title(title, pad=6 + 14 * rows)


def _finite(values: Sequence[float]) -> List[float]:
    return [v if math.isfinite(v) else float("nan") for v in values]


def _note_infinite(ax, count: int, what: str) -> None:
    if count:
        ax.text(0.995, 0.98, f"{count} infinite {what} (no work) not drawn", transform=ax.transAxes,
                ha="right", va="top", fontsize=7, color="#444444")


def figure_work_potential(report):
    layers = report["layers"]
    names = [l["name"] for l in layers]
    fig, ax = plt.subplots(figsize=(_layer_width(len(names)), 4.6))
    series = {}
    infinite = 0
    all_values = []
    for method in WORK_METHODS:
        colour, marker, label = STYLE[method]
        values = [work_potential(l, method) for l in layers]
        infinite += sum(1 for v in values if math.isinf(v))
        all_values += values
        total = work_potential(report["totals"]["all"], method)
        (line,) = ax.plot(range(len(names)), _finite(values), marker=marker, color=colour, markersize=4.5,
                          linewidth=0.8, alpha=0.9, label=f"{label} (network: {times(total)}×)")
        series[method] = line
    ax.axhline(1.0, color="black", linewidth=0.8)
    _log_axis(ax, all_values, reference=1.0)
    _layer_axis(ax, names)
    _note_infinite(ax, infinite, "potentials")
    ax.set_ylabel("potential speedup over bit-parallel (×, log)\nbaseline work / work, single-bit products")
    ax.set_xlabel("layer (network order)")
    _legend_above(ax, fig, f"{report['network']}: work potential per layer ({config_line(report)})",
                  len(WORK_METHODS))
    fig.tight_layout()
    data = {"x": names, "y_label": ax.get_ylabel(), "series": {m: list(map(float, line.get_ydata()))
                                                               for m, line in series.items()}}
    return fig, data


def figure_cycle_speedup(report):
    layers = report["layers"]
    names = [l["name"] for l in layers]
    fig, ax = plt.subplots(figsize=(_layer_width(len(names)), 4.6))
    series = {}
    all_values = []
    for method in CYCLE_METHODS:
        colour, marker, label = STYLE[method]
        values = [cycle_speedup(l, method) for l in layers]
        all_values += values
        total = cycle_speedup(report["totals"]["all"], method)
        (line,) = ax.plot(range(len(names)), _finite(values), marker=marker, color=colour, markersize=4.5,
                          linewidth=0.8, label=f"{label} (network: {times(total)}×)")
        series[method] = line
    ax.axhline(1.0, color="black", linewidth=0.8, label="bit-parallel baseline (1×)")
    _log_axis(ax, all_values, reference=1.0)
    _layer_axis(ax, names)
    ax.set_ylabel("speedup over bit-parallel (×, log)\nbaseline cycles / cycles")
    ax.set_xlabel("layer (network order)")
    _legend_above(ax, fig, f"{report['network']}: cycle speedup per layer ({config_line(report)})\n"
                           f"{accelerators_title(report['config'])}", len(CYCLE_METHODS) + 1)
    fig.tight_layout()
    data = {"x": names, "y_label": ax.get_ylabel(), "series": {m: list(map(float, line.get_ydata()))
                                                               for m, line in series.items()}}
    return fig, data


def figure_terms_per_layer(report):
    layers = report["layers"]
    names = [l["name"] for l in layers]
    n = len(names)
    fig, axes = plt.subplots(1, 2, figsize=(9.5, max(3.2, 0.17 * n + 1.9)), layout="constrained")
    data = {"y": names, "series": {}, "mean": {}}
    image = None
    label_size = 8 if n <= 20 else 6.5 if n <= 60 else 5
    for ax, tensor in zip(axes, TENSORS):
        counts = histogram_matrix(report, tensor)
        matrix = np.vstack([shares(row) for row in counts]) * 100.0
        width = matrix.shape[1]
        # Vector cells (not a raster image), so the figure scales in a paper.
        image = ax.pcolormesh(np.arange(width + 1) - 0.5, np.arange(n + 1) - 0.5, matrix, cmap="YlGnBu",
                              vmin=0.0, vmax=100.0, edgecolors="face", linewidth=0)
        ax.set_ylim(n - 0.5, -0.5)  # first layer on top
        ax.set_xticks(range(width))
        ax.set_xlabel("terms per value t")
        ax.set_yticks(range(n))
        ax.set_yticklabels(names, fontsize=label_size)
        ax.grid(False)
        # The layer's mean terms per value on the right-hand axis.
        means = [histogram_stats(layer["terms"][tensor]["histogram"])[0] for layer in layers]
        right = ax.twinx()
        right.set_ylim(ax.get_ylim())
        right.set_yticks(range(n))
        right.set_yticklabels([f"{m:.2f}" for m in means], fontsize=label_size)
        right.set_ylabel("mean terms per value", fontsize=8)
        right.grid(False)
        ax.set_title(tensor)
        if n <= 20:
            for i in range(n):
                for t in range(width):
                    v = matrix[i, t]
                    text = "<1" if 0 < v < 0.5 else f"{v:.0f}"
                    ax.text(t, i, text, ha="center", va="center", fontsize=6.5,
                            color="white" if v > 55 else "black")
        data["series"][tensor] = np.asarray(image.get_array()).reshape(n, width).tolist()
        data["mean"][tensor] = [float(t.get_text()) for t in right.get_yticklabels()]
    axes[0].set_ylabel("layer (network order)")
    bar = fig.colorbar(image, ax=list(axes), fraction=0.05, pad=0.02, aspect=40)
    bar.set_label("share of values with t terms (%)")
    fig.suptitle(f"{report['network']}: terms per value per layer ({report['config']['encoding']} encoding)")
    return fig, data


def figure_terms_overall(report):
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    data = {"series": {}}
    width = max(len(overall_histogram(report, t)) for t in TENSORS)
    offsets = {"activations": -0.2, "weights": 0.2}
    colours = {"activations": "#0072b2", "weights": "#d55e00"}
    top = 0.0
    for tensor in TENSORS:
        hist = overall_histogram(report, tensor)
        hist = hist + [0] * (width - len(hist))
        total = sum(hist)
        values = [100.0 * h / total if total else 0.0 for h in hist]
        mean, zeros = histogram_stats(hist)
        bars = ax.bar(np.arange(width) + offsets[tensor], values, width=0.4, color=colours[tensor],
                      label=f"{tensor}: mean {mean:.2f} terms, {100 * zeros:.1f}% zero ({total:,} values)")
        ax.bar_label(bars, labels=[f"{v:.1f}" if v > 0 else "" for v in values], fontsize=7, padding=1)
        data["series"][tensor] = [float(b.get_height()) for b in bars]
        top = max([top] + values)
    ax.set_xticks(range(width))
    ax.set_xlabel("terms per value t")
    ax.set_ylabel("share of values (%)")
    ax.set_ylim(0, min(100.0, top * 1.35 + 2))
    ax.set_title(f"{report['network']}: terms per value, whole network ({report['config']['encoding']} encoding)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    data["x"] = list(range(width))
    return fig, data


def figure_network_summary(report):
    groups = [("all", f"all layers ({report['totals']['all']['layers']})")]
    if report["totals"]["conv"]["layers"] > 0 and report["totals"]["conv"]["layers"] != report["totals"]["all"]["layers"]:
        groups.append(("conv", f"conv layers ({report['totals']['conv']['layers']})"))
    fig, (ax_work, ax_cycles) = plt.subplots(1, 2, figsize=(9.5, 4.0),
                                             gridspec_kw={"width_ratios": [len(WORK_METHODS), len(CYCLE_METHODS) + 1]})
    data = {"groups": [g for g, _ in groups], "work_potential": {}, "cycle_speedup": {}}
    for ax, methods, value_of, key in ((ax_work, WORK_METHODS, work_potential, "work_potential"),
                                       (ax_cycles, CYCLE_METHODS, cycle_speedup, "cycle_speedup")):
        width = 0.8 / len(groups)
        all_values = []
        for g, (group, label) in enumerate(groups):
            values = [value_of(report["totals"][group], m) for m in methods]
            all_values += values
            x = np.arange(len(methods)) + (g - (len(groups) - 1) / 2) * width
            # Bars start at 1×: above 1 a gain, below a loss, on a log axis.
            heights = [v - 1.0 if math.isfinite(v) else float("nan") for v in _finite(values)]
            bars = ax.bar(x, heights, width=width * 0.95, bottom=1.0, label=label,
                          color=[STYLE[m][0] for m in methods], alpha=1.0 if g == 0 else 0.55,
                          edgecolor="black", linewidth=0.5, hatch=None if g == 0 else "//")
            data[key][group] = [float(b.get_y() + b.get_height()) for b in bars]
            for b, v in zip(bars, values):
                top = b.get_y() + b.get_height() if math.isfinite(v) else 1.0
                ax.annotate(f"{times(v)}×", (b.get_x() + b.get_width() / 2, max(top, 1.0) if v >= 1 else top),
                            xytext=(0, 2 if v >= 1 else -2), textcoords="offset points", ha="center",
                            va="bottom" if v >= 1 else "top", fontsize=7.5)
        ax.axhline(1.0, color="black", linewidth=0.8)
        _log_axis(ax, all_values, reference=1.0)
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels([STYLE[m][2] for m in methods])
        ax.grid(axis="x", visible=False)
    ax_work.set_ylabel("potential speedup over bit-parallel (×, log)\nbaseline work / work")
    ax_work.set_title("work potential")
    ax_cycles.set_ylabel("speedup over bit-parallel (×, log)\nbaseline cycles / cycles")
    short = accelerators_short(report["config"])
    ax_cycles.set_title("cycles, T×Rt×Ct×L:\n" + ",\n".join(short), fontsize=8)
    if len(groups) > 1:
        ax_work.legend(loc="upper left")
    fig.suptitle(f"{report['network']}: whole network ({config_line(report)}; {options_short(report['config'])})")
    fig.tight_layout()
    return fig, data


FIGURE_MAKERS = {
    "work_potential": figure_work_potential,
    "cycle_speedup": figure_cycle_speedup,
    "terms_per_layer": figure_terms_per_layer,
    "terms_overall": figure_terms_overall,
    "network_summary": figure_network_summary,
}


def _json_safe(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def write_atomically(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_figure(fig, out_dir: str, name: str, dpi: int) -> None:
    # Per-figure salt: ids inside one HTML page stay apart, and stay the same from run to run.
    plt.rcParams["svg.hashsalt"] = f"laconic-{name}"
    for ext, metadata in (("png", {"Software": None}), ("svg", {"Date": None})):
        path = os.path.join(out_dir, f"{name}.{ext}")
        tmp = f"{path}.tmp.{os.getpid()}"
        try:
            fig.savefig(tmp, format=ext, dpi=dpi, metadata=metadata)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


# ------------------------------------------------------------------------------------------------
# Summary


def summary_tables(report: Dict[str, Any]) -> Dict[str, Any]:
    """The summary's numbers, as rows of text, computed from the report's counts."""
    c = report["config"]
    totals = report["totals"]
    layers = report["layers"]
    n_conv = sum(1 for l in layers if l["type"] == "conv")
    config_rows = [
        ("network", report["network"]),
        ("traces", c["source"] or "(not given)"),
        ("engine", report["engine"]),
        ("encoding", c["encoding"]),
        ("preset", preset_text(c) + ("" if c["preset"] is None else
                                     " (each accelerator at its own geometry, as DNNsim compares them)"
                                     if c["preset"] == "dnnsim" else " (every accelerator at one geometry)")),
    ]
    for name in ACCELERATORS:
        config_rows.append((ACCELERATOR_NAMES[name], f"{geometry_long(c['accelerators'][name])}; "
                                                     f"{accelerator_options(c, name)}"))
    config_rows += [
        ("depthwise mapping", c["depthwise"]),
        ("first-layer fold", "on" if c["fold_first_layer"] else "off"),
        ("samples", samples_text(report)),
        ("layers", f"{len(layers)} ({n_conv} conv, {len(layers) - n_conv} fc)"),
        ("tool", f"laconic {report['version']}"),
    ]
    groups = [("all", "all layers")] + ([("conv", "conv layers")] if totals["conv"]["layers"] else [])
    total_rows = [("MACs", [f"{totals[g]['macs']:,}" for g, _ in groups]),
                  ("baseline work (single-bit products)", [f"{totals[g]['work']['baseline']:,}" for g, _ in groups]),
                  ("Laconic work (single-bit products)", [f"{totals[g]['work']['laconic']:,}" for g, _ in groups])]
    for m in WORK_METHODS:
        total_rows.append((f"{STYLE[m][2]} potential (baseline work / work)",
                           [f"{times(work_potential(totals[g], m))}×" for g, _ in groups]))
    total_rows.append(("baseline cycles", [f"{totals[g]['cycles']['baseline']:,}" for g, _ in groups]))
    for m in CYCLE_METHODS:
        total_rows.append((f"{STYLE[m][2]} cycles", [f"{totals[g]['cycles'][m]:,}" for g, _ in groups]))
        total_rows.append((f"{STYLE[m][2]} speedup (baseline cycles / cycles)",
                           [f"{times(cycle_speedup(totals[g], m))}×" for g, _ in groups]))
    for m in ("stripes", "pragmatic"):
        total_rows.append((f"Laconic over {STYLE[m][2]} ({STYLE[m][2]} cycles / Laconic cycles)",
                           [f"{times(speedup(totals[g]['cycles'][m], totals[g]['cycles']['laconic']))}×"
                            for g, _ in groups]))
    for tensor in TENSORS:
        cells = []
        for g, _ in groups:
            hist = overall_histogram({"layers": [l for l in layers if g == "all" or l["type"] == "conv"]}, tensor)
            mean, zeros = histogram_stats(hist)
            cells.append(f"{mean:.3f} terms, {100 * zeros:.1f}% zero")
        total_rows.append((f"{tensor} per value", cells))

    all_laconic = totals["all"]["cycles"]["laconic"]
    busiest = sorted(range(len(layers)), key=lambda i: (-layers[i]["cycles"]["laconic"], i))[:5]
    busy_rows = []
    for i in busiest:
        l = layers[i]
        share = 100.0 * l["cycles"]["laconic"] / all_laconic if all_laconic else 0.0
        busy_rows.append((l["name"], l["type"], f"{l['cycles']['laconic']:,}", f"{share:.1f}%",
                          f"{times(cycle_speedup(l, 'laconic'))}×", f"{times(work_potential(l, 'laconic'))}×"))
    return {"config": config_rows, "groups": [label for _, label in groups], "totals": total_rows,
            "busiest": busy_rows}


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def summary_markdown(report: Dict[str, Any], report_name: str, digest: str) -> str:
    t = summary_tables(report)
    out = [f"# laconic profile: {_md(report['network'])}", ""]
    out.append(f"Made by `scripts/plot_profile.py` from `{_md(report_name)}` (SHA-256 `{digest}`) alone; "
               "rerun it on that report to reproduce every number and figure. Ratios are ratios of the "
               "report's integer sums (MODEL.md §4, §5, §8, §9).")
    out += ["", "| configuration | |", "| --- | --- |"]
    out += [f"| {k} | {_md(v)} |" for k, v in t["config"]]
    out += ["", "## Totals", "", "| | " + " | ".join(t["groups"]) + " |",
            "| --- |" + " ---: |" * len(t["groups"])]
    out += [f"| {k} | " + " | ".join(cells) + " |" for k, cells in t["totals"]]
    out += ["", "## Layers with the most Laconic cycles", "",
            "| layer | type | Laconic cycles | share | Laconic speedup | Laconic potential |",
            "| --- | --- | ---: | ---: | ---: | ---: |"]
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in t["busiest"]]
    out += ["", "## Figures", ""]
    for name in FIGURES:
        out += [f"![{name}]({name}.png)", "", f"*{CAPTIONS[name]}* ([SVG]({name}.svg))", ""]
    return "\n".join(out)


def _inline_svg(svg_text: str) -> str:
    # Drop the XML prolog and doctype; an inline <svg> needs neither.
    start = svg_text.find("<svg")
    svg = svg_text[start:]
    return re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"', r'<svg \1', svg, count=1)


def summary_html(report: Dict[str, Any], report_name: str, digest: str, svgs: Dict[str, str]) -> str:
    t = summary_tables(report)
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>laconic profile: {e(report['network'])}</title>",
           "<style>body{font-family:sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222}"
           "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:0.2em 0.6em}"
           "td.n{text-align:right;font-variant-numeric:tabular-nums}figure{margin:1.5em 0}"
           "figure svg{max-width:100%;height:auto}figcaption{font-size:0.9em;color:#444}</style>",
           "</head>", "<body>", f"<h1>laconic profile: {e(report['network'])}</h1>",
           f"<p>Made by <code>scripts/plot_profile.py</code> from <code>{e(report_name)}</code> (SHA-256 "
           f"<code>{digest}</code>) alone; rerun it on that report to reproduce every number and figure. "
           "Ratios are ratios of the report's integer sums (MODEL.md §4, §5, §8, §9).</p>",
           "<table>"]
    out += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in t["config"]]
    out += ["</table>", "<h2>Totals</h2>", "<table>",
            "<tr><th></th>" + "".join(f"<th>{e(g)}</th>" for g in t["groups"]) + "</tr>"]
    out += ["<tr><th>" + e(k) + "</th>" + "".join(f'<td class="n">{e(c)}</td>' for c in cells) + "</tr>"
            for k, cells in t["totals"]]
    out += ["</table>", "<h2>Layers with the most Laconic cycles</h2>", "<table>",
            "<tr><th>layer</th><th>type</th><th>Laconic cycles</th><th>share</th><th>Laconic speedup</th>"
            "<th>Laconic potential</th></tr>"]
    numeric = ' class="n"'
    out += ["<tr>" + "".join(f"<td{numeric if i >= 2 else ''}>{e(c)}</td>" for i, c in enumerate(row)) + "</tr>"
            for row in t["busiest"]]
    out += ["</table>", "<h2>Figures</h2>"]
    for name in FIGURES:
        out += ["<figure>", _inline_svg(svgs[name]), f"<figcaption>{e(CAPTIONS[name])}</figcaption>", "</figure>"]
    out += [f"<p><small>Rendered with matplotlib {e(matplotlib.__version__)}.</small></p>", "</body>", "</html>", ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------
# Command line


def plot_report(report_path: str, out_dir: str, dpi: int = 150) -> Dict[str, Any]:
    """Writes every figure, figure_data.json and the summaries; returns the figure data."""
    report = load_report(report_path)
    with open(report_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    os.makedirs(out_dir, exist_ok=True)
    _setup_matplotlib()
    figure_data: Dict[str, Any] = {}
    svgs: Dict[str, str] = {}
    for name in FIGURES:
        fig, data = FIGURE_MAKERS[name](report)
        save_figure(fig, out_dir, name, dpi)
        plt.close(fig)
        figure_data[name] = data
        with open(os.path.join(out_dir, f"{name}.svg"), encoding="utf-8") as f:
            svgs[name] = f.read()
    doc = {"report": os.path.basename(report_path), "report_sha256": digest, "network": report["network"],
           "figures": figure_data}
    write_atomically(os.path.join(out_dir, "figure_data.json"),
                     (json.dumps(_json_safe(doc), indent=1) + "\n").encode("utf-8"))
    name = os.path.basename(report_path)
    write_atomically(os.path.join(out_dir, "summary.md"), summary_markdown(report, name, digest).encode("utf-8"))
    write_atomically(os.path.join(out_dir, "summary.html"), summary_html(report, name, digest, svgs).encode("utf-8"))
    return doc


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Figures (PNG and SVG) and a one-page summary (Markdown and self-contained HTML) from a "
                    "JSON report of `laconic profile --json`.",
        epilog="Files written into DIR: " + ", ".join(f"{n}.png/.svg" for n in FIGURES) +
               ", figure_data.json (every plotted number), summary.md, summary.html.\n"
               "Exit status: 0 success, 1 a report that cannot be read or is not a laconic profile report, "
               "2 bad usage.")
    parser.add_argument("report", metavar="REPORT.json", help="a JSON report of laconic profile --json")
    parser.add_argument("--out", metavar="DIR", required=True, help="output directory (created if needed)")
    parser.add_argument("--dpi", type=int, default=150, help="resolution of the PNG figures (default 150)")
    args = parser.parse_args(argv)
    if args.dpi < 30 or args.dpi > 1200:
        parser.error("--dpi must be between 30 and 1200")
    if matplotlib is None:
        print(f"{PROG}: error: matplotlib is not importable (Debian: apt-get install python3-matplotlib)",
              file=sys.stderr)
        return 1
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        print(f"{PROG}: error: --out {args.out}: exists and is not a directory", file=sys.stderr)
        return 1
    try:
        plot_report(args.report, args.out, args.dpi)
    except ReportError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{PROG}: error: {e.filename or args.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(os.path.join(args.out, "summary.html"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
