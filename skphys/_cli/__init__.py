"""The ``skphys`` command line: one subcommand per job (``skphys --help`` lists them).

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds its
parser and sets ``func`` (called with the parsed arguments, returning an exit code).
"""

from __future__ import annotations

import argparse
import sys

from .._version import __version__
from . import mcmc, rg, sample, van

SUBCOMMANDS = (mcmc, sample, rg, van)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="skphys",
        description="Machine-learning physics on lattices: samplers, flows, learned "
        "Hamiltonians.",
    )
    parser.add_argument("--version", action="version", version=f"skphys {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit code (2 for bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError) as exc:
        parser.exit(2, f"skphys {args.command}: error: {exc}\n")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
