"""AutoregressiveHamiltonian: VAN and maximum likelihood against exact enumeration, errors,
reproducibility, persistence."""

from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pytest
import torch
from scipy import special
from sklearn.exceptions import NotFittedError

import skphys
from skphys._autoregressive_hamiltonian import AutoregressiveHamiltonian
from skphys.autoregressive import BetaMixture
from skphys.lattice import XY, Ising, Phi4
from skphys.lattice.observables import energy_per_site

T = 2.5
SHAPE = (3, 3)
SMALL = dict(network="made", hidden_channels=4, device="cpu", dtype="float64")
VAN = dict(max_iter=300, batch_size=512, learning_rate=1e-2, beta_anneal=0.9, **SMALL)


@pytest.fixture(scope="module")
def exact():
    """All 512 states of the 3 x 3 Ising model at T = 2.5 and their exact log-probabilities."""
    states = np.array(list(itertools.product([-1.0, 1.0], repeat=9)))
    energy = Ising(SHAPE, T).energy(torch.tensor(states)).numpy()
    log_p = -energy / T
    log_z = np.logaddexp.reduce(log_p)
    return states, energy, log_p - log_z, -T * log_z


@pytest.fixture(scope="module")
def van():
    return AutoregressiveHamiltonian(theory=Ising(SHAPE, T), random_state=0, **VAN).fit()


def test_van_reaches_the_boltzmann_distribution(van, exact):
    states, _, log_p, free_energy = exact
    log_q = van.score_samples(states)
    assert abs(np.logaddexp.reduce(log_q)) < 1e-10  # normalized
    kl = float(np.sum(np.exp(log_q) * (log_q - log_p)))
    assert 0 <= kl < 2e-3
    # F_q - F = T KL(q || p) >= 0, and the importance-sampled F is unbiased up to its error
    f = van.free_energy(20_000)
    assert f["free_energy"] - free_energy == pytest.approx(T * kl, abs=4 * f["free_energy_err"])
    assert abs(f["free_energy_nis"] - free_energy) < 3 * f["free_energy_nis_err"] + 1e-3
    assert f["ess"] > 0.95
    assert van.z2_symmetric_  # on by default for VAN on a Z2-symmetric theory
    assert van.symmetry_score(states, "flip") < 1e-12
    assert set(van.history_.columns) >= {"step", "loss", "beta", "free_energy"}
    assert van.history_["beta"].iloc[-1] == pytest.approx(1 / T, rel=1e-6)


def test_mh_samples_are_exact(van, exact):
    states, energy, log_p, _ = exact
    X = van.sample(20_000, method="mh")
    mean_energy = Ising(SHAPE, T).energy(torch.tensor(X)).mean().item()
    exact_energy = float(np.sum(np.exp(log_p) * energy))
    se = np.sqrt(np.sum(np.exp(log_p) * (energy - exact_energy) ** 2) / len(X))
    assert abs(mean_energy - exact_energy) < 5 * se


def test_maximum_likelihood_learns_the_hamiltonian(exact):
    states, energy, log_p, _ = exact
    rng = np.random.default_rng(0)
    X = states[rng.choice(len(states), size=20_000, p=np.exp(log_p))]
    ah = AutoregressiveHamiltonian(temperature=T, max_iter=400, batch_size=512,
                                   learning_rate=1e-2, random_state=0, **SMALL).fit(X)
    log_q = ah.score_samples(states)
    kl = float(np.sum(np.exp(log_p) * (log_p - log_q)))
    assert kl < 0.01  # sampling noise of 20 000 rows over 512 states allows ~ 511 / 4e4
    # the learned Hamiltonian reproduces energy differences (H = E + const) on held-out
    # configurations drawn from p
    held_out = rng.choice(len(states), size=2000, p=np.exp(log_p))
    h = ah.hamiltonian(states[held_out])
    assert np.corrcoef(h, energy[held_out])[0, 1] > 0.995
    assert not ah.z2_symmetric_
    assert ah.validation_score_ == pytest.approx(ah.history_["val_nll"].min() * -1)
    assert ah.transform(states[:5]).shape == (5, 9)


