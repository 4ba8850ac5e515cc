"""Phase detection with autoregressive models (issue 4): Ising L = 16, 16 temperatures.

Run with ``python -u benchmarks/autoregressive_phase_detection.py [--parts ab] [--no-record]``;
``--help`` lists the settings (smaller ``--n-data``, ``--max-iter``, ``--pipe-data``,
``--pipe-iter`` and ``--sizes`` give a short trial, to run with ``--no-record``). Times are
CPU seconds (``time.process_time``) of this process; with ``--n-jobs 2`` the fits of part (a)
run in joblib worker processes, whose CPU time this process does not see, so the wall time is
reported as well. Prints, and writes to ``docs/results/autoregressive_phase_detection.inc``
unless ``--no-record``:

(a) the thermodynamics route: Wolff configurations (``make_ising``) at 16 temperatures in
    [1.6, 3.2]; :func:`skphys.temperature_scan` fits one Z2-symmetric PixelCNN per
    temperature by maximum likelihood (width 16, batches of 64, learning rate 3e-3: a
    smaller network than the default, cheaper per step) and reweights
    fresh model samples to the Ising Boltzmann law: F, U, S, C per site with errors against
    Kaufman's exact values, the ESS, and the heat-capacity peak
    (:func:`skphys.heat_capacity_peak`) against the exact finite-size peak (T = 2.317 at
    L = 16);
(b) the unsupervised route: ``Pipeline([AutoregressiveHamiltonian, PCA(2), |.|, KMeans(2)])``
    on the pooled configurations of all temperatures (labels never seen), the share of each
    temperature's configurations in the ordered cluster and the temperature T_c(L) where it
    crosses 1/2, at L = 8, 12, 16 (``--sizes``); and the same with PCA on the raw
    configurations. T_c(L) lies above T_c by O(1/L) (the magnetization, which the clusters
    follow, decays gradually on a finite lattice). Two finite-size estimates of the
    infinite-volume T_c, compared with Onsager's 2.269: the fit T_c(L) = T_c + a / L
    (nu = 1 for the 2-D Ising model), and, as with Binder cumulants, the temperature where
    the share curves of two sizes cross (the share is a dimensionless probability: larger
    lattices are more ordered below T_c and less above it).

The absolute value after PCA removes the Z2 symmetry: both the AH features and the raw spins
have a first principal component proportional to the magnetization, so KMeans(2) on the
signed components would split spin-up from spin-down configurations instead of order from
disorder.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import pandas as pd
import torch
from _results import record
from scipy.optimize import minimize_scalar
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skphys import Adam, AutoregressiveHamiltonian, PixelCNN, heat_capacity_peak, temperature_scan
from skphys.datasets import make_ising
from skphys.lattice import Ising
from skphys.lattice.exact import T_C, ising_energy, ising_heat_capacity, ising_log_z

L = 16
TEMPERATURES = np.linspace(1.6, 3.2, 16)


def part_a(n_data: int, max_iter: int, batch_size: int, hidden_channels: int,
           learning_rate: float, n_samples: int, n_jobs: int) -> tuple[dict, float, str]:
    """Print (a); return its figures, the CPU seconds of this process and notes."""
    cpu, wall = time.process_time(), time.perf_counter()
    X, T = make_ising((L, L), TEMPERATURES, n_data, random_state=0)
    print(f"(a) data: {X.shape[0]} Wolff configurations, {time.process_time() - cpu:.0f} CPU s")
    template = AutoregressiveHamiltonian(
        Ising((L, L), 2.0), network=PixelCNN(hidden_channels=hidden_channels, z2_mixture=True),
        max_iter=max_iter, batch_size=batch_size,
        optimizer=Adam(learning_rate, clip_grad_norm=1.0), random_state=0)
    scan = temperature_scan(template, TEMPERATURES, X, T, n_samples=n_samples, n_jobs=n_jobs)
    t = scan["temperature"].to_numpy()
    exact = pd.DataFrame({
        "F_exact": -t * ising_log_z(L, t) / L**2,
        "U_exact": ising_energy(L, t),
        "C_exact": ising_heat_capacity(L, t),
    })
    table = pd.concat([scan[["temperature", "free_energy_nis", "free_energy_nis_err", "energy",
                             "energy_err", "heat_capacity", "heat_capacity_err", "ess"]],
                       exact], axis=1)
    table["C_pull"] = (table["heat_capacity"] - table["C_exact"]) / table["heat_capacity_err"]
    with pd.option_context("display.width", 200, "display.float_format", "{:.5f}".format):
        print(table.to_string(index=False))
    peak = minimize_scalar(lambda x: -ising_heat_capacity(L, x), bounds=(2.2, 2.5),
                           method="bounded", options={"xatol": 1e-8}).x
    t_peak, c_peak = heat_capacity_peak(scan)
    print(f"(a) heat-capacity peak: T = {t_peak:.4f} (C/N = {c_peak:.4f}); exact finite-size "
          f"peak T = {peak:.4f} (C/N = {ising_heat_capacity(L, peak):.4f}); relative deviation "
          f"{abs(t_peak - peak) / peak:.2%} (target <= 3%)")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"(a) {cpu:.0f} CPU s in this process, {wall:.0f} s wall with n_jobs={n_jobs}")
    f_deviation = (table["free_energy_nis"] - table["F_exact"]).abs().max()
    figures = {
        "heat-capacity peak": f"T = {t_peak:.4f}",
        "exact finite-size peak": f"T = {peak:.4f}",
        "relative deviation": f"{abs(t_peak - peak) / peak:.2%}",
        "C(T) against Kaufman": f"within ±{table['C_pull'].abs().max():.1f} σ at all "
                                f"{len(table)} temperatures",
        "F_NIS against exact": f"within {f_deviation:.1e}",
        "ESS/N": f"{table['ess'].min():.2f}-{table['ess'].max():.2f}",
    }
    notes = (f"Ising L = {L}, {len(TEMPERATURES)} temperatures in [{TEMPERATURES[0]}, "
             f"{TEMPERATURES[-1]}], {n_data} Wolff configurations per temperature, a "
             f"Z2-symmetric PixelCNN of width {hidden_channels} per temperature ({max_iter} "
             f"steps, batches of {batch_size}, learning rate {learning_rate:g}), reweighted "
             f"with {n_samples} model samples.")
    if n_jobs != 1:
        notes += (f" The fits ran in {n_jobs} worker processes, whose CPU time is not counted; "
                  f"{wall:.0f} s wall.")
    return figures, cpu, notes


def _crossing(t: np.ndarray, ordered: np.ndarray) -> float:
    """Temperature where the ordered share first falls below 1/2 (linear interpolation)."""
    k = int(np.argmax(ordered < 0.5))
    return float(t[k - 1] + (0.5 - ordered[k - 1]) * (t[k] - t[k - 1])
                 / (ordered[k] - ordered[k - 1]))


def _curve_crossing(t: np.ndarray, small: np.ndarray, large: np.ndarray) -> float:
    """Temperature where the share of the larger lattice falls below that of the smaller one
    (linear interpolation), skipping the saturated low-temperature end where both are 1."""
    d = large - small
    k = int(np.argmax((d < 0) & (np.maximum.accumulate(d) > 0)))
    return float(t[k - 1] + d[k - 1] * (t[k] - t[k - 1]) / (d[k - 1] - d[k]))


def _ordered_share(features: np.ndarray, T: np.ndarray) -> np.ndarray:
    """KMeans(2) on ``features``; the share of each temperature's rows in the cluster with the
    larger first feature (|PC 1|, the magnetization)."""
    km = KMeans(2, n_init=10, random_state=0).fit(features)
    ordered = int(np.argmax(km.cluster_centers_[:, 0]))
    return np.array([np.mean(km.labels_[T == t] == ordered) for t in TEMPERATURES])


def part_b(n_data: int, max_iter: int, sizes: list[int]) -> tuple[pd.DataFrame, float]:
    """Print (b); return its table of T_c estimates and CPU seconds."""
    cpu = time.process_time()
    names = {"AH": "AH + PCA + KMeans", "raw": "raw PCA + KMeans"}
    onsager = f"from Onsager's {T_C:.3f}"
    rows = []
    shares, t_c = {}, {"AH + PCA + KMeans": [], "raw PCA + KMeans": []}
    for size in sizes:
        X, T = make_ising((size, size), TEMPERATURES, n_data, random_state=1)
        pipe = Pipeline([
            ("ah", AutoregressiveHamiltonian(lattice_shape=(size, size), max_iter=max_iter,
                                             random_state=0)),
            ("pca", PCA(2)),
            ("abs", FunctionTransformer(np.abs)),
        ])
        # the temperatures are never shown to the pipeline
        shares[f"AH L={size}"] = _ordered_share(pipe.fit_transform(X), T)
        shares[f"raw L={size}"] = _ordered_share(np.abs(PCA(2).fit_transform(X)), T)
        t_c["AH + PCA + KMeans"].append(_crossing(TEMPERATURES, shares[f"AH L={size}"]))
        t_c["raw PCA + KMeans"].append(_crossing(TEMPERATURES, shares[f"raw L={size}"]))
    print("(b) share of each temperature's configurations in the ordered cluster")
    print(pd.DataFrame({"temperature": TEMPERATURES, **shares}).to_string(
        index=False, float_format="%.3f"))
    inverse_l = 1.0 / np.asarray(sizes, dtype=float)
    for name, values in t_c.items():
        for size, value in zip(sizes, values):
            print(f"(b) {name}, L = {size}: T_c(L) = {value:.4f}, "
                  f"{abs(value - T_C) / T_C:.2%} from Onsager's {T_C:.4f}")
            rows.append({"estimate of T_c": f"{name}: share 1/2 at L = {size}",
                         "T": f"{value:.4f}", onsager: f"{abs(value - T_C) / T_C:.2%}"})
        if len(sizes) > 1:  # finite-size scaling T_c(L) = T_c + a L^(-1/nu), nu = 1
            slope, intercept = np.polyfit(inverse_l, values, 1)
            print(f"(b) {name}, extrapolated T_c(L) = T_c + a / L: T_c = {intercept:.4f} "
                  f"(a = {slope:.2f}), {abs(intercept - T_C) / T_C:.2%} from Onsager")
            rows.append({"estimate of T_c": f"{name}: fit T_c(L) = T_c + a / L",
                         "T": f"{intercept:.4f}", onsager: f"{abs(intercept - T_C) / T_C:.2%}"})
    for kind in ("AH", "raw"):
        for small, large in itertools.combinations(sizes, 2):
            cross = _curve_crossing(TEMPERATURES, shares[f"{kind} L={small}"],
                                    shares[f"{kind} L={large}"])
            print(f"(b) {kind}: the shares of L = {small} and {large} cross at T = {cross:.4f}, "
                  f"{abs(cross - T_C) / T_C:.2%} from Onsager (target <= 5%)")
            rows.append({"estimate of T_c": f"{names[kind]}: share curves of L = {small} and "
                                            f"{large} cross",
                         "T": f"{cross:.4f}", onsager: f"{abs(cross - T_C) / T_C:.2%}"})
    cpu = time.process_time() - cpu
    print(f"(b) {n_data} configurations per temperature, {cpu:.0f} CPU s")
    return pd.DataFrame(rows), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="ab")
    parser.add_argument("--n-data", type=int, default=2000, help="(a) configurations per T")
    parser.add_argument("--max-iter", type=int, default=500, help="(a) steps per temperature")
    parser.add_argument("--batch-size", type=int, default=64, help="(a) rows per step")
    parser.add_argument("--hidden-channels", type=int, default=16, help="(a) PixelCNN width")
    parser.add_argument("--learning-rate", type=float, default=3e-3, help="(a) Adam rate")
    parser.add_argument("--n-samples", type=int, default=4096, help="(a) model samples per T")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--pipe-data", type=int, default=500, help="(b) configurations per T")
    parser.add_argument("--pipe-iter", type=int, default=300, help="(b) AH training steps")
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 12, 16],
                        help="(b) lattice sizes of the pipeline")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-record", dest="record", action="store_false",
                        help="print the figures only, without writing them to docs/results/")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if "a" in args.parts:
        figures, cpu, notes = part_a(args.n_data, args.max_iter, args.batch_size,
                                     args.hidden_channels, args.learning_rate, args.n_samples,
                                     args.n_jobs)
        if args.record:
            record("autoregressive_phase_detection", "(a) heat capacity", figures,
                   cpu_seconds=cpu, notes=notes)
    if "b" in args.parts:
        table, cpu = part_b(args.pipe_data, args.pipe_iter, args.sizes)
        if args.record:
            record("autoregressive_phase_detection", "(b) clustering", table, cpu_seconds=cpu,
                   notes=f"{args.pipe_data} configurations per temperature, "
                         f"{args.pipe_iter} training steps of each AutoregressiveHamiltonian. "
                         f"The share-1/2 temperatures of one size are pseudo-critical and lie "
                         f"above T_c by O(1/L).")


if __name__ == "__main__":
    main()
