"""Pieces the subcommands share: choosing a theory from arguments, tables, safe output files."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
import torch

from .._io import atomic_write
from ..lattice import XY, ComplexPhi4, FreeScalar, Ising, IsingDual, LatticeTheory, Phi4
from ..lattice import observables as obs
from ..lattice.stats import mean_error

#: command-line name -> (theory class, the parameters it takes from the command line)
THEORY_CHOICES = {
    "phi4": (Phi4, ("m2", "lam")),
    "free": (FreeScalar, ("m2",)),
    "complex-phi4": (ComplexPhi4, ("t", "mu", "lam")),
    "xy": (XY, ("temperature",)),
    "ising": (Ising, ("temperature",)),
    "ising-dual": (IsingDual, ("temperature",)),
}


def add_theory_arguments(parser: argparse.ArgumentParser) -> None:
    """The THEORY positional argument, ``--shape`` and every theory parameter."""
    parser.add_argument("theory", choices=sorted(THEORY_CHOICES), metavar="THEORY",
                        help="one of: " + ", ".join(sorted(THEORY_CHOICES)))
    parser.add_argument("--shape", type=int, nargs="+", required=True, metavar="L",
                        help="lattice extents, e.g. --shape 8 8")
    group = parser.add_argument_group("theory parameters (those the theory takes)")
    group.add_argument("--m2", type=float, help="mass squared (phi4, free)")
    group.add_argument("--lam", type=float, help="quartic coupling (phi4, complex-phi4)")
    group.add_argument("--t", type=float, help="hopping (complex-phi4)")
    group.add_argument("--mu", type=float, help="on-site mass (complex-phi4)")
    group.add_argument("--temperature", "-T", type=float,
                       help="temperature (xy, ising, ising-dual)")


def theory_from_args(args: argparse.Namespace) -> LatticeTheory:
    """Build the theory; a missing or superfluous parameter is a ValueError naming it."""
    cls, names = THEORY_CHOICES[args.theory]
    values = {name: getattr(args, name) for name in names}
    missing = [f"--{n}" for n, v in values.items() if v is None]
    if missing:
        raise ValueError(f"theory {args.theory!r} needs {', '.join(missing)}")
    extra = [f"--{n}" for n in ("m2", "lam", "t", "mu", "temperature")
             if n not in names and getattr(args, n) is not None]
    if extra:
        raise ValueError(f"theory {args.theory!r} does not take {', '.join(extra)}")
    return cls(tuple(args.shape), **values)


def format_table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """Plain aligned text table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def save_npz(path, **arrays) -> None:
    """Write ``arrays`` to the ``.npz`` file ``path`` atomically."""
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def observables_for(theory: LatticeTheory) -> dict:
    """Per-configuration observables printed for ``theory``: name -> function of rows."""
    table = {"energy_per_site": lambda x: obs.energy_per_site(theory, x)}
    if isinstance(theory, XY):
        table["vortex_density"] = lambda x: obs.vortex_density(x, theory.shape)
    elif isinstance(theory, IsingDual):
        table["ising_energy_per_site"] = lambda x: theory.ising_energy(x) / theory.n_sites
        table["ising_m2"] = theory.ising_magnetization_sq
    elif isinstance(theory, ComplexPhi4):
        table["abs_m"] = obs.complex_magnetization
    else:
        table["abs_m"] = obs.abs_magnetization
        table["m2"] = lambda x: obs.magnetization(x) ** 2
        if theory.field_type == "real":
            table["chi2"] = obs.two_point_susceptibility
    return table


def observable_rows(theory: LatticeTheory, chains: torch.Tensor):
    """Table rows ``(name, "mean +- error", tau_int)`` and the per-configuration series.

    ``chains`` has shape ``(n_chains, n_samples, n_features)``; errors are tau_int-corrected
    (Gamma method over the chains).
    """
    n_chains, n_samples = chains.shape[:2]
    rows, values = [], {}
    for label, fn in observables_for(theory).items():
        series = fn(chains.reshape(n_chains * n_samples, -1)).reshape(n_chains, n_samples)
        series = series.detach().cpu().numpy()
        values[label] = series
        mean, err, tau = mean_error(series)
        rows.append((label, f"{mean:.6g} +- {err:.2g}", f"{tau:.2f}"))
    return rows, values
