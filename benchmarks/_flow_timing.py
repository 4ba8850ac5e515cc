"""CPU-time budgets for FlowSampler benchmarks (shared by the flow_* scripts).

A budget of ``T`` CPU seconds becomes a step count: the per-step time of a configuration is
measured on short probe fits and ``max_iter = T / step_time``. Training to a step count (rather
than stopping a run at ``T``) keeps the cosine learning-rate schedule intact: it anneals over
exactly the steps the budget affords. Time is the CPU time of this single-threaded process
(``time.process_time``), which on a machine shared with other jobs stays a fair measure of
compute where wall time does not.
"""

from __future__ import annotations

import time

from skphys import FlowSampler

PROBE_STEPS = (10, 50)


def fit_timed(theory, params: dict, n_steps: int, seed: int) -> tuple[FlowSampler, float, float]:
    """A fresh CPU fit of ``n_steps`` steps, with its CPU and wall seconds."""
    fs = FlowSampler(theory, max_iter=n_steps, random_state=seed, device="cpu", **params)
    cpu, wall = time.process_time(), time.perf_counter()
    fs.fit()
    return fs, time.process_time() - cpu, time.perf_counter() - wall


def step_time(theory, params: dict, seed: int, probe_steps=PROBE_STEPS) -> float:
    """CPU seconds per optimizer step: the difference of two probe fits (same fixed costs).

    Longer probes (``probe_steps``) catch flows whose steps get dearer as they train."""
    fit_timed(theory, params, PROBE_STEPS[0], seed)  # warm-up: first-call costs
    cpu_short, cpu_long = (fit_timed(theory, params, n, seed)[1] for n in probe_steps)
    return (cpu_long - cpu_short) / (probe_steps[1] - probe_steps[0])


def fit_for(theory, params: dict, seconds: float, seed: int, probe_steps=PROBE_STEPS):
    """Train for about ``seconds`` CPU seconds: ``(sampler, cpu, wall, cpu_per_step)``."""
    per_step = step_time(theory, params, seed, probe_steps)
    fs, cpu, wall = fit_timed(theory, params, max(1, round(seconds / per_step)), seed)
    return fs, cpu, wall, per_step
