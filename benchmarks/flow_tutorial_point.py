"""FlowSampler defaults against the tutorial recipe at the tutorial point, for equal wall time.

The point is ``Phi4((8, 8), m2=-4, lam=8)`` trained by reverse KL. For each budget in
``--seconds`` both configurations are trained from scratch:

* ``defaults``: ``FlowSampler(theory)`` with every default, only ``max_iter`` set;
* ``tutorial``: 16 coupling layers, conv nets 1->8->8->2 (kernel 3, LeakyReLU, tanh output),
  Adam lr 1e-3 at a constant rate, batch 64, no symmetry, no Fourier layer.

A budget of ``T`` seconds becomes a step count: the per-step time of each configuration is
measured on short probe fits and ``max_iter = T / step_time``. Training to a step count
(rather than stopping a run at ``T``) keeps the default cosine learning-rate schedule intact:
it anneals over exactly the steps the budget affords. The tutorial recipe has a constant rate,
so for it this is the same as stopping at ``T``. Time is the CPU time of this single-threaded
process (``time.process_time``), which on a machine shared with other jobs stays a fair
measure of compute where wall time does not; both are reported for each ``fit``.

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

import torch

from skphys import FlowSampler
from skphys.lattice import Phi4

TUTORIAL = dict(n_layers=16, hidden_channels=(8, 8), activation="leaky_relu", final_tanh=True,
                z2_equivariant=False, fourier_layer=False, learning_rate=1e-3, batch_size=64,
                lr_schedule=None)
CONFIGS = {"defaults": {}, "tutorial": TUTORIAL}
CHI2_HMC = (0.7416, 0.0014)
PROBE_STEPS = (10, 50)


def fit_timed(theory, params: dict, n_steps: int, seed: int) -> tuple[FlowSampler, float, float]:
    """A fresh fit of ``n_steps`` steps, with its CPU and wall seconds."""
    fs = FlowSampler(theory, max_iter=n_steps, random_state=seed, device="cpu", **params)
    cpu, wall = time.process_time(), time.perf_counter()
    fs.fit()
    return fs, time.process_time() - cpu, time.perf_counter() - wall


def step_time(theory, params: dict, seed: int) -> float:
    """CPU seconds per optimizer step: the difference of two probe fits (same fixed costs)."""
    fit_timed(theory, params, PROBE_STEPS[0], seed)  # warm-up: first-call costs
    cpu_short, cpu_long = (fit_timed(theory, params, n, seed)[1] for n in PROBE_STEPS)
    return (cpu_long - cpu_short) / (PROBE_STEPS[1] - PROBE_STEPS[0])


def run(theory, name: str, seconds: float, n_eval: int, seed: int) -> dict:
    """Train one configuration for about ``seconds`` of CPU and measure it on fresh samples."""
    params = CONFIGS[name]
    n_steps = max(1, round(seconds / step_time(theory, params, seed)))
    fs, cpu, wall = fit_timed(theory, params, n_steps, seed)
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
    args = parser.parse_args()
    torch.set_num_threads(1)
    theory = Phi4((8, 8), m2=-4.0, lam=8.0)
    print(f"Phi4((8, 8), m2=-4, lam=8), reverse KL, torch threads = {torch.get_num_threads()}; "
          f"HMC <chi2> = {CHI2_HMC[0]} +- {CHI2_HMC[1]}")
    header = (f"{'budget':>6} {'config':>9} {'steps':>6} {'ms/step':>7} {'cpu s':>6} "
              f"{'wall s':>6} {'ESS/N':>14} {'MH acc':>6} {'<chi2> (MH)':>16}")
    print(header)
    print("-" * len(header))
    for seconds in args.seconds:
        rows = [run(theory, name, seconds, args.n_eval, args.seed) for name in CONFIGS]
        for r in rows:
            print(f"{r['budget']:6.0f} {r['config']:>9} {r['steps']:6d} {r['ms_per_step']:7.1f} "
                  f"{r['cpu']:6.1f} {r['wall']:6.1f} {r['ess']:7.3f} +- {r['ess_err']:.3f} "
                  f"{r['acceptance']:6.3f} {r['chi2']:7.4f} +- {r['chi2_err']:.4f}", flush=True)
        ratio = rows[0]["ess"] / max(rows[1]["ess"], 1e-12)
        print(f"{'':6} ESS/N ratio defaults / tutorial = {ratio:.1f}", flush=True)


if __name__ == "__main__":
    main()
