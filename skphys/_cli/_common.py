"""Pieces the subcommands share: theories from arguments, checks made before any work, tables
with chain-quality warnings, safe output files.

Nothing here imports torch (or the estimators) at module level: ``skphys --help`` must stay
fast. The functions that need torch import it when called.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class CLIError(Exception):
    """A user mistake found before (or instead of) the work: one line, exit code 2."""


# -- theories ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Parameter:
    """A theory parameter on the command line, with the range the command accepts."""

    flags: tuple[str, ...]
    meaning: str
    low: float
    high: float


#: theory parameter name -> its options. The ranges keep the samplers away from step sizes
#: that underflow (an HMC run at m2 = 1e300 never ends) and from overflowing 1/T.
PARAMETERS: dict[str, Parameter] = {
    "m2": Parameter(("--m2",), "mass squared m^2", -1e4, 1e4),
    "lam": Parameter(("--lam",), "quartic coupling lambda", 0.0, 1e4),
    "t": Parameter(("--t",), "hopping t", 0.0, 1e4),
    "mu": Parameter(("--mu",), "on-site mass mu", -1e4, 1e4),
    "temperature": Parameter(("-T", "--temperature"), "temperature T", 1e-3, 1e6),
}


@dataclass(frozen=True)
class TheorySpec:
    """A theory on the command line: its class (by name, imported on use) and parameters."""

    class_name: str
    parameters: tuple[str, ...]
    field_type: str  # "real", "complex", "spin" or "angle"
    summary: str


THEORIES: dict[str, TheorySpec] = {
    "phi4": TheorySpec("Phi4", ("m2", "lam"), "real", "real scalar phi^4"),
    "free": TheorySpec("FreeScalar", ("m2",), "real", "free real scalar (m^2 > 0)"),
    "complex-phi4": TheorySpec("ComplexPhi4", ("t", "mu", "lam"), "complex",
                               "complex scalar phi^4 with hopping"),
    "ising-dual": TheorySpec("IsingDual", ("temperature",), "real",
                             "continuous (Hubbard-Stratonovich) dual of the Ising model"),
    "ising": TheorySpec("Ising", ("temperature",), "spin", "Ising model (spins +-1)"),
    "xy": TheorySpec("XY", ("temperature",), "angle", "XY model (angles)"),
}


def theory_usage(name: str) -> str:
    """``phi4 (--m2, --lam)``: a theory with the options it needs."""
    flags = ", ".join(PARAMETERS[p].flags[0] for p in THEORIES[name].parameters)
    return f"{name} ({flags})"


def add_theory_arguments(parser: argparse.ArgumentParser, accepted: Sequence[str],
                         shape_note: str = "") -> None:
    """THEORY (only the ``accepted`` ones), ``--shape`` and the parameters those theories take.

    Each parameter's help names the accepted theories that take it; the check that the named
    theory got exactly its parameters is :func:`build_theory`'s.
    """
    listing = "; ".join(f"{theory_usage(n)}: {THEORIES[n].summary}" for n in accepted)
    parser.add_argument("theory", choices=list(accepted), metavar="THEORY",
                        help=f"the lattice theory, one of: {listing}")
    parser.add_argument("--shape", type=int, nargs="+", required=True, metavar="L",
                        help="lattice extents (periodic), each >= 2 (e.g. 8 8)"
                        + shape_note)
    group = parser.add_argument_group(
        "theory parameters", "each theory needs exactly its own (listed after its name "
        "above); there are no defaults")
    for name, param in PARAMETERS.items():
        takers = [t for t in accepted if name in THEORIES[t].parameters]
        if takers:
            group.add_argument(*param.flags, dest=name, type=float, metavar=name.upper(),
                               help=f"{param.meaning}, {param.low:g} to {param.high:g} "
                               f"(for {', '.join(takers)})")


def build_theory(args: argparse.Namespace):
    """The theory named on the command line; CLIError for a missing, superfluous or
    out-of-range parameter and for a bad shape."""
    spec = THEORIES[args.theory]
    missing = [PARAMETERS[p].flags[0] for p in spec.parameters if getattr(args, p, None) is None]
    if missing:
        raise CLIError(f"theory {args.theory} needs {', '.join(missing)}")
    extra = [p.flags[0] for n, p in PARAMETERS.items()
             if n not in spec.parameters and getattr(args, n, None) is not None]
    if extra:
        raise CLIError(f"theory {args.theory} does not take {', '.join(extra)} (it takes "
                       f"{theory_usage(args.theory).split(' ', 1)[1].strip('()')})")
    values: dict[str, float] = {}
    for name in spec.parameters:
        param, value = PARAMETERS[name], getattr(args, name)
        if not (math.isfinite(value) and param.low <= value <= param.high):
            raise CLIError(f"{param.flags[0]} must be between {param.low:g} and "
                           f"{param.high:g}, got {value:g}")
        values[name] = value
    check_shape(args.shape)
    from .. import lattice

    try:
        return getattr(lattice, spec.class_name)(tuple(args.shape), **values)
    except (ValueError, TypeError) as exc:
        raise CLIError(f"theory {args.theory}: {exc}") from None


def check_shape(shape: Sequence[int], *, power_of_two: bool = False) -> None:
    """Every extent >= 2 (and a power of two when asked)."""
    bad = [n for n in shape if n < 2]
    if bad:
        raise CLIError(f"every --shape extent must be >= 2, got {' '.join(map(str, shape))}")
    if power_of_two and any(n & (n - 1) for n in shape):
        raise CLIError(f"every --shape extent must be a power of two (2, 4, 8, 16, ...) here, "
                       f"got {' '.join(map(str, shape))}")


# -- checks made before any work ---------------------------------------------------------------
def check_count(option: str, value: int, low: int) -> int:
    if value < low:
        raise CLIError(f"{option} must be an int >= {low}, got {value}")
    return value


def check_seed(seed: int) -> int:
    if not 0 <= seed < 2**32:
        raise CLIError(f"--seed must be an int from 0 to 2**32 - 1, got {seed}")
    return seed


def check_output(path: str | None, suffix: str, *, companion: str | None = None) -> None:
    """``-o``: the right suffix, not a directory, in an existing directory where a file can be
    created (tried, then removed). ``companion`` is the suffix of a second file written next
    to it (the model, ``.pt``)."""
    if path is None:
        return
    target = Path(path)
    if target.suffix != suffix:
        raise CLIError(f"-o must name a {suffix} file, got {path!r}")
    targets = [target] + ([target.with_suffix(companion)] if companion else [])
    for t in targets:
        if t.is_dir():
            raise CLIError(f"-o {path}: {t} is a directory; name a {t.suffix} file")
    folder = target.parent
    if not folder.exists():
        raise CLIError(f"-o {path}: the directory {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise CLIError(f"-o {path}: {str(folder)!r} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".skphys-write-check-", dir=folder)
    except OSError as exc:
        raise CLIError(f"-o {path}: cannot write to the directory {str(folder)!r} "
                       f"({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def resolve_device(device: str):
    """The ``--device`` value as a torch device available on this machine (the library's
    check, :func:`skphys._torch_utils.resolve_device`, worded for the command line)."""
    from .._torch_utils import resolve_device as resolve

    try:
        return resolve(device)
    except ValueError as exc:  # its messages start with the parameter's name, "device"
        raise CLIError(f"--{exc}") from None


def _human(n_bytes: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n_bytes >= size:
            return f"{n_bytes / size:.3g} {unit}"
    return f"{n_bytes / 2**10:.3g} KiB"


def check_memory(n_bytes: float, what: str, limit_gib: float) -> None:
    """Refuse a run whose arrays ``what`` would take more than ``limit_gib`` GiB."""
    if not (math.isfinite(limit_gib) and limit_gib > 0):
        raise CLIError(f"--max-memory must be a positive number of GiB, got {limit_gib:g}")
    if n_bytes > limit_gib * 2**30:
        raise CLIError(f"this run would need about {_human(n_bytes)} for {what}, more than "
                       f"--max-memory {limit_gib:g} GiB: use a smaller --shape or -n (or raise "
                       "--max-memory if this machine has the memory)")


def add_max_memory_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-memory", type=float, default=4.0, metavar="GIB",
                        help="refuse, before starting, a run whose estimated arrays exceed "
                        "this many GiB")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available, else the CPU), cpu, cuda or cuda:N")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--seed``, ``--device``, ``--max-memory``, ``--quiet``."""
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    add_device_argument(parser)
    add_max_memory_argument(parser)
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar (default: a progress bar on stderr)")


