"""The benchmarks' figures, written to the documentation's results page.

A benchmark calls :func:`record` once for each part it ran. The figures go to
``docs/results/<benchmark>.inc``, which ``docs/results.rst`` includes. Each part gets one
section: its figures as a field list or a table, then a line with the command, the date
(UTC), the commit, the CPU seconds, the torch and Python versions and the number of torch
threads of the run. When a part runs again, its section is replaced and the file's other
sections stay as they were::

    from _results import record

    record("rg_flow", "ising, seed 0", {"KL (nats)": 0.1837, "ESS/N": "0.18 +- 0.06"},
           cpu_seconds=467.0)
"""

from __future__ import annotations

import datetime
import numbers
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
MARKER = ".. part: "  # the comment line that opens each part's section
# text that reStructuredText would read as a bullet or enumerated list, a comment, a doctest
# or an adornment line if a paragraph started with it
BLOCK_START = re.compile(r"(?:[-+*\u2022]|\(?[\w#]+[.)]|\.\.|>>>)(?: |$)|[!-/:-@[-`{-~]+$")


def record(benchmark: str, part: str, figures: Mapping[str, object] | pd.DataFrame, *,
           command: str | None = None, cpu_seconds: float, notes: str = "") -> Path:
    """Write the figures of one part of a benchmark to ``docs/results/<benchmark>.inc``.

    Parameters
    ----------
    benchmark : str
        The script's name without ``.py``, e.g. ``"rg_flow"``.
    part : str
        What was measured; it is the section's heading. A section with the same ``part``
        already in the file is replaced.
    figures : mapping or DataFrame
        Name -> value, written as a field list; or a table, whose index is written as its
        first columns if it has a name. Floats get 6 significant digits; pass strings to
        choose the format, e.g. ``"0.1837 +- 0.0012"``.
    command : str, optional
        The command that measured the figures. Default: ``python``, the script's path
        relative to the repository and this process's arguments.
    cpu_seconds : float
        CPU seconds the part took (``time.process_time``).
    notes : str, optional
        reStructuredText placed after the run line: conditions of the run, how to read the
        figures.

    Returns
    -------
    Path
        The file written. It is replaced in one step (a temporary file, then ``os.replace``),
        so an interrupted run leaves the previous version.
    """
    path = RESULTS / f"{benchmark}.inc"
    if path.exists():
        sections = _sections(path.read_text(encoding="utf-8"))
    else:
        sections = {"": f".. Figures of benchmarks/{benchmark}.py, written by record() of "
                        f"benchmarks/_results.py.\n   A part that runs again replaces its "
                        f"section; the other sections stay."}
    sections[part] = _section(benchmark, part, figures, command or _command(), cpu_seconds,
                              notes)
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = "\n\n".join(section for section in sections.values() if section) + "\n"
    _atomic_write(path, text)
    return path


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _sections(text: str) -> dict[str, str]:
    """The file's text before the first part (key ``""``), then each part's section."""
    sections, name, lines = {}, "", []
    for line in text.splitlines():
        if line.startswith(MARKER):
            sections[name] = "\n".join(lines).strip()
            name, lines = line[len(MARKER):], []
        lines.append(line)
    sections[name] = "\n".join(lines).strip()
    return sections


def _section(benchmark: str, part: str, figures: Mapping[str, object] | pd.DataFrame,
             command: str, cpu_seconds: float, notes: str) -> str:
    label = re.sub(r"[^a-z0-9]+", "-", f"results {benchmark} {part}".lower()).strip("-")
    title = _escape(part)
    threads = torch.get_num_threads()
    run = (f"Measured by ``{command}`` on {_utc_now()} at commit ``{_commit()}``: "
           f"{cpu_seconds:.1f} CPU s; torch {torch.__version__}, Python "
           f"{platform.python_version()}, {threads} torch "
           f"{'thread' if threads == 1 else 'threads'}.")
    body = _table(figures) if isinstance(figures, pd.DataFrame) else _fields(figures)
    blocks = [f"{MARKER}{part}\n\n.. _{label}:\n\n{title}\n{'-' * len(title)}", body, run]
    if notes.strip():
        blocks.append(notes.strip())
    return "\n\n".join(blocks)


def _fields(figures: Mapping[str, object]) -> str:
    return "\n".join(f":{_escape(str(name))}: {_escape(_text(value))}"
                     for name, value in figures.items())


def _table(frame: pd.DataFrame) -> str:
    if any(name is not None for name in frame.index.names):
        frame = frame.reset_index()
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [list(frame.columns), *frame.itertuples(index=False)]:
        cells = [_escape(_text(value)) for value in row]
        lines += [f"   * - {cells[0]}"] + [f"     - {cell}" for cell in cells[1:]]
    return "\n".join(lines)


def _text(value: object) -> str:
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return "–"
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return f"{value:.6g}"
    return str(value)


def _escape(text: str) -> str:
    """``text`` as plain reStructuredText: no inline markup, and no list, comment or
    adornment where a paragraph starts."""
    escaped = re.sub(r"([\\`*|_:])", r"\\\1", text)
    if BLOCK_START.match(text) and not escaped.startswith("\\"):
        escaped = "\\" + escaped  # a paragraph that starts with a backslash is plain text
    return escaped


def _command() -> str:
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    return shlex.join(["python", str(script), *sys.argv[1:]])


def _utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _commit() -> str:
    """The short hash of HEAD, with ``+dirty`` when the working tree differs from it (the
    results files aside, which the run itself writes); ``unknown`` without git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changes = git("status", "--porcelain", "--", ".", ":(exclude)docs/results")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+dirty" if changes else commit
