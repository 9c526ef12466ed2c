#!/usr/bin/python3
"""Dump activation and weight traces of a PyTorch model as a laconic network manifest.

Forward hooks on every nn.Conv2d and nn.Linear (or a chosen subset) record, for each layer, the
input the layer's forward receives (for a convolution: before its own zero padding, as MODEL.md §1
wants) and its weight, optionally with a following BatchNorm2d folded into the weight.  The
traces are written as .npy files with a manifest.json that `laconic profile` reads, either as
float32 (the manifest says how laconic quantizes them) or quantized here to integers (MODEL.md §2)
and stored in the smallest integer dtype that holds the declared width.

A quantized model (torch.ao.quantization: QuantizedConv2d, QuantizedLinear and their fused
forms) is dumped as it computes: the integer codes of its quantized inputs and weights, as they
are, with their zero points in the manifest ("zero_point": one for a tensor, or one per output
channel for per-channel weights), so that laconic profiles code − zero point (a real zero is a
zero).  A quantized layer with float inputs (dynamic quantization) has its activations
quantized as for a float model.

Command line (see docs/dump_traces.md):

    /usr/bin/python3 scripts/dump_traces.py --model resnet18 --images DIR --count 2 \
        --quantize linear --bits 8 --fold-bn --out /tmp/resnet18

Library:

    import dump_traces
    manifest = dump_traces.dump(model, images, "/tmp/out", quantize="linear", bits=8)

The quantization helpers (quantize_fixed, quantize_linear, round_half_away) need only numpy;
torch is imported when a model is dumped.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

try:
    import numpy as np
except ImportError:  # the first python3 on PATH may be one without Debian's packages
    sys.exit(f"dump_traces.py: needs numpy, which {sys.executable} does not have: run it with Debian's "
             "/usr/bin/python3 (apt-get install python3-numpy)")

__all__ = [
    "DumpError", "QuantSpec", "dump", "load_images", "build_model", "find_bn_folds",
    "round_half_away", "quantize_fixed", "quantize_linear", "linear_parameters", "int_dtype",
    "main",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_BITS = 32  # laconic's widest declared precision


class DumpError(Exception):
    """A problem with the model, the images or the options; the message says which."""


# ---------------------------------------------------------------------------------------------
# Quantization (MODEL.md §2), the same arithmetic as laconic's host/quantize.cpp: float64, C's
# round() (half away from zero), so integers written here equal what laconic computes itself
# from the float traces with the same manifest entry.


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, halves away from zero (C's round(), not numpy's rint).

    Exact for every float64: x - trunc(x) is computed without error, so no x + 0.5 rounding
    surprises (0.49999999999999994 rounds to 0, as C's round does)."""
    x = np.asarray(x, dtype=np.float64)
    whole = np.trunc(x)
    frac = x - whole
    return whole + np.where(np.abs(frac) >= 0.5, np.sign(x), 0.0)


def _check_finite(x: np.ndarray, what: str) -> None:
    if x.size and not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise DumpError(f"{what}: element {tuple(int(i) for i in bad)} is {x[tuple(bad)]}; "
                        "traces must be finite to be quantized")


def quantize_fixed(x, int_bits: int, frac_bits: int) -> np.ndarray:
    """v = round(x · 2^frac_bits), clipped to ±(2^(int_bits+frac_bits) − 1); int64."""
    _check_bits_fixed(int_bits, frac_bits, "quantize_fixed")
    x = np.asarray(x, dtype=np.float64)
    _check_finite(x, "quantize_fixed")
    limit = math.ldexp(1.0, int_bits + frac_bits) - 1.0
    v = round_half_away(np.ldexp(x, frac_bits))
    return np.clip(v, -limit, limit).astype(np.int64)


def linear_parameters(lo: float, hi: float, bits: int) -> Dict[str, Any]:
    """Scale and offset of linear quantization to `bits` for a tensor whose range is lo..hi.

    Signed (lo < 0): v = round(x · (2^(P−1) − 1) / max|x|).  Otherwise v = round((x − min) ·
    ((2^P − 1) / (max − min))); a constant tensor maps to 0 if it is 0, else to 2^P − 1."""
    _check_bits(bits, "linear bits")
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise DumpError(f"linear quantization needs a finite range, not {lo}..{hi}")
    if lo < 0:
        max_abs = max(-lo, hi)
        return {"signed": True, "scale": (math.ldexp(1.0, bits - 1) - 1.0) / max_abs, "offset": 0.0,
                "constant": False}
    if hi > lo:
        return {"signed": False, "scale": (math.ldexp(1.0, bits) - 1.0) / (hi - lo), "offset": lo,
                "constant": False}
    return {"signed": False, "scale": 0.0, "offset": lo, "constant": True}


def quantize_linear(x, bits: int, lo: Optional[float] = None, hi: Optional[float] = None) -> np.ndarray:
    """Linear quantization of x to `bits` (MODEL.md §2); lo..hi is the range of the whole tensor
    (default: x's own range).  Returns int64."""
    x = np.asarray(x, dtype=np.float64)
    _check_finite(x, "quantize_linear")
    if lo is None:
        lo = float(x.min()) if x.size else 0.0
    if hi is None:
        hi = float(x.max()) if x.size else 0.0
    p = linear_parameters(lo, hi, bits)
    return _apply_linear(x, bits, p)


def _apply_linear(x: np.ndarray, bits: int, p: Dict[str, Any]) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if p["constant"]:
        top = (1 << bits) - 1
        return np.where(x == 0, 0, top).astype(np.int64)
    return round_half_away((x - p["offset"]) * p["scale"]).astype(np.int64)


def int_dtype(bits: int, signed: bool) -> np.dtype:
    """The smallest numpy integer dtype that holds every `bits`-bit (un)signed value."""
    _check_bits(bits, "bits")
    for width, s, u in ((8, "<i1", "<u1"), (16, "<i2", "<u2"), (32, "<i4", "<u4")):
        if bits <= width:
            return np.dtype(s if signed else u)
    raise DumpError(f"no integer dtype holds {bits} bits")  # unreachable after _check_bits


