"""Acceptance figures of RGFlow (issues 5, 23): defaults, free field, Ising dual, clustering.

Run with ``python benchmarks/rg_flow.py`` (options: ``--parts defaults free ising ising16
ising32 clustering``, ``--temperatures``, ``--bijectors``, ``--steps``, ``--seconds S``,
``--free-seconds S``, ``--z2 equivariant|mixture``, ``--data N``, ``--forward-weight W``,
``--eval-samples N``, ``--ising-model PATH``, ``--steps16``, ``--chains``, ``--trajectories``,
``--boundary-trajectories``, ``--boundary-lengths``, ``--bulk-lengths``, ``--model PATH``,
``--steps32``, ``--model32 PATH``, ``--clustering-steps``, ``--clustering-seeds``,
``--seed S``, ``--device``). Torch runs on one thread; times are CPU seconds of this process
(``time.process_time``). Other jobs on the machine still inflate them (shared caches and
memory bandwidth), so run the timed parts alone. ``--device cuda`` runs ``ising16`` and
``ising32`` on the GPU and times them in wall seconds, synchronizing the GPU before reading
the clock. The ``free`` trainings get a CPU budget: the number of steps is set from timed
probe fits of 10 and 30 steps (they count towards the budget).

* ``defaults``: RGFlow with its default settings (only the theory and ``random_state`` given)
  on IsingDual (8, 8) at each of ``--temperatures`` (T_c, 2.5 and 3.0 by default), its fit
  timed in CPU seconds (issue 23: within 10 CPU minutes). On fresh samples: ``diagnose()``
  on 8192 (its KL estimate ``ln Z - E_q[ln w]`` with ln Z from the same weights, and the
  exact KL with ``skphys.lattice.exact.ising_dual_log_z``; issue: <= 0.3 nats; ESS/N, the
  Pareto k of the weights), then the Ising energy per site (improved estimator
  ``IsingDual.ising_energy``) by ``estimate(..., method="importance")`` and ``method="mh"``
  on 32768 samples each against the exact ``skphys.lattice.exact.ising_energy`` (issue:
  within 2 sigma, or an UnreliableEstimateWarning was emitted; the warnings are counted).
* ``free``: FreeScalar (8, 8), m2 = 0.1, trained by reverse KL (path gradients) for
  ``--free-seconds`` CPU seconds with each block bijector ("coupling", "ode"); ESS/N on 8192
  fresh samples with its bootstrap error, and ln Z from the importance weights against the
  exact 19.92516644 (issue: ESS/N >= 0.99, ln Z within 0.01).
* ``ising``: IsingDual (8, 8) at T_c trained by reverse KL for ``--steps`` steps (a step
  count, so that the figure is reproducible; the CPU time is reported and checked against
  the ``--seconds`` budget, 10 CPU minutes by default), with Z2-equivariant blocks or a Z2
  mixture of a non-equivariant flow (``--z2``); ``--data N`` adds a forward-KL term on N
  exact dual fields (``loss="both"``, weighted by ``--forward-weight``; drawing them counts
  towards the CPU time).
  On ``--eval-samples`` fresh samples (131072 by default, drawn 16384 at a time): KL = loss +
  ln Z_x (loss = E_q[ln q + S], ln Z_x from ``skphys.lattice.exact.ising_dual_log_z``; issue:
  <= 0.3 nats), the tail shape k of the weights (``pareto_k``: from 0.5 up their variance is
  infinite, error bars converge slowly and mean little on few samples), and the
  importance-weighted Ising energy per site (improved estimator ``IsingDual.ising_energy``)
  and <m^2> (improved estimator ``IsingDual.ising_magnetization_sq``) against the exact
  ``skphys.lattice.exact.ising_energy`` and ``ising_magnetization_sq`` (transfer matrix) at
  L = 8, T_c, within 2 sigma, on the first 16384 samples and on all of them; ESS/N, MH
  acceptance and ln Z on 16384 more. ``--ising-model PATH`` loads the trained flow from PATH
  if it exists, else trains it and saves it there (then the training time is not reported).
* ``ising16``: IsingDual (16, 16) at T_c, Z2 mixture, ``--steps16`` steps (a step count, not
  a budget: the time is reported; issue: KL <= 1.9 nats); KL, ESS/N, MH acceptance and ln Z
  on 8192 fresh samples. Then the samplers side by side, on the Ising ``|m|`` (improved
  estimator ``|mean tanh x|``): HMC on the dual field itself (the boundary) at each of
  ``--boundary-lengths`` (``--boundary-trajectories`` divided by the length, per chain) and
  HMC on the bulk effective action ``S_eff(z)`` (``sample(method="bulk_hmc")``'s sampler,
  ``--trajectories`` per chain) at each of ``--bulk-lengths``, ``--chains`` chains each run
  as one batch, the step size tuned in burn-in to 80 % acceptance; and the flow's own
  independence Metropolis-Hastings chain of ``chains x trajectories`` proposals. For each:
  the integrated autocorrelation time of ``|m|`` in updates (trajectories, proposals), the
  cost of one independent sample in force (flow) evaluations and in CPU time (per update and
  chain, times tau). ``--model PATH`` loads the trained flow from PATH if it exists, else
  trains it and saves it there (so the samplers can be re-run without re-training; the
  training time is then not reported).
* ``ising32``: IsingDual (32, 32) at T_c as ``ising16`` (its own config), ``--steps32``
  steps; KL, ESS/N, MH acceptance and ln Z on 8192 fresh samples (issue, on a GPU: KL <= 8
  nats; measured here on the CPU). ``--model32 PATH`` as ``--model``.
* ``clustering``: phase clustering with
  ``Pipeline([RGFlow, top-level latents, PCA(2), |.|, KMeans(2)])`` on IsingDual (16, 16)
  fields at 12 temperatures in [1.8, 3.0] (``make_ising_dual``: Wolff spins, 500 per
  temperature, mapped to exact dual fields by ``IsingDual.sample_field``; the temperatures are never
  shown to the pipeline). The flow is fitted by maximum likelihood to the pooled fields for
  ``--clustering-steps`` steps, once with the RG stopped at an 8 x 8 top level
  (``n_levels=2``) and once with all 4 levels; the share of each temperature's configurations
  in the ordered cluster (the one holding most of the coldest) and the temperature where it
  falls to 1/2, against Onsager's T_c (issue: within 5 %), for each of
  ``--clustering-seeds``. The absolute value after PCA removes the Z2 symmetry (PC 1 is the
  magnetization up to sign).
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from _results import record
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skphys import Adam, CouplingBlock, MERAFlow, ODEBlock, RGFlow, load
from skphys.datasets import make_ising_dual
from skphys.flows import max_levels
from skphys.lattice import FreeScalar, IsingDual
from skphys.lattice.exact import (
    T_C,
    free_scalar_log_z,
    ising_dual_log_z,
    ising_energy,
    ising_magnetization_sq,
)
from skphys.lattice.mcmc import hmc
from skphys.lattice.stats import importance_mean, mean_error, pareto_k

SHAPE = (8, 8)
# the MERAFlow settings of the free-field and clustering flows: local and equivariant
LOCAL = dict(z2_mixture=False, fourier_layer=False)
# each configuration: the MERAFlow parameters ("flow") and the other RGFlow parameters
CONFIGS = {
    "coupling": dict(flow=dict(depth=3, block=CouplingBlock(hidden_channels=(32, 32)), **LOCAL),
                     batch_size=256, optimizer=Adam(3e-3, clip_grad_norm=100.0),
                     path_gradient=True),
    "ode": dict(flow=dict(depth=2, block=ODEBlock(hidden_channels=(16,)), **LOCAL),
                batch_size=64, optimizer=Adam(1e-2, clip_grad_norm=100.0), path_gradient=True),
    "ising": dict(flow=dict(depth=(4, 1, 1), block=CouplingBlock(hidden_channels=(16, 16)),
                            fourier_layer=True),
                  batch_size=128, optimizer=Adam(1e-2, clip_grad_norm=100.0)),
    "ising16": dict(flow=dict(depth=(4, 1, 1, 1), block=CouplingBlock(hidden_channels=(16, 16)),
                              fourier_layer=True),
                    batch_size=128, optimizer=Adam(1e-2, clip_grad_norm=100.0)),
    "ising32": dict(flow=dict(depth=(4, 1, 1, 1, 1),
                              block=CouplingBlock(hidden_channels=(16, 16)), fourier_layer=True),
                    batch_size=128, optimizer=Adam(1e-2, clip_grad_norm=100.0)),
}
STEPS_ISING = 5800
EVAL_CHUNK = 16384  # samples per draw of the L = 8 evaluation (and of its ESS, MH, ln Z)
# the Z2 treatments of the Ising dual (--z2): equivariant blocks, or a Z2 mixture of a
# non-equivariant flow (with path gradients); MERAFlow parameters and RGFlow parameters
Z2_OPTIONS = {
    "equivariant": (dict(z2_equivariant=True), dict(path_gradient=False)),
    "mixture": (dict(z2_mixture=True), dict(path_gradient=True)),
}


def rg_flow(theory, config: str, z2: str | None = None, **params) -> RGFlow:
    """The RGFlow of ``CONFIGS[config]`` with the Z2 treatment ``z2`` and ``params``."""
    settings = dict(CONFIGS[config])
    flow = dict(settings.pop("flow"))
    if z2 is not None:
        flow_z2, estimator_z2 = Z2_OPTIONS[z2]
        flow.update(flow_z2)
        settings.update(estimator_z2)
    return RGFlow(theory, flow=MERAFlow(**flow), **settings, **params)


def clock(device: str) -> tuple[Callable[[], float], str]:
    """A timer in seconds and its name: this process's CPU time on the CPU, wall time after
    the queued kernels on a GPU."""
    if device == "cpu":
        return time.process_time, "CPU"

    def wall() -> float:
        torch.cuda.synchronize()
        return time.perf_counter()

    return wall, "GPU wall"


def fit_within(theory, seconds: float, seed: int, config: str) -> tuple[RGFlow, float]:
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
        rg_flow(theory, config, max_iter=n_steps, random_state=seed, monitor_every=0,
                device="cpu").fit()
        probe_times.append(time.process_time() - begin)
    per_step = (probe_times[2] - probe_times[1]) / 20
    fixed = probe_times[1] - 10 * per_step
    left = seconds - (time.process_time() - start) - fixed
    rg = rg_flow(theory, config, max_iter=max(10, int(left / per_step)), random_state=seed,
                 monitor_every=0, device="cpu").fit()
    return rg, time.process_time() - start


def energy_per_site(theory: IsingDual) -> Callable[[np.ndarray], np.ndarray]:
    """The improved estimator of the Ising energy per site on rows of dual fields."""
    def observable(X: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(X, dtype=torch.float64)
        return theory.ising_energy(x).numpy() / theory.n_sites

    return observable


def defaults(temperatures: list[float], seed: int, save: bool) -> None:
    """The ``defaults`` part: RGFlow's defaults on the L = 8 Ising dual at each temperature."""
    for temperature in temperatures:
        theory = IsingDual(SHAPE, temperature=temperature)
        start = time.process_time()
        with warnings.catch_warnings(record=True) as fit_warnings:
            warnings.simplefilter("always")
            rg = RGFlow(theory, random_state=seed).fit()
        cpu = time.process_time() - start
        log_z_x = ising_dual_log_z(SHAPE, temperature)
        with warnings.catch_warnings(record=True) as diag_warnings:
            warnings.simplefilter("always")
            d = rg.diagnose(8192)
        exact_kl = d["kl"] + d["log_z"] - log_z_x  # ln Z_x - E_q[ln w]
        ref = float(ising_energy(SHAPE[0], temperature))
        name = "T_c" if temperature == T_C else f"T = {temperature:g}"
        figures = {"steps": rg.n_iter_, "fit CPU s": f"{cpu:.0f}",
                   "KL, diagnose (nats, 8192 samples)": f"{d['kl']:.4f}",
                   "KL with the exact ln Z (nats)": f"{exact_kl:.4f}",
                   "ESS/N (8192 samples)": f"{d['ess']:.4f} ± {d['ess_err']:.4f}",
                   "Pareto k": f"{d['pareto_k']:.2f}",
                   "MH acceptance": f"{d['acceptance']:.3f}",
                   "fit warnings": "; ".join(sorted({type(w.message).__name__
                                                     for w in fit_warnings})) or "none"}
        print(f"IsingDual {SHAPE} {name}, RGFlow defaults: {rg.n_iter_} steps in {cpu:.0f} "
              f"CPU s; KL = {d['kl']:.4f} (diagnose), {exact_kl:.4f} (exact ln Z) nats, ESS/N "
              f"= {d['ess']:.4f} +- {d['ess_err']:.4f}, Pareto k = {d['pareto_k']:.2f}, "
              f"acceptance = {d['acceptance']:.3f}; warnings: fit {len(fit_warnings)}, "
              f"diagnose {len(diag_warnings)}", flush=True)
        for method in ("importance", "mh"):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                mean, err = rg.estimate(energy_per_site(theory), 32768, method=method)
            pull = (mean - ref) / err
            # the problems the warning lists (between "true value: " and its remedy)
            warned = "; ".join(sorted({
                type(w.message).__name__ + ": " + str(w.message).split(": ", 1)[-1]
                .split(". ")[0] for w in caught}))
            verdict = ("within 2 σ" if abs(pull) <= 2 else "OUTSIDE 2 σ") + (
                f", warned ({warned})" if caught else ", no warning")
            print(f"  energy per site ({method}, 32768 samples): {mean:.5f} +- {err:.5f} vs "
                  f"exact {ref:.5f}: {pull:+.2f} sigma; {verdict}", flush=True)
            figures[f"energy per site, {method}"] = (f"{mean:.5f} ± {err:.5f} (exact "
                                                     f"{ref:.5f}, {pull:+.2f} σ; {verdict})")
        if save:
            record("rg_flow", f"defaults, {name}, seed {seed}", figures, cpu_seconds=cpu)


