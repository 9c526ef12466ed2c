#!/usr/bin/env python3
"""Profile a PyTorch model live over a folder of images: no trace files, the `laconic profile` report.

    PYTHONPATH=build/python /usr/bin/python3 scripts/profile_torch.py --model resnet50 \\
        --images DIR [--weights FILE] [--limit N] [--batch-size B] --json r.json

runs a torchvision architecture (randomly initialised with --seed unless --weights gives a state
dict), or the module a factory builds (--module path/to/file.py:Factory), over the images (sorted by
name) with the preprocessing the model expects, in batches, with laconic.torch.Profiler's hooks on
every Conv2d and Linear: each batch is profiled as the model computes it. A progress bar (tqdm) goes
to stderr; the Markdown report goes to stdout, and --json/--csv write the machine-readable ones
(the documents `laconic profile` writes). The real ResNet-50 of scripts/realnet:

    /usr/bin/python3 scripts/realnet/keras_resnet50.py convert --out /tmp/resnet50_keras.pt
    PYTHONPATH=build/python /usr/bin/python3 scripts/profile_torch.py \\
        --module scripts/realnet/keras_resnet50.py:KerasResNet50 --weights /tmp/resnet50_keras.pt \\
        --images datasets/photos --json r.json

Preprocessing (--preprocess): `torchvision` resizes the shorter side to 256, crops the centre 224
and normalises by the ImageNet mean and standard deviation; `caffe` is Keras' "caffe" mode (the
whole photo resized to 224×224, BGR, minus the ImageNet channel means), as KerasResNet50 expects;
`auto` (the default) uses the --module file's own `preprocess(path)` when it has one (the Keras
ResNet-50 file does), else torchvision's.

Quantization (MODEL.md §2): fixed point by default (activations 8.8, weights 1.15, as
--act-int-bits 8 --act-frac-bits 8 --wgt-int-bits 1 --wgt-frac-bits 15), or --quantize linear
--bits P: weights per tensor, activations per tensor over a range found first by running
--calibrate N images (the first N of the set, default 16): a stream's range is not known until it
ends. Quantized (torch.ao) models are read through their integers.

Exit status 0 on success, 1 when the model, the images or a value in them are bad, 2 for bad usage:
an unknown option, an option's bad value (named with the script's option, as `laconic profile`
names it), or an option of the other quantization mode. The message says which.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from typing import Any, Callable, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.append(os.path.join(os.path.dirname(HERE), "build", "python"))  # the module built in place, if no other

class ScriptError(Exception):
    """A problem with the model, the images or the options; the message says which."""


class UsageError(ScriptError):
    """An option's value that cannot be used (exit status 2, as laconic profile's usage errors)."""


# Each quantization mode's options, and their defaults when the mode is chosen.
FIXED_DEFAULTS = {"act_int_bits": 8, "act_frac_bits": 8, "wgt_int_bits": 1, "wgt_frac_bits": 15}
LINEAR_DEFAULTS = {"bits": 8, "calibrate": 16}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="profile_torch.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    m = p.add_argument_group("model and images")
    which = m.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="a torchvision architecture (resnet50, mobilenet_v2, ...)")
    which.add_argument("--module", metavar="FILE:FACTORY",
                       help="a Python file and the class or function in it that builds the model")
    m.add_argument("--weights", metavar="FILE", help="a state dict for the model (torch.save(model.state_dict()))")
    m.add_argument("--seed", type=int, default=0, help="seed of the random initialisation without --weights (0)")
    m.add_argument("--images", required=True, metavar="DIR", help="folder of .jpg/.jpeg/.png images, sorted by name")
    m.add_argument("--limit", type=int, metavar="N", help="the first N images (default all)")
    m.add_argument("--batch-size", type=int, default=16, metavar="B", help="images per forward pass (16)")
    m.add_argument("--preprocess", choices=("auto", "torchvision", "caffe"), default="auto",
                   help="image preprocessing (auto: the module's own preprocess(), else torchvision)")
    m.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where the model runs (auto: cuda when torch has a GPU); on the GPU, activations reach "
                        "the cuda engine without a copy to the host")
    m.add_argument("--workers", type=int, default=0, metavar="N", help="image decoding processes (0: in the main one)")
    m.add_argument("--layers", metavar="A,B", help="only these layers (names as in named_modules())")
    m.add_argument("--fold-bn", action="store_true", help="fold a BatchNorm2d that follows a conv into its weights")
    m.add_argument("--network", help="the report's network name (default: the model's)")

    q = p.add_argument_group("quantization (MODEL.md §2)")
    q.add_argument("--quantize", choices=("fixed", "linear"), default="fixed", help="fixed (default) or linear")
    q.add_argument("--act-int-bits", type=int, metavar="I", help="fixed: activations' integer bits (8)")
    q.add_argument("--act-frac-bits", type=int, metavar="F", help="fixed: activations' fraction bits (8)")
    q.add_argument("--wgt-int-bits", type=int, metavar="I", help="fixed: weights' integer bits (1)")
    q.add_argument("--wgt-frac-bits", type=int, metavar="F", help="fixed: weights' fraction bits (15)")
    q.add_argument("--bits", type=int, metavar="P", help="linear: bits of activations and weights (8)")
    q.add_argument("--calibrate", type=int, metavar="N",
                   help="linear: images of the set whose activation ranges fix the scales (16)")

    o = p.add_argument_group("profile options (as laconic profile)")
    o.add_argument("--engine", default="auto", help="auto, cuda, cpu or reference (auto)")
    o.add_argument("--device-memory", metavar="BYTES", help="cuda: device memory the engine may use (8G, 512M)")
    o.add_argument("--preset", help="dnnsim or equal")
    o.add_argument("--config", metavar="FILE", help="a JSON configuration file")
    o.add_argument("--geometry", action="append", metavar="ACCELERATOR=T,Rt,Ct,L", help="repeatable")
    for dim in ("tiles", "rows", "columns", "lanes"):
        o.add_argument(f"--{dim}", type=int, metavar="N", help=f"{dim} of every accelerator")
    o.add_argument("--shifter-bits", metavar="B", help="Pragmatic's first-stage shifter bits, 0..31 or inf")
    o.add_argument("--column-registers", action="append", metavar="ACCELERATOR=R", help="repeatable")
    o.add_argument("--depthwise", help="per-group or diagonal")
    o.add_argument("--fold-first-layer", choices=("on", "off"))
    o.add_argument("--encoding", help="binary, booth, naf or dnnsim-booth (booth)")
    o.add_argument("--baseline-width", type=int, metavar="BITS")
    o.add_argument("--threads", type=int, metavar="N", help="laconic's CPU threads (default all cores)")
    o.add_argument("--json", metavar="FILE", help="write the JSON report")
    o.add_argument("--csv", metavar="FILE", help="write the CSV report")
    o.add_argument("--per-sample", action="store_true", help="per-sample rows and lists in the reports")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr, no report on stdout")
    return p


# ---------------------------------------------------------------------------------------------
# The model


def _load_file(path: str):
    if not os.path.isfile(path):
        raise ScriptError(f"--module: no file '{path}'")
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec.loader.exec_module(module)
    return module


def build(args):
    """(model, module file or None, description)."""
    import torch
    import dump_traces
    if args.model:
        try:
            model = dump_traces.build_model(args.model, args.seed)
        except dump_traces.DumpError as e:
            raise ScriptError(str(e)) from None
        file, what = None, f"torchvision {args.model}"
    else:
        path, sep, factory = args.module.rpartition(":")
        if not sep or not path or not factory:
            raise ScriptError(f"--module must be FILE:FACTORY, not '{args.module}'")
        file = _load_file(path)
        try:
            make = getattr(file, factory)
        except AttributeError:
            raise ScriptError(f"--module: {path} has no '{factory}'") from None
        torch.manual_seed(args.seed)
        model = make()
        if not isinstance(model, torch.nn.Module):
            raise ScriptError(f"--module: {factory}() returned a {type(model).__name__}, not a torch.nn.Module")
        what = f"{factory} of {os.path.basename(path)}"
    if args.weights:
        try:
            state = torch.load(args.weights, map_location="cpu")
        except Exception as e:  # noqa: BLE001 - torch raises many kinds
            raise ScriptError(f"--weights {args.weights}: cannot be read: {e}") from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        try:
            model.load_state_dict(state, strict=True)
        except Exception as e:  # noqa: BLE001
            raise ScriptError(f"--weights {args.weights}: does not fit the model: {str(e).splitlines()[0]}") from None
        what += f" with the weights of {os.path.basename(args.weights)}"
    else:
        what += f", random initialisation (seed {args.seed})"
    return model.eval(), file, what


# ---------------------------------------------------------------------------------------------
# Images


def list_images(folder: str) -> List[str]:
    """The dumper's images of `folder` (.jpg, .jpeg, .png, sorted by name)."""
    import dump_traces
    try:
        return dump_traces.list_images(folder)
    except dump_traces.DumpError as e:
        raise ScriptError(f"--images: {e}") from None


