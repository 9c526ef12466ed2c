"""laconic.Session (the Python module, NumPy arrays only): a live session's reports equal those of
`laconic profile` on the same values written as .npy traces, byte for byte but for `engine` and
`source`, for every encoding, batch split, option set and engine; bad input raises laconic.Error
with the CLI's words and leaves the session as it was.

Run: PYTHONPATH=build/python /usr/bin/python3 tests/python/test_live_session.py
"""

import json
import os
import tempfile
import unittest

import live_util
from live_util import cli_profile, json_text_without_run_fields, without_run_fields, write_manifest

REASON = live_util.missing()
if REASON is None:
    import numpy as np
    import laconic

ENCODINGS = ("binary", "booth", "naf", "dnnsim-booth")


def network(seed=0, samples=5):
    """Three layers with awkward shapes and dtypes: a strided, unevenly padded grouped conv on
    uint8, a depthwise conv on int16 (signed activations), an fc on int32."""
    rng = np.random.default_rng(seed)

    def sparse(shape, lo, hi, dtype, zeros=0.4):
        v = rng.integers(lo, hi, size=shape, endpoint=True)
        v[rng.random(shape) < zeros] = 0
        return v.astype(dtype)

    return [
        {"name": "conv", "shape": laconic.conv_shape(6, 11, 9, 8, (3, 2), stride=(2, 1), padding=(1, 0, 2, 1),
                                                     groups=2),
         "stride": [2, 1], "padding": {"top": 1, "bottom": 0, "left": 2, "right": 1}, "groups": 2,
         "a": sparse((samples, 6, 11, 9), 0, 255, np.uint8), "w": sparse((8, 3, 3, 2), -128, 127, np.int8, 0.05)},
        {"name": "dw", "shape": laconic.conv_shape(20, 7, 7, 20, 3, padding=1, groups=20),
         "padding": 1, "groups": 20,
         "a": sparse((samples, 20, 7, 7), -3000, 3000, np.int16), "w": sparse((20, 1, 3, 3), -500, 500, np.int16)},
        {"name": "fc", "type": "fc", "shape": laconic.fc_shape(40, 7),
         "a": sparse((samples, 40), 0, 70000, np.int32), "w": sparse((7, 40), -9, 9, np.int32, 0.2)},
    ]


def manifest_of(directory, layers, splits):
    """The layers as .npy traces, each batch a file."""
    entries = []
    for layer in layers:
        bounds = np.cumsum([0] + list(splits))
        entries.append({**{k: layer[k] for k in ("name", "type", "stride", "padding", "groups") if k in layer},
                        "activations": [layer["a"][b:e] for b, e in zip(bounds[:-1], bounds[1:])],
                        "weights": layer["w"]})
    return write_manifest(directory, "net", entries)


def live(layers, splits, dlpack=False, **options):
    session = laconic.Session("net", source="test", quiet=True, **options)
    bounds = np.cumsum([0] + list(splits))
    for b, e in zip(bounds[:-1], bounds[1:]):
        for layer in layers:
            a = layer["a"][b:e]
            session.add(layer["name"], layer["shape"], a.__dlpack__() if dlpack else a,
                        layer["w"] if b == 0 else None)
    return session


