"""Statistics for Monte Carlo data: autocorrelation, errors of means, resampling, ESS.

* :func:`autocorrelation`, :func:`tau_int`, :func:`mean_error`: Wolff's Gamma method
  (U. Wolff, Comput. Phys. Commun. 156 (2004) 143, hep-lat/0306017) with the automatic
  window, for one chain ``(n,)`` or several independent chains ``(n_chains, n)``;
* :func:`bootstrap` and :func:`jackknife` (blocked, for correlated chains) errors of any
  function of the data;
* :func:`ess`, :func:`pareto_k`, :func:`log_mean_exp`, :func:`importance_mean` and
  :func:`reweighted_thermodynamics` for importance weights ``log w = -S - ln q``.

Inputs may be NumPy arrays, PyTorch tensors or sequences; everything is computed in NumPy
float64.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from numbers import Integral, Real
from typing import Literal, NamedTuple, overload

import numpy as np
import numpy.typing as npt
import torch
from scipy.fft import irfft, next_fast_len, rfft
from scipy.special import logsumexp
from scipy.stats import genpareto

from .._constraints import check_int, check_real

__all__ = [
    "TauIntResult",
    "MeanErrorResult",
    "autocorrelation",
    "tau_int",
    "mean_error",
    "bootstrap",
    "jackknife",
    "ess",
    "pareto_k",
    "log_mean_exp",
    "importance_mean",
    "reweighted_thermodynamics",
]

Data = npt.ArrayLike | torch.Tensor
RandomState = int | np.random.Generator | np.random.RandomState | None
_MIN_TAIL_WEIGHTS = 25  # the fewest log-weights pareto_k fits a tail to


class TauIntResult(NamedTuple):
    """Integrated autocorrelation time with its error and the summation window.

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.lattice.stats import tau_int
    >>> result = tau_int(np.random.default_rng(0).normal(size=10_000))  # white noise: 1/2
    >>> round(result.tau, 2), result.window
    (0.5, 1)
    """

    tau: float
    tau_err: float
    window: int


class MeanErrorResult(NamedTuple):
    """Mean of a series, its error including autocorrelations, and the ``tau_int`` used.

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.lattice.stats import mean_error
    >>> mean, error, tau = mean_error(np.random.default_rng(0).normal(size=10_000))
    >>> abs(mean) < 3 * error, round(error, 3), round(tau, 2)  # error ~ sqrt(2 tau / N)
    (True, 0.01, 0.5)
    """

    mean: float
    error: float
    tau: float


# -- input handling --------------------------------------------------------------------------
def _as_float_array(x: Data, name: str) -> np.ndarray:
    """``x`` as a float64 NumPy array (torch tensors are detached and moved to the CPU).

    Complex values are refused (a TypeError) rather than cast, which would drop their
    imaginary parts.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().resolve_conj().numpy()
    try:
        if np.iscomplexobj(x):
            raise TypeError(
                f"{name} must hold real numbers, got complex values: pass the real part, the "
                f"modulus or the real and imaginary parts as separate series explicitly"
            )
        return np.asarray(x, dtype=np.float64)
    except (ValueError, np.exceptions.ComplexWarning):
        kind = type(x).__name__
        raise TypeError(f"{name} must be an array of real numbers, got {kind}") from None
    except TypeError as error:
        if "complex values" in str(error):
            raise
        kind = type(x).__name__
        raise TypeError(f"{name} must be an array of real numbers, got {kind}") from None


def _power_of_two_scale(x: np.ndarray) -> float:
    """A power of two near ``max |x|`` (1 for zeros): dividing by it is exact and keeps
    squares and sums of squares of ``x`` inside the float64 range (``|x|`` up to 1.8e308,
    where squaring overflows from 1.3e154, and down to subnormal values, where it
    underflows)."""
    top = float(np.max(np.abs(x))) if x.size else 0.0
    return float(np.ldexp(1.0, np.frexp(top)[1])) if top > 0 else 1.0


