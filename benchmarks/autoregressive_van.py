"""Acceptance figures of the autoregressive models and VAN (issue 4), on the CPU.

Run with ``python benchmarks/autoregressive_van.py [--parts abcd] [--seconds 600]
[--no-record]``. One thread (``--threads``); times are CPU times (``time.process_time``).
Prints, and writes to ``docs/results/autoregressive_van.inc`` unless ``--no-record``:

(a) Ising L = 4, T = 2.5, MADE and PixelCNN trained by VAN with the default settings (in
    float32), then evaluated in float64: the sum of ``exp(score_samples)`` over all 2^16
    states, and a chi-square test of 10^5 samples against ``q`` (states grouped into 100
    bins of equal ``q``-mass);
(b) the same models: the exact KL(q || p) by enumeration;
(c) VAN on Ising L = 8, beta = 0.44 with the default settings within ``--seconds`` of CPU
    time: the relative error of F_q against Kaufman's exact F, the NIS estimate of F/N against
    the exact value with its error, the ESS;
(d) sampling speed (samples per second) at 16 x 16 with the default networks;
(e) the acceptance figures of the defaults: ``AutoregressiveHamiltonian(Ising((8, 8), T_c),
    random_state=0).fit()`` (T_c = 2 / ln(1 + sqrt 2)), nothing else set: the CPU time of
    the whole fit, the relative errors of the variational F_q (what training minimizes) and
    of the NIS estimate of F against Kaufman's exact finite-lattice F, with their errors, and
    the ESS. The target is a relative error of at most 5e-4 within 5 CPU minutes.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd
import torch
from _results import record
from scipy import stats

from skphys import MADE, AutoregressiveHamiltonian, PixelCNN
from skphys.lattice import Ising
from skphys.lattice.exact import ising_log_z


def _all_states(n_sites: int) -> np.ndarray:
    bits = (np.arange(2**n_sites)[:, None] >> np.arange(n_sites - 1, -1, -1)) & 1
    return 2.0 * bits - 1.0


def _chi_square(samples: np.ndarray, log_q: np.ndarray, n_bins: int = 100) -> float:
    """p-value of a chi-square test of spin samples against ``q`` of all states (in the order
    of :func:`_all_states`), in bins of equal q-mass."""
    order = np.argsort(log_q)
    cum = np.cumsum(np.exp(log_q[order]))
    bin_of_state = np.empty(len(log_q), dtype=int)
    bin_of_state[order] = np.minimum((cum * n_bins / cum[-1]).astype(int), n_bins - 1)
    mass = np.bincount(bin_of_state, weights=np.exp(log_q), minlength=n_bins)
    n_sites = samples.shape[1]
    index = ((samples > 0).astype(np.int64) << np.arange(n_sites - 1, -1, -1)).sum(1)
    observed = np.bincount(bin_of_state[index], minlength=n_bins)
    used = mass > 0  # a state heavier than 1 / n_bins leaves the bins it spans empty
    expected = mass[used] * len(samples) / mass.sum()
    return float(stats.chisquare(observed[used], expected).pvalue)


def parts_a_b(max_iter: int | None) -> tuple[pd.DataFrame, float]:
    """Print (a) and (b); return their table and CPU seconds."""
    cpu = time.process_time()
    rows = []
    temperature, shape = 2.5, (4, 4)
    theory = Ising(shape, temperature)
    states = _all_states(16)
    energy = theory.energy(torch.from_numpy(states)).numpy()
    log_p = -energy / temperature - ising_log_z(4, temperature)
    for name, network in (("made", MADE()), ("pixelcnn", PixelCNN())):
        start = time.process_time()
        ah = AutoregressiveHamiltonian(theory, network=network, random_state=0)
        if max_iter is not None:
            ah.set_params(max_iter=max_iter)
        ah.fit()
        fit_time = time.process_time() - start
        samples = ah.sample(100_000)
        ah.module_.double()  # the same weights, evaluated in float64
        ah.set_params(dtype="float64")
        log_q = ah.score_samples(states)
        total = math.fsum(np.exp(log_q))
        kl = float(np.sum(np.exp(log_q) * (log_q - log_p)))
        pvalue = _chi_square(samples, log_q)
        print(f"(a) L=4 {name:8s}: sum exp(score_samples) - 1 = {total - 1:+.2e}; "
              f"chi^2 of 1e5 samples in 100 equal-q bins: p = {pvalue:.3f}")
        print(f"(b) L=4 T=2.5 {name:8s}: exact KL(q||p) = {kl:.2e} nats "
              f"({ah.n_iter_} steps, {fit_time:.0f} s CPU)")
        rows.append({"network": {"made": "MADE", "pixelcnn": "PixelCNN"}[name],
                     "VAN steps": ah.n_iter_, "CPU s": round(fit_time),
                     "Σ exp(score_samples) − 1": f"{total - 1:.1e}",
                     "χ² p-value (10⁵ samples, 100 bins)": f"{pvalue:.3f}",
                     "exact KL(q‖p) (nats)": f"{kl:.2e}"})
    return pd.DataFrame(rows), time.process_time() - cpu


def part_c(seconds: float) -> tuple[dict, float]:
    """Print (c); return its figures and CPU seconds."""
    L, beta = 8, 0.44
    temperature = 1 / beta
    exact_f = -temperature * ising_log_z(L, temperature)
    n_sites, n_eval = L * L, 50_000
    start = time.process_time()
    theory = Ising((L, L), temperature)
    probe = AutoregressiveHamiltonian(theory, max_iter=20, random_state=0).fit()
    per_step = (time.process_time() - start) / 20
    t_eval = time.process_time()
    probe.free_energy(2000)
    per_eval = (time.process_time() - t_eval) / 2000
    budget = seconds - (time.process_time() - start) - per_eval * n_eval
    max_iter = max(1, int(0.95 * budget / per_step))  # at least one step on a tiny budget
    ah = AutoregressiveHamiltonian(theory, max_iter=max_iter, random_state=0).fit()
    f = ah.free_energy(n_eval)  # per site
    used = time.process_time() - start
    rel = (f["free_energy"] - exact_f / n_sites) / abs(exact_f / n_sites)
    nis, nis_err = f["free_energy_nis"], f["free_energy_nis_err"]
    print(f"(c) Ising L=8 beta=0.44, defaults, {max_iter} steps, {used:.0f} s CPU in all:")
    print(f"    F_q/N = {f['free_energy']:.6f} +- {f['free_energy_err']:.6f}, "
          f"exact F/N = {exact_f / n_sites:.6f}, relative error of F_q = {rel:.2e}")
    print(f"    NIS F/N = {nis:.6f} +- {nis_err:.6f}: {(nis - exact_f / n_sites) / nis_err:+.2f} "
          f"sigma from exact; ESS/N = {f['ess']:.3f} ({n_eval} samples)")
    return {
        "VAN steps": f"{max_iter} (defaults, {seconds:.0f} CPU s budget)",
        "F_q/N": f"{f['free_energy']:.6f} ± {f['free_energy_err']:.6f}",
        "exact F/N (Kaufman)": f"{exact_f / n_sites:.6f}",
        "relative error of F_q": f"{rel:.2e}",
        "NIS F/N": f"{nis:.6f} ± {nis_err:.6f} "
                   f"({(nis - exact_f / n_sites) / nis_err:+.2f} σ from exact)",
        "ESS/N": f"{f['ess']:.3f} ({n_eval} samples)",
    }, used


def part_d() -> tuple[pd.DataFrame, float]:
    """Print (d); return its table and CPU seconds."""
    cpu = time.process_time()
    rows = []
    theory = Ising((16, 16), 2.269)
    for name, network in (("pixelcnn", PixelCNN()), ("made", MADE())):
        ah = AutoregressiveHamiltonian(theory, network=network, max_iter=1,
                                       batch_size=8, random_state=0).fit()
        start = time.process_time()
        n = ah.sample(1024).shape[0]
        elapsed = time.process_time() - start
        print(f"(d) 16x16 {name:8s} (defaults, float32): {n / elapsed:.0f} samples/s "
              f"(1024 samples, {elapsed:.1f} s CPU)")
        rows.append({"network": {"made": "MADE", "pixelcnn": "PixelCNN"}[name],
                     "samples per CPU s": round(n / elapsed),
                     "CPU s for 1024 samples": f"{elapsed:.1f}"})
    return pd.DataFrame(rows), time.process_time() - cpu


def part_e(n_eval: int = 50_000) -> tuple[dict, float]:
    """Print (e); return its figures and the CPU seconds of the fit."""
    L, temperature = 8, 2 / math.log(1 + math.sqrt(2))
    exact = -temperature * ising_log_z(L, temperature) / L**2  # per site
    start = time.process_time()
    ah = AutoregressiveHamiltonian(Ising((L, L), temperature), random_state=0).fit()
    fit_time = time.process_time() - start
    f = ah.free_energy(n_eval)  # per site
    rel_q, rel_q_err = (f["free_energy"] - exact) / abs(exact), f["free_energy_err"] / abs(exact)
    rel_nis = (f["free_energy_nis"] - exact) / abs(exact)
    rel_nis_err = f["free_energy_nis_err"] / abs(exact)
    print(f"(e) Ising 8x8 at T_c, defaults ({ah.n_iter_} steps): fit {fit_time:.0f} s CPU")
    print(f"    F_q/N = {f['free_energy']:.6f} +- {f['free_energy_err']:.6f}, exact F/N = "
          f"{exact:.6f}: relative error {rel_q:.2e} +- {rel_q_err:.1e}")
    print(f"    NIS F/N = {f['free_energy_nis']:.6f} +- {f['free_energy_nis_err']:.6f}: "
          f"relative error {rel_nis:+.2e} +- {rel_nis_err:.1e}; ESS/N = {f['ess']:.3f} "
          f"({n_eval} samples)")
    return {
        "settings": f"defaults, random_state=0 ({ah.n_iter_} steps)",
        "CPU s of the fit": f"{fit_time:.0f}",
        "exact F/N (Kaufman)": f"{exact:.6f}",
        "F_q/N": f"{f['free_energy']:.6f} ± {f['free_energy_err']:.6f}",
        "relative error of F_q": f"{rel_q:.2e} ± {rel_q_err:.1e}",
        "NIS F/N": f"{f['free_energy_nis']:.6f} ± {f['free_energy_nis_err']:.6f}",
        "relative error of NIS F": f"{rel_nis:+.2e} ± {rel_nis_err:.1e}",
        "ESS/N": f"{f['ess']:.3f} ({n_eval} samples)",
    }, fit_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="abcde", help="which figures to compute")
    parser.add_argument("--seconds", type=float, default=600.0, help="CPU budget of (c)")
    parser.add_argument("--steps-l4", type=int, default=None,
                        help="VAN steps of (a), (b) (default: the estimator's max_iter)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-record", dest="record", action="store_false",
                        help="print the figures only, without writing them to docs/results/")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if "a" in args.parts or "b" in args.parts:
        table, cpu = parts_a_b(args.steps_l4)
        if args.record:
            record("autoregressive_van", "(a, b) Ising 4 x 4, T = 2.5", table, cpu_seconds=cpu,
                   notes="Models trained by VAN in float32, evaluated in float64 over all "
                         "2¹⁶ states; CPU s of a row: its training.")
    if "d" in args.parts:
        table, cpu = part_d()
        if args.record:
            record("autoregressive_van", "(d) sampling speed, 16 x 16", table, cpu_seconds=cpu,
                   notes="Default networks, float32.")
    if "c" in args.parts:
        figures, cpu = part_c(args.seconds)
        if args.record:
            record("autoregressive_van", "(c) Ising 8 x 8, beta = 0.44", figures,
                   cpu_seconds=cpu, notes="CPU s: training and evaluation.")
    if "e" in args.parts:
        figures, cpu = part_e()
        if args.record:
            record("autoregressive_van", "(e) defaults: Ising 8 x 8 at T_c", figures,
                   cpu_seconds=cpu,
                   notes="``AutoregressiveHamiltonian(Ising((8, 8), T_c), "
                         "random_state=0).fit()``, T_c = 2 / ln(1 + √2); target: relative "
                         "error at most 5e-4 within 300 CPU s. CPU s: the fit alone (its "
                         "closing check included); 5 × 10⁴ samples for F_q and NIS.")


if __name__ == "__main__":
    main()