@live_util.requires(REASON)
class AgainstTheCommandLine(unittest.TestCase):
    """A session fed batch by batch = `laconic profile` on the concatenated traces."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.layers = network()
        cls.manifest = manifest_of(cls.tmp.name, cls.layers, (2, 3))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check(self, splits, cli_options, engine="cpu", **options):
        doc, text, csv = cli_profile(self.manifest, self.tmp.name, "--engine", "cpu", *cli_options)
        report = live(self.layers, splits, engine=engine, **options).report()
        self.assertEqual(json_text_without_run_fields(report.json()), json_text_without_run_fields(text))
        self.assertEqual(report.csv(), csv)  # the CSV holds neither engine nor source
        self.assertEqual(report.engine, engine)
        self.assertEqual(report.to_dict()["config"]["source"], "test")

    def test_every_encoding_and_two_batch_splits(self):
        for encoding in ENCODINGS:
            for splits in ((2, 3), (1, 1, 1, 1, 1)):
                with self.subTest(encoding=encoding, splits=splits):
                    self.check(splits, ["--encoding", encoding], encoding=encoding)

    def test_option_sets(self):
        cases = [
            (["--preset", "equal"], {"preset": "equal"}),
            (["--geometry", "laconic=2,3,5,4", "--geometry", "pragmatic=1,2,3,5", "--shifter-bits", "inf",
              "--column-registers", "pragmatic=2", "--column-registers", "laconic=1"],
             {"geometry": {"laconic": (2, 3, 5, 4), "pragmatic": "1,2,3,5"}, "shifter_bits": float("inf"),
              "column_registers": {"pragmatic": 2, "laconic": 1}}),
            (["--tiles", "2", "--lanes", "8", "--depthwise", "per-group", "--fold-first-layer", "off",
              "--baseline-width", "12", "--encoding", "naf"],
             {"tiles": 2, "lanes": 8, "depthwise": "per-group", "fold_first_layer": False, "baseline_width": 12,
              "encoding": "naf"}),
            (["--shifter-bits", "0", "--columns", "3"], {"shifter_bits": 0, "columns": 3}),
        ]
        for cli, kwargs in cases:
            with self.subTest(cli=cli):
                self.check((3, 2), cli, **kwargs)

    def test_a_configuration_file_and_a_dict(self):
        config = {"preset": "equal", "encoding": "dnnsim-booth", "geometry": {"laconic": [16, 16, 8, 16]},
                  "shifter_bits": 3}
        path = os.path.join(self.tmp.name, "sweep.json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.check((2, 3), ["--config", path], config=path)
        self.check((2, 3), ["--config", path], config=config)

    def test_sample_limit(self):
        self.check((2, 2, 1), ["--samples", "3"], samples=3)

    def test_engines(self):
        self.check((2, 3), [], engine="reference")
        self.check((1, 4), ["--encoding", "naf"], engine="emulated", encoding="naf")

    def test_dlpack_tensors_on_the_emulated_cuda_engine(self):
        # The emulated engine takes DLPack tensors as device memory: the cuda engine's resident
        # path (values converted where they are), here in host memory.
        doc, _, _ = cli_profile(self.manifest, self.tmp.name, "--engine", "cpu", "--preset", "equal")
        for splits in ((2, 3), (5,)):
            report = live(self.layers, splits, dlpack=True, engine="emulated", preset="equal").report()
            self.assertEqual(without_run_fields(report.to_dict()), without_run_fields(doc))
        session = laconic.Session("net", engine="cpu", quiet=True)
        session.add("conv", self.layers[0]["shape"], self.layers[0]["a"].__dlpack__(), self.layers[0]["w"])
        self.assertEqual(session.samples("conv"), 5)  # on the CPU, a DLPack tensor is read in place

    def test_per_sample_reports(self):
        _, text, csv = cli_profile(self.manifest, self.tmp.name, "--engine", "cpu", "--per-sample")
        report = live(self.layers, (4, 1), engine="cpu").report()
        self.assertEqual(json_text_without_run_fields(report.json(per_sample=True)),
                         json_text_without_run_fields(text))
        self.assertEqual(report.csv(per_sample=True), csv)

    def test_written_reports(self):
        report = live(self.layers, (5,), engine="cpu").report()
        path = os.path.join(self.tmp.name, "r.json")
        report.write_json(path)
        with open(path) as f:
            self.assertEqual(f.read(), report.json())
        report.write_csv(os.path.join(self.tmp.name, "r.csv"))
        report.write_markdown(os.path.join(self.tmp.name, "r.md"))
        with self.assertRaisesRegex(laconic.Error, "no-such-dir"):
            report.write_json(os.path.join(self.tmp.name, "no-such-dir", "r.json"))
        self.assertIn("Traces: test.", report.markdown())


@live_util.requires(REASON)
class Quantizations(unittest.TestCase):
    """Floats quantized in the session = laconic quantizing the float traces (MODEL.md §2)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        rng = np.random.default_rng(5)
        self.shape = laconic.conv_shape(5, 6, 6, 4, 3, padding=1)
        a = rng.standard_normal((4, 5, 6, 6)).astype(np.float32) * 3
        a[:, :, ::2] = np.maximum(a[:, :, ::2], 0)
        a[0, 0, 0, :4] = [0.5 / 256, -1.5 / 256, 2.5 / 256, 1000.0]  # halves and a clipped value
        self.a = a
        self.w = (rng.standard_normal((4, 5, 3, 3)) * 0.3).astype(np.float32)

    def tearDown(self):
        self.tmp.cleanup()

    def compare(self, act_keys, wgt_keys, aq, wq):
        manifest = write_manifest(self.tmp.name, "q", [
            {"name": "l", "padding": 1, "activations": [self.a[:3], self.a[3:]], "weights": self.w,
             "act": act_keys, "wgt": wgt_keys}])
        doc, _, _ = cli_profile(manifest, self.tmp.name, "--engine", "cpu")
        session = laconic.Session("q", engine="cpu", quiet=True)
        session.add("l", self.shape, self.a[:1], self.w, activation_quantization=aq, weight_quantization=wq)
        session.add("l", self.shape, self.a[1:], activation_quantization=aq)
        self.assertEqual(without_run_fields(session.report().to_dict()), without_run_fields(doc))

    def test_fixed(self):
        self.compare({"quantize": "fixed", "int_bits": 8, "frac_bits": 8},
                     {"quantize": "fixed", "int_bits": 1, "frac_bits": 15}, laconic.Fixed(8, 8), laconic.Fixed(1, 15))
        self.compare({"quantize": "fixed", "int_bits": 2, "frac_bits": 3},
                     {"quantize": "fixed", "int_bits": 0, "frac_bits": 4}, laconic.Fixed(2, 3), laconic.Fixed(0, 4))

    def test_linear_with_the_streams_range(self):
        lo, hi = float(self.a.min()), float(self.a.max())
        for bits in (8, 5):
            self.compare({"quantize": "linear", "bits": bits}, {"quantize": "linear", "bits": bits},
                         laconic.Linear(bits, lo, hi), laconic.Linear(bits))

    def test_integral(self):
        self.a = np.round(self.a * 10)
        self.w = np.round(self.w * 20)
        self.compare({"quantize": "integral", "bits": 15}, {"quantize": "integral", "bits": 8},
                     laconic.Integral(15), laconic.Integral(8))

    def test_zero_point(self):
        # Stored integers less a zero point = the differences given as integers.
        rng = np.random.default_rng(9)
        q = rng.integers(0, 255, size=(3, 5, 6, 6), endpoint=True).astype(np.uint8)
        w = rng.integers(-127, 127, size=(4, 5, 3, 3)).astype(np.int8)
        a = laconic.Session("z", engine="cpu", quiet=True)
        a.add("l", self.shape, q, w, activation_quantization=laconic.Integers(bits=9, signed=True, zero_point=7))
        b = laconic.Session("z", engine="cpu", quiet=True)
        b.add("l", self.shape, q.astype(np.int16) - 7, w, activation_quantization=laconic.Integers(bits=9))
        self.assertEqual(a.report().json(), b.report().json())


