"""AutoregressiveHamiltonian: VAN and maximum likelihood against exact enumeration, errors,
reproducibility, persistence, the architecture objects."""

from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pytest
import torch
from scipy import special
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV

import skphys
from skphys import MADE, Adam, AutoregressiveHamiltonian, PixelCNN
from skphys.autoregressive import AutoregressiveModel, BetaMixture
from skphys.lattice import XY, ComplexPhi4, FreeScalar, Ising, Phi4
from skphys.lattice.exact import free_scalar_log_z
from skphys.lattice.observables import energy_per_site

T = 2.5
SHAPE = (3, 3)
SMALL = dict(network=MADE(hidden_channels=4), device="cpu", dtype="float64")
VAN = dict(max_iter=300, batch_size=512, beta_anneal=0.9,
           optimizer=Adam(1e-2, clip_grad_norm=1.0, n_iter_no_change=100), **SMALL)


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
    f = van.free_energy(20_000)  # per site
    n = f["n_sites"]
    assert n == 9
    assert n * f["free_energy"] - free_energy == pytest.approx(
        T * kl, abs=4 * n * f["free_energy_err"])
    assert abs(n * f["free_energy_nis"] - free_energy) < 3 * n * f["free_energy_nis_err"] + 1e-3
    assert f["ess"] > 0.95
    assert van.z2_mixture_  # on by default for VAN on a Z2-symmetric theory
    assert van.network.z2_mixture is None  # the parameter object is never changed
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
    ah = AutoregressiveHamiltonian(max_iter=400, batch_size=512, lattice_shape=SHAPE,
                                   optimizer=Adam(1e-2, clip_grad_norm=1.0, n_iter_no_change=100),
                                   random_state=0, **SMALL).fit(X)
    log_q = ah.score_samples(states)
    kl = float(np.sum(np.exp(log_p) * (log_p - log_q)))
    assert kl < 0.01  # sampling noise of 20 000 rows over 512 states allows ~ 511 / 4e4
    # the learned Hamiltonian reproduces energy differences (H = E + const) on held-out
    # configurations drawn from p
    held_out = rng.choice(len(states), size=2000, p=np.exp(log_p))
    h = ah.hamiltonian(states[held_out], temperature=T)
    assert np.corrcoef(h, energy[held_out])[0, 1] > 0.995
    assert not ah.z2_mixture_
    assert ah.validation_score_ == pytest.approx(ah.history_["val_nll"].min() * -1)
    assert ah.transform(states[:5]).shape == (5, 9)


def test_augmentation_by_the_symmetries_learns_more_from_few_rows(exact):
    # 300 rows cannot show the 512-state distribution; its translations, reflections,
    # rotations and flip (augment) multiply them: the learned law is much closer to p
    states, _, log_p, _ = exact
    rng = np.random.default_rng(1)
    X = states[rng.choice(len(states), size=300, p=np.exp(log_p))]
    kl = {}
    for augment in (None, ("translation", "reflection", "rotation", "z2")):
        ah = AutoregressiveHamiltonian(max_iter=300, batch_size=256, lattice_shape=SHAPE,
                                       augment=augment, validation_fraction=0.0,
                                       optimizer=Adam(1e-2, n_iter_no_change=1000),
                                       random_state=0, **SMALL).fit(X)
        log_q = ah.score_samples(states)
        kl[augment is None] = float(np.sum(np.exp(log_p) * (log_p - log_q)))
        assert ah.augment_ == (augment or ())
    assert kl[False] < 0.02 and kl[False] < 0.1 * kl[True]