def _check_bits(bits, what: str) -> None:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise DumpError(f"{what} must be an integer, not {bits!r}")
    if not 1 <= bits <= MAX_BITS:
        raise DumpError(f"{what} must be between 1 and {MAX_BITS}, not {bits}")


def _check_bits_fixed(int_bits, frac_bits, what: str) -> None:
    for name, b in (("int_bits", int_bits), ("frac_bits", frac_bits)):
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)):
            raise DumpError(f"{what}: {name} must be an integer, not {b!r}")
        if b < 0:
            raise DumpError(f"{what}: {name} must not be negative, not {b}")
    if not 1 <= int_bits + frac_bits <= MAX_BITS:
        raise DumpError(f"{what}: int_bits + frac_bits must be between 1 and {MAX_BITS}, "
                        f"not {int_bits} + {frac_bits}")


@dataclass(frozen=True)
class QuantSpec:
    """How one kind of tensor (activations or weights) is quantized: mode 'linear' with bits, or
    'fixed' with int_bits and frac_bits (int bits include the sign)."""

    mode: str
    bits: Optional[int] = None
    int_bits: Optional[int] = None
    frac_bits: Optional[int] = None

    def validate(self, what: str) -> "QuantSpec":
        if self.mode == "linear":
            if self.bits is None:
                raise DumpError(f"{what}: linear quantization needs bits")
            _check_bits(self.bits, f"{what}: bits")
            if self.int_bits is not None or self.frac_bits is not None:
                raise DumpError(f"{what}: int_bits/frac_bits apply to fixed quantization only")
        elif self.mode == "fixed":
            if self.int_bits is None or self.frac_bits is None:
                raise DumpError(f"{what}: fixed quantization needs int_bits and frac_bits")
            _check_bits_fixed(self.int_bits, self.frac_bits, what)
            if self.bits is not None and self.bits != self.int_bits + self.frac_bits:
                raise DumpError(f"{what}: bits must equal int_bits + frac_bits or be left out")
        else:
            raise DumpError(f"{what}: quantize must be 'linear' or 'fixed', not {self.mode!r}")
        return self

    def describe(self) -> str:
        if self.mode == "linear":
            return f"linear {self.bits}-bit per tensor"
        return f"fixed point {self.int_bits}.{self.frac_bits}"


# ---------------------------------------------------------------------------------------------
# Trace storage: per-layer chunks of `per_file` samples; quantized output goes through float32
# temporary files because linear quantization needs the range over all images.


def _safe_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "layer"
    return stem.lstrip(".") or "layer"


def _save_npy(path: str, array: np.ndarray) -> None:
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)
    os.replace(tmp, path)


