"""Tests of scripts/plot_profile.py.

Run from the repository root:  /usr/bin/python3 -m unittest tests/python/test_plot_profile.py

The script runs as a user runs it (a subprocess) on a report of the bundled tiny network made by the
laconic binary ($LACONIC_BINARY, else build/laconic) and on hand-made reports with edge cases. The
files must exist and be valid PNG, SVG and HTML, and every plotted number (figure_data.json, read
back from the drawn figures, and the labels in the SVG text) must equal what the tests compute
here from the report's integer counts. Skipped where matplotlib or numpy is not importable
(Debian: python3-matplotlib python3-numpy); CI installs both.
"""

import copy
import html.parser
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "scripts", "plot_profile.py")
TINY = os.path.join(REPO, "datasets", "tiny", "manifest.json")
FIGURES = ("work_potential", "cycle_speedup", "terms_per_layer", "terms_overall", "network_summary")
WORK_METHODS = ("zero_skip", "stripes", "pragmatic", "laconic")
CYCLE_METHODS = ("stripes", "pragmatic", "laconic")
ACCELERATORS = ("baseline", "stripes", "pragmatic", "laconic")

try:
    import numpy  # noqa: F401
    import matplotlib  # noqa: F401
    HAVE_MATPLOTLIB = True
except ImportError:  # pragma: no cover
    HAVE_MATPLOTLIB = False

needs_matplotlib = unittest.skipUnless(HAVE_MATPLOTLIB, "matplotlib or numpy is not importable")



def x(v):
    """A speedup as the reports and figures print it: three significant digits below 1, two
    decimals from 1 on (README: "Figures and a one-page summary")."""
    return f"{v:.3g}" if v < 1 else f"{v:.2f}"

def find_laconic():
    for c in (os.environ.get("LACONIC_BINARY"), os.path.join(REPO, "build", "laconic")):
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


LACONIC = find_laconic()


def run_script(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=300)


def ratio(baseline, x):
    return None if x == 0 else baseline / x  # None: infinite, not drawn (JSON null)


def read_png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise AssertionError(f"{path} is not a PNG file")
    return struct.unpack(">II", head[16:24])


def svg_texts(path):
    """Every text string drawn in an SVG figure (the script keeps text as text)."""
    root = ET.parse(path).getroot()
    if not root.tag.endswith("svg"):
        raise AssertionError(f"{path}: root element is {root.tag}, not svg")
    return ["".join(t.itertext()) for t in root.iter() if t.tag.endswith("}text")]


