"""laconic.torch: profile a PyTorch model as it runs, with no trace files.

    import laconic, laconic.torch
    prof = laconic.torch.Profiler(model, encoding="booth",
                                  activations=laconic.Fixed(8, 8), weights=laconic.Fixed(1, 15))
    with prof:                      # forward hooks on every Conv2d and Linear
        for images, _ in loader:
            model(images)
    report = prof.report()          # the document `laconic profile --json` writes
    report.write_json("r.json"); print(report.markdown())

The layers are those scripts/dump_traces.py dumps (every Conv2d and Linear that forward calls, or
the ones named), each seen as MODEL.md §1 sees it: its input before padding and its weight (a
BatchNorm2d that directly follows a conv folded in with fold_bn=True), so a live profile equals,
byte for byte in its JSON but for `engine` and `source`, `laconic profile` on a dump of the same
batches under the same quantization. Quantized models (torch.ao int8 modules) are read through
their integers, zero point removed; their widths can differ from a dump's (the dumper sizes a
tensor from its data, here a nonzero zero point makes it 9-bit signed), so that equality holds for
float models. Activations are read where they are: a CPU tensor's memory
directly, a CUDA tensor's by DLPack on the cuda engine (another engine gets a copy on the host).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import torch as _torch

import laconic
from laconic import Error, Fixed, Integers, Integral, Linear

from . import _dump_traces

__all__ = ["Profiler", "Calibration", "calibrate", "layers_of"]


# ---------------------------------------------------------------------------------------------
# Which modules are layers, and how laconic sees them.


# 'conv' or 'fc' for the modules laconic profiles (Conv2d and Linear, float or quantized): the
# dumper's rule, so that a live profile and a dump choose the same layers.
_kind = _dump_traces._module_kind


def _weight_of(module):
    w = module.weight
    return w() if callable(w) else w  # quantized modules: a method


def _dump_call(function, *args):
    """A dump_traces.py helper, its DumpError as laconic.Error (the same message)."""
    try:
        return function(*args)
    except _dump_traces.DumpError as e:
        raise Error(str(e)) from None


def layers_of(model, layers: Optional[Sequence[str]] = None) -> List[str]:
    """The names of the layers profiled: `layers` checked (each a Conv2d or Linear of the model),
    or every Conv2d and Linear in model.named_modules() order."""
    modules = dict(model.named_modules())
    if layers is None:
        chosen = [n for n, m in model.named_modules() if _kind(m)]
        if not chosen:
            raise Error(f"the model ({type(model).__name__}) has no Conv2d or Linear layer to profile")
    else:
        chosen = list(layers)
        if not chosen:
            raise Error("the list of layers is empty")
        import difflib
        for name in chosen:
            if name not in modules:
                close = difflib.get_close_matches(name, [n for n in modules if _kind(modules[n])], n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise Error(f"layer '{name}' is not in the model{hint}")
            if _kind(modules[name]) is None:
                raise Error(f"layer '{name}' is a {type(modules[name]).__name__}, not a Conv2d or Linear")
        if len(set(chosen)) != len(chosen):
            raise Error("a layer is named twice in layers")
    for name in chosen:
        if _kind(modules[name]) == "conv":
            _dump_call(_dump_traces._check_conv, name, modules[name])
    return chosen


def _layer_input(name: str, kind: str, inputs) -> Any:
    """The tensor a layer's forward received, checked as scripts/dump_traces.py checks it."""
    if not inputs or not isinstance(inputs[0], _torch.Tensor):
        raise Error(f"layer '{name}': forward received no tensor input")
    x = inputs[0]
    if kind == "conv" and x.dim() != 4:
        raise Error(f"layer '{name}': Conv2d input has shape {tuple(x.shape)}; laconic needs batched "
                    "(N, C, H, W) inputs")
    if kind == "fc" and x.dim() != 2:
        raise Error(f"layer '{name}': Linear input has shape {tuple(x.shape)}; laconic's fc layers take (N, C) "
                    "(a Linear over more dimensions is many matrix-vector products, not one fc layer); leave it "
                    "out with layers=")
    return x