@pytest.mark.parametrize(("theory", "expected"), [
    (None, ("translation", "reflection", "rotation")),
    (Ising(SHAPE, T), ("z2", "translation", "reflection", "rotation")),
    (XY(SHAPE, T), ("o2", "translation", "reflection", "rotation")),
])
def test_default_augmentation_follows_the_theory(theory, expected):
    X = np.random.default_rng(0).uniform(0, 2 * np.pi, size=(40, 9))
    if not isinstance(theory, XY):
        X = np.where(X < np.pi, 1.0, -1.0)
    params = dict(max_iter=2, lattice_shape=None if theory else SHAPE, **SMALL)
    ah = AutoregressiveHamiltonian(theory, random_state=0, **params).fit(X)
    assert ah.augment_ == expected
    assert AutoregressiveHamiltonian(theory or Ising(SHAPE, T), max_iter=2,
                                     **SMALL).fit().augment_ == ()  # VAN: no data


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
    ah = AutoregressiveHamiltonian(XY((2, 3), temperature=1.0), max_iter=20,
                                   batch_size=64, network=PixelCNN(hidden_channels=4),
                                   random_state=0, device="cpu", dtype="float64").fit()
    X = ah.sample(50)
    assert X.shape == (50, 6) and X.min() >= 0 and X.max() < 2 * np.pi
    assert np.isfinite(ah.score_samples(X)).all()
    assert ah.transform(X).shape == (50, 12)
    assert len(ah.get_feature_names_out()) == 12
    assert ah.symmetry_score(X, "flip") < 1e-10  # z2 (theta -> -theta) on by default
    assert ah.rotation_symmetric_  # on by default for VAN on angles: U(1) built in
    assert ah.symmetry_score(X, "rotate") < 1e-10
    data = AutoregressiveHamiltonian(lattice_shape=(2, 3), dof="angle", max_iter=2,
                                     batch_size=8, network=PixelCNN(hidden_channels=4),
                                     random_state=0, device="cpu", dtype="float64").fit(X)
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
        (dict(network="made"), TypeError, "network must be a skphys.PixelCNN or skphys.MADE"),
        (dict(dof="ising"), ValueError, "dof must be"),
        (dict(theory=Ising(SHAPE, T), dof="angle"), ValueError, "does not match"),
        (dict(theory=ComplexPhi4(SHAPE, 1.0, 0.0, 1.0)), TypeError, "use FlowSampler or RGFlow"),
        (dict(theory=Phi4(SHAPE, 1.0, 1.0), dof="spin"), ValueError, "does not match"),
        (dict(theory=Ising(SHAPE, T), lattice_shape=(9,)), ValueError, "lattice_shape"),
        (dict(theory=Ising((2, 2, 2), T), network=PixelCNN()), ValueError,
         r"use network=MADE\(\)"),
        (dict(beta_anneal=1.0), ValueError, "beta_anneal"),
        (dict(validation_fraction=-0.1), ValueError, "validation_fraction"),
        (dict(theory=Ising(SHAPE, T), network=MADE(rotation_symmetric=True)), ValueError,
         "network__rotation_symmetric=True needs dof='angle'"),
        (dict(theory=Ising(SHAPE, T), network=MADE(z2_mixture="yes")), TypeError,
         "network__z2_mixture must be None or a bool"),
        (dict(theory=XY(SHAPE, T), network=PixelCNN(rotation_symmetric=1)), TypeError,
         "network__rotation_symmetric must be None or a bool"),
        (dict(theory=Ising(SHAPE, T), network=MADE(hidden_channels=0)), ValueError,
         "network__hidden_channels"),
        (dict(theory=Ising(SHAPE, T), network=PixelCNN(half_kernel_size=-1)), ValueError,
         "network__half_kernel_size"),
        (dict(augment="all"), ValueError, "augment must be None or 'auto' or a tuple"),
        (dict(augment=("translation", "spin")), ValueError, "augment must be"),
        (dict(augment=("translation", "translation")), ValueError, "distinct"),
        (dict(augment=(1,)), TypeError, "augment must be"),
        (dict(theory=Ising(SHAPE, T), augment=("o2",)), ValueError, "'o2' acts on angles"),
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


