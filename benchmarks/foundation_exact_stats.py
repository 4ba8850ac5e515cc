"""Acceptance figures of skphys.lattice.exact and skphys.lattice.stats.

Run with ``python benchmarks/foundation_exact_stats.py [--no-record]`` on one thread. Prints,
and writes to ``docs/results/foundation_exact_stats.inc`` unless ``--no-record``:

* the largest deviation of Kaufman's ln Z from brute-force enumeration (L = 3, 4);
* ln Z / N at L = 256, T = T_c and its difference from Onsager's value;
* the free-field and Ising-dual ln Z against the values in the conventions;
* tau_int of an AR(1) chain with rho = 0.9 (exact 9.5) by Wolff's Gamma method.
"""

import argparse
import math
import time

import numpy as np
import pandas as pd
import torch
from _results import record
from scipy.signal import lfilter
from scipy.special import logsumexp

from skphys.lattice.exact import (
    T_C,
    complex_free_log_z,
    free_scalar_log_z,
    ising_dual_log_z,
    ising_log_z,
    onsager_log_z,
)
from skphys.lattice.stats import tau_int

TEMPERATURES = (1.5, 2.0, T_C, 2.5, 3.0, 5.0)


def enumerated_log_z(L: int, temperature: float) -> float:
    """ln Z of the L x L periodic Ising model by summing over all 2^(L*L) states."""
    bits = (np.arange(2 ** (L * L))[:, None] >> np.arange(L * L)) & 1
    s = (2.0 * bits - 1.0).reshape(-1, L, L)
    energy = -(s * (np.roll(s, -1, axis=1) + np.roll(s, -1, axis=2))).sum(axis=(1, 2))
    return logsumexp(-energy / temperature)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-record", dest="record", action="store_false",
                        help="print the figures only, without writing them to docs/results/")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start, cpu = time.perf_counter(), time.process_time()
    rows = []

    deviation = max(
        abs(ising_log_z(L, t) - enumerated_log_z(L, t)) for L in (3, 4) for t in TEMPERATURES
    )
    print(f"max |ising_log_z - enumeration| over L=3,4 and T in {TEMPERATURES}: {deviation:.2e}")
    rows.append(("max |ising_log_z − enumeration|, L = 3, 4, T ∈ {"
                 + ", ".join("T_c" if t == T_C else f"{t:g}" for t in TEMPERATURES) + "}",
                 f"{deviation:.1e}", "–", "–"))

    per_site = ising_log_z(256, T_C) / 256**2
    onsager = onsager_log_z(T_C)
    print(f"L=256, T=T_c: ln Z/N = {per_site:.10f}, Onsager {onsager:.10f}, "
          f"difference {per_site - onsager:.3e}")
    rows.append(("ising_log_z(256, T_c) / N", f"{per_site:.10f}", f"Onsager {onsager:.10f}",
                 f"{per_site - onsager:.1e}"))

    checks = [
        ("ising_log_z(4, T_c)", ising_log_z(4, T_C), 15.5219154588),
        ("free_scalar_log_z((8, 8), m2=0.1)", free_scalar_log_z((8, 8), 0.1), 19.92516644),
        ("complex_free_log_z((8, 8), mu=4.5)", complex_free_log_z((8, 8), 4.5), -14.21720181),
        ("ising_dual_log_z((4, 4), T_c)", ising_dual_log_z((4, 4), T_C), 37.376732),
    ]
    for name, value, reference in checks:
        diff = value - reference
        print(f"{name:36s} = {value:.10f}  (conventions {reference}, diff {diff:+.1e})")
        rows.append((name, f"{value:.10f}", str(reference), f"{diff:+.1e}"))

    rho, n = 0.9, 1_000_000
    rng = np.random.default_rng(0)
    start_value = rng.normal() / math.sqrt(1 - rho**2)
    chain = lfilter([1.0], [1.0, -rho], rng.normal(size=n), zi=[rho * start_value])[0]
    result = tau_int(chain)
    exact = (1 + rho) / (2 * (1 - rho))
    print(f"AR(1) rho={rho}, N={n}: tau_int = {result.tau:.3f} +- {result.tau_err:.3f} "
          f"(window {result.window}); exact {exact:.4g}, relative deviation "
          f"{result.tau / exact - 1:+.2%}")
    rows.append((f"τ_int of an AR(1) chain, ρ = {rho}, N = {n}",
                 f"{result.tau:.3f} ± {result.tau_err:.3f}", f"{exact:.4g}",
                 f"{result.tau / exact - 1:+.2%}"))
    cpu = time.process_time() - cpu
    print(f"total time {cpu:.1f} CPU s, {time.perf_counter() - start:.1f} s wall")
    if args.record:
        table = pd.DataFrame(rows, columns=["quantity", "value", "reference", "difference"])
        record("foundation_exact_stats", "checks", table, cpu_seconds=cpu,
               notes="The references are those of :doc:`conventions`; the AR(1) reference "
                     "is the exact (1 + ρ) / (2 (1 − ρ)).")


if __name__ == "__main__":
    main()
