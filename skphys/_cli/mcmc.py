"""``skphys mcmc``: run a reference Monte Carlo sampler and print observables with errors."""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..lattice import XY, Ising, LatticeTheory
from ..lattice.mcmc import MCMCResult, hmc, metropolis, wolff
from ._common import (
    add_theory_arguments,
    format_table,
    observable_rows,
    save_npz,
    theory_from_args,
)

SAMPLERS: dict[str, Callable[..., MCMCResult]] = {
    "hmc": hmc, "metropolis": metropolis, "wolff": wolff,
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "mcmc",
        help="run a reference Monte Carlo sampler (HMC, Metropolis, Wolff)",
        description="Sample a lattice theory with a reference Markov chain, print observables "
        "with autocorrelation-corrected errors and tau_int, and save the samples.",
        epilog="example: skphys mcmc phi4 --shape 8 8 --m2 -4 --lam 8 -n 2000 -o phi4.npz",
    )
    add_theory_arguments(parser)
    parser.add_argument("-n", "--n-samples", type=int, required=True,
                        help="number of samples to keep (over all chains)")
    parser.add_argument("-o", "--output", help="write samples and metadata to this .npz file")
    parser.add_argument("--sampler", choices=["auto", *SAMPLERS], default="auto",
                        help="auto: Wolff for ising and xy, HMC otherwise")
    parser.add_argument("--chains", type=int, default=16, help="parallel chains (default 16)")
    parser.add_argument("--burnin", type=int, default=500,
                        help="burn-in updates per chain, used to tune the step size (500)")
    parser.add_argument("--thin", type=int, default=1, help="updates between kept samples")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _default_sampler(theory: LatticeTheory) -> str:
    return "wolff" if isinstance(theory, (Ising, XY)) else "hmc"


def run(args: argparse.Namespace) -> int:
    theory = theory_from_args(args)
    name = _default_sampler(theory) if args.sampler == "auto" else args.sampler
    if args.n_samples < 2:
        raise ValueError(f"-n must be an int >= 2, got {args.n_samples}")
    if args.chains < 1:
        raise ValueError(f"--chains must be a positive int, got {args.chains}")
    if args.output and Path(args.output).suffix != ".npz":
        raise ValueError(f"-o must name a .npz file, got {args.output!r}")
    # every chain keeps at least two samples, so that tau_int can be estimated
    n_chains = min(args.chains, args.n_samples // 2)
    n_per_chain = math.ceil(args.n_samples / n_chains)
    device = torch.device(args.device)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    dtype = getattr(torch, args.dtype)
    kwargs = dict(n_chains=n_chains, n_burnin=args.burnin, thin=args.thin,
                  generator=generator, device=device, dtype=dtype, progress=not args.quiet)
    print(f"{theory!r}: {name}, {n_chains} chains x {n_per_chain} samples")
    start = time.perf_counter()
    result = SAMPLERS[name](theory, n_per_chain, **kwargs)
    total = time.perf_counter() - start

    rows, values = observable_rows(theory, result.samples)
    print(format_table(rows, ("observable", "mean +- error", "tau_int")))
    step = f", step size {result.step_size:.4g}" if result.step_size is not None else ""
    print(f"acceptance {result.acceptance:.3f}{step}; production {result.wall_time:.2f} s "
          f"({total:.2f} s with burn-in)")
    if args.output:
        X = result.flat()[: args.n_samples].cpu().numpy()
        chain = np.repeat(np.arange(result.n_chains), result.n_samples)[: args.n_samples]
        save_npz(
            args.output,
            X=X,
            chain=chain,
            theory=repr(theory),
            sampler=name,
            acceptance=result.acceptance,
            **{f"obs_{k}": v for k, v in values.items()},
        )
        print(f"saved {X.shape[0]} samples to {args.output}")
    return 0
