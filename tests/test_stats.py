"""Gamma method, resampling and ESS of skphys.lattice.stats against exactly known cases."""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.signal import lfilter

from skphys.lattice.stats import (
    MeanErrorResult,
    TauIntResult,
    autocorrelation,
    bootstrap,
    ess,
    importance_mean,
    jackknife,
    log_mean_exp,
    mean_error,
    pareto_k,
    tau_int,
)


def ar1(rho: float, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Stationary AR(1) chains ``x_t = rho x_{t-1} + e_t`` along the last axis (unit noise).

    Exact: variance ``1/(1 - rho^2)``, autocorrelation ``rho^t``,
    ``tau_int = (1 + rho) / (2 (1 - rho))``.
    """
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=shape)
    start = rng.normal(size=shape[:-1]) / math.sqrt(1 - rho**2)
    return lfilter([1.0], [1.0, -rho], noise, axis=-1, zi=(rho * start)[..., None])[0]


def exact_tau(rho: float) -> float:
    return (1 + rho) / (2 * (1 - rho))


# -- Gamma method --------------------------------------------------------------------------
def test_tau_int_of_ar1_chain():
    result = tau_int(ar1(0.9, (1_000_000,), seed=0))
    assert isinstance(result, TauIntResult)
    assert abs(result.tau / exact_tau(0.9) - 1) < 0.05
    assert abs(result.tau - exact_tau(0.9)) < 3 * result.tau_err
    assert 0.01 < result.tau_err / result.tau < 0.03  # 2 sqrt((W + 1/2 - tau) / N)
    assert 4 * exact_tau(0.9) < result.window < 20 * exact_tau(0.9)


def test_tau_int_of_several_chains():
    x = ar1(0.8, (16, 20_000), seed=1)
    result = tau_int(x)
    assert abs(result.tau - exact_tau(0.8)) < 3 * result.tau_err
    # the chains are pooled: a single one of them has a much larger error
    assert tau_int(x[0]).tau_err > 3 * result.tau_err


def test_tau_int_of_iid_samples():
    result = tau_int(np.random.default_rng(2).normal(size=100_000))
    assert abs(result.tau - 0.5) < 3 * result.tau_err
    assert result.window <= 3


def test_anticorrelated_series_closes_window_at_once():
    # tau_int(1) <= 1/2 closes Wolff's window at W = 1 (the method assumes Gamma(t) >= 0;
    # for AR(1) with rho = -0.5 this gives 1/2 + rho = 0 instead of 1/6)
    x = ar1(-0.5, (100_000,), seed=3)
    result = tau_int(x)
    assert result.window == 1
    assert result.tau == pytest.approx(0.5 + autocorrelation(x)[1], abs=1e-4)


def test_autocorrelation_matches_direct_sum():
    x = np.random.default_rng(4).normal(size=(3, 50)).cumsum(axis=1)
    delta = x - x.mean()
    direct = np.array(
        [np.mean(delta[:, : 50 - t] * delta[:, t:]) for t in range(50)]
    )
    np.testing.assert_allclose(autocorrelation(x), direct / direct[0], atol=1e-12)


def test_autocorrelation_of_ar1_is_geometric():
    rho = autocorrelation(ar1(0.7, (200_000,), seed=5))
    np.testing.assert_allclose(rho[:10], 0.7 ** np.arange(10), atol=0.02)


def test_short_chains_warn_that_window_did_not_close():
    # many chains much shorter than tau: the noise term of the criterion stays small
    with pytest.warns(RuntimeWarning, match="window did not close"):
        result = tau_int(ar1(0.999, (100, 200), seed=6))
    assert result.window == 100


def test_mean_error_of_ar1_chain():
    rho, n = 0.9, 1_000_000
    result = mean_error(ar1(rho, (n,), seed=7))
    exact_error = math.sqrt(2 * exact_tau(rho) / ((1 - rho**2) * n))
    assert isinstance(result, MeanErrorResult)
    assert result.error == pytest.approx(exact_error, rel=0.05)
    assert abs(result.mean) < 3 * result.error


def test_mean_error_coverage():
    chains = ar1(0.6, (400, 4000), seed=8)
    results = [mean_error(chain) for chain in chains]
    covered = np.mean([abs(r.mean) < r.error for r in results])
    assert 0.6 < covered < 0.76  # 68.3 % expected; binomial sd 2.3 %


def test_constant_series_has_zero_error_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mean_error(np.full(100, 0.1)) == (pytest.approx(0.1), 0.0, 0.5)
        assert tau_int(np.full((3, 10), -2.0)) == (0.5, 0.0, 0)
        np.testing.assert_array_equal(autocorrelation(np.ones(4)), [1.0, 0.0, 0.0, 0.0])


def test_torch_input_equals_numpy_input():
    x = ar1(0.5, (2, 1000), seed=9)
    assert mean_error(torch.from_numpy(x)) == mean_error(x)
    assert tau_int(torch.from_numpy(x).float()).tau == pytest.approx(tau_int(x).tau, rel=1e-5)


def test_gamma_method_validates_input():
    with pytest.raises(ValueError, match="shape"):
        tau_int(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="length >= 2"):
        mean_error([1.0])
    with pytest.raises(ValueError, match="finite"):
        autocorrelation([1.0, math.nan, 2.0])
    with pytest.raises(ValueError, match="S must be"):
        tau_int(np.arange(10.0), S=0.0)
    with pytest.raises(ValueError, match="tau_int"):
        mean_error(np.tile([1.0, -1.0], 50))


# -- resampling -----------------------------------------------------------------------------
def test_bootstrap_error_of_mean():
    x = np.random.default_rng(10).normal(size=2000)
    estimate, error = bootstrap(np.mean, x, n_boot=2000, random_state=0)
    assert estimate == x.mean()
    assert error == pytest.approx(x.std() / math.sqrt(x.size), rel=0.08)


def test_bootstrap_resamples_rows_jointly():
    x = np.random.default_rng(11).normal(size=(300, 2))
    _, error = bootstrap(lambda a, b: a.mean() - b.mean(), x, x, n_boot=50, random_state=1)
    assert error == 0.0
    _, error = bootstrap(lambda a: a.mean(axis=0), x, n_boot=50, random_state=1)
    assert error.shape == (2,) and np.all(error > 0)


@pytest.mark.parametrize(
    "make", [lambda: 3, lambda: np.random.default_rng(3), lambda: np.random.RandomState(3)]
)
def test_bootstrap_is_reproducible(make):
    x = np.arange(50.0)
    assert bootstrap(np.median, x, n_boot=20, random_state=make()) == bootstrap(
        np.median, x, n_boot=20, random_state=make()
    )


def test_bootstrap_validates_input():
    with pytest.raises(ValueError, match="same number of rows"):
        bootstrap(np.mean, np.ones(5), np.ones(6))
    with pytest.raises(TypeError, match="random_state"):
        bootstrap(np.mean, np.ones(5), random_state="seed")
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap(np.mean, np.ones(5), n_boot=1)
    with pytest.raises(TypeError, match="sample"):
        bootstrap(np.mean)


def test_delete_one_jackknife_of_mean_is_standard_error():
    x = np.random.default_rng(12).normal(size=101)
    estimate, error = jackknife(np.mean, x, n_blocks=x.size)
    assert estimate == pytest.approx(x.mean(), abs=1e-14)
    assert error == pytest.approx(x.std(ddof=1) / math.sqrt(x.size), rel=1e-12)


def test_jackknife_removes_first_order_bias():
    # the jackknife-corrected square of the mean is mean^2 - s^2 / n, unbiased for mu^2
    x = np.random.default_rng(13).normal(size=40)
    estimate, _ = jackknife(lambda a: a.mean() ** 2, x, n_blocks=x.size)
    assert estimate == pytest.approx(x.mean() ** 2 - x.var(ddof=1) / x.size, abs=1e-12)


def test_blocked_jackknife_of_correlated_chain():
    x = ar1(0.9, (100_000,), seed=14)
    _, error = jackknife(np.mean, x, n_blocks=50)
    assert error == pytest.approx(mean_error(x).error, rel=0.3)
    # ignoring the correlations underestimates the error by about sqrt(2 tau) = 4.4
    assert error > 3 * x.std() / math.sqrt(x.size)


def test_jackknife_unequal_blocks_and_validation():
    x = np.arange(23.0)
    estimate, error = jackknife(lambda a: a.mean(axis=0), np.stack([x, 2 * x], 1), n_blocks=5)
    np.testing.assert_allclose(estimate, [11.0, 22.0])
    assert error[1] == pytest.approx(2 * error[0])
    with pytest.raises(ValueError, match="n_blocks"):
        jackknife(np.mean, x, n_blocks=24)
    with pytest.raises(ValueError, match="n_blocks"):
        jackknife(np.mean, x, n_blocks=1)


# -- importance weights ---------------------------------------------------------------------
def test_ess_limits():
    assert ess(np.full(1000, -3.0)) == pytest.approx(1.0, abs=1e-12)
    log_w = np.full(1000, -50.0)
    log_w[17] = 0.0
    assert ess(log_w) == pytest.approx(1e-3, rel=1e-15)
    assert ess(torch.tensor([0.0, 0.0, -math.inf, -math.inf])) == pytest.approx(0.5)


def test_ess_of_lognormal_weights_with_bootstrap_error():
    # log w ~ N(0, sigma^2): (E w)^2 / E w^2 = exp(-sigma^2)
    log_w = 0.5 * np.random.default_rng(15).normal(size=8192)
    value, error = ess(log_w, return_error=True, n_boot=300, random_state=0)
    assert value == ess(log_w)
    assert 0 < error < 0.02
    assert abs(value - math.exp(-0.25)) < 3 * error


@pytest.mark.parametrize("bad", [[0.0, math.nan], [0.0, math.inf], [-math.inf] * 3, [], [[0.0]]])
def test_log_weights_are_validated(bad):
    with pytest.raises(ValueError, match="log_w"):
        ess(bad)
    with pytest.raises(ValueError, match="log_w"):
        log_mean_exp(bad)


def test_log_mean_exp_estimates_log_z():
    # weights w = Z exactly when q is the target: the estimate is exact
    assert log_mean_exp(np.full(10, 2.5)) == pytest.approx(2.5, abs=1e-14)
    assert log_mean_exp([0.0, -math.inf]) == pytest.approx(-math.log(2))


def test_log_mean_exp_error_is_the_delta_method_and_covers_the_truth():
    # weights 1 and 3: mean 2, sample std sqrt(2), error sqrt(2) / (sqrt(2) * 2) = 1/2
    value, error = log_mean_exp([0.0, math.log(3.0)], return_error=True)
    assert value == pytest.approx(math.log(2.0)) and error == pytest.approx(0.5)
    # log-normal weights with E[w] = 1: the estimate of ln E[w] = 0 lies within its error bars
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(200):
        value, error = log_mean_exp(rng.normal(-0.125, 0.5, size=400), return_error=True)
        hits += abs(value) < error
    assert 0.6 < hits / 200 < 0.76  # ~68 % for a 1-sigma interval
    with pytest.raises(ValueError, match="at least 2"):
        log_mean_exp([0.0], return_error=True)


@pytest.mark.parametrize("k", [0.3, 0.6, 1.0])
def test_pareto_k_recovers_the_tail_of_pareto_weights(k):
    # w = u**-k, u uniform: P(w > t) = t**(-1/k), a Pareto tail of shape k
    estimates = [pareto_k(-k * np.log(np.random.default_rng(seed).random(16384)))
                 for seed in range(8)]
    assert abs(np.mean(estimates) - k) < 0.08  # 8 fits, each with an error ~0.09
    assert np.std(estimates) < 0.15


def test_pareto_k_of_gaussian_importance_sampling():
    """Target N(0, s^2), proposal N(0, 1): for s > 1, w = exp(x^2 (1 - 1/s^2) / 2) has
    k = 1 - 1/s^2 (infinite weight variance from s^2 = 2); a narrower target gives bounded
    weights, a negative k."""
    x = np.random.default_rng(3).normal(size=16384)
    for s2, k in [(4.0, 0.75), (2.0, 0.5)]:
        estimate = pareto_k(0.5 * x**2 * (1 - 1 / s2))
        assert abs(estimate - k) < 0.2, (s2, estimate)
    assert pareto_k(0.5 * x**2 * (1 - 1 / 0.5)) < 0
    assert pareto_k(np.zeros(100)) == -math.inf  # equal weights
    with pytest.raises(ValueError, match="at least 25"):
        pareto_k(np.zeros(24))
    with pytest.raises(ValueError, match="non-zero weights"):
        pareto_k(np.r_[np.zeros(3), np.full(97, -math.inf)])


def test_pareto_k_of_a_discrete_model_redrawing_its_heaviest_states():
    """q and p on five states, p putting most mass on two that q rarely draws: the weights
    are bounded and the largest are two values drawn again and again. A tail fitted to
    those ties reads k = 1.33 (an Ising VAN at T = 1.5 gave 1.2), so none is fitted."""
    q, p = np.array([0.4, 0.3, 0.25, 0.03, 0.02]), np.array([0.05, 0.05, 0.1, 0.4, 0.4])
    states = np.random.default_rng(0).choice(5, size=4000, p=q)
    log_w = np.log(p / q)[states]
    assert pareto_k(log_w) == -math.inf
    jitter = np.random.default_rng(1).normal(scale=1e-3, size=log_w.size)
    assert pareto_k(log_w + jitter) > -math.inf  # distinct values: a tail is fitted


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(-1e3, 1e3))
def test_pareto_k_ignores_the_normalization_and_order(seed, shift):
    log_w = np.random.default_rng(seed).standard_t(3, size=400)
    value = pareto_k(log_w)
    assert pareto_k(log_w + shift) == pytest.approx(value, abs=1e-3)  # no overflow
    assert pareto_k(log_w[::-1]) == value


finite_log_w = arrays(
    np.float64,
    st.integers(1, 50),
    elements=st.floats(-700, 700, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=50, deadline=None)
@given(finite_log_w, st.floats(-1e3, 1e3))
def test_ess_properties(log_w, shift):
    value = ess(log_w)
    assert 1 / log_w.size - 1e-12 <= value <= 1 + 1e-12
    assert ess(log_w + shift) == pytest.approx(value, rel=1e-9)
    assert ess(log_w[::-1]) == pytest.approx(value, rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(finite_log_w, st.floats(-1e3, 1e3))
def test_log_mean_exp_properties(log_w, shift):
    value = log_mean_exp(log_w)
    assert log_w.min() - 1e-9 <= value <= log_w.max() + 1e-9
    assert log_mean_exp(log_w + shift) == pytest.approx(value + shift, abs=1e-9)


# -- extreme magnitudes, NaN and complex data -----------------------------------------------------
@pytest.mark.parametrize("scale", [1e-300, 1e160, 1e300])
def test_gamma_method_is_scale_free_up_to_the_float64_limits(scale):
    """tau_int and the autocorrelation do not depend on the units; the mean and its error
    scale with them. Squares of |x| > 1e154 overflow, so the series is rescaled first."""
    x = ar1(0.6, (2, 2000), seed=4)
    ref_tau, ref_mean = tau_int(x), mean_error(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings either
        tau, mean = tau_int(x * scale), mean_error(x * scale)
        rho = autocorrelation(x * scale)
    assert tau.window == ref_tau.window
    assert tau.tau == pytest.approx(ref_tau.tau, rel=1e-12)
    assert mean.mean == pytest.approx(ref_mean.mean * scale, rel=1e-12)
    assert mean.error == pytest.approx(ref_mean.error * scale, rel=1e-12)
    np.testing.assert_allclose(rho, autocorrelation(x), rtol=1e-10, atol=1e-14)


def test_importance_mean_of_huge_values_does_not_overflow():
    values = np.array([1.0, 3.0, 5.0]) * 1e300
    mean, error = importance_mean(values, [0.0, 0.0, -np.inf])
    assert mean == pytest.approx(2e300) and error == pytest.approx(0.7071067811865476e300)


@pytest.mark.parametrize("resample", [bootstrap, jackknife], ids=lambda f: f.__name__)
def test_resampling_refuses_nan_complex_data_and_a_bad_func(resample):
    x = np.arange(10.0)
    kwargs = {"n_blocks": 5} if resample is jackknife else {"random_state": 0}
    with pytest.raises(ValueError, match=r"samples\[1\] must contain only finite values, got "
                       r"1 NaN"):
        resample(np.cov, x, np.where(x == 3, np.nan, x), **kwargs)
    with pytest.raises(TypeError, match=r"samples\[0\] must hold real numbers, got complex"):
        resample(np.mean, x + 1j, **kwargs)
    with pytest.raises(TypeError, match="the value of func must hold real numbers"):
        resample(lambda a: a.mean() * 1j, x, **kwargs)
    with pytest.raises(TypeError, match="func must be callable"):
        resample("mean", x, **kwargs)


def test_complex_series_are_refused_not_cast():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's ComplexWarning would be an error too
        for fn in (tau_int, mean_error, autocorrelation):
            with pytest.raises(TypeError, match="x must hold real numbers, got complex"):
                fn(torch.tensor([1.0, 2.0, 3.0]) * 1j)
