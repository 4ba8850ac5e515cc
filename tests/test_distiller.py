"""BottleneckDistiller: shapes, cloning with a fitted translator, validation_curve, the law."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, validation_curve

from skphys import Adam, BottleneckDistiller, PhysicsTranslator, scan_latent_dim
from skphys.architectures import MultiplicativeCell
from skphys.datasets import make_schrodinger_1d

A = 0.1  # grid spacing of the data
SMALL = dict(horizon=10, hidden_channels=8, max_iter=20, device="cpu")


@pytest.fixture(scope="module")
def data():
    return make_schrodinger_1d(n_samples=60, n_sites=30, spacing=A, random_state=0)


@pytest.fixture(scope="module")
def translator(data):
    V, rho = data
    return PhysicsTranslator(MultiplicativeCell(hidden_channels=4), window=15, max_iter=30,
                             lbfgs_iter=0, optimizer=Adam(3e-2, clip_grad_norm=1.0),
                             dtype="float32", device="cpu", random_state=0).fit(V, rho)


def test_shapes_and_score(data, translator):
    V, _ = data
    ds = BottleneckDistiller(translator, latent_dim=3, random_state=0, **SMALL).fit(V)
    assert ds.transform(V).shape == (60, 30 * 3)
    assert ds.update_matrices(np.linspace(-1, 1, 7)).shape == (7, 3, 3)
    losses = ds.reconstruction_loss(V)
    assert losses.shape == (60,) and np.all(losses >= 0)
    assert ds.score(V) == pytest.approx(-losses.mean())
    report = ds.law_report()
    assert list(report.columns) == ["latent_dim", "slope", "intercept", "r2"]
    assert len(report) == 1 and report["latent_dim"].item() == 3
    with pytest.raises(ValueError, match="features"):
        ds.transform(V[:, :20])


def test_training_reduces_the_loss_and_leaves_the_translator_alone(data, translator):
    V, _ = data
    weights = {k: v.clone() for k, v in translator.module_.state_dict().items()}
    ds = BottleneckDistiller(translator, latent_dim=2, random_state=0,
                             **{**SMALL, "max_iter": 150}).fit(V)
    loss = ds.history_["loss"]
    assert loss.iloc[-10:].mean() < 0.5 * loss.iloc[:10].mean()
    for key, value in translator.module_.state_dict().items():
        assert torch.equal(value, weights[key])


def test_clone_keeps_the_fitted_translator(data, translator):
    V, _ = data
    ds = BottleneckDistiller(translator, latent_dim=2, random_state=0, **SMALL)
    copy = clone(ds)
    assert copy.translator is translator and copy.get_params()["latent_dim"] == 2
    frozen = clone(BottleneckDistiller(FrozenEstimator(translator), random_state=0, **SMALL))
    np.testing.assert_array_equal(frozen.fit(V).transform(V), clone(ds).fit(V).transform(V))


def test_validation_curve_end_to_end(data, translator):
    V, _ = data
    ds = BottleneckDistiller(translator, random_state=0, **SMALL)
    train, test = validation_curve(ds, V, None, param_name="latent_dim", param_range=[1, 2],
                                   cv=2)
    assert train.shape == test.shape == (2, 2)
    assert np.all(np.isfinite(test)) and np.all(test < 0)
    scan = scan_latent_dim(ds, V, [1, 2], random_states=[0, 1], cv=2)
    assert list(scan.index) == [1, 2]
    assert list(scan.columns) == ["train_loss", "test_loss", "test_loss_std"]
    # with one seed, the scan is exactly the validation curve above
    np.testing.assert_allclose(
        -test.mean(1),
        scan_latent_dim(ds, V, [1, 2], random_states=[0], cv=2)["test_loss"].to_numpy(),
    )


@pytest.mark.parametrize("test_losses, chosen, monotone", [
    ([0.3, 1.6e-3, 1.5e-3, 1.3e-3], 2, True),  # the jump at d = 2, flat after it
    ([0.3, 1.6e-3, 3.3e-3, 1.3e-3], 2, False),  # d = 3 more than twice d = 2: flagged
    ([0.3, 5e-3, 1e-3, 3e-3], 3, False),  # a bad d = 2 fit moves the choice, and is flagged
    ([0.3, 0.1, 1e-3, 1e-3], 3, True),
])
def test_scan_reports_its_choice_and_flags_a_rise(data, translator, monkeypatch, test_losses,
                                                  chosen, monotone):
    # A fabricated validation curve (scores are minus the losses; 2 folds) stands in for the
    # fits, so that the choice and the flag are checked on known scans.
    def fake_curve(estimator, V, y, *, param_name, param_range, cv, n_jobs):
        assert param_name == "latent_dim" and list(param_range) == [1, 2, 3, 4]
        test = -np.repeat(np.asarray(test_losses)[:, None], 2, 1)
        return 0.5 * test, test

    monkeypatch.setattr("skphys._distiller.validation_curve", fake_curve)
    V, _ = data
    ds = BottleneckDistiller(translator, **SMALL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scan = scan_latent_dim(ds, V, [1, 2, 3, 4])
    np.testing.assert_allclose(scan["test_loss"], test_losses)
    assert scan.attrs == {"latent_dim": chosen, "monotone": monotone}
    flagged = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(flagged) == (0 if monotone else 1)
    if not monotone:
        assert "rises with the bottleneck" in str(flagged[0].message)
        # a looser tolerance accepts the rise, and then chooses the smallest d within it
        loose = scan_latent_dim(ds, V, [1, 2, 3, 4], tolerance=6.0)
        assert loose.attrs == {"latent_dim": 2, "monotone": True}
    with pytest.raises(ValueError, match="tolerance"):
        scan_latent_dim(ds, V, [1, 2, 3, 4], tolerance=1.0)


def test_grid_search_over_latent_dim(data, translator):
    V, _ = data
    search = GridSearchCV(BottleneckDistiller(translator, random_state=0, **SMALL),
                          {"latent_dim": [1, 2], "hidden_channels": [4, 8]}, cv=2).fit(V)
    assert search.best_estimator_.translator is translator
    assert search.best_params_["latent_dim"] in (1, 2)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.score(V) == search.best_estimator_.score(V)


def test_law_report_recovers_the_exact_step(data, translator):
    # Make the step network linear in V (tanh(eps u) ~ eps u) with M(V) - 1 =
    # [[1 + a^2 V, -1], [1, -1]], i.e. M the exact transfer matrix [[2 + a^2 V, -1], [1, 0]]:
    # det(M - 1) = -a^2 V exactly, up to the O(eps^2) curvature of tanh.
    V, _ = data
    ds = BottleneckDistiller(translator, latent_dim=2, random_state=0,
                             **{**SMALL, "max_iter": 1}).fit(V)
    eps = 1e-4
    first, last = ds.module_.step[0], ds.module_.step[-1]
    with torch.no_grad():
        first.weight.zero_()
        first.bias.zero_()
        first.weight[0, 0] = eps
        last.weight.zero_()
        last.weight[0, 0] = A**2 * ds.v_scale_ / eps
        last.bias.copy_(torch.tensor([1.0, -1.0, 1.0, -1.0]))
    report = ds.law_report(spacing=A)
    assert report["r2"].item() > 0.9999
    assert report["slope_rel_error"].item() < 1e-3
    assert abs(report["intercept"].item()) < 1e-5
    M = ds.update_matrices([0.5])[0]
    np.testing.assert_allclose(M, [[2 + A**2 * 0.5, -1], [1, 0]], atol=1e-5)


def test_input_errors(data, translator):
    V, _ = data
    with pytest.raises(NotFittedError, match="translator must be fitted"):
        BottleneckDistiller(PhysicsTranslator(), **SMALL).fit(V)
    with pytest.raises(NotFittedError, match="translator must be fitted"):
        BottleneckDistiller(FrozenEstimator(PhysicsTranslator()), **SMALL).fit(V)
    with pytest.raises(TypeError, match="translator must be a fitted PhysicsTranslator"):
        BottleneckDistiller(None, **SMALL).fit(V)
    with pytest.raises(TypeError, match="translator must be a fitted PhysicsTranslator"):
        BottleneckDistiller(FrozenEstimator(object()), **SMALL).fit(V)
    bad = V.copy()
    bad[2, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        BottleneckDistiller(translator, **SMALL).fit(bad)
    ds = BottleneckDistiller(translator, **{**SMALL, "max_iter": 1}).fit(V)
    with pytest.raises(ValueError, match="1-D"):
        ds.update_matrices(np.zeros((2, 2)))


@pytest.mark.parametrize("params, error, match", [
    ({"latent_dim": 0}, ValueError, "latent_dim must be an int >= 1"),
    ({"latent_dim": 2.0}, TypeError, "latent_dim must be an int"),
    ({"horizon": 0}, ValueError, "horizon must be an int >= 1"),
    ({"hidden_channels": 0}, ValueError, "hidden_channels must be an int >= 1"),
    ({"hidden_channels": (8,)}, TypeError, "hidden_channels must be an int"),
    ({"target": "wave"}, ValueError, "target must be one of"),
    ({"target": 1}, TypeError, "target must be one of"),
    ({"optimizer__clip_grad_norm": -1.0}, ValueError, "optimizer__clip_grad_norm must be"),
    ({"max_iter": 0}, ValueError, "max_iter must be an int >= 1"),
])
def test_parameter_errors(data, translator, params, error, match):
    V, _ = data
    ds = BottleneckDistiller(translator, **SMALL).set_params(**params)
    with pytest.raises(error, match=match):
        ds.fit(V)


def test_warm_start_continues_the_fit(data, translator):
    V, _ = data
    ds = BottleneckDistiller(translator, warm_start=True, random_state=0,
                             **{**SMALL, "max_iter": 3}).fit(V)
    module = ds.module_
    ds.fit(V)
    assert ds.module_ is module and ds.n_iter_ == 6 and len(ds.history_) == 6


# -- the alternative formulation (target="density") ---------------------------------------------
def test_density_target_shapes_and_errors(data, translator):
    V, _ = data
    ds = BottleneckDistiller(translator, latent_dim=3, target="density", random_state=0,
                             **SMALL).fit(V)
    assert ds.transform(V).shape == (60, 30 * 3)
    assert ds.module_.decode(torch.zeros(5, 3)).shape == (5, 1)
    v = np.linspace(-1, 1, 7)
    # a 1-D v is a locally constant potential: the pairs (v, v)
    np.testing.assert_array_equal(ds.update_matrices(v), ds.update_matrices(np.c_[v, v]))
    assert ds.update_matrices(np.c_[v, -v]).shape == (7, 3, 3)
    losses = ds.reconstruction_loss(V)
    assert losses.shape == (60,) and np.all(np.isfinite(losses))
    assert ds.score(V) == pytest.approx(-losses.mean())
    with pytest.raises(ValueError, match="shape \\(n, 2\\)"):
        ds.update_matrices(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="target='hidden'"):
        ds.law_report()
    hidden = BottleneckDistiller(translator, **{**SMALL, "max_iter": 1}).fit(V)
    with pytest.raises(ValueError, match="1-D"):
        hidden.update_matrices(np.zeros((2, 2)))
    scan = scan_latent_dim(BottleneckDistiller(translator, target="density", **SMALL), V,
                           [2, 3], cv=2)
    assert list(scan.index) == [2, 3] and np.all(np.isfinite(scan.to_numpy()))


def test_density_target_represents_the_three_variable_law(data):
    # With the exact translator, h_i = (psi_{i+1}, psi_i) and density psi_i^2, the latent state
    # g = (psi_{i+1}^2, psi_{i+1} psi_i, psi_i^2) follows g_{i+1} = Sym^2 T(V_{i+1}) g_i with
    # T = [[t, -1], [1, 0]], t = 2 + a^2 V:
    # M = [[t^2, -2t, 1], [t, -1, 0], [1, 0, 0]], and the density is its last coordinate.
    # Set encoder, step and decoder to it by hand (the step's tanh units linearized as in
    # test_law_report_recovers_the_exact_step, t^2 from the even part of a tanh pair): the
    # reconstruction is exact at d = 3.
    V, rho = data
    tr = PhysicsTranslator(MultiplicativeCell(hidden_channels=2, n_readout=1), max_iter=1,
                           lbfgs_iter=0, device="cpu", dtype="float64").fit(V, rho)
    with torch.no_grad():
        tr.module_.core.weight.copy_(torch.tensor([[2.0, -1.0], [1.0, 0.0]]))
        tr.module_.core.weight_v.copy_(torch.tensor([[A**2 * tr.v_scale_, 0.0], [0.0, 0.0]]))
        tr.module_.initial.copy_(torch.tensor([[1.0, 0.0]]))
        tr.module_.readout.weight.copy_(torch.tensor([[0.0, 1.0]]))
        tr.module_.readout.bias.zero_()
    ds = BottleneckDistiller(tr, latent_dim=3, target="density", horizon=10, hidden_channels=3,
                             max_iter=1, dtype="float64", device="cpu", random_state=0).fit(V)
    net = ds.module_
    (m0, m1), (s0, s1) = ds.hidden_mean_, ds.hidden_scale_
    eps, eps2, c = 1e-5, 1e-3, 0.5
    even = -2 * np.tanh(c) / np.cosh(c) ** 2  # tanh'' (c)
    k = A**4 * ds.v_scale_**2 / (eps2**2 * even)  # weight of the a^4 V^2 term of t^2
    linear = A**2 * ds.v_scale_ / eps * np.array([4, -2, 0, 1, 0, 0, 0, 0, 0])  # a^2 V terms
    e0 = np.eye(9)[0]
    params = {  # set in float64: |k| is about 2e3
        # g = quadratic monomials of h = s x + m, x the standardized state
        "encoder.mlp.2.weight": np.zeros((3, 3)),
        "encoder.mlp.2.bias": np.zeros(3),
        "encoder.linear.weight": [  # features x0, x1, x0^2, x0 x1, x1^2
            [2 * s0 * m0, 0, s0**2, 0, 0],
            [s0 * m1, m0 * s1, 0, s0 * s1, 0],
            [0, 2 * s1 * m1, 0, 0, s1**2]],
        "encoder.linear.bias": [m0**2, m0 * m1, m1**2],
        "step.0.weight": [[0, eps], [0, eps2], [0, eps2]],  # three tanh units read V_{i+1}
        "step.0.bias": [0, c, -c],
        "step.2.weight": np.stack([linear, k * e0, -k * e0], 1),
        "step.2.bias": np.array([3, -4, 1, 2, -2, 0, 1, 0, -1]) - 2 * k * np.tanh(c) * e0,
        "decoder.weight": [[0, 0, 1 / ds.density_scale_]],
        "decoder.bias": [-ds.density_mean_ / ds.density_scale_],
    }
    state = {key: torch.as_tensor(np.asarray(value, dtype=np.float64))
             for key, value in params.items()}
    assert not net.load_state_dict(state, strict=False).unexpected_keys
    assert ds.reconstruction_loss(V).max() < 1e-10
    np.testing.assert_allclose(ds.update_matrices([[0.3, 0.5]])[0],
                               [[(2 + A**2 * 0.5)**2, -2 * (2 + A**2 * 0.5), 1],
                                [2 + A**2 * 0.5, -1, 0], [1, 0, 0]], atol=1e-6)


def test_law_report_and_scan_refuse_bad_input(data, translator):
    V, _ = data
    with pytest.raises(NotFittedError):
        BottleneckDistiller(translator, **SMALL).law_report()
    ds = BottleneckDistiller(translator, **{**SMALL, "max_iter": 1}).fit(V)
    with pytest.raises(TypeError, match="spacing must be a finite real number > 0"):
        ds.law_report(spacing="0.1")
    with pytest.raises(ValueError, match="spacing must be"):
        ds.law_report(spacing=-0.1)
    with pytest.raises(ValueError, match=r"latent_dims must be .* >= 1, got \[0, 1\]"):
        scan_latent_dim(ds, V, latent_dims=[0, 1])
    with pytest.raises(TypeError, match="latent_dims must be"):
        scan_latent_dim(ds, V, latent_dims=[1.5])


def test_scan_warns_on_failed_fits(data, translator, monkeypatch):
    V, _ = data
    fit_module = BottleneckDistiller._fit_module

    def failing(self, V):  # the fits at latent_dim=2 fail, as a diverging fit does
        if self.latent_dim == 2:
            raise FloatingPointError("diverged")
        return fit_module(self, V)

    monkeypatch.setattr(BottleneckDistiller, "_fit_module", failing)
    ds = BottleneckDistiller(translator, **{**SMALL, "max_iter": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # validation_curve's own FitFailedWarning
        warnings.simplefilter("always", RuntimeWarning)
        with pytest.warns(RuntimeWarning, match=r"fits at latent_dim=\[2\] failed"):
            scan = scan_latent_dim(ds, V, latent_dims=[1, 2], cv=2)
    assert scan["test_loss"].isna().tolist() == [False, True]
    assert scan.attrs["latent_dim"] == 1