def free_field(bijector: str, seconds: float, seed: int) -> None:
    theory = FreeScalar(SHAPE, m2=0.1)
    exact = free_scalar_log_z(SHAPE, 0.1)
    rg, cpu = fit_within(theory, seconds, seed, bijector)
    d = rg.diagnose(8192)
    print(f"FreeScalar {SHAPE} m2=0.1, {bijector:>8}: ESS/N = {d['ess']:.4f} +- "
          f"{d['ess_err']:.4f}, ln Z = {d['log_z']:.4f} +- {d['log_z_err']:.4f} "
          f"(exact {exact:.8f}, diff {d['log_z'] - exact:+.4f}), KL = {d['kl']:.4f}, "
          f"acceptance = {d['acceptance']:.3f}; {rg.n_iter_} steps, {cpu:.0f} CPU s",
          flush=True)


def fit_or_load(model: str | None, fit, device: str = "cpu"
                ) -> tuple[RGFlow, str, float | None]:
    """The flow saved at ``model`` if that file exists (loaded onto ``device``), else
    ``fit()`` (saved there if given).

    Returns the flow, how it was obtained, and the seconds of its training (``clock(device)``;
    ``None`` when loaded).
    """
    if model is not None and os.path.exists(model):
        rg = load(model, device=device)
        return rg, f"{rg.n_iter_} steps (loaded from {model})", None
    timer, unit = clock(device)
    start = timer()
    rg = fit()
    seconds = timer() - start
    if model is not None:
        rg.save(model)
    return rg, f"{rg.n_iter_} steps in {seconds:.0f} {unit} s", seconds


