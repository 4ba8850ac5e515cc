"""``skphys sample``: train a FlowSampler on a theory, then sample it exactly."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from .._flow_sampler import FlowSampler
from ..architectures import ContinuousFlow, CouplingFlow
from ..lattice.mcmc import hmc
from ._common import (
    add_theory_arguments,
    format_table,
    observable_rows,
    save_npz,
    theory_from_args,
)
from ._flow_training import (
    add_flow_training_arguments,
    check_flow_arguments,
    fit_and_diagnose,
    flow_training_options,
)

#: --flow value -> the architecture object (with its defaults)
FLOWS = {"coupling": CouplingFlow, "continuous": ContinuousFlow}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="train a normalizing flow on a theory and draw exact samples",
        description="Train a FlowSampler by reverse KL from the theory's action (progress bar), "
        "print ESS and Metropolis-Hastings acceptance on fresh samples and observables with "
        "tau_int-corrected errors from an independence Metropolis-Hastings chain, and save the "
        "samples and the model (load it with skphys.load).",
        epilog="example: skphys sample phi4 --shape 8 8 --m2 -4 --lam 8 -n 10000 -o out.npz",
    )
    add_theory_arguments(parser)
    add_flow_training_arguments(parser)
    parser.add_argument("--flow", choices=sorted(FLOWS), default="coupling",
                        help="the flow architecture: coupling (CouplingFlow, default) or "
                        "continuous (ContinuousFlow)")
    parser.add_argument("--check", action="store_true",
                        help="also run the reference HMC and print its values")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    theory = theory_from_args(args)
    check_flow_arguments(args, theory)
    sampler = FlowSampler(theory, flow=FLOWS[args.flow](), **flow_training_options(args))
    diag = fit_and_diagnose(sampler, f"{args.flow} flow")
    X = sampler.sample(args.n_samples, method="mh")
    print("independence Metropolis-Hastings chain of", args.n_samples, "states:")
    rows, _ = observable_rows(theory, torch.as_tensor(X, dtype=torch.float64)[None])
    print(format_table(rows, ("observable", "mean +- error", "tau_int")))
    if args.check:
        n_chains = 16
        reference = hmc(theory, math.ceil(args.n_samples / n_chains), n_chains=n_chains,
                        generator=torch.Generator().manual_seed(args.seed))
        print(f"reference HMC (acceptance {reference.acceptance:.3f}):")
        rows, _ = observable_rows(theory, reference.samples)
        print(format_table(rows, ("observable", "mean +- error", "tau_int")))
    if args.output:
        model_path = Path(args.output).with_suffix(".pt")
        save_npz(args.output, X=X, theory=repr(theory), ess=diag["ess"],
                 acceptance=diag["acceptance"])
        sampler.save(model_path)
        print(f"saved {len(X)} samples to {args.output} and the model to {model_path}")
    return 0
