"""Docstring fragments shared by the estimators (one text per shared parameter)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["TRAINING_PARAMETERS", "THEORY_PARAMETERS", "VALIDATION_PARAMETERS",
           "FIT_CHECK_ATTRIBUTES", "fill_doc"]

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
        {batch_what} per step. Sizes are checked before anything is allocated: a fit whose
        memory, estimated from below (the parameters with their gradients and Adam's two
        moments, plus one batch), exceeds the device's is refused with a ValueError naming
        ``batch_size`` or the network, and so is a call (``sample``, ``estimate``,
        ``diagnose``) whose ``n_samples`` rows cannot fit; every count of layers is at most
        1000.
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

VALIDATION_PARAMETERS = """\
validation_fraction : float, default=0.1
        Share of the rows of ``X`` held out by ``fit(X)`` (a permutation drawn from
        ``random_state``; 0: none). Their NLL per site is recorded
        (``history_["val_nll"]``: at every step, or every ``ceil(n_held_out / batch_size)``
        steps for a large held-out set), the parameters that gave the lowest are kept, and
        ``validation_score_`` reports it."""

FIT_CHECK_ATTRIBUTES = """\
ess_ : float
        ESS/N on 4096 fresh samples at the end of fit (with a theory).
    pareto_k_ : float
        Pareto tail shape of the importance weights of those samples
        (:func:`skphys.lattice.stats.pareto_k`).
    acceptance_rate_ : float
        Independence Metropolis-Hastings acceptance through those samples. When the tail
        shape exceeds 0.5 or the acceptance is below 0.05 (the thresholds of
        :mod:`skphys.lattice.reliability`) ``fit`` warns with
        :class:`~sklearn.exceptions.ConvergenceWarning`: the model is not usable for
        reweighting.
    validation_score_ : float
        Mean log-likelihood per site of the held-out rows of ``fit(X)`` (see
        ``validation_fraction``). ``fit(X)`` warns with
        :class:`~sklearn.exceptions.ConvergenceWarning` when their NLL per site fell by more
        than 0.01 in the second half of the steps (not converged).
    train_score_ : float
        The same on (at most 4096 of) the training rows: well above ``validation_score_``,
        the model has memorized its data."""
