"""laconic.torch (needs torch and torchvision): profiling a model live equals dumping the same batches
with scripts/dump_traces.py under the same quantization and running `laconic profile` on the dump,
byte for byte in the JSON but for `engine` and `source`: for every encoding, two batch splits, the
reference and emulated cuda engines, calibrated linear quantization, BatchNorm folding, models whose
tensors hold integers and quantized (torch.ao) models. Bad models and bad calls raise laconic.Error,
and the hooks are gone after the `with` block whatever happened in it.

Run: PYTHONPATH=build/python /usr/bin/python3 tests/python/test_live_torch.py
"""

import json
import os
import tempfile
import unittest

import live_util
from live_util import cli_profile, json_text_without_run_fields, without_run_fields, write_manifest

REASON = live_util.missing(torch=True, torchvision=True)
if REASON is None:
    import numpy as np
    import torch
    import torch.nn as nn
    import dump_traces
    import laconic
    import laconic.torch as lt

ENCODINGS = ("binary", "booth", "naf", "dnnsim-booth")
FIXED_ACT = {"quantize": "fixed", "int_bits": 8, "frac_bits": 8}
FIXED_WGT = {"quantize": "fixed", "int_bits": 1, "frac_bits": 15}


def images(n=4, size=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g)


def split(x, sizes):
    out, start = [], 0
    for s in sizes:
        out.append(x[start:start + s])
        start += s
    return out


def dump_and_profile(model, batches, directory, cli_options=(), **dump_options):
    """scripts/dump_traces.py on the batches, then `laconic profile`: (json dict, json text)."""
    out = os.path.join(directory, "dump")
    dump_traces.dump(model, batches, out, network="net", **dump_options)
    doc, text, _ = cli_profile(os.path.join(out, "manifest.json"), directory, "--engine", "cpu", *cli_options)
    return doc, text


def profile_live(model, batches, **options):
    options.setdefault("quiet", True)
    prof = lt.Profiler(model, network="net", **options)
    with prof, torch.no_grad():
        for b in batches:
            model(b)
    return prof.report()


