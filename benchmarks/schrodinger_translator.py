"""Acceptance figures of PhysicsTranslator and BottleneckDistiller (issue 6).

Run with ``python benchmarks/schrodinger_translator.py [options]``; ``--help`` lists them.
Regime: potentials of :func:`skphys.datasets.make_schrodinger_1d` at spacing a = 0.1 in the
gauge V - E0; training on ``--n-train`` systems of 100 sites, testing on 500 held-out systems of
100 sites and of 200 sites (the generator keeps each family's shape in units of the box length,
so the longer systems are shallower per site; see its docstring). Prints:

* per family: the median relative L2 error of the predicted density (targets: <= 2 % at 100
  sites, <= 5 % at 200 sites);
* for the first family: the distiller's cross-validated reconstruction loss against
  ``latent_dim`` averaged over ``--seeds`` (targets: loss(1)/loss(2) >= 10 and
  loss(2) <= 2 loss(4)) and the law report of a d = 2 distiller (targets: R^2 >= 0.98 and
  slope within 15 % of -a^2).

The defaults take tens of minutes on one CPU core; ``--quick`` shows the pipeline in about a
minute (its figures are far from converged).
"""

import argparse
import time

import numpy as np
import torch

from skphys import BottleneckDistiller, PhysicsTranslator, scan_latent_dim
from skphys.datasets import make_schrodinger_1d

SPACING = 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=["smooth", "deep", "rough"])
    parser.add_argument("--cell", default="multiplicative",
                        choices=["rnn", "gru", "lstm", "multiplicative"])
    parser.add_argument("--hidden-size", type=int, default=4)
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--translator-iter", type=int, default=5000)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--distiller-iter", type=int, default=1500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="small settings: the pipeline end to end in about a minute")
    args = parser.parse_args()
    if args.quick:
        args.kinds, args.n_train, args.seeds = args.kinds[:1], 500, 1
        args.translator_iter, args.distiller_iter = 200, 100
    torch.set_num_threads(args.threads)

    translators = {}
    for kind in args.kinds:
        start = time.perf_counter()
        V, rho = make_schrodinger_1d(args.n_train, 100, kind, SPACING, random_state=0)
        tr = PhysicsTranslator(hidden_size=args.hidden_size, window=50, cell=args.cell,
                               max_iter=args.translator_iter, learning_rate=args.learning_rate,
                               device="cpu", random_state=0).fit(V, rho)
        errors = []
        for n_sites, seed in ((100, 1), (200, 2)):
            V_test, rho_test = make_schrodinger_1d(500, n_sites, kind, SPACING, random_state=seed)
            errors.append(np.median(tr.relative_error(V_test, rho_test)))
        print(f"{kind:7s} cell={args.cell} median rel. L2 error: 100 sites {errors[0]:.2%}, "
              f"200 sites {errors[1]:.2%}  ({time.perf_counter() - start:.0f} s)", flush=True)
        translators[kind] = (tr, V)

    kind = args.kinds[0]
    tr, V = translators[kind]
    start = time.perf_counter()
    distiller = BottleneckDistiller(tr, horizon=50, max_iter=args.distiller_iter, device="cpu")
    scan = scan_latent_dim(distiller, V[:1000], [1, 2, 3, 4],
                           random_states=range(args.seeds), cv=3)
    print(f"\n{kind}: distiller reconstruction loss vs latent_dim "
          f"({args.seeds} seed(s) x 3 folds, {time.perf_counter() - start:.0f} s)")
    print(scan.to_string(float_format="{:.3e}".format))
    loss = scan["test_loss"]
    print(f"loss(1)/loss(2) = {loss[1] / loss[2]:.1f} (>= 10), "
          f"loss(2)/loss(4) = {loss[2] / loss[4]:.2f} (<= 2)")
    ds = BottleneckDistiller(tr, latent_dim=2, horizon=50, max_iter=args.distiller_iter,
                             device="cpu", random_state=0).fit(V[:1000])
    report = ds.law_report(spacing=SPACING)
    print(f"\nd = 2 law: det(M - 1) vs V (expected slope -a^2 = {-SPACING**2:.4f})")
    print(report.to_string(index=False, float_format="{:.4g}".format))


if __name__ == "__main__":
    main()