def _shape_of(name: str, kind: str, module, x) -> laconic.LayerShape:
    if kind == "fc":
        return laconic.fc_shape(int(module.in_features), int(module.out_features))
    top, bottom, left, right = _dump_call(_dump_traces._padding_of, module)
    return laconic.conv_shape(int(x.shape[1]), int(x.shape[2]), int(x.shape[3]), int(module.out_channels),
                              tuple(int(k) for k in module.kernel_size),
                              stride=tuple(int(s) for s in module.stride), padding=(top, bottom, left, right),
                              groups=int(module.groups))


def _quantized_integers(t) -> Tuple[Any, Integers]:
    """A quantized tensor as its stored integers less the zero point: v = q − z (MODEL.md §2 takes
    integers as they are). 8 bits when every zero point is 0 (qint8 signed, quint8 unsigned), else
    9-bit signed, the two's complement width of q − z."""
    dtype = t.dtype
    if dtype not in (_torch.qint8, _torch.quint8):
        raise Error(f"quantized tensors of {dtype} are not read; laconic reads qint8 and quint8")
    q = t.int_repr()
    scheme = t.qscheme()
    if scheme in (_torch.per_tensor_affine, _torch.per_tensor_symmetric):
        zero = int(t.q_zero_point())
        signed = dtype == _torch.qint8 or zero != 0
        return q, Integers(bits=8 if zero == 0 else 9, signed=signed, zero_point=zero)
    zeros = t.q_per_channel_zero_points().to(_torch.int32)
    if bool((zeros == 0).all()):
        return q, Integers(bits=8, signed=dtype == _torch.qint8)
    axis = t.q_per_channel_axis()
    view = [1] * q.dim()
    view[axis] = -1
    return q.to(_torch.int32) - zeros.view(view), Integers(bits=9, signed=True)


def _spec_for(specs, name: str, what: str):
    """The quantization of layer `name`'s activations or weights: one for all, or a mapping."""
    if isinstance(specs, Mapping):
        if name not in specs:
            raise Error(f"layer '{name}': no quantization of its {what} (the mapping has {len(specs)} layer(s))")
        return specs[name]
    return specs


def _check_specs(specs, what: str, *, activations: bool) -> None:
    if specs is None:
        return
    values = specs.values() if isinstance(specs, Mapping) else [specs]
    for q in values:
        if not isinstance(q, (Fixed, Linear, Integral, Integers)):
            raise Error(f"{what}: a quantization is laconic.Fixed, Linear, Integral or Integers, not {q!r}")
        if activations and isinstance(q, Linear) and not q.calibrated:
            raise Error(f"{what}=Linear({q.bits}): per-tensor linear quantization needs each tensor's range, and "
                        "live activations have none until the stream ends; find it first with "
                        "laconic.torch.calibrate(model, batches, bits=...) and pass activations=calibration, "
                        "or use laconic.Fixed")


