"""What the flow subcommands (``sample``, ``rg``) share: training options and the report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..lattice import XY, Ising, LatticeTheory


def add_flow_training_arguments(parser: argparse.ArgumentParser) -> None:
    """``-n``, ``-o``, ``--max-iter``, ``--batch-size``, ``--seed``, ``--device``, ``--quiet``."""
    parser.add_argument("-n", "--n-samples", type=int, required=True,
                        help="length of the Metropolis-Hastings chain to keep")
    parser.add_argument("-o", "--output", help="write the samples to this .npz file (and the "
                        "model next to it, same name with .pt)")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="training steps (default: the estimator default)")
    parser.add_argument("--batch-size", type=int, default=None, help="training batch size")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def check_flow_arguments(args: argparse.Namespace, theory: LatticeTheory) -> None:
    """Refuse discrete theories, too short chains and output names that are not ``.npz``."""
    if isinstance(theory, (Ising, XY)):
        raise ValueError(f"{args.theory} has discrete or compact variables: flows need a real "
                         "field (try ising-dual, phi4, free or complex-phi4)")
    if args.n_samples < 2:
        raise ValueError(f"-n must be an int >= 2, got {args.n_samples}")
    if args.output and Path(args.output).suffix != ".npz":
        raise ValueError(f"-o must name a .npz file, got {args.output!r}")


def flow_training_options(args: argparse.Namespace) -> dict:
    """Estimator parameters from the command line (unset ones keep the estimator defaults)."""
    options = {"random_state": args.seed, "device": args.device,
               "verbose": 0 if args.quiet else 1}
    if args.max_iter is not None:
        options["max_iter"] = args.max_iter
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    return options


def fit_and_diagnose(estimator, what: str) -> dict:
    """Train ``estimator`` from its theory, print the time and diagnostics on fresh samples."""
    print(f"training {what} on {estimator.theory!r}")
    start = time.perf_counter()
    estimator.fit()
    trained = time.perf_counter() - start
    diag = estimator.diagnose(8192)
    print(f"trained {estimator.n_iter_} steps in {trained:.1f} s; on 8192 fresh samples: "
          f"ESS/N {diag['ess']:.3f} +- {diag['ess_err']:.3f} (weight tail k "
          f"{diag['pareto_k']:.2f}{'' if diag['pareto_k'] < 0.5 else ': unreliable errors'}), "
          f"MH acceptance {diag['acceptance']:.3f}, KL {diag['kl']:.4f}, ln Z "
          f"{diag['log_z']:.4f} +- {diag['log_z_err']:.4f}")
    return diag