@pytest.mark.parametrize("network", [MADE(hidden_channels=4), PixelCNN(hidden_channels=4)])
def test_save_load_and_pickle_round_trip(tmp_path, exact, network):
    states = exact[0]
    ah = AutoregressiveHamiltonian(Ising(SHAPE, T), **{**SMALL, "network": network},
                                   max_iter=3, batch_size=16, random_state=0).fit()
    path = tmp_path / "ah.pt"
    ah.save(path)
    for other in (skphys.load(path), pickle.loads(pickle.dumps(ah))):
        np.testing.assert_array_equal(other.score_samples(states), ah.score_samples(states))
        assert other.theory.temperature == T and other.z2_mixture_
        assert other.network == network
        np.testing.assert_array_equal(other.sample(5), pickle.loads(pickle.dumps(ah)).sample(5))


def test_warm_start_continues_annealing():
    ah = AutoregressiveHamiltonian(theory=Ising((2, 2), T), max_iter=3, batch_size=8,
                                   warm_start=True, random_state=0, **SMALL).fit()
    ah.fit()
    assert ah.n_iter_ == 6 and list(ah.history_["step"]) == [1, 2, 3, 4, 5, 6]
    assert math.isclose(ah.history_["beta"].iloc[-1], (1 - 0.99**6) / T)


@pytest.mark.parametrize("theory, beta_anneal, expected", [
    (Ising((2, 2), T), None, 0.99), (XY((2, 2), 1.0), None, 0.996), (XY((2, 2), 1.0), 0.9, 0.9),
])
def test_default_annealing_depends_on_the_field_type(theory, beta_anneal, expected):
    ah = AutoregressiveHamiltonian(theory, beta_anneal=beta_anneal, max_iter=3, batch_size=8,
                                   random_state=0, **SMALL).fit()
    assert ah.beta_anneal_ == expected
    beta = (1 - expected ** np.arange(1, 4)) / theory.temperature
    np.testing.assert_allclose(ah.history_["beta"], beta, rtol=1e-12)


@pytest.mark.parametrize("dof, from_data, expected", [
    ("real", True, 5), ("real", False, 3), ("spin", True, 3), ("spin", False, 3),
])
def test_default_max_iter_is_longer_for_real_fields_from_data(monkeypatch, dof, from_data,
                                                                expected):
    import skphys._autoregressive_hamiltonian as module

    monkeypatch.setattr(module, "_MAX_ITER", 3)
    monkeypatch.setattr(module, "_REAL_DATA_MAX_ITER", 5)
    theory = FreeScalar((2, 2), m2=1.0) if dof == "real" else Ising((2, 2), T)
    ah = AutoregressiveHamiltonian(theory, batch_size=8, random_state=0, **SMALL)
    if from_data:
        X = np.random.default_rng(0).normal(size=(16, 4))
        ah.fit(X if dof == "real" else np.sign(X))
    else:
        ah.fit()
    assert ah.max_iter is None and ah.n_iter_ == expected


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
    ah = AutoregressiveHamiltonian(theory, random_state=0,
                                   **{**VAN, "network": MADE(hidden_channels=8)}).fit()
    f = ah.free_energy(4000)  # per site
    free_energy /= 6
    assert f["ess"] > 0.5
    assert f["free_energy"] > free_energy - 3 * f["free_energy_err"]  # variational bound
    assert abs(f["free_energy_nis"] - free_energy) < 4 * f["free_energy_nis_err"] + 1e-3 / 6
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


def _spins(n_rows: int, n_sites: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).choice([-1.0, 1.0], size=(n_rows, n_sites))


def test_grid_search_over_a_nested_network_parameter():
    X = _spins(40, 9)
    search = GridSearchCV(
        AutoregressiveHamiltonian(lattice_shape=(3, 3),
                                  network=MADE(n_layers=1, hidden_channels=2), max_iter=2,
                                  batch_size=8, random_state=0, device="cpu"),
        {"network__n_layers": [1, 2]}, cv=2,
    ).fit(X)
    assert search.best_params_["network__n_layers"] in (1, 2)
    assert isinstance(search.best_estimator_.network, MADE)
    assert len(search.best_estimator_.module_.network.hidden) == (
        search.best_params_["network__n_layers"] - 1)