def ising_dual(steps: int, seconds: float, seed: int, z2: str, n_data: int,
               forward_weight: float, n_eval: int, model: str | None, save: bool) -> None:
    theory = IsingDual(SHAPE, temperature=T_C)
    log_z_x = ising_dual_log_z(SHAPE, T_C)

    def fit():
        # exact dual fields from Wolff spins for the forward-KL term (their CPU time counts)
        data = (make_ising_dual(SHAPE, T_C, n_data, random_state=seed + 1000)[0] if n_data
                else None)
        return rg_flow(theory, "ising", z2, max_iter=steps, random_state=seed, monitor_every=0,
                       device="cpu", loss="both" if n_data else "reverse_kl",
                       forward_weight=forward_weight).fit(data)

    rg, trained, cpu = fit_or_load(model, fit)
    draws = [rg.sample(min(EVAL_CHUNK, n_eval - i), method="importance")
             for i in range(0, n_eval, EVAL_CHUNK)]
    X = np.concatenate([X for X, _ in draws])
    log_w = np.concatenate([log_w for _, log_w in draws])
    x = torch.as_tensor(X, dtype=torch.float64)
    loss = -log_w.mean()
    d = rg.diagnose(EVAL_CHUNK)
    # the flow's own settings (a loaded one may differ from the options)
    symmetry = "mixture" if rg.flow.z2_mixture else "equivariant"
    loss_name = "reverse KL"
    if rg.loss == "both":
        loss_name += f" + {rg.forward_weight:g} x forward KL"
        if cpu is not None:
            loss_name += f" on {n_data} fields"
    if cpu is not None:
        trained += f" ({'within' if cpu <= seconds else 'OVER'} the {seconds:.0f} s budget)"
    print(f"IsingDual {SHAPE} T_c, Z2 {symmetry}, {loss_name}: {trained}; "
          f"on {n_eval} samples: loss = {loss:.4f}, ln Z_x = {log_z_x:.6f}, "
          f"KL = loss + ln Z_x = {loss + log_z_x:.4f} nats, weight tail k = "
          f"{pareto_k(log_w):.2f}; on {EVAL_CHUNK}: ESS/N = {d['ess']:.4f} +- "
          f"{d['ess_err']:.4f}, acceptance = {d['acceptance']:.3f}, ln Z = {d['log_z']:.4f} +- "
          f"{d['log_z_err']:.4f}", flush=True)
    if rg.flow.z2_mixture:  # has G settled on one mode? (its two branches then differ by far)
        with torch.no_grad():
            xf = torch.as_tensor(X[:4096])
            gap = (rg.module_.flow_log_prob(xf) - rg.module_.flow_log_prob(-xf)).abs().numpy()
        print(f"  mixture branches: median |ln q_G(x) - ln q_G(-x)| = {np.median(gap):.2f}, "
              f"fraction > ln 100: {(gap > math.log(100)).mean():.3f}", flush=True)
    n = math.prod(SHAPE)
    energy = theory.ising_energy(x).numpy() / n
    m2 = theory.ising_magnetization_sq(x).numpy()
    figures = {"steps": rg.n_iter_, "KL (nats)": loss + log_z_x, "weight tail k": pareto_k(log_w),
               f"ESS/N ({EVAL_CHUNK} samples)": f"{d['ess']:.4f} ± {d['ess_err']:.4f}",
               "MH acceptance": d["acceptance"],
               "ln Z": f"{d['log_z']:.4f} ± {d['log_z_err']:.4f} (exact {log_z_x:.4f})"}
    for name, values, (ref, ref_err) in [
        ("energy per site", energy, (ising_energy(SHAPE[0], T_C), 0.0)),
        ("<m^2>", m2, (ising_magnetization_sq(SHAPE[0], T_C), 0.0)),
    ]:
        # the first chunk alone, then all samples: heavy-tailed weights converge slowly
        for size in sorted({min(EVAL_CHUNK, n_eval), n_eval}):
            mean, err = importance_mean(values[:size], log_w[:size])
            sigma = math.hypot(err, ref_err)
            print(f"  {name} ({size} samples): {mean:.5f} +- {err:.5f} vs reference "
                  f"{ref:.5f} +- {ref_err:.5f}: {(mean - ref) / sigma:+.2f} sigma", flush=True)
            figures[f"{name}, {size} samples"] = (f"{mean:.5f} ± {err:.5f} (exact {ref:.5f}, "
                                                  f"{(mean - ref) / sigma:+.2f} σ)")
    if save and cpu is not None:
        options = "" if (z2, n_data) == ("mixture", 0) else f", z2={z2}, data={n_data}"
        record("rg_flow", f"ising, seed {seed}{options}", figures, cpu_seconds=cpu)


