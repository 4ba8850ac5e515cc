"""A learned phi^4 action that composes: AutoregressiveHamiltonian(dof="real") -> as_theory()
-> HMC and a FlowSampler.

Data: ``make_phi4((8, 8), m2=-4, lam=8, --n-train)`` (HMC, decorrelated rows). Three parts,
each for the default network (``PixelCNN()``) or, with ``--network made``, ``MADE()``:

* ``fit``: a default ``AutoregressiveHamiltonian(Phi4((8, 8), -4, 8))`` fitted on the data,
  ``fit(X)`` (maximum likelihood; Gaussian-mixture conditionals, flip-symmetrized because the
  theory declares the symmetry); the theory also gives the end-of-fit check, the ESS/N of the
  model against the true action;
* ``hmc``: ``skphys.lattice.hmc`` (defaults, 16 chains) on ``ah.as_theory()``, the learned
  action ``S = -ln q``; its two-point susceptibility ``<chi_2>`` against that of the data
  (errors from the integrated autocorrelation time, Gamma method) and against independent
  draws of the model itself (which HMC samples exactly); the issue asks for agreement with
  the data within 2 sigma;
* ``flow``: default ``FlowSampler(theory=ah.as_theory(), random_state=s)`` for each seed of
  ``--flow-seeds``, trained on the learned action alone, ``fit()`` (reverse KL; it varies
  from seed to seed); ESS/N of its importance weights against the learned action on fresh
  samples (the issue asks for >= 0.5) and its ``ln Z`` estimate, which must be 0 (the
  learned density is normalized);
* ``flow_draws``: the same flows fitted on ``--n-draws`` exact draws of the learned model,
  ``fit(ah.sample(n))`` (defaults: maximum likelihood on the draws, the theory for the
  diagnostics); CPU s include the draws.

One CPU thread; times are CPU seconds (``time.process_time``). The figures are printed and
written to ``docs/results/learned_phi4.inc`` unless ``--no-record``; ``--max-iter`` and
``--n-hmc`` shorten a trial run (use them with ``--no-record``)::

    python benchmarks/learned_phi4.py [--network made] [--parts hmc flow flow_draws]
        [--no-record]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from _results import record

from skphys import MADE, AutoregressiveHamiltonian, FlowSampler, PixelCNN
from skphys.datasets import make_phi4
from skphys.lattice import Phi4
from skphys.lattice.mcmc import hmc
from skphys.lattice.observables import two_point_susceptibility
from skphys.lattice.stats import mean_error

L, M2, LAM = 8, -4.0, 8.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["hmc", "flow", "flow_draws"],
                        choices=["hmc", "flow", "flow_draws"], help="the fit always runs")
    parser.add_argument("--n-draws", type=int, default=20_000,
                        help="model draws that flow_draws fits the flows on")
    parser.add_argument("--n-train", type=int, default=20_000)
    parser.add_argument("--n-hmc", type=int, default=1000, help="HMC samples per chain")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="optimizer steps of the fits (default: the estimator defaults)")
    parser.add_argument("--network", choices=["pixelcnn", "made"], default="pixelcnn",
                        help="the autoregressive network: PixelCNN() (the default) or MADE()")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flow-seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="random_state of each FlowSampler trained on the learned action")
    parser.add_argument("--no-record", dest="record", action="store_false",
                        help="print the figures only, without writing them to docs/results/")
    args = parser.parse_args()
    torch.set_num_threads(1)
    extra = {} if args.max_iter is None else {"max_iter": args.max_iter}
    network = {"pixelcnn": PixelCNN, "made": MADE}[args.network]()
    label = f"network={network!r}"
    data_notes = (f"Data: ``make_phi4(({L}, {L}), m2={M2}, lam={LAM}, {args.n_train}, "
                  f"random_state={args.seed})``.")

    cpu = time.process_time()
    X = make_phi4((L, L), M2, LAM, args.n_train, random_state=args.seed)
    chi_data = mean_error(two_point_susceptibility(X))
    cpu_data = time.process_time() - cpu
    cpu = time.process_time()
    ah = AutoregressiveHamiltonian(Phi4((L, L), M2, LAM), network=network,
                                   random_state=args.seed, **extra).fit(X)
    cpu_fit = time.process_time() - cpu
    theory = ah.as_theory()
    chi_model = mean_error(two_point_susceptibility(ah.sample(16_000)))
    print(f"{label}: data <chi_2> = {chi_data.mean:.4f} +- {chi_data.error:.4f} "
          f"({cpu_data:.0f} CPU s); "
          f"fit: {ah.n_iter_} steps, {cpu_fit:.0f} CPU s, held-out log-likelihood per site "
          f"{ah.validation_score_:.4f}, ESS/N against Phi4 {ah.ess_:.3f}; model draws "
          f"<chi_2> = {chi_model.mean:.4f} +- {chi_model.error:.4f}", flush=True)
    fit_figures = {"steps": ah.n_iter_, "fit CPU s": round(cpu_fit),
                   "held-out log-likelihood per site": f"{ah.validation_score_:.4f}",
                   "ESS/N of the model against Phi4": f"{ah.ess_:.3f}",
                   "<chi_2> of the data": f"{chi_data.mean:.4f} +- {chi_data.error:.4f}",
                   "<chi_2> of 16000 model draws":
                       f"{chi_model.mean:.4f} +- {chi_model.error:.4f}"}
    if args.record:
        record("learned_phi4", f"fit, {label}", fit_figures, cpu_seconds=cpu_data + cpu_fit,
               notes=data_notes + " CPU s: the data and the fit.")

    if "hmc" in args.parts:
        cpu = time.process_time()
        result = hmc(theory, args.n_hmc, generator=torch.Generator().manual_seed(args.seed))
        chains = two_point_susceptibility(result.samples.reshape(-1, L * L)).reshape(
            result.n_chains, -1)
        chi_hmc = mean_error(chains.numpy())
        cpu_hmc = time.process_time() - cpu
        pull = (chi_hmc.mean - chi_data.mean) / np.hypot(chi_hmc.error, chi_data.error)
        pull_model = (chi_hmc.mean - chi_model.mean) / np.hypot(chi_hmc.error, chi_model.error)
        print(f"HMC on the learned action: {result.n_chains} x {result.n_samples} samples, "
              f"acceptance {result.acceptance:.3f}, tau_int(chi_2) = {chi_hmc.tau:.2f}; "
              f"<chi_2> = {chi_hmc.mean:.4f} +- {chi_hmc.error:.4f}: {pull:+.2f} sigma from "
              f"the data, {pull_model:+.2f} sigma from the model draws ({cpu_hmc:.0f} CPU s)",
              flush=True)
        if args.record:
            record("learned_phi4", f"hmc, {label}", {
                "chains x samples": f"{result.n_chains} x {result.n_samples}",
                "acceptance": f"{result.acceptance:.3f}",
                "tau_int of chi_2": f"{chi_hmc.tau:.2f}",
                "<chi_2> (HMC on as_theory())": f"{chi_hmc.mean:.4f} +- {chi_hmc.error:.4f}",
                "<chi_2> of the data": f"{chi_data.mean:.4f} +- {chi_data.error:.4f}",
                "deviation from the data": f"{pull:+.2f} sigma",
                "deviation from the model draws": f"{pull_model:+.2f} sigma",
            }, cpu_seconds=cpu_hmc,
                notes=data_notes + " ``hmc(ah.as_theory(), n_samples)`` with its defaults (16 "
                      "chains, 500 burn-in trajectories, step size tuned to 0.8 acceptance); "
                      "errors by the Gamma method (tau_int-corrected). CPU s: HMC only.")

    for part in ("flow", "flow_draws"):
        if part in args.parts:
            flows_on_the_learned_action(args, part, ah, label, data_notes, extra)


def flows_on_the_learned_action(args, part: str, ah, label: str, data_notes: str,
                                extra: dict) -> None:
    """One default FlowSampler per seed on ``ah.as_theory()``: trained on the action
    (``flow``) or on exact draws of the model (``flow_draws``)."""
    theory = ah.as_theory()
    rows = []
    for flow_seed in args.flow_seeds:
        cpu = time.process_time()
        draws = ah.sample(args.n_draws) if part == "flow_draws" else None
        fs = FlowSampler(theory, random_state=flow_seed, **extra).fit(draws)
        cpu_flow = time.process_time() - cpu
        diag = fs.diagnose()
        print(f"{part}: FlowSampler(random_state={flow_seed}): {fs.n_iter_} steps, "
              f"{cpu_flow:.0f} CPU s; ESS/N = {diag['ess']:.3f} +- {diag['ess_err']:.3f}, "
              f"ln Z = {diag['log_z']:.4f} +- {diag['log_z_err']:.4f} (exact: 0), Pareto k = "
              f"{diag['pareto_k']:.2f}", flush=True)
        rows.append({"random_state": flow_seed, "steps": fs.n_iter_,
                     "fit CPU s": round(cpu_flow),
                     "ESS/N (8192 fresh samples)": f"{diag['ess']:.3f} +- {diag['ess_err']:.3f}",
                     "ln Z (exact: 0)": f"{diag['log_z']:.4f} +- {diag['log_z_err']:.4f}",
                     "Pareto k": f"{diag['pareto_k']:.2f}"})
    how = ("``FlowSampler(ah.as_theory(), random_state=s).fit()``, trained on the learned "
           "action (reverse KL)" if part == "flow" else
           f"``FlowSampler(ah.as_theory(), random_state=s).fit(ah.sample({args.n_draws}))``, "
           f"trained on exact draws of the learned model (maximum likelihood)")
    if args.record:
        record("learned_phi4", f"{part}, {label}", pd.DataFrame(rows).set_index("random_state"),
               cpu_seconds=sum(r["fit CPU s"] for r in rows),
               notes=data_notes + f" {how}, with its defaults otherwise, one row per seed of "
                     "the flow; ``diagnose()`` on fresh samples. CPU s: the flows' fits"
                     + (" and the draws." if part == "flow_draws" else "."))


if __name__ == "__main__":
    main()
