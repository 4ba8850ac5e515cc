"""FlowSampler across lattice sizes and couplings: size transfer and the coupling scan.

Two parts, on the "xi ~ L/4" line of phi^4 (m2 = -4, lambda from the conventions):

* ``transfer``: a FlowSampler with default settings is fitted at L = 8; a flow at L = 16 is
  then trained for ``--budget`` CPU seconds (a step count from the measured CPU time per step,
  ``_flow_timing.py``) twice: from scratch, and by ``warm_start=True`` from the L = 8 flow
  (size transfer: the coupling networks copied, the Fourier layer's scales interpolated in
  momentum). Reported: ESS/N at the end (8192 fresh samples, bootstrap error), ESS/N of the
  monitor batches (1024 fresh samples) along the way, the CPU seconds of each fit and of the
  L = 8 fit the transfer starts from. L = 16 is not a point of the conventions' table: its
  lambda is interpolated linearly in 1/L between L = 14 and L = 20.
* ``scan``: at L = 8, the six lambda values of the line for L = 6 ... 20 (the xi ~ L/4
  family, from the largest lambda, the shortest correlation length, down), fitted by
  :func:`skphys.coupling_scan` three ways: six independent default fits
  (``warm_start=False``), a continued scan with default steps per value, and a continued
  scan with a quarter of them (``continue_iter``) after the first. Reported per value: ESS/N,
  ln Z and <chi2> with errors, CPU seconds; and the totals.

One CPU thread; costs are CPU seconds of this process::

    python benchmarks/flow_scaling.py --parts transfer scan
"""

from __future__ import annotations

import argparse
import copy
import time
import warnings

import numpy as np
import pandas as pd
import torch
from _flow_timing import step_time
from _results import record
from flow_xi_line import LAMBDA

from skphys import FlowSampler, coupling_scan
from skphys.lattice import Phi4

BENCHMARK = "flow_scaling"
SCAN_VALUES = [LAMBDA[L] for L in (6, 8, 10, 12, 14, 20)]
N_EVAL = 8192


def chi2(x: np.ndarray) -> np.ndarray:
    """chi2 = (sum_x phi)^2 / V of each row."""
    return x.sum(-1) ** 2 / x.shape[-1]


def save(args, part: str, figures, **kwargs) -> None:
    """Record one part's figures unless ``--no-record``."""
    if args.record:
        record(BENCHMARK, part, figures, **kwargs)


def pm(mean: float, error: float, digits: int = 3) -> str:
    return f"{mean:.{digits}f} +- {error:.{digits}f}"


def monitor_curve(fs: FlowSampler, fractions=(0.1, 0.25, 0.5, 1.0)) -> list[str]:
    """Monitor ESS/N at the last monitor step within each fraction of the steps."""
    hist = fs.history_.dropna(subset=["ess"])
    return [f"{hist[hist['step'] <= f * fs.n_iter_]['ess'].iloc[-1]:.3f}" for f in fractions]


