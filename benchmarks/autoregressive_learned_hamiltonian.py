"""Learning the Ising Hamiltonian from configurations with AutoregressiveHamiltonian.

Data: ``make_ising((8, 8), 2.5, n)`` (Wolff, decorrelated rows): ``--n-train`` rows to fit
on and ``--n-test`` other, held-out rows.
The model is fitted by maximum likelihood (defaults; the learned Hamiltonian at T = 2.5), once
without and once with ``network=PixelCNN(z2_mixture=True)``. On the held-out configurations the
script prints:

* the Pearson correlation of the learned single-spin-flip energy changes
  ``H_theta(s with spin i flipped) - H_theta(s)`` with the exact ``2 s_i sum_nn s_j``
  (one random site per configuration); the issue asks for r >= 0.95;
* the negative log-likelihood per spin against the exact entropy per spin
  ``s = (ln Z + beta U) / N`` (Kaufman, ``skphys.lattice.exact``): for a perfect model the
  held-out NLL per spin equals the entropy per spin; the issue asks for agreement within 2 %;
* the Z2 symmetry score ``mean |log p(-s) - log p(s)|`` (0 for an exactly symmetric model).

One CPU thread; times are CPU seconds (``time.process_time``). The figures are printed and
written to ``docs/results/autoregressive_learned_hamiltonian.inc`` unless ``--no-record``;
``--max-iter`` sets fewer optimizer steps for a short trial (use it with ``--no-record``)::

    python benchmarks/autoregressive_learned_hamiltonian.py [--max-iter N] [--no-record]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from _results import record

from skphys import AutoregressiveHamiltonian, PixelCNN
from skphys.datasets import make_ising
from skphys.lattice.exact import ising_energy, ising_log_z

L, T = 8, 2.5


def exact_flip_energy(X: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """Exact energy change of flipping ``sites[k]`` in configuration ``X[k]`` (J = 1)."""
    lattice = X.reshape(-1, L, L)
    neighbours = sum(np.roll(lattice, shift, axis) for shift in (1, -1) for axis in (1, 2))
    rows = np.arange(len(X))
    return 2.0 * X[rows, sites] * neighbours.reshape(len(X), -1)[rows, sites]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=20_000)
    parser.add_argument("--n-test", type=int, default=5_000)
    parser.add_argument("--max-iter", type=int, default=None,
                        help="optimizer steps (default: the estimator default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", dest="record", action="store_false",
                        help="print the figures only, without writing them to docs/results/")
    args = parser.parse_args()
    start = time.process_time()
    torch.set_num_threads(1)
    X, _ = make_ising((L, L), T, args.n_train + args.n_test, random_state=args.seed)
    X_train, X_test = X[: args.n_train], X[args.n_train:]
    n_sites = L * L
    entropy = (ising_log_z(L, T) + ising_energy(L, T) * n_sites / T) / n_sites
    rng = np.random.default_rng(args.seed)
    sites = rng.integers(n_sites, size=len(X_test))
    flipped = X_test.copy()
    flipped[np.arange(len(X_test)), sites] *= -1
    exact_dE = exact_flip_energy(X_test, sites)
    print(f"Ising {L}x{L}, T = {T}: {args.n_train} training and {args.n_test} held-out "
          f"configurations; exact entropy per spin {entropy:.5f}")
    rows = []
    for z2 in (False, True):
        params = {"theory": None, "lattice_shape": (L, L), "dof": "spin",
                  "network": PixelCNN(z2_mixture=z2), "random_state": args.seed,
                  "device": "cpu"}
        if args.max_iter is not None:
            params["max_iter"] = args.max_iter
        cpu = time.process_time()
        ah = AutoregressiveHamiltonian(**params).fit(X_train)
        cpu = time.process_time() - cpu
        learned_dE = ah.hamiltonian(flipped, temperature=T) - ah.hamiltonian(X_test,
                                                                             temperature=T)
        r = np.corrcoef(learned_dE, exact_dE)[0, 1]
        nll = -ah.score(X_test) / n_sites
        symmetry = ah.symmetry_score(X_test, "flip")
        print(f"z2_mixture={z2!s:5}: {ah.n_iter_} steps, {cpu:.0f} CPU s; flip-energy "
              f"correlation r = {r:.4f}; held-out NLL/spin = {nll:.5f} "
              f"({100 * (nll - entropy) / entropy:+.2f} % of the entropy); Z2 symmetry score "
              f"{symmetry:.4f}", flush=True)
        rows.append({"z2_symmetric": str(z2), "steps": ah.n_iter_, "CPU s": round(cpu),
                     "flip-energy correlation r": f"{r:.4f}",
                     "held-out NLL per spin": f"{nll:.5f}",
                     "NLL against the entropy": f"{100 * (nll - entropy) / entropy:+.2f} %",
                     "Z2 symmetry score": f"{symmetry:.4f}"})
    if args.record:
        record("autoregressive_learned_hamiltonian", "fits", pd.DataFrame(rows),
               cpu_seconds=time.process_time() - start,
               notes=f"Data: ``make_ising(({L}, {L}), {T})``, {args.n_train} training and "
                     f"{args.n_test} held-out configurations; exact entropy per spin "
                     f"{entropy:.5f} (Kaufman). CPU s of a row: its fit.")


if __name__ == "__main__":
    main()
