"""``skphys van``: variational autoregressive network for a spin model, free energy vs exact."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .._autoregressive_hamiltonian import AutoregressiveHamiltonian
from ..architectures import MADE, PixelCNN
from ..lattice import XY, Ising
from ..lattice.exact import ising_log_z
from ._common import add_theory_arguments, theory_from_args

_NETWORKS = {"pixelcnn": PixelCNN, "made": MADE}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "van",
        help="train a variational autoregressive network on a spin model, print free energies",
        description="Train an AutoregressiveHamiltonian by minimizing the variational free "
        "energy F_q = E_q[E + T ln q] (VAN, progress bar), then print F_q and the importance-"
        "sampled estimate of F per site with their errors and the ESS on fresh samples, and "
        "Kaufman's exact F for the square Ising lattice.",
        epilog="example: skphys van ising --shape 8 8 --temperature 2.27",
    )
    add_theory_arguments(parser)
    parser.add_argument("--network", choices=sorted(_NETWORKS), default="pixelcnn",
                        help="pixelcnn (masked convolutions, 1-D and 2-D lattices) or made "
                        "(masked dense layers); default pixelcnn")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="training steps (default: the estimator default)")
    parser.add_argument("-n", "--n-samples", type=int, default=10_000,
                        help="fresh samples for the free-energy estimates (default 10000)")
    parser.add_argument("-o", "--output", help="save the trained model to this .pt file")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    theory = theory_from_args(args)
    if not isinstance(theory, (Ising, XY)):
        raise ValueError(f"van needs a spin model (ising or xy), got {args.theory!r}")
    if args.output and Path(args.output).suffix != ".pt":
        raise ValueError(f"-o must name a .pt file, got {args.output!r}")
    options = {"network": _NETWORKS[args.network](), "random_state": args.seed,
               "device": args.device, "verbose": 0 if args.quiet else 1}
    if args.max_iter is not None:
        options["max_iter"] = args.max_iter
    model = AutoregressiveHamiltonian(theory, **options)
    print(f"training {args.network} VAN on {theory!r}")
    start = time.perf_counter()
    model.fit()
    print(f"trained {model.n_iter_} steps in {time.perf_counter() - start:.1f} s")
    result = model.free_energy(args.n_samples)  # per site
    print(f"on {args.n_samples} fresh samples (ESS/N {result['ess']:.3f}):")
    print(f"  variational F_q/N = {result['free_energy']:.6f} +- "
          f"{result['free_energy_err']:.6f}")
    print(f"  importance-sampled F/N = {result['free_energy_nis']:.6f} +- "
          f"{result['free_energy_nis_err']:.6f}")
    shape = theory.shape
    if isinstance(theory, Ising) and len(shape) == 2 and shape[0] == shape[1]:
        exact = -theory.temperature * ising_log_z(shape[0], theory.temperature) / theory.n_sites
        rel = (result["free_energy"] - exact) / abs(exact)
        print(f"  exact F/N (Kaufman) = {exact:.6f}; relative error of F_q {rel:.2e}")
    if args.output:
        model.save(args.output)
        print(f"saved the model to {args.output}")
    return 0
