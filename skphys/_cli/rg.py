"""``skphys rg``: train an RG flow (NeuralRG) on a theory; exact samples and their bulk code."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import (
    CLIError,
    add_theory_arguments,
    build_theory,
    check_output,
    check_shape,
    format_table,
    save_npz,
)
from ._flow_training import (
    LOSS_HELP,
    add_training_arguments,
    check_training_arguments,
    estimator_options,
    fit_and_diagnose,
    preflight,
)
from .sample import FLOW_THEORIES

#: --bijector value -> the name of the block class in skphys.architectures
BLOCKS = {"coupling": "CouplingBlock", "ode": "ODEBlock"}

EXAMPLES = """\
examples (times on one core):

  skphys rg free --shape 4 4 --m2 0.5 -n 1000 --max-iter 200 -o free.npz     # ~10 s
  skphys rg ising-dual --shape 8 8 -T 2.269 -n 5000 --max-iter 500 -o rg.npz  # ~60 s

The second is a short run: 500 of the default 4000 steps (about 8 CPU minutes) leave the
importance weights heavy-tailed, and the warnings say so.
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "rg",
        help="train a hierarchical RG flow on a theory: exact samples and their bulk code",
        description="Train an RGFlow (a MERA-like hierarchy of block bijectors) by reverse KL "
        "from the theory's action on a 2^k lattice, print its diagnostics on fresh samples "
        "(and the exact ln Z where one is known), draw an independence Metropolis-Hastings "
        "chain, and print the variance of the bulk (latent) variables per RG level. Saves the "
        "samples, their bulk code and levels, and the model. " + LOSS_HELP["flow"],
        epilog=EXAMPLES,
    )
    add_theory_arguments(parser, FLOW_THEORIES, shape_note="; powers of two here")
    add_training_arguments(parser, n_help="length of the Metropolis-Hastings chain to keep",
                           max_iter=4000, batch_size=64)
    parser.add_argument("-o", "--output", help="write the samples and their bulk code to this "
                        ".npz file and the model next to it, same name with .pt (default: not "
                        "saved)")
    parser.add_argument("--bijector", choices=sorted(BLOCKS), default="coupling",
                        help="block bijector: coupling (CouplingBlock) or ode (ODEBlock)")
    parser.add_argument("--depth", type=int, nargs="+", default=None,
                        help="disentangler-decimator pairs per level, or one count per level "
                        "(finest first) (default: MERAFlow's, 4 at the finest level and 1 above)")
    parser.add_argument("--fourier-layer", action=argparse.BooleanOptionalAction, default=None,
                        help="end the flow with a learnable Gaussian layer diagonal in momentum "
                        "space (long-range correlations; lower KL, but no local causal cone) "
                        "(default: MERAFlow's, on)")
    parser.set_defaults(func=run)


def exact_log_z(theory) -> float | None:
    """ln Z where the library knows it exactly (free fields, the Ising dual), else None."""
    from ..lattice import ComplexPhi4, FreeScalar, IsingDual
    from ..lattice.exact import complex_free_log_z, free_scalar_log_z, ising_dual_log_z

    if isinstance(theory, FreeScalar):
        return free_scalar_log_z(theory.shape, theory.m2)
    if isinstance(theory, IsingDual):
        return ising_dual_log_z(theory.shape, theory.temperature)
    if isinstance(theory, ComplexPhi4) and theory.lam == 0:
        return complex_free_log_z(theory.shape, theory.mu, theory.t)
    return None


def run(args: argparse.Namespace) -> int:
    # -- every check before any work --------------------------------------------------------
    check_shape(args.shape, power_of_two=True)
    theory = build_theory(args)
    check_training_arguments(args, theory)
    if args.depth is not None and min(args.depth) < 1:
        raise CLIError(f"--depth counts must be >= 1, got {' '.join(map(str, args.depth))}")
    check_output(args.output, ".npz", companion=".pt")

    from .. import architectures
    from .._rg_flow import RGFlow

    architecture = {"block": getattr(architectures, BLOCKS[args.bijector])()}
    if args.fourier_layer is not None:
        architecture["fourier_layer"] = args.fourier_layer
    if args.depth is not None:
        architecture["depth"] = args.depth[0] if len(args.depth) == 1 else tuple(args.depth)
    flow = RGFlow(theory, flow=architectures.MERAFlow(**architecture), **estimator_options(args))
    preflight(flow)

    # -- the work -----------------------------------------------------------------------------
    import numpy as np

    diag = fit_and_diagnose(flow, f"a {args.bijector} RG flow")
    exact = exact_log_z(theory)
    if exact is not None:
        mean_log_w = diag["log_z"] - diag["kl"]
        print(f"exact ln Z = {exact:.6f}; exact reverse KL(q||p) = ln Z - E_q[ln w] = "
              f"{exact - mean_log_w:.4f} nats")
    X = flow.sample(args.n_samples, method="mh")
    Z = flow.transform(X)
    levels = flow.levels_
    rows = [(str(level), str(int(np.sum(levels == level))),
             f"{np.mean(Z[:, levels == level] ** 2):.4f}") for level in np.unique(levels)]
    print(f"bulk code of an independence Metropolis-Hastings chain of {args.n_samples} states:")
    print(format_table(rows, ("RG level", "latents", "<z^2>")))
    if args.output:
        model_path = Path(args.output).with_suffix(".pt")
        save_npz(args.output, X=X, Z=Z, levels=levels, theory=repr(theory), ess=diag["ess"],
                 acceptance=diag["acceptance"])
        flow.save(model_path)
        print(f"saved {len(X)} samples and their bulk code to {args.output} and the model to "
              f"{model_path}")
    return 0
