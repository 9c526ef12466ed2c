"""Tests of scripts/dump_traces.py.

Run from the repository root:  /usr/bin/python3 -m unittest discover -s tests/python

The quantization tests need numpy only; everything else needs torch (and torchvision for the
command-line tests) and is skipped when they are not importable.  The laconic checks run when a
laconic binary is found: $LACONIC_BINARY, else build/laconic.
"""

import contextlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import warnings

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "scripts", "dump_traces.py")

try:
    import numpy as np
except ImportError:  # pragma: no cover
    np = None
try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    torch = None
try:
    import torchvision  # noqa: F401
    from PIL import Image
except ImportError:  # pragma: no cover
    torchvision = None

dt = None
if np is not None:
    spec = importlib.util.spec_from_file_location("dump_traces", SCRIPT)
    dt = importlib.util.module_from_spec(spec)
    sys.modules["dump_traces"] = dt
    spec.loader.exec_module(dt)

needs_numpy = unittest.skipIf(np is None, "numpy is not importable")
needs_torch = unittest.skipIf(np is None or torch is None, "torch is not importable")
needs_torchvision = unittest.skipIf(np is None or torch is None or torchvision is None,
                                    "torchvision or PIL is not importable")


def find_laconic():
    candidates = []
    if os.environ.get("LACONIC_BINARY"):
        candidates.append(os.environ["LACONIC_BINARY"])
    candidates.append(os.path.join(REPO, "build", "laconic"))
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


LACONIC = find_laconic()
needs_laconic = unittest.skipIf(LACONIC is None, "no laconic binary (set LACONIC_BINARY)")


def run_laconic(manifest, *extra):
    return subprocess.run([LACONIC, "profile", manifest, "--verify", "-q", *extra],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)


# ------------------------------------------------------------------------------------------------
# Quantization formulas on known values (numpy only)


@needs_numpy
class QuantizationFormulas(unittest.TestCase):
    def test_round_half_away_from_zero(self):
        x = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994, -0.49999999999999994, 2.4, -2.6, 0.0]
        self.assertEqual(dt.round_half_away(x).tolist(), [1, 2, 3, -1, -2, -3, 0, 0, 2, -3, 0])
        # numpy's rint rounds halves to even: the formula must not.
        self.assertNotEqual(np.rint(x).tolist(), dt.round_half_away(x).tolist())

    def test_fixed(self):
        # v = round(x * 2^frac), clipped to +-(2^(int+frac) - 1)
        x = [0.0, 0.125, 0.0625, -0.0625, 0.1875, 0.3125, -0.3125, 1.0, -3.9, 100.0, -100.0]
        v = dt.quantize_fixed(x, 2, 3)  # limit 31
        self.assertEqual(v.tolist(), [0, 1, 1, -1, 2, 3, -3, 8, -31, 31, -31])
        self.assertEqual(v.dtype, np.int64)
        self.assertEqual(dt.quantize_fixed([2.5, 3.5, -2.5], 4, 0).tolist(), [3, 4, -3])
        self.assertEqual(dt.quantize_fixed([1e9], 0, 32).tolist(), [2**32 - 1])

    def test_linear_signed(self):
        # P = 3: max|x| -> 2^2 - 1 = 3; with max|x| = 3 the scale is 1.
        x = [-3.0, -2.5, -0.5, 0.0, 0.5, 1.5, 2.5, 3.0]
        self.assertEqual(dt.quantize_linear(x, 3).tolist(), [-3, -3, -1, 0, 1, 2, 3, 3])
        # The range can be the whole tensor's, not x's own.
        self.assertEqual(dt.quantize_linear([0.5, 1.0], 8, lo=-2.0, hi=1.0).tolist(), [32, 64])
        self.assertEqual(dt.quantize_linear([0.5, -1.0], 8, lo=-2.0, hi=1.0).tolist(), [32, -64])

    def test_linear_unsigned(self):
        # No negative value: min..max -> 0..2^P - 1.
        self.assertEqual(dt.quantize_linear([0.0, 0.5, 1.5, 2.5, 3.0], 2).tolist(), [0, 1, 2, 3, 3])
        self.assertEqual(dt.quantize_linear([1.0, 1.5, 2.5, 4.0], 2).tolist(), [0, 1, 2, 3])
        self.assertEqual(dt.quantize_linear([0.0, 0.25, 1.0], 8).tolist(), [0, 64, 255])  # 63.75 -> 64

    def test_linear_constant(self):
        self.assertEqual(dt.quantize_linear([0.0, 0.0], 4).tolist(), [0, 0])
        self.assertEqual(dt.quantize_linear([2.0, 2.0], 4).tolist(), [15, 15])
        self.assertEqual(dt.quantize_linear([0.0], 8, lo=0.0, hi=0.0).tolist(), [0])

    def test_int_dtype(self):
        self.assertEqual(dt.int_dtype(8, False), np.dtype("u1"))
        self.assertEqual(dt.int_dtype(8, True), np.dtype("i1"))
        self.assertEqual(dt.int_dtype(9, True), np.dtype("i2"))
        self.assertEqual(dt.int_dtype(16, False), np.dtype("u2"))
        self.assertEqual(dt.int_dtype(17, True), np.dtype("i4"))
        self.assertEqual(dt.int_dtype(1, False), np.dtype("u1"))

    def test_bits_out_of_range(self):
        for bits in (0, 33, -1):
            with self.assertRaisesRegex(dt.DumpError, "between 1 and 32"):
                dt.quantize_linear([1.0], bits)
        with self.assertRaisesRegex(dt.DumpError, "int_bits \\+ frac_bits"):
            dt.quantize_fixed([1.0], 20, 13)
        with self.assertRaisesRegex(dt.DumpError, "negative"):
            dt.quantize_fixed([1.0], -1, 4)
        with self.assertRaisesRegex(dt.DumpError, "finite"):
            dt.quantize_linear([1.0, float("nan")], 8)


