"""Estimates never mislead silently: the thresholds of skphys.lattice.reliability, the
check at the end of every fit, and a small bias suite of deliberately poor models whose
estimates, whenever they are far from the exact value, must have warned."""

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from skphys import (
    Adam,
    AutoregressiveHamiltonian,
    CouplingFlow,
    FlowSampler,
    PixelCNN,
    UnreliableEstimateWarning,
)
from skphys.lattice import FreeScalar, Ising
from skphys.lattice.exact import T_C, free_scalar_propagator, ising_energy
from skphys.lattice.reliability import (
    MAX_PARETO_K,
    chain_mean_error,
    chain_problems,
    weight_problems,
)


def _pareto_log_weights(k, n, seed):
    """Log-weights whose weights have an exact Pareto tail of shape ``k``."""
    return -k * np.log(np.random.default_rng(seed).random(n))


@pytest.mark.parametrize("seed", range(3))
def test_weight_threshold_is_the_infinite_variance_point(seed):
    assert MAX_PARETO_K == 0.5
    assert weight_problems(_pareto_log_weights(0.8, 16384, seed))  # infinite variance
    assert not weight_problems(_pareto_log_weights(0.25, 16384, seed))  # finite variance
    assert not weight_problems(np.zeros(10))  # too few weights to fit a tail: no claim


def test_chain_problems_name_each_reason():
    assert chain_problems(acceptance=0.5, n_distinct=1000) == []
    assert "acceptance" in chain_problems(acceptance=0.01)[0]
    assert "distinct" in chain_problems(n_distinct=3)[0]
    assert chain_problems(n_distinct=3, n_states=16) == []  # a 2x2 Ising lattice
    assert "window" in chain_problems(window_closed=False)[0]


def test_chain_mean_error_matches_the_ar1_error():
    """AR(1) with rho = 0.9: tau_int = (1 + rho) / (2 (1 - rho)) = 9.5."""
    rng = np.random.default_rng(0)
    x = np.zeros(200_000)
    for i in range(1, x.size):
        x[i] = 0.9 * x[i - 1] + rng.normal()
    (mean, error, tau), closed = chain_mean_error(x)
    assert closed
    assert tau == pytest.approx(9.5, rel=0.1)
    assert abs(mean) < 4 * error


def _estimates(model, observable, exact):
    """(pull, warned) of each estimate of the suite."""
    results = []
    for method in ("mh", "importance"):
        for n in (1024, 8192):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                mean, error = model.estimate(observable, n, method=method)
            pull = (mean - exact) / error if error > 0 else math.inf
            warned = any(issubclass(w.category, UnreliableEstimateWarning) for w in caught)
            results.append((pull, warned))
    return results


def test_bias_suite_every_far_estimate_warned():
    """Undertrained flows on a light free field (their soft mode is missed) and
    undertrained autoregressive models of the Ising model at T_c: every estimate more than 4
    quoted errors from the exact value warned. The suite must contain such estimates."""
    results = []
    free = FreeScalar((4, 4), m2=0.05)
    g0 = float(free_scalar_propagator((4, 4), 0.05).ravel()[0])
    ising = Ising((4, 4), T_C)
    u = float(ising_energy(4, T_C))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for max_iter in (3, 200):
            flow = FlowSampler(free, flow=CouplingFlow(n_layers=4, hidden_channels=8),
                               max_iter=max_iter, device="cpu", random_state=0).fit()
            results += _estimates(flow, lambda x: x[:, 0] ** 2, g0)
        for max_iter in (5, 50):
            van = AutoregressiveHamiltonian(
                ising, network=PixelCNN(n_layers=2, hidden_channels=8), max_iter=max_iter,
                device="cpu", random_state=0).fit()
            results += _estimates(
                van, lambda x: ising.energy(torch.as_tensor(x)).numpy() / 16, u)
    far = [warned for pull, warned in results if abs(pull) > 4]
    assert len(far) >= 4, results  # the suite does produce badly biased estimates
    assert all(far), results


def test_undertrained_fit_warns_and_reports_its_check():
    theory = FreeScalar((4, 4), m2=0.05)
    with pytest.warns(ConvergenceWarning, match="not usable for reweighting"):
        flow = FlowSampler(theory, flow=CouplingFlow(n_layers=2, hidden_channels=4),
                           max_iter=2, device="cpu", random_state=0).fit()
    assert flow.pareto_k_ > MAX_PARETO_K
    assert 0 <= flow.ess_ < 0.2
    assert 0 <= flow.acceptance_rate_ <= 1


def test_exact_model_fits_without_warning():
    """An affine coupling flow can be exactly the Gaussian of a free field: trained, its
    end-of-fit check passes silently."""
    theory = FreeScalar((2, 2), m2=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        flow = FlowSampler(theory, flow=CouplingFlow(n_layers=2, hidden_channels=8),
                           max_iter=300, dtype="float64", device="cpu",
                           random_state=0).fit()
    assert flow.ess_ > 0.5
    assert flow.pareto_k_ < MAX_PARETO_K


def test_fit_on_data_reports_held_out_likelihood():
    """A Gaussian fitted on plenty of its own samples scores the same on held-out rows; the
    held-out NLL is tracked in history_."""
    X = np.random.default_rng(0).normal(size=(2000, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        flow = FlowSampler(flow=CouplingFlow(n_layers=2, hidden_channels=4), max_iter=200,
                           lattice_shape=(4,), device="cpu", random_state=0).fit(X)
    exact = -0.5 * (1 + math.log(2 * math.pi))  # mean log density per site of N(0, 1)
    assert flow.validation_score_ == pytest.approx(exact, abs=0.1)
    assert flow.train_score_ == pytest.approx(flow.validation_score_, abs=0.1)
    # 200 held-out rows, batches of 64: measured at step 1 and every 4th step
    assert flow.history_["val_nll"].notna().sum() == 1 + 200 // 4
    no_split = FlowSampler(flow=CouplingFlow(n_layers=2, hidden_channels=4), max_iter=2,
                           lattice_shape=(4,), validation_fraction=0.0, device="cpu",
                           random_state=0).fit(X)
    assert not hasattr(no_split, "validation_score_")


def test_unconverged_fit_on_data_warns():
    """Thirty steps of a fit that needs hundreds: the held-out NLL is still falling."""
    X = np.random.default_rng(0).normal(loc=3.0, size=(500, 4))
    with pytest.warns(ConvergenceWarning, match="still falling"):
        FlowSampler(flow=CouplingFlow(n_layers=2, hidden_channels=4), max_iter=30,
                    lattice_shape=(4,), device="cpu", random_state=0).fit(X)


def test_unfinished_early_stopping_warns():
    X = np.random.default_rng(0).normal(size=(200, 4))
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        FlowSampler(flow=CouplingFlow(n_layers=2, hidden_channels=4), max_iter=3,
                    optimizer=Adam(1e-3, tol=1e-9, n_iter_no_change=100),
                    lattice_shape=(4,), device="cpu", random_state=0).fit(X)