def large_ising_dual(size: int, steps: int, seed: int, model: str | None, device: str
                     ) -> tuple[RGFlow, IsingDual]:
    """Fit (or load) the flow of the (size, size) Ising dual at T_c on ``device`` with the
    config ``CONFIGS[f"ising{size}"]`` and a Z2 mixture; print KL, ESS/N, MH acceptance and
    ln Z on 8192 fresh samples."""
    shape = (size, size)
    theory = IsingDual(shape, temperature=T_C)
    log_z_x = ising_dual_log_z(shape, T_C)
    rg, trained, _ = fit_or_load(model, lambda: rg_flow(
        theory, f"ising{size}", "mixture", max_iter=steps, random_state=seed, monitor_every=0,
        device=device).fit(), device)
    _, log_w = rg.sample(8192, method="importance")
    d = rg.diagnose(8192)
    print(f"IsingDual {shape} T_c, Z2 mixture: {trained}; KL = "
          f"{log_z_x - log_w.mean():.4f} nats; ESS/N = {d['ess']:.4f} +- {d['ess_err']:.4f} "
          f"(weight tail k = {d['pareto_k']:.2f}), "
          f"acceptance = {d['acceptance']:.3f}, ln Z = {d['log_z']:.4f} +- {d['log_z_err']:.4f}"
          f" (exact {log_z_x:.4f})", flush=True)
    return rg, theory