# ------------------------------------------------------------------------------------------------
# A tiny hand-made network


if torch is not None:
    class Tiny(nn.Module):
        """conv stride 2 + BN, depthwise with [h, w] padding, 'same' (uneven) padding, 1x1 with
        stride (2, 1) + BN, fc."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.bn1 = nn.BatchNorm2d(8)
            self.dw = nn.Conv2d(8, 8, 3, padding=(1, 2), groups=8, bias=False)
            self.same = nn.Conv2d(8, 6, (4, 2), padding="same")
            self.pw = nn.Conv2d(6, 12, 1, stride=(2, 1))
            self.bn2 = nn.BatchNorm2d(12)
            self.fc = nn.Linear(12, 5)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            x = F.relu(self.dw(x))
            with warnings.catch_warnings():  # torch warns once about 'same' with an even kernel
                warnings.simplefilter("ignore")
                x = self.same(x)
            x = F.relu(self.bn2(self.pw(x)))
            return self.fc(x.mean((2, 3)))

    def randomize_bn(model, seed=1):
        g = torch.Generator().manual_seed(seed)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.2)
                m.weight.data.copy_(torch.randn(n, generator=g))
                m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
        return model

    def tiny_model(seed=0):
        torch.manual_seed(seed)
        return randomize_bn(Tiny()).eval()

    def tiny_input(n=5, seed=3):
        g = torch.Generator().manual_seed(seed)
        return torch.randn(n, 3, 16, 16, generator=g)

    class DataDependent(nn.Module):
        """Not traceable by torch.fx (control flow on a value)."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            y = self.bn(self.conv(x))
            if y.sum() > -1e30:
                y = F.relu(y)
            return self.fc(y.mean((2, 3)))

    class Branching(nn.Module):
        """The conv's output feeds the BN and something else: not 'followed directly'."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y


def read_json(path):
    with open(path) as f:
        return json.load(f)


def load_layer(out, entry):
    """A manifest tensor entry's data, the files concatenated along N."""
    files = entry["files"] if "files" in entry else [entry["file"]]
    arrays = [np.load(os.path.join(out, f)) for f in files]
    return np.concatenate(arrays, axis=0) if len(arrays) > 1 else arrays[0]


def pad_of(layer):
    p = layer.get("padding", 0)
    if isinstance(p, int):
        return (p, p, p, p)
    if isinstance(p, list):
        return (p[0], p[0], p[1], p[1])
    return (p["top"], p["bottom"], p["left"], p["right"])


def capture_outputs(model, x, names):
    out = {}
    mods = dict(model.named_modules())
    hs = [mods[n].register_forward_hook(lambda m, i, o, n=n: out.__setitem__(n, o.detach().clone()))
          for n in names]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return out


