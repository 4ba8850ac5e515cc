"""The ``skphys`` command line: one subcommand per job (``skphys --help`` lists them).

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds its
parser and sets ``func`` (called with the parsed arguments, returning an exit code).

One error path: every user mistake -- a bad option, a theory parameter out of range, an
output path that cannot be written, a device this machine lacks, a run too large for memory --
is found before any work and reported as one line ``skphys <command>: error: ...`` on stderr
with exit code 2. Failures during the work (a diverging training, memory, writing the output)
are one line too, with exit code 1. Python warnings are printed as one-line ``warning: ...``
messages. Nothing here imports torch: ``skphys --help`` stays fast; the subcommands import the
library when they run.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import warnings
from typing import NoReturn

from .._version import __version__
from . import mcmc, rg, sample, van
from ._common import CLIError, print_warning

SUBCOMMANDS = (mcmc, sample, rg, van)


class HelpFormatter(argparse.HelpFormatter):
    """Shows every default; wraps description and epilog paragraphs but keeps indented lines
    (the examples) as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (not action.option_strings or "default" in text or action.default is None
                or action.default is False or action.default == argparse.SUPPRESS):
            return text
        return text + " (default: %(default)s)"

    def _fill_text(self, text, width, indent):
        paragraphs = []
        for paragraph in textwrap.dedent(text).strip().split("\n\n"):
            if paragraph.startswith(" "):
                paragraphs.append(textwrap.indent(paragraph, indent))
            else:
                paragraphs.append(textwrap.fill(" ".join(paragraph.split()), width,
                                                initial_indent=indent,
                                                subsequent_indent=indent))
        return "\n\n".join(paragraphs)


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit code 2)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = ArgumentParser(
        prog="skphys",
        description="Machine-learning physics on lattices: reference Monte Carlo, normalizing "
        "flows, RG flows and variational autoregressive networks. Each command prints its "
        "estimates with their errors; 'skphys COMMAND --help' shows its options, their "
        "defaults and examples with their running times.",
    )
    parser.add_argument("--version", action="version", version=f"skphys {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def _fail(prog: str, message, code: int) -> NoReturn:
    """Print ``prog: error: message`` as one line and exit with ``code``."""
    sys.stdout.flush()
    text = " ".join(str(message).split()) or "failed"
    print(f"{prog}: error: {text}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def main(argv=None) -> int:
    """Run the command line; returns the exit code (exits with 2 for bad arguments, 1 when
    the work fails, 130 when interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"skphys {args.command}"
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        if text not in seen:
            seen.add(text)
            print_warning(text)

    with warnings.catch_warnings():
        warnings.simplefilter("always")  # each distinct message once (``seen``)
        warnings.showwarning = show
        try:
            return args.func(args)
        except CLIError as exc:
            _fail(prog, exc, 2)
        except (ValueError, TypeError) as exc:  # an argument the checks let through
            _fail(prog, exc, 2)
        except FloatingPointError as exc:  # NonFiniteLossError: the training diverged
            _fail(prog, exc, 1)
        except MemoryError:
            _fail(prog, "out of memory: use a smaller --shape, -n or --batch-size", 1)
        except RuntimeError as exc:
            if "out of memory" not in str(exc).lower():
                raise
            _fail(prog, "out of memory: use a smaller --shape, -n or --batch-size", 1)
        except OSError as exc:
            _fail(prog, f"{exc.strerror or exc}: {exc.filename or ''}", 1)
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            return 130
    return 1  # not reached: every except above exits
