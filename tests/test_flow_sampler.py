"""FlowSampler: exactness of the corrected samplers, reproducibility, errors, persistence."""

from __future__ import annotations

import copy
import math
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV

import skphys
from skphys import (
    Adam,
    ContinuousFlow,
    CouplingFlow,
    FlowSampler,
    MERAFlow,
    RGFlow,
    UnreliableEstimateWarning,
)
from skphys.flows import ContinuousBijector
from skphys.lattice import XY, ComplexPhi4, FreeScalar, Ising, IsingDual, Phi4
from skphys.lattice.exact import free_scalar_log_z, free_scalar_propagator
from skphys.lattice.stats import mean_error

SMALL = dict(flow=CouplingFlow(n_layers=2, hidden_channels=(8,)), monitor_every=0, device="cpu")
FAST = Adam(1e-2, clip_grad_norm=100.0)


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
    with pytest.warns(UnreliableEstimateWarning, match=r"Pareto k = \d\.\d\d > 0\.5"):
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
    fs = FlowSampler(theory, max_iter=300, optimizer=FAST, random_state=0,
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
    fs = FlowSampler(lattice_shape=(4, 4), max_iter=200, optimizer=FAST, random_state=0,
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
    with pytest.raises(ValueError, match="forward_weight must be a finite real number > 0"):
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
    for n in (0, -1):
        with pytest.raises(ValueError, match="n_samples"):
            fs.sample(n)
    with pytest.raises(TypeError, match="n_samples"):
        fs.sample(2.5)
    with pytest.raises(ValueError, match="method"):
        fs.sample(3, method="gibbs")
    with pytest.raises(TypeError, match="flow must be a skphys.CouplingFlow or "
                                        "skphys.ContinuousFlow, got 'coupling'"):
        FlowSampler(theory, flow="coupling").fit()
    with pytest.raises(TypeError, match="flow must be"):
        FlowSampler(theory, flow=MERAFlow()).fit()


def test_save_load(tmp_path):
    theory = Phi4((4, 4), m2=-4.0, lam=8.0)
    fs = FlowSampler(theory, max_iter=3, random_state=0, **SMALL).fit()
    fs.save(tmp_path / "flow.pt")
    loaded = skphys.load(tmp_path / "flow.pt")
    assert loaded.theory == theory
    X = fs.sample(5)
    np.testing.assert_allclose(loaded.score_samples(X), fs.score_samples(X), rtol=1e-6)


# -- the architecture object ------------------------------------------------------------------
class _Tilted(Phi4):
    """phi^4 with a linear term: the action breaks phi -> -phi and declares no symmetry."""

    internal_symmetries = ()

    def action(self, x):
        return super().action(x) - 0.5 * x.sum(1)


def _couplings(fs):
    return [layer for layer in fs.module_.bijector.bijectors
            if hasattr(layer, "z2_equivariant")]


def test_equivariance_follows_the_theorys_sign_symmetry():
    phi4 = FlowSampler(Phi4((4, 4), m2=-4.0, lam=8.0), max_iter=1, random_state=0,
                       **SMALL).fit()
    assert all(layer.z2_equivariant for layer in _couplings(phi4))
    tilted = FlowSampler(_Tilted((4, 4), m2=-4.0, lam=8.0), max_iter=1, random_state=0,
                         **SMALL).fit()
    assert not any(layer.z2_equivariant for layer in _couplings(tilted))
    assert tilted.flow.z2_equivariant is None  # resolved at build time, never written back
    # without a theory (maximum likelihood on data) the flow is not equivariant
    X = np.random.default_rng(0).normal(size=(32, 16))
    data = FlowSampler(lattice_shape=(4, 4), max_iter=1, random_state=0, **SMALL).fit(X)
    assert not any(layer.z2_equivariant for layer in _couplings(data))
    # explicit values win, and a non-odd activation cannot be equivariant
    forced = FlowSampler(Phi4((4, 4), m2=-4.0, lam=8.0), max_iter=1, random_state=0,
                         flow=CouplingFlow(n_layers=2, z2_equivariant=False)).fit()
    assert not any(layer.z2_equivariant for layer in _couplings(forced))
    with pytest.raises(ValueError, match="flow__activation='silu' is not odd"):
        FlowSampler(Phi4((4, 4), m2=-4.0, lam=8.0),
                    flow=CouplingFlow(activation="silu")).fit()
    FlowSampler(_Tilted((4, 4), m2=-4.0, lam=8.0), max_iter=1, device="cpu",
                flow=CouplingFlow(n_layers=1, activation="silu")).fit()


@pytest.mark.parametrize("estimator", [FlowSampler, RGFlow])
@pytest.mark.parametrize("theory", [Ising((4, 4), 2.5), XY((4, 4), 1.0)])
def test_spins_and_angles_are_refused(estimator, theory):
    with pytest.raises(TypeError, match="AutoregressiveHamiltonian"):
        estimator(theory).fit()


def test_flat_square_data_warns_unless_the_lattice_is_given():
    X = np.random.default_rng(0).normal(size=(16, 64))
    with pytest.warns(UserWarning, match="lattice_shape"):
        FlowSampler(max_iter=1, random_state=0, **SMALL).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fs = FlowSampler(lattice_shape=(64,), max_iter=1, random_state=0, **SMALL).fit(X)
    assert fs.lattice_shape_ == (64,)


def test_grid_search_over_a_nested_architecture_parameter():
    theory = FreeScalar((4, 4), m2=1.0)
    X = np.random.default_rng(0).normal(size=(40, 16))
    search = GridSearchCV(FlowSampler(theory, max_iter=2, random_state=0, **SMALL),
                          {"flow__n_layers": [1, 2]}, cv=2).fit(X)
    assert search.best_params_["flow__n_layers"] in (1, 2)
    assert search.best_estimator_.flow.n_layers == search.best_params_["flow__n_layers"]
    assert len(search.best_estimator_.module_.bijector.bijectors) == 1 + search.best_params_[
        "flow__n_layers"]  # the Fourier layer, then the couplings


def test_set_params_never_changes_the_default_architecture():
    default = FlowSampler().flow
    before = default.get_params()
    fs = FlowSampler().set_params(flow__n_layers=2, flow__hidden_channels=4)
    assert fs.flow.n_layers == 2 and fs.flow is not default
    assert FlowSampler().flow is default and default.get_params() == before
    assert default == CouplingFlow()


@pytest.mark.parametrize("flow, error, name", [
    (CouplingFlow(n_layers=0), ValueError, "flow__n_layers"),
    (CouplingFlow(n_layers=2.0), TypeError, "flow__n_layers"),
    (CouplingFlow(hidden_channels=()), ValueError, "flow__hidden_channels"),
    (CouplingFlow(hidden_channels="16"), TypeError, "flow__hidden_channels"),
    (CouplingFlow(kernel_size=4), ValueError, "flow__kernel_size"),
    (CouplingFlow(activation="relu"), ValueError, "flow__activation"),
    (CouplingFlow(z2_equivariant=1), TypeError, "flow__z2_equivariant"),
    (CouplingFlow(fourier_layer="yes"), TypeError, "flow__fourier_layer"),
    (ContinuousFlow(ode_method="rk5"), ValueError, "flow__ode_method"),
    (ContinuousFlow(ode_steps=0), ValueError, "flow__ode_steps"),
    (ContinuousFlow(adjoint=None), TypeError, "flow__adjoint"),
])
def test_bad_architecture_values_name_the_nested_parameter(flow, error, name):
    with pytest.raises(error, match=name):
        FlowSampler(Phi4((4, 4), m2=-4.0, lam=8.0), flow=flow, max_iter=1).fit()


def test_continuous_flow_trains_and_round_trips():
    fs = FlowSampler(FreeScalar((4, 4), m2=1.0), flow=ContinuousFlow(n_frequencies=2,
                     ode_steps=2), max_iter=3, random_state=0, monitor_every=0,
                     dtype="float64", device="cpu").fit()
    X = fs.sample(4)
    # RK4 backwards inverts the forward map to the solver's accuracy only
    np.testing.assert_allclose(fs.inverse_transform(fs.transform(X)), X, atol=1e-3)


def test_a_trained_continuous_flow_samples_with_an_exact_log_q():
    # the step count set while training (from the measured solver error) is the one sampling
    # uses, and keeps the integrated divergence the log-det of the discrete map; a 3-step
    # map of the same weights misses it by more than the tolerance
    fs = FlowSampler(Phi4((4, 4), m2=-4.0, lam=6.975), flow=ContinuousFlow(), max_iter=100,
                     random_state=0, monitor_every=0, device="cpu").fit()
    ode = next(m for m in fs.module_.modules() if isinstance(m, ContinuousBijector))
    assert not ode.training
    z = torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    assert ode.log_det_error(z).abs().max() < ode.log_det_tol
    assert ode.log_det_error(z, n_steps=3).abs().max() > ode.log_det_tol
    twin = pickle.loads(pickle.dumps(fs))  # the count is part of the saved state
    assert next(m for m in twin.module_.modules()
                if isinstance(m, ContinuousBijector)).steps() == ode.steps()


def test_an_equivariant_flow_is_refused_for_a_theory_without_the_sign_symmetry():
    # its density is symmetric under phi -> -phi, the target's is not: no fit could be good
    tilted = _Tilted((4, 4), m2=-4.0, lam=8.0)
    with pytest.raises(ValueError, match="flow__z2_equivariant=True makes the flow's density"):
        FlowSampler(tilted, flow=CouplingFlow(z2_equivariant=True)).fit()
    with pytest.raises(ValueError, match="ContinuousFlow.. is Z2-equivariant by construction"):
        FlowSampler(tilted, flow=ContinuousFlow()).fit()


def test_compile_runs_the_passes_compiled_while_training_only(monkeypatch, tmp_path):
    # torch.compile itself takes a minute on a CPU: a stand-in records what it compiles and
    # returns it unchanged; the fit must equal the eager one and leave a plain module
    compiled = []

    def fake_compile(function, *args, **kwargs):
        compiled.append(function.__name__)
        return function

    monkeypatch.setattr(torch, "compile", fake_compile)
    theory = FreeScalar((4, 4), m2=1.0)
    kw = dict(max_iter=5, batch_size=16, monitor_every=0, random_state=0, device="cpu")
    fs = FlowSampler(theory, flow=CouplingFlow(compile=True), **kw).fit()
    assert sorted(compiled) == ["forward", "inverse"]
    assert "forward" not in vars(fs.module_.bijector)  # removed after training
    eager = FlowSampler(theory, **kw).fit()
    np.testing.assert_allclose(fs.history_["loss"], eager.history_["loss"], rtol=1e-6)
    fs.save(tmp_path / "flow.skphys")
    assert skphys.load(tmp_path / "flow.skphys").flow.compile
    with pytest.raises(TypeError, match="flow__compile must be a bool"):
        FlowSampler(theory, flow=CouplingFlow(compile="yes"), **kw).fit()
