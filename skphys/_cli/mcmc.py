"""``skphys mcmc``: run a reference Monte Carlo sampler and print observables with errors."""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

from ._common import (
    THEORIES,
    CLIError,
    add_common_arguments,
    add_theory_arguments,
    build_theory,
    chain_warning,
    check_count,
    check_memory,
    check_output,
    check_seed,
    observable_table,
    print_warning,
    resolve_device,
    save_npz,
)

#: sampler -> the theories it samples
SAMPLER_THEORIES = {
    "hmc": [t for t in THEORIES if t != "ising"],
    "metropolis": [t for t in THEORIES if t != "ising-dual"],
    "wolff": ["ising", "xy"],
}

EXAMPLES = """\
examples (a few seconds each on one core, most of it importing torch):

  skphys mcmc phi4 --shape 8 8 --m2 -4 --lam 8 -n 2000 -o phi4.npz
  skphys mcmc ising --shape 8 8 -T 2.269 -n 10000     # against Kaufman's exact values
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "mcmc",
        help="run a reference Monte Carlo sampler (HMC, Metropolis, Wolff)",
        description="Sample a lattice theory with reference Markov chains, print observables "
        "with autocorrelation-corrected errors and tau_int (Wolff's Gamma method over the "
        "chains), next to the exact values and pulls for the square Ising model, and save the "
        "samples. A warning says when the chain cannot support its error bars (it hardly "
        "moved, visited few states, or is too short for its autocorrelation time).",
        epilog=EXAMPLES,
    )
    add_theory_arguments(parser, list(THEORIES))
    parser.add_argument("-n", "--n-samples", type=int, required=True,
                        help="number of samples to keep, over all chains (>= 2)")
    parser.add_argument("-o", "--output",
                        help="write samples and metadata to this .npz file (default: not saved)")
    parser.add_argument("--sampler", choices=["auto", *SAMPLER_THEORIES], default="auto",
                        help="auto is wolff for ising and xy, hmc otherwise; metropolis "
                        "needs even extents and no ising-dual")
    parser.add_argument("--chains", type=int, default=16,
                        help="parallel chains (at most n/2, so that each keeps two samples)")
    parser.add_argument("--burnin", type=int, default=500,
                        help="updates per chain discarded first (HMC and Metropolis tune their "
                        "step size there)")
    parser.add_argument("--thin", type=int, default=1, help="updates between kept samples")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64",
                        help="floating-point type of the chains")
    add_common_arguments(parser)
    parser.set_defaults(func=run)


def _default_sampler(theory_name: str) -> str:
    return "wolff" if theory_name in ("ising", "xy") else "hmc"


def run(args: argparse.Namespace) -> int:
    # -- every check before any work --------------------------------------------------------
    theory = build_theory(args)
    name = _default_sampler(args.theory) if args.sampler == "auto" else args.sampler
    if args.theory not in SAMPLER_THEORIES[name]:
        others = [s for s, ts in SAMPLER_THEORIES.items() if args.theory in ts]
        raise CLIError(f"--sampler {name} cannot sample {args.theory} (use "
                       f"{' or '.join(others)})")
    if name == "metropolis" and any(n % 2 for n in args.shape):
        raise CLIError("--sampler metropolis (checkerboard) needs every --shape extent even, "
                       f"got {' '.join(map(str, args.shape))}")
    n = check_count("-n", args.n_samples, 2)
    check_count("--chains", args.chains, 1)
    check_count("--burnin", args.burnin, 0)
    check_count("--thin", args.thin, 1)
    check_seed(args.seed)
    check_output(args.output, ".npz")
    # every chain keeps at least two samples, so that tau_int can be estimated
    n_chains = min(args.chains, n // 2)
    n_per_chain = math.ceil(n / n_chains)
    itemsize = 4 if args.dtype == "float32" else 8
    check_memory(3 * itemsize * n_chains * n_per_chain * theory.n_features,
                 f"{n_chains} chains x {n_per_chain} samples x {theory.n_features} values",
                 args.max_memory)
    device = resolve_device(args.device)

    # -- the work -----------------------------------------------------------------------------
    import numpy as np
    import torch

    from ..lattice._mcmc_result import ChainQualityWarning
    from ..lattice.mcmc import hmc, metropolis, wolff

    samplers: dict[str, Callable[..., Any]] = {"hmc": hmc, "metropolis": metropolis,
                                               "wolff": wolff}
    sampler = samplers[name]
    generator = torch.Generator(device=device).manual_seed(args.seed)
    print(f"{theory!r}: {name}, {n_chains} chains x {n_per_chain} samples on {device}")
    start = time.perf_counter()
    with warnings.catch_warnings():  # the table below checks the chains and says why
        warnings.simplefilter("ignore", ChainQualityWarning)
        result = sampler(theory, n_per_chain, n_chains=n_chains, n_burnin=args.burnin,
                         thin=args.thin, generator=generator, device=device,
                         dtype=getattr(torch, args.dtype), progress=not args.quiet)
    total = time.perf_counter() - start

    table = observable_table(theory, result.samples)
    print(table.text)
    step = f", step size {result.step_size:.4g}" if result.step_size is not None else ""
    print(f"acceptance {result.acceptance:.3f}{step}; production {result.wall_time:.2f} s "
          f"({total:.2f} s with burn-in)")
    warning = chain_warning(table.problems, "use a longer chain (-n) or more burn-in "
                            "(--burnin)")
    if warning:
        print_warning(warning)
    if args.output:
        X = result.flat()[:n].cpu().numpy()
        chain = np.repeat(np.arange(result.n_chains), result.n_samples)[:n]
        save_npz(
            args.output,
            X=X,
            chain=chain,
            theory=repr(theory),
            sampler=name,
            acceptance=result.acceptance,
            **{f"obs_{k}": v for k, v in table.values.items()},
        )
        print(f"saved {X.shape[0]} samples to {args.output}")
    return 0
