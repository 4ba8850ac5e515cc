"""``skphys rg``: train an RG flow (NeuralRG) on a theory; exact samples and their bulk code."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .._rg_flow import RGFlow
from ..architectures import CouplingBlock, MERAFlow, ODEBlock
from ..lattice import ComplexPhi4, FreeScalar, IsingDual, LatticeTheory
from ..lattice.exact import complex_free_log_z, free_scalar_log_z, ising_dual_log_z
from ._common import add_theory_arguments, format_table, save_npz, theory_from_args
from ._flow_training import (
    add_flow_training_arguments,
    check_flow_arguments,
    fit_and_diagnose,
    flow_training_options,
)

#: --bijector value -> the block architecture object (with its defaults)
BLOCKS: dict[str, type[CouplingBlock] | type[ODEBlock]] = {
    "coupling": CouplingBlock, "ode": ODEBlock,
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "rg",
        help="train a hierarchical RG flow on a theory: exact samples and their bulk code",
        description="Train an RGFlow (a MERA-like hierarchy of block bijectors) by reverse KL "
        "from the theory's action (progress bar, 2^k lattices), print its diagnostics on fresh "
        "samples (and the exact ln Z where one is known), draw an independence "
        "Metropolis-Hastings chain, and print the variance of the bulk (latent) variables per "
        "RG level. Saves the samples, their bulk code and levels, and the model.",
        epilog="example: skphys rg ising-dual --shape 8 8 -T 2.269 -n 5000 -o rg.npz",
    )
    add_theory_arguments(parser)
    add_flow_training_arguments(parser)
    parser.add_argument("--bijector", choices=sorted(BLOCKS), default="coupling",
                        help="block bijector: coupling (CouplingBlock, default) or ode "
                        "(ODEBlock)")
    parser.add_argument("--depth", type=int, nargs="+", default=None,
                        help="disentangler-decimator pairs per level, or one count per level "
                        "(finest first); default MERAFlow's, 1")
    parser.add_argument("--fourier-layer", action="store_true",
                        help="end the flow with a learnable Gaussian layer diagonal in momentum "
                        "space (long-range correlations; lower KL, but no local causal cone)")
    parser.set_defaults(func=run)


def exact_log_z(theory: LatticeTheory) -> float | None:
    """ln Z where the library knows it exactly (free fields, the Ising dual), else None."""
    if isinstance(theory, FreeScalar):
        return free_scalar_log_z(theory.shape, theory.m2)
    if isinstance(theory, IsingDual):
        return ising_dual_log_z(theory.shape, theory.temperature)
    if isinstance(theory, ComplexPhi4) and theory.lam == 0:
        return complex_free_log_z(theory.shape, theory.mu, theory.t)
    return None


def run(args: argparse.Namespace) -> int:
    theory = theory_from_args(args)
    check_flow_arguments(args, theory)
    architecture = {"block": BLOCKS[args.bijector](), "fourier_layer": args.fourier_layer}
    if args.depth is not None:
        architecture["depth"] = args.depth[0] if len(args.depth) == 1 else tuple(args.depth)
    flow = RGFlow(theory, flow=MERAFlow(**architecture), **flow_training_options(args))
    diag = fit_and_diagnose(flow, f"{args.bijector} RG flow")
    exact = exact_log_z(theory)
    if exact is not None:
        mean_log_w = diag["log_z"] - diag["kl"]
        print(f"exact ln Z = {exact:.6f}; exact KL(q||p) = ln Z - E_q[log w] = "
              f"{exact - mean_log_w:.4f}")
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