class HtmlCounter(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = {}
        self.external = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for name, value in attrs:
            if name in ("src", "href", "xlink:href") and value and not value.startswith(("#", "data:")):
                self.external.append((tag, name, value))


class Checks(unittest.TestCase):
    """Comparisons of a script run's output with its report; subclasses make the run."""

    report = None
    out = None

    def assertClose(self, got, expected, what, rel=1e-9):
        if expected is None:
            self.assertIsNone(got, what)
        else:
            self.assertIsNotNone(got, what)
            self.assertTrue(math.isclose(got, expected, rel_tol=rel, abs_tol=1e-12),
                            f"{what}: plotted {got}, report gives {expected}")

    def assertContains(self, phrase, text, what):
        self.assertTrue(phrase in text, f"{what} lacks {phrase!r}")

    def data(self):
        with open(os.path.join(self.out, "figure_data.json"), encoding="utf-8") as f:
            return json.load(f)["figures"]

    def check_files(self):
        for name in FIGURES:
            width, height = read_png_size(os.path.join(self.out, f"{name}.png"))
            self.assertGreater(width, 200, name)
            self.assertGreater(height, 100, name)
            texts = svg_texts(os.path.join(self.out, f"{name}.svg"))
            self.assertTrue(any(self.report["network"] in t for t in texts), f"{name}.svg names no network")
        for name in ("summary.md", "summary.html", "figure_data.json"):
            self.assertGreater(os.path.getsize(os.path.join(self.out, name)), 0, name)
        left = [n for n in os.listdir(self.out) if ".tmp." in n]
        self.assertEqual(left, [], "temporary files left behind")

    def check_work_potential(self):
        d = self.data()["work_potential"]
        layers = self.report["layers"]
        self.assertEqual(d["x"], [l["name"] for l in layers])
        for m in WORK_METHODS:
            self.assertEqual(len(d["series"][m]), len(layers))
            for l, got in zip(layers, d["series"][m]):
                self.assertClose(got, ratio(l["work"]["baseline"], l["work"][m]), f"{l['name']} {m} potential")
        texts = svg_texts(os.path.join(self.out, "work_potential.svg"))
        t = self.report["totals"]["all"]["work"]
        for m in WORK_METHODS:
            label = f"network: {x(t['baseline'] / t[m])}×"
            self.assertTrue(any(label in s for s in texts), f"legend lacks {label!r}")

    def check_cycle_speedup(self):
        d = self.data()["cycle_speedup"]
        layers = self.report["layers"]
        self.assertEqual(d["x"], [l["name"] for l in layers])
        for m in CYCLE_METHODS:
            self.assertEqual(len(d["series"][m]), len(layers), m)
            for l, got in zip(layers, d["series"][m]):
                self.assertClose(got, ratio(l["cycles"]["baseline"], l["cycles"][m]), f"{l['name']} {m} speedup")
        # The title gives every accelerator's geometry and options (MODEL.md §8, §9).
        text = "\n".join(svg_texts(os.path.join(self.out, "cycle_speedup.svg")))
        for phrase in self.accelerator_phrases():
            self.assertContains(phrase, text, "cycle_speedup.svg")
        text = "\n".join(svg_texts(os.path.join(self.out, "network_summary.svg")))
        for phrase in self.accelerator_phrases()[:-1]:
            self.assertContains(phrase, text, "network_summary.svg")

    def accelerator_phrases(self):
        """How the figures' titles state each accelerator's geometry and options."""
        c = self.report["config"]
        a = c["accelerators"]
        g = {n: "×".join(str(a[n][k]) for k in ("tiles", "rows", "columns", "lanes")) for n in ACCELERATORS}
        b = a["pragmatic"]["shifter_bits"]
        return [f"baseline {g['baseline']} ({c['baseline_width']}-bit)", f"Stripes {g['stripes']}",
                f"Pragmatic {g['pragmatic']} (B = {'inf' if b is None else b}, R = {a['pragmatic']['column_registers']})",
                f"Laconic {g['laconic']} (R = {a['laconic']['column_registers']})",
                f"preset {c['preset'] or 'custom'}, depthwise {c['depthwise']}, "
                f"first-layer fold {'on' if c['fold_first_layer'] else 'off'}"]

    def check_terms(self):
        d = self.data()
        layers = self.report["layers"]
        for tensor in ("activations", "weights"):
            width = max(len(l["terms"][tensor]["histogram"]) for l in layers)
            rows = d["terms_per_layer"]["series"][tensor]
            self.assertEqual(len(rows), len(layers))
            for l, row, mean in zip(layers, rows, d["terms_per_layer"]["mean"][tensor]):
                hist = l["terms"][tensor]["histogram"]
                total = sum(hist)
                self.assertEqual(len(row), width)
                for t in range(width):
                    expected = 100.0 * hist[t] / total if t < len(hist) and total else 0.0
                    self.assertClose(row[t], expected, f"{l['name']} {tensor} t={t}")
                # The right-hand labels: mean terms to two decimals, and the report's own mean.
                self.assertAlmostEqual(mean, sum(t * n for t, n in enumerate(hist)) / total, delta=0.005001)
                self.assertAlmostEqual(mean, l["terms"][tensor]["mean"], delta=0.005001)
            # Overall: exact integer sums over the layers.
            sums = [sum(l["terms"][tensor]["histogram"][t] for l in layers if t < len(l["terms"][tensor]["histogram"]))
                    for t in range(width)]
            got = d["terms_overall"]["series"][tensor]
            for t in range(width):
                self.assertClose(got[t], 100.0 * sums[t] / sum(sums), f"overall {tensor} t={t}")

    def check_network_summary(self, groups):
        d = self.data()["network_summary"]
        self.assertEqual(d["groups"], groups)
        texts = svg_texts(os.path.join(self.out, "network_summary.svg"))
        for g in groups:
            t = self.report["totals"][g]
            for m, got in zip(WORK_METHODS, d["work_potential"][g]):
                expected = ratio(t["work"]["baseline"], t["work"][m])
                self.assertClose(got, expected, f"{g} {m} potential")
                self.assertIn(f"{x(expected)}×", texts)
            for m, got in zip(CYCLE_METHODS, d["cycle_speedup"][g]):
                expected = ratio(t["cycles"]["baseline"], t["cycles"][m])
                self.assertClose(got, expected, f"{g} {m} speedup")
                self.assertIn(f"{x(expected)}×", texts)

    def check_summaries(self):
        with open(os.path.join(self.out, "summary.md"), encoding="utf-8") as f:
            md = f.read()
        with open(os.path.join(self.out, "summary.html"), encoding="utf-8") as f:
            page = f.read()
        r, c = self.report, self.report["config"]
        a = c["accelerators"]

        def plural(v, one, many):
            return f"{v} {one if v == 1 else many}"
        geometries = [f"{plural(a[n]['tiles'], 'tile', 'tiles')} × {plural(a[n]['rows'], 'row', 'rows')} (filters) × "
                      f"{plural(a[n]['columns'], 'column', 'columns')} (windows) × "
                      f"{plural(a[n]['lanes'], 'lane', 'lanes')} (channels)" for n in ACCELERATORS]
        b = a["pragmatic"]["shifter_bits"]
        options = [f"{c['baseline_width']}-bit operands", f"first-stage shifter B = {'inf' if b is None else b}",
                   f"depthwise mapping | {c['depthwise']}",
                   f"first-layer fold | {'on' if c['fold_first_layer'] else 'off'}",
                   f"preset | {c['preset'] or 'custom'}"]
        for text, what in ((md, "summary.md"), (page, "summary.html")):
            for phrase in (r["network"], f"| engine | {r['engine']} |" if what == "summary.md" else r["engine"],
                           c["encoding"], f"laconic {r['version']}", *geometries):
                self.assertContains(phrase, text, what)
            for phrase in options:
                if what == "summary.html":  # the same rows as table cells
                    phrase = phrase.replace(" | ", "</th><td>")
                self.assertContains(phrase, text, what)
            for m in ("Stripes", "Pragmatic"):
                t = r["totals"]["all"]["cycles"]
                self.assertContains(f"Laconic over {m}", text, what)
                self.assertContains(f"{x(t[m.lower()] / t['laconic'])}×" if t["laconic"] else "inf×", text, what)
            self.assertContains(c["source"] if what == "summary.md" else html.escape(c["source"]), text, what)
            t = r["totals"]["all"]
            self.assertContains(f"{t['macs']:,}", text, what)
            self.assertContains(f"{t['cycles']['laconic']:,}", text, what)
            self.assertContains(f"{x(t['work']['baseline'] / t['work']['laconic'])}×", text, what)
            self.assertContains(f"{x(t['cycles']['baseline'] / t['cycles']['laconic'])}×", text, what)
        for name in FIGURES:
            self.assertIn(f"]({name}.png)", md)
        parser = HtmlCounter()
        parser.feed(page)
        self.assertEqual(parser.tags.get("svg"), len(FIGURES))
        self.assertEqual(parser.tags.get("img", 0), 0)
        self.assertEqual(parser.external, [], "summary.html must be self-contained")


@needs_matplotlib
@unittest.skipIf(LACONIC is None, "no laconic binary (set LACONIC_BINARY)")
class OnTheTinyNetwork(Checks):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="laconic-plot-")
        path = os.path.join(cls.tmp, "tiny.json")
        # The reference engine computes MODEL.md §8 and §9 literally; the fast engines give the same counts.
        r = subprocess.run([LACONIC, "profile", TINY, "--json", path, "-q", "--engine", "cpu"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=300)
        if r.returncode != 0:
            raise AssertionError(f"laconic profile failed: {r.stderr}")
        with open(path, encoding="utf-8") as f:
            cls.report = json.load(f)
        cls.report_path = path
        cls.out = os.path.join(cls.tmp, "figures")
        cls.script_run = run_script(path, "--out", cls.out)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_runs_and_writes_valid_files(self):
        self.assertEqual(self.script_run.returncode, 0, self.script_run.stderr)
        self.assertEqual(self.script_run.stderr, "")
        self.check_files()

    def test_work_potentials_are_the_reports(self):
        self.check_work_potential()

    def test_cycle_speedups_are_the_reports(self):
        self.check_cycle_speedup()

    def test_term_histograms_are_the_reports(self):
        self.check_terms()

    def test_network_summary_is_the_reports(self):
        self.check_network_summary(["all", "conv"])

    def test_summaries_name_the_configuration_and_totals(self):
        self.check_summaries()

    def test_same_report_gives_the_same_bytes(self):
        again = os.path.join(self.tmp, "again")
        r = run_script(self.report_path, "--out", again)
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in sorted(os.listdir(self.out)):
            with open(os.path.join(self.out, name), "rb") as a, open(os.path.join(again, name), "rb") as b:
                self.assertEqual(a.read(), b.read(), f"{name} differs between two runs")


def layer(name, kind, macs, work, cycles, act_hist, wgt_hist, samples=1):
    def stats(h):
        n = sum(h)
        return {"mean": sum(t * c for t, c in enumerate(h)) / n if n else 0.0,
                "zero_fraction": h[0] / n if n else 0.0, "histogram": h}
    return {"name": name, "type": kind, "samples": samples, "macs": macs,
            "work": dict(zip(("baseline",) + WORK_METHODS, work)),
            "cycles": dict(zip(("baseline",) + CYCLE_METHODS, cycles)),
            "terms": {"activations": stats(act_hist), "weights": stats(wgt_hist)}}


def hand_made_report():
    """Two fc layers (no conv totals), one without any Laconic or Pragmatic work, histograms of
    different lengths (8- and 16-bit tensors)."""
    layers = [
        layer("fc_silent", "fc", 100, (25600, 0, 12800, 0, 0), (4, 32, 8, 4), [100, 0, 0, 0, 0, 0], [3, 5, 2, 0, 0, 0]),
        layer("fc|2", "fc", 300, (76800, 40000, 76800, 9000, 1500), (12, 192, 30, 60),
              [10, 20, 30, 40, 0, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 0, 0, 0, 0, 0]),
    ]
    def total(ls):
        t = {"layers": len(ls), "macs": sum(l["macs"] for l in ls), "work": {}, "cycles": {}}
        for k in ("baseline",) + WORK_METHODS:
            t["work"][k] = sum(l["work"][k] for l in ls)
        for k in ("baseline",) + CYCLE_METHODS:
            t["cycles"][k] = sum(l["cycles"][k] for l in ls)
        return t
    return {"tool": "laconic", "schema": 2, "version": "0.2.0", "network": "hand-made", "engine": "reference",
            "config": {"preset": None, "encoding": "naf", "baseline_width": 16,
                       "accelerators": {
                           "baseline": {"tiles": 1, "rows": 4, "columns": 1, "lanes": 16},
                           "stripes": {"tiles": 2, "rows": 4, "columns": 8, "lanes": 16},
                           "pragmatic": {"tiles": 2, "rows": 2, "columns": 8, "lanes": 4, "column_registers": 3,
                                         "shifter_bits": None},
                           "laconic": {"tiles": 2, "rows": 4, "columns": 8, "lanes": 1, "column_registers": 1}},
                       "depthwise": "per-group", "fold_first_layer": False,
                       "sample_limit": 1, "source": "written by a test: <not real> & 'quoted'"},
            "layers": layers, "totals": {"all": total(layers), "conv": total([])}}


@needs_matplotlib
class OnAHandMadeReport(Checks):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="laconic-plot-")
        cls.report = hand_made_report()
        cls.report_path = os.path.join(cls.tmp, "hand.json")
        with open(cls.report_path, "w", encoding="utf-8") as f:
            json.dump(cls.report, f)
        cls.out = os.path.join(cls.tmp, "out", "nested")
        cls.script_run = run_script(cls.report_path, "--out", cls.out, "--dpi", "60")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_edge_cases_plot_and_match(self):
        self.assertEqual(self.script_run.returncode, 0, self.script_run.stderr)
        self.check_files()
        self.check_work_potential()
        self.check_cycle_speedup()
        self.check_terms()
        self.check_network_summary(["all"])  # no conv layers: no conv group
        self.check_summaries()

    def test_infinite_potentials_are_marked_not_drawn(self):
        series = self.data()["work_potential"]["series"]
        for m in ("zero_skip", "pragmatic", "laconic"):  # fc_silent has none of their work
            self.assertIsNone(series[m][0], m)
        self.assertEqual(series["stripes"][0], 2.0)
        texts = svg_texts(os.path.join(self.out, "work_potential.svg"))
        self.assertTrue(any("3 infinite potentials (no work) not drawn" in t for t in texts), texts)

    def test_summary_without_conv_layers_has_one_column(self):
        with open(os.path.join(self.out, "summary.md"), encoding="utf-8") as f:
            md = f.read()
        self.assertIn("| | all layers |\n", md)
        self.assertNotIn("| conv layers", md)
        self.assertIn("fc\\|2", md)  # a | in a layer name does not break the table
        self.assertIn("(limited to the first 1)", md)


