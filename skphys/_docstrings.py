"""Docstring fragments shared by the estimators (one text per shared parameter)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["TRAINING_PARAMETERS", "THEORY_PARAMETERS", "fill_doc"]

T = TypeVar("T")


def fill_doc(**fragments: str) -> Callable[[T], T]:
    """Decorator: put each fragment in place of ``{name}`` in the object's docstring (only
    those names, so the rest of the docstring keeps its braces; nothing under ``-OO``)."""

    def decorate(obj: T) -> T:
        doc = obj.__doc__
        if doc:
            for name, text in fragments.items():
                doc = doc.replace("{" + name + "}", text)
            obj.__doc__ = doc
        return obj

    return decorate

THEORY_PARAMETERS = """\
theory : LatticeTheory, optional
        The target: configurations are distributed as ``exp(-theory.action(x)) / Z``.
        Needed for training from the action (``fit()``), exact sampling and estimates.
    lattice_shape : tuple of int, optional
        Lattice extents when there is no theory (with a theory its shape is used). Without
        either, rows of ``X`` are a 1-D chain, and a square row length >= 16 warns."""

TRAINING_PARAMETERS = """\
max_iter : int, default={max_iter}
        Optimizer steps per ``fit``.
    batch_size : int, default={batch_size}
        {batch_what} per step.
    optimizer : Adam, default={optimizer}
        Optimizer settings (learning rate, schedule, gradient clipping, early stopping);
        change one with e.g. ``set_params(optimizer__learning_rate=1e-3)``.
    warm_start : bool, default=False
        Continue training the fitted model: Adam keeps its state, the step count and
        ``history_`` continue; the learning rate and its schedule start over for the new
        ``max_iter``.
    device : str, default="auto"
        "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".
    dtype : {{"float32", "float64"}}, default="float32"
        Floating-point type of the module and of the arrays it returns.
    random_state : int, RandomState instance or None, default=None
        Seeds the estimator's own torch generators (the global RNG is never used).
    verbose : int, default=0
        0 silent, 1 a progress bar, 2 a table of the history."""