def ising_dual_16(steps: int, n_chains: int, n_trajectories: int, n_boundary: int,
                  boundary_lengths: list[float], bulk_lengths: list[float], seed: int,
                  model: str | None, device: str) -> None:
    rg, theory = large_ising_dual(16, steps, seed, model, device)
    timer, unit = clock(device)
    # the reference: Wolff spins mapped to exact, independent dual fields
    x, _ = make_ising_dual(theory.shape, T_C, 20_000, random_state=seed)
    reference = mean_error(np.abs(np.tanh(x).mean(-1)))
    print(f"  reference: <|m|> = {reference.mean:.4f} +- {reference.error:.4f} (20000 Wolff "
          f"configurations through IsingDual.sample_field)", flush=True)
    runs = [("boundary HMC", theory, None, length, round(n_boundary / length))
            for length in boundary_lengths]
    runs += [("bulk HMC", rg.latent_theory(), rg.module_.sample_prior(
        n_chains, generator=torch.Generator(device=device).manual_seed(seed), device=device,
        dtype=torch.float32), length, n_trajectories) for length in bulk_lengths]
    for name, target, init, length, n in runs:
        begin = timer()
        result = hmc(target, n, n_chains=n_chains, n_burnin=500, init=init,
                     trajectory_length=length, device=device, dtype=torch.float32,
                     generator=torch.Generator(device=device).manual_seed(seed))
        cost = (timer() - begin) / (n_chains * (n + 500))
        x = result.samples
        if target is not theory:
            with torch.no_grad():
                x = rg.module_.from_latent(x.reshape(-1, x.shape[-1])).reshape(x.shape)
        report_autocorrelation(name, torch.tanh(x).mean(-1).abs().cpu().numpy(), cost,
                               reference, f"T = {length:.2f}, acceptance "
                               f"{result.acceptance:.3f}", result.info["n_leapfrog"], unit)
    begin = timer()
    X = rg.sample(n_chains * n_trajectories, method="mh", n_burnin=1000)
    cost = (timer() - begin) / (n_chains * n_trajectories + 1000)
    report_autocorrelation("flow MH", np.abs(np.tanh(X).mean(-1)), cost, reference,
                           "one independence Metropolis-Hastings chain", 1, unit)


