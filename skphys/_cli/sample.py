"""``skphys sample``: train a FlowSampler on a theory, then sample it exactly."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from .._flow_sampler import FlowSampler
from ..lattice import XY, Ising
from ..lattice.mcmc import hmc
from ._common import (
    add_theory_arguments,
    format_table,
    observable_rows,
    save_npz,
    theory_from_args,
)


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
    parser.add_argument("-n", "--n-samples", type=int, required=True,
                        help="length of the Metropolis-Hastings chain to keep")
    parser.add_argument("-o", "--output", help="write the samples to this .npz file (and the "
                        "model next to it, same name with .pt)")
    parser.add_argument("--flow", choices=["coupling", "continuous"], default="coupling")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="training steps (default: the FlowSampler default)")
    parser.add_argument("--batch-size", type=int, default=None, help="training batch size")
    parser.add_argument("--check", action="store_true",
                        help="also run the reference HMC and print its values")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    theory = theory_from_args(args)
    if isinstance(theory, (Ising, XY)):
        raise ValueError(f"{args.theory} has discrete or compact variables: flows need a real "
                         "field (try ising-dual, phi4, free or complex-phi4)")
    if args.n_samples < 2:
        raise ValueError(f"-n must be an int >= 2, got {args.n_samples}")
    if args.output and Path(args.output).suffix != ".npz":
        raise ValueError(f"-o must name a .npz file, got {args.output!r}")
    options = {"flow": args.flow, "random_state": args.seed, "device": args.device,
               "verbose": 0 if args.quiet else 1}
    if args.max_iter is not None:
        options["max_iter"] = args.max_iter
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    sampler = FlowSampler(theory, **options)
    print(f"training {args.flow} flow on {theory!r}")
    start = time.perf_counter()
    sampler.fit()
    trained = time.perf_counter() - start
    diag = sampler.diagnose(8192)
    print(f"trained {sampler.n_iter_} steps in {trained:.1f} s; on 8192 fresh samples: "
          f"ESS/N {diag['ess']:.3f} +- {diag['ess_err']:.3f}, MH acceptance "
          f"{diag['acceptance']:.3f}, KL {diag['kl']:.4f}, ln Z {diag['log_z']:.4f} +- "
          f"{diag['log_z_err']:.4f}")
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
