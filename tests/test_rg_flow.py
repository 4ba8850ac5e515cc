"""RGFlow: exactness against free fields, the bulk encoding, errors, persistence."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

import skphys
from skphys import (
    Adam,
    CouplingBlock,
    CouplingFlow,
    MERAFlow,
    ODEBlock,
    RGFlow,
    UnreliableEstimateWarning,
)
from skphys.lattice import XY, ComplexPhi4, FreeScalar, Ising, IsingDual
from skphys.lattice.exact import (
    T_C,
    free_scalar_log_z,
    free_scalar_propagator,
    ising_dual_log_z,
    ising_energy,
)
from skphys.lattice.stats import mean_error

BLOCK = CouplingBlock(n_layers=4, hidden_channels=(16,))


def small(**flow) -> dict:
    """Small, fast settings (one pair per level, no Z2 mixture, no Fourier layer unless
    ``flow`` asks); ``flow`` are MERAFlow parameters."""
    flow = {"block": BLOCK, "depth": 1, "z2_mixture": False, "fourier_layer": False, **flow}
    return dict(flow=MERAFlow(**flow), monitor_every=0, device="cpu", dtype="float64")


SMALL = small()
THEORY = FreeScalar((4, 4), m2=1.0)
MIXTURE = dict(z2_equivariant=False, z2_mixture=True)
FAST = Adam(1e-2, clip_grad_norm=100.0)


class _NotZ2(FreeScalar):
    """A free field that claims no internal symmetry."""

    internal_symmetries = ()


def _gaussian_samples(shape, m2: float, n: int, seed: int) -> np.ndarray:
    """Exact free-field configurations from the propagator (circulant covariance)."""
    g = free_scalar_propagator(shape, m2).ravel()
    sites = np.stack(np.unravel_index(np.arange(g.size), shape), 1)
    offsets = (sites[None] - sites[:, None]) % np.asarray(shape)
    cov = g[np.ravel_multi_index(tuple(offsets.transpose(2, 0, 1)), shape)]
    return np.random.default_rng(seed).multivariate_normal(np.zeros(g.size), cov, size=n)


@pytest.fixture(scope="module")
def trained():
    """Reverse-KL fit (path gradients) on the free field L = 4 (about 8 CPU s)."""
    return RGFlow(THEORY, max_iter=400, optimizer=FAST, batch_size=128, path_gradient=True,
                  random_state=0, **SMALL).fit()


def test_reverse_kl_reaches_exact_free_field(trained):
    diag = trained.diagnose(8192)
    assert diag["ess"] > 0.8
    exact = free_scalar_log_z((4, 4), 1.0)
    assert abs(diag["log_z"] - exact) < 4 * diag["log_z_err"] + 1e-3
    assert 0 < diag["kl"] < 0.1


def test_levels_and_feature_names(trained):
    assert trained.levels_.shape == (16,)
    assert np.bincount(trained.levels_).tolist() == [12, 4]
    names = trained.get_feature_names_out()
    assert names[0] == "z_l1_r0_c0" and names[5] == "z_l0_r1_c1" and names[10] == "z_l1_r2_c2"


def test_two_component_names_are_prefixed():
    rg = RGFlow(ComplexPhi4((4, 4), t=1.0, mu=4.5, lam=0.0), max_iter=1, random_state=0,
                **SMALL).fit()
    names = rg.get_feature_names_out()
    assert len(names) == 32 and names[0] == "re_z_l1_r0_c0" and names[16] == "im_z_l1_r0_c0"
    assert (rg.levels_[:16] == rg.levels_[16:]).all()


def test_pandas_output_and_pipeline(trained):
    X = trained.sample(50)
    rg = RGFlow(THEORY, max_iter=1, random_state=0, **SMALL).fit().set_output(
        transform="pandas")
    Z = rg.transform(X)
    assert Z.columns.tolist() == rg.get_feature_names_out().tolist()
    top = [c for c in Z.columns if c.startswith("z_l1_")]
    assert len(top) == 4
    pipe = Pipeline([("rg", RGFlow(THEORY, max_iter=1, random_state=0, **SMALL)),
                     ("pca", PCA(2))]).set_output(transform="pandas")
    assert pipe.fit_transform(X).shape == (50, 2)


def test_round_trip_and_effective_action(trained):
    X = trained.sample(64, method="mh")
    Z = trained.transform(X)
    np.testing.assert_allclose(trained.inverse_transform(Z), X, atol=1e-10)
    # S_eff(z) = S(x) + log q(x) - log prior(z)
    action = THEORY.action(torch.as_tensor(X)).numpy()
    log_prior = -0.5 * (Z**2).sum(1) - 8 * np.log(2 * np.pi)
    expected = action + trained.score_samples(X) - log_prior
    np.testing.assert_allclose(trained.effective_action(Z), expected, rtol=1e-10, atol=1e-8)


def test_maximum_likelihood_on_exact_samples():
    X = _gaussian_samples((4, 4), 1.0, 2000, seed=0)
    rg = RGFlow(THEORY, max_iter=300, optimizer=FAST, batch_size=128, random_state=0,
                **SMALL).fit(X)
    assert rg.history_["loss"].iloc[-20:].mean() < rg.history_["loss"].iloc[:5].mean() - 1
    assert rg.diagnose(4096)["ess"] > 0.8
    # without a theory: a 1-D chain of 16 sites
    rg_chain = RGFlow(lattice_shape=(16,), max_iter=5, random_state=0, **SMALL).fit(X)
    assert rg_chain.lattice_shape_ == (16,) and np.bincount(rg_chain.levels_).tolist() == [
        8, 4, 2, 2]


@pytest.mark.parametrize("n_chains", [None, 40])
def test_bulk_hmc_is_exact(trained, n_chains):
    """HMC on S_eff samples the theory exactly (the log-det of G matters: the trained map
    contracts volumes by about exp(-12)). Rows are time-major: 16 chains by default."""
    X = trained.sample(1600, method="bulk_hmc", n_burnin=50, n_chains=n_chains)
    exact = free_scalar_propagator((4, 4), 1.0).ravel()
    chains = n_chains or 16
    products = (X[:, :1] * X).reshape(1600 // chains, chains, 16)  # time, chain, site
    for site in (0, 1, 5):
        series = products[:, :, site].mean(1)  # average over the chains at each time
        mean, err, _ = mean_error(series)
        assert abs(mean - exact[site]) < 4 * err, (site, mean, exact[site], err)


def test_bulk_hmc_rejects_bad_n_chains_and_too_many_samples(trained):
    with pytest.raises(ValueError, match=r"n_samples=\d+ .* more than .* reduce n_samples"):
        trained.sample(10**15, method="bulk_hmc")
    with pytest.raises(ValueError, match="n_chains applies only to method='bulk_hmc'"):
        trained.sample(4, method="mh", n_chains=2)
    with pytest.raises(ValueError, match="n_chains must be at most n_samples=4, got 5"):
        trained.sample(4, method="bulk_hmc", n_chains=5)
    with pytest.raises(ValueError, match="n_chains must be an int >= 1"):
        trained.sample(4, method="bulk_hmc", n_chains=0)


def test_latent_action_reuses_the_action_of_the_force_pass(trained):
    """HMC's end-point action comes with the last force; any other tensor, or the same one
    changed in place, gets a fresh pass."""
    target = trained.latent_theory()
    z = torch.randn(5, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    fresh = trained._effective_action(z).detach()
    target.grad_action(z)
    assert target.action(z) is target._forced[2]
    torch.testing.assert_close(target.action(z), fresh, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(target.action(z.clone()), fresh, rtol=1e-12, atol=1e-12)
    z.mul_(0.5)
    torch.testing.assert_close(target.action(z), trained._effective_action(z).detach())


def test_inpaint_resamples_only_masked_sites(trained):
    X = trained.sample(2, method="mh")
    mask = np.zeros(16, dtype=bool)
    mask[[5, 6]] = True
    Y = trained.inpaint(X, mask, n_samples=30, n_burnin=20)
    assert Y.shape == (2, 30, 16)
    np.testing.assert_array_equal(Y[:, :, ~mask], np.broadcast_to(X[:, None, ~mask], (2, 30, 14)))
    assert np.unique(Y[0, :, 5]).size > 5  # the chain moves
    cone = trained.causal_cone(mask)
    assert cone[mask].all() and cone.sum() < 16 or cone.all()
    with pytest.raises(ValueError, match="mask selects no site"):
        trained.inpaint(X, np.zeros(16, dtype=bool), n_samples=2)


def test_mix_takes_levels_from_each_side(trained):
    X_a, X_b = trained.sample(3), trained.sample(3)
    np.testing.assert_allclose(trained.mix(X_a, X_b, 0), X_a, atol=1e-10)
    np.testing.assert_allclose(trained.mix(X_a, X_b, 2), X_b, atol=1e-10)
    Z = trained.transform(trained.mix(X_a, X_b, 1))
    top = trained.levels_ == 1
    np.testing.assert_allclose(Z[:, top], trained.transform(X_a)[:, top], atol=1e-10)
    np.testing.assert_allclose(Z[:, ~top], trained.transform(X_b)[:, ~top], atol=1e-10)


def test_bulk_correlation_frame(trained):
    df = trained.bulk_correlation(2000)
    assert df.columns.tolist() == ["level_i", "level_j", "distance", "correlation"]
    assert len(df) == 16 * 15 // 2
    assert df["distance"].max() == pytest.approx(np.sqrt(8))
    # a trained RG flow leaves its bulk nearly uncorrelated (sampling noise ~ 1/sqrt(2000))
    assert df["correlation"].abs().max() < 0.25
    # a chain that never moved: undefined correlations, with a warning, never silently
    stuck = np.repeat(trained.sample(1), 10, axis=0)
    with pytest.warns(skphys.UnreliableEstimateWarning, match="16 of 16 latent coordinates"):
        assert trained.bulk_correlation(X=stuck)["correlation"].isna().all()


@pytest.mark.parametrize("theory, flow, error, match", [
    (FreeScalar((6, 6), m2=1.0), MERAFlow(), ValueError, "lattice_shape"),
    (THEORY, MERAFlow(n_levels=3), ValueError, "flow__n_levels=3 exceeds"),
    (THEORY, MERAFlow(block_size=3), ValueError, "flow__block_size must be a power of two"),
    (THEORY, MERAFlow(block="glow"), TypeError, "flow__block must be a skphys.CouplingBlock"),
    (THEORY, MERAFlow(prior="cauchy"), ValueError, "flow__prior"),
    (THEORY, MERAFlow(block=CouplingBlock(hidden_channels=())), ValueError,
     "flow__block__hidden_channels"),
    (THEORY, MERAFlow(block=CouplingBlock(n_layers=0)), ValueError, "flow__block__n_layers"),
    (THEORY, MERAFlow(block=ODEBlock(ode_steps=1.5)), TypeError, "flow__block__ode_steps"),
    (THEORY, MERAFlow(z2_mixture="yes"), TypeError, "flow__z2_mixture must be None or a bool"),
    (THEORY, MERAFlow(fourier_layer=1), TypeError, "flow__fourier_layer must be a bool"),
    (THEORY, MERAFlow(z2_mixture=True, z2_equivariant=True), ValueError,
     "z2_equivariant=False or None"),
    (_NotZ2((4, 4), m2=1.0), MERAFlow(z2_mixture=True), ValueError, "z2_mixture.*_NotZ2"),
    (THEORY, MERAFlow(depth=0), ValueError, "flow__depth"),
    (THEORY, MERAFlow(depth=(1, 2, 1)), ValueError, "depth needs one count per level: 2"),
    (THEORY, MERAFlow(depth=(1, 0)), ValueError, "flow__depth must be None or an int >= 1"),
    (THEORY, CouplingFlow(), TypeError, "flow must be a skphys.MERAFlow"),
])
def test_bad_parameters_rejected(theory, flow, error, match):
    with pytest.raises(error, match=match):
        RGFlow(theory, flow=flow, max_iter=1).fit()


@pytest.mark.parametrize("theory", [Ising((4, 4), 2.5), XY((4, 4), 1.0)])
def test_spins_and_angles_are_refused(theory):
    with pytest.raises(TypeError, match="use AutoregressiveHamiltonian"):
        RGFlow(theory).fit()


def test_equivariance_follows_the_theorys_sign_symmetry():
    def equivariant(rg):
        return {layer.z2_equivariant for layer in rg.module_.modules()
                if hasattr(layer, "z2_equivariant")}

    assert equivariant(RGFlow(THEORY, max_iter=1, random_state=0, **SMALL).fit()) == {True}
    assert equivariant(RGFlow(_NotZ2((4, 4), m2=1.0), max_iter=1, random_state=0,
                              **SMALL).fit()) == {False}
    # a Z2 mixture is built from a non-equivariant G, and so is a flow fitted without theory
    assert equivariant(RGFlow(THEORY, max_iter=1, random_state=0,
                              **small(z2_mixture=True)).fit()) == {False}
    X = _gaussian_samples((4, 4), 1.0, 32, seed=0)
    assert equivariant(RGFlow(lattice_shape=(4, 4), max_iter=1, random_state=0,
                              **SMALL).fit(X)) == {False}
    # asked for explicitly, equivariance contradicts a theory without the symmetry
    with pytest.raises(ValueError, match="flow__z2_equivariant=True makes the flow's density"):
        RGFlow(_NotZ2((4, 4), m2=1.0), flow=MERAFlow(z2_equivariant=True)).fit()


def test_default_flow_follows_the_theory():
    """MERAFlow(): a Z2 mixture of a non-equivariant G for a sign-symmetric theory, neither
    for a theory without the symmetry nor without a theory; 4 pairs at the finest level and
    1 above; a Fourier layer. Explicit equivariance turns the default mixture off."""
    def equivariant(module):
        return {layer.z2_equivariant for layer in module.modules()
                if hasattr(layer, "z2_equivariant")}

    for theory, mixture in ((IsingDual((8, 8), T_C), True), (_NotZ2((8, 8), m2=1.0), False),
                            (None, False)):
        module = MERAFlow().build((8, 8), 1, theory)
        assert module.z2_mixture is mixture
        assert equivariant(module) == {False}
        assert module.bijector.depths == (4, 1, 1) and module.bijector.boundary is not None
    module = MERAFlow(z2_equivariant=True).build((4, 4), 1, THEORY)
    assert not module.z2_mixture and equivariant(module) == {True}
    assert module.bijector.depths == (4, 1)
    assert MERAFlow(n_levels=1).build((8, 8), 1, THEORY).bijector.depths == (4,)
    assert MERAFlow(depth=2).build((8, 8), 1, THEORY).bijector.depths == (2, 2, 2)


def test_defaults_learn_the_ising_dual_at_t_c():
    """The defaults (a Z2 mixture for the symmetric theory, path gradients, the Fourier
    layer), cut to 100 steps at L = 4 (about 8 CPU s): from several nats the exact reverse
    KL falls below 0.6 nats (0.37 measured), and the reweighted Ising energy per site agrees
    with Kaufman's exact value."""
    theory = IsingDual((4, 4), temperature=T_C)
    rg = RGFlow(theory, max_iter=100, random_state=0, device="cpu").fit()
    assert rg.module_.z2_mixture
    diag = rg.diagnose(8192)
    exact_kl = diag["log_z"] + diag["kl"] - ising_dual_log_z((4, 4), T_C)
    assert 0 < exact_kl < 0.6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableEstimateWarning)  # Pareto k about 0.66
        mean, err = rg.estimate(
            lambda X: theory.ising_energy(torch.as_tensor(X)).numpy() / 16, 8192,
            method="importance")
    assert abs(mean - ising_energy(4, T_C)) < 4 * err


