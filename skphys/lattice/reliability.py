"""When an error bar can be trusted: the package's thresholds for importance weights and
Markov chains, and the one warning every estimate gives when one is crossed.

An error bar :math:`\\sigma` assumes a central limit theorem. For importance weights that
needs a finite variance, which a generalized Pareto tail of shape :math:`k` has only for
:math:`k < 1/2` (:func:`~skphys.lattice.stats.pareto_k`); for a Markov chain it needs a chain
that moves, visits many states and is long against its autocorrelation time (Wolff's
window closes). The thresholds are module constants:

- :data:`MAX_PARETO_K` = 0.5: the weights' tail shape above which their variance is
  infinite;
- :data:`MIN_ACCEPTANCE` = 0.05: the least fraction of steps a chain must move in;
- :data:`MIN_DISTINCT_STATES` = 20: the fewest distinct states a chain must visit.

Every estimate of the package with an error bar (``estimate``, ``diagnose``,
``AutoregressiveHamiltonian.free_energy``, the command-line tables) and every reference
sampler (:func:`~skphys.lattice.mcmc.hmc`, :func:`~skphys.lattice.mcmc.metropolis`,
:func:`~skphys.lattice.mcmc.wolff`: acceptance and distinct states) checks them and warns
with :class:`skphys.UnreliableEstimateWarning` naming each problem.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

from ..exceptions import UnreliableEstimateWarning
from ._theory import LatticeTheory
from .stats import (
    _MIN_TAIL_WEIGHTS,
    Data,
    MeanErrorResult,
    _as_chains,
    _as_log_weights,
    _gamma_method,
    _mean,
    pareto_k,
)

__all__ = [
    "MAX_PARETO_K",
    "MIN_ACCEPTANCE",
    "MIN_DISTINCT_STATES",
    "tail_shape",
    "weight_problems",
    "chain_problems",
    "chain_mean_error",
    "state_count",
    "warn_unreliable",
]

MAX_PARETO_K = 0.5
"""Pareto tail shape of the weights from which their variance, and every importance-sampling
error bar, is infinite."""
MIN_ACCEPTANCE = 0.05
"""Least fraction of its steps a Markov chain must move in for its error bar to be trusted."""
MIN_DISTINCT_STATES = 20
"""Fewest distinct states a Markov chain must visit for its error bar to be trusted."""


def tail_shape(log_w: Data) -> float:
    """:func:`~skphys.lattice.stats.pareto_k` of the weights; NaN below 25 of them.

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.lattice.reliability import tail_shape
    >>> tail_shape(np.zeros(10))
    nan
    """
    log_w = _as_log_weights(log_w)
    return pareto_k(log_w) if log_w.size >= _MIN_TAIL_WEIGHTS else math.nan


def weight_problems(log_w: Data) -> list[str]:
    """Why importance weights cannot support error bars: ``[]``, or the tail shape above
    :data:`MAX_PARETO_K`.

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.lattice.reliability import weight_problems
    >>> weight_problems(np.random.default_rng(0).normal(scale=0.3, size=4096))
    []
    >>> u = np.random.default_rng(0).random(4096)
    >>> weight_problems(-0.8 * np.log(u))  # weights u**-0.8: a tail of shape 0.8
    ['the importance weights have a heavy tail (Pareto k = 0.85 > 0.5: infinite variance)']
    """
    k = tail_shape(log_w)
    if k > MAX_PARETO_K:  # False for NaN
        return [f"the importance weights have a heavy tail (Pareto k = {k:.2f} > "
                f"{MAX_PARETO_K}: infinite variance)"]
    return []


def chain_problems(*, acceptance: float | None = None, n_distinct: int | None = None,
                   n_states: float = math.inf, window_closed: bool = True) -> list[str]:
    """Why a Markov chain cannot support its error bars (``[]`` when it can).

    Parameters
    ----------
    acceptance : float, optional
        Fraction of steps in which the chain moved.
    n_distinct : int, optional
        Number of distinct states it visited.
    n_states : float, default=inf
        Number of states of the whole space; the distinct-state check applies only when it
        exceeds ``4 * MIN_DISTINCT_STATES`` (a tiny spin lattice has few states to visit).
    window_closed : bool, default=True
        Whether Wolff's automatic window closed (see :func:`chain_mean_error`).

    Returns
    -------
    list of str

    Examples
    --------
    >>> from skphys.lattice.reliability import chain_problems
    >>> chain_problems(acceptance=0.01, n_distinct=5)  # doctest: +NORMALIZE_WHITESPACE
    ['the chain moved in 1.0% of its steps (acceptance < 0.05)',
     'the chain visited only 5 distinct states (< 20)']
    """
    problems = []
    if acceptance is not None and acceptance < MIN_ACCEPTANCE:
        problems.append(f"the chain moved in {100 * acceptance:.1f}% of its steps "
                        f"(acceptance < {MIN_ACCEPTANCE})")
    if (n_distinct is not None and n_states > 4 * MIN_DISTINCT_STATES
            and n_distinct < MIN_DISTINCT_STATES):
        problems.append(f"the chain visited only {n_distinct} distinct "
                        f"state{'s' * (n_distinct != 1)} (< {MIN_DISTINCT_STATES})")
    if not window_closed:
        problems.append("the tau_int window did not close (the chain is short for its "
                        "autocorrelation time: tau_int and the error are underestimated)")
    return problems


def state_count(theory: LatticeTheory) -> float:
    """Number of configurations of ``theory``'s lattice: ``2 ** n_sites`` for spins, infinite
    for continuous fields (the ``n_states`` of :func:`chain_problems`).

    Examples
    --------
    >>> from skphys.lattice import Ising, XY
    >>> from skphys.lattice.reliability import state_count
    >>> state_count(Ising((2, 2), 2.0)), state_count(XY((2, 2), 1.0))
    (16.0, inf)
    """
    return 2.0**theory.n_sites if theory.field_type == "spin" else math.inf


def chain_mean_error(series: Data) -> tuple[MeanErrorResult, bool]:
    """:func:`~skphys.lattice.stats.mean_error` of a chain's series, and whether Wolff's
    window closed (instead of its ``RuntimeWarning``).

    A pathologically anti-correlated series, for which the Gamma method gives no error,
    returns the plain mean with a NaN error.

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.lattice.reliability import chain_mean_error
    >>> (mean, error, tau), closed = chain_mean_error(np.random.default_rng(0).normal(size=1000))
    >>> abs(mean) < 3 * error, closed
    (True, True)
    """
    x = _as_chains(series)
    result, error, closed = _gamma_method(x, 1.5, warn=False)
    if result.tau <= 0:  # tau_int <= 0: no error
        return MeanErrorResult(_mean(x), math.nan, math.nan), closed
    return MeanErrorResult(_mean(x), error, result.tau), closed


def warn_unreliable(problems: Sequence[str], what: str, remedy: str, *,
                    stacklevel: int = 2,
                    category: type[UnreliableEstimateWarning] = UnreliableEstimateWarning,
                    ) -> None:
    """Warn (:class:`~skphys.UnreliableEstimateWarning`, or its subclass ``category``) that
    ``what`` cannot be trusted, listing ``problems`` and the ``remedy``; nothing when
    ``problems`` is empty.

    Examples
    --------
    >>> import warnings
    >>> from skphys.lattice.reliability import warn_unreliable
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_unreliable(["the chain visited only 3 distinct states (< 20)"],
    ...                     "the mean", "Run a longer chain.")
    >>> print(caught[0].message)  # doctest: +NORMALIZE_WHITESPACE
    the mean may be many quoted errors from the true value: the chain visited only 3
    distinct states (< 20). Run a longer chain.
    """
    if problems:
        warnings.warn(f"{what} may be many quoted errors from the true value: "
                      f"{'; '.join(problems)}. {remedy}", category,
                      stacklevel=stacklevel + 1)