def run_transfer(args) -> None:
    cpu_part = time.process_time()
    theory8 = Phi4((8, 8), m2=-4.0, lam=LAMBDA[8])
    theory16 = Phi4((16, 16), m2=-4.0, lam=LAMBDA[16])
    cpu = time.process_time()
    small = FlowSampler(theory8, random_state=args.seed, device="cpu").fit()
    cpu8 = time.process_time() - cpu
    print(f"L=8 default fit: {cpu8:.0f} CPU s, ESS/N {small.ess_:.3f}", flush=True)
    per_step = step_time(theory16, {}, args.seed)
    n_steps = max(1, round(args.budget / per_step))
    print(f"L=16: {per_step:.3f} CPU s per step, {n_steps} steps", flush=True)
    rows = []
    for start in ("scratch", "L = 8 flow"):
        cpu = time.process_time()
        if start == "scratch":
            fs = FlowSampler(theory16, max_iter=n_steps, random_state=args.seed, device="cpu")
        else:
            fs = copy.deepcopy(small).set_params(theory=theory16, warm_start=True,
                                                 max_iter=n_steps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a poor sampler is a figure here, not an error
            fs.fit()
            cpu_fit = time.process_time() - cpu
            d = fs.diagnose(N_EVAL)
        curve = monitor_curve(fs)
        rows.append({"start": start, "steps": n_steps, "CPU s": f"{cpu_fit:.0f}",
                     "ESS/N (monitor) at 10 %": curve[0], "at 25 %": curve[1],
                     "at 50 %": curve[2], "at 100 %": curve[3],
                     "ESS/N (8192 samples)": pm(d["ess"], d["ess_err"]),
                     "ln Z": pm(d["log_z"], d["log_z_err"], 2)})
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows).set_index("start")
    save(args, "transfer", table, cpu_seconds=time.process_time() - cpu_part,
         notes=f"L = 16, lambda = {LAMBDA[16]:.3f} (interpolated in 1/L), m2 = -4; "
               f"budget {args.budget:.0f} CPU s per arm ({per_step:.3f} CPU s per step). "
               f"The L = 8 flow (lambda = {LAMBDA[8]}, FlowSampler defaults) took "
               f"{cpu8:.0f} CPU s and reached ESS/N {small.ess_:.3f}; that cost is not in "
               f"the transfer arm's CPU s. Monitor ESS/N: 1024 fresh samples at the last "
               f"monitor step (every 50) within the given share of the steps (of one cosine "
               f"schedule over all of them).")


def run_scan(args) -> None:
    cpu_part = time.process_time()
    template = FlowSampler(Phi4((8, 8), m2=-4.0, lam=SCAN_VALUES[0]), random_state=args.seed,
                           device="cpu")
    arms = {"independent": {"warm_start": False}, "continued": {},
            "continued, 1/4 steps": {"continue_iter": template.max_iter // 4}}
    tables, totals = [], []
    for arm, kwargs in arms.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scan = coupling_scan(template, "lam", SCAN_VALUES, observables={"chi2": chi2},
                                 n_samples=N_EVAL, **kwargs)
        print(arm, scan.to_string(), flush=True)
        tables.append(pd.DataFrame({
            "fits": arm, "lambda": scan["lam"], "steps": scan["n_iter"],
            "CPU s": scan["cpu_seconds"].map("{:.0f}".format),
            "ESS/N": [pm(m, e) for m, e in zip(scan["ess"], scan["ess_err"])],
            "ln Z": [pm(m, e) for m, e in zip(scan["log_z"], scan["log_z_err"])],
            "<chi2>": [pm(m, e) for m, e in zip(scan["chi2"], scan["chi2_err"])]}))
        totals.append({"fits": arm, "total CPU s": f"{scan['cpu_seconds'].sum():.0f}",
                       "mean ESS/N": f"{scan['ess'].mean():.3f}",
                       "lowest ESS/N": f"{scan['ess'].min():.3f}"})
    cpu = time.process_time() - cpu_part
    save(args, "scan", pd.concat(tables).set_index(["fits", "lambda"]), cpu_seconds=cpu,
         notes="L = 8, m2 = -4, lambda from the xi ~ L/4 line's values for L = 6, 8, 10, 12, "
               "14, 20, in that order; FlowSampler defaults, random_state "
               f"{args.seed}; CPU s per fit (diagnostics excluded); ESS/N, ln Z and <chi2> "
               f"(independence Metropolis-Hastings) on {N_EVAL} fresh samples.")
    save(args, "scan totals", pd.DataFrame(totals).set_index("fits"), cpu_seconds=cpu,
         notes="Sums and extremes over the six values of the part above.")


PARTS = {"transfer": run_transfer, "scan": run_scan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    parser.add_argument("--budget", type=float, default=600.0,
                        help="CPU seconds of each L = 16 fit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", dest="record", action="store_false")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for part in args.parts:
        PARTS[part](args)


if __name__ == "__main__":
    main()