def test_nested_parameters_are_validated_and_copied_on_write():
    default = AutoregressiveHamiltonian().network
    ah = AutoregressiveHamiltonian(lattice_shape=(3, 3), max_iter=2, device="cpu")
    ah.set_params(network__hidden_channels=0)
    assert default.hidden_channels == 32  # the shared default is never changed
    with pytest.raises(ValueError, match="network__hidden_channels"):
        ah.fit(_spins(8, 9))
    assert ah.get_params()["network__hidden_channels"] == 0
    assert "network__z2_mixture" in ah.get_params()


def test_flat_square_spin_data_without_lattice_shape_warns():
    with pytest.warns(UserWarning, match="lattice_shape"):
        ah = AutoregressiveHamiltonian(max_iter=2, batch_size=8, random_state=0,
                                       device="cpu").fit(_spins(16, 64))
    assert ah.lattice_shape_ == (64,)


def test_complex_fields_are_refused_naming_the_flows():
    with pytest.raises(TypeError, match="FlowSampler"):
        AutoregressiveHamiltonian(ComplexPhi4(SHAPE, t=1.0, mu=0.0, lam=1.0), max_iter=2,
                                  device="cpu").fit()


def test_van_on_the_free_field_matches_the_exact_free_energy():
    theory = FreeScalar((2, 2), m2=1.0)
    ah = AutoregressiveHamiltonian(theory, **VAN, random_state=0).fit()
    assert ah.dof_ == "real" and ah.z2_mixture_ and ah.beta_anneal_ == 0.9
    f = ah.free_energy(20_000)
    exact = -free_scalar_log_z((2, 2), 1.0) / 4  # T = 1: F = -ln Z, per site
    assert abs(f["free_energy_nis"] - exact) < 4 * f["free_energy_nis_err"] + 1e-4
    assert exact <= f["free_energy"] < exact + 0.01
    X = ah.sample(4)
    np.testing.assert_allclose(ah.hamiltonian(X), -ah.score_samples(X))  # T = 1


def test_maximum_likelihood_on_real_fields_learns_the_action():
    # exact draws of the free field (a Gaussian): the learned action equals S up to a constant
    theory, shape = FreeScalar((2, 2), m2=0.5), (2, 2)
    precision = torch.autograd.functional.hessian(
        lambda v: theory.action(v[None])[0], torch.zeros(4, dtype=torch.float64))
    rng = np.random.default_rng(0)
    X = rng.multivariate_normal(np.zeros(4), np.linalg.inv(precision.numpy()), size=4000)
    ah = AutoregressiveHamiltonian(lattice_shape=shape, dof="real", max_iter=400,
                                   batch_size=256, optimizer=Adam(1e-2, clip_grad_norm=1.0),
                                   random_state=0, **SMALL).fit(X[:3000])
    held_out = X[3000:]
    action = theory.action(torch.as_tensor(held_out)).numpy()
    learned = ah.hamiltonian(held_out)
    assert np.corrcoef(learned, action)[0, 1] > 0.98  # the rest: 3000 rows' noise
    # the held-out NLL per site against the exact one of the same rows, S + ln Z: their
    # difference is the KL divergence plus the noise of the difference
    exact_nll = (action.mean() + free_scalar_log_z(shape, 0.5)) / 4
    assert abs(-ah.score(held_out) / 4 - exact_nll) < 0.005
    features = ah.transform(held_out[:5])
    assert features.shape == (5, 8) and (features[:, 4:] > 0).all()  # means, then spreads


