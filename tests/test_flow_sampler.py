"""FlowSampler: exactness of the corrected samplers, reproducibility, errors, persistence."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

import skphys
from skphys import FlowSampler, UnreliableEstimateWarning
from skphys.lattice import ComplexPhi4, FreeScalar, IsingDual, Phi4
from skphys.lattice.exact import free_scalar_log_z, free_scalar_propagator
from skphys.lattice.stats import mean_error

SMALL = dict(n_layers=2, hidden_channels=(8,), monitor_every=0, device="cpu")


@pytest.fixture(scope="module")
def imperfect():
    """A deliberately under-trained flow on FreeScalar L = 2.

    Two optimizer steps from the identity map: the flow is still wider than the target in
    every mode, so the importance weights are bounded and the Metropolis-Hastings chain is
    uniformly ergodic, with trustworthy error bars.
    """
    theory = FreeScalar((2, 2), m2=1.5)
    fs = FlowSampler(theory, max_iter=2, random_state=0, dtype="float64", **SMALL).fit()
    return theory, fs


def test_mh_chain_is_exact_for_imperfect_flow(imperfect):
    theory, fs = imperfect
    diag = fs.diagnose(4096)
    assert diag["ess"] < 0.8  # really imperfect
    X = fs.sample(40_000, method="mh")
    exact = free_scalar_propagator((2, 2), 1.5).ravel()
    for site in range(4):
        series = (X[:, 0] * X[:, site]).reshape(8, -1)
        mean, err, _ = mean_error(series)
        assert abs(mean - exact[site]) < 4 * err, (site, mean, exact[site], err)
    # the raw flow is measurably biased for <phi_0^2>: the correction matters
    raw = fs.sample(40_000)
    assert abs(np.mean(raw[:, 0] ** 2) - exact[0]) > 4 * np.std(raw[:, 0] ** 2) / 200


def test_importance_estimate_and_log_z(imperfect):
    theory, fs = imperfect
    exact = free_scalar_propagator((2, 2), 1.5)[0, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnreliableEstimateWarning)  # bounded weights: trusted
        mean, err = fs.estimate(lambda x: x[:, 0] ** 2, 20_000, method="importance")
    assert abs(mean - exact) < 4 * err
    diag = fs.diagnose(20_000)
    assert abs(diag["log_z"] - free_scalar_log_z((2, 2), 1.5)) < 4 * diag["log_z_err"] + 1e-3
    assert diag["kl"] > 0
    assert diag["pareto_k"] < 0.3  # wider than the target: bounded weights


@pytest.mark.parametrize("method", ["mh", "importance"])
def test_estimate_warns_when_the_flow_misses_the_targets_soft_mode(method):
    # m^2 = 0.01: the zero mode has variance 1 / m^2 = 100 under the target, about 1 under a
    # two-step flow, so the weights grow like exp(x^2 / 2) and have a Pareto tail k ~ 1
    fs = FlowSampler(FreeScalar((2, 2), m2=0.01), max_iter=2, random_state=0, dtype="float64",
                     **SMALL).fit()
    with pytest.warns(UnreliableEstimateWarning, match=r"Pareto k = \d\.\d\d > 0\.7"):
        fs.estimate(lambda x: x[:, 0] ** 2, 20_000, method=method)


def test_diagnose_flags_a_flow_narrower_than_the_target(imperfect):
    """Against a much wider target (m^2 = 0.05: the zero mode's variance 20, the flow's
    about 1) the weights have a Pareto tail of k ~ 0.9: infinite variance, flagged."""
    theory, fs = imperfect
    wide = copy.deepcopy(fs).set_params(theory=FreeScalar((2, 2), m2=0.05))
    assert wide.diagnose(16384)["pareto_k"] > 0.6
    assert math.isnan(fs.diagnose(10)["pareto_k"])  # too few weights for a tail fit


@pytest.mark.parametrize("path_gradient", [False, True])
def test_reverse_kl_reaches_exact_free_field(path_gradient):
    theory = FreeScalar((4, 4), m2=0.5)
    fs = FlowSampler(theory, max_iter=300, learning_rate=1e-2, random_state=0,
                     dtype="float64", path_gradient=path_gradient, **SMALL).fit()
    diag = fs.diagnose(4096)
    assert diag["ess"] > 0.98
    assert abs(diag["log_z"] - free_scalar_log_z((4, 4), 0.5)) < 0.01
    assert list(fs.history_.columns) == ["step", "loss", "wall_time"]


def test_history_monitors_ess_and_acceptance():
    fs = FlowSampler(FreeScalar((4, 4), m2=0.5), max_iter=20, random_state=0,
                     **{**SMALL, "monitor_every": 10}).fit()
    monitored = fs.history_.dropna(subset=["ess"])
    assert list(monitored["step"]) == [1, 10, 20]
    assert monitored["acceptance"].between(0, 1).all() and monitored["ess"].between(0, 1).all()


def test_maximum_likelihood_from_data_and_round_trip():
    rng = np.random.default_rng(0)
    theory = FreeScalar((4, 4), m2=0.5)
    cov = np.linalg.inv(np.eye(16) * 0 + _precision(theory))
    X = rng.multivariate_normal(np.zeros(16), cov, size=2000)
    fs = FlowSampler(lattice_shape=(4, 4), max_iter=200, learning_rate=1e-2, random_state=0,
                     dtype="float64", **SMALL).fit(X)
    exact_ll = -0.5 * np.linalg.slogdet(2 * np.pi * np.e * cov)[1]
    assert abs(fs.score(X) - exact_ll) < 0.1
    Z = fs.transform(X[:10])
    np.testing.assert_allclose(fs.inverse_transform(Z), X[:10], atol=1e-10)


def test_both_losses_weigh_the_forward_term():
    """``loss="both"`` is reverse KL + forward_weight x forward KL: with the same seed (same
    samples and data rows) the first-step loss is affine in the weight, with the forward KL
    of the initial flow on the data as slope."""
    theory = FreeScalar((4, 4), m2=0.5)
    X = np.random.default_rng(0).normal(size=(64, 16)) * 3
    first = {}
    for weight in (0.5, 1.0, 2.0):
        fs = FlowSampler(theory, loss="both", forward_weight=weight, max_iter=1,
                         random_state=0, dtype="float64", **SMALL).fit(X)
        first[weight] = fs.history_["loss"].iloc[0]
    slope = first[2.0] - first[1.0]
    assert slope > 1.0  # the identity flow (unit normal) is far from data of variance 9
    np.testing.assert_allclose(first[1.0] - first[0.5], slope / 2, rtol=1e-12)
    with pytest.raises(ValueError, match="forward_weight must be a finite number > 0"):
        FlowSampler(theory, loss="both", forward_weight=-1.0, **SMALL).fit(X)


def _precision(theory):
    hess = torch.autograd.functional.hessian(
        lambda v: theory.action(v.view(1, -1)).sum(),
        torch.zeros(theory.n_features, dtype=torch.float64))
    return hess.numpy()


def test_reproducible_with_random_state():
    theory = Phi4((4, 4), m2=-4.0, lam=8.0)
    a = FlowSampler(theory, max_iter=5, random_state=7, **SMALL).fit()
    b = FlowSampler(theory, max_iter=5, random_state=7, **SMALL).fit()
    np.testing.assert_array_equal(a.sample(4), b.sample(4))
    np.testing.assert_array_equal(a.history_["loss"], b.history_["loss"])


@pytest.mark.parametrize("theory", [IsingDual((4, 4), 2.5), ComplexPhi4((4, 4), 1.0, 4.5, 0.0)])
def test_other_theories(theory):
    fs = FlowSampler(theory, max_iter=3, random_state=0, **SMALL).fit()
    X, log_w = fs.sample(5, method="importance")
    assert X.shape == (5, theory.n_features) and np.all(np.isfinite(log_w))


def test_bad_input():
    theory = Phi4((4, 4), m2=-4.0, lam=8.0)
    with pytest.raises(NotFittedError):
        FlowSampler(theory).sample(3)
    with pytest.raises(ValueError, match="needs a theory"):
        FlowSampler(**SMALL).fit()
    with pytest.raises(ValueError, match="does not match"):
        FlowSampler(theory, lattice_shape=(8, 8), **SMALL).fit()
    with pytest.raises(TypeError, match="theory must be"):
        FlowSampler("phi4", **SMALL).fit()
    fs = FlowSampler(theory, max_iter=2, random_state=0, **SMALL).fit()
    with pytest.raises(ValueError, match="features"):
        fs.score_samples(np.zeros((3, 15)))
    with pytest.raises(ValueError, match="needs 16"):
        FlowSampler(theory, max_iter=2, **SMALL).fit(np.zeros((5, 15)))
    bad = np.zeros((3, 16))
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        fs.score_samples(bad)
    for n in (0, -1, 2.5):
        with pytest.raises(ValueError, match="n_samples"):
            fs.sample(n)
    with pytest.raises(ValueError, match="method"):
        fs.sample(3, method="gibbs")
    with pytest.raises(ValueError, match="flow must be"):
        FlowSampler(theory, flow="maf").fit()


def test_save_load(tmp_path):
    theory = Phi4((4, 4), m2=-4.0, lam=8.0)
    fs = FlowSampler(theory, max_iter=3, random_state=0, **SMALL).fit()
    fs.save(tmp_path / "flow.pt")
    loaded = skphys.load(tmp_path / "flow.pt")
    assert loaded.theory == theory
    X = fs.sample(5)
    np.testing.assert_allclose(loaded.score_samples(X), fs.score_samples(X), rtol=1e-6)