@needs_matplotlib
class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="laconic-plot-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def fails(self, path, *phrases, status=1):
        out = os.path.join(self.tmp, "out-" + os.path.basename(path))
        r = run_script(path, "--out", out)
        self.assertEqual(r.returncode, status, r.stderr)
        for phrase in (path,) + phrases:
            self.assertIn(phrase, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "summary.html")))
        return r

    def test_missing_file(self):
        self.fails(os.path.join(self.tmp, "no-such.json"), "cannot read the report")

    def test_not_json(self):
        self.fails(self.write("report.md", "# laconic profile\n"), "not valid JSON")

    def test_not_a_laconic_report(self):
        self.fails(self.write("other.json", '{"tool": "other"}'), "not a laconic profile report")
        self.fails(self.write("comparison.json", '{"tool": "laconic", "kind": "comparison"}'), "laconic compare")

    def test_missing_and_mistyped_fields(self):
        cases = [
            (lambda d: d["layers"][1]["work"].pop("laconic"), "layers[1].work.laconic is missing"),
            (lambda d: d["layers"][0]["cycles"].__setitem__("stripes", -3), "layers[0].cycles.stripes"),
            (lambda d: d["layers"][0]["terms"]["weights"]["histogram"].__setitem__(2, 1.5),
             "layers[0].terms.weights.histogram[2]"),
            (lambda d: d["config"]["accelerators"]["laconic"].pop("lanes"), "config.accelerators.laconic.lanes is missing"),
            (lambda d: d["config"]["accelerators"].pop("pragmatic"), "config.accelerators.pragmatic is missing"),
            (lambda d: d["config"]["accelerators"]["pragmatic"].__setitem__("shifter_bits", "inf"),
             "config.accelerators.pragmatic.shifter_bits is not a non-negative integer"),
            (lambda d: d["config"]["accelerators"]["laconic"].pop("column_registers"),
             "config.accelerators.laconic.column_registers is missing"),
            (lambda d: d["config"].__setitem__("fold_first_layer", "on"), "config.fold_first_layer is not true or false"),
            (lambda d: d["config"].__setitem__("preset", 2), "config.preset is not a string"),
            (lambda d: d["layers"][1]["cycles"].pop("pragmatic"), "layers[1].cycles.pragmatic is missing"),
            (lambda d: d.__setitem__("schema", "2"), "schema is not an integer"),
            (lambda d: d.__setitem__("schema", 3), "a report of schema 3; this script reads schema 2"),
            (lambda d: d["totals"].pop("conv"), "totals.conv is missing"),
            (lambda d: d.__setitem__("layers", []), "no layers"),
            (lambda d: d["layers"][1].__setitem__("name", "fc_silent"), "two layers are named 'fc_silent'"),
        ]
        for i, (damage, phrase) in enumerate(cases):
            doc = copy.deepcopy(hand_made_report())
            damage(doc)
            self.fails(self.write(f"damaged{i}.json", json.dumps(doc)), phrase)

    def test_partial_reports_are_refused(self):
        doc = copy.deepcopy(hand_made_report())
        doc["partial"] = {"shard": {"index": 1, "count": 2}}
        self.fails(self.write("part-1.json", json.dumps(doc)), "a partial report", "laconic merge")

    def test_reports_of_laconic_0_1_are_refused(self):
        doc = copy.deepcopy(hand_made_report())
        del doc["schema"]
        doc["version"] = "0.1.0"
        self.fails(self.write("old.json", json.dumps(doc)), "a report of laconic 0.1.0 (report schema 1",
                   "re-run laconic profile --json")

    def test_usage(self):
        r = run_script("--help")
        self.assertEqual(r.returncode, 0)
        for phrase in ("REPORT.json", "--out", "summary.html", "figure_data.json", "Exit status"):
            self.assertIn(phrase, r.stdout)
        r = run_script(self.write("r.json", json.dumps(hand_made_report())))
        self.assertEqual(r.returncode, 2)
        self.assertIn("--out", r.stderr)
        not_a_dir = self.write("file", "")
        r = run_script(os.path.join(self.tmp, "r.json"), "--out", not_a_dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a directory", r.stderr)


if __name__ == "__main__":
    unittest.main()
