"""Action prediction from two inverse temperatures, and learned couplings."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import BaseEstimator, clone

import skphys
from skphys import FlowSampler, coupling_terms, learned_couplings
from skphys.lattice import Ising, PathIntegral, Phi4, PredictedAction, predict_action
from skphys.lattice.exact import path_integral_correlator
from skphys.lattice.mcmc import hmc, metropolis
from skphys.lattice.stats import mean_error


def _paths(n=6, n_sites=16, seed=0):
    return torch.randn(n, n_sites, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)


# -- action prediction -----------------------------------------------------------------------
@pytest.mark.parametrize("beta3", [6.0, 16.0, 2.0])
def test_prediction_from_exact_actions_is_exact(beta3):
    s1, s2 = (PathIntegral(16, b, "double_well") for b in (4.0, 8.0))
    exact = PathIntegral(16, beta3, "double_well")
    pred = predict_action((s1, s2), (4.0, 8.0), beta3)
    x = _paths()
    torch.testing.assert_close(pred.action(x), exact.action(x))
    torch.testing.assert_close(pred.grad_action(x), exact.grad_action(x))
    torch.testing.assert_close(pred.local_action(x), exact.local_action(x))
    c1, c2 = pred.coefficients
    assert c1 / 4.0 + c2 / 8.0 == pytest.approx(1 / beta3)
    assert c1 * 4.0 + c2 * 8.0 == pytest.approx(beta3)


def test_prediction_up_to_constants_and_samplers():
    # actions known up to constants (as learned ones are) give the action up to a constant
    class Shifted(PathIntegral):
        def __init__(self, n_sites, beta, shift):
            super().__init__(n_sites, beta, "double_well")
            self.shift = shift

        def action(self, x):
            return super().action(x) + self.shift

    pred = predict_action((Shifted(16, 4.0, 3.0), Shifted(16, 8.0, -1.0)), (4.0, 8.0), 6.0)
    x = _paths()
    diff = pred.action(x) - PathIntegral(16, 6.0, "double_well").action(x)
    torch.testing.assert_close(diff, torch.full_like(diff, diff[0].item()))
    assert pred.has_sign_symmetry and clone(pred) == pred
    assert isinstance(pred, PredictedAction)
    # a sampler of the prediction reproduces the exact <x^2> at beta3
    res = hmc(pred, 600, n_chains=8, n_burnin=200, trajectory_length=2.0,
              generator=torch.Generator().manual_seed(0))
    est = mean_error(res.samples.square().mean(-1).numpy())
    exact = path_integral_correlator(PathIntegral(16, 6.0, "double_well"))[0]
    assert abs(est.mean - exact) < 3 * est.error
    res = metropolis(pred, 5, n_chains=2, n_burnin=5, generator=torch.Generator().manual_seed(0))
    assert res.samples.shape == (2, 5, 16)


def test_prediction_errors():
    s1 = PathIntegral(16, 4.0)
    with pytest.raises(ValueError, match="differ"):
        predict_action((s1, s1), (4.0, 4.0), 6.0)
    with pytest.raises(ValueError, match="same lattice"):
        predict_action((s1, PathIntegral(8, 8.0)), (4.0, 8.0), 6.0)
    with pytest.raises(TypeError, match="LatticeTheory"):
        predict_action((s1, lambda x: x), (4.0, 8.0), 6.0)
    with pytest.raises(ValueError, match="two"):
        predict_action((s1,), (4.0,), 6.0)


# -- learned couplings ------------------------------------------------------------------------
def test_couplings_of_exact_hamiltonians():
    rng = np.random.default_rng(0)
    spins = rng.choice([-1.0, 1.0], size=(300, 16))
    table = learned_couplings(Ising((4, 4), temperature=2.5), spins)
    assert list(table.index) == ["nn", "nnn", "field", "constant"]
    np.testing.assert_allclose(table["coupling"], [1, 0, 0, 0], atol=1e-10)
    # Phi4 (Albergo): S = -2 sum_<xy> phi phi + (2d + m2) phi^2 + lam phi^4
    X = rng.normal(size=(300, 16))
    table = learned_couplings(Phi4((4, 4), m2=-3.0, lam=0.5), X)
    np.testing.assert_allclose(table.loc[["nn", "nnn", "field", "x2", "x4"], "coupling"],
                               [2, 0, 0, 1.0, 0.5], atol=1e-10)
    assert table.attrs["r2"] == pytest.approx(1.0)


def test_couplings_standard_errors_cover_the_truth():
    # H = J * (-sum nn) + h * (-sum s) + noise: estimates within a few standard errors
    rng = np.random.default_rng(1)
    X = rng.choice([-1.0, 1.0], size=(4000, 36))
    lattice = X.reshape(-1, 6, 6)
    nn = -(lattice * np.roll(lattice, -1, 1) + lattice * np.roll(lattice, -1, 2)).sum((1, 2))
    noise = rng.normal(size=len(X)) * (1 + 0.5 * np.abs(X.sum(1)) / 6)  # heteroscedastic
    H = 0.7 * nn + 0.2 * -X.sum(1) + 5.0 + noise
    table = learned_couplings(H, X, lattice_shape=(6, 6))
    truth = pd.Series({"nn": 0.7, "nnn": 0.0, "field": 0.2, "constant": 5.0})
    z = (table["coupling"] - truth) / table["std_error"]
    assert (z.abs() < 4).all()
    assert table.loc["nn", "std_error"] == pytest.approx(noise.std() / np.sqrt(4000 * 72),
                                                         rel=0.3)


class _UniformMagnetization(BaseEstimator):
    """Independent spins of one magnetization m fitted by its mean: -ln q is exactly
    -atanh(m) sum_i s_i + const, a field h = atanh(m) (T = 1) with a known spread."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X):
        self.m_ = float(np.mean(X))
        return self

    def score_samples(self, X):
        return np.sum(np.log((1 + self.m_ * np.asarray(X)) / 2), axis=1)