def _as_chains(x: Data) -> np.ndarray:
    """A series ``(n,)`` or independent chains ``(n_chains, n)`` as a 2-D finite array."""
    x = _as_float_array(x, "x")
    if x.ndim not in (1, 2):
        raise ValueError(f"x must have shape (n,) or (n_chains, n), got {x.shape}")
    x = np.atleast_2d(x)
    if x.shape[0] < 1 or x.shape[1] < 2:
        raise ValueError(f"x needs at least one chain of length >= 2, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x must contain only finite values")
    return x


def _check_s(S) -> float:
    if isinstance(S, bool) or not isinstance(S, Real) or not math.isfinite(S) or S <= 0:
        raise ValueError(f"S must be a finite number > 0, got {S!r}")
    return float(S)


def _check_rng(random_state: RandomState) -> np.random.Generator:
    """A NumPy ``Generator`` from an int, None, a ``Generator`` or a legacy ``RandomState``."""
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**32, size=4))
    if random_state is None or isinstance(random_state, (Integral, np.random.Generator)):
        return np.random.default_rng(random_state)
    raise TypeError(
        "random_state must be None, an int, a numpy Generator or RandomState, "
        f"got {random_state!r}"
    )


def _check_samples(func, samples: tuple) -> tuple[list[np.ndarray], int]:
    """Sample arrays (finite, real) and their common number of rows (axis 0)."""
    if not callable(func):
        raise TypeError(f"func must be callable (e.g. np.mean), got {type(func).__name__}")
    if not samples:
        raise TypeError("at least one sample array is required")
    arrays = [_as_float_array(s, f"samples[{i}]") for i, s in enumerate(samples)]
    for i, a in enumerate(arrays):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"samples[{i}] must contain only finite values, got "
                             f"{int(np.sum(~np.isfinite(a)))} NaN or infinite")
    lengths = {a.shape[0] if a.ndim else 0 for a in arrays}
    if len(lengths) != 1:
        raise ValueError(f"all samples must have the same number of rows, got {sorted(lengths)}")
    (n,) = lengths
    if n < 2:
        raise ValueError(f"samples need at least 2 rows, got {n}")
    return arrays, n


# -- Gamma method ------------------------------------------------------------------------
def _autocovariance(x: np.ndarray) -> np.ndarray:
    r""":math:`\Gamma(t)`, ``t = 0 .. n-1``, of chains ``(R, n)`` about the overall mean.

    :math:`\Gamma(t) = \frac{1}{R(n-t)}\sum_r\sum_{i=1}^{n-t} \delta_{r,i}\delta_{r,i+t}`
    with :math:`\delta = x - \bar x`, computed by zero-padded FFT. Pass ``x`` scaled by
    :func:`_power_of_two_scale` (the squares of values beyond 1e154 overflow).
    """
    n_chains, n = x.shape
    delta = x - x.mean()
    size = next_fast_len(2 * n, real=True)
    f = rfft(delta, size, axis=1)
    sums = irfft(f.real**2 + f.imag**2, size, axis=1)[:, :n].sum(0)
    return sums / (n_chains * (n - np.arange(n)))


def _mean(x: np.ndarray) -> float:
    """The mean of ``x``, without overflow in the sum of values near the float64 limit."""
    scale = _power_of_two_scale(x)
    return float((x / scale).mean() * scale)


