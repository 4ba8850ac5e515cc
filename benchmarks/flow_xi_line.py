"""FlowSampler against the library's tuned HMC along the "xi ~ L/4" line of phi^4 (m2 = -4).

For each ``L`` in ``--sizes`` (lambda from the conventions, ``LAMBDA``):

* HMC (``skphys.lattice.mcmc.hmc``: step size tuned by dual averaging to acceptance 0.8 during
  burn-in, then frozen; trajectory length 1; 16 chains advanced as one batch) runs
  ``--hmc-trajectories`` trajectories per chain. From the chains: tau_int of
  chi2 = (sum_x phi)^2 / V (Gamma method over the chains), CPU seconds and force evaluations
  per sample, and the cost of one effective sample, ``2 tau_int`` times the cost per sample.
* each flow (``--flows``, FlowSampler defaults) is trained by reverse KL for ``--seconds`` CPU
  seconds (a step count from probe fits of 50 and 150 steps, see ``_flow_timing.py``). The
  history's monitor batches (1024 fresh samples every 50 steps) give the training time to
  the first Metropolis-Hastings acceptance >= 0.5 (steps times CPU seconds per step). Then
  8192 fresh proposals are drawn (timed) and run through an independence Metropolis-Hastings
  chain: final ESS/N, acceptance, tau_int of chi2 along the chain, <chi2> with its error,
  and the cost per effective sample (one flow pass and one action evaluation per proposal).
  Training cost is reported separately; the break-even column is the number of effective
  samples after which the flow's training plus sampling is cheaper than HMC, and the cost of
  10^6 effective samples counts the training (HMC: its burn-in and tuning).

Everything runs on one CPU thread; costs are CPU seconds of this process. The table goes to
the results page (one part per set of sizes and budget)::

    python benchmarks/flow_xi_line.py --sizes 12 16 --seconds 1800

``L = 16`` is not on the line of the conventions: its lambda is interpolated in 1/L between
``L = 14`` and ``L = 20``.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd
import torch
from _flow_timing import fit_for
from _results import record

from skphys import ContinuousFlow, CouplingFlow
from skphys.lattice import Phi4
from skphys.lattice.mcmc import hmc, independence_metropolis
from skphys.lattice.stats import ess, mean_error, tau_int

BENCHMARK = "flow_xi_line"
LAMBDA = {6: 6.975, 8: 6.008, 10: 5.550, 12: 5.276, 14: 5.113, 20: 4.807, 32: 4.572}
LAMBDA[16] = LAMBDA[14] + (1 / 16 - 1 / 14) / (1 / 20 - 1 / 14) * (LAMBDA[20] - LAMBDA[14])
N_EFFECTIVE = 10**6  # effective samples of the total-cost column
PROBE_STEPS = (50, 150)
N_EVAL = 8192
FLOWS = {"coupling": CouplingFlow, "continuous": ContinuousFlow}  # each with its defaults


def chi2(x: torch.Tensor) -> np.ndarray:
    return (x.sum(-1) ** 2 / x.shape[-1]).double().numpy()


def run_hmc(theory, n_traj: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    cpu, wall = time.process_time(), time.perf_counter()
    res = hmc(theory, n_traj, n_chains=16, n_burnin=500, generator=g, dtype=torch.float32)
    cpu_total, wall_total = time.process_time() - cpu, time.perf_counter() - wall
    values = chi2(res.samples)  # (chains, samples)
    tau = tau_int(values).tau
    n = values.size
    # production share of the CPU time, from the wall-time split the sampler reports
    per_sample = cpu_total * (res.wall_time / wall_total) / n
    evals_per_sample = res.n_evaluations / n_traj
    est = mean_error(values)
    return {"tau": tau, "cpu_eff": 2 * tau * per_sample, "evals_eff": 2 * tau * evals_per_sample,
            "chi2": est.mean, "chi2_err": est.error, "acc": res.acceptance,
            "step": res.step_size, "setup": cpu_total - per_sample * n}


def run_flow(theory, flow: str, seconds: float, seed: int) -> dict:
    fs, cpu_train, _, per_step = fit_for(theory, {"flow": FLOWS[flow]()}, seconds, seed,
                                         probe_steps=PROBE_STEPS)
    hist = fs.history_.dropna(subset=["acceptance"])
    reached = hist[hist["acceptance"] >= 0.5]
    t_half = reached["step"].iloc[0] * per_step if len(reached) else math.nan
    cpu = time.process_time()
    x, log_w = fs.sample(N_EVAL, method="importance")
    cpu_draw = time.process_time() - cpu
    chain = independence_metropolis(log_w, generator=torch.Generator().manual_seed(seed))
    values = chi2(torch.as_tensor(x))[chain.index]
    tau = tau_int(values).tau
    est = mean_error(values)
    n_params = sum(p.numel() for p in fs.module_.parameters())
    return {"train": cpu_train, "t_half": t_half, "ess": ess(log_w), "acc": chain.acceptance,
            "params": n_params,
            "tau": tau, "cpu_eff": 2 * tau * cpu_draw / N_EVAL, "evals_eff": 2 * tau,
            "chi2": est.mean, "chi2_err": est.error}


def _row(L: int, sampler: str, run: dict, hmc_cost: float | None) -> dict:
    """One row of the table: ``hmc_cost`` is HMC's CPU seconds per effective sample (None for
    the HMC row itself, whose training columns are blank and whose setup is its burn-in)."""
    setup = run["setup"] if hmc_cost is None else run["train"]
    row = {"L": L, "λ": f"{LAMBDA[L]:.3f}", "sampler": sampler, "parameters": "–",
           "training CPU s": "–", "CPU s to acceptance 0.5": "–", "ESS/N": "–",
           "acceptance": f"{run['acc']:.2f}", "τ_int": f"{run['tau']:.2f}",
           "CPU ms per effective sample": f"{1e3 * run['cpu_eff']:.3f}",
           "evaluations per effective sample": f"{run['evals_eff']:.1f}",
           "⟨χ₂⟩": f"{run['chi2']:.4f} ± {run['chi2_err']:.4f}",
           "CPU s for 10⁶ effective samples": f"{setup + N_EFFECTIVE * run['cpu_eff']:.4g}",
           "break-even (effective samples)": "–"}
    if hmc_cost is not None:
        gain = hmc_cost - run["cpu_eff"]
        row.update({
            "parameters": run["params"], "training CPU s": f"{run['train']:.0f}",
            "CPU s to acceptance 0.5": "never" if math.isnan(run["t_half"])
            else f"{run['t_half']:.0f}",
            "ESS/N": f"{run['ess']:.3f}",
            "break-even (effective samples)": f"{run['train'] / gain:.3g}" if gain > 0
            else "never"})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[12, 16], choices=sorted(LAMBDA))
    parser.add_argument("--flows", nargs="+", default=["coupling", "continuous"],
                        choices=sorted(FLOWS))
    parser.add_argument("--seconds", type=float, default=1800.0, help="CPU training budget")
    parser.add_argument("--hmc-trajectories", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", dest="record", action="store_false")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cpu_part = time.process_time()
    rows = []
    for L in args.sizes:
        theory = Phi4((L, L), m2=-4.0, lam=LAMBDA[L])
        h = run_hmc(theory, args.hmc_trajectories, args.seed)
        rows.append(_row(L, "HMC", h, None))
        print(rows[-1], flush=True)
        for flow in args.flows:
            rows.append(_row(L, flow, run_flow(theory, flow, args.seconds, args.seed),
                             h["cpu_eff"]))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string())
    if args.record:
        sizes = ", ".join(str(L) for L in args.sizes)
        record(BENCHMARK, f"L = {sizes}, {args.seconds:.0f} CPU s per flow", table,
               cpu_seconds=time.process_time() - cpu_part,
               notes=f"m² = −4 on the ξ ≈ L/4 line; HMC: 16 chains, step tuned to acceptance "
                     f"0.8, trajectory length 1, {args.hmc_trajectories} trajectories per "
                     f"chain, float32 like the flows. Flows: FlowSampler defaults with "
                     f"``flow=CouplingFlow()`` or ``flow=ContinuousFlow()``, random_state="
                     f"{args.seed}; 8192 proposals through an independence Metropolis-Hastings "
                     f"chain. The cost of 10⁶ effective χ₂ samples adds the training (HMC: "
                     f"burn-in and tuning) to 10⁶ times the cost per effective sample.")


if __name__ == "__main__":
    main()
