"""Acceptance figures of RGFlow (issue 5): free field L = 8 and the Ising dual L = 8 at T_c.

Run with ``python benchmarks/rg_flow.py`` (options: ``--parts free ising``, ``--bijectors``,
``--seconds S``, ``--free-seconds S``, ``--z2 equivariant|mixture``, ``--seed S``). Torch
runs on one thread; times are CPU seconds of this process (``time.process_time``), so other
jobs on the machine do not inflate them. Every training gets a CPU budget: the number of
steps is set from timed probe fits of 10 and 30 steps (they count towards the budget).

* ``free``: FreeScalar (8, 8), m2 = 0.1, trained by reverse KL (path gradients) for
  ``--free-seconds`` CPU seconds with each block bijector ("coupling", "ode"); ESS/N on 8192
  fresh samples with its bootstrap error, and ln Z from the importance weights against the
  exact 19.92516644 (issue: ESS/N >= 0.99, ln Z within 0.01).
* ``ising``: IsingDual (8, 8) at T_c trained by reverse KL for ``--seconds`` CPU seconds,
  with Z2-equivariant blocks or a Z2 mixture of a non-equivariant flow (``--z2``).
  On 16384 fresh samples: KL = loss + ln Z_x (loss = E_q[ln q + S], ln Z_x from
  ``skphys.lattice.exact.ising_dual_log_z``; issue: <= 0.3 nats), and the importance-weighted
  Ising energy per site (improved estimator ``IsingDual.ising_energy``) against the exact
  ``skphys.lattice.exact.ising_energy(8, T_c)``, and <m^2> (improved estimator
  ``IsingDual.ising_magnetization_sq``) against a Wolff-cluster reference on the Ising model
  itself, both within 2 sigma (combined errors).
* ``ising16``: IsingDual (16, 16) at T_c, Z2 mixture, ``--steps16`` steps (a step count, not
  a budget: the time is reported; issue: KL <= 1.9 nats); KL, ESS/N, MH acceptance and ln Z
  on 8192 fresh samples. Then the bulk sampler against the boundary one, 8 chains each:
  HMC on the bulk effective action ``S_eff(z)`` (``sample(method="bulk_hmc")``'s sampler)
  and HMC on the dual field itself, both with the step size tuned in burn-in to 80 %
  acceptance; integrated autocorrelation time of the Ising ``|m|`` (improved estimator
  ``|mean tanh x|``) in trajectories, CPU time per trajectory and chain, and their product
  (the cost of one independent sample).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from skphys._rg_flow import RGFlow, _LatentAction
from skphys.lattice import FreeScalar, Ising, IsingDual
from skphys.lattice.exact import T_C, free_scalar_log_z, ising_dual_log_z, ising_energy
from skphys.lattice.mcmc import hmc, wolff
from skphys.lattice.stats import mean_error

SHAPE = (8, 8)
# NeuralRG has one disentangler-decimator pair per level (depth=1): for the free field at
# L = 8, m2 = 0.1 even its best *linear* version stays 0.21 nats from the target (exact
# Gaussian KL, minimized directly); depth 2 reaches 0.006 and depth 3 0.0016.
CONFIGS = {
    "coupling": dict(batch_size=256, learning_rate=3e-3, path_gradient=True, depth=3),
    "ode": dict(batch_size=64, learning_rate=1e-2, path_gradient=True, depth=2,
                hidden_units=(16,)),
    "ising": dict(batch_size=256, learning_rate=3e-3, depth=2),
    "ising16": dict(batch_size=128, learning_rate=3e-3, depth=2),
}
# the Z2 treatments of the Ising dual (--z2): equivariant blocks, or a Z2 mixture of a
# non-equivariant flow, which settles on one of the two magnetized modes. Probes at 120 CPU s
# budgets (seed 0, on a loaded machine): equivariant KL 1.19 (1724 steps); mixture 1.11
# (530 steps), 1.06 with path gradients (539 steps, cheaper per step here). At a 600 CPU s
# budget: equivariant KL 0.88, ESS/N 0.005; mixture KL 0.46, ESS/N 0.10 (4634 steps, 779 CPU
# s: the budget overshoots), with the energy and <m^2> still 4-5 sigma off and ln Z 0.10 low
Z2_OPTIONS = {
    "equivariant": dict(z2_equivariant=True),
    "mixture": dict(z2_equivariant=False, z2_mixture=True, path_gradient=True),
}


def fit_within(theory, seconds: float, seed: int, **config) -> tuple[RGFlow, float]:
    """Fit by reverse KL with as many steps as ``seconds`` of CPU allow; return the CPU time.

    The cost of a step is the difference of two probe fits (10 and 30 steps), which removes
    the fixed cost of a fit (building the flow, the final ESS measurement); a first, untimed
    probe absorbs the one-time costs (allocations, kernel selection) that would otherwise
    make the 10-step probe slower per step than the 30-step one.
    """
    start = time.process_time()
    probe_times = []
    for n_steps in (10, 10, 30):
        begin = time.process_time()
        RGFlow(theory, max_iter=n_steps, random_state=seed, monitor_every=0, device="cpu",
               **config).fit()
        probe_times.append(time.process_time() - begin)
    per_step = (probe_times[2] - probe_times[1]) / 20
    fixed = probe_times[1] - 10 * per_step
    left = seconds - (time.process_time() - start) - fixed
    rg = RGFlow(theory, max_iter=max(10, int(left / per_step)), random_state=seed,
                monitor_every=0, device="cpu", **config).fit()
    return rg, time.process_time() - start


def free_field(bijector: str, seconds: float, seed: int) -> None:
    theory = FreeScalar(SHAPE, m2=0.1)
    exact = free_scalar_log_z(SHAPE, 0.1)
    rg, cpu = fit_within(theory, seconds, seed, bijector=bijector, **CONFIGS[bijector])
    d = rg.diagnose(8192)
    print(f"FreeScalar {SHAPE} m2=0.1, {bijector:>8}: ESS/N = {d['ess']:.4f} +- "
          f"{d['ess_err']:.4f}, ln Z = {d['log_z']:.4f} +- {d['log_z_err']:.4f} "
          f"(exact {exact:.8f}, diff {d['log_z'] - exact:+.4f}), KL = {d['kl']:.4f}, "
          f"acceptance = {d['acceptance']:.3f}; {rg.n_iter_} steps, {cpu:.0f} CPU s",
          flush=True)


def weighted_mean(values: np.ndarray, log_w: np.ndarray) -> tuple[float, float]:
    """Self-normalized importance-sampling mean and its delta-method error."""
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    mean = float(np.sum(w * values))
    return mean, float(np.sqrt(np.sum(w**2 * (values - mean) ** 2)))


def wolff_magnetization_sq(seed: int) -> tuple[float, float]:
    """<m^2> of the Ising model at T_c, L = 8, from Wolff chains (reference value)."""
    result = wolff(Ising(SHAPE, temperature=T_C), 4000, n_chains=16, n_burnin=500,
                   generator=torch.Generator().manual_seed(seed))
    m2 = result.samples.mean(-1).square().numpy()  # chains, samples
    return tuple(mean_error(m2.mean(0))[:2])


def ising_dual(seconds: float, seed: int, z2: str) -> None:
    theory = IsingDual(SHAPE, temperature=T_C)
    log_z_x = ising_dual_log_z(SHAPE, T_C)
    rg, cpu = fit_within(theory, seconds, seed, **CONFIGS["ising"], **Z2_OPTIONS[z2])
    X, log_w = rg.sample(16384, method="importance")
    x = torch.as_tensor(X, dtype=torch.float64)
    loss = -log_w.mean()
    d = rg.diagnose(16384)
    print(f"IsingDual {SHAPE} T_c, Z2 {z2}: {rg.n_iter_} steps in {cpu:.0f} CPU s "
          f"(budget {seconds:.0f}); loss = {loss:.4f}, ln Z_x = {log_z_x:.6f}, "
          f"KL = loss + ln Z_x = {loss + log_z_x:.4f} nats; ESS/N = {d['ess']:.4f} +- "
          f"{d['ess_err']:.4f}, acceptance = {d['acceptance']:.3f}, ln Z = {d['log_z']:.4f} +- "
          f"{d['log_z_err']:.4f}", flush=True)
    if rg.z2_mixture:  # has G settled on one mode? (its two branches then differ by far)
        with torch.no_grad():
            xf = torch.as_tensor(X[:4096])
            gap = (rg.module_.flow_log_prob(xf) - rg.module_.flow_log_prob(-xf)).abs().numpy()
        print(f"  mixture branches: median |ln q_G(x) - ln q_G(-x)| = {np.median(gap):.2f}, "
              f"fraction > ln 100: {(gap > math.log(100)).mean():.3f}", flush=True)
    n = math.prod(SHAPE)
    energy = theory.ising_energy(x).numpy() / n
    m2 = theory.ising_magnetization_sq(x).numpy()
    for name, values, (ref, ref_err) in [
        ("energy per site", energy, (ising_energy(SHAPE[0], T_C), 0.0)),
        ("<m^2>", m2, wolff_magnetization_sq(seed)),
    ]:
        mean, err = weighted_mean(values, log_w)
        sigma = math.hypot(err, ref_err)
        print(f"  {name}: {mean:.5f} +- {err:.5f} vs reference {ref:.5f} +- {ref_err:.5f}: "
              f"{(mean - ref) / sigma:+.2f} sigma", flush=True)


def ising_dual_16(steps: int, n_trajectories: int, seed: int) -> None:
    shape = (16, 16)
    theory = IsingDual(shape, temperature=T_C)
    log_z_x = ising_dual_log_z(shape, T_C)
    start = time.process_time()
    rg = RGFlow(theory, max_iter=steps, random_state=seed, monitor_every=0, device="cpu",
                **CONFIGS["ising16"], **Z2_OPTIONS["mixture"]).fit()
    cpu = time.process_time() - start
    _, log_w = rg.sample(8192, method="importance")
    d = rg.diagnose(8192)
    print(f"IsingDual {shape} T_c, Z2 mixture: {steps} steps in {cpu:.0f} CPU s; KL = "
          f"{log_z_x - log_w.mean():.4f} nats; ESS/N = {d['ess']:.4f} +- {d['ess_err']:.4f}, "
          f"acceptance = {d['acceptance']:.3f}, ln Z = {d['log_z']:.4f} +- {d['log_z_err']:.4f}"
          f" (exact {log_z_x:.4f})", flush=True)
    samplers = {
        "boundary": (theory, None, 500),
        "bulk": (_LatentAction(rg), rg.module_.sample_prior(
            8, generator=torch.Generator().manual_seed(seed), device="cpu",
            dtype=torch.float32), 200),
    }
    for name, (target, init, n_burnin) in samplers.items():
        begin = time.process_time()
        result = hmc(target, n_trajectories, n_chains=8, n_burnin=n_burnin, init=init,
                     generator=torch.Generator().manual_seed(seed), dtype=torch.float32)
        per_trajectory = (time.process_time() - begin) / (8 * (n_trajectories + n_burnin))
        x = result.samples
        if name == "bulk":
            with torch.no_grad():
                x = rg.module_.from_latent(x.reshape(-1, x.shape[-1])).reshape(x.shape)
        abs_m = torch.tanh(x).mean(-1).abs().numpy()  # (chains, trajectories)
        mean, error, tau = mean_error(abs_m)
        print(f"  {name:8s} HMC: acceptance {result.acceptance:.3f}, <|m|> = {mean:.4f} +- "
              f"{error:.4f}, tau_int(|m|) = {tau:.1f} trajectories, "
              f"{1e3 * per_trajectory:.2f} ms per trajectory and chain, tau x cost = "
              f"{1e3 * tau * per_trajectory:.1f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["free", "ising"],
                        choices=["free", "ising", "ising16"])
    parser.add_argument("--bijectors", nargs="+", default=["coupling", "ode"],
                        choices=["coupling", "ode"])
    parser.add_argument("--seconds", type=float, default=600.0,
                        help="CPU-second budget of the Ising-dual training")
    parser.add_argument("--free-seconds", type=float, default=400.0,
                        help="CPU-second budget of each free-field training")
    parser.add_argument("--z2", choices=sorted(Z2_OPTIONS), default="mixture",
                        help="Z2 treatment of the Ising-dual flow")
    parser.add_argument("--steps16", type=int, default=10_000,
                        help="training steps of the L = 16 Ising-dual flow")
    parser.add_argument("--trajectories", type=int, default=4000,
                        help="HMC trajectories per chain after burn-in (ising16)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    # float32 denormals (the far tails of the mixture's other branch) made the steps of the Z2
    # mixture 1.7x slower within 300 steps, so the probe fits underestimated their cost
    torch.set_flush_denormal(True)
    if "free" in args.parts:
        for bijector in args.bijectors:
            free_field(bijector, args.free_seconds, args.seed)
    if "ising" in args.parts:
        ising_dual(args.seconds, args.seed, args.z2)
    if "ising16" in args.parts:
        ising_dual_16(args.steps16, args.trajectories, args.seed)


if __name__ == "__main__":
    main()