@live_util.requires(REASON)
class Readme(unittest.TestCase):
    def test_the_session_example_runs(self):
        code = live_util.readme_python_blocks()[1]
        self.assertIn("laconic.Session(", code)
        with tempfile.TemporaryDirectory() as d:
            out = live_util.run_in(d, code)
        self.assertIn("# laconic profile: net", out)
        self.assertIn("encoding `naf`, 4 sample(s) per layer", out)


@live_util.requires(REASON)
class BadInput(unittest.TestCase):
    """Every mistake is a laconic.Error (a ValueError) with the message the CLI would give, and the
    session stays usable: its report afterwards is that of the good batches alone."""

    def setUp(self):
        rng = np.random.default_rng(1)
        self.shape = laconic.conv_shape(4, 5, 5, 3, 3, padding=1)
        self.a = rng.integers(0, 200, size=(2, 4, 5, 5)).astype(np.uint8)
        self.w = rng.integers(-100, 100, size=(3, 4, 3, 3)).astype(np.int8)
        self.session = laconic.Session("bad", engine="cpu", quiet=True)
        self.session.add("l", self.shape, self.a, self.w)
        self.before = self.session.report().json()

    def refused(self, pattern, action):
        with self.assertRaisesRegex(laconic.Error, pattern):
            action()
        self.assertEqual(self.session.report().json(), self.before, "the session changed")
        self.session.add("l", self.shape, self.a[:1])  # still usable
        self.before = self.session.report().json()

    def test_laconic_error_is_a_value_error(self):
        self.assertTrue(issubclass(laconic.Error, ValueError))

    def test_a_float_array(self):
        self.refused("layer 'l' activations are float32 floats, and Session.add takes integers unless told how "
                     "to quantize", lambda: self.session.add("l", self.shape, self.a.astype(np.float32)))
        self.refused("layer 'm' weights are float64 floats", lambda: self.session.add(
            "m", self.shape, self.a, self.w.astype(np.float64)))

    def test_shape_mismatches(self):
        self.refused(r"layer 'l': activations of shape \(2, 4, 5, 4\) do not fit the layer, which takes "
                     r"\(N, 4, 5, 5\)", lambda: self.session.add("l", self.shape, self.a[..., :4]))
        self.refused(r"layer 'n': weights of shape \(3, 4, 3, 2\) do not fit the layer, which takes \(3, 4, 3, 3\)",
                     lambda: self.session.add("n", self.shape, self.a, self.w[..., :2]))
        self.refused("layer 'l' is conv 4x5x5 -> 3 filters 3x3 stride 1 pad 0 groups 1 in this batch but was",
                     lambda: self.session.add("l", laconic.conv_shape(4, 5, 5, 3, 3), self.a))
        self.refused(r"layer 'k': activations of shape \(2, 4, 5, 5\) do not fit the layer, which takes \(N, 7\)",
                     lambda: self.session.add("k", laconic.fc_shape(7, 2), self.a, np.zeros((2, 7), np.int8)))
        self.refused("layer 'x': a kernel larger than|layer 'x'", lambda: self.session.add(
            "x", laconic.conv_shape(4, 2, 2, 3, 3), self.a[:, :, :2, :2], self.w))

    def test_weights(self):
        self.refused("layer 'new': the first batch of a layer needs its weights",
                     lambda: self.session.add("new", self.shape, self.a))
        self.refused("layer 'l': the weights differ from those of the layer's first batch",
                     lambda: self.session.add("l", self.shape, self.a, self.w + 1))

    def test_values_outside_the_width(self):
        self.refused(r"layer 'seven' activations: element \(1, 3, 4, 4\) = 200 is outside the declared 7-bit "
                     r"unsigned range 0..127", lambda: self.session.add(
                         "seven", self.shape,
                         np.where(np.arange(200).reshape(2, 4, 5, 5) == 199, 200, 1).astype(np.uint8), self.w,
                         activation_quantization=laconic.Integers(bits=7)))

    def test_unreadable_arrays(self):
        self.refused("are float16; laconic reads int8", lambda: self.session.add(
            "l", self.shape, self.a.astype(np.float16), activation_quantization=laconic.Fixed(4, 4)))
        self.refused("are bool", lambda: self.session.add("l", self.shape, self.a.astype(bool)))
        self.refused("must be a laconic.LayerShape", lambda: self.session.add("l", (4, 5, 5), self.a))

    def test_a_non_contiguous_array_is_copied(self):
        wide = np.zeros((2, 4, 5, 10), np.uint8)
        wide[..., ::2] = self.a
        view = wide[..., ::2]
        self.assertFalse(view.flags.c_contiguous)
        other = laconic.Session("bad", engine="cpu", quiet=True)
        other.add("l", self.shape, view, self.w)
        self.assertEqual(other.report().json(), self.before)

    def test_linear_activations_need_a_range(self):
        self.refused("per-tensor linear quantization needs the tensor's range, and a stream of batches has none",
                     lambda: self.session.add("l", self.shape, self.a.astype(np.float32),
                                              activation_quantization=laconic.Linear(8)))

    def test_another_quantization_in_a_later_batch(self):
        self.refused("layer 'l': activations are 8-bit signed integers in this batch but were 8-bit unsigned "
                     "integers before", lambda: self.session.add("l", self.shape, self.a.astype(np.int8)))

    def test_passes(self):
        self.session.begin_pass()
        self.session.add("l", self.shape, self.a)
        self.session.add("m", self.shape, self.a, self.w)
        self.session.discard_pass()
        self.assertEqual(self.session.report().json(), self.before)
        self.assertEqual(self.session.layers, ["l"])
        self.session.begin_pass()
        self.session.add("l", self.shape, self.a)
        self.assertEqual(self.session.samples("l"), 2)
        self.session.commit_pass()
        self.assertEqual(self.session.samples("l"), 4)

    def test_options(self):
        for kwargs, pattern in (
                ({"encoding": "boot"}, "encoding must be binary, booth, naf or dnnsim-booth, not 'boot'"),
                ({"geometry": {"laconic": (16, 16, 0, 16)}},
                 "geometry laconic=16,16,0,16: columns Ct must be a positive number, not 0"),
                ({"geometry": ["lacnoic=1,1,1,1"]}, "'lacnoic' is not an accelerator"),
                ({"shifter_bits": 40}, "shifter_bits: the first-stage shifter bits B must be between 0 and 31"),
                ({"column_registers": {"stripes": 1}}, "column_registers stripes=1: "),
                ({"preset": "dnsim"}, "preset must be dnnsim or equal, not 'dnsim'"),
                ({"config": {"encodng": "naf"}}, "config: .*encodng"),
                ({"config": "/no/such/file.json"}, "/no/such/file.json: no such configuration file"),
                ({"engine": "gpu"}, "engine must be auto, cuda, cpu or reference, not 'gpu'"),
                ({"tiles": 0}, "tiles must be a positive number, not 0"),
                ({"baseline_width": 33}, "baseline_width must be at most 32 bits, not 33"),
                ({"device_memory": "8Q"}, "device_memory must be a number of bytes"),
                ({"fold_first_layer": "yes"}, "fold_first_layer must be on or off, not 'yes'"),
                ({"samples": 0}, "samples must be a positive number, not 0")):
            with self.subTest(kwargs=kwargs):
                with self.assertRaisesRegex(laconic.Error, pattern):
                    laconic.Session("x", quiet=True, **kwargs)

    def test_cuda_without_a_device(self):
        if "not built" not in laconic.device() and "no usable" not in laconic.device().lower():
            self.skipTest(f"a device answers: {laconic.device()}")
        with self.assertRaisesRegex(laconic.Error, "cuda"):
            laconic.Session("x", engine="cuda", quiet=True)
        self.assertEqual(laconic.Session("x", engine="auto", quiet=True).engine, "cpu")

    def test_an_empty_session_has_no_report(self):
        with self.assertRaisesRegex(laconic.Error, "no layer has a profiled sample yet"):
            laconic.Session("empty", quiet=True).report()


if __name__ == "__main__":
    live_util.main(REASON)
