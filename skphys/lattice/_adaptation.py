"""Adaptation of a sampler's tuning parameter during burn-in (dual averaging)."""

from __future__ import annotations

import math

__all__ = ["DualAveraging"]


class DualAveraging:
    """Dual-averaging adaptation of a positive tuning parameter (Hoffman & Gelman 2014, §3.2).

    Drives a statistic that decreases with the parameter (an acceptance rate) toward
    ``target``: each :meth:`update` takes the statistic measured with the current value and
    returns the next value; :attr:`final` is the iterate average to freeze after burn-in.

    Parameters
    ----------
    initial : float
        Starting value; the shrinkage point is ``10 * initial``.
    target : float
        Target of the statistic.
    upper : float, optional
        Largest allowed value (e.g. 1 for a proposal scale that spans the whole circle).
    lower : float, default=0
        Smallest allowed value (a floor that keeps the cost of one update bounded, e.g. the
        HMC step size that gives the largest allowed number of leapfrog steps). The iterates
        are clipped to ``[lower, upper]``; :attr:`at_floor` says whether the last one was.
    """

    gamma = 0.05
    t0 = 10.0
    kappa = 0.75

    def __init__(self, initial: float, target: float, *, upper: float = math.inf,
                 lower: float = 0.0):
        self.value = min(max(initial, lower), upper)
        self.target = target
        self._log_upper = math.log(upper)
        self.lower = lower
        self._log_lower = math.log(lower) if lower > 0 else -math.inf
        self.at_floor = False
        self._mu = math.log(10 * initial)
        self._h_bar = 0.0
        self._log_bar = math.log(self.value)
        self._m = 0

    def update(self, statistic: float) -> float:
        """Record the statistic measured at the current value; return the next value."""
        self._m += 1
        w = 1.0 / (self._m + self.t0)
        self._h_bar = (1 - w) * self._h_bar + w * (self.target - statistic)
        log_value = self._mu - math.sqrt(self._m) / self.gamma * self._h_bar
        self.at_floor = log_value <= self._log_lower
        log_value = min(max(log_value, self._log_lower), self._log_upper)
        eta = self._m ** (-self.kappa)
        self._log_bar = eta * log_value + (1 - eta) * self._log_bar
        self.value = math.exp(log_value)
        return self.value

    @property
    def final(self) -> float:
        """The averaged value to keep once adaptation stops."""
        return math.exp(self._log_bar)