class _TensorStore:
    """Collects one tensor's samples (or the weight), writes chunk files and, at the end,
    quantizes them with the range of the whole tensor."""

    def __init__(self, out_dir: str, stem: str, what: str, spec: QuantSpec, store: str,
                 per_file: Optional[int]):
        self.out_dir, self.stem, self.what, self.spec, self.store = out_dir, stem, what, spec, store
        self.per_file = per_file
        self.pending: List[np.ndarray] = []
        self.buffered = 0
        self.chunks: List[str] = []  # float32 files written so far (temporary when store == "int")
        self.lo, self.hi = math.inf, -math.inf
        self.samples = 0
        self.shape: Optional[Tuple[int, ...]] = None
        self.written: List[str] = []  # final files
        self.entry: Dict[str, Any] = {}
        self.stats: Dict[str, Any] = {}

    def add(self, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array, dtype=np.float32)
        _check_finite(array, self.what)
        if self.shape is not None and array.shape[1:] != self.shape:
            raise DumpError(f"{self.what}: shape {tuple(array.shape)} changed between batches "
                            f"(earlier samples were {self.shape}); laconic needs one shape per layer")
        self.shape = tuple(array.shape[1:])
        if array.size:
            self.lo = min(self.lo, float(array.min()))
            self.hi = max(self.hi, float(array.max()))
        self.samples += array.shape[0]
        self.pending.append(array)
        self.buffered += array.shape[0]
        while self.per_file and self.buffered >= self.per_file:
            self._flush(self.per_file)

    def add_whole(self, array: np.ndarray) -> None:
        """The whole tensor at once (a weight): one file, no sample axis added."""
        array = np.ascontiguousarray(array, dtype=np.float32)
        _check_finite(array, self.what)
        if array.size:
            self.lo, self.hi = float(array.min()), float(array.max())
        self.shape = tuple(array.shape)
        name = f"{self.stem}.0" + (".f32.tmp.npy" if self.store == "int" else ".npy")
        _save_npy(os.path.join(self.out_dir, name), array)
        self.chunks.append(name)

    def _flush(self, n: int) -> None:
        data = np.concatenate(self.pending, axis=0) if len(self.pending) > 1 else self.pending[0]
        chunk, rest = data[:n], data[n:]
        self.pending = [rest] if rest.shape[0] else []
        self.buffered = rest.shape[0]
        suffix = ".f32.tmp.npy" if self.store == "int" else ".npy"
        name = f"{self.stem}.{len(self.chunks)}{suffix}"
        _save_npy(os.path.join(self.out_dir, name), chunk)
        self.chunks.append(name)

    def finish(self, single_name: Optional[str] = None) -> Dict[str, Any]:
        """Writes what is left and, for integer output, the quantized files.  Returns the
        manifest's tensor entry (files and quantization keys)."""
        if self.buffered:
            self._flush(self.buffered)
        if not self.chunks:
            raise DumpError(f"{self.what}: no data was recorded")
        spec = self.spec
        stats: Dict[str, Any] = {"min": self.lo, "max": self.hi}
        if spec.mode == "linear":
            params = linear_parameters(self.lo, self.hi, spec.bits)
            signed, bits = params["signed"], spec.bits
            stats.update({"scale": params["scale"], "offset": params["offset"]})
            convert = lambda x: _apply_linear(x, spec.bits, params)  # noqa: E731
        else:
            # Quantization is monotone: the extremes of the quantized tensor are the quantized
            # extremes.  p = int_bits + frac_bits; MODEL.md §2 clips signed values to
            # ±(2^(int+frac) − 1), which needs one bit more in two's complement: widen only
            # when a value really needs it.
            vlo = int(quantize_fixed(self.lo, spec.int_bits, spec.frac_bits))
            vhi = int(quantize_fixed(self.hi, spec.int_bits, spec.frac_bits))
            signed = vlo < 0
            bits = spec.int_bits + spec.frac_bits
            if signed and (vlo < -(1 << (bits - 1)) or vhi > (1 << (bits - 1)) - 1):
                bits += 1
                stats["widened"] = (f"quantized range {vlo}..{vhi} does not fit {bits - 1}-bit "
                                    f"two's complement; stored as {bits}-bit signed")
            if bits > MAX_BITS:
                raise DumpError(f"{self.what}: fixed {spec.int_bits}.{spec.frac_bits} values "
                                f"{vlo}..{vhi} need {bits} bits, more than {MAX_BITS}")
            convert = lambda x: quantize_fixed(x, spec.int_bits, spec.frac_bits)  # noqa: E731
        entry: Dict[str, Any] = {}
        if self.store == "float":
            names = self.chunks
            if spec.mode == "linear":
                entry.update({"quantize": "linear", "bits": spec.bits})
            else:
                entry.update({"quantize": "fixed", "int_bits": spec.int_bits,
                              "frac_bits": spec.frac_bits})
                if not signed:
                    entry["signed"] = False
            stats["dtype"] = "float32"
        else:
            dtype = int_dtype(bits, signed)
            names, zeros, total = [], 0, 0
            for i, tmp in enumerate(self.chunks):
                tmp_path = os.path.join(self.out_dir, tmp)
                x = np.load(tmp_path, mmap_mode="r")
                v = convert(x)
                zeros += int(np.count_nonzero(v == 0))
                total += v.size
                name = f"{self.stem}.{i}.npy" if len(self.chunks) > 1 or single_name is None else single_name
                _save_npy(os.path.join(self.out_dir, name), v.astype(dtype))
                del x
                os.remove(tmp_path)
                names.append(name)
            entry.update({"quantize": "none", "bits": bits, "signed": bool(signed)})
            stats.update({"dtype": dtype.str[1:], "zero_fraction": zeros / total if total else 0.0})
        if self.store == "float" and single_name is not None and len(names) == 1 and names[0] != single_name:
            os.replace(os.path.join(self.out_dir, names[0]), os.path.join(self.out_dir, single_name))
            names = [single_name]
        self.written = list(names)
        stats.update({"bits": bits, "signed": bool(signed), "quantize": spec.describe()})
        self.stats = stats
        if len(names) == 1:
            entry = {"file": names[0], **entry}
        else:
            entry = {"files": names, **entry}
        self.entry = entry
        return entry

    def discard(self) -> None:
        for name in set(self.chunks) | set(self.written):
            try:
                os.remove(os.path.join(self.out_dir, name))
            except OSError:
                pass


class _CodeStore:
    """Collects the integer codes of a quantized model's tensor (per_file samples a file, or the
    whole weight) with their zero point(s), and writes them as they are.  The declared width is
    that of the codes (8 bits for quint8/qint8) unless code − zero point needs more; unsigned when
    no code lies below its zero point."""

    def __init__(self, out_dir: str, stem: str, what: str, per_file: Optional[int]):
        self.out_dir, self.stem, self.what, self.per_file = out_dir, stem, what, per_file
        self.pending: List[np.ndarray] = []
        self.buffered = 0
        self.written: List[str] = []
        self.zero_point: Any = None
        self.dtype: Optional[np.dtype] = None
        self.lo, self.hi = math.inf, -math.inf
        self.zeros = self.total = self.samples = 0
        self.shape: Optional[Tuple[int, ...]] = None
        self.stats: Dict[str, Any] = {}
        self.single = False

    def _tally(self, codes: np.ndarray, zero_point: Any) -> None:
        if self.zero_point is not None and zero_point != self.zero_point:
            raise DumpError(f"{self.what}: the zero point changed between batches ({self.zero_point} "
                            f"then {zero_point}); laconic takes one per tensor")
        if self.dtype is not None and codes.dtype != self.dtype:
            raise DumpError(f"{self.what}: codes of dtype {codes.dtype} after {self.dtype}")
        self.zero_point, self.dtype = zero_point, codes.dtype
        zp = np.asarray(zero_point, dtype=np.int64)
        if zp.ndim == 1:  # per output channel: broadcast along axis 0
            zp = zp.reshape((-1,) + (1,) * (codes.ndim - 1))
        v = codes.astype(np.int64) - zp
        if v.size:
            self.lo, self.hi = min(self.lo, int(v.min())), max(self.hi, int(v.max()))
        self.zeros += int(np.count_nonzero(v == 0))
        self.total += int(v.size)

    def add(self, codes: np.ndarray, zero_point: int) -> None:
        if self.shape is not None and codes.shape[1:] != self.shape:
            raise DumpError(f"{self.what}: shape {tuple(codes.shape)} changed between batches "
                            f"(earlier samples were {self.shape}); laconic needs one shape per layer")
        self.shape = tuple(codes.shape[1:])
        self._tally(codes, zero_point)
        self.samples += codes.shape[0]
        self.pending.append(codes)
        self.buffered += codes.shape[0]
        while self.per_file and self.buffered >= self.per_file:
            self._flush(self.per_file)

    def add_whole(self, codes: np.ndarray, zero_point: Any, name: str) -> None:
        self._tally(codes, zero_point)
        self.shape = tuple(codes.shape)
        _save_npy(os.path.join(self.out_dir, name), codes)
        self.written.append(name)
        self.single = True

    def _flush(self, n: int) -> None:
        data = np.concatenate(self.pending, axis=0) if len(self.pending) > 1 else self.pending[0]
        chunk, rest = data[:n], data[n:]
        self.pending = [rest] if rest.shape[0] else []
        self.buffered = rest.shape[0]
        name = f"{self.stem}.{len(self.written)}.npy"
        _save_npy(os.path.join(self.out_dir, name), chunk)
        self.written.append(name)

    def finish(self) -> Dict[str, Any]:
        if self.buffered:
            self._flush(self.buffered)
        if not self.written:
            raise DumpError(f"{self.what}: no data was recorded")
        signed = self.lo < 0
        bits = 8 * self.dtype.itemsize
        while bits < MAX_BITS and (self.hi > (1 << (bits - int(signed))) - 1 or
                                   (signed and self.lo < -(1 << (bits - 1)))):
            bits += 1
        entry: Dict[str, Any] = {"file": self.written[0]} if len(self.written) == 1 else {"files": self.written}
        entry.update({"zero_point": self.zero_point, "bits": bits, "signed": bool(signed)})
        self.stats = {"dtype": self.dtype.str[1:], "zero_point": self.zero_point, "min": self.lo,
                      "max": self.hi, "bits": bits, "signed": bool(signed),
                      "zero_fraction": self.zeros / self.total if self.total else 0.0,
                      "quantize": "integer codes of the quantized model, less their zero point"}
        return entry

    def discard(self) -> None:
        for name in self.written:
            try:
                os.remove(os.path.join(self.out_dir, name))
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# Model inspection