def report_autocorrelation(name: str, abs_m: np.ndarray, cost: float, reference,
                           details: str, passes: int, unit: str) -> None:
    """<|m|> (pull against the reference), tau_int(|m|) in updates, the cost of one
    independent sample in force (or flow) evaluations (``passes`` per update) and in time
    (on the clock named ``unit``; per update and chain x tau)."""
    mean, error, tau = mean_error(abs_m)
    pull = (mean - reference.mean) / math.hypot(error, reference.error)
    print(f"  {name:12s}: {details}, {passes} evaluations per update; <|m|> = {mean:.4f} +- "
          f"{error:.4f} ({pull:+.1f} sigma), tau_int(|m|) = {tau:.1f} updates = "
          f"{tau * passes:.1f} evaluations, {1e3 * cost:.4f} {unit} ms per update and chain, "
          f"tau x cost = {1e3 * tau * cost:.2f} {unit} ms", flush=True)


def clustering_pipeline(shape, n_levels: int | None, steps: int, seed: int) -> Pipeline:
    """RGFlow (maximum likelihood), its top-level latents, PCA(2), |.|, KMeans(2)."""
    top = (max_levels(shape) if n_levels is None else n_levels) - 1
    return Pipeline([
        # fitted on data: the sign symmetry of the dual fields is imposed explicitly
        ("rg", RGFlow(lattice_shape=shape,
                      flow=MERAFlow(n_levels=n_levels, depth=1, z2_equivariant=True,
                                    block=CouplingBlock(hidden_channels=(32, 32)), **LOCAL),
                      max_iter=steps, batch_size=64, optimizer=Adam(3e-3, clip_grad_norm=100.0),
                      random_state=seed, monitor_every=0, device="cpu")),
        ("top", ColumnTransformer([("top", "passthrough",
                                    make_column_selector(pattern=f"^z_l{top}_"))])),
        ("pca", PCA(2)),
        ("abs", FunctionTransformer(np.abs)),
        ("km", KMeans(2, n_init=10, random_state=0)),
    ]).set_output(transform="pandas")


