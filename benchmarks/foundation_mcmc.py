"""Acceptance figures of the reference samplers in skphys.lattice.mcmc.

Run with ``python benchmarks/foundation_mcmc.py [--no-record]`` on one thread. For each point
it prints the estimate with its Gamma-method error, the exact or reference value and the
deviation in units of the combined error, the acceptance, tau_int of the observable (in stored
samples), the production wall time and the cost per effective sample; the table of these
figures goes to ``docs/results/foundation_mcmc.inc`` unless ``--no-record``:

* Wolff, Ising L=4 at T_c: <m^2> (exact 0.76135891 by enumeration), m = sum s / N;
* Wolff, Ising L=16 at T=2.5: energy per site against Kaufman's exact value;
* HMC, phi^4 L=8, m2=-4, lam=8: <chi2> = <(sum phi)^2 / V> against the tutorial's 0.75 +- 0.01,
  with local Metropolis on the same theory as an independent cross-check.
"""

import argparse
import math
import time

import pandas as pd
import torch
from _results import record

from skphys.lattice import Ising, Phi4
from skphys.lattice.exact import T_C, ising_energy
from skphys.lattice.mcmc import MCMCResult, hmc, metropolis, wolff
from skphys.lattice.stats import mean_error, tau_int


def report(
    name: str,
    res: MCMCResult,
    series: torch.Tensor,
    reference: float,
    reference_error: float = 0.0,
    *,
    cost_unit: str,
) -> dict:
    """Print one acceptance figure; ``series`` is the observable, ``(n_chains, n_samples)``.
    Returns the row of the results table."""
    mean, error, _ = mean_error(series)
    tau = tau_int(series)
    sigma = math.hypot(error, reference_error)
    n_effective = series.numel() / (2 * tau.tau)
    cost = res.n_evaluations * res.n_chains / n_effective
    print(f"{name}")
    print(f"    estimate   {mean:.6f} +- {error:.6f}   reference {reference:.8g}"
          + (f" +- {reference_error:g}" if reference_error else "")
          + f"   deviation {(mean - reference) / sigma:+.2f} sigma")
    step = "" if res.step_size is None else f", step size {res.step_size:.4f}"
    print(f"    acceptance {res.acceptance:.4f}{step}; tau_int {tau.tau:.3f} +- {tau.tau_err:.3f}"
          f" (window {tau.window}); {res.n_chains} chains x {res.n_samples} samples")
    print(f"    wall time {res.wall_time:.1f} s after burn-in; "
          f"{cost:.1f} {cost_unit} per effective sample")
    return {
        "sampler and observable": name,
        "estimate": f"{mean:.6f} ± {error:.6f}",
        "reference": f"{reference:.8g}" + (f" ± {reference_error:g}" if reference_error else ""),
        "deviation (σ)": f"{(mean - reference) / sigma:+.2f}",
        "acceptance": f"{res.acceptance:.4f}",
        "τ_int": f"{tau.tau:.3f} ± {tau.tau_err:.3f}",
        "cost per effective sample": f"{cost:.1f} {cost_unit}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-record", dest="record", action="store_false",
                        help="print the figures only, without writing them to docs/results/")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start, cpu = time.perf_counter(), time.process_time()
    rows = []

    theory = Ising((4, 4), temperature=T_C)
    res = wolff(theory, 5000, n_chains=256, n_burnin=200,
                generator=torch.Generator().manual_seed(0))
    rows.append(report("Wolff, Ising L=4, T=T_c: <m^2>", res, res.samples.mean(-1).square(),
                       0.76135891, cost_unit="flipped sites"))
    print(f"    mean cluster size {res.info['mean_cluster_size']:.3f}")

    theory = Ising((16, 16), temperature=2.5)
    res = wolff(theory, 3000, n_chains=64, n_burnin=200, generator=torch.Generator().manual_seed(1))
    energy = theory.energy(res.flat()).view(res.n_chains, -1) / theory.n_sites
    rows.append(report("Wolff, Ising L=16, T=2.5: energy per site", res, energy,
                       ising_energy(16, 2.5), cost_unit="flipped sites"))
    print(f"    mean cluster size {res.info['mean_cluster_size']:.3f}")

    theory = Phi4((8, 8), m2=-4.0, lam=8.0)
    for name, sampler, n_samples, cost_unit in [
        ("HMC", hmc, 5000, "gradient evaluations"),
        ("Metropolis", metropolis, 5000, "site updates"),
    ]:
        res = sampler(theory, n_samples, n_chains=256, n_burnin=500,
                      generator=torch.Generator().manual_seed(2))
        chi2 = res.samples.sum(-1).square() / theory.n_sites
        rows.append(report(f"{name}, phi^4 L=8, m2=-4, lam=8: <chi2>", res, chi2, 0.75, 0.01,
                           cost_unit=cost_unit))
        if sampler is hmc:
            print(f"    {res.info['n_leapfrog']} leapfrog steps per unit trajectory")

    cpu = time.process_time() - cpu
    print(f"total time {cpu:.1f} CPU s, {time.perf_counter() - start:.1f} s wall")
    if args.record:
        record("foundation_mcmc", "samplers", pd.DataFrame(rows), cpu_seconds=cpu,
               notes="References: exact enumeration (L = 4), Kaufman's exact energy (L = 16) "
                     "and the tutorial's 0.75 ± 0.01 (φ⁴); τ_int in stored samples.")


if __name__ == "__main__":
    main()
