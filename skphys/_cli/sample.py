"""``skphys sample``: train a FlowSampler on a theory, then sample it exactly."""

from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path

from ._common import (
    add_theory_arguments,
    build_theory,
    chain_warning,
    check_output,
    observable_table,
    print_warning,
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

#: the theories a flow samples: real (or complex) fields
FLOW_THEORIES = ["phi4", "free", "complex-phi4", "ising-dual"]
#: --flow value -> the name of the architecture class in skphys.architectures
FLOWS = {"coupling": "CouplingFlow", "continuous": "ContinuousFlow"}

EXAMPLES = """\
examples (times on one core):

  skphys sample free --shape 4 4 --m2 1 -n 2000 --max-iter 200 -o free.npz     # ~15 s
  skphys sample phi4 --shape 8 8 --m2 -4 --lam 8 -n 10000 -o out.npz --check  # ~1.5 min

The second saves the samples to out.npz and the model to out.pt (skphys.load("out.pt")).
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="train a normalizing flow on a theory and draw exact samples",
        description="Train a FlowSampler by reverse KL from the theory's action, print its "
        "diagnostics on fresh samples (ESS, Metropolis-Hastings acceptance, the Pareto k of "
        "the importance weights, the reverse KL in nats, ln Z) and the observables of an "
        "independence Metropolis-Hastings chain through its samples, exact up to their "
        "tau_int-corrected errors; save the samples and the model (load it with "
        "skphys.load). A warning says when the chain cannot support its error bars (an "
        "undertrained model: train longer). " + LOSS_HELP["flow"],
        epilog=EXAMPLES,
    )
    add_theory_arguments(parser, FLOW_THEORIES)
    add_training_arguments(parser, n_help="length of the Metropolis-Hastings chain to keep",
                           max_iter=1000, batch_size=64)
    parser.add_argument("-o", "--output", help="write the samples to this .npz file and the "
                        "model next to it, same name with .pt (default: not saved)")
    parser.add_argument("--flow", choices=sorted(FLOWS), default="coupling",
                        help="the flow architecture: coupling (CouplingFlow) or continuous "
                        "(ContinuousFlow)")
    parser.add_argument("--check", action="store_true",
                        help="also run the reference HMC (16 chains, 500 burn-in) and print "
                        "its values")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # -- every check before any work --------------------------------------------------------
    theory = build_theory(args)
    check_training_arguments(args, theory)
    check_output(args.output, ".npz", companion=".pt")

    from .. import architectures
    from .._flow_sampler import FlowSampler

    sampler = FlowSampler(theory, flow=getattr(architectures, FLOWS[args.flow])(),
                          **estimator_options(args))
    preflight(sampler)

    # -- the work -----------------------------------------------------------------------------
    import torch

    diag = fit_and_diagnose(sampler, f"a {args.flow} flow")
    X = sampler.sample(args.n_samples, method="mh")
    print(f"independence Metropolis-Hastings chain of {args.n_samples} states:")
    table = observable_table(theory, torch.as_tensor(X, dtype=torch.float64)[None])
    print(table.text)
    warning = chain_warning(table.problems, "train longer (--max-iter) or draw a longer "
                            "chain (-n)")
    if warning:
        print_warning(warning)
    if args.check:
        from ..lattice._mcmc_result import ChainQualityWarning
        from ..lattice.mcmc import hmc

        n_chains = 16
        with warnings.catch_warnings():  # the table below checks the chains and says why
            warnings.simplefilter("ignore", ChainQualityWarning)
            reference = hmc(theory, math.ceil(args.n_samples / n_chains), n_chains=n_chains,
                            generator=torch.Generator().manual_seed(args.seed))
        print(f"reference HMC (acceptance {reference.acceptance:.3f}):")
        table = observable_table(theory, reference.samples)
        print(table.text)
        warning = chain_warning(table.problems, "use a longer chain (-n)")
        if warning:
            print_warning("reference HMC: " + warning)
    if args.output:
        model_path = Path(args.output).with_suffix(".pt")
        save_npz(args.output, X=X, theory=repr(theory), ess=diag["ess"],
                 acceptance=diag["acceptance"])
        sampler.save(model_path)
        print(f"saved {len(X)} samples to {args.output} and the model to {model_path}")
    return 0
