"""FlowSampler defaults against the tutorial recipe at the tutorial point, for equal CPU time.

The point is ``Phi4((8, 8), m2=-4, lam=8)`` trained by reverse KL. For each budget in
``--seconds`` both configurations are trained from scratch:

* ``defaults``: ``FlowSampler(theory)`` with every default, only ``max_iter`` set;
* ``tutorial``: 16 coupling layers, conv nets 1->8->8->2 (kernel 3, LeakyReLU, tanh output),
  Adam lr 1e-3 at a constant rate, batch 64, no symmetry, no Fourier layer, the plain
  reparameterization gradient.

A budget of ``T`` CPU seconds becomes a step count (see ``_flow_timing.py``); the tutorial
recipe has a constant rate, so for it this is the same as stopping at ``T``. CPU and wall
seconds are both reported for each ``fit``.

Each trained flow is then judged on 8192 fresh samples (``diagnose``): ESS/N with its bootstrap
error and the acceptance of an independence Metropolis-Hastings chain; ``<chi2>`` =
``<(sum_x phi)^2> / V`` is estimated from such a chain, to compare with the library HMC value
0.7416 +- 0.0014.

Everything runs on one CPU thread (``torch.set_num_threads(1)``)::

    python benchmarks/flow_tutorial_point.py --seconds 100 300
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch
from _flow_timing import fit_for
from _results import record

from skphys import Adam, CouplingFlow
from skphys.lattice import Phi4

TUTORIAL = dict(flow=CouplingFlow(n_layers=16, hidden_channels=(8, 8), activation="leaky_relu",
                                  final_tanh=True, z2_equivariant=False, fourier_layer=False),
                optimizer=Adam(1e-3, lr_schedule="constant", clip_grad_norm=100.0),
                batch_size=64, path_gradient=False)
CONFIGS = {"defaults": {}, "tutorial": TUTORIAL}
CHI2_HMC = (0.7416, 0.0014)


def run(theory, name: str, seconds: float, n_eval: int, seed: int) -> dict:
    """Train one configuration for about ``seconds`` of CPU and measure it on fresh samples."""
    fs, cpu, wall, _ = fit_for(theory, CONFIGS[name], seconds, seed)
    diag = fs.diagnose(n_eval)
    chi2, chi2_err = fs.estimate(lambda x: x.sum(1) ** 2 / x.shape[1], n_eval, method="mh")
    return {"budget": seconds, "config": name, "steps": fs.n_iter_,
            "ms_per_step": 1e3 * cpu / fs.n_iter_, "cpu": cpu, "wall": wall,
            "ess": diag["ess"], "ess_err": diag["ess_err"],
            "acceptance": diag["acceptance"], "chi2": chi2, "chi2_err": chi2_err}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[100.0, 300.0],
                        help="training budgets in seconds (default: 100 300)")
    parser.add_argument("--n-eval", type=int, default=8192, help="fresh samples per diagnosis")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", action="store_true",
                        help="do not write the figures to docs/results/")
    args = parser.parse_args()
    start = time.process_time()
    torch.set_num_threads(1)
    theory = Phi4((8, 8), m2=-4.0, lam=8.0)
    print(f"Phi4((8, 8), m2=-4, lam=8), reverse KL, torch threads = {torch.get_num_threads()}; "
          f"HMC <chi2> = {CHI2_HMC[0]} +- {CHI2_HMC[1]}")
    header = (f"{'budget':>6} {'config':>9} {'steps':>6} {'ms/step':>7} {'cpu s':>6} "
              f"{'wall s':>6} {'ESS/N':>14} {'MH acc':>6} {'<chi2> (MH)':>16}")
    print(header)
    print("-" * len(header))
    table, ratios = [], []
    for seconds in args.seconds:
        rows = [run(theory, name, seconds, args.n_eval, args.seed) for name in CONFIGS]
        for r in rows:
            print(f"{r['budget']:6.0f} {r['config']:>9} {r['steps']:6d} {r['ms_per_step']:7.1f} "
                  f"{r['cpu']:6.1f} {r['wall']:6.1f} {r['ess']:7.3f} +- {r['ess_err']:.3f} "
                  f"{r['acceptance']:6.3f} {r['chi2']:7.4f} +- {r['chi2_err']:.4f}", flush=True)
        ratio = rows[0]["ess"] / max(rows[1]["ess"], 1e-12)
        print(f"{'':6} ESS/N ratio defaults / tutorial = {ratio:.1f}", flush=True)
        table += [{"budget (CPU s)": r["budget"], "config": r["config"], "steps": r["steps"],
                   "ms/step": r["ms_per_step"], "ESS/N": f"{r['ess']:.3f} ± {r['ess_err']:.3f}",
                   "MH acceptance": r["acceptance"],
                   "<chi2> (MH)": f"{r['chi2']:.4f} ± {r['chi2_err']:.4f}"} for r in rows]
        ratios.append(f"ESS/N ratio defaults / tutorial at {seconds:.0f} CPU s: {ratio:.1f}.")
    if not args.no_record:
        record("flow_tutorial_point", "budgets", pd.DataFrame(table),
               cpu_seconds=time.process_time() - start,
               notes=" ".join(ratios) + f" HMC reference <chi2> = {CHI2_HMC[0]} ± {CHI2_HMC[1]}.")


if __name__ == "__main__":
    main()
