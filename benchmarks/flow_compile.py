"""Per-step CPU time of the flows' training, eager against ``compile=True`` (torch.compile).

``compile`` is a parameter of the flow architectures (``CouplingFlow``, ``ContinuousFlow``,
``MERAFlow``).

For each flow type (``FlowSampler`` with the default coupling flow and with
``ContinuousFlow()``, ``RGFlow`` with its MERA flow) and each ``L`` in ``--sizes`` on the
phi^4 theory ``Phi4((L, L), m2=-4, lam=8)``: fits of ``--short`` and ``--long`` steps
(reverse KL, defaults otherwise), eager and with the flow's ``compile=True``. The time per
step is the difference of the two fits over the difference of their steps (the fixed costs
cancel). A compiled fit first compiles; torch keeps what it compiled in a cache (a fresh
temporary directory here, so the first compile of a configuration is cold), and later fits of
the same configuration reuse it. So each compiled configuration is fitted three times: a cold fit of
``--short`` steps, whose time less its steps is the first compile's cost, then the short and
long fits with a warm cache, which give the time per step and the cost of a cached compile.
The break-even is the number of steps after which a first compiled fit is the cheaper one.

One CPU thread; CPU seconds of this process (``time.process_time``)::

    python benchmarks/flow_compile.py [--sizes 8 16] [--short 20] [--long 120] [--no-record]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
import warnings

import pandas as pd
import torch
from _results import record

from skphys import ContinuousFlow, CouplingFlow, FlowSampler, MERAFlow, RGFlow
from skphys.lattice import Phi4

FLOWS = {
    "coupling (FlowSampler)": lambda theory, compiled, **kw: FlowSampler(
        theory, flow=CouplingFlow(compile=compiled), **kw),
    "continuous (FlowSampler)": lambda theory, compiled, **kw: FlowSampler(
        theory, flow=ContinuousFlow(compile=compiled), **kw),
    "MERA (RGFlow)": lambda theory, compiled, **kw: RGFlow(
        theory, flow=MERAFlow(compile=compiled), **kw),
}


def fit_seconds(make, theory, steps: int, compiled: bool) -> float:
    estimator = make(theory, compiled, max_iter=steps, random_state=0, device="cpu",
                     monitor_every=0)
    cpu = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short fits do not converge
        estimator.fit()
    return time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--short", type=int, default=20)
    parser.add_argument("--long", type=int, default=120)
    parser.add_argument("--no-record", dest="record", action="store_false",
                        help="print the figures only, without writing them to docs/results/")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cache = tempfile.TemporaryDirectory(prefix="flow_compile_")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache.name  # cold first compiles
    start = time.process_time()
    rows = []
    for L in args.sizes:
        theory = Phi4((L, L), m2=-4.0, lam=8.0)
        for name, make in FLOWS.items():
            fit_seconds(make, theory, 2, False)  # warm-up: first-call costs
            cold = fit_seconds(make, theory, args.short, True)
            per_step, fixed = {}, {}
            for compiled in (False, True):
                short, long = (fit_seconds(make, theory, n, compiled)
                               for n in (args.short, args.long))
                per_step[compiled] = (long - short) / (args.long - args.short)
                fixed[compiled] = short - args.short * per_step[compiled]
            first_compile = cold - args.short * per_step[True] - fixed[False]
            saved = per_step[False] - per_step[True]
            break_even = first_compile / saved if saved > 0 else math.inf
            row = {"flow": name, "L": L, "eager ms/step": round(1000 * per_step[False], 1),
                   "compiled ms/step": round(1000 * per_step[True], 1),
                   "speed-up": f"{per_step[False] / per_step[True]:.2f}",
                   "first compile CPU s": round(first_compile, 1),
                   "cached compile CPU s": round(fixed[True] - fixed[False], 1),
                   "break-even steps": "never" if math.isinf(break_even)
                   else round(break_even)}
            print(row, flush=True)
            rows.append(row)
    if args.record:
        record("flow_compile", "per-step time", pd.DataFrame(rows),
               cpu_seconds=time.process_time() - start,
               notes=f"``Phi4((L, L), m2=-4, lam=8)``, reverse-KL fits of {args.short} and "
                     f"{args.long} steps with the estimators' defaults and the flow's "
                     f"``compile=False`` or ``True``; per step: the difference of the two fits "
                     f"over {args.long - args.short} steps; first compile: a cold compiled fit's "
                     f"fixed cost less the eager one's; cached compile: the same with torch's "
                     f"compile cache filled by it; break-even: first compile over the time "
                     f"saved per step.")
    cache.cleanup()


if __name__ == "__main__":
    main()