@live_util.requires(REASON)
class AgainstTheDump(unittest.TestCase):
    """torchvision's ResNet-18, randomly initialised, on 32×32 inputs: every Conv2d and the fc."""

    @classmethod
    def setUpClass(cls):
        cls.model = dump_traces.build_model("resnet18", 0)
        cls.x = images()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dumps = {}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def dump_dir(self, key):
        d = os.path.join(self.tmp.name, key)
        os.makedirs(d, exist_ok=True)
        return d

    def test_fixed_point_every_encoding_two_batch_splits(self):
        for sizes in ((2, 2), (3, 1)):
            directory = self.dump_dir(f"fixed{sizes}")
            dump_traces.dump(self.model, split(self.x, sizes), os.path.join(directory, "dump"), network="net",
                             quantize="fixed", activations=FIXED_ACT, weights=FIXED_WGT, store="float")
            manifest = os.path.join(directory, "dump", "manifest.json")
            for encoding in ENCODINGS:
                with self.subTest(sizes=sizes, encoding=encoding):
                    _, text, _ = cli_profile(manifest, directory, "--engine", "cpu", "--encoding", encoding)
                    report = profile_live(self.model, split(self.x, sizes), engine="cpu", encoding=encoding,
                                          activations=laconic.Fixed(8, 8), weights=laconic.Fixed(1, 15))
                    self.assertEqual(json_text_without_run_fields(report.json()), json_text_without_run_fields(text))
                    self.assertEqual(report.engine, "cpu")
                    self.assertIn("laconic.torch.Profiler on ResNet", report.source)

    def test_integer_dump(self):
        # dump_traces.py quantizing in Python and storing integers: the same numbers (no value here
        # needs the extra bit that would widen the stored width).
        directory = self.dump_dir("int")
        doc, _ = dump_and_profile(self.model, split(self.x, (2, 2)), directory, quantize="fixed",
                                  activations=FIXED_ACT, weights=FIXED_WGT, store="int")
        with open(os.path.join(directory, "dump", "dump_info.json")) as f:
            info = json.load(f)
        self.assertFalse(any("widened" in l["activations"] or "widened" in l["weights"] for l in info["layers"]))
        report = profile_live(self.model, split(self.x, (2, 2)), engine="cpu",
                              activations=laconic.Fixed(8, 8), weights=laconic.Fixed(1, 15))
        self.assertEqual(without_run_fields(report.to_dict()), without_run_fields(doc))

    def test_reference_and_emulated_engines(self):
        # The emulated cuda engine gets the activations by DLPack, as device memory (its resident path).
        small = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=8),
                              nn.ReLU(), nn.Flatten(), nn.Linear(8 * 5 * 5, 10)).eval()
        x = images(3, 14, seed=4)
        directory = self.dump_dir("engines")
        _, text = dump_and_profile(small, split(x, (1, 2)), directory, quantize="fixed", activations=FIXED_ACT,
                                   weights=FIXED_WGT, store="float")
        for engine in ("reference", "emulated", "cpu"):
            with self.subTest(engine=engine):
                report = profile_live(small, split(x, (1, 2)), engine=engine,
                                      activations=laconic.Fixed(8, 8), weights=laconic.Fixed(1, 15))
                self.assertEqual(report.engine, engine)
                self.assertEqual(json_text_without_run_fields(report.json()), json_text_without_run_fields(text))

    def test_calibrated_linear(self):
        # Calibrating on the batches profiled gives the ranges the dump's per-tensor linear
        # quantization takes over all of them.
        batches = split(self.x, (3, 1))
        cal = lt.calibrate(self.model, batches, bits=8)
        self.assertEqual(cal.samples, 4)
        self.assertEqual(len(cal), 21)
        for store in ("float", "int"):
            with self.subTest(store=store):
                doc, _ = dump_and_profile(self.model, batches, self.dump_dir(f"linear-{store}"), quantize="linear",
                                          bits=8, store=store)
                report = profile_live(self.model, batches, engine="cpu", activations=cal, weights=laconic.Linear(8))
                self.assertEqual(without_run_fields(report.to_dict()), without_run_fields(doc))
        # Another stream is clipped to the calibrated range, not refused.
        report = profile_live(self.model, [self.x * 3], engine="cpu", activations=cal, weights=laconic.Linear(8))
        self.assertEqual(report.layers[0], ("conv1", 4))

    def test_batchnorm_folding(self):
        model = dump_traces.build_model("resnet18", 3)
        with torch.no_grad():  # running statistics that are not 0 and 1, so folding matters
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.uniform_(0.5, 1.5)
        doc, _ = dump_and_profile(model, split(self.x, (2, 2)), self.dump_dir("fold"), quantize="fixed",
                                  activations=FIXED_ACT, weights=FIXED_WGT, store="float", fold_bn=True)
        report = profile_live(model, split(self.x, (2, 2)), engine="cpu", fold_bn=True,
                              activations=laconic.Fixed(8, 8), weights=laconic.Fixed(1, 15))
        self.assertEqual(without_run_fields(report.to_dict()), without_run_fields(doc))
        self.assertIn("BatchNorm folded into 20 conv layer(s)", report.source)

    def test_mobilenet_dnnsim_options(self):
        # Depthwise layers (diagonal mapping), the folded first layer, and options given by keyword.
        model = dump_traces.build_model("mobilenet_v2", 0)
        x = images(2, 32, seed=7)
        options = ["--encoding", "dnnsim-booth", "--shifter-bits", "3", "--column-registers", "laconic=2"]
        _, text = dump_and_profile(model, split(x, (1, 1)), self.dump_dir("mobilenet"), options, quantize="fixed",
                                   activations={"quantize": "fixed", "int_bits": 4, "frac_bits": 8},
                                   weights={"quantize": "fixed", "int_bits": 2, "frac_bits": 6}, store="float")
        report = profile_live(model, split(x, (1, 1)), engine="cpu", encoding="dnnsim-booth", shifter_bits=3,
                              column_registers={"laconic": 2}, activations=laconic.Fixed(4, 8),
                              weights=laconic.Fixed(2, 6))
        self.assertEqual(json_text_without_run_fields(report.json()), json_text_without_run_fields(text))

    def test_chosen_layers_and_per_layer_quantization(self):
        layers = ["layer1.0.conv1", "fc"]
        doc, _ = dump_and_profile(self.model, split(self.x, (4,)), self.dump_dir("chosen"), layers=layers,
                                  quantize="fixed", activations=FIXED_ACT, weights=FIXED_WGT, store="float")
        report = profile_live(self.model, split(self.x, (4,)), engine="cpu", layers=layers,
                              activations={n: laconic.Fixed(8, 8) for n in layers},
                              weights={n: laconic.Fixed(1, 15) for n in layers})
        self.assertEqual(without_run_fields(report.to_dict()), without_run_fields(doc))


