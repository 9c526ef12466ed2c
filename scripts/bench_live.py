#!/usr/bin/env python3
"""Benchmark of live profiling (laconic.torch): the profiler's overhead on a model's forward passes,
and its own throughput. Prints a Markdown table; nothing is asserted.

    PYTHONPATH=build/python /usr/bin/python3 scripts/bench_live.py [--model resnet50] [--batch-size 8]
        [--batches 4] [--threads N] [--engine cpu]

1. Overhead: the same random batches (3×224×224) through the model (torchvision, random weights),
   each batch once without and once with the profiler's hooks (fixed point 8.8 activations, 1.15
   weights), alternating so that a busy machine slows both alike; the ratio of the summed times.
   The profiler's first batch, which also quantizes and prepares every layer's weights, is
   timed apart and left out of the ratio.
2. The profiler alone: each layer's input of one batch captured first, then fed to a
   laconic.Session layer by layer (weights already prepared): images per second.
3. Where torch has a CUDA device and laconic has its cuda engine: the model on the GPU, the
   activations handed to the cuda engine by DLPack; images per second with and without profiling.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.append(os.path.join(os.path.dirname(HERE), "build", "python"))

import torch  # noqa: E402

import dump_traces  # noqa: E402
import laconic  # noqa: E402
import laconic.torch as lt  # noqa: E402

ACT, WGT = laconic.Fixed(8, 8), laconic.Fixed(1, 15)


def timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def overhead(model, batches, engine, threads, device):
    prof = lt.Profiler(model, activations=ACT, weights=WGT, engine=engine, threads=threads, quiet=True)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def plain(x):
        model(x)
        sync()

    def profiled(x):
        with prof:
            model(x)
            sync()

    with torch.no_grad():
        plain(batches[0])  # warm-up
        first = timed(lambda: profiled(batches[0]))
        t_plain = t_prof = 0.0
        for x in batches[1:]:
            t_plain += timed(lambda: plain(x))
            t_prof += timed(lambda: profiled(x))
    return first, t_plain, t_prof, prof


def profiler_alone(model, batch, engine, threads):
    """Each layer's input captured, then a session fed with them: seconds for the batch."""
    captured = []

    def hook(name):
        return lambda m, i, o: captured.append((name, m, i[0].detach().clone()))

    names = lt.layers_of(model)
    modules = dict(model.named_modules())
    handles = [modules[n].register_forward_hook(hook(n)) for n in names]
    with torch.no_grad():
        model(batch)
    for h in handles:
        h.remove()
    session = laconic.Session("bench", engine=engine, threads=threads, quiet=True)
    shapes = {}
    for name, m, x in captured:  # weights prepared, one sample
        kind = lt._kind(m)
        shapes[name] = lt._shape_of(name, kind, m, x)
        session.add(name, shapes[name], x[:1], m.weight.detach(), activation_quantization=ACT,
                    weight_quantization=WGT)
    return timed(lambda: [session.add(n, shapes[n], x, activation_quantization=ACT) for n, _, x in captured])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet50")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--batches", type=int, default=4, help="timed batches after the first (4)")
    p.add_argument("--threads", type=int, help="laconic's threads (default: torch's, torch.get_num_threads())")
    p.add_argument("--engine", default="cpu")
    args = p.parse_args()
    threads = args.threads or torch.get_num_threads()
    model = dump_traces.build_model(args.model, 0)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(args.batch_size, 3, 224, 224, generator=g) for _ in range(args.batches + 1)]
    n = args.batch_size * args.batches

    print(f"{args.model}, random weights, batches of {args.batch_size} (3×224×224), {args.batches} timed batch(es) "
          f"after the first; torch {torch.__version__} with {torch.get_num_threads()} thread(s), laconic "
          f"{laconic.__version__} engine {args.engine} with {threads} thread(s); {os.cpu_count()} CPU(s), "
          f"load average {os.getloadavg()[0]:.2f}\n")
    print("| measurement | seconds | images/s | ratio |")
    print("| --- | ---: | ---: | ---: |")
    first, t_plain, t_prof, prof = overhead(model, batches, args.engine, threads, "cpu")
    print(f"| CPU forward, plain | {t_plain:.2f} | {n / t_plain:.2f} | |")
    print(f"| CPU forward, profiled (engine {prof.session.engine}) | {t_prof:.2f} | {n / t_prof:.2f} | "
          f"{t_prof / t_plain:.2f} |")
    print(f"| first profiled batch (weights quantized and prepared once) | {first:.2f} | "
          f"{args.batch_size / first:.2f} | |")
    alone = profiler_alone(model, batches[1], args.engine, threads)
    print(f"| profiler alone, precomputed layer inputs (one batch) | {alone:.2f} | {args.batch_size / alone:.2f} | |")
    if torch.cuda.is_available() and "not built" not in laconic.device():
        gpu_model = model.cuda()
        gpu_batches = [b.cuda() for b in batches]
        first, t_plain, t_prof, prof = overhead(gpu_model, gpu_batches, "cuda", threads, "cuda")
        print(f"| GPU forward, plain | {t_plain:.2f} | {n / t_plain:.2f} | |")
        print(f"| GPU forward, profiled (engine cuda, DLPack) | {t_prof:.2f} | {n / t_prof:.2f} | "
              f"{t_prof / t_plain:.2f} |")
    else:
        print(f"\nNo GPU path: torch CUDA {torch.cuda.is_available()}; {laconic.device()}")


if __name__ == "__main__":
    main()