def _torch():
    try:
        import torch  # noqa: F401
        import torch.nn  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise DumpError("PyTorch is needed to dump a model (Debian: apt-get install python3-torch "
                        "python3-torchvision; run /usr/bin/python3)") from e
    return torch


def _padding_of(conv) -> Tuple[int, int, int, int]:
    """(top, bottom, left, right) zero padding that conv's forward applies to its input."""
    kh, kw = conv.kernel_size
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return (0, 0, 0, 0)
        if conv.padding == "same":
            # ATen's _convolution_mode: total d·(k−1), the smaller half on top/left, the extra
            # row/column on the bottom/right.
            th = conv.dilation[0] * (kh - 1)
            tw = conv.dilation[1] * (kw - 1)
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        raise DumpError(f"unknown padding {conv.padding!r}")
    ph, pw = (conv.padding, conv.padding) if isinstance(conv.padding, int) else conv.padding
    return (int(ph), int(ph), int(pw), int(pw))


def _padding_json(pad: Tuple[int, int, int, int]):
    top, bottom, left, right = pad
    if top == bottom == left == right:
        return top
    if top == bottom and left == right:
        return [top, left]
    return {"top": top, "bottom": bottom, "left": left, "right": right}


def _check_conv(name: str, conv) -> None:
    if tuple(conv.dilation) != (1, 1):
        raise DumpError(f"layer '{name}': dilation {tuple(conv.dilation)} is not supported "
                        "(laconic's model has no dilation); leave the layer out with --layers")
    if conv.padding_mode != "zeros":
        raise DumpError(f"layer '{name}': padding_mode '{conv.padding_mode}' is not supported; "
                        "laconic pads with zeros only (leave the layer out with --layers)")


def _quantized_modules():
    """torch.ao.nn.quantized's Conv2d and Linear (their fused and dynamic forms subclass them),
    or (None, None) where this torch has no quantized modules."""
    try:
        import torch.ao.nn.quantized as nnq
    except ImportError:  # pragma: no cover - older torch
        try:
            import torch.nn.quantized as nnq
        except ImportError:
            return None, None
    return nnq.Conv2d, nnq.Linear


def _is_quantized(module) -> bool:
    qconv, qlinear = _quantized_modules()
    return qconv is not None and isinstance(module, (qconv, qlinear))


def _module_kind(module) -> Optional[str]:
    torch = _torch()
    qconv, qlinear = _quantized_modules()
    if isinstance(module, torch.nn.Conv2d) or (qconv is not None and isinstance(module, qconv)):
        return "conv"
    if isinstance(module, torch.nn.Linear) or (qlinear is not None and isinstance(module, qlinear)):
        return "fc"
    return None


def _zero_points(q, what: str):
    """The integer codes of quantized tensor q and its zero point(s): an int for a per-tensor
    scheme, a list (one per slice of axis 0) for a per-channel one."""
    torch = _torch()
    scheme = q.qscheme()
    codes = q.int_repr().detach().to("cpu").numpy().copy()
    if scheme in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        return codes, int(q.q_zero_point())
    if scheme in (torch.per_channel_affine, torch.per_channel_symmetric):
        if q.q_per_channel_axis() != 0:
            raise DumpError(f"{what}: zero points per channel of axis {q.q_per_channel_axis()}; laconic "
                            "takes them per output channel (axis 0)")
        return codes, [int(z) for z in q.q_per_channel_zero_points().tolist()]
    raise DumpError(f"{what}: quantization scheme {scheme} is not supported (per-tensor or per-channel "
                    "affine codes with integer zero points)")