# -- tables ------------------------------------------------------------------------------------
def format_table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """Plain aligned text table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def format_pull(estimate: float, exact: float, error: float) -> str:
    """``(estimate - exact) / error`` with its sign, or why there is none (a zero or
    non-finite error: no pull can be formed)."""
    if not (math.isfinite(error) and error > 0):
        return "n/a (no error bar)"
    return f"{(estimate - exact) / error:+.1f}"


def save_npz(path, **arrays) -> None:
    """Write ``arrays`` to the ``.npz`` file ``path`` atomically."""
    import numpy as np

    from .._io import atomic_write

    with atomic_write(path) as f:
        np.savez(f, **arrays)


def observables_for(theory) -> dict:
    """Per-configuration observables printed for ``theory``: name -> function of rows."""
    from ..lattice import XY, ComplexPhi4, IsingDual
    from ..lattice import observables as obs

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


#: the largest L for which the exact <m^2> of the L x L Ising model is printed (the transfer
#: matrix has 2^L rows: L = 10 takes well under a second)
EXACT_M2_MAX_L = 10


def exact_values(theory) -> dict[str, float]:
    """Exact values of the printed observables where the library has them: Kaufman's energy
    and the transfer-matrix <m^2> of the Ising model on an L x L torus (also estimated by the
    Ising dual's ``ising_*`` observables)."""
    from ..lattice import Ising, IsingDual
    from ..lattice.exact import ising_energy, ising_magnetization_sq

    shape = theory.shape
    if not (isinstance(theory, (Ising, IsingDual)) and len(shape) == 2
            and shape[0] == shape[1]):
        return {}
    L, T = shape[0], theory.temperature
    prefix = "ising_" if isinstance(theory, IsingDual) else ""
    values = {f"{prefix}energy_per_site": float(ising_energy(L, T))}
    if L <= EXACT_M2_MAX_L:
        values[f"{prefix}m2"] = float(ising_magnetization_sq(L, T))
    return values


@dataclass
class Table:
    """An observable table, the per-configuration series and what makes its errors doubtful."""

    text: str
    values: dict
    problems: list


def observable_table(theory, chains, exact: bool = True) -> Table:
    """Observables of ``chains`` ``(n_chains, n_samples, n_features)`` with tau_int-corrected
    errors (Gamma method over the chains), exact values and pulls where known, and the list of
    reasons the chain cannot support its error bars (see :func:`chain_warning`).
    """
    import numpy as np
    import torch

    from ..lattice.reliability import chain_mean_error

    chains = torch.as_tensor(chains)
    n_chains, n_samples = chains.shape[:2]
    known = exact_values(theory) if exact else {}
    rows: list[tuple[str, ...]] = []
    values: dict[str, np.ndarray] = {}
    no_error: list[str] = []
    unclosed: list[str] = []
    for label, fn in observables_for(theory).items():
        series = fn(chains.reshape(n_chains * n_samples, -1)).reshape(n_chains, n_samples)
        series = series.detach().cpu().numpy().astype(np.float64)
        values[label] = series
        (mean, err, tau), closed = chain_mean_error(series)
        if not closed:
            unclosed.append(label)
        if not math.isfinite(err):
            no_error.append(label)
        row = [label, f"{mean:.6g} +- {err:.2g}", f"{tau:.2f}"]
        if known:
            if label in known:
                row += [f"{known[label]:.6g}", format_pull(mean, known[label], err)]
            else:
                row += ["", ""]
        rows.append(tuple(row))
    header: tuple[str, ...] = ("observable", "mean +- error", "tau_int")
    if known:
        header += ("exact", "pull")
    text = format_table(rows, header)
    if known:
        text += ("\n(exact: the finite L x L Ising model, Kaufman's energy and the "
                 "transfer-matrix <m^2>;\n pull = (mean - exact) / error)")
    problems = chain_problems(theory, chains)
    if unclosed:
        problems.append(f"the tau_int window did not close for {', '.join(unclosed)} (the "
                        "chain is too short for its autocorrelation time: tau_int and the "
                        "errors are underestimated)")
    if no_error:
        problems.append(f"no finite error for {', '.join(no_error)}")
    return Table(text, values, problems)


def chain_problems(theory, chains) -> list[str]:
    """Why a chain ``(n_chains, n_samples, n_features)`` cannot support error bars, by the
    thresholds of :mod:`skphys.lattice.reliability` (acceptance, distinct states)."""
    import numpy as np
    import torch

    from ..lattice import reliability

    chains = torch.as_tensor(chains)
    n_chains, n_samples = chains.shape[:2]
    moved = (float((chains[:, 1:] != chains[:, :-1]).any(-1).double().mean())
             if n_samples >= 2 else None)
    flat = chains.reshape(n_chains * n_samples, -1).cpu().numpy()
    return reliability.chain_problems(
        acceptance=moved, n_distinct=len(np.unique(flat, axis=0)),
        n_states=reliability.state_count(theory))


def chain_warning(problems: Sequence[str], remedy: str) -> str | None:
    """The one-line warning for a table whose chain cannot support its error bars."""
    if not problems:
        return None
    return ("the errors above are not reliable: " + "; ".join(problems) + f" -- {remedy}")


def print_warning(text: str) -> None:
    """One line ``warning: ...`` on stderr (stdout flushed first, so the order is kept)."""
    import sys

    sys.stdout.flush()
    print("warning: " + " ".join(str(text).split()), file=sys.stderr, flush=True)
