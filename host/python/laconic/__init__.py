"""laconic: bit-level work and cycles of CNN layers on Laconic-style accelerators, profiled live.

The same engines, exact integers and reports as the `laconic profile` command, fed from memory
batch by batch instead of from trace files (README "Live profiling from Python"):

    import numpy as np, laconic
    session = laconic.Session("net", engine="cpu", encoding="booth")
    shape = laconic.conv_shape(channels=16, height=8, width=8, filters=32, kernel=3, padding=1)
    session.add("conv1", shape, activations_int8, weights_int8)      # (N, 16, 8, 8), (32, 16, 3, 3)
    print(session.report().markdown())

Arrays are integers of any NumPy integer dtype, read where they are (C-contiguous arrays are not
copied); floats need a quantization (Fixed, Linear with a range, Integral), applied in C++ exactly as
laconic quantizes float traces (MODEL.md §2). laconic.torch profiles a PyTorch model with forward
hooks. `import laconic` needs numpy only; torch is imported by laconic.torch.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from . import _core
from ._core import BufferError, Error, LayerShape

__all__ = [
    "Error", "BufferError", "LayerShape", "Fixed", "Linear", "Integral", "Integers", "Session", "Report",
    "conv_shape", "fc_shape", "device", "__version__",
]

__version__ = _core.version()
MAX_BITS = 32


def device() -> str:
    """The CUDA device the cuda engine would use, in words, or why there is none."""
    return _core.device()


# ---------------------------------------------------------------------------------------------
# Quantizations (MODEL.md §2): how a tensor's values become the integers laconic profiles.


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np
            if isinstance(value, np.integer):
                return int(value)
        except ImportError:  # pragma: no cover
            pass
        raise Error(f"{what} must be an integer, not {value!r}")
    return value


def _bits(value, what: str) -> int:
    value = _int(value, what)
    if not 1 <= value <= MAX_BITS:
        raise Error(f"{what} must be between 1 and {MAX_BITS}, not {value}")
    return value


@dataclass(frozen=True)
class Fixed:
    """Fixed point: v = round(x · 2^frac_bits) (halves away from zero), clipped to
    ±(2^(int_bits+frac_bits) − 1); p = int_bits + frac_bits (int bits include the sign).
    `signed=False` declares the tensor unsigned (a negative value is then an error)."""

    int_bits: int
    frac_bits: int
    signed: bool = True

    def __post_init__(self):
        for name in ("int_bits", "frac_bits"):
            if _int(getattr(self, name), f"Fixed {name}") < 0:
                raise Error(f"Fixed {name} must not be negative, not {getattr(self, name)}")
        _bits(self.int_bits + self.frac_bits, "Fixed int_bits + frac_bits")

    def spec(self) -> Dict[str, Any]:
        return {"mode": "fixed", "int_bits": self.int_bits, "frac_bits": self.frac_bits, "signed": bool(self.signed)}

    def describe(self) -> str:
        return f"fixed point {self.int_bits}.{self.frac_bits}"


@dataclass(frozen=True)
class Linear:
    """Per-tensor linear quantization to `bits`: max|x| → 2^(bits−1) − 1 when the tensor has a
    negative value, else min..max → 0..2^bits − 1. It needs the tensor's range: a weight tensor's
    own (leave min and max out), or for activations a range found beforehand over a calibration
    stream (laconic.torch.calibrate) and given as min, max; values beyond it are clipped to the
    quantized range. A stream's range is not known until it ends, so there is no per-tensor linear
    quantization of activations without calibration."""

    bits: int
    min: Optional[float] = None
    max: Optional[float] = None

    def __post_init__(self):
        _bits(self.bits, "Linear bits")
        if (self.min is None) != (self.max is None):
            raise Error("Linear needs both min and max, or neither")
        if self.min is not None:
            lo, hi = float(self.min), float(self.max)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise Error(f"Linear range {self.min}..{self.max} is not a finite range")

    @property
    def calibrated(self) -> bool:
        return self.min is not None

    def spec(self) -> Dict[str, Any]:
        s: Dict[str, Any] = {"mode": "linear", "bits": self.bits}
        if self.min is not None:
            s.update({"min": float(self.min), "max": float(self.max)})
        return s

    def describe(self) -> str:
        if self.min is None:
            return f"linear {self.bits}-bit per tensor"
        return f"linear {self.bits}-bit, calibrated range {self.min:.9g}..{self.max:.9g}"


@dataclass(frozen=True)
class Integral:
    """Floats that hold integers, taken as they are (a fraction is an error), declared `bits` wide."""

    bits: int = 16
    signed: bool = True

    def __post_init__(self):
        _bits(self.bits, "Integral bits")

    def spec(self) -> Dict[str, Any]:
        return {"mode": "integral", "bits": self.bits, "signed": bool(self.signed)}

    def describe(self) -> str:
        return f"integral floats, {self.bits}-bit"


@dataclass(frozen=True)
class Integers:
    """Integer values, v = x − zero_point, declared `bits` wide (default: the dtype's width, at
    most 32) and `signed` (default: the dtype's); a value outside the width is an error."""

    bits: Optional[int] = None
    signed: Optional[bool] = None
    zero_point: int = 0

    def __post_init__(self):
        if self.bits is not None:
            _bits(self.bits, "Integers bits")
        _int(self.zero_point, "Integers zero_point")

    def spec(self) -> Dict[str, Any]:
        return {"mode": "none", "bits": self.bits, "signed": self.signed, "zero_point": int(self.zero_point)}

    def describe(self) -> str:
        return "integers" + (f" less zero point {self.zero_point}" if self.zero_point else "")


Quantization = Union[Fixed, Linear, Integral, Integers]


# ---------------------------------------------------------------------------------------------
# Shapes


def _pair(value, what: str) -> Tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise Error(f"{what} must be a number or a pair, not {value!r}")
        return _int(value[0], what), _int(value[1], what)
    v = _int(value, what)
    return v, v


def conv_shape(channels: int, height: int, width: int, filters: int, kernel, *, stride=1, padding=0,
               groups: int = 1) -> LayerShape:
    """A conv layer (MODEL.md §1): input C × H × W before padding, K filters of R × S
    (`kernel`: R or (R, S)); `stride` σ or (σh, σw); `padding` p, (ph, pw) or (top, bottom, left,
    right). Depthwise: groups = channels = filters."""
    r, s = _pair(kernel, "kernel")
    sh, sw = _pair(stride, "stride")
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        top, bottom, left, right = (_int(p, "padding") for p in padding)
    else:
        ph, pw = _pair(padding, "padding")
        top, bottom, left, right = ph, ph, pw, pw
    return LayerShape(type="conv", channels=_int(channels, "channels"), filters=_int(filters, "filters"),
                      height=_int(height, "height"), width=_int(width, "width"), kernel_height=r, kernel_width=s,
                      stride_h=sh, stride_w=sw, pad_top=top, pad_bottom=bottom, pad_left=left, pad_right=right,
                      groups=_int(groups, "groups"))


def fc_shape(in_features: int, out_features: int) -> LayerShape:
    """A fully connected layer of C = in_features inputs and K = out_features filters."""
    return LayerShape(type="fc", channels=_int(in_features, "in_features"),
                      filters=_int(out_features, "out_features"))


# ---------------------------------------------------------------------------------------------
# Reports


class Report:
    """A profile, rendered by the C++ writers of `laconic profile`: json() is the document
    `laconic profile --json` writes (engine and source say how it was made)."""

    def __init__(self, core: "_core.Report"):
        self._core = core

    def json(self, *, per_sample: bool = False) -> str:
        return self._core.json(per_sample)

    def csv(self, *, per_sample: bool = False) -> str:
        return self._core.csv(per_sample)

    def markdown(self) -> str:
        return self._core.markdown()

    def to_dict(self, *, per_sample: bool = False) -> Dict[str, Any]:
        return json.loads(self.json(per_sample=per_sample))

    def write_json(self, path, *, per_sample: bool = False) -> None:
        self._core.write_json(os.fspath(path), per_sample)

    def write_csv(self, path, *, per_sample: bool = False) -> None:
        self._core.write_csv(os.fspath(path), per_sample)

    def write_markdown(self, path) -> None:
        self._core.write_markdown(os.fspath(path))

    @property
    def network(self) -> str:
        return self._core.network

    @property
    def engine(self) -> str:
        return self._core.engine

    @property
    def source(self) -> str:
        return self._core.source

    @property
    def layers(self) -> List[Tuple[str, int]]:
        """(layer name, samples) in report order."""
        return list(self._core.layers)

    def __repr__(self) -> str:
        return f"<laconic.Report {self.network!r}: {len(self.layers)} layer(s), engine {self.engine}>"


# ---------------------------------------------------------------------------------------------
# Sessions


def _text(value) -> Optional[str]:
    return None if value is None else str(value)


def _settings(name: str, value, kind: str) -> List[str]:
    """geometry / column_registers: a dict {accelerator: value}, entries "accelerator=value"
    (one string or a list), applied in the order given."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        out = []
        for key, v in value.items():
            if kind == "geometry" and isinstance(v, (tuple, list)):
                v = ",".join(str(_int(x, f"{name}[{key!r}]")) for x in v)
            out.append(f"{key}={v}")
        return out
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    raise Error(f"{name} must be a dict or 'ACCELERATOR=...' entries, not {value!r}")


def _shifter_bits(value) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, float) and math.isinf(value) and value > 0:
        return "inf"
    if isinstance(value, str):
        return value
    return str(_int(value, "shifter_bits"))


def _on_off(value, what: str) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str):
        return value
    raise Error(f"{what} must be True, False, 'on' or 'off', not {value!r}")


def _bytes(value) -> int:
    """Device memory: a number of bytes, or text with a K, M, G or T suffix."""
    if value is None:
        return 0
    if isinstance(value, str):
        text = value.strip()
        units = {"": 0, "B": 0, "K": 10, "KIB": 10, "M": 20, "MIB": 20, "G": 30, "GIB": 30, "T": 40, "TIB": 40}
        digits = len(text) - len(text.lstrip("0123456789"))
        suffix = text[digits:].upper()
        if digits == 0 or suffix not in units:
            raise Error(f"device_memory must be a number of bytes with an optional K, M, G or T suffix "
                        f"(e.g. 8G), not {value!r}")
        value = int(text[:digits]) << units[suffix]
    value = _int(value, "device_memory")
    if value <= 0:
        raise Error("device_memory must be positive")
    return value


def _is_torch_tensor(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach") and hasattr(x, "is_contiguous")


def _as_tensor(x, what: str, *, host: bool, dlpack: bool = False):
    """`x` as the compiled module takes it: a C-contiguous NumPy array (not copied when it is one
    already) or a DLPack capsule (CUDA memory, or any DLPack producer); `host` moves a torch tensor
    to the host first (weights); `dlpack` hands a torch tensor on the CPU over by DLPack too (the
    emulated engine takes those as device memory)."""
    import numpy as np
    if isinstance(x, np.ndarray):
        return x if x.flags.c_contiguous and x.dtype.isnative else np.ascontiguousarray(x)
    if type(x).__name__ == "PyCapsule":  # a DLPack capsule as it is
        return x
    if _is_torch_tensor(x):
        x = x.detach()
        if x.is_quantized:
            raise Error(f"{what} are a quantized tensor; pass its integers (int_repr()) with its zero point "
                        "(laconic.Integers(zero_point=...)), as laconic.torch does")
        if host and x.device.type != "cpu":
            x = x.cpu()
        if not x.is_contiguous():
            x = x.contiguous()
        if x.device.type == "cpu":
            return x.__dlpack__() if dlpack else x.numpy()
        return x.__dlpack__(1)  # CUDA: ready on the legacy default stream, which the engine waits for
    if hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"):
        device_type, _ = x.__dlpack_device__()
        if device_type == 2:  # kDLCUDA
            if host:
                raise Error(f"{what} are in CUDA memory; give them in host memory")
            return x.__dlpack__(stream=1)
        return np.from_dlpack(x) if hasattr(np, "from_dlpack") else x.__dlpack__()
    return np.ascontiguousarray(np.asarray(x))


def _spec(q, what: str, array) -> Dict[str, Any]:
    if q is None:
        q = Integers()
    if not isinstance(q, (Fixed, Linear, Integral, Integers)):
        raise Error(f"{what}: a quantization is laconic.Fixed, Linear, Integral or Integers, not {q!r}")
    kind = getattr(getattr(array, "dtype", None), "kind", None)
    if isinstance(q, Integers) and kind == "f":
        raise Error(f"{what} are {array.dtype} floats, and Session.add takes integers unless told how to "
                    "quantize: give laconic.Fixed(int_bits, frac_bits), laconic.Linear(bits, min, max) or "
                    "laconic.Integral()")
    return q.spec()


class Session:
    """A live profiling session: layers fed batch by batch, profiled as they come, reported as
    `laconic profile` reports a network (README "Live profiling from Python").

    Options (keyword-only) are those of `laconic profile` that need no files, with its defaults
    and order of precedence: engine ("auto", "cuda", "cpu", "reference"; "emulated" runs the
    cuda engine's logic on the CPU, for tests), device_memory (cuda: bytes or "8G"), threads,
    samples (profile the first N samples of each layer), preset ("dnnsim", "equal"), config (a
    configuration file's path, or a dict of its keys), tiles, rows, columns, lanes, geometry
    ({"laconic": (16, 16, 8, 16)} or ["laconic=16,16,8,16"]), shifter_bits (0..31 or "inf"),
    column_registers ({"pragmatic": 1}), depthwise ("per-group", "diagonal"), fold_first_layer,
    encoding ("binary", "booth", "naf", "dnnsim-booth") and baseline_width. A bad value raises
    laconic.Error with the CLI's message. `source` says in the report where the values came from.
    """

    def __init__(self, network: str = "model", *, engine: str = "auto", device_memory=None,
                 threads: Optional[int] = None, samples: Optional[int] = None, preset: Optional[str] = None,
                 config=None, tiles: Optional[int] = None, rows: Optional[int] = None,
                 columns: Optional[int] = None, lanes: Optional[int] = None, geometry=None, shifter_bits=None,
                 column_registers=None, depthwise: Optional[str] = None, fold_first_layer=None,
                 encoding: Optional[str] = None, baseline_width: Optional[int] = None,
                 source: Optional[str] = None, quiet: bool = False):
        config_file = config_json = None
        if isinstance(config, Mapping):
            config_json = json.dumps(dict(config))
        elif config is not None:
            config_file = os.fspath(config)
        if samples is not None and _int(samples, "samples") <= 0:
            raise Error(f"samples must be a positive number, not {samples}")
        if threads is not None and _int(threads, "threads") <= 0:
            raise Error(f"threads must be a positive number, not {threads}")
        dims = {}
        for name, v in (("tiles", tiles), ("rows", rows), ("columns", columns), ("lanes", lanes),
                        ("baseline_width", baseline_width)):
            dims[name] = None if v is None else _int(v, name)
        self._core = _core.Session(
            network=str(network), engine=str(engine), device_memory=_bytes(device_memory),
            threads=threads or 0, samples=samples or 0, preset=_text(preset), config_file=config_file,
            config_json=config_json, tiles=dims["tiles"], rows=dims["rows"], columns=dims["columns"],
            lanes=dims["lanes"], geometry=_settings("geometry", geometry, "geometry"),
            shifter_bits=_shifter_bits(shifter_bits),
            column_registers=_settings("column_registers", column_registers, "registers"),
            depthwise=_text(depthwise), fold_first_layer=_on_off(fold_first_layer, "fold_first_layer"),
            encoding=_text(encoding), baseline_width=dims["baseline_width"])
        self.network = str(network)
        self.source = source
        if self._core.note and not quiet:
            print(f"laconic: {self._core.note}", file=sys.stderr)

    @property
    def engine(self) -> str:
        """The engine that computes the numbers (the report's `engine`)."""
        return self._core.engine

    @property
    def note(self) -> str:
        """What the engine choice had to say (auto fell back to cpu), or ''."""
        return self._core.note

    @property
    def layers(self) -> List[str]:
        """Layers in the order of their first batch."""
        return list(self._core.layer_names())

    def samples(self, layer_name: str) -> int:
        return self._core.samples(layer_name)

    def add(self, layer_name: str, layer_shape: LayerShape, activations, weights=None, *,
            activation_quantization: Optional[Quantization] = None,
            weight_quantization: Optional[Quantization] = None) -> None:
        """Profiles one batch of layer `layer_name` (a LayerShape: conv_shape, fc_shape).

        activations: (N, C, H, W) for a conv layer, (N, C) for fc; weights (K, C/groups, R, S) or
        (K, C), required with a layer's first batch (quantized and prepared once), optional later
        (then they must be the same). NumPy arrays of any integer dtype (or floats with a
        quantization), torch tensors, or DLPack tensors (CUDA memory goes to the cuda engine
        without a copy to the host). The quantizations default to laconic.Integers(). A bad array
        raises laconic.Error naming the layer and leaves the session as it was."""
        a_what = f"layer '{layer_name}' activations"
        w_what = f"layer '{layer_name}' weights"
        a = _as_tensor(activations, a_what, host=False, dlpack=self._core.emulated)
        a_spec = _spec(activation_quantization, a_what, a)
        if isinstance(activation_quantization, Linear) and not activation_quantization.calibrated:
            raise Error(f"{a_what}: per-tensor linear quantization needs the tensor's range, and a stream of "
                        "batches has none until it ends; calibrate it first (laconic.torch.calibrate) or give "
                        "Linear(bits, min, max), or use laconic.Fixed")
        w = w_spec = None
        if weights is not None:
            w = _as_tensor(weights, w_what, host=True)
            w_spec = _spec(weight_quantization, w_what, w)
        if not isinstance(layer_shape, LayerShape):
            raise Error(f"layer '{layer_name}': the shape must be a laconic.LayerShape (conv_shape, fc_shape), "
                        f"not {type(layer_shape).__name__}")
        self._core.add(str(layer_name), layer_shape, a, a_spec, w, w_spec or {})

    def begin_pass(self) -> None:
        """Batches added until commit_pass() count together or not at all (a forward pass)."""
        self._core.begin_pass()

    def commit_pass(self) -> None:
        self._core.commit_pass()

    def discard_pass(self) -> None:
        self._core.discard_pass()

    def report(self, source: Optional[str] = None) -> Report:
        """Every layer's committed samples as a profile report."""
        text = source or self.source or f"live profiling from Python (laconic.Session, network {self.network})"
        return Report(self._core.report(text))
