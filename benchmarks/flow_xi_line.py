"""FlowSampler against the library's tuned HMC along the "xi ~ L/4" line of phi^4 (m2 = -4).

For each ``L`` in ``--sizes`` (lambda from the conventions, ``LAMBDA``):

* HMC (``skphys.lattice.mcmc.hmc``: step size tuned by dual averaging to acceptance 0.8 during
  burn-in, then frozen; trajectory length 1; 16 chains advanced as one batch) runs
  ``--hmc-trajectories`` trajectories per chain. From the chains: tau_int of
  chi2 = (sum_x phi)^2 / V (Gamma method over the chains), CPU seconds and force evaluations
  per sample, and the cost of one effective sample, ``2 tau_int`` times the cost per sample.
* each flow (``--flows``, FlowSampler defaults) is trained by reverse KL for ``--seconds`` CPU
  seconds (a step count, see ``_flow_timing.py``). The history's monitor batches (1024 fresh
  samples every 50 steps) give the training time to the first Metropolis-Hastings acceptance
  >= 0.5 (steps times CPU seconds per step). Then 8192 fresh proposals are drawn (timed) and
  run through an independence Metropolis-Hastings chain: final ESS/N, acceptance, tau_int of
  chi2 along the chain, <chi2> with its error, and the cost per effective sample (one flow
  pass and one action evaluation per proposal). Training cost is reported separately; the
  break-even column is the number of effective samples after which the flow's training plus
  sampling is cheaper than HMC.

Everything runs on one CPU thread; costs are CPU seconds of this process::

    python benchmarks/flow_xi_line.py --sizes 6 8 10 12 14 --seconds 150
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from _flow_timing import fit_for

from skphys import ContinuousFlow, CouplingFlow
from skphys.lattice import Phi4
from skphys.lattice.mcmc import hmc, independence_metropolis
from skphys.lattice.stats import ess, mean_error, tau_int

LAMBDA = {6: 6.975, 8: 6.008, 10: 5.550, 12: 5.276, 14: 5.113, 20: 4.807, 32: 4.572}
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
            "step": res.step_size}


def run_flow(theory, flow: str, seconds: float, seed: int) -> dict:
    fs, cpu_train, _, per_step = fit_for(theory, {"flow": FLOWS[flow]()}, seconds, seed)
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
    return {"train": cpu_train, "t_half": t_half, "ess": ess(log_w), "acc": chain.acceptance,
            "tau": tau, "cpu_eff": 2 * tau * cpu_draw / N_EVAL, "evals_eff": 2 * tau,
            "chi2": est.mean, "chi2_err": est.error}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 8, 10, 12, 14])
    parser.add_argument("--flows", nargs="+", default=["coupling", "continuous"],
                        choices=sorted(FLOWS))
    parser.add_argument("--seconds", type=float, default=150.0, help="CPU training budget")
    parser.add_argument("--hmc-trajectories", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"xi ~ L/4 line, m2 = -4; flows trained {args.seconds:.0f} CPU s each; "
          f"torch threads = {torch.get_num_threads()}; costs in CPU ms per effective chi2 sample")
    header = (f"{'L':>3} {'lambda':>6} {'sampler':>10} {'train s':>7} {'t(acc.5)':>8} "
              f"{'ESS/N':>6} {'acc':>5} {'tau_int':>7} {'ms/eff':>7} {'evals/eff':>9} "
              f"{'<chi2>':>18} {'break-even':>10}")
    print(header)
    print("-" * len(header))
    for L in args.sizes:
        theory = Phi4((L, L), m2=-4.0, lam=LAMBDA[L])
        h = run_hmc(theory, args.hmc_trajectories, args.seed)
        print(f"{L:3d} {LAMBDA[L]:6.3f} {'hmc':>10} {'':>7} {'':>8} {'':>6} {h['acc']:5.2f} "
              f"{h['tau']:7.2f} {1e3 * h['cpu_eff']:7.3f} {h['evals_eff']:9.1f} "
              f"{h['chi2']:9.4f} +- {h['chi2_err']:.4f} {'':>10}", flush=True)
        for flow in args.flows:
            f = run_flow(theory, flow, args.seconds, args.seed)
            gain = h["cpu_eff"] - f["cpu_eff"]
            even = f"{f['train'] / gain:10.3g}" if gain > 0 else f"{'never':>10}"
            print(f"{L:3d} {LAMBDA[L]:6.3f} {flow:>10} {f['train']:7.0f} {f['t_half']:8.0f} "
                  f"{f['ess']:6.3f} {f['acc']:5.2f} {f['tau']:7.2f} {1e3 * f['cpu_eff']:7.3f} "
                  f"{f['evals_eff']:9.1f} {f['chi2']:9.4f} +- {f['chi2_err']:.4f} {even}",
                  flush=True)


if __name__ == "__main__":
    main()
