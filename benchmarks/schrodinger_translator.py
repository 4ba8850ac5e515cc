"""Acceptance figures of PhysicsTranslator and BottleneckDistiller (issues 6 and 23).

Run with ``python benchmarks/schrodinger_translator.py [options]``; ``--help`` lists them.

* ``defaults`` (issue 23) measures the estimators exactly as a user gets them:
  ``PhysicsTranslator(random_state=0).fit(V, rho)`` on ``--n-train`` smooth potentials of 100
  sites from :func:`skphys.datasets.make_schrodinger_1d`, one translator per spacing a in
  ``--spacings`` (0.05, 0.08, 0.1, 0.15, 0.2), each with its own data seeds. Figures: the
  median relative L2 error of the density on 500 held-out smooth potentials of 60, 100 and
  150 sites (target: <= 2 % for each), the CPU seconds of the fit, and the law report of
  ``BottleneckDistiller(translator, random_state=0).fit(V)`` on the training potentials
  (target: R^2 >= 0.98 of det(M - 1) against V at d = 2, the default latent_dim).

The other parts use the estimators' defaults too, unless an option overrides one
(``--cell``, ``--translator-iter``, ``--lbfgs-iter``, ``--learning-rate``,
``--translator-dtype``, ``--distiller-iter``). Regime: potentials of
:func:`skphys.datasets.make_schrodinger_1d` at spacing a = 0.1 in the gauge V - E0; training
on ``--n-train`` systems of 100 sites, testing on 500 held-out systems of 100 sites and of 200
sites (the generator keeps each family's shape in units of the box length, so the longer
systems are shallower per site; see its docstring). ``--parts`` selects what runs
(each part prints its own CPU and wall time):

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

The default translator is the multiplicative cell with a two-dimensional state in float64, the
size of the exact transfer matrix, trained by Adam on windows and refined by L-BFGS on whole
sequences (``lbfgs_iter``): the forward recursion amplifies errors of its step matrix
exponentially along the system (deep wells need its trace to many digits), a precision
stochastic steps alone do not reach. On the deep family itself Adam ends in a wrong basin (the
loss is exponentially ill-conditioned there); a translator trained on a well-conditioned family
has learned the law, which holds for every potential, and is the one to use on deep wells.
Everything runs on
``--threads`` CPU threads (default 1); times are CPU seconds (``time.process_time``), with the
wall time beside them. Each part's figures are printed and written to
``docs/results/schrodinger_translator.inc`` unless ``--no-record``. ``--quick`` runs the
pipeline end to end with small settings; its figures are far from converged and are never
recorded.
"""

import argparse
import time

import numpy as np
import pandas as pd
import torch
from _results import record

from skphys import Adam, BottleneckDistiller, PhysicsTranslator, scan_latent_dim
from skphys.architectures import GRUCell, LSTMCell, MultiplicativeCell, RNNCell
from skphys.datasets import make_schrodinger_1d

SPACING = 0.1
SPACINGS = (0.05, 0.08, 0.1, 0.15, 0.2)
TEST_SITES = (60, 100, 150)
PARTS = ("defaults", "translator", "distiller", "law", "alternative")
CELLS = {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell, "multiplicative": MultiplicativeCell}


def translator_params(args) -> dict:
    """The settings the options override (none: the estimator's defaults)."""
    params = {}
    if args.cell is not None:
        params["cell"] = CELLS[args.cell](hidden_channels=args.hidden_channels)
    if args.translator_iter is not None:
        params["max_iter"] = args.translator_iter
    if args.lbfgs_iter is not None:
        params["lbfgs_iter"] = args.lbfgs_iter
    if args.learning_rate is not None:
        params["optimizer"] = Adam(args.learning_rate, clip_grad_norm=1.0)
    if args.translator_dtype is not None:
        params["dtype"] = args.translator_dtype
    return params


def train_translator(kind: str, args) -> tuple[PhysicsTranslator, np.ndarray]:
    V, rho = make_schrodinger_1d(args.n_train, 100, kind, SPACING, random_state=0)
    tr = PhysicsTranslator(random_state=0, **translator_params(args)).fit(V, rho)
    return tr, V


class Timer:
    """CPU and wall seconds since it was made."""

    def __init__(self) -> None:
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def cpu_seconds(self) -> float:
        return time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.cpu_seconds():.0f} CPU s, {time.perf_counter() - self.wall:.0f} s wall"


def print_scan(title: str, scan, timer: Timer) -> None:
    print(f"\n{title} ({timer})")
    print(scan.to_string(float_format="{:.3e}".format), flush=True)


def scan_table(scan: pd.DataFrame) -> pd.DataFrame:
    """The losses of a latent-dimension scan as strings, ``latent_dim`` as first column."""
    return scan.apply(lambda column: column.map("{:.3e}".format)).reset_index()