def preprocessor(args, file) -> Callable[[str], Any]:
    """path → (3, H, W) float32 tensor."""
    import torch
    import dump_traces
    choice = args.preprocess
    if choice == "auto":
        own = getattr(file, "preprocess", None) if file is not None else None
        if callable(own):
            return lambda path: torch.as_tensor(own(path))
        choice = "torchvision"
    if choice == "caffe":
        sys.path.insert(0, os.path.join(HERE, "realnet"))
        import keras_resnet50
        return lambda path: torch.as_tensor(keras_resnet50.preprocess(path))

    def torchvision_preprocess(path: str):
        try:
            return dump_traces.load_image(path)
        except dump_traces.DumpError as e:
            raise ScriptError(str(e)) from None
    return torchvision_preprocess


class Images:
    """The images as a torch Dataset (so that a DataLoader can decode them in workers)."""

    def __init__(self, paths: Sequence[str], load: Callable[[str], Any]):
        self.paths, self.load = list(paths), load

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return self.load(self.paths[i])


def batches(paths: Sequence[str], load, batch_size: int, workers: int):
    import torch
    if workers > 0:
        loader = torch.utils.data.DataLoader(Images(paths, load), batch_size=batch_size, num_workers=workers)
        yield from loader
        return
    for i in range(0, len(paths), batch_size):
        yield torch.stack([load(p) for p in paths[i:i + batch_size]])