def _check_names(specs, what: str, model, chosen: Sequence[str]) -> None:
    """A mapping of quantizations names only layers of `model` that can be profiled, and names
    every layer in `chosen`; checked when the Profiler is made, not at the first forward pass."""
    if not isinstance(specs, Mapping):
        return
    modules = dict(model.named_modules())
    profilable = [n for n, m in modules.items() if _kind(m)]
    import difflib
    for name in specs:
        if name not in modules or not _kind(modules[name]):
            close = difflib.get_close_matches(str(name), profilable, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            kind = "is not in the model" if name not in modules else \
                f"is a {type(modules[name]).__name__}, not a Conv2d or Linear"
            raise Error(f"{what}: layer '{name}' {kind}{hint}")
    missing = [n for n in chosen if n not in specs]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise Error(f"{what}: no quantization for layer(s) {shown} (the mapping names {len(specs)} layer(s); "
                    "give every profiled layer, or one quantization for all, or layers=[...])")


def _describe(specs) -> str:
    if specs is None:
        return "the model's integers"
    if isinstance(specs, Calibration):
        return f"linear {specs.bits}-bit per tensor, calibrated on {specs.samples} sample(s)"
    if isinstance(specs, Mapping):
        kinds = sorted({q.describe() for q in specs.values()})
        return "per layer: " + "; ".join(kinds)
    return specs.describe()


def _batches(batches) -> Iterator[Any]:
    """Tensors of images from `batches`: a (N, C, H, W) tensor, or an iterable of tensors or of
    (images, labels) pairs (a DataLoader's)."""
    if isinstance(batches, _torch.Tensor):
        yield batches
        return
    for b in batches:
        if isinstance(b, (tuple, list)):
            b = b[0]
        if not isinstance(b, _torch.Tensor):
            raise Error(f"a batch must be a tensor or an (images, labels) pair, not {type(b).__name__}")
        yield b


# ---------------------------------------------------------------------------------------------
# Calibration


class Calibration(Mapping):
    """Each layer's activation range over a calibration stream: a mapping from layer name to
    laconic.Linear(bits, min, max), to pass as Profiler(activations=...). Per-tensor linear
    quantization (MODEL.md §2) scales by the tensor's range; live, the range of what is still to
    come is unknown, so it is found once here and then fixed (values beyond it are clipped)."""

    def __init__(self, bits: int, ranges: Dict[str, Tuple[float, float]], samples: int):
        self.bits = bits
        self.ranges = dict(ranges)
        self.samples = samples
        self._specs = {n: Linear(bits, lo, hi) for n, (lo, hi) in self.ranges.items()}

    def __getitem__(self, name: str) -> Linear:
        return self._specs[name]

    def __iter__(self):
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return f"<laconic.torch.Calibration {self.bits}-bit, {len(self)} layer(s), {self.samples} sample(s)>"


def calibrate(model, batches, *, bits: int = 8, layers: Optional[Sequence[str]] = None) -> Calibration:
    """Runs `model` (in eval mode, without gradients) over `batches` and records the range of each
    layer's input: the per-tensor scale of linear quantization to `bits`, found once, as a
    Calibration to profile with. Calibrating on the batches later profiled gives the numbers of
    `scripts/dump_traces.py --quantize linear` on them."""
    laconic.Linear(bits)  # checks bits
    if not isinstance(model, _torch.nn.Module):
        raise Error(f"model must be a torch.nn.Module, not {type(model).__name__}")
    model.eval()
    modules = dict(model.named_modules())
    chosen = layers_of(model, layers)
    ranges: Dict[str, List[float]] = {}

    def make_hook(name: str, kind: str):
        def hook(module, inputs, output):
            x = _layer_input(name, kind, inputs)
            if x.is_quantized:
                raise Error(f"layer '{name}': a quantized model needs no calibration (its integers are read)")
            x = x.detach().to(dtype=_torch.float32)
            if x.numel() == 0:
                return
            if not bool(_torch.isfinite(x).all()):
                raise Error(f"layer '{name}': its input has a value that is not finite; it cannot be calibrated")
            lo, hi = float(x.min()), float(x.max())
            r = ranges.setdefault(name, [lo, hi])
            r[0], r[1] = min(r[0], lo), max(r[1], hi)
        return hook

    handles = [modules[n].register_forward_hook(make_hook(n, _kind(modules[n]))) for n in chosen]
    samples = 0
    try:
        device = next((p.device for p in model.parameters()), _torch.device("cpu"))
        with _torch.no_grad():
            for images in _batches(batches):
                model(images.to(device))
                samples += int(images.shape[0])
    finally:
        for h in handles:
            h.remove()
    if samples == 0:
        raise Error("calibration needs at least one batch of samples")
    return Calibration(bits, {n: (r[0], r[1]) for n, r in ranges.items()}, samples)


# ---------------------------------------------------------------------------------------------
# The profiler


class Profiler:
    """Profiles `model` live: on entry, forward hooks go on its layers (every Conv2d and Linear,
    or `layers`); each forward pass of the model profiles each layer's input batch as it happens,
    and on exit every hook is removed, also when the body raised. report() gives the profile of
    the forward passes that completed (a pass that raised half way counts for no layer).

    activations, weights: laconic.Fixed(int_bits, frac_bits), laconic.Integral(),
        laconic.Integers() (integer tensors), laconic.Linear(bits) (weights: each tensor's own
        range; activations: only with a range, e.g. a Calibration from calibrate()), or a mapping
        from layer name to one of them. Quantized (torch.ao) tensors are always read as their
        integers less the zero point, and need none.
    fold_bn: fold a BatchNorm2d that directly follows a conv into its weights (as dump_traces.py).
    network, source: the report's network name (default the model's class name) and source.
    Every other keyword is a laconic.Session option: engine, encoding, preset, geometry,
    shifter_bits, column_registers, depthwise, fold_first_layer, baseline_width, config, tiles,
    rows, columns, lanes, samples, threads (default torch.get_num_threads(): the forward passes
    and the engines take turns on the same cores), device_memory, quiet.
    """

    def __init__(self, model, *, activations=None, weights=None, layers: Optional[Sequence[str]] = None,
                 fold_bn: bool = False, network: Optional[str] = None, source: Optional[str] = None,
                 quiet: bool = False, **session_options):
        if not isinstance(model, _torch.nn.Module):
            raise Error(f"model must be a torch.nn.Module, not {type(model).__name__}")
        _check_specs(activations, "activations", activations=True)
        _check_specs(weights, "weights", activations=False)
        self.model = model
        self._activations = activations
        self._weights = weights
        self._explicit = layers is not None
        self._modules = dict(model.named_modules())
        self._chosen = layers_of(model, layers)
        _check_names(activations, "activations", model, self._chosen)
        _check_names(weights, "weights", model, self._chosen)
        self._quiet = quiet
        self._folds: Dict[str, str] = {}
        if fold_bn:
            folds, _method = _dump_call(_dump_traces.find_bn_folds, model)
            for conv, bn in folds.items():
                if conv in self._chosen and isinstance(self._modules[conv], _torch.nn.Conv2d):
                    if _dump_traces._bn_scale(self._modules[bn]) is None:
                        self._log(f"warning: {bn} has no running statistics; {conv} is not folded")
                    else:
                        self._folds[conv] = bn
        self.network = network or type(model).__name__
        self._source = source
        # The model's forward and the engines take turns on the same cores: as many threads as
        # torch uses, unless told.
        session_options.setdefault("threads", _torch.get_num_threads())
        self.session = laconic.Session(self.network, quiet=quiet, **session_options)
        self._engine = self.session.engine
        self._handles: List[Any] = []
        self._calls: Dict[str, int] = {}
        self._passes = 0                # forward passes committed
        self._error: Optional[BaseException] = None

    def _log(self, message: str) -> None:
        if not self._quiet:
            print(f"laconic: {message}", file=sys.stderr)

    # Hooks ------------------------------------------------------------------------------------

    def start(self) -> "Profiler":
        """Puts the hooks on (as entering the `with` block does)."""
        if self._handles:
            raise Error("the profiler is already started")
        self.model.eval()
        try:
            for name in self._chosen:
                module = self._modules[name]
                self._handles.append(module.register_forward_hook(self._layer_hook(name, _kind(module))))
            self._handles.append(self.model.register_forward_pre_hook(self._begin_pass))
            self._handles.append(self.model.register_forward_hook(self._end_pass))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Removes every hook (each once, whatever happens) and drops a forward pass left open."""
        handles, self._handles = self._handles, []
        for h in handles:
            h.remove()
        self.session.discard_pass()

    def __enter__(self) -> "Profiler":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.stop()
        return False

    def _begin_pass(self, module, inputs) -> None:
        self._calls = {}
        self.session.begin_pass()

    def _end_pass(self, module, inputs, output) -> None:
        if not self.session._core.in_pass:
            return
        called = [n for n in self._chosen if n in self._calls]
        missing = [n for n in self._chosen if n not in self._calls]
        if missing:
            if self._explicit or self._passes > 0:
                self.session.discard_pass()
                raise Error(f"layer '{missing[0]}' was not called by the model's forward")
            for n in missing:
                self._log(f"warning: layer '{n}' is never called by forward; left out")
            self._chosen = called
            if not called:
                self.session.discard_pass()
                raise Error("no chosen layer was called by the model's forward")
        self.session.commit_pass()
        self._passes += 1  # after the first pass, _chosen holds exactly the layers it called

    def _layer_hook(self, name: str, kind: str) -> Callable:
        def hook(module, inputs, output):
            if not self.session._core.in_pass:
                return  # the layer was called outside the model's forward
            if name not in self._chosen:
                return  # left out after the first pass
            count = self._calls.get(name, 0) + 1
            self._calls[name] = count
            if count > 1:
                raise Error(f"layer '{name}' is called {count} times in one forward pass; laconic needs one input "
                            "per layer (leave it out with layers=)")
            self._profile(name, kind, module, _layer_input(name, kind, inputs))
        return hook

    def _profile(self, name: str, kind: str, module, x) -> None:
        shape = _shape_of(name, kind, module, x)
        if x.is_quantized:
            if isinstance(self._activations, Mapping) and name in self._activations:
                raise Error(f"layer '{name}': its input is a quantized tensor, read as its integers; give it no "
                            "activation quantization")
            activations, a_spec = _quantized_integers(x)
        else:
            if self._activations is None:
                raise Error(f"layer '{name}': its input is {x.dtype}; say how to quantize activations "
                            "(activations=laconic.Fixed(int_bits, frac_bits), a Calibration, laconic.Integral())")
            a_spec = _spec_for(self._activations, name, "activations")
            activations = x.detach()
            if activations.dtype != _torch.float32 and activations.is_floating_point():
                activations = activations.to(_torch.float32)  # as dump_traces.py stores them
        if activations.device.type != "cpu" and self._engine != "cuda":
            activations = activations.cpu()  # only the cuda engine reads device memory
        weights = w_spec = None
        if name not in self.session.layers:  # its first batch (a discarded pass forgets it)
            weights, w_spec = self._weights_of(name, kind, module)
        self.session.add(name, shape, activations, weights, activation_quantization=a_spec,
                         weight_quantization=w_spec)

    def _weights_of(self, name: str, kind: str, module):
        w = _weight_of(module).detach()
        if w.is_quantized:
            if isinstance(self._weights, Mapping) and name in self._weights:
                raise Error(f"layer '{name}': its weights are quantized, read as their integers; give them no "
                            "quantization")
            return _quantized_integers(w.cpu())
        if self._weights is None:
            raise Error(f"layer '{name}': its weights are {w.dtype}; say how to quantize them "
                        "(weights=laconic.Fixed(int_bits, frac_bits), laconic.Linear(bits), laconic.Integral())")
        spec = _spec_for(self._weights, name, "weights")
        w = w.to(device="cpu", dtype=_torch.float64)
        if name in self._folds:  # as dump_traces.py folds: in float64, stored as float32
            w = w * _dump_traces._bn_scale(self._modules[self._folds[name]]).reshape(-1, 1, 1, 1)
        return w.to(_torch.float32).contiguous(), spec

    # Results ----------------------------------------------------------------------------------

    @property
    def layers(self) -> List[str]:
        """The layers profiled so far, in the order forward calls them."""
        return self.session.layers

    @property
    def passes(self) -> int:
        """Forward passes profiled."""
        return self._passes

    def report(self) -> laconic.Report:
        """The profile of every completed forward pass, rendered by the C++ report writers."""
        if self._passes == 0:
            raise Error("no forward pass of the model completed while the profiler was on")
        source = self._source or (
            f"live: laconic.torch.Profiler on {type(self.model).__name__}, {self._passes} forward pass(es); "
            f"activations {_describe(self._activations)}, weights {_describe(self._weights)}"
            + (f"; BatchNorm folded into {len(self._folds)} conv layer(s)" if self._folds else ""))
        return self.session.report(source)