def test_reproducible_with_random_state(exact):
    states = exact[0]
    kw = dict(theory=Ising(SHAPE, T), max_iter=5, batch_size=32, **SMALL)
    a = AutoregressiveHamiltonian(random_state=3, **kw).fit()
    b = AutoregressiveHamiltonian(random_state=3, **kw).fit()
    c = AutoregressiveHamiltonian(random_state=4, **kw).fit()
    np.testing.assert_array_equal(a.score_samples(states), b.score_samples(states))
    np.testing.assert_array_equal(a.sample(20), b.sample(20))
    assert not np.array_equal(a.score_samples(states), c.score_samples(states))


def test_angles_with_pixelcnn():
    ah = AutoregressiveHamiltonian(theory=XY((2, 3), temperature=1.0), max_iter=20,
                                   batch_size=64, hidden_channels=4, random_state=0,
                                   device="cpu", dtype="float64").fit()
    X = ah.sample(50)
    assert X.shape == (50, 6) and X.min() >= 0 and X.max() < 2 * np.pi
    assert np.isfinite(ah.score_samples(X)).all()
    assert ah.transform(X).shape == (50, 12)
    assert len(ah.get_feature_names_out()) == 12
    assert ah.symmetry_score(X, "flip") < 1e-10  # z2 (theta -> -theta) on by default
    assert ah.rotation_symmetric_  # on by default for VAN on angles: U(1) built in
    assert ah.symmetry_score(X, "rotate") < 1e-10
    data = AutoregressiveHamiltonian(lattice_shape=(2, 3), dof="angle", max_iter=2,
                                     batch_size=8, hidden_channels=4, random_state=0,
                                     device="cpu", dtype="float64").fit(X)
    assert not data.rotation_symmetric_  # off for data: measured, not built in
    assert data.symmetry_score(X, "rotate") > 1e-3


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.ones((4, 8)), "9"),
        (np.full((4, 9), 0.5), r"spins \+1.0 / -1.0"),
        (np.where(np.eye(4, 9) > 0, np.nan, 1.0), "NaN"),
    ],
)
def test_bad_spin_input(X, match):
    fitted = AutoregressiveHamiltonian(lattice_shape=SHAPE, max_iter=2, batch_size=4,
                                       random_state=0, **SMALL).fit(np.ones((8, 9)))
    with pytest.raises(ValueError, match=match):
        fitted.score_samples(X)
    with pytest.raises(ValueError, match=match):
        AutoregressiveHamiltonian(lattice_shape=SHAPE, **SMALL).fit(X)


@pytest.mark.parametrize("value", [-0.1, 2 * np.pi, 7.0])
def test_angles_out_of_range(value):
    X = np.full((4, 6), 1.0)
    X[1, 2] = value
    with pytest.raises(ValueError, match="angles in"):
        AutoregressiveHamiltonian(dof="angle", lattice_shape=(2, 3), **SMALL).fit(X)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        (dict(network="rnn"), ValueError, "network must be"),
        (dict(dof="ising"), ValueError, "dof must be"),
        (dict(theory=Ising(SHAPE, T), dof="angle"), ValueError, "does not match"),
        (dict(theory=Phi4(SHAPE, 1.0, 1.0)), TypeError, "spins or angles"),
        (dict(theory=Ising(SHAPE, T), lattice_shape=(9,)), ValueError, "lattice_shape"),
        (dict(theory=Ising((2, 2, 2), T), network="pixelcnn"), ValueError, "use network='made'"),
        (dict(beta_anneal=1.0), ValueError, "beta_anneal"),
        (dict(temperature=-1.0), ValueError, "temperature"),
        (dict(theory=Ising(SHAPE, T), rotation_symmetric=True), ValueError,
         "rotation_symmetric=True needs dof='angle'"),
        (dict(theory=Ising(SHAPE, T), z2_symmetric="yes"), ValueError,
         "z2_symmetric must be a bool"),
        (dict(theory=XY(SHAPE, T), rotation_symmetric=1), ValueError,
         "rotation_symmetric must be a bool"),
    ],
)
def test_bad_parameters(params, error, match):
    with pytest.raises(error, match=match):
        AutoregressiveHamiltonian(**{**SMALL, **params}).fit()