# ---------------------------------------------------------------------------------------------


def run(args) -> int:
    import torch
    import laconic
    import laconic.torch as lt
    # The options of the other quantization mode would be ignored: refused instead.
    mine, other = (FIXED_DEFAULTS, LINEAR_DEFAULTS) if args.quantize == "fixed" else (LINEAR_DEFAULTS, FIXED_DEFAULTS)
    for opt in other:
        if getattr(args, opt) is not None:
            raise UsageError(f"--{opt.replace('_', '-')} is an option of --quantize "
                             f"{'linear' if args.quantize == 'fixed' else 'fixed'}, not of --quantize {args.quantize} "
                             f"(which takes {', '.join('--' + o.replace('_', '-') for o in mine)})")
    for opt, default in mine.items():
        if getattr(args, opt) is None:
            setattr(args, opt, default)
    for opt, low in (("limit", 1), ("batch_size", 1), ("workers", 0), ("calibrate", 1), ("threads", 1),
                     ("bits", 1), ("act_int_bits", 0), ("act_frac_bits", 0), ("wgt_int_bits", 0),
                     ("wgt_frac_bits", 0)):
        v = getattr(args, opt, None)
        if v is not None and v < low:
            raise UsageError(f"--{opt.replace('_', '-')} must be at least {low}, not {v}")
    options = {k: v for k, v in {
        "engine": args.engine, "device_memory": args.device_memory, "preset": args.preset, "config": args.config,
        "geometry": args.geometry, "tiles": args.tiles, "rows": args.rows, "columns": args.columns,
        "lanes": args.lanes, "shifter_bits": args.shifter_bits, "column_registers": args.column_registers,
        "depthwise": args.depthwise, "fold_first_layer": args.fold_first_layer, "encoding": args.encoding,
        "baseline_width": args.baseline_width, "threads": args.threads}.items() if v is not None}
    # The profile options checked before any image is read, with the script's names for them.
    # (On the cpu engine: whether a CUDA device answers is not a usage question.)
    checked = dict(options, engine="cpu") if options.get("engine") in ("auto", "cuda") else options
    try:
        laconic.Session("options", quiet=True, **checked)
    except laconic.Error as e:
        text = str(e)
        for key in sorted(options, key=len, reverse=True):
            if text.startswith(key):
                text = "--" + key.replace("_", "-") + text[len(key):]
                break
        raise UsageError(text) from None
    paths = list_images(args.images)
    if args.limit is not None:
        if args.limit > len(paths):
            raise ScriptError(f"--limit {args.limit} but '{args.images}' holds only {len(paths)} image(s)")
        paths = paths[:args.limit]
    model, file, what = build(args)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ScriptError("--device cuda: torch has no usable CUDA device")
    model = model.to(device)
    load = preprocessor(args, file)
    layers = [s.strip() for s in args.layers.split(",") if s.strip()] if args.layers else None

    calibration_note = ""
    try:
        if args.quantize == "fixed":
            what_bits = "--act-int-bits and --act-frac-bits"
            activations = laconic.Fixed(args.act_int_bits, args.act_frac_bits)
            what_bits = "--wgt-int-bits and --wgt-frac-bits"
            weights = laconic.Fixed(args.wgt_int_bits, args.wgt_frac_bits)
        else:
            what_bits = "--bits"
            weights = laconic.Linear(args.bits)
    except laconic.Error as e:
        raise UsageError(f"{what_bits}: {e}") from None
    if args.quantize == "linear":
        chosen = paths[:args.calibrate]
        if not args.quiet:
            print(f"profile_torch.py: calibrating activation ranges on {len(chosen)} image(s)", file=sys.stderr)
        activations = lt.calibrate(model, batches(chosen, load, args.batch_size, args.workers),
                                   bits=args.bits, layers=layers)
        calibration_note = f", activation ranges calibrated on the first {len(chosen)} image(s)"

    for path, option in ((args.json, "--json"), (args.csv, "--csv")):
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise ScriptError(f"{option} {path}: its directory does not exist")
    names = [os.path.basename(p) for p in paths]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    source = (f"live (scripts/profile_torch.py): {what}, on {len(paths)} image(s): {shown} "
              f"({args.preprocess} preprocessing); activations {activations_text(activations)}, weights "
              f"{weights.describe()}{calibration_note}")
    prof = lt.Profiler(model, activations=activations, weights=weights, layers=layers, fold_bn=args.fold_bn,
                       network=args.network or (args.model or type(model).__name__), source=source,
                       quiet=args.quiet, **options)
    try:
        from tqdm import tqdm
    except ImportError:  # no progress bar without tqdm (Debian: apt-get install python3-tqdm)
        tqdm = None
        if not args.quiet:
            print("profile_torch.py: no progress bar without tqdm (apt-get install python3-tqdm)", file=sys.stderr)
    start = time.monotonic()
    bar_options = {"total": len(paths), "unit": "image", "disable": True if args.quiet else None,
                   "file": sys.stderr, "desc": f"profiling ({prof.session.engine})"}
    with prof, torch.no_grad(), (tqdm(**bar_options) if tqdm else _NoBar()) as bar:
        for images in batches(paths, load, args.batch_size, args.workers):
            model(images.to(device))
            bar.update(int(images.shape[0]))
    seconds = time.monotonic() - start
    report = prof.report()
    if args.json:
        report.write_json(args.json, per_sample=args.per_sample)
    if args.csv:
        report.write_csv(args.csv, per_sample=args.per_sample)
    if not args.quiet:
        print(f"profile_torch.py: {len(paths)} image(s) in {seconds:.1f} s ({len(paths) / seconds:.2f} images/s), "
              f"{len(prof.layers)} layer(s), engine {prof.session.engine}", file=sys.stderr)
        sys.stdout.write(report.markdown())
    return 0


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        pass


def activations_text(spec) -> str:
    import laconic.torch as lt
    if isinstance(spec, lt.Calibration):
        return f"linear {spec.bits}-bit per tensor (calibrated ranges)"
    return spec.describe()


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        import laconic
    except ImportError as e:
        print(f"profile_torch.py: error: the laconic Python module is not built ({e}); run "
              "`cmake --build build --target laconic_python` (README \"Live profiling from Python\")", file=sys.stderr)
        return 1
    try:
        return run(args)
    except UsageError as e:
        print(f"profile_torch.py: error: {e}", file=sys.stderr)
        return 2
    except (ScriptError, laconic.Error) as e:
        print(f"profile_torch.py: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