def test_bootstrap_errors_include_the_training():
    # the learned field is exactly linear in the terms: the regression error alone is zero,
    # while h = atanh(m) from n rows of N spins scatters by 1 / sqrt((1 - m^2) n N)
    rng = np.random.default_rng(2)
    m, n = 0.3, 400
    train = np.where(rng.random((n, 16)) < (1 + m) / 2, 1.0, -1.0)
    X = np.where(rng.random((500, 16)) < (1 + m) / 2, 1.0, -1.0)
    model = _UniformMagnetization().fit(train)
    regression = learned_couplings(model, X, lattice_shape=(4, 4))
    assert regression.loc["field", "std_error"] < 1e-8
    assert regression.loc["field", "coupling"] == pytest.approx(np.arctanh(train.mean()))
    table = learned_couplings(model, X, lattice_shape=(4, 4), training_data=train,
                              n_bootstrap=200, random_state=0)
    assert table.attrs["std_error"] == "bootstrap"
    expected = 1 / np.sqrt((1 - m**2) * n * 16)
    assert table.loc["field", "std_error"] == pytest.approx(expected, rel=0.2)
    assert table.loc["field", "coupling"] == regression.loc["field", "coupling"]
    with pytest.raises(TypeError, match="training_data needs hamiltonian to be an estimator"):
        learned_couplings(Ising((4, 4), temperature=2.5), X, training_data=train)
    with pytest.raises(ValueError, match="n_bootstrap"):
        learned_couplings(model, X, lattice_shape=(4, 4), training_data=train, n_bootstrap=1)


def test_couplings_custom_terms_and_errors():
    theory = PathIntegral(16, 4.0, "double_well")
    X = _paths(50).numpy()
    terms = {"kinetic": lambda X: theory.kinetic_term(torch.as_tensor(X)).numpy(),
             "potential": lambda X: theory.potential_term(torch.as_tensor(X)).numpy()}
    table = learned_couplings(theory, X, terms=terms)
    np.testing.assert_allclose(table.loc[["kinetic", "potential"], "coupling"], [0.25, 4.0],
                               rtol=1e-10)
    spins = np.random.default_rng(0).choice([-1.0, 1.0], size=(50, 16))
    with pytest.raises(ValueError, match="linearly dependent"):
        learned_couplings(np.zeros(50), spins, terms=["nn", "x2"], lattice_shape=(4, 4))
    with pytest.raises(ValueError, match="lattice_shape"):
        learned_couplings(np.zeros(50), spins)
    with pytest.raises(ValueError, match="unknown term"):
        learned_couplings(np.zeros(50), spins, terms=["nnnn"], lattice_shape=(4, 4))
    assert set(coupling_terms()) == {"nn", "nnn", "field", "x2", "x4"}


def test_prediction_saves_and_user_potential_refuses(tmp_path):
    pred = predict_action((PathIntegral(8, 2.0, "double_well"),
                           PathIntegral(8, 4.0, "double_well")), (2.0, 4.0), 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two steps do not converge
        fs = FlowSampler(theory=pred, max_iter=2, random_state=0).fit()
        user = FlowSampler(theory=PathIntegral(8, 2.0, lambda x: x**4), max_iter=2,
                           random_state=0).fit()
    fs.save(tmp_path / "pred.skphys")
    assert skphys.load(tmp_path / "pred.skphys").theory == pred
    with pytest.raises(TypeError, match="potential"):
        user.save(tmp_path / "user.skphys")