def folded_bias(conv, bn):
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(conv.out_channels, dtype=torch.float64)
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    return ((b - bn.running_mean.double()) * scale + bn.bias.detach().double()).float()


@needs_torch
class TinyDump(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dump_traces_test_")
        cls.model = tiny_model()
        cls.x = tiny_input()
        cls.float_dir = os.path.join(cls.tmp, "float")
        cls.manifest = dt.dump(cls.model, cls.x, cls.float_dir, fold_bn=True, store="float",
                               quantize="linear", bits=8, batch=2, per_file=2, network="tiny")
        cls.layers = {l["name"]: l for l in cls.manifest["layers"]}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_manifest(self):
        with open(os.path.join(self.float_dir, "manifest.json")) as f:
            self.assertEqual(json.load(f), self.manifest)
        self.assertEqual(self.manifest["network"], "tiny")
        self.assertEqual(self.manifest["version"], 1)
        self.assertIn("source", self.manifest)
        self.assertIn("torch.fx", self.manifest["description"])
        self.assertEqual(set(self.manifest), {"network", "version", "source", "description", "layers"})
        self.assertEqual([l["name"] for l in self.manifest["layers"]], ["conv1", "dw", "same", "pw", "fc"])
        L = self.layers
        self.assertEqual((L["conv1"]["type"], L["conv1"]["stride"], L["conv1"]["padding"], L["conv1"]["groups"]),
                         ("conv", [2, 2], 1, 1))
        self.assertEqual((L["dw"]["stride"], L["dw"]["padding"], L["dw"]["groups"]), ([1, 1], [1, 2], 8))
        self.assertEqual(L["same"]["padding"], {"top": 1, "bottom": 2, "left": 0, "right": 1})
        self.assertEqual((L["pw"]["stride"], L["pw"]["padding"]), ([2, 1], 0))
        self.assertEqual(L["fc"]["type"], "fc")
        self.assertNotIn("stride", L["fc"])
        for l in self.manifest["layers"]:
            self.assertEqual(l["activations"]["quantize"], "linear")
            self.assertEqual(l["activations"]["bits"], 8)
            self.assertEqual(l["weights"], {"file": l["name"] + ".weights.npy", "quantize": "linear", "bits": 8})
            self.assertEqual(len(l["activations"]["files"]), 3)  # 5 samples, 2 per file
        info = read_json(os.path.join(self.float_dir, "dump_info.json"))
        self.assertEqual({l["name"]: l.get("folded_bn") for l in info["layers"]},
                         {"conv1": "bn1", "dw": None, "same": None, "pw": "bn2", "fc": None})

    def test_shapes(self):
        expect = {"conv1": ((3, 16, 16), (8, 3, 3, 3)), "dw": ((8, 8, 8), (8, 1, 3, 3)),
                  "same": ((8, 8, 10), (6, 8, 4, 2)), "pw": ((6, 8, 10), (12, 6, 1, 1)),
                  "fc": ((12,), (5, 12))}
        for name, (act, wgt) in expect.items():
            l = self.layers[name]
            files = l["activations"]["files"]
            sizes = [np.load(os.path.join(self.float_dir, f)).shape for f in files]
            self.assertEqual(sizes, [(2, *act), (2, *act), (1, *act)], name)
            w = np.load(os.path.join(self.float_dir, l["weights"]["file"]))
            self.assertEqual((w.shape, w.dtype), (wgt, np.float32), name)
            self.assertEqual(np.load(os.path.join(self.float_dir, files[0])).dtype, np.float32)

    def test_first_input_is_the_images(self):
        a = load_layer(self.float_dir, self.layers["conv1"]["activations"])
        np.testing.assert_array_equal(a, self.x.numpy())

    def test_traces_reproduce_the_outputs(self):
        # Folded conv + BN, depthwise, uneven 'same' padding and fc, recomputed from the dumped
        # float activations (before padding) and weights with the manifest's stride and padding.
        m = self.model
        ref = capture_outputs(m, self.x, ["bn1", "dw", "same", "bn2", "fc"])
        cases = {"conv1": ("bn1", folded_bias(m.conv1, m.bn1)), "dw": ("dw", None),
                 "same": ("same", m.same.bias.detach()), "pw": ("bn2", folded_bias(m.pw, m.bn2))}
        for name, (ref_name, bias) in cases.items():
            l = self.layers[name]
            a = torch.from_numpy(load_layer(self.float_dir, l["activations"]))
            w = torch.from_numpy(np.load(os.path.join(self.float_dir, l["weights"]["file"])))
            top, bottom, left, right = pad_of(l)
            y = F.conv2d(F.pad(a, (left, right, top, bottom)), w, bias, stride=tuple(l["stride"]),
                         groups=l["groups"])
            self.assertEqual(y.shape, ref[ref_name].shape, name)
            torch.testing.assert_close(y, ref[ref_name], rtol=1e-4, atol=1e-4, msg=name)
        a = torch.from_numpy(load_layer(self.float_dir, self.layers["fc"]["activations"]))
        w = torch.from_numpy(np.load(os.path.join(self.float_dir, "fc.weights.npy")))
        torch.testing.assert_close(F.linear(a, w, m.fc.bias.detach()), ref["fc"], rtol=1e-4, atol=1e-4)

    def test_folded_weights_differ_from_the_conv_weights(self):
        w = np.load(os.path.join(self.float_dir, "conv1.weights.npy"))
        m = self.model
        scale = (m.bn1.weight / torch.sqrt(m.bn1.running_var + m.bn1.eps)).detach().numpy()
        np.testing.assert_allclose(w, m.conv1.weight.detach().numpy() * scale[:, None, None, None], rtol=1e-6)
        np.testing.assert_array_equal(np.load(os.path.join(self.float_dir, "dw.weights.npy")),
                                      m.dw.weight.detach().numpy())

    def test_int_linear(self):
        out = os.path.join(self.tmp, "int_linear")
        man = dt.dump(self.model, self.x, out, fold_bn=True, quantize="linear", bits=8, batch=3, per_file=2)
        self.assertEqual([l["name"] for l in man["layers"]], list(self.layers))
        for l in man["layers"]:
            fl = self.layers[l["name"]]
            f_act = load_layer(self.float_dir, fl["activations"])
            f_wgt = np.load(os.path.join(self.float_dir, fl["weights"]["file"]))
            for entry, data in ((l["activations"], f_act), (l["weights"], f_wgt)):
                signed = bool(data.min() < 0)
                self.assertEqual((entry["quantize"], entry["bits"], entry["signed"]), ("none", 8, signed), l["name"])
                v = load_layer(out, entry)
                self.assertEqual(v.dtype, np.dtype("i1" if signed else "u1"), l["name"])
                np.testing.assert_array_equal(v, dt.quantize_linear(data, 8), err_msg=l["name"])
            self.assertEqual([os.path.basename(f) for f in l["activations"]["files"]],
                             [f"{l['name']}.act.{i}.npy" for i in range(3)])
        self.assertFalse([f for f in os.listdir(out) if "tmp" in f or f.endswith(".part")])
        # Post-ReLU activations are unsigned, the images and the weights signed.
        self.assertTrue(man["layers"][0]["activations"]["signed"])
        self.assertFalse(man["layers"][1]["activations"]["signed"])

    def test_int_linear_wide(self):
        out = os.path.join(self.tmp, "int_wide")
        man = dt.dump(self.model, self.x, out, activations={"quantize": "linear", "bits": 12},
                      weights={"quantize": "linear", "bits": 20}, per_file=0)
        l = man["layers"][1]
        self.assertEqual(list(l["activations"]), ["file", "quantize", "bits", "signed"])
        self.assertEqual(np.load(os.path.join(out, l["activations"]["file"])).dtype, np.dtype("u2"))
        self.assertEqual(np.load(os.path.join(out, l["weights"]["file"])).dtype, np.dtype("i4"))
        self.assertEqual(l["weights"]["bits"], 20)

    def test_int_fixed(self):
        out = os.path.join(self.tmp, "int_fixed")
        man = dt.dump(self.model, self.x, out, fold_bn=True, quantize="fixed",
                      activations={"quantize": "fixed", "int_bits": 4, "frac_bits": 4},
                      weights={"quantize": "fixed", "int_bits": 1, "frac_bits": 7}, per_file=4)
        for l in man["layers"]:
            fl = self.layers[l["name"]]
            for entry, data, (i, f) in ((l["activations"], load_layer(self.float_dir, fl["activations"]), (4, 4)),
                                        (l["weights"], np.load(os.path.join(self.float_dir, fl["weights"]["file"])), (1, 7))):
                q = dt.quantize_fixed(data, i, f)
                v = load_layer(out, entry)
                np.testing.assert_array_equal(v, q, err_msg=l["name"])
                self.assertEqual(entry["signed"], bool(q.min() < 0))
                # 8 bits unless a signed value needs the bit that MODEL.md's clip allows for.
                self.assertEqual(entry["bits"], 9 if q.min() < -128 or q.max() > 127 else 8, l["name"])
                self.assertEqual(v.dtype, dt.int_dtype(entry["bits"], entry["signed"]))

    def test_fixed_widens_when_the_clip_needs_it(self):
        # Signed 1.3 clips to +-15, which needs 5 bits in two's complement.
        out = os.path.join(self.tmp, "int_fixed_wide")
        man = dt.dump(self.model, self.x, out, layers=["conv1"],
                      activations={"quantize": "fixed", "int_bits": 1, "frac_bits": 3},
                      weights={"quantize": "fixed", "int_bits": 2, "frac_bits": 6})
        a = man["layers"][0]["activations"]
        self.assertEqual((a["bits"], a["signed"]), (5, True))
        self.assertEqual(load_layer(out, a).min(), -15)
        info = read_json(os.path.join(out, "dump_info.json"))
        self.assertIn("widened", info["layers"][0]["activations"])

    def test_layers_subset(self):
        out = os.path.join(self.tmp, "subset")
        man = dt.dump(self.model, self.x, out, layers=["fc", "dw"], store="float")
        self.assertEqual([l["name"] for l in man["layers"]], ["dw", "fc"])  # forward order
        self.assertEqual(sorted(f for f in os.listdir(out) if f.endswith(".npy")),
                         ["dw.act.0.npy", "dw.weights.npy", "fc.act.0.npy", "fc.weights.npy"])

    def test_streamed_batches(self):
        out = os.path.join(self.tmp, "streamed")
        man = dt.dump(self.model, (self.x[i:i + 2] for i in range(0, 5, 2)), out, store="float", per_file=3)
        a = load_layer(out, man["layers"][0]["activations"])
        np.testing.assert_array_equal(a, self.x.numpy())
        self.assertEqual(len(man["layers"][0]["activations"]["files"]), 2)

    @needs_laconic
    def test_laconic_profiles_the_dumps(self):
        # Float traces quantized by laconic and integers quantized here give the same report.
        outs = {}
        for name, kwargs in (("float", {"store": "float"}), ("int", {"store": "int"}),
                             ("fixed_float", {"store": "float", "quantize": "fixed",
                                              "activations": {"quantize": "fixed", "int_bits": 3, "frac_bits": 5},
                                              "weights": {"quantize": "fixed", "int_bits": 1, "frac_bits": 7}}),
                             ("fixed_int", {"store": "int", "quantize": "fixed",
                                            "activations": {"quantize": "fixed", "int_bits": 3, "frac_bits": 5},
                                            "weights": {"quantize": "fixed", "int_bits": 1, "frac_bits": 7}})):
            out = os.path.join(self.tmp, "laconic_" + name)
            dt.dump(self.model, self.x, out, fold_bn=True, per_file=2, network="tiny", **kwargs)
            report = os.path.join(out, "report.json")
            r = run_laconic(os.path.join(out, "manifest.json"), "--json", report)
            self.assertEqual(r.returncode, 0, f"{name}: {r.stderr}")
            with open(report) as f:
                doc = json.load(f)
            doc.pop("config", None)
            outs[name] = doc
        self.assertEqual(outs["float"]["layers"], outs["int"]["layers"])
        self.assertEqual(outs["float"]["totals"], outs["int"]["totals"])
        self.assertEqual(outs["fixed_float"]["layers"], outs["fixed_int"]["layers"])
        self.assertEqual(outs["int"]["layers"][0]["samples"], 5)


if torch is not None:
    class QuantizedNet(nn.Module):
        """A statically quantized conv - ReLU - conv - fc network (torch.ao.quantization)."""

        def __init__(self):
            super().__init__()
            self.quant = torch.ao.quantization.QuantStub()
            self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(6, 4, 3, stride=2, padding=1)
            self.fc = nn.Linear(4 * 4 * 4, 5)
            self.dequant = torch.ao.quantization.DeQuantStub()

        def forward(self, x):
            x = self.relu(self.conv1(self.quant(x)))
            x = self.conv2(x)
            return self.dequant(self.fc(torch.flatten(x, 1)))

    def quantized_model(engine):
        torch.manual_seed(4)
        model = QuantizedNet().eval()
        # Per-channel weights, as PyTorch's x86 default and TFLite quantize convolutions.
        q = torch.ao.quantization
        model.qconfig = q.QConfig(activation=q.get_default_qconfig(engine).activation,
                                  weight=q.default_per_channel_weight_observer)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.ao.quantization.prepare(model, inplace=True)
            model(tiny_input(8, seed=5)[:, :, :8, :8])
            torch.ao.quantization.convert(model, inplace=True)
        return model


def quantized_engine():
    """A quantized engine this torch runs (Debian's has qnnpack and onednn), or None."""
    if torch is None:
        return None
    for engine in ("fbgemm", "qnnpack", "onednn", "x86"):
        if engine in torch.backends.quantized.supported_engines:
            return engine
    return None


@unittest.skipIf(quantized_engine() is None, "torch has no quantized engine")
class QuantizedDump(unittest.TestCase):
    """A quantized model is dumped as its integer codes with their zero points."""

    @classmethod
    def setUpClass(cls):
        torch.backends.quantized.engine = quantized_engine()
        cls.tmp = tempfile.mkdtemp(prefix="dump_traces_quantized_")
        cls.model = quantized_model(quantized_engine())
        cls.x = tiny_input(3, seed=6)[:, :, :8, :8]
        cls.out = os.path.join(cls.tmp, "q")
        cls.manifest = dt.dump(cls.model, cls.x, cls.out, per_file=2, network="qnet")
        cls.layers = {l["name"]: l for l in cls.manifest["layers"]}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_layers_and_source(self):
        self.assertEqual(list(self.layers), ["conv1", "conv2", "fc"])
        self.assertIn("integer codes of the quantized model with their zero points", self.manifest["source"])

    def test_activation_codes_and_zero_points(self):
        # conv1's input is the QuantStub's output: quint8 codes, its zero point.
        inputs = {}
        mods = dict(self.model.named_modules())
        hooks = [mods[n].register_forward_hook(lambda m, i, o, n=n: inputs.__setitem__(n, i[0]))
                 for n in ("conv1", "conv2", "fc")]
        with torch.no_grad():
            self.model(self.x)
        for h in hooks:
            h.remove()
        for name in ("conv1", "conv2", "fc"):
            entry = self.layers[name]["activations"]
            q = inputs[name]
            self.assertEqual(entry["zero_point"], int(q.q_zero_point()), name)
            codes = load_layer(self.out, entry)
            self.assertEqual(codes.dtype, np.uint8, name)
            np.testing.assert_array_equal(codes, q.int_repr().numpy(), err_msg=name)
            shifted = codes.astype(np.int64) - entry["zero_point"]
            self.assertEqual(entry["signed"], bool(shifted.min() < 0), name)
        # After the ReLU no code lies below the zero point: 8-bit unsigned.
        self.assertEqual((self.layers["conv2"]["activations"]["bits"],
                          self.layers["conv2"]["activations"]["signed"]), (8, False))

    def test_weight_codes_and_per_channel_zero_points(self):
        for name in ("conv1", "conv2", "fc"):
            entry = self.layers[name]["weights"]
            w = dict(self.model.named_modules())[name].weight()
            codes = np.load(os.path.join(self.out, entry["file"]))
            self.assertEqual(codes.dtype, np.int8, name)
            np.testing.assert_array_equal(codes, w.int_repr().numpy(), err_msg=name)
            self.assertEqual(w.qscheme(), torch.per_channel_affine, name)
            self.assertEqual(entry["zero_point"], w.q_per_channel_zero_points().tolist(), name)
            self.assertEqual(len(entry["zero_point"]), codes.shape[0], name)

    @needs_laconic
    def test_laconic_profiles_code_minus_zero_point(self):
        report = os.path.join(self.out, "report.json")
        r = run_laconic(os.path.join(self.out, "manifest.json"), "--json", report)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = read_json(report)
        for layer in doc["layers"]:
            entry = self.layers[layer["name"]]["activations"]
            shifted = load_layer(self.out, entry).astype(np.int64) - entry["zero_point"]
            self.assertAlmostEqual(layer["terms"]["activations"]["zero_fraction"],
                                   float(np.mean(shifted == 0)), places=12, msg=layer["name"])


@needs_torch
class BnFolding(unittest.TestCase):
    def test_fx_detection(self):
        folds, method = dt.find_bn_folds(tiny_model())
        self.assertEqual(folds, {"conv1": "bn1", "pw": "bn2"})
        self.assertTrue(method.startswith("torch.fx"))

    def test_branching_output_is_not_folded(self):
        folds, method = dt.find_bn_folds(Branching().eval())
        self.assertEqual(folds, {})
        self.assertTrue(method.startswith("torch.fx"))

    def test_fallback_when_fx_fails(self):
        torch.manual_seed(0)
        model = randomize_bn(DataDependent()).eval()
        folds, method = dt.find_bn_folds(model)
        self.assertEqual(folds, {"conv": "bn"})
        self.assertTrue(method.startswith("module order"), method)
        with tempfile.TemporaryDirectory() as out:
            x = tiny_input(2)
            man = dt.dump(model, x, out, fold_bn=True, store="float")
            self.assertIn("module order", man["description"])
            w = torch.from_numpy(np.load(os.path.join(out, "conv.weights.npy")))
            a = torch.from_numpy(load_layer(out, man["layers"][0]["activations"]))
            ref = capture_outputs(model, x, ["bn"])["bn"]
            torch.testing.assert_close(F.conv2d(a, w, folded_bias(model.conv, model.bn), padding=1), ref,
                                       rtol=1e-4, atol=1e-4)


@needs_torch
class Errors(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dump_traces_err_")
        self.x = tiny_input(2)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def dump(self, model, x=None, **kw):
        return dt.dump(model, self.x if x is None else x, os.path.join(self.tmp, "out"), **kw)

    def test_dilation(self):
        m = nn.Sequential(nn.Conv2d(3, 4, 3, dilation=2))
        with self.assertRaisesRegex(dt.DumpError, "layer '0': dilation"):
            self.dump(m)

    def test_padding_mode(self):
        m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"))
        with self.assertRaisesRegex(dt.DumpError, "padding_mode 'reflect'"):
            self.dump(m)

    def test_unknown_layer(self):
        with self.assertRaisesRegex(dt.DumpError, "layer 'conv2' is not in the model; did you mean conv1"):
            self.dump(tiny_model(), layers=["conv2"])
        with self.assertRaisesRegex(dt.DumpError, "'bn1' is a BatchNorm2d, not a Conv2d or Linear"):
            self.dump(tiny_model(), layers=["bn1"])

    def test_bits(self):
        with self.assertRaisesRegex(dt.DumpError, "between 1 and 32, not 0"):
            self.dump(tiny_model(), bits=0)
        with self.assertRaisesRegex(dt.DumpError, "between 1 and 32, not 40"):
            self.dump(tiny_model(), weights={"quantize": "linear", "bits": 40})
        with self.assertRaisesRegex(dt.DumpError, "int_bits and frac_bits"):
            self.dump(tiny_model(), quantize="fixed")
        with self.assertRaisesRegex(dt.DumpError, "'linear' or 'fixed'"):
            self.dump(tiny_model(), quantize="log")

    def test_linear_over_3d_input(self):
        class Seq(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(256, 4)

            def forward(self, x):
                return self.fc(x.flatten(2))
        with self.assertRaisesRegex(dt.DumpError, r"Linear input has shape \(2, 3, 256\)"):
            self.dump(Seq())

    def test_module_called_twice(self):
        class Twice(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 3, 3, padding=1)

            def forward(self, x):
                return self.conv(self.conv(x))
        with self.assertRaisesRegex(dt.DumpError, "called 2 times"):
            self.dump(Twice())

    def test_unused_layer(self):
        class Unused(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 3, 3)
                self.spare = nn.Linear(3, 3)

            def forward(self, x):
                return self.conv(x)
        msgs = []
        man = self.dump(Unused(), log=msgs.append)
        self.assertEqual([l["name"] for l in man["layers"]], ["conv"])
        self.assertTrue(any("spare" in m for m in msgs))
        with self.assertRaisesRegex(dt.DumpError, "'spare' was not called"):
            self.dump(Unused(), layers=["spare"])

    def test_no_output_left_after_an_error(self):
        out = os.path.join(self.tmp, "out")
        with self.assertRaises(dt.DumpError):
            dt.dump(tiny_model(), self.x, out, activations={"quantize": "fixed", "int_bits": 1, "frac_bits": 31},
                    weights={"quantize": "linear", "bits": 8}, layers=["conv1"])  # signed, needs 33 bits
        self.assertEqual([f for f in os.listdir(out)], [])


# ------------------------------------------------------------------------------------------------
# Command line


def write_images(folder, count):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        a = rng.integers(0, 256, size=(70 + 10 * i, 90, 3), dtype=np.uint8)
        Image.fromarray(a).save(os.path.join(folder, f"img{i}.{'png' if i % 2 else 'jpg'}"))


@needs_torchvision
class CommandLine(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dump_traces_cli_")
        self.images = os.path.join(self.tmp, "images")
        write_images(self.images, 3)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def main(self, *args):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = dt.main(list(args))
        return rc, err.getvalue()

    def test_help(self):
        r = subprocess.run([sys.executable, SCRIPT, "--help"], stdout=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--fold-bn", r.stdout)

    def test_errors(self):
        out = os.path.join(self.tmp, "out")
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty)
        rc, err = self.main("--model", "resnet18", "--images", empty, "--out", out)
        self.assertEqual(rc, 1)
        self.assertIn("holds no .jpg, .jpeg or .png files", err)
        rc, err = self.main("--model", "resnet18", "--images", os.path.join(self.tmp, "nowhere"), "--out", out)
        self.assertIn("does not exist", err)
        bad = os.path.join(self.tmp, "bad")
        write_images(bad, 1)
        with open(os.path.join(bad, "broken.jpg"), "wb") as f:
            f.write(b"not a jpeg")
        rc, err = self.main("--model", "resnet18", "--images", bad, "--out", out)
        self.assertEqual(rc, 1)
        self.assertIn("cannot read image", err)
        self.assertIn("broken.jpg", err)
        rc, err = self.main("--model", "resnet17", "--images", self.images, "--out", out)
        self.assertEqual(rc, 1)
        self.assertIn("unknown model 'resnet17'; did you mean", err)
        rc, err = self.main("--model", "resnet18", "--images", self.images, "--out", out, "--bits", "33")
        self.assertIn("between 1 and 32, not 33", err)
        rc, err = self.main("--model", "resnet18", "--images", self.images, "--out", out, "--quantize", "fixed",
                            "--act-int-bits", "4")
        self.assertIn("needs --act-frac-bits, --wgt-int-bits, --wgt-frac-bits", err)
        rc, err = self.main("--model", "resnet18", "--images", self.images, "--out", out, "--count", "4")
        self.assertIn("holds only 3 image(s)", err)
        rc, err = self.main("--model", "resnet18", "--images", self.images, "--out", out, "--layers", "conv1,layer9")
        self.assertEqual(rc, 1)
        self.assertIn("layer 'layer9' is not in the model", err)
        self.assertFalse(os.path.exists(os.path.join(out, "manifest.json")))

    def test_small_model(self):
        out = os.path.join(self.tmp, "mnv3")
        rc, err = self.main("--model", "mobilenet_v3_small", "--images", self.images, "--count", "2", "--batch", "1",
                            "--per-file", "1", "--resize", "64", "--crop", "48", "--fold-bn", "--out", out, "-q")
        self.assertEqual(rc, 0, err)
        man = read_json(os.path.join(out, "manifest.json"))
        self.assertEqual(man["network"], "mobilenet_v3_small")
        self.assertIn("random initialisation", man["source"])
        self.assertIn("img0.jpg, img1.png", man["source"])
        first = man["layers"][0]
        self.assertEqual((first["name"], first["stride"], first["padding"]), ("features.0.0", [2, 2], 1))
        self.assertEqual(np.load(os.path.join(out, first["activations"]["files"][0])).shape, (1, 3, 48, 48))
        dw = [l for l in man["layers"] if l.get("groups", 1) > 1]
        self.assertTrue(dw)
        self.assertEqual(man["layers"][-1]["type"], "fc")
        info = read_json(os.path.join(out, "dump_info.json"))
        self.assertEqual(info["images"], ["img0.jpg", "img1.png"])
        self.assertTrue(any(l.get("folded_bn") for l in info["layers"]))
        if LACONIC:
            r = run_laconic(os.path.join(out, "manifest.json"))
            self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
