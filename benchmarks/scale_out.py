"""Data-parallel training throughput of the FlowSampler defaults at 1 and 2 processes.

The tutorial point ``Phi4((8, 8), m2=-4, lam=8)``, trained by reverse KL with every default
(only ``random_state`` given; ``--max-iter`` shortens a trial run), is fitted under
``torchrun --standalone --nproc_per_node=N`` for each ``N`` of ``--nproc``, one torch thread
per process. With ``N = 1`` the fit is the single-process one (a world of one starts no process
group); with ``N = 2`` it is data-parallel (DDP over gloo): each rank draws half of the batch
of 64 and the gradients are averaged, so a step processes the same 64 samples.

Each rank first runs a warm-up fit of a few steps (first-call costs, the process group), then
the timed fit. The figures, per ``N``:

* samples per CPU-second: ``max_iter * batch_size`` over the CPU seconds of all ranks
  (``time.process_time`` of each);
* samples per wall-second: the same over the wall seconds of the slowest rank;
* the efficiencies ``throughput(N) / (N * throughput(1))`` per wall-second and
  ``throughput(N) / throughput(1)`` per CPU-second (1: perfect scaling);
* ``ess_``, ESS/N of the end-of-fit check, to show the parallel fit trains as well.

A timed fit is a whole ``fit``: the monitor every 50 steps and the end-of-fit check on 4096
samples are included (both are sharded across the ranks too). Wall seconds only mean something
on cores nothing else uses; run it on a quiet machine with at least ``max(N)`` cores::

    OMP_NUM_THREADS=1 python benchmarks/scale_out.py

A short trial that records nothing::

    OMP_NUM_THREADS=1 python benchmarks/scale_out.py --max-iter 20 --no-record
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

BENCHMARK = "scale_out"
WARMUP_STEPS = 5


def worker(args) -> None:
    """One rank: a warm-up fit, the timed fit; rank 0 writes every rank's timings."""
    import warnings

    import torch
    import torch.distributed as dist

    from skphys import FlowSampler
    from skphys.lattice import Phi4

    torch.set_num_threads(1)
    theory = Phi4((8, 8), m2=-4.0, lam=8.0)
    params = {} if args.max_iter is None else {"max_iter": args.max_iter}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the warm-up fit has not converged
        FlowSampler(theory, max_iter=WARMUP_STEPS, random_state=args.seed).fit()
    fs = FlowSampler(theory, random_state=args.seed, **params)
    cpu, wall = time.process_time(), time.perf_counter()
    fs.fit()
    timing = {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}
    world = dist.get_world_size() if dist.is_initialized() else 1
    timings = [timing]
    if world > 1:
        timings = [None] * world
        dist.all_gather_object(timings, timing)
    if not dist.is_initialized() or dist.get_rank() == 0:
        result = {"world_size": world, "steps": fs.n_iter_, "batch_size": fs.batch_size,
                  "ess": fs.ess_, "device": fs.device_, "timings": timings}
        Path(args.output).write_text(json.dumps(result))


def launch(n_proc: int, args, output: Path) -> dict:
    """Run the worker under torchrun on ``n_proc`` processes; its results."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={n_proc}", __file__, "--worker", "--output", str(output),
               "--seed", str(args.seed)]
    if args.max_iter is not None:
        command += ["--max-iter", str(args.max_iter)]
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return json.loads(output.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2],
                        help="process counts to measure (default: 1 2; the first is the "
                             "reference of the efficiencies)")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="steps of the timed fit (default: the FlowSampler default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", action="store_true",
                        help="do not write the figures to docs/results/")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    start = time.process_time()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for n_proc in args.nproc:
            r = launch(n_proc, args, Path(folder) / f"n{n_proc}.json")
            samples = r["steps"] * r["batch_size"]
            cpu = sum(t["cpu"] for t in r["timings"])
            wall = max(t["wall"] for t in r["timings"])
            rows.append({"processes": r["world_size"], "steps": r["steps"],
                         "samples/CPU s": samples / cpu, "samples/wall s": samples / wall,
                         "CPU s": cpu, "wall s": wall, "ESS/N": r["ess"]})
    table = pd.DataFrame(rows).set_index("processes")
    reference = table.iloc[0]
    n_ref = table.index[0]
    table["efficiency (wall)"] = (table["samples/wall s"] * n_ref
                                  / (table.index * reference["samples/wall s"]))
    table["efficiency (CPU)"] = table["samples/CPU s"] / reference["samples/CPU s"]
    with pd.option_context("display.width", 200, "display.max_columns", None,
                           "display.precision", 4):
        print(table)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = time.process_time() - start + children.ru_utime + children.ru_stime
    print(f"CPU seconds, all processes: {cpu_seconds:.1f}")
    if not args.no_record:
        from _results import record
        record(BENCHMARK, "FlowSampler defaults at the tutorial point", table,
               cpu_seconds=cpu_seconds,
               notes=(f"``torchrun --standalone --nproc_per_node=N``, gloo, one torch thread "
                      f"per process, device {r['device']}; {os.cpu_count()} cores. A timed "
                      f"fit is a whole ``fit`` after a warm-up fit of {WARMUP_STEPS} steps."))


if __name__ == "__main__":
    main()