def test_hamiltonian_needs_a_temperature():
    X = _spins(16, 9)
    ah = AutoregressiveHamiltonian(lattice_shape=SHAPE, max_iter=2, batch_size=8, random_state=0,
                                   **SMALL).fit(X)
    with pytest.raises(ValueError, match="hamiltonian needs a temperature"):
        ah.hamiltonian(X)
    np.testing.assert_allclose(ah.hamiltonian(X, temperature=2.0), -2.0 * ah.score_samples(X))
    with pytest.raises(ValueError, match="temperature"):
        ah.hamiltonian(X, temperature=-1.0)
    theory = AutoregressiveHamiltonian(Ising(SHAPE, T), max_iter=2, batch_size=8,
                                       random_state=0, **SMALL).fit()
    np.testing.assert_allclose(theory.hamiltonian(X), -T * theory.score_samples(X))


def test_sample_methods_and_the_density_interface():
    ah = AutoregressiveHamiltonian(Ising(SHAPE, T), max_iter=2, batch_size=8, random_state=0,
                                   **SMALL).fit()
    x, log_q = ah.module_.sample(16)
    torch.testing.assert_close(log_q, ah.module_.log_prob(x), rtol=0, atol=0)
    assert ah.sample(5, method="mh", n_burnin=10).shape == (5, 9)
    X, log_w = ah.sample(7, method="importance")
    assert X.shape == (7, 9) and log_w.shape == (7,)
    with pytest.raises(ValueError, match="method must be one of"):
        ah.sample(3, method="flow")


def test_free_energy_is_per_site():
    ah = AutoregressiveHamiltonian(Ising((2, 2), T), max_iter=20, batch_size=64,
                                   random_state=0, **SMALL).fit()
    f = ah.free_energy(2000)
    assert f["n_sites"] == 4
    assert set(f) >= {"free_energy", "free_energy_err", "free_energy_nis", "energy",
                      "entropy", "heat_capacity", "heat_capacity_err", "ess"}
    # per site: the energy of the 2 x 2 Ising model lies in [-2, 2] per site, not [-8, 8]
    assert -2.0 <= f["energy"] <= 2.0
    mean, _ = ah.estimate(lambda x: Ising((2, 2), T).energy(torch.from_numpy(x)).numpy() / 4,
                          2000, method="importance")
    assert abs(mean - f["energy"]) < 0.2


@pytest.mark.parametrize("architecture", [PixelCNN, MADE])
def test_architecture_objects_build_the_model_they_describe(architecture):
    base = architecture(n_layers=2, hidden_channels=3)
    model = base.build((3, 3), "spin")
    assert isinstance(model, AutoregressiveModel) and not model.z2_mixture
    assert base((3, 3), "spin", True).z2_mixture  # calling is building
    n_params = sum(p.numel() for p in model.parameters())
    for change in (dict(n_layers=3), dict(hidden_channels=5)):
        other = clone(base).set_params(**change).build((3, 3), "spin")
        assert sum(p.numel() for p in other.parameters()) != n_params, change
    angles = base.build((3, 3), "angle", rotation_symmetric=True)
    assert angles.rotation_symmetric and angles.conditional.n_components == 4
    assert clone(base).set_params(n_components=2).build((3, 3), "angle").conditional \
        .n_components == 2
    assert architecture(z2_mixture=True).build((2, 2)).z2_mixture  # its own setting
    with pytest.raises(ValueError, match="rotation_symmetric=True needs dof='angle'"):
        base.build((3, 3), "spin", rotation_symmetric=True)
    with pytest.raises(ValueError, match="hidden_channels"):
        architecture(hidden_channels=0).build((3, 3))
    assert repr(base) == f"{architecture.__name__}(n_layers=2, hidden_channels=3)"


def test_pixelcnn_refuses_three_dimensional_lattices():
    with pytest.raises(ValueError, match=r"use network=MADE\(\)"):
        PixelCNN().build((2, 2, 2))
    assert MADE(hidden_channels=2).build((2, 2, 2)).n_sites == 8
