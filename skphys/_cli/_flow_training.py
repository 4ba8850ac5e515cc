"""What the training subcommands (``sample``, ``rg``, ``van``) share: options, the checks made
before training, and the diagnostics report."""

from __future__ import annotations

import argparse
import math
import time

from ._common import (
    CLIError,
    add_common_arguments,
    check_count,
    check_memory,
    check_seed,
    resolve_device,
)

#: bytes per value of a configuration kept per training-batch row for the gradient: a rough
#: upper figure for the default networks (activations of every layer), for the memory check
ACTIVATION_BYTES = 1024
#: fresh samples drawn by the diagnostics
N_DIAGNOSE = 8192

LOSS_HELP = {
    "flow": "The progress bar shows the loss, E_q[ln q(x) + S(x)] = KL(q||p) - ln Z in nats "
    "per configuration (S the action; it falls toward -ln Z, and its distance from -ln Z is "
    "the reverse KL), and ess, the effective sample size per sample (ESS/N, 1 is perfect) on a "
    "monitor batch every 50 steps.",
    "van": "The progress bar shows the loss, beta_t F_q = E_q[ln q(x) + beta_t E(x)] in nats "
    "per configuration at the annealed inverse temperature beta_t = (1 - 0.99^step) / T, and "
    "free_energy, F_q per site at that temperature.",
}


def format_pareto_k(k: float) -> str:
    """The Pareto k of the importance weights with its reading."""
    if math.isnan(k):
        return "n/a (too few weights)"
    from ..lattice.reliability import MAX_PARETO_K

    value = "<= 0" if k <= 0 else f"{k:.2f}"
    return f"{value} (> {MAX_PARETO_K}: unreliable)"


def add_training_arguments(parser: argparse.ArgumentParser, *, n_help: str, n_default=None,
                           n_min: int = 2, max_iter: int, batch_size: int) -> None:
    """``-n``, ``--max-iter``, ``--batch-size`` and the common options."""
    if n_default is None:
        parser.add_argument("-n", "--n-samples", type=int, required=True,
                            help=f"{n_help} (>= {n_min})")
    else:
        parser.add_argument("-n", "--n-samples", type=int, default=n_default,
                            help=f"{n_help} (>= {n_min})")
    parser.add_argument("--max-iter", type=int, default=max_iter,
                        help="training steps")
    parser.add_argument("--batch-size", type=int, default=batch_size,
                        help="configurations per training step")
    add_common_arguments(parser)


def check_training_arguments(args: argparse.Namespace, theory, *, n_min: int = 2) -> str:
    """Counts, seed, memory and device, before any work; returns the device to use."""
    check_count("-n", args.n_samples, n_min)
    check_count("--max-iter", args.max_iter, 1)
    check_count("--batch-size", args.batch_size, 1)
    check_seed(args.seed)
    n_values = theory.n_features
    n_rows = max(args.n_samples, N_DIAGNOSE)
    check_memory(3 * 8 * n_rows * n_values + ACTIVATION_BYTES * args.batch_size * n_values,
                 f"{n_rows} samples and a training batch of {args.batch_size} on "
                 f"{n_values} values", args.max_memory)
    resolve_device(args.device)
    return args.device


def estimator_options(args: argparse.Namespace) -> dict:
    """The estimator parameters the command line sets."""
    return {"max_iter": args.max_iter, "batch_size": args.batch_size,
            "random_state": args.seed, "device": args.device,
            "verbose": 0 if args.quiet else 1}


def preflight(estimator) -> None:
    """The estimator's own checks of its parameters and lattice, before any training."""
    try:
        estimator._validate_params()
        estimator._resolve_lattice_shape(None)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None


def train(estimator, what: str) -> float:
    """Fit ``estimator`` from its theory, printing what is trained; returns the seconds."""
    print(f"training {what} on {estimator.theory!r}: {estimator.max_iter} steps of "
          f"{estimator.batch_size} configurations")
    start = time.perf_counter()
    estimator.fit()
    seconds = time.perf_counter() - start
    print(f"trained {estimator.n_iter_} steps in {seconds:.1f} s")
    return seconds


def fit_and_diagnose(estimator, what: str) -> dict:
    """Train ``estimator`` from its theory, print the diagnostics on fresh samples (the
    library warns when they cannot be trusted)."""
    train(estimator, what)
    diag = estimator.diagnose(N_DIAGNOSE)
    k = diag["pareto_k"]
    print(f"diagnostics on {N_DIAGNOSE} fresh samples of the model:")
    print(f"  ESS/N {diag['ess']:.3f} +- {diag['ess_err']:.3f}  (effective sample size per "
          "sample of the importance weights; 1 = exact)")
    print(f"  independence Metropolis-Hastings acceptance {diag['acceptance']:.3f}")
    print(f"  Pareto k of the importance weights {format_pareto_k(k)}")
    print(f"  reverse KL(q||p) {diag['kl']:.4f} nats  (0 = the model is exact)")
    print(f"  ln Z {diag['log_z']:.4f} +- {diag['log_z_err']:.4f}  (importance-sampled)")
    return diag
