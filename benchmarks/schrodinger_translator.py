"""Acceptance figures of PhysicsTranslator and BottleneckDistiller (issue 6).

Run with ``python benchmarks/schrodinger_translator.py [options]``; ``--help`` lists them.
Regime: potentials of :func:`skphys.datasets.make_schrodinger_1d` at spacing a = 0.1 in the
gauge V - E0; training on ``--n-train`` systems of 100 sites, testing on 500 held-out systems of
100 sites and of 200 sites (the generator keeps each family's shape in units of the box length,
so the longer systems are shallower per site; see its docstring). ``--parts`` selects what runs
(each part prints its own wall time):

* ``translator``, per training family: the median relative L2 error of the predicted density
  on held-out systems of every family (targets: <= 2 % at 100 sites, <= 5 % at 200 sites), and
  the learned law: the slope of the trace of the step matrix in V against a^2 (exact: 1);
* ``distiller``, on the first family's translator: the cross-validated reconstruction loss
  against ``latent_dim`` averaged over ``--seeds`` (targets: loss(1)/loss(2) >= 10 and
  loss(2) <= 2 loss(4));
* ``law``: the law report of a d = 2 distiller (targets: R^2 >= 0.98 and slope within 15 % of
  -a^2);
* ``alternative``: the same scan with ``target="density"`` (the decoder reproduces the density,
  the step sees (V_i, V_{i+1})); the loss should level off from d = 3 on.

The translator is the multiplicative cell with a two-dimensional state in float64, the size of
the exact transfer matrix, trained by Adam on windows and refined by L-BFGS on whole sequences
(``lbfgs_iter``): the forward recursion amplifies errors of its step matrix exponentially along
the system (deep wells need its trace right to about 1e-7), a precision stochastic steps alone
do not reach. On the deep family itself Adam ends in a wrong basin (the loss is exponentially
ill-conditioned there); a translator trained on a well-conditioned family has learned the law,
which holds for every potential, and is the one to use on deep wells. Everything runs on
``--threads`` CPU threads (default 1). Times on one core: ``translator`` about 2.5 min per
family, ``distiller`` about 25 min (36 fits), ``law`` 30 s, ``alternative`` about 8 min per seed;
``--quick`` shows the pipeline in about half a minute (its figures are far from converged).
"""

import argparse
import time

import numpy as np
import torch

from skphys import BottleneckDistiller, PhysicsTranslator, scan_latent_dim
from skphys.datasets import make_schrodinger_1d

SPACING = 0.1
PARTS = ("translator", "distiller", "law", "alternative")


def train_translator(kind: str, args) -> tuple[PhysicsTranslator, np.ndarray]:
    V, rho = make_schrodinger_1d(args.n_train, 100, kind, SPACING, random_state=0)
    tr = PhysicsTranslator(hidden_size=args.hidden_size, window=50, cell=args.cell,
                           max_iter=args.translator_iter, lbfgs_iter=args.lbfgs_iter,
                           learning_rate=args.learning_rate,
                           dtype=args.translator_dtype, device="cpu",
                           random_state=0).fit(V, rho)
    return tr, V


def print_scan(title: str, scan, seconds: float) -> None:
    print(f"\n{title} ({seconds:.0f} s)")
    print(scan.to_string(float_format="{:.3e}".format), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--kinds", nargs="+", default=["smooth", "deep", "rough"])
    parser.add_argument("--cell", default="multiplicative",
                        choices=["rnn", "gru", "lstm", "multiplicative"])
    parser.add_argument("--hidden-size", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--translator-iter", type=int, default=5000, help="Adam steps")
    parser.add_argument("--lbfgs-iter", type=int, default=100,
                        help="L-BFGS iterations of the translator after the Adam steps")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--translator-dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--n-distill", type=int, default=1000,
                        help="potentials the distillers see (3-fold cross-validation)")
    parser.add_argument("--distiller-iter", type=int, default=4000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="small settings: the pipeline end to end in about a minute")
    args = parser.parse_args()
    if args.quick:
        args.kinds, args.n_train, args.n_distill, args.seeds = args.kinds[:1], 500, 150, 1
        args.translator_iter, args.lbfgs_iter, args.distiller_iter = 200, 5, 100
    torch.set_num_threads(args.threads)

    translators = {}
    if "translator" in args.parts:
        tests = {kind: [make_schrodinger_1d(500, n_sites, kind, SPACING, random_state=seed)
                        for n_sites, seed in ((100, 1), (200, 2))] for kind in args.kinds}
        print("median relative L2 error of the density on 500 held-out systems, 100 / 200 sites"
              f" (cell={args.cell}); law: slope of tr W(V) in V over a^2 (exact 1)")
        for kind in args.kinds:
            start = time.perf_counter()
            tr, V = translators[kind] = train_translator(kind, args)
            errors = "  ".join(
                f"{test}: " + " / ".join(f"{np.median(tr.relative_error(*data)):.3%}"
                                         for data in pairs)
                for test, pairs in tests.items())
            law = ""
            if args.cell == "multiplicative":
                slope = float(tr.module_.core.weight_v.detach().trace()) / tr.v_scale_
                law = f"  law {slope / SPACING**2:.6f}"
            print(f"trained on {kind:7s} -> {errors}{law}  "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    if set(args.parts) == {"translator"}:
        return

    kind = args.kinds[0]
    tr, V = translators.get(kind) or train_translator(kind, args)
    V = V[:args.n_distill]
    common = dict(horizon=50, max_iter=args.distiller_iter, device="cpu")
    seeds = range(args.seeds)
    if "distiller" in args.parts:
        start = time.perf_counter()
        scan = scan_latent_dim(BottleneckDistiller(tr, **common), V, [1, 2, 3, 4],
                               random_states=seeds, cv=3)
        print_scan(f"{kind}: distiller reconstruction loss vs latent_dim ({args.seeds} seed(s) "
                   f"x 3 folds)", scan, time.perf_counter() - start)
        loss = scan["test_loss"]
        print(f"loss(1)/loss(2) = {loss[1] / loss[2]:.1f} (>= 10), "
              f"loss(2)/loss(4) = {loss[2] / loss[4]:.2f} (<= 2)", flush=True)
    if "law" in args.parts:
        start = time.perf_counter()
        ds = BottleneckDistiller(tr, latent_dim=2, random_state=0, **common).fit(V)
        report = ds.law_report(spacing=SPACING)
        print(f"\nd = 2 law: det(M - 1) vs V (expected slope -a^2 = {-SPACING**2:.4f}; "
              f"{time.perf_counter() - start:.0f} s)")
        print(report.to_string(index=False, float_format="{:.4g}".format), flush=True)
    if "alternative" in args.parts:
        start = time.perf_counter()
        scan = scan_latent_dim(BottleneckDistiller(tr, target="density", **common), V,
                               [1, 2, 3, 4], random_states=seeds, cv=3)
        print_scan(f"{kind}: alternative formulation (target='density') loss vs latent_dim "
                   f"({args.seeds} seed(s) x 3 folds)", scan, time.perf_counter() - start)
        loss = scan["test_loss"]
        print("loss ratios between consecutive d: "
              + ", ".join(f"{d}/{d + 1}: {loss[d] / loss[d + 1]:.2f}" for d in (1, 2, 3)))


if __name__ == "__main__":
    main()