def _bn_scale(bn):
    """gamma / sqrt(running_var + eps) per channel, float64; None if bn cannot be folded."""
    torch = _torch()
    if not bn.track_running_stats or bn.running_var is None:
        return None
    var = bn.running_var.detach().to(torch.float64).cpu()
    scale = 1.0 / torch.sqrt(var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.detach().to(torch.float64).cpu()
    return scale


def find_bn_folds(model) -> Tuple[Dict[str, str], str]:
    """Maps each Conv2d name to the BatchNorm2d that directly follows it, and says how that was
    found: with torch.fx (the BN's input is the conv's output and nothing else uses that output)
    or, where symbolic tracing fails, by module order (the next registered leaf module is a
    BatchNorm2d with num_features == out_channels)."""
    torch = _torch()
    modules = dict(model.named_modules())
    folds: Dict[str, str] = {}
    try:
        import torch.fx
        graph = torch.fx.symbolic_trace(model).graph
    except Exception as e:  # noqa: BLE001 - any tracing failure means "fall back"
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        leaves = [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children())]
        for (name, m), (next_name, nxt) in zip(leaves, leaves[1:]):
            if (isinstance(m, torch.nn.Conv2d) and isinstance(nxt, torch.nn.BatchNorm2d)
                    and nxt.num_features == m.out_channels):
                folds[name] = next_name
        return folds, (f"module order (the next registered module is a BatchNorm2d with "
                       f"num_features == out_channels; torch.fx tracing failed: {reason[:200]})")
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), torch.nn.Conv2d):
            continue
        users = list(node.users)
        if len(users) != 1:
            continue
        user = users[0]
        if (user.op == "call_module" and isinstance(modules.get(user.target), torch.nn.BatchNorm2d)
                and len(user.args) >= 1 and user.args[0] is node
                and modules[user.target].num_features == modules[node.target].out_channels):
            if node.target in folds and folds[node.target] != user.target:
                del folds[node.target]  # a conv called twice; the hooks refuse it anyway
                continue
            folds[node.target] = user.target
    return folds, "torch.fx (BatchNorm2d applied directly and only to the conv's output)"


def build_model(name: str, seed: int = 0):
    """A torchvision model by name, randomly initialised (weights=None) with a fixed seed."""
    torch = _torch()
    try:
        import torchvision.models as tvm
    except ImportError as e:  # pragma: no cover
        raise DumpError("torchvision is needed for --model (apt-get install python3-torchvision)") from e
    names = tvm.list_models() if hasattr(tvm, "list_models") else [
        n for n in dir(tvm) if not n.startswith("_") and callable(getattr(tvm, n)) and n.islower()]
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; classification models include resnet18, alexnet, mobilenet_v2, vgg16"
        raise DumpError(f"unknown model '{name}'{hint}")
    torch.manual_seed(seed)
    kwargs: Dict[str, Any] = {"weights": None}
    if name in ("inception_v3", "googlenet"):
        kwargs.update({"init_weights": True, "aux_logits": False})
    if hasattr(tvm, "get_model"):
        model = tvm.get_model(name, **kwargs)
    else:  # pragma: no cover - older torchvision
        model = getattr(tvm, name)(**kwargs)
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Images


def list_images(folder: str) -> List[str]:
    if not os.path.isdir(folder):
        raise DumpError(f"image folder '{folder}' does not exist or is not a directory")
    files = sorted(f for f in os.listdir(folder)
                   if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, f)))
    if not files:
        raise DumpError(f"image folder '{folder}' holds no .jpg, .jpeg or .png files")
    return [os.path.join(folder, f) for f in files]


