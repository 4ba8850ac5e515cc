"""Bias suite: deliberately biased models must warn whenever an estimate is far off.

Run with ``python benchmarks/bias_suite.py [--no-record]`` on one thread. Undertrained flows
on a light free field (whose soft modes a reverse-KL flow misses), RG flows of the Ising dual
at T_c and undertrained autoregressive models of the Ising model, all with exact answers,
give ``estimate`` values by both methods (independence Metropolis-Hastings and importance
weights) on several sample sizes. Prints, and writes to ``docs/results/bias_suite.inc``
unless ``--no-record``, the number of estimates, how many lie more than 4 quoted errors from
the exact value, and how many of those warned (:class:`skphys.UnreliableEstimateWarning`),
which must be all of them; also how many estimates warned in all.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
import torch
from _results import record

from skphys import (
    AutoregressiveHamiltonian,
    CouplingFlow,
    FlowSampler,
    PixelCNN,
    RGFlow,
    UnreliableEstimateWarning,
)
from skphys.lattice import FreeScalar, Ising, IsingDual
from skphys.lattice.exact import T_C, free_scalar_propagator, ising_energy

SAMPLE_SIZES = (1024, 8192, 32768)
FAR = 4.0  # quoted errors


def _models():
    """(label, fitted model, observable, exact value) for every model of the suite."""
    for m2 in (0.05, 0.5):
        theory = FreeScalar((4, 4), m2=m2)
        exact = float(free_scalar_propagator((4, 4), m2).ravel()[0])
        for max_iter in (3, 30, 200, 1000):
            for seed in (0, 1):
                model = FlowSampler(theory, flow=CouplingFlow(n_layers=4, hidden_channels=8),
                                    max_iter=max_iter, device="cpu", random_state=seed)
                yield (f"FlowSampler FreeScalar 4x4 m2={m2}, {max_iter} steps, seed {seed}",
                       model, lambda x: x[:, 0] ** 2, exact)
    for side in (4, 8):
        dual = IsingDual((side, side), T_C)
        for max_iter in (10, 100, 500):
            model = RGFlow(dual, max_iter=max_iter, device="cpu", random_state=0)
            yield (f"RGFlow IsingDual {side}x{side} T_c, {max_iter} steps", model,
                   lambda x, dual=dual: dual.ising_energy(torch.as_tensor(x)).numpy()
                   / dual.n_sites, float(ising_energy(side, T_C)))
        ising = Ising((side, side), T_C)
        for max_iter in (5, 50, 300):
            model = AutoregressiveHamiltonian(
                ising, network=PixelCNN(n_layers=2, hidden_channels=8), max_iter=max_iter,
                device="cpu", random_state=0)
            yield (f"AutoregressiveHamiltonian Ising {side}x{side} T_c, {max_iter} steps",
                   model, lambda x, ising=ising: ising.energy(torch.as_tensor(x)).numpy()
                   / ising.n_sites, float(ising_energy(side, T_C)))


def run() -> pd.DataFrame:
    rows = []
    for label, model, observable, exact in _models():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the fits' ConvergenceWarnings are expected
            model.fit()
        for method in ("mh", "importance"):
            for n in SAMPLE_SIZES:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    mean, error = model.estimate(observable, n, method=method)
                warned = any(issubclass(w.category, UnreliableEstimateWarning) for w in caught)
                pull = (mean - exact) / error if error > 0 else np.inf
                rows.append({"model": label, "method": method, "n_samples": n,
                             "pull": pull, "warned": warned})
                print(f"{label:62s} {method:10s} {n:6d} pull {pull:+7.1f} warned {warned}",
                      flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-record", dest="record", action="store_false",
                        help="print only; leave the results page as it is")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.process_time()
    table = run()
    cpu = time.process_time() - start
    far = table[table.pull.abs() > FAR]
    figures = {
        "estimates": len(table),
        "more than 4 errors from the exact value": len(far),
        "of those, warned": int(far.warned.sum()),
        "estimates that warned, in all": int(table.warned.sum()),
        "models": table.model.nunique(),
    }
    for name, value in figures.items():
        print(f"{name}: {value}")
    if args.record:
        record("bias_suite", "every far estimate warns", figures, cpu_seconds=cpu,
               notes="Estimates of <x_0^2> (free field, exact propagator) and of the Ising "
                     "energy per site (Kaufman), by method='mh' and 'importance' on 1024, "
                     "8192 and 32768 fresh samples each.")
    if len(far) != int(far.warned.sum()):
        raise SystemExit("an estimate more than 4 errors off did not warn:\n"
                         + far[~far.warned].to_string())


if __name__ == "__main__":
    main()
