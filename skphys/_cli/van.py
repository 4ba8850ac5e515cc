"""``skphys van``: variational autoregressive network for a spin model, free energy vs exact."""

from __future__ import annotations

import argparse

from ._common import CLIError, add_theory_arguments, build_theory, check_output, format_pull
from ._flow_training import (
    LOSS_HELP,
    add_training_arguments,
    check_training_arguments,
    estimator_options,
    format_pareto_k,
    preflight,
    train,
)

#: --network value -> the name of the architecture class in skphys.architectures
NETWORKS = {"pixelcnn": "PixelCNN", "made": "MADE"}

EXAMPLES = """\
examples (times on one core):

  skphys van ising --shape 4 4 -T 2.27 --max-iter 300 -n 2000                # ~20 s
  skphys van ising --shape 8 8 -T 2.27 --max-iter 300 -n 5000 -o van.pt      # ~1.5 min

The estimator's default of 1300 steps (--max-iter) on 8 x 8 takes a few minutes and
narrows the variational gap F_q - F.
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "van",
        help="train a variational autoregressive network on a spin model, print free energies",
        description="Train an AutoregressiveHamiltonian by minimizing the variational free "
        "energy F_q = E_q[E + T ln q] (VAN), then print per site, on fresh samples: F_q, an "
        "upper bound on the free energy F whose error bar is statistical only (it does not "
        "cover the distance to F), the importance-sampled F, exact up to its error, with "
        "the ESS and the Pareto k of the importance weights, and Kaufman's exact F for the "
        "square Ising lattice. " + LOSS_HELP["van"],
        epilog=EXAMPLES,
    )
    add_theory_arguments(parser, ["ising", "xy"])
    add_training_arguments(parser, n_help="fresh samples for the free-energy estimates",
                           n_default=10_000, n_min=20, max_iter=1300, batch_size=256)
    parser.add_argument("-o", "--output",
                        help="save the trained model to this .pt file (default: not saved)")
    parser.add_argument("--network", choices=sorted(NETWORKS), default="pixelcnn",
                        help="pixelcnn (masked convolutions, 1-D and 2-D lattices) or made "
                        "(masked dense layers, any lattice)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # -- every check before any work --------------------------------------------------------
    theory = build_theory(args)
    check_training_arguments(args, theory, n_min=20)
    check_output(args.output, ".pt")
    if args.network == "pixelcnn" and len(args.shape) > 2:
        raise CLIError(f"--network pixelcnn needs a 1-D or 2-D lattice, got --shape "
                       f"{' '.join(map(str, args.shape))}: use --network made")

    from .. import architectures
    from .._autoregressive_hamiltonian import AutoregressiveHamiltonian

    model = AutoregressiveHamiltonian(theory, network=getattr(architectures,
                                                              NETWORKS[args.network])(),
                                      **estimator_options(args))
    preflight(model)

    # -- the work -----------------------------------------------------------------------------
    from ..lattice import Ising
    from ..lattice.exact import ising_log_z
    from ..lattice.stats import pareto_k

    train(model, f"a {args.network} VAN")
    result = model.free_energy(args.n_samples)  # per site
    print(f"on {args.n_samples} fresh samples (ESS/N {result['ess']:.3f}), per site:")
    print(f"  variational F_q/N = {result['free_energy']:.6f} +- "
          f"{result['free_energy_err']:.6f}  (an upper bound on F/N; the error is statistical "
          "only)")
    print(f"  importance-sampled F/N = {result['free_energy_nis']:.6f} +- "
          f"{result['free_energy_nis_err']:.6f}  (exact up to its error)")
    shape = theory.shape
    if isinstance(theory, Ising) and len(shape) == 2 and shape[0] == shape[1]:
        exact = float(-theory.temperature * ising_log_z(shape[0], theory.temperature)
                      / theory.n_sites)
        gap = result["free_energy"] - exact
        pull = format_pull(result["free_energy_nis"], exact, result["free_energy_nis_err"])
        print(f"  exact F/N (Kaufman) = {exact:.6f}: F_q/N - F/N = {gap:.2e} (the variational "
              f"gap, >= 0), importance-sampled pull {pull}")
    _, log_w = model.sample(args.n_samples, method="importance")
    print(f"Pareto k of the importance weights (on another {args.n_samples} fresh samples) "
          f"{format_pareto_k(pareto_k(log_w))}")
    if args.output:
        model.save(args.output)
        print(f"saved the model to {args.output}")
    return 0