@live_util.requires(REASON)
class IntegerModels(unittest.TestCase):
    def test_tensors_that_hold_integers(self):
        # Integer weights and inputs: every layer's input holds integers (exact in float32), read
        # with Integral(); the same as laconic reading the dumped floats with "integral".
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.ReLU(),
                              nn.Conv2d(6, 4, 3, stride=2, bias=False), nn.ReLU(), nn.Flatten(),
                              nn.Linear(4 * 4 * 4, 5, bias=False)).eval()
        with torch.no_grad():
            for m in model.modules():
                if hasattr(m, "weight"):
                    m.weight.copy_(torch.randint(-3, 4, m.weight.shape).float())
        x = torch.randint(0, 8, (3, 3, 10, 10)).float()
        with tempfile.TemporaryDirectory() as d:
            dump_traces.dump(model, split(x, (2, 1)), os.path.join(d, "dump"), network="net", quantize="fixed",
                             activations=FIXED_ACT, weights=FIXED_WGT, store="float")
            path = os.path.join(d, "dump", "manifest.json")
            with open(path) as f:
                manifest = json.load(f)
            for layer in manifest["layers"]:
                for key in ("activations", "weights"):
                    for k in ("int_bits", "frac_bits", "signed"):
                        layer[key].pop(k, None)
                    layer[key].update({"quantize": "integral", "bits": 16})
            with open(path, "w") as f:
                json.dump(manifest, f)
            doc, _, _ = cli_profile(path, d, "--engine", "cpu")
        report = profile_live(model, split(x, (2, 1)), engine="cpu", activations=laconic.Integral(16),
                              weights=laconic.Integral(16))
        self.assertEqual(without_run_fields(report.to_dict()), without_run_fields(doc))
        # A fraction is an error naming the layer and the element.
        with self.assertRaisesRegex(laconic.Error, r"layer '0' activations: element \(0, 0, 0, 0\) = \d+.5 is "
                                                   "not an integer"):
            profile_live(model, [x + 0.5], engine="cpu", activations=laconic.Integral(16),
                         weights=laconic.Integral(16))

    def test_quantized_model(self):
        # A torch.ao int8 model: its integers less the zero points, against `laconic profile` on
        # those integers written as .npy traces (8 bits where the zero point is 0, else 9).
        engine = "qnnpack" if "qnnpack" in torch.backends.quantized.supported_engines else None
        if engine is None:
            self.skipTest("no quantized engine in this torch")
        torch.backends.quantized.engine = engine

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.quant = torch.ao.quantization.QuantStub()
                self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
                self.relu = nn.ReLU()
                self.conv2 = nn.Conv2d(8, 8, 3, stride=2, groups=2)
                self.fc = nn.Linear(8 * 4 * 4, 6)
                self.dequant = torch.ao.quantization.DeQuantStub()

            def forward(self, x):
                x = self.relu(self.conv1(self.quant(x)))
                x = self.conv2(x)
                return self.dequant(self.fc(torch.flatten(x, 1)))

        torch.manual_seed(2)
        model = Net().eval()
        model.qconfig = torch.ao.quantization.get_default_qconfig(engine)
        prepared = torch.ao.quantization.prepare(model)
        with torch.no_grad():
            prepared(torch.randn(8, 3, 10, 10))
        qmodel = torch.ao.quantization.convert(prepared).eval()
        x = torch.randn(3, 3, 10, 10)

        captured = {}
        hooks = [getattr(qmodel, n).register_forward_hook(
            lambda m, i, o, n=n: captured.setdefault(n, []).append(i[0])) for n in ("conv1", "conv2", "fc")]
        with torch.no_grad():
            for b in split(x, (2, 1)):
                qmodel(b)
        for h in hooks:
            h.remove()

        def integers(t):
            zero = t.q_zero_point() if t.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric) else 0
            if t.qscheme() not in (torch.per_tensor_affine, torch.per_tensor_symmetric):
                zeros = t.q_per_channel_zero_points()
                self.assertTrue(bool((zeros == 0).all()))
            v = t.int_repr().to(torch.int16) - zero
            signed = t.dtype == torch.qint8 or zero != 0
            return v.numpy(), {"bits": 8 if zero == 0 else 9, "signed": signed}

        layers = []
        for name, stride, padding, groups in (("conv1", 1, 1, 1), ("conv2", 2, 0, 2), ("fc", None, None, None)):
            acts = [integers(t) for t in captured[name]]
            w, w_keys = integers(getattr(qmodel, name).weight())
            entry = {"name": name, "activations": [a for a, _ in acts], "weights": w, "act": acts[0][1],
                     "wgt": w_keys}
            if stride is None:
                entry["type"] = "fc"
            else:
                entry.update({"stride": stride, "padding": padding, "groups": groups})
            layers.append(entry)
        self.assertEqual(layers[0]["act"]["bits"], 9)  # the QuantStub's zero point is not 0
        with tempfile.TemporaryDirectory() as d:
            doc, _, _ = cli_profile(write_manifest(d, "net", layers), d, "--engine", "cpu")
        report = profile_live(qmodel, split(x, (2, 1)), engine="cpu")
        self.assertEqual(without_run_fields(report.to_dict()), without_run_fields(doc))
        self.assertIn("activations the model's integers", report.source)