def _transform(resize: int, crop: int):
    import torchvision.transforms as T
    return T.Compose([T.Resize(resize), T.CenterCrop(crop), T.ToTensor(),
                      T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def check_image(path: str) -> None:
    """Opens an image's header (and, for PNG, checks its data) without decoding it."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            im.verify()
    except Exception as e:  # noqa: BLE001
        raise DumpError(f"cannot read image '{path}': {e}") from e


def load_image(path: str, resize: int = 256, crop: int = 224):
    """One image as a (3, crop, crop) float tensor: RGB, shorter side resized to `resize`
    (bilinear), center crop, ImageNet mean/std normalisation."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.load()
    except Exception as e:  # noqa: BLE001 - PIL raises many kinds
        raise DumpError(f"cannot read image '{path}': {e}") from e
    return _transform(resize, crop)(im)


def load_images(paths: Sequence[str], resize: int = 256, crop: int = 224):
    """All images as one (N, 3, crop, crop) tensor."""
    torch = _torch()
    return torch.stack([load_image(p, resize, crop) for p in paths])


def _image_batches(paths: Sequence[str], batch: int, resize: int, crop: int):
    torch = _torch()
    for i in range(0, len(paths), batch):
        yield torch.stack([load_image(p, resize, crop) for p in paths[i:i + batch]])


# ---------------------------------------------------------------------------------------------
# The dump


def _spec(value, what: str) -> QuantSpec:
    if isinstance(value, QuantSpec):
        return value.validate(what)
    if isinstance(value, dict):
        unknown = set(value) - {"quantize", "mode", "bits", "int_bits", "frac_bits"}
        if unknown:
            raise DumpError(f"{what}: unknown key(s) {sorted(unknown)}")
        return QuantSpec(value.get("quantize", value.get("mode")), value.get("bits"),
                         value.get("int_bits"), value.get("frac_bits")).validate(what)
    raise DumpError(f"{what}: expected a QuantSpec or a dict, not {type(value).__name__}")


def _batches(images, batch: int):
    torch = _torch()
    if isinstance(images, torch.Tensor):
        if images.dim() != 4:
            raise DumpError(f"images must be a (N, C, H, W) tensor, not {tuple(images.shape)}")
        if images.shape[0] == 0:
            raise DumpError("no images: the tensor has N = 0")
        for i in range(0, images.shape[0], batch):
            yield images[i:i + batch]
        return
    for b in images:
        if not isinstance(b, torch.Tensor):
            raise DumpError(f"an image batch must be a tensor, not {type(b).__name__}")
        yield b if b.dim() == 4 else b.unsqueeze(0)


def _json_text(doc) -> str:
    """Indented JSON with lists of numbers on one line ("stride": [2, 2])."""
    text = json.dumps(doc, indent=2)
    return re.sub(r"\[\s+([-+0-9.eE]+(?:,\s+[-+0-9.eE]+)*)\s+\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text) + "\n"


def dump(model, images, out_dir: str, *,
         layers: Optional[Sequence[str]] = None,
         fold_bn: bool = False,
         quantize: str = "linear",
         bits: Optional[int] = 8,
         activations: Optional[Union[QuantSpec, dict]] = None,
         weights: Optional[Union[QuantSpec, dict]] = None,
         store: str = "int",
         batch: int = 16,
         per_file: Optional[int] = 32,
         network: str = "model",
         source: Optional[str] = None,
         description: Optional[str] = None,
         info: Optional[Dict[str, Any]] = None,
         log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Runs `model` (any torch.nn.Module, put in eval mode) on `images` and writes
    `out_dir/manifest.json`, the .npy traces and `out_dir/dump_info.json`.

    images: a (N, C, H, W) tensor (cut into batches of `batch`) or an iterable of such batches.
    layers: names from model.named_modules() (Conv2d or Linear); default every Conv2d and Linear
        that forward calls.
    quantize/bits: linear `bits`-bit for activations and weights; `activations`/`weights`
        (QuantSpec or {"quantize": "fixed", "int_bits": I, "frac_bits": F} /
        {"quantize": "linear", "bits": P}) override them per kind.
    store: "int" quantizes here and writes integers; "float" writes float32 and puts the
        quantization in the manifest for laconic to apply (the same numbers either way).
    per_file: samples per activation file (None or 0: one file per layer).
    Returns the manifest (a dict)."""
    torch = _torch()
    log = log or (lambda msg: None)
    if store not in ("int", "float"):
        raise DumpError(f"store must be 'int' or 'float', not {store!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise DumpError(f"batch must be a positive integer, not {batch!r}")
    if per_file is not None and (isinstance(per_file, bool) or not isinstance(per_file, int) or per_file < 0):
        raise DumpError(f"per_file must be a non-negative integer, not {per_file!r}")
    if quantize == "linear":
        default = QuantSpec("linear", bits)
    elif quantize == "fixed":
        default = None
    else:
        raise DumpError(f"quantize must be 'linear' or 'fixed', not {quantize!r}")
    if activations is None and default is None or weights is None and default is None:
        raise DumpError("fixed quantization needs int_bits and frac_bits for activations and weights")
    act_spec = _spec(activations if activations is not None else default, "activations")
    wgt_spec = _spec(weights if weights is not None else default, "weights")
    if not isinstance(model, torch.nn.Module):
        raise DumpError(f"model must be a torch.nn.Module, not {type(model).__name__}")

    model.eval()
    modules = dict(model.named_modules())
    if layers is not None:
        layers = list(layers)
        if not layers:
            raise DumpError("the list of layers is empty")
        for name in layers:
            if name not in modules:
                close = difflib.get_close_matches(name, [n for n in modules if _module_kind(modules[n])], n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise DumpError(f"layer '{name}' is not in the model{hint}")
            if _module_kind(modules[name]) is None:
                raise DumpError(f"layer '{name}' is a {type(modules[name]).__name__}, not a Conv2d or Linear")
        if len(set(layers)) != len(layers):
            raise DumpError("a layer is named twice in layers")
        chosen = layers
        explicit = True
    else:
        chosen = [n for n, m in model.named_modules() if _module_kind(m)]
        explicit = False
        if not chosen:
            raise DumpError("the model has no Conv2d or Linear layer")
    for name in chosen:
        if _module_kind(modules[name]) == "conv":
            _check_conv(name, modules[name])

    folds: Dict[str, str] = {}
    fold_method = None
    if fold_bn:
        all_folds, fold_method = find_bn_folds(model)
        for conv_name, bn_name in all_folds.items():
            if conv_name in chosen:
                if _bn_scale(modules[bn_name]) is None:
                    log(f"warning: {bn_name} has no running statistics; {conv_name} is not folded")
                else:
                    folds[conv_name] = bn_name
        log(f"BN folding by {fold_method}: {len(folds)} conv layer(s)")

    os.makedirs(out_dir, exist_ok=True)
    # A manifest left by an earlier run would describe files this run overwrites.
    for stale in ("manifest.json", "dump_info.json"):
        if os.path.exists(os.path.join(out_dir, stale)):
            os.remove(os.path.join(out_dir, stale))
    stems: Dict[str, str] = {}
    used = set()
    for name in chosen:
        stem = _safe_stem(name if name else "model")
        base, k = stem, 1
        while stem in used:
            k += 1
            stem = f"{base}_{k}"
        used.add(stem)
        stems[name] = stem

    stores = {n: _TensorStore(out_dir, f"{stems[n]}.act", f"layer '{n}' activations", act_spec, store,
                              per_file or None) for n in chosen}
    calls: Dict[str, int] = {n: 0 for n in chosen}
    order: List[str] = []
    captured: Dict[str, Any] = {}
    error: List[BaseException] = []

    def make_hook(name: str, kind: str):
        def hook(module, inputs, output):
            calls[name] += 1
            if calls[name] > 1:
                return
            if not inputs or not isinstance(inputs[0], torch.Tensor):
                error.append(DumpError(f"layer '{name}': forward received no tensor input"))
                return
            x = inputs[0]
            if kind == "conv" and x.dim() != 4:
                error.append(DumpError(f"layer '{name}': Conv2d input has shape {tuple(x.shape)}; "
                                       "laconic needs batched (N, C, H, W) inputs"))
                return
            if kind == "fc" and x.dim() != 2:
                error.append(DumpError(
                    f"layer '{name}': Linear input has shape {tuple(x.shape)}; laconic's fc layers take "
                    "(N, C) (a Linear over more dimensions is many matrix-vector products, not one fc "
                    "layer); leave it out with --layers"))
                return
            if x.is_quantized:
                try:
                    captured[name] = _zero_points(x, f"layer '{name}' activations")
                except DumpError as e:
                    error.append(e)
                return
            captured[name] = x.detach().to(device="cpu", dtype=torch.float32).numpy().copy()
        return hook

    handles = [modules[n].register_forward_hook(make_hook(n, _module_kind(modules[n]))) for n in chosen]
    active = list(chosen)
    n_images = 0
    try:
        try:
            device = next(model.parameters()).device
        except StopIteration:
            device = torch.device("cpu")
        for b_index, images_batch in enumerate(_batches(images, batch)):
            for n in active:
                calls[n] = 0
            captured.clear()
            with torch.no_grad():
                model(images_batch.to(device))
            if error:
                raise error[0]
            twice = [n for n in active if calls[n] > 1]
            if twice:
                raise DumpError(f"layer '{twice[0]}' is called {calls[twice[0]]} times in one forward pass; "
                                "laconic needs one input per layer (leave it out with --layers)")
            missing = [n for n in active if calls[n] == 0]
            if missing:
                if explicit or b_index > 0:
                    raise DumpError(f"layer '{missing[0]}' was not called by the model's forward")
                for n in missing:
                    log(f"warning: layer '{n}' is never called by forward; left out")
                    stores.pop(n)
                active = [n for n in active if n not in missing]
                if not active:
                    raise DumpError("no chosen layer was called by the model's forward")
            if b_index == 0:
                # Layers in the order forward calls them (the hooks fire in that order).
                order = list(captured)
            for n in active:
                if isinstance(captured[n], tuple):  # the codes of a quantized input
                    if not isinstance(stores[n], _CodeStore):
                        if stores[n].samples:
                            raise DumpError(f"layer '{n}': quantized input after float ones")
                        stores[n] = _CodeStore(out_dir, f"{stems[n]}.act", f"layer '{n}' activations",
                                               per_file or None)
                    stores[n].add(*captured[n])
                else:
                    if isinstance(stores[n], _CodeStore):
                        raise DumpError(f"layer '{n}': float input after quantized ones")
                    stores[n].add(captured[n])
            n_images += int(images_batch.shape[0])
            log(f"batch {b_index + 1}: {n_images} image(s)")
        if n_images == 0:
            raise DumpError("no images")

        manifest_layers = []
        info_layers = []
        for n in order:
            module = modules[n]
            kind = _module_kind(module)
            st = stores[n]
            layer: Dict[str, Any] = {"name": n if n else "model", "type": kind}
            quantized = _is_quantized(module)
            w = module.weight() if quantized else module.weight.detach().to(device="cpu", dtype=torch.float64)
            folded = None
            if kind == "conv":
                pad = _padding_of(module)
                layer["stride"] = [int(module.stride[0]), int(module.stride[1])]
                layer["padding"] = _padding_json(pad)
                layer["groups"] = int(module.groups)
                if n in folds and not quantized:
                    folded = folds[n]
                    w = w * _bn_scale(modules[folded]).reshape(-1, 1, 1, 1)
            layer["activations"] = st.finish()
            if quantized:
                wstore = _CodeStore(out_dir, f"{stems[n]}.weights", f"layer '{n}' weights", None)
                stores[f"\0{n}"] = wstore  # so that a failure removes its file too
                codes, zero_point = _zero_points(w, f"layer '{n}' weights")
                wstore.add_whole(codes, zero_point, f"{stems[n]}.weights.npy")
            else:
                wstore = _TensorStore(out_dir, f"{stems[n]}.weights", f"layer '{n}' weights", wgt_spec, store, None)
                stores[f"\0{n}"] = wstore  # so that a failure removes its temporary file too
                wstore.add_whole(w.to(torch.float32).numpy())
            layer["weights"] = wstore.finish() if quantized else wstore.finish(single_name=f"{stems[n]}.weights.npy")
            manifest_layers.append(layer)
            entry = {"name": layer["name"], "module": type(module).__name__,
                     "activation_shape": [st.samples, *st.shape],
                     "weight_shape": list(w.shape),
                     "activations": st.stats, "weights": wstore.stats}
            if folded:
                entry["folded_bn"] = folded
            info_layers.append(entry)
    except BaseException:
        for st in stores.values():
            st.discard()
        raise
    finally:
        for h in handles:
            h.remove()

    quant_text = (f"activations {act_spec.describe()}, weights {wgt_spec.describe()}, "
                  + ("quantized by dump_traces.py and stored as integers" if store == "int"
                     else "stored as float32 and quantized by laconic"))
    n_quantized = sum(1 for n in order if _is_quantized(modules[n]))
    if n_quantized == len(order):
        quant_text = "integer codes of the quantized model with their zero points"
    elif n_quantized:
        quant_text += (f"; {n_quantized} quantized layer(s) as integer codes with their zero points")
    if source is None:
        source = f"{network} ({type(model).__name__}) on {n_images} image(s)"
    source = f"{source}; {quant_text}"
    if fold_bn:
        source += f"; BatchNorm folded into {len(folds)} conv layer(s)"
    manifest: Dict[str, Any] = {"network": network, "version": 1, "source": source}
    desc = description or ""
    desc = (desc + "; " if desc else "") + (
        "written by scripts/dump_traces.py: activations are each layer's input before padding"
        + (f"; BN folding by {fold_method}" if fold_bn else "") + "; details in dump_info.json")
    manifest["description"] = desc
    manifest["layers"] = manifest_layers
    with open(os.path.join(out_dir, "manifest.json.part"), "w") as f:
        f.write(_json_text(manifest))
    os.replace(os.path.join(out_dir, "manifest.json.part"), os.path.join(out_dir, "manifest.json"))

    import platform
    details: Dict[str, Any] = dict(info or {})
    details.update({
        "tool": "scripts/dump_traces.py", "network": network, "images": details.get("images", n_images),
        "samples": n_images, "store": store, "per_file": per_file or None,
        "activation_quantization": {k: v for k, v in act_spec.__dict__.items() if v is not None},
        "weight_quantization": {k: v for k, v in wgt_spec.__dict__.items() if v is not None},
        "fold_bn": bool(fold_bn), "fold_method": fold_method,
        "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "layers": info_layers,
    })
    with open(os.path.join(out_dir, "dump_info.json"), "w") as f:
        f.write(_json_text(details))
    log(f"wrote {len(manifest_layers)} layer(s) to {os.path.join(out_dir, 'manifest.json')}")
    return manifest


# ---------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dump_traces.py",
        description="Dump the input activations and weights of every Conv2d and Linear of a "
                    "torchvision model, run on images, as a laconic network manifest.")
    p.add_argument("--model", required=True, help="torchvision model name (resnet18, alexnet, mobilenet_v2, ...); "
                   "randomly initialised with --seed, no pretrained weights")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of .jpg/.jpeg/.png images (sorted by name)")
    p.add_argument("--count", type=int, metavar="N", help="use the first N images (default all)")
    p.add_argument("--batch", type=int, default=16, metavar="B", help="images per forward pass (16)")
    p.add_argument("--per-file", type=int, default=32, metavar="N",
                   help="samples per activation file (32; 0 = one file per layer)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--layers", metavar="A,B", help="only these layers (names as in named_modules())")
    p.add_argument("--fold-bn", action="store_true", help="fold a BatchNorm2d that directly follows a conv into its weights")
    p.add_argument("--quantize", choices=("linear", "fixed"), default="linear", help="linear (default) or fixed")
    p.add_argument("--bits", type=int, default=8, metavar="P", help="linear: bits of activations and weights (8)")
    p.add_argument("--act-bits", type=int, metavar="P", help="linear: bits of activations (default --bits)")
    p.add_argument("--wgt-bits", type=int, metavar="P", help="linear: bits of weights (default --bits)")
    p.add_argument("--act-int-bits", type=int, metavar="I", help="fixed: integer bits of activations (with sign)")
    p.add_argument("--act-frac-bits", type=int, metavar="F", help="fixed: fraction bits of activations")
    p.add_argument("--wgt-int-bits", type=int, metavar="I", help="fixed: integer bits of weights (with sign)")
    p.add_argument("--wgt-frac-bits", type=int, metavar="F", help="fixed: fraction bits of weights")
    p.add_argument("--float", action="store_true",
                   help="store float32 traces and let laconic quantize them as the manifest says")
    p.add_argument("--seed", type=int, default=0, help="seed of the random initialisation (0)")
    p.add_argument("--resize", type=int, default=256, help="shorter side resized to this (256)")
    p.add_argument("--crop", type=int, default=224, help="center crop size (224)")
    p.add_argument("--network", help="network name in the manifest (default the model name)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return p


def _specs_from_args(args) -> Tuple[QuantSpec, QuantSpec]:
    if args.quantize == "linear":
        for opt in ("act_int_bits", "act_frac_bits", "wgt_int_bits", "wgt_frac_bits"):
            if getattr(args, opt) is not None:
                raise DumpError(f"--{opt.replace('_', '-')} applies to --quantize fixed only")
        act = QuantSpec("linear", args.act_bits if args.act_bits is not None else args.bits)
        wgt = QuantSpec("linear", args.wgt_bits if args.wgt_bits is not None else args.bits)
        return act.validate("activations (--act-bits/--bits)"), wgt.validate("weights (--wgt-bits/--bits)")
    if args.act_bits is not None or args.wgt_bits is not None:
        raise DumpError("--act-bits/--wgt-bits apply to --quantize linear only")
    missing = [o for o in ("act_int_bits", "act_frac_bits", "wgt_int_bits", "wgt_frac_bits")
               if getattr(args, o) is None]
    if missing:
        raise DumpError("--quantize fixed needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
    act = QuantSpec("fixed", None, args.act_int_bits, args.act_frac_bits)
    wgt = QuantSpec("fixed", None, args.wgt_int_bits, args.wgt_frac_bits)
    return act.validate("activations (--act-int-bits/--act-frac-bits)"), wgt.validate("weights (--wgt-int-bits/--wgt-frac-bits)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    try:
        for opt, low in (("count", 1), ("batch", 1), ("per_file", 0), ("resize", 1), ("crop", 1)):
            v = getattr(args, opt)
            if v is not None and v < low:
                raise DumpError(f"--{opt.replace('_', '-')} must be at least {low}, not {v}")
        act, wgt = _specs_from_args(args)
        paths = list_images(args.images)
        if args.count is not None:
            if args.count > len(paths):
                raise DumpError(f"--count {args.count} but '{args.images}' holds only {len(paths)} image(s)")
            paths = paths[:args.count]
        for p in paths:  # a cheap check before the model runs; decoding errors still name the file
            check_image(p)
        model = build_model(args.model, args.seed)
        layers = [s.strip() for s in args.layers.split(",") if s.strip()] if args.layers else None
        names = [os.path.basename(p) for p in paths]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        source = (f"torchvision {args.model}, random initialisation (seed {args.seed}; no pretrained weights "
                  f"available offline), on {len(paths)} image(s): {shown} (resize {args.resize}, center crop "
                  f"{args.crop}, ImageNet mean/std)")
        info = {"model": f"torchvision {args.model}", "initialisation": f"random (weights=None), seed {args.seed}",
                "images": names, "image_folder": os.path.abspath(args.images),
                "preprocessing": {"resize": args.resize, "center_crop": args.crop,
                                  "mean": IMAGENET_MEAN, "std": IMAGENET_STD}}
        dump(model, _image_batches(paths, args.batch, args.resize, args.crop), args.out,
             layers=layers, fold_bn=args.fold_bn, activations=act, weights=wgt,
             store="float" if args.float else "int", batch=args.batch, per_file=args.per_file,
             network=args.network or args.model, source=source, info=info, log=log)
    except DumpError as e:
        print(f"dump_traces.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