def _gamma_method(x: np.ndarray, S: float, *,
                  warn: bool = True) -> tuple[TauIntResult, float, bool]:
    """Wolff's automatic window, the error of the mean ``sqrt(C_F / N)`` (with the
    bias-corrected ``C_F = 2 tau_int Gamma(0)``) and whether the window closed (a
    ``RuntimeWarning`` when it did not, unless ``warn`` is False).

    The series is divided by a power of two near its largest magnitude first, so that no
    square overflows or underflows; ``tau_int`` does not depend on the scale.
    """
    if np.all(x == x.flat[0]):
        return TauIntResult(0.5, 0.0, 0), 0.0, True
    scale = _power_of_two_scale(x)
    x = x / scale
    n_total = x.size
    gamma = _autocovariance(x)[: x.shape[1] // 2 + 1]
    # tau_int(W) - 1/2 for W = 1 .. W_max, and Wolff's criterion g(W)
    g_int = np.cumsum(gamma[1:]) / gamma[0]
    w = np.arange(1, gamma.size)
    positive = g_int > 0  # tau_int(W) <= 1/2: tau -> 0 and the window closes at once
    tau = S / np.log1p(1 / np.where(positive, g_int, 1.0))
    criterion = np.where(positive, np.exp(-w / tau) - tau / np.sqrt(w * n_total), -1.0)
    stops = np.flatnonzero(criterion < 0)
    if stops.size:
        window = int(w[stops[0]])
    else:
        window = int(w[-1])
    closed = bool(stops.size)
    if not closed and warn:
        warnings.warn(
            f"the automatic window did not close before W = {window}: the series is too "
            "short for its autocorrelation time, tau_int is underestimated",
            RuntimeWarning,
            stacklevel=3,
        )
    # correct Gamma for the bias from subtracting the estimated mean
    c_f = gamma[0] + 2 * gamma[1 : window + 1].sum()
    gamma = gamma + c_f / n_total
    c_f = gamma[0] + 2 * gamma[1 : window + 1].sum()
    tau_int = c_f / (2 * gamma[0])
    tau_err = 2 * tau_int * math.sqrt(max(window + 0.5 - tau_int, 0.0) / n_total)
    error = math.sqrt(c_f / n_total) * scale if c_f > 0 else math.nan
    return TauIntResult(float(tau_int), float(tau_err), window), error, closed


def autocorrelation(x: Data) -> np.ndarray:
    r"""Normalized autocorrelation function :math:`\Gamma(t)/\Gamma(0)` (FFT-based).

    .. math::

        \Gamma(t) = \frac{1}{R(n-t)}\sum_{r=1}^R\sum_{i=1}^{n-t}
                    (x_{r,i} - \bar x)(x_{r,i+t} - \bar x)

    with :math:`\bar x` the mean over all ``R`` chains (Wolff's estimator).

    Parameters
    ----------
    x : array_like or torch.Tensor
        One series ``(n,)`` or ``R`` independent chains of equal length ``(R, n)``.

    Returns
    -------
    ndarray of shape (n,)
        :math:`\Gamma(t)/\Gamma(0)` for lags ``t = 0 .. n-1``. A constant series is treated
        as uncorrelated: ``[1, 0, 0, ...]``.

    Examples
    --------
    >>> from skphys.lattice.stats import autocorrelation
    >>> autocorrelation([1.0, -1.0, 1.0, -1.0]).round(6).tolist()
    [1.0, -1.0, 1.0, -1.0]
    """
    x = _as_chains(x)
    if np.all(x == x.flat[0]):
        return np.eye(1, x.shape[1]).ravel()
    gamma = _autocovariance(x / _power_of_two_scale(x))
    return gamma / gamma[0]


def tau_int(x: Data, S: float = 1.5) -> TauIntResult:
    r"""Integrated autocorrelation time by Wolff's Gamma method with the automatic window.

    :math:`\tau_\text{int}(W) = \frac12 + \sum_{t=1}^W \Gamma(t)/\Gamma(0)`, summed up to the
    first ``W`` with :math:`e^{-W/\tau} - \tau/\sqrt{WN} < 0`, where
    :math:`\tau = S/\ln\frac{2\tau_\text{int}(W)+1}{2\tau_\text{int}(W)-1}` (and
    :math:`\tau \to 0`, closing the window, when :math:`\tau_\text{int}(W) \le \frac12`).
    :math:`\Gamma` is then corrected for the bias of the estimated mean, and the error is
    :math:`\delta\tau_\text{int} = 2\tau_\text{int}\sqrt{(W + \frac12 - \tau_\text{int})/N}`
    (Madras-Sokal, Wolff eq. 42). For an AR(1) chain with coefficient :math:`\rho`,
    :math:`\tau_\text{int} = (1+\rho)/(2(1-\rho))`.

    Parameters
    ----------
    x : array_like or torch.Tensor
        One series ``(n,)`` or ``R`` independent chains of equal length ``(R, n)``; ``N``
        is the total number of values.
    S : float, default=1.5
        Wolff's window parameter (larger: longer window, less bias, more noise).

    Returns
    -------
    TauIntResult
        ``(tau, tau_err, window)``; ``(0.5, 0.0, 0)`` for a constant series. A
        ``RuntimeWarning`` is issued when the window does not close before ``n // 2``.

    Notes
    -----
    The method assumes non-negative autocorrelations: for a strongly anti-correlated series
    :math:`\tau_\text{int}(1) \le \frac12` closes the window at ``W = 1`` and ``tau`` is
    :math:`\frac12 + \Gamma(1)/\Gamma(0)` (0 for AR(1) with :math:`\rho = -\frac12`, whose
    exact value is 1/6).

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.lattice.stats import tau_int
    >>> x = np.random.default_rng(0).normal(size=10_000)
    >>> result = tau_int(x)
    >>> abs(result.tau - 0.5) < 3 * result.tau_err
    True
    """
    return _gamma_method(_as_chains(x), _check_s(S))[0]


def mean_error(x: Data, S: float = 1.5) -> MeanErrorResult:
    r"""Mean of a correlated series and its error, :math:`\sigma^2 = 2\tau_\text{int}\,
    \mathrm{Var}(x)/N`.

    :math:`\tau_\text{int}` and the variance (bias-corrected :math:`\Gamma(0)`) come from
    :func:`tau_int` (Wolff's Gamma method).

    Parameters
    ----------
    x : array_like or torch.Tensor
        One series ``(n,)`` or ``R`` independent chains of equal length ``(R, n)``.
    S : float, default=1.5
        Wolff's window parameter.

    Returns
    -------
    MeanErrorResult
        ``(mean, error, tau)``; a constant series has ``error = 0`` and ``tau = 0.5``.

    Raises
    ------
    ValueError
        If the estimated :math:`\tau_\text{int}` is not positive (a pathologically
        anti-correlated series), where the Gamma method gives no error.

    Examples
    --------
    >>> from skphys.lattice.stats import mean_error
    >>> mean_error([2.0, 2.0, 2.0, 2.0])
    MeanErrorResult(mean=2.0, error=0.0, tau=0.5)
    """
    x = _as_chains(x)
    result, error, _ = _gamma_method(x, _check_s(S))
    if result.tau <= 0:
        raise ValueError(
            f"the estimated tau_int = {result.tau:.3g} is <= 0 (strongly anti-correlated "
            "series): the Gamma method gives no error"
        )
    return MeanErrorResult(_mean(x), error, result.tau)


# -- resampling ------------------------------------------------------------------------
def _as_result(values: np.ndarray) -> float | np.ndarray:
    return float(values) if values.ndim == 0 else values


def bootstrap(
    func: Callable[..., npt.ArrayLike],
    *samples: Data,
    n_boot: int = 1000,
    random_state: RandomState = None,
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Bootstrap error of ``func(*samples)``, resampling rows of all samples jointly.

    Each replicate draws ``n`` row indices with replacement and applies them to every sample
    (so paired data stay paired). Use for independent rows; for correlated chains use
    :func:`jackknife` with blocks.

    Parameters
    ----------
    func : callable
        ``func(*arrays)`` returning a scalar or an array (of fixed shape); it receives float64
        NumPy arrays.
    *samples : array_like or torch.Tensor
        Arrays with the same number of rows (axis 0), at least 2.
    n_boot : int, default=1000
        Number of bootstrap replicates, >= 2.
    random_state : int, numpy Generator or RandomState, optional
        Source of the resampling indices (``None``: fresh OS entropy).

    Returns
    -------
    estimate : float or ndarray
        ``func`` on the full samples.
    error : float or ndarray
        Standard deviation of ``func`` over the replicates.

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.lattice.stats import bootstrap
    >>> x = np.random.default_rng(0).normal(size=400)
    >>> mean, err = bootstrap(np.mean, x, random_state=1)
    >>> bool(abs(err - x.std() / 20) < 0.1 * x.std() / 20)
    True
    """
    arrays, n = _check_samples(func, samples)
    n_boot = check_int("n_boot", n_boot, 2)
    rng = _check_rng(random_state)
    estimate = _as_float_array(func(*arrays), "the value of func")
    replicates = np.empty((n_boot,) + estimate.shape)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        replicates[b] = _as_float_array(func(*(a[idx] for a in arrays)), "the value of func")
    return _as_result(estimate), _as_result(replicates.std(axis=0, ddof=1))


def jackknife(
    func: Callable[..., npt.ArrayLike], *samples: Data, n_blocks: int = 20
) -> tuple[float | np.ndarray, float | np.ndarray]:
    r"""Blocked (delete-one-block) jackknife estimate and error of ``func(*samples)``.

    The rows (axis 0) are cut into ``n_blocks`` contiguous blocks (sizes differing by at most
    one); with blocks longer than the autocorrelation time this accounts for correlations
    along a Markov chain. With :math:`\theta_b` the value without block ``b``, :math:`B`
    blocks and :math:`\bar\theta` their mean,

    .. math::

        \hat\theta_\text{jack} = B\,\hat\theta - (B-1)\bar\theta, \qquad
        \sigma^2 = \frac{B-1}{B}\sum_b (\theta_b - \bar\theta)^2 .

    Parameters
    ----------
    func : callable
        ``func(*arrays)`` returning a scalar or an array (of fixed shape); it receives float64
        NumPy arrays.
    *samples : array_like or torch.Tensor
        Arrays with the same number of rows (axis 0).
    n_blocks : int, default=20
        Number of blocks, between 2 and the number of rows (``n_blocks = n``: the ordinary
        delete-one jackknife).

    Returns
    -------
    estimate : float or ndarray
        Bias-corrected estimate :math:`\hat\theta_\text{jack}`.
    error : float or ndarray
        Jackknife error.

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.lattice.stats import jackknife
    >>> x = np.arange(10.0)
    >>> mean, err = jackknife(np.mean, x, n_blocks=10)
    >>> float(mean), bool(np.isclose(err, x.std(ddof=1) / np.sqrt(10)))
    (4.5, True)
    """
    arrays, n = _check_samples(func, samples)
    n_blocks = check_int("n_blocks", n_blocks, 2)
    if n_blocks > n:
        raise ValueError(f"n_blocks must be <= the number of rows {n}, got {n_blocks}")
    estimate = _as_float_array(func(*arrays), "the value of func")
    edges = np.linspace(0, n, n_blocks + 1).round().astype(int)
    leave_out = np.stack(
        [
            _as_float_array(func(*(np.delete(a, np.s_[lo:hi], axis=0) for a in arrays)),
                            "the value of func")
            for lo, hi in zip(edges[:-1], edges[1:])
        ]
    )
    mean = leave_out.mean(axis=0)
    corrected = n_blocks * estimate - (n_blocks - 1) * mean
    error = np.sqrt((n_blocks - 1) / n_blocks * ((leave_out - mean) ** 2).sum(axis=0))
    return _as_result(corrected), _as_result(error)


# -- importance weights ------------------------------------------------------------------
def _as_log_weights(log_w: Data) -> np.ndarray:
    log_w = _as_float_array(log_w, "log_w")
    if log_w.ndim != 1 or log_w.size == 0:
        raise ValueError(f"log_w must be a non-empty 1-D array, got shape {log_w.shape}")
    if np.isnan(log_w).any() or np.isposinf(log_w).any():
        raise ValueError("log_w must not contain NaN or +inf (-inf, a zero weight, is allowed)")
    if np.isneginf(log_w).all():
        raise ValueError("log_w needs at least one finite value (all weights are zero)")
    return log_w


def _ess_fraction(log_w: np.ndarray) -> float:
    """``exp(2 LSE(log w) - LSE(2 log w)) / N`` (0 when every weight is zero)."""
    lse = logsumexp(log_w)
    if not np.isfinite(lse):
        return 0.0
    return float(np.exp(2 * lse - logsumexp(2 * log_w)) / log_w.size)


@overload
def ess(
    log_w: Data,
    *,
    return_error: Literal[False] = ...,
    n_boot: int = ...,
    random_state: RandomState = ...,
) -> float: ...


@overload
def ess(
    log_w: Data,
    *,
    return_error: Literal[True],
    n_boot: int = ...,
    random_state: RandomState = ...,
) -> tuple[float, float]: ...


@overload
def ess(
    log_w: Data,
    *,
    return_error: bool = ...,
    n_boot: int = ...,
    random_state: RandomState = ...,
) -> float | tuple[float, float]: ...


def ess(
    log_w: Data,
    *,
    return_error: bool = False,
    n_boot: int = 1000,
    random_state: RandomState = None,
) -> float | tuple[float, float]:
    r"""Effective sample size fraction of importance weights, ESS/N.

    .. math::

        \frac{\mathrm{ESS}}{N} = \frac{(\sum_i w_i)^2}{N\sum_i w_i^2}
        = \frac{\exp(2\,\mathrm{LSE}(\log w) - \mathrm{LSE}(2\log w))}{N} \in [1/N, 1],

    computed in log space. It is biased upward on small samples: measure it on many (e.g.
    >= 4096) fresh samples and report the bootstrap error.

    Parameters
    ----------
    log_w : array_like or torch.Tensor of shape (N,)
        Log-weights, e.g. ``-S(x) - ln q(x)`` for ``x ~ q``; ``-inf`` (zero weight) is
        allowed, NaN and ``+inf`` are not.
    return_error : bool, default=False
        Also return the bootstrap error of ESS/N.
    n_boot : int, default=1000
        Bootstrap replicates when ``return_error`` is true.
    random_state : int, numpy Generator or RandomState, optional
        Randomness of the bootstrap.

    Returns
    -------
    float or (float, float)
        ESS/N, or ``(ESS/N, error)`` with ``return_error=True``.

    Examples
    --------
    >>> from skphys.lattice.stats import ess
    >>> ess([0.0, 0.0, 0.0, 0.0])
    1.0
    >>> round(ess([0.0, -100.0, -100.0, float("-inf")]), 6)
    0.25
    """
    log_w = _as_log_weights(log_w)
    if return_error:
        value, error = bootstrap(_ess_fraction, log_w, n_boot=n_boot, random_state=random_state)
        return float(value), float(error)  # already floats: _ess_fraction is scalar
    return _ess_fraction(log_w)


def pareto_k(log_w: Data) -> float:
    r"""Shape :math:`\hat k` of the right tail of importance weights: can their means be trusted?

    A generalized Pareto distribution is fitted (maximum likelihood,
    :func:`scipy.stats.genpareto`) to the :math:`M = \min(N/5, 3\sqrt N)` largest weights
    above the next largest, as in Pareto-smoothed importance sampling (Vehtari, Simpson,
    Gelman, Yao, Gabry, :arxiv:`1507.02646`). Weights with tail shape :math:`k` have finite
    moments of order below :math:`1/k`: for :math:`k \ge 1/2` their variance is infinite,
    so ESS/N and the delta-method errors of :func:`importance_mean` and
    :func:`log_mean_exp` are meaningless and the estimates converge slowly towards values
    they can miss by many quoted errors; above about 0.7 importance sampling is
    impractical. A good proposal gives a small or negative :math:`\hat k` (log-weights
    normal with standard deviation 0.3 give about 0, with 1 about 0.2-0.35 on 16384
    samples); its statistical error at that size is about 0.1. When at most half of the
    :math:`M + 1` largest weights are distinct (equal weights, or a model of discrete
    configurations that keeps re-drawing its highest-weight states) the tail is atomic and
    bounded, and :math:`-\infty` is returned rather than a fit to ties.

    Parameters
    ----------
    log_w : array_like or torch.Tensor of shape (N,)
        Log-weights, ``N >= 25``; ``-inf`` is allowed, NaN and ``+inf`` are not.

    Returns
    -------
    float
        ``inf`` when the largest weights span more than :math:`e^{709}` (no fit is needed to
        see an infinite variance).

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.lattice.stats import pareto_k
    >>> u = np.random.default_rng(0).random(10_000)
    >>> round(pareto_k(-0.8 * np.log(u)), 2)  # weights u**-0.8: a Pareto tail of k = 0.8
    0.85
    """
    log_w = _as_log_weights(log_w)
    n = log_w.size
    if n < _MIN_TAIL_WEIGHTS:
        raise ValueError(f"pareto_k needs at least {_MIN_TAIL_WEIGHTS} log-weights, got {n}")
    m = int(min(n / 5, 3 * math.sqrt(n)))
    top = np.sort(log_w)[-(m + 1):]
    if not np.isfinite(top[0]):
        raise ValueError("pareto_k needs more than min(N/5, 3 sqrt N) non-zero weights")
    if 2 * np.unique(top).size <= top.size:  # mostly repeated values: a bounded, atomic tail
        return -math.inf
    with np.errstate(over="ignore"):
        excess = np.expm1(top[1:] - top[0])  # w / w_threshold - 1: scale-free
    if not np.isfinite(excess).all():  # the tail spans more than e^709: no finite variance
        return math.inf
    return float(genpareto.fit(excess, floc=0)[0])


@overload
def log_mean_exp(log_w: Data, return_error: Literal[False] = ...) -> float: ...


@overload
def log_mean_exp(log_w: Data, return_error: Literal[True]) -> tuple[float, float]: ...


@overload
def log_mean_exp(log_w: Data, return_error: bool = ...) -> float | tuple[float, float]: ...


def log_mean_exp(log_w: Data, return_error: bool = False) -> float | tuple[float, float]:
    r""":math:`\ln\big(\frac1N\sum_i e^{\log w_i}\big) = \mathrm{LSE}(\log w) - \ln N`.

    With ``log w = -S - ln q`` for ``x ~ q`` this is the standard estimate of
    :math:`\ln Z` (unbiased for :math:`Z`, biased low for :math:`\ln Z`).

    Parameters
    ----------
    log_w : array_like or torch.Tensor of shape (N,)
        Log-weights; ``-inf`` is allowed, NaN and ``+inf`` are not.
    return_error : bool, default=False
        Also return the delta-method error :math:`\sigma_w / (\sqrt N\, \bar w)` (sample
        standard deviation, ``ddof=1``; needs ``N >= 2``).

    Returns
    -------
    float or (float, float)
        The log of the mean weight (and its error).

    Examples
    --------
    >>> import math
    >>> from skphys.lattice.stats import log_mean_exp
    >>> math.isclose(log_mean_exp([math.log(1.0), math.log(3.0)]), math.log(2.0))
    True
    >>> log_mean_exp([0.0, 0.0, 0.0], return_error=True)
    (0.0, 0.0)
    """
    log_w = _as_log_weights(log_w)
    value = float(logsumexp(log_w) - math.log(log_w.size))
    if not return_error:
        return value
    if log_w.size < 2:
        raise ValueError(f"the error needs at least 2 log-weights, got {log_w.size}")
    w = np.exp(log_w - log_w.max())
    return value, float(w.std(ddof=1) / (math.sqrt(log_w.size) * w.mean()))


def importance_mean(values: Data, log_w: Data) -> tuple[float, float]:
    r"""Self-normalized importance-sampling mean of ``values`` and its delta-method error.

    .. math::

        \bar O = \sum_i \tilde w_i O_i, \qquad
        \sigma^2 = \sum_i \tilde w_i^2 (O_i - \bar O)^2, \qquad
        \tilde w_i = w_i / \textstyle\sum_j w_j,

    for independent proposals :math:`x_i \sim q` with :math:`w_i = e^{-S(x_i)}/q(x_i)`. The
    estimate is consistent (its bias is of order 1/N); the error is trustworthy only when the
    :func:`ess` is not small and the weights' tail shape :func:`pareto_k` is below 1/2.

    Parameters
    ----------
    values : array_like or torch.Tensor of shape (N,)
        The observable on each proposal.
    log_w : array_like or torch.Tensor of shape (N,)
        Log-weights; ``-inf`` is allowed, NaN and ``+inf`` are not.

    Returns
    -------
    (mean, error) : tuple of float

    Examples
    --------
    >>> from skphys.lattice.stats import importance_mean
    >>> mean, error = importance_mean([1.0, 3.0, 5.0], [0.0, 0.0, float("-inf")])
    >>> mean, round(error, 4)  # the zero-weight sample drops out
    (2.0, 0.7071)
    """
    log_w = _as_log_weights(log_w)
    values = _as_float_array(values, "values")
    if values.shape != log_w.shape:
        raise ValueError(f"values must have the shape of log_w {log_w.shape}, got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("values must be finite")
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    scale = _power_of_two_scale(values)  # no overflow in the squares of huge values
    values = values / scale
    mean = float(np.sum(w * values))
    error = float(np.sqrt(np.sum(w**2 * (values - mean) ** 2)))
    return mean * scale, error * scale


def _thermodynamics(energy: np.ndarray, log_q: np.ndarray, beta: float) -> np.ndarray:
    """``[F_q, F, U, S, C]`` of one sample (see :func:`reweighted_thermodynamics`)."""
    log_w = -beta * energy - log_q
    log_z = logsumexp(log_w) - math.log(log_w.size)
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    u = np.sum(w * energy)
    c = beta**2 * np.sum(w * (energy - u) ** 2)
    f_q = np.mean(energy + log_q / beta)
    return np.array([f_q, -log_z / beta, u, beta * u + log_z, c])


def reweighted_thermodynamics(
    energy: Data, log_q: Data, temperature: float, n_blocks: int = 20
) -> dict[str, tuple[float, float]]:
    r"""Free energies, energy, entropy and heat capacity from samples of a tractable model.

    For independent samples :math:`x_i \sim q` of a model with exact :math:`\ln q`, and the
    Boltzmann target :math:`p \propto e^{-\beta E}`, with :math:`\ln w = -\beta E - \ln q`
    and self-normalized weights :math:`\tilde w`:

    * variational free energy :math:`F_q = \overline{E + T\ln q} \ge F`;
    * free energy :math:`F = -T\ln\overline{w}` (neural importance sampling);
    * energy :math:`U = \sum_i \tilde w_i E_i`;
    * entropy :math:`S = \beta (U - F)` (in units of :math:`k_B`);
    * heat capacity :math:`C = \beta^2 \sum_i \tilde w_i (E_i - U)^2`.

    The errors are delete-one-block jackknife errors (which also remove the leading
    :math:`O(1/N)` bias of the ratio estimates); they are trustworthy when the
    :func:`ess` of the weights is not small.

    Parameters
    ----------
    energy : array_like or torch.Tensor of shape (N,)
        Energies :math:`E(x_i)` (totals, in the units of the temperature).
    log_q : array_like or torch.Tensor of shape (N,)
        Model log-densities :math:`\ln q(x_i)`.
    temperature : float
        Temperature :math:`T > 0` of the target.
    n_blocks : int, default=20
        Jackknife blocks.

    Returns
    -------
    dict
        ``free_energy_variational``, ``free_energy``, ``energy``, ``entropy``,
        ``heat_capacity``: each ``(value, error)``, extensive (not per site).

    Examples
    --------
    Two states of energies 0 and 1 at T = 1, sampled from the exact distribution:

    >>> import numpy as np
    >>> from skphys.lattice.stats import reweighted_thermodynamics
    >>> energy = np.array([0.0] * 73 + [1.0] * 27)
    >>> log_q = -energy - np.log1p(np.exp(-1.0))
    >>> u, err = reweighted_thermodynamics(energy, log_q, 1.0)["energy"]
    >>> round(u, 2)
    0.27
    """
    energy = _as_float_array(energy, "energy")
    log_q = _as_float_array(log_q, "log_q")
    if energy.ndim != 1 or energy.shape != log_q.shape:
        raise ValueError(
            f"energy and log_q must be 1-D of equal length, got {energy.shape} and {log_q.shape}"
        )
    if not (np.isfinite(energy).all() and np.isfinite(log_q).all()):
        raise ValueError("energy and log_q must be finite")
    temperature = check_real("temperature", temperature, low=0.0, low_inclusive=False)
    beta = 1.0 / temperature
    values, errors = jackknife(
        lambda e, lq: _thermodynamics(e, lq, beta), energy, log_q, n_blocks=n_blocks
    )
    # _thermodynamics returns a vector, so jackknife returns arrays
    assert isinstance(values, np.ndarray) and isinstance(errors, np.ndarray)
    names = ("free_energy_variational", "free_energy", "energy", "entropy", "heat_capacity")
    return {name: (float(v), float(e)) for name, v, e in zip(names, values, errors)}