@live_util.requires(REASON)
class Readme(unittest.TestCase):
    def test_the_readme_example_runs(self):
        code = live_util.readme_python_blocks()[0]
        self.assertIn("laconic.torch.Profiler(model", code)
        with tempfile.TemporaryDirectory() as d:
            out = live_util.run_in(d, code)
            with open(os.path.join(d, "r.json")) as f:
                doc = json.load(f)
        self.assertIn("# laconic profile: ResNet", out)
        self.assertEqual([l["samples"] for l in doc["layers"]], [16] * 21)


@live_util.requires(REASON)
class Behaviour(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                                   nn.Linear(4 * 6 * 6, 3)).eval()
        self.x = images(4, 6)
        self.q = {"activations": laconic.Fixed(8, 8), "weights": laconic.Fixed(1, 15), "engine": "cpu",
                  "quiet": True}

    def hooks(self):
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in self.model.modules())

    def test_hooks_are_removed_when_the_body_raises(self):
        prof = lt.Profiler(self.model, **self.q)
        with self.assertRaisesRegex(RuntimeError, "body"):
            with prof:
                self.assertEqual(self.hooks(), 2 + 2)  # two layers, the model's pass hooks
                self.model(self.x)
                raise RuntimeError("body")
        self.assertEqual(self.hooks(), 0)
        self.assertEqual(prof.report().layers, [("0", 4), ("3", 4)])

    def test_an_interrupted_forward_pass_counts_for_no_layer(self):
        # Ctrl-C (or any exception) half way through a forward pass: the layers already profiled
        # in that pass are dropped with it, and the profiler carries on with the next pass.
        prof = lt.Profiler(self.model, network="net", **self.q)
        state = {"raise": False}

        def interrupt(module, inputs, output):
            if state["raise"]:
                raise KeyboardInterrupt

        handle = self.model[2].register_forward_hook(interrupt)
        with prof, torch.no_grad():
            self.model(self.x[:2])
            state["raise"] = True
            with self.assertRaises(KeyboardInterrupt):
                self.model(self.x[2:])
            state["raise"] = False
            self.model(self.x[2:3])
        handle.remove()
        self.assertEqual(prof.report().layers, [("0", 3), ("3", 3)])
        self.assertEqual(prof.passes, 2)
        # The same as never seeing the interrupted batch.
        expected = profile_live(self.model, [self.x[:2], self.x[2:3]], **self.q)
        self.assertEqual(without_run_fields(prof.report().to_dict()), without_run_fields(expected.to_dict()))

    def test_a_model_without_layers(self):
        with self.assertRaisesRegex(laconic.Error, r"the model \(Sequential\) has no Conv2d or Linear layer"):
            lt.Profiler(nn.Sequential(nn.ReLU(), nn.Flatten()), **self.q)

    def test_bad_quantizations(self):
        with self.assertRaisesRegex(laconic.Error, r"activations=Linear\(8\): per-tensor linear quantization needs "
                                                   "each tensor's range.*calibrate"):
            lt.Profiler(self.model, activations=laconic.Linear(8), weights=laconic.Fixed(1, 15))
        prof = lt.Profiler(self.model, weights=laconic.Fixed(1, 15), engine="cpu", quiet=True)
        with self.assertRaisesRegex(laconic.Error, "layer '0': its input is torch.float32; say how to quantize "
                                                   "activations"):
            with prof, torch.no_grad():
                self.model(self.x)
        self.assertEqual(self.hooks(), 0)
        with self.assertRaisesRegex(laconic.Error, "no forward pass of the model completed"):
            prof.report()
        # A mapping is checked against the model when the profiler is made.
        with self.assertRaisesRegex(laconic.Error, r"activations: no quantization for layer\(s\) 3 \(the mapping "
                                                   "names 1 layer"):
            profile_live(self.model, [self.x], activations={"0": laconic.Fixed(8, 8)}, weights=laconic.Fixed(1, 15))
        fixed = laconic.Fixed(8, 8)
        with self.assertRaisesRegex(laconic.Error, r"weights: layer '03' is not in the model; did you mean 3, 0\?"):
            lt.Profiler(self.model, activations=fixed, weights={"0": fixed, "3": fixed, "03": fixed})
        with self.assertRaisesRegex(laconic.Error, "activations: layer '1' is a ReLU, not a Conv2d or Linear"):
            lt.Profiler(self.model, activations={"0": fixed, "1": fixed, "3": fixed}, weights=fixed)
        # Layers left out of the profile may be in the mapping (a calibration of every layer).
        lt.Profiler(self.model, activations={"0": fixed, "3": fixed}, weights=fixed, layers=["3"], engine="cpu",
                    quiet=True)

    def test_a_layer_called_twice(self):
        class Twice(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 3, 1)

            def forward(self, x):
                return self.conv(self.conv(x))

        model = Twice().eval()
        prof = lt.Profiler(model, **self.q)
        with prof, torch.no_grad():
            with self.assertRaisesRegex(laconic.Error, "layer 'conv' is called 2 times in one forward pass"):
                model(self.x)
        with self.assertRaisesRegex(laconic.Error, "no forward pass"):
            prof.report()

    def test_unknown_layers_and_options(self):
        with self.assertRaisesRegex(laconic.Error, "layer '4' is not in the model"):
            lt.Profiler(self.model, layers=["4"], **self.q)
        with self.assertRaisesRegex(laconic.Error, "layer '1' is a ReLU, not a Conv2d or Linear"):
            lt.Profiler(self.model, layers=["1"], **self.q)
        with self.assertRaisesRegex(laconic.Error, "encoding must be binary"):
            lt.Profiler(self.model, encoding="nafx", activations=laconic.Fixed(8, 8), weights=laconic.Fixed(1, 15))
        with self.assertRaisesRegex(laconic.Error, "dilation"):
            lt.Profiler(nn.Sequential(nn.Conv2d(3, 3, 3, dilation=2)), **self.q)

    def test_samples_limit_and_session_options(self):
        report = profile_live(self.model, split(self.x, (3, 1)), samples=2, preset="equal", **self.q)
        doc = report.to_dict()
        self.assertEqual(doc["config"]["sample_limit"], 2)
        self.assertEqual(doc["config"]["preset"], "equal")
        self.assertEqual(report.layers, [("0", 2), ("3", 2)])


if __name__ == "__main__":
    live_util.main(REASON)