@pytest.mark.parametrize("grid", [{"flow__block__n_layers": [1, 2]}, {"flow__depth": [1, 2]}])
def test_grid_search_over_a_nested_architecture_parameter(grid):
    X = _gaussian_samples((4, 4), 1.0, 40, seed=0)
    search = GridSearchCV(RGFlow(THEORY, max_iter=2, random_state=0, **SMALL), grid,
                          cv=2).fit(X)
    (name, values), = grid.items()
    assert search.best_params_[name] in values
    assert search.best_estimator_.get_params()[name] == search.best_params_[name]
    assert RGFlow(THEORY, **SMALL).flow == SMALL["flow"]  # the grid never touched it


def test_set_params_never_changes_the_default_architecture():
    default = RGFlow().flow
    rg = RGFlow().set_params(flow__depth=(2, 1), flow__block__n_layers=1)
    assert rg.flow.depth == (2, 1) and rg.flow.block.n_layers == 1
    assert RGFlow().flow is default and default == MERAFlow()
    assert default.block == CouplingBlock()


def test_bad_data_rejected():
    with pytest.raises(ValueError, match="lattice_shape"):
        RGFlow(max_iter=1, device="cpu").fit(np.zeros((10, 12)))
    X = np.zeros((10, 16))
    X[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RGFlow(max_iter=1, device="cpu").fit(X)
    rg = RGFlow(THEORY, max_iter=1, random_state=0, **SMALL).fit()
    with pytest.raises(ValueError, match="NaN"):
        rg.transform(X)
    with pytest.raises(ValueError, match="mask"):
        rg.inpaint(np.zeros((1, 16)), np.zeros(15, dtype=bool))


def test_reproducible_and_seed_dependent():
    def fit(seed):
        return RGFlow(THEORY, max_iter=20, batch_size=64, random_state=seed,
                      **SMALL).fit().sample(4)

    np.testing.assert_array_equal(fit(1), fit(1))
    assert not np.allclose(fit(1), fit(2))


@pytest.mark.parametrize("block, prior", [(BLOCK, "laplace"),
                                          (ODEBlock(hidden_channels=(16,)), "gaussian")])
def test_other_blocks_and_priors_train(block, prior):
    rg = RGFlow(THEORY, max_iter=60, optimizer=FAST, batch_size=64, path_gradient=False,
                random_state=0, **small(block=block, prior=prior)).fit()
    assert rg.history_["loss"].iloc[-10:].mean() < rg.history_["loss"].iloc[:5].mean()
    X = rg.sample(8)
    np.testing.assert_allclose(rg.inverse_transform(rg.transform(X)), X, atol=1e-10)


def test_save_load(tmp_path, trained):
    trained.save(tmp_path / "rg.pt")
    loaded = skphys.load(tmp_path / "rg.pt")
    X = trained.sample(5)
    np.testing.assert_allclose(loaded.score_samples(X), trained.score_samples(X), rtol=1e-12)
    np.testing.assert_array_equal(loaded.levels_, trained.levels_)
    assert loaded.get_feature_names_out().tolist() == trained.get_feature_names_out().tolist()


def test_fourier_layer_learns_the_free_field_and_refuses_inpainting(tmp_path):
    """The Fourier layer alone can represent the free field (see test_mera): a short fit
    gets close (KL 0.004, ESS/N 0.99; the same fit without the layer: KL 0.06, ESS/N 0.85),
    the round trip stays exact, the model persists, and inpainting (which needs a local
    causal cone) is refused."""
    rg = RGFlow(THEORY, max_iter=150, optimizer=Adam(2e-2, clip_grad_norm=100.0),
                batch_size=128, path_gradient=True, random_state=0,
                **small(fourier_layer=True)).fit()
    diag = rg.diagnose(4096)
    assert diag["kl"] < 0.015 and diag["ess"] > 0.97
    X = rg.sample(8)
    np.testing.assert_allclose(rg.inverse_transform(rg.transform(X)), X, atol=1e-10)
    mask = np.zeros(16, dtype=bool)
    mask[5] = True
    assert rg.causal_cone(mask).all()
    with pytest.raises(ValueError, match="flow__fourier_layer=True"):
        rg.inpaint(X[:1], mask)
    rg.save(tmp_path / "rg.pt")
    np.testing.assert_allclose(skphys.load(tmp_path / "rg.pt").score_samples(X),
                               rg.score_samples(X), rtol=1e-12)


@pytest.fixture(scope="module")
def mixture():
    """A short reverse-KL fit of the Z2 mixture on the Ising dual at T_c, L = 4."""
    return RGFlow(IsingDual((4, 4), temperature=T_C), max_iter=30, optimizer=FAST,
                  batch_size=64, path_gradient=True, random_state=0, **small(**MIXTURE)).fit()


def test_z2_mixture_density_and_bulk(mixture):
    X = mixture.sample(256)
    magnetized_up = (X.sum(1) > 0).mean()
    assert 0.35 < magnetized_up < 0.65
    log_q = mixture.score_samples(X)
    np.testing.assert_array_equal(mixture.score_samples(-X), log_q)
    x = torch.as_tensor(X)
    with torch.no_grad():
        branches = torch.stack([mixture.module_.flow_log_prob(s * x) for s in (1, -1)])
    np.testing.assert_allclose(log_q, (torch.logsumexp(branches, 0) - np.log(2)).numpy(),
                               rtol=0, atol=1e-12)
    # the bulk is that of the bijection G: exact round trip, S_eff from log q_G
    Z = mixture.transform(X)
    np.testing.assert_allclose(mixture.inverse_transform(Z), X, atol=1e-10)
    log_prior = -0.5 * (Z**2).sum(1) - 8 * np.log(2 * np.pi)
    expected = (mixture.theory.action(x) + branches[0]).numpy() - log_prior
    np.testing.assert_allclose(mixture.effective_action(Z), expected, rtol=1e-10, atol=1e-8)


def test_z2_mixture_bulk_correlation_aligns_the_sign(mixture):
    """The bulk code of a mixture sample is that of its more likely branch, whatever its sign."""
    X = mixture.sample(512)
    x = torch.as_tensor(X)
    with torch.no_grad():
        aligned = mixture.module_.align_sign(x)
        assert torch.all(mixture.module_.flow_log_prob(aligned)
                         >= mixture.module_.flow_log_prob(-aligned))
    np.testing.assert_array_equal(aligned.abs().numpy(), np.abs(X))
    # so the correlations do not depend on the random sign of the mixture's draws
    signs = np.random.default_rng(0).choice([-1.0, 1.0], size=(512, 1))
    expected = mixture.bulk_correlation(X=X)
    for flipped in (-X, signs * X):
        pd.testing.assert_frame_equal(mixture.bulk_correlation(X=flipped), expected)


def test_z2_mixture_bulk_hmc_samples_both_signs(mixture):
    X = mixture.sample(400, method="bulk_hmc", n_burnin=20)
    assert 0.35 < (X.sum(1) > 0).mean() < 0.65


def test_z2_mixture_path_gradient_loss_matches_plain_loss(mixture):
    """Same draws, same loss value; only the gradient estimator differs."""
    module = mixture.module_
    plain = module.sample(8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    path = module.sample_path(8, generator=torch.Generator().manual_seed(0),
                              dtype=torch.float64)
    for a, b in zip(plain, path):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-10)


def test_z2_mixture_persists(tmp_path, mixture):
    mixture.save(tmp_path / "rg.pt")
    X = mixture.sample(5)
    for loaded in (skphys.load(tmp_path / "rg.pt"), pickle.loads(pickle.dumps(mixture))):
        assert loaded.flow.z2_mixture and loaded.module_.z2_mixture
        np.testing.assert_allclose(loaded.score_samples(X), mixture.score_samples(X),
                                   rtol=1e-12)