def test_needs_theory_or_fit():
    ah = AutoregressiveHamiltonian(**SMALL)
    with pytest.raises(NotFittedError):
        ah.sample(3)
    with pytest.raises(ValueError, match="needs a theory"):
        ah.fit()
    ah.set_params(lattice_shape=(4,), max_iter=2).fit(np.ones((6, 4)))
    with pytest.raises(ValueError, match="needs a theory"):
        ah.free_energy()
    with pytest.raises(ValueError, match="op must be"):
        ah.symmetry_score(np.ones((2, 4)), "mirror")
    with pytest.raises(ValueError, match="needs dof='angle'"):
        ah.symmetry_score(np.ones((2, 4)), "rotate")


@pytest.mark.parametrize("network", ["made", "pixelcnn"])
def test_save_load_and_pickle_round_trip(tmp_path, exact, network):
    states = exact[0]
    ah = AutoregressiveHamiltonian(theory=Ising(SHAPE, T), **{**SMALL, "network": network},
                                   max_iter=3, batch_size=16, random_state=0).fit()
    path = tmp_path / "ah.pt"
    ah.save(path)
    for other in (skphys.load(path), pickle.loads(pickle.dumps(ah))):
        np.testing.assert_array_equal(other.score_samples(states), ah.score_samples(states))
        assert other.theory.temperature == T and other.z2_symmetric_
        np.testing.assert_array_equal(other.sample(5), pickle.loads(pickle.dumps(ah)).sample(5))


def test_warm_start_continues_annealing():
    ah = AutoregressiveHamiltonian(theory=Ising((2, 2), T), max_iter=3, batch_size=8,
                                   warm_start=True, random_state=0, **SMALL).fit()
    ah.fit()
    assert ah.n_iter_ == 6 and list(ah.history_["step"]) == [1, 2, 3, 4, 5, 6]
    assert math.isclose(ah.history_["beta"].iloc[-1], (1 - 0.99**6) / T)


def xy_chain(n_sites: int, temperature: float) -> tuple[float, float]:
    """Exact F and <E>/N of the periodic XY chain, Z = (2 pi)^N sum_m I_m(beta)^N."""
    beta, m = 1 / temperature, np.arange(-30, 31)
    i_m = special.iv(m, beta)
    di_m = (special.iv(m - 1, beta) + special.iv(m + 1, beta)) / 2
    log_z = n_sites * math.log(2 * math.pi) + math.log(np.sum(i_m**n_sites))
    return -temperature * log_z, float(-np.sum(i_m ** (n_sites - 1) * di_m) / np.sum(i_m**n_sites))


def test_van_on_the_xy_chain_matches_the_exact_results():
    theory = XY((6,), temperature=1.0)
    free_energy, energy = xy_chain(6, 1.0)
    ah = AutoregressiveHamiltonian(theory=theory, random_state=0,
                                   **{**VAN, "hidden_channels": 8}).fit()
    f = ah.free_energy(4000)
    assert f["ess"] > 0.5
    assert f["free_energy"] > free_energy - 3 * f["free_energy_err"]  # variational bound
    assert abs(f["free_energy_nis"] - free_energy) < 4 * f["free_energy_nis_err"] + 1e-3
    mean, error = ah.estimate(lambda x: energy_per_site(theory, x), 4000, method="importance")
    assert abs(mean - energy) < 4 * error and error < 0.01


def test_angles_flipped_in_float32_stay_below_two_pi():
    # remainder(-1e-8, 2 pi) rounds up to 2 pi itself in float32: that angle is 0
    theta = torch.tensor([[1e-8, 0.0, 3.0, 2 * math.pi - 1e-3]], dtype=torch.float32)
    flipped = BetaMixture.flip(theta).double()
    assert (flipped >= 0).all() and (flipped < 2 * math.pi).all()
    ah = AutoregressiveHamiltonian(theory=XY((2, 2), temperature=1.0), max_iter=2,
                                   batch_size=8, random_state=0).fit()
    assert np.isfinite(ah.score_samples(flipped.float().numpy())).all()  # accepted as input