def half_share_temperature(temperatures: np.ndarray, share: np.ndarray) -> float:
    """Where the ordered share first falls below 1/2 (linear interpolation)."""
    k = int(np.argmax(share < 0.5))
    if k == 0:
        return math.nan
    return float(temperatures[k - 1] + (share[k - 1] - 0.5) * (
        temperatures[k] - temperatures[k - 1]) / (share[k - 1] - share[k]))


def phase_clustering(steps: int, n_data: int, seeds: list[int]) -> None:
    shape = (16, 16)
    temperatures = np.linspace(1.8, 3.0, 12)
    print(f"Phase clustering, IsingDual {shape}, {len(temperatures)} temperatures in "
          f"[{temperatures[0]}, {temperatures[-1]}], {n_data} configurations each", flush=True)
    for seed in seeds:
        X, T = make_ising_dual(shape, temperatures, n_data, random_state=seed)
        for n_levels in (2, None):
            start = time.process_time()
            pipe = clustering_pipeline(shape, n_levels, steps, seed)
            labels = pipe.fit_predict(X)
            ordered = np.bincount(labels[T == temperatures[0]], minlength=2).argmax()
            share = np.array([np.mean(labels[T == t] == ordered) for t in temperatures])
            t_half = half_share_temperature(temperatures, share)
            ratios = pipe["pca"].explained_variance_ratio_.astype(float)
            print(f"  seed {seed}, n_levels = {n_levels or 4}: top level "
                  f"{pipe['pca'].n_features_in_} latents, PCA variance ratios "
                  f"{np.round(ratios, 3).tolist()}; ordered "
                  f"share {np.round(share, 3).tolist()}; share 1/2 at T = {t_half:.4f} "
                  f"({100 * (t_half / T_C - 1):+.2f} % from T_c); "
                  f"{time.process_time() - start:.0f} CPU s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["defaults", "free", "ising"],
                        choices=["defaults", "free", "ising", "ising16", "ising32",
                                 "clustering"])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[T_C, 2.5, 3.0],
                        help="defaults: temperatures of the L = 8 Ising dual")
    parser.add_argument("--bijectors", nargs="+", default=["coupling", "ode"],
                        choices=["coupling", "ode"])
    parser.add_argument("--steps", type=int, default=STEPS_ISING,
                        help="training steps of the L = 8 Ising-dual flow")
    parser.add_argument("--seconds", type=float, default=600.0,
                        help="CPU-second budget the L = 8 Ising-dual training is checked "
                        "against")
    parser.add_argument("--free-seconds", type=float, default=400.0,
                        help="CPU-second budget of each free-field training")
    parser.add_argument("--z2", choices=sorted(Z2_OPTIONS), default="mixture",
                        help="Z2 treatment of the Ising-dual flow")
    parser.add_argument("--data", type=int, default=0,
                        help="ising: add a forward-KL term on this many exact dual fields "
                        "(Wolff spins through IsingDual.sample_field); 0: reverse KL alone")
    parser.add_argument("--forward-weight", type=float, default=1.0,
                        help="ising: weight of the forward-KL term of --data")
    parser.add_argument("--steps16", type=int, default=10_000,
                        help="training steps of the L = 16 Ising-dual flow")
    parser.add_argument("--steps32", type=int, default=1500,
                        help="training steps of the L = 32 Ising-dual flow")
    parser.add_argument("--model32", help="ising32: load the trained flow from this file if "
                        "it exists, else train and save it there")
    parser.add_argument("--chains", type=int, default=64,
                        help="HMC chains, run as one batch (ising16)")
    parser.add_argument("--trajectories", type=int, default=1000,
                        help="bulk HMC trajectories per chain after burn-in (ising16); the "
                        "independence Metropolis-Hastings chain has chains x trajectories "
                        "states")
    parser.add_argument("--boundary-trajectories", type=int, default=20_000,
                        help="boundary HMC trajectories per chain after burn-in at unit "
                        "trajectory length, divided by the length at the others (ising16)")
    parser.add_argument("--boundary-lengths", type=float, nargs="+", default=[1, 4, 16],
                        help="trajectory lengths of boundary HMC (ising16)")
    parser.add_argument("--bulk-lengths", type=float, nargs="+", default=[1, math.pi / 2],
                        help="trajectory lengths of bulk HMC (ising16)")
    parser.add_argument("--eval-samples", type=int, default=131072,
                        help="ising: fresh samples for KL, the weight tail and the observables")
    parser.add_argument("--ising-model", help="ising: load the trained flow from this file if "
                        "it exists, else train and save it there")
    parser.add_argument("--model", help="ising16: load the trained flow from this file if it "
                        "exists, else train and save it there")
    parser.add_argument("--clustering-steps", type=int, default=2000,
                        help="maximum-likelihood steps of each clustering pipeline's flow")
    parser.add_argument("--clustering-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", action="store_true",
                        help="do not write the figures to docs/results/")
    parser.add_argument("--device", default="cpu",
                        help="torch device of ising16 and ising32 (the other parts run on the "
                        "CPU); with cuda, times are GPU wall seconds")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if "defaults" in args.parts:  # as a user runs it: before the denormal setting below
        defaults(args.temperatures, args.seed, save=not args.no_record)
    # float32 denormals (the far tails of the mixture's other branch) made the steps of the Z2
    # mixture 1.7x slower within 300 steps, so the probe fits underestimated their cost
    torch.set_flush_denormal(True)
    if "free" in args.parts:
        for bijector in args.bijectors:
            free_field(bijector, args.free_seconds, args.seed)
    if "ising" in args.parts:
        ising_dual(args.steps, args.seconds, args.seed, args.z2, args.data,
                   args.forward_weight, args.eval_samples, args.ising_model,
                   save=not args.no_record)
    if "ising16" in args.parts:
        ising_dual_16(args.steps16, args.chains, args.trajectories, args.boundary_trajectories,
                      args.boundary_lengths, args.bulk_lengths, args.seed, args.model,
                      args.device)
    if "ising32" in args.parts:
        large_ising_dual(32, args.steps32, args.seed, args.model32, args.device)
    if "clustering" in args.parts:
        phase_clustering(args.clustering_steps, 500, args.clustering_seeds)


if __name__ == "__main__":
    main()