def measure_defaults(args, save) -> None:
    """The acceptance figures of issue 23, with the estimators' defaults only."""
    part_timer, rows = Timer(), []
    print(f"defaults: PhysicsTranslator(random_state=0) on {args.n_train} smooth systems of "
          f"100 sites per spacing; median relative L2 error of the density on 500 held-out "
          f"systems of {', '.join(map(str, TEST_SITES))} sites (target <= 2 %); "
          f"BottleneckDistiller(tr, random_state=0) law R^2 (target >= 0.98)", flush=True)
    for k, spacing in enumerate(args.spacings):
        V, rho = make_schrodinger_1d(args.n_train, 100, "smooth", spacing, random_state=10 * k)
        fit_timer = Timer()
        tr = PhysicsTranslator(random_state=0, **translator_params(args)).fit(V, rho)
        fit_seconds = fit_timer.cpu_seconds()
        errors = [np.median(tr.relative_error(*make_schrodinger_1d(
            500, n_sites, "smooth", spacing, random_state=10 * k + 1 + i)))
            for i, n_sites in enumerate(TEST_SITES)]
        distill_timer = Timer()
        distiller_params = {} if args.distiller_iter is None else {"max_iter": args.distiller_iter}
        ds = BottleneckDistiller(tr, random_state=0, **distiller_params).fit(V)
        law = ds.law_report(spacing=spacing).iloc[0]
        distill_seconds = distill_timer.cpu_seconds()
        row = {"a": f"{spacing:g}"}
        row.update({f"error, {n} sites": f"{e:.3%}" for n, e in zip(TEST_SITES, errors)})
        row.update({"translator fit CPU s": round(fit_seconds),
                    "law R²": f"{law['r2']:.4f}",
                    "law slope / (−a²)": f"{law['slope'] / -spacing**2:.4f}",
                    "distiller fit CPU s": round(distill_seconds)})
        rows.append(row)
        print("  ".join(f"{key}: {value}" for key, value in row.items()), flush=True)
    table = pd.DataFrame(rows)
    worst = max(float(value.rstrip("%")) for row in rows for key, value in row.items()
                if key.startswith("error"))
    r2 = min(float(row["law R²"]) for row in rows)
    verdict = (f"worst median error {worst:.3f} % (target <= 2 %), lowest law R² {r2:.4f} "
               f"(target >= 0.98)")
    print(verdict, flush=True)
    overrides = ", ".join(f"{key}={value!r}" for key, value in translator_params(args).items())
    if overrides or args.distiller_iter is not None:
        print("(options override defaults: not recorded)")
        return
    save("defaults", table, part_timer,
         f"Defaults only: ``PhysicsTranslator(random_state=0).fit(V, rho)`` on "
         f"{args.n_train} smooth potentials of 100 sites "
         f"(``make_schrodinger_1d(n_samples={args.n_train}, n_sites=100, kind=\"smooth\", "
         f"spacing=a)``), one translator per spacing; errors: median relative L2 error of the "
         f"density on 500 held-out smooth potentials of each length; law: "
         f"``BottleneckDistiller(translator, random_state=0).fit(V)`` on the training "
         f"potentials, ``law_report(spacing=a)`` (d = 2, the default). {verdict}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--kinds", nargs="+", default=["smooth", "deep", "rough"])
    parser.add_argument("--spacings", nargs="+", type=float, default=list(SPACINGS),
                        help="spacings of the defaults part")
    parser.add_argument("--cell", choices=list(CELLS),
                        help="the translator's cell (default: the estimator's)")
    parser.add_argument("--hidden-channels", type=int, default=2, help="with --cell")
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--translator-iter", type=int,
                        help="Adam steps of the translator (default: the estimator's)")
    parser.add_argument("--lbfgs-iter", type=int,
                        help="L-BFGS iterations of the translator after the Adam steps "
                             "(default: the estimator's)")
    parser.add_argument("--learning-rate", type=float,
                        help="the translator's Adam learning rate (default: the estimator's)")
    parser.add_argument("--translator-dtype", choices=["float32", "float64"],
                        help="default: the estimator's")
    parser.add_argument("--n-distill", type=int, default=1000,
                        help="potentials the distillers see (3-fold cross-validation)")
    parser.add_argument("--distiller-iter", type=int,
                        help="steps per distiller (default: the estimator's)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="small settings: the pipeline end to end (never recorded)")
    parser.add_argument("--no-record", dest="record", action="store_false",
                        help="print the figures only, without writing them to docs/results/")
    args = parser.parse_args()
    if args.quick:
        args.kinds, args.n_train, args.n_distill, args.seeds = args.kinds[:1], 300, 150, 1
        args.translator_iter, args.lbfgs_iter, args.distiller_iter = 200, 5, 100
        args.spacings = args.spacings[:2]
        args.record = False
    torch.set_num_threads(args.threads)
    overrides = ", ".join(f"{key}={value!r}" for key, value in translator_params(args).items())
    settings = (f"``PhysicsTranslator({overrides or 'random_state=0'})``"
                f"{' (random_state=0)' if overrides else ''}, {args.n_train} training systems "
                f"of 100 sites at a = {SPACING}")

    def save(part: str, figures, timer: Timer, notes: str) -> None:
        if args.record:
            record("schrodinger_translator", part, figures, cpu_seconds=timer.cpu_seconds(),
                   notes=notes)

    if "defaults" in args.parts:
        measure_defaults(args, save)
    if set(args.parts) <= {"defaults"}:
        return

    translators = {}
    if "translator" in args.parts:
        part_timer, rows = Timer(), []
        tests = {kind: [make_schrodinger_1d(500, n_sites, kind, SPACING, random_state=seed)
                        for n_sites, seed in ((100, 1), (200, 2))] for kind in args.kinds}
        print("median relative L2 error of the density on 500 held-out systems, 100 / 200 sites"
              f" (cell={args.cell or 'default'}); law: slope of tr W(V) in V over a^2 (exact 1)")
        for kind in args.kinds:
            timer = Timer()
            tr, V = translators[kind] = train_translator(kind, args)
            medians = {test: " / ".join(f"{np.median(tr.relative_error(*data)):.3%}"
                                        for data in pairs)
                       for test, pairs in tests.items()}
            errors = "  ".join(f"{test}: {value}" for test, value in medians.items())
            row = {"trained on": kind}
            row.update({f"{test}, 100 / 200 sites": value for test, value in medians.items()})
            law = ""
            if isinstance(tr.cell, MultiplicativeCell):
                slope = float(tr.module_.core.weight_v.detach().trace()) / tr.v_scale_
                law = f"  law {slope / SPACING**2:.6f}"
                row["law (slope of tr W(V) / a², exact 1)"] = f"{slope / SPACING**2:.6f}"
            row["CPU s"] = round(timer.cpu_seconds())
            rows.append(row)
            print(f"trained on {kind:7s} -> {errors}{law}  ({timer})", flush=True)
        save("translator", pd.DataFrame(rows), part_timer,
             f"Median relative L2 error of the density on 500 held-out systems per family; "
             f"{settings}. CPU s of a row: its training and testing.")
    if set(args.parts) <= {"defaults", "translator"}:
        return

    kind = args.kinds[0]
    tr, V = translators.get(kind) or train_translator(kind, args)
    V = V[:args.n_distill]
    common = {} if args.distiller_iter is None else {"max_iter": args.distiller_iter}
    seeds = range(args.seeds)
    steps = ("default steps" if args.distiller_iter is None
             else f"{args.distiller_iter} steps")
    distilled = (f"on the {kind} family's translator, {len(V)} potentials, "
                 f"{steps} per distiller")
    if "distiller" in args.parts:
        timer = Timer()
        scan = scan_latent_dim(BottleneckDistiller(tr, **common), V, [1, 2, 3, 4],
                               random_states=seeds, cv=3)
        print_scan(f"{kind}: distiller reconstruction loss vs latent_dim ({args.seeds} seed(s) "
                   f"x 3 folds)", scan, timer)
        loss = scan["test_loss"]
        ratios = (f"loss(1)/loss(2) = {loss[1] / loss[2]:.1f} (>= 10), "
                  f"loss(2)/loss(4) = {loss[2] / loss[4]:.2f} (<= 2); chosen latent_dim "
                  f"{scan.attrs['latent_dim']}, monotone: {scan.attrs['monotone']}")
        print(ratios, flush=True)
        save("distiller", scan_table(scan), timer,
             f"{args.seeds} seed(s) × 3 folds {distilled}. {ratios}.")
    if "law" in args.parts:
        timer = Timer()
        ds = BottleneckDistiller(tr, latent_dim=2, random_state=0, **common).fit(V)
        report = ds.law_report(spacing=SPACING)
        print(f"\nd = 2 law: det(M - 1) vs V (expected slope -a^2 = {-SPACING**2:.4f}; "
              f"{timer})")
        print(report.to_string(index=False, float_format="{:.4g}".format), flush=True)
        law_table = report.apply(lambda column: column.map(
            lambda x: f"{x:.4g}" if isinstance(x, float) else x))
        save("law", law_table, timer,
             f"Linear fit of det(M − 1) against V for a d = 2 distiller {distilled}; "
             f"expected slope −a² = {-SPACING**2:g}.")
    if "alternative" in args.parts:
        timer = Timer()
        scan = scan_latent_dim(BottleneckDistiller(tr, target="density", **common), V,
                               [1, 2, 3, 4], random_states=seeds, cv=3)
        print_scan(f"{kind}: alternative formulation (target='density') loss vs latent_dim "
                   f"({args.seeds} seed(s) x 3 folds)", scan, timer)
        loss = scan["test_loss"]
        print("loss ratios between consecutive d: "
              + ", ".join(f"{d}/{d + 1}: {loss[d] / loss[d + 1]:.2f}" for d in (1, 2, 3)))
        table = scan_table(scan)
        table["loss(d) / loss(d + 1)"] = [f"{loss[d] / loss[d + 1]:.2f}" if d + 1 in loss.index
                                          else "–" for d in scan.index]
        save("alternative", table, timer,
             f"``target=\"density\"``, {args.seeds} seed(s) × 3 folds {distilled}.")


if __name__ == "__main__":
    main()
