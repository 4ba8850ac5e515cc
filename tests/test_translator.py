"""PhysicsTranslator: shapes, input errors, causality, the exact law it can represent."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

import skphys
from skphys import Adam, PhysicsTranslator
from skphys.architectures import GRUCell, LSTMCell, MultiplicativeCell, RNNCell
from skphys.datasets import make_schrodinger_1d

A = 0.1  # grid spacing of the data
# cheap settings for fast fits (the defaults train in float64 with an L-BFGS refinement)
CHEAP = dict(lbfgs_iter=0, dtype="float32", device="cpu")


@pytest.fixture(scope="module")
def data():
    return make_schrodinger_1d(n_samples=200, n_sites=40, spacing=A, random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    V, rho = data
    return PhysicsTranslator(GRUCell(hidden_channels=6), window=20, max_iter=30, **CHEAP,
                             random_state=0).fit(V, rho)


@pytest.mark.parametrize("cell", [RNNCell, GRUCell, LSTMCell, MultiplicativeCell])
def test_shapes_any_length_and_normalization(data, cell):
    V, rho = data
    tr = PhysicsTranslator(cell(hidden_channels=5), window=15, max_iter=3, **CHEAP,
                           random_state=0).fit(V[:20], rho[:20])
    assert tr.row_sum_ == pytest.approx(1 / A)
    longer, _ = make_schrodinger_1d(n_samples=3, n_sites=90, spacing=A, random_state=1)
    pred = tr.predict(longer)
    assert pred.shape == (3, 90) and np.all(pred >= 0)
    np.testing.assert_allclose(pred.sum(1), tr.row_sum_, rtol=1e-6)
    assert tr.hidden_states(longer).shape == (3, 90, 5)
    assert tr.relative_error(V[:4], rho[:4]).shape == (4,)
    density, hidden = tr.translate(longer)
    np.testing.assert_array_equal(hidden, tr.hidden_states(longer))
    np.testing.assert_allclose(tr.row_sum_ * density / density.sum(1, keepdims=True), pred,
                               rtol=1e-5)


def test_cells_build_their_core():
    for cell, core in ((RNNCell, "RNN"), (GRUCell, "GRU"), (LSTMCell, "LSTM"),
                       (MultiplicativeCell, "MultiplicativeRNN")):
        net = cell(hidden_channels=3, n_readout=4)()
        assert type(net.core).__name__ == core
        assert net.initial.shape[-1] == 3 and net.readout.out_features == 4
    assert GRUCell().hidden_channels == 16 and MultiplicativeCell().hidden_channels == 2


def test_nested_cell_parameters(data):
    V, rho = data
    default = MultiplicativeCell()
    tr = PhysicsTranslator(window=4, max_iter=1, **CHEAP)
    tr.set_params(cell__hidden_channels=3)
    assert tr.cell == MultiplicativeCell(hidden_channels=3) and default.hidden_channels == 2
    assert PhysicsTranslator().cell.hidden_channels == 2  # the shared default is untouched
    assert clone(tr).get_params()["cell__hidden_channels"] == 3
    assert tr.fit(V[:8], rho[:8]).hidden_states(V[:2]).shape == (2, 40, 3)


def test_grid_search_over_the_cell(data):
    V, rho = data
    search = GridSearchCV(
        PhysicsTranslator(GRUCell(hidden_channels=3), window=4, max_iter=2, **CHEAP,
                          random_state=0),
        {"cell__hidden_channels": [2, 3]}, cv=2,
    ).fit(V[:40], rho[:40])
    assert search.best_params_["cell__hidden_channels"] in (2, 3)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    width = search.best_params_["cell__hidden_channels"]
    assert search.best_estimator_.hidden_states(V[:2]).shape == (2, 40, width)
    search = GridSearchCV(
        PhysicsTranslator(window=4, max_iter=2, **CHEAP, random_state=0),
        {"cell": [GRUCell(hidden_channels=2), MultiplicativeCell()]}, cv=2,
    ).fit(V[:40], rho[:40])
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_window_longer_than_sequences_is_clipped(data):
    V, rho = data
    tr = PhysicsTranslator(GRUCell(hidden_channels=3), window=500, max_iter=2,
                           **CHEAP).fit(V, rho)
    assert tr.predict(V[:2]).shape == (2, 40)


def test_input_errors(data, fitted):
    V, rho = data
    tr = PhysicsTranslator(max_iter=1, device="cpu")
    with pytest.raises(ValueError, match="rho must have the shape of V"):
        tr.fit(V, rho[:, :-1])
    with pytest.raises(ValueError, match="rho must have the shape of V"):
        tr.fit(V, rho[:-1])
    bad = V.copy()
    bad[0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tr.fit(bad, rho)
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict(bad)
    bad = rho.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tr.fit(V, bad)
    with pytest.raises(ValueError, match="non-negative"):
        tr.fit(V, -rho)
    with pytest.raises(ValueError, match="target y is None"):
        tr.fit(V, None)


@pytest.mark.parametrize("params, error, match", [
    ({"cell__hidden_channels": 0}, ValueError, "cell__hidden_channels must be an int >= 1"),
    ({"cell__n_readout": 0}, ValueError, "cell__n_readout must be an int >= 1"),
    ({"cell__hidden_channels": 2.0}, TypeError, "cell__hidden_channels must be an int"),
    ({"cell": "gru"}, TypeError, "cell must be a recurrent cell"),
    ({"cell": GRUCell}, TypeError, "cell must be a recurrent cell"),
    ({"window": 1}, ValueError, "window must be an int >= 2"),
    ({"window": "50"}, TypeError, "window must be an int"),
    ({"lbfgs_iter": -1}, ValueError, "lbfgs_iter must be an int >= 0"),
    ({"lbfgs_iter": None}, TypeError, "lbfgs_iter must be an int"),
    ({"optimizer": 1e-3}, TypeError, "optimizer must be a skphys.Adam"),
    ({"optimizer__learning_rate": 0.0}, ValueError, "optimizer__learning_rate must be"),
    ({"warm_start": 1}, TypeError, "warm_start must be a bool"),
])
def test_parameter_errors(data, params, error, match):
    V, rho = data
    tr = PhysicsTranslator(max_iter=1, device="cpu").set_params(**params)
    with pytest.raises(error, match=match):
        tr.fit(V, rho)


@settings(max_examples=20, deadline=None)
@given(site=st.integers(0, 38), shift=st.floats(-5, 5).filter(lambda x: abs(x) > 1e-3))
def test_hidden_states_are_causal(fitted, data, site, shift):
    V = data[0][:5].copy()
    before = fitted.hidden_states(V)
    V[:, site + 1:] += shift
    after = fitted.hidden_states(V)
    np.testing.assert_array_equal(after[:, : site + 1], before[:, : site + 1])
    assert not np.allclose(after[:, site + 1], before[:, site + 1])


def test_multiplicative_cell_represents_the_exact_law(data):
    # h_i = (psi_{i+1}, psi_i) = T(V_i) h_{i-1} with T = [[2 + a^2 V, -1], [1, 0]], h_{-1} =
    # (1, 0) (psi vanishes at the wall), readout psi_i^2: the translator is then exact, on
    # the trained length and on a system twice as long.
    V, rho = data
    tr = PhysicsTranslator(MultiplicativeCell(hidden_channels=2, n_readout=1), max_iter=1,
                           lbfgs_iter=0, device="cpu", dtype="float64").fit(V, rho)
    net = tr.module_
    with torch.no_grad():
        net.core.weight.copy_(torch.tensor([[2.0, -1.0], [1.0, 0.0]]))
        net.core.weight_v.copy_(torch.tensor([[A**2 * tr.v_scale_, 0.0], [0.0, 0.0]]))
        net.initial.copy_(torch.tensor([[1.0, 0.0]]))
        net.readout.weight.copy_(torch.tensor([[0.0, 1.0]]))
        net.readout.bias.zero_()
    # (the forward recursion amplifies the 1e-13 rounding of E0 exponentially, hence 1e-6)
    assert tr.relative_error(V, rho).max() < 1e-6
    np.testing.assert_allclose(tr.predict(V), rho, rtol=0, atol=1e-6)
    V2, rho2 = make_schrodinger_1d(n_samples=20, n_sites=80, spacing=A, random_state=3)
    assert tr.relative_error(V2, rho2).max() < 1e-5


def test_training_learns_the_density(data):
    V, rho = data
    params = dict(cell=MultiplicativeCell(hidden_channels=4), window=20,
                  optimizer=Adam(3e-2, clip_grad_norm=1.0), **CHEAP, random_state=0)
    untrained = PhysicsTranslator(max_iter=1, **params).fit(V, rho)
    trained = PhysicsTranslator(max_iter=200, **params).fit(V, rho)
    V_test, rho_test = make_schrodinger_1d(n_samples=100, n_sites=40, spacing=A, random_state=9)
    start = np.median(untrained.relative_error(V_test, rho_test))
    end = np.median(trained.relative_error(V_test, rho_test))
    assert end < 0.3 * start  # about 0.5 -> 0.14
    assert trained.history_["loss"].iloc[-20:].mean() < trained.history_["loss"].iloc[:20].mean()


def test_reproducible_and_persistent(data, fitted, tmp_path):
    V, rho = data
    again = PhysicsTranslator(GRUCell(hidden_channels=6), window=20, max_iter=30, **CHEAP,
                              random_state=0).fit(V, rho)
    np.testing.assert_array_equal(again.predict(V), fitted.predict(V))
    fitted.save(tmp_path / "tr.pt")
    loaded = skphys.load(tmp_path / "tr.pt")
    np.testing.assert_array_equal(loaded.predict(V), fitted.predict(V))
    assert loaded.row_sum_ == fitted.row_sum_ and loaded.v_scale_ == fitted.v_scale_
    assert loaded.cell == fitted.cell and loaded.optimizer == fitted.optimizer


def test_warm_start_continues_the_fit(data):
    V, rho = data
    tr = PhysicsTranslator(GRUCell(hidden_channels=3), window=10, max_iter=3, lbfgs_iter=2,
                           dtype="float32", warm_start=True, device="cpu",
                           random_state=0).fit(V[:20], rho[:20])
    first = tr.n_iter_
    module = tr.module_
    tr.fit(V[:20], rho[:20])
    assert tr.module_ is module and tr.n_iter_ > first == len(tr.history_.iloc[:first])
    assert list(tr.history_["step"]) == sorted(tr.history_["step"])


def test_lbfgs_refinement_recovers_the_schrodinger_step(data):
    # Adam alone leaves the two-state multiplicative cell far from the Schrödinger step; the
    # L-BFGS refinement on whole sequences brings its trace to 2 + a^2 V (tr W_1 = a^2 in
    # units of the unscaled potential) and the prediction on twice-as-long systems to ~1e-3.
    V, rho = data
    # (the default cell and dtype: the two-state multiplicative cell in float64)
    params = dict(window=20, max_iter=300, optimizer=Adam(1e-2, clip_grad_norm=1.0),
                  device="cpu", random_state=0)
    adam = PhysicsTranslator(lbfgs_iter=0, **params).fit(V, rho)
    refined = PhysicsTranslator(lbfgs_iter=150, **params).fit(V, rho)
    V2, rho2 = make_schrodinger_1d(n_samples=100, n_sites=80, spacing=A, random_state=9)
    assert np.median(adam.relative_error(V2, rho2)) > 0.1
    assert np.median(refined.relative_error(V2, rho2)) < 3e-3
    slope = float(refined.module_.core.weight_v.detach().trace()) / refined.v_scale_ / A**2
    assert abs(slope - 1) < 0.03
    history = refined.history_
    assert list(history["optimizer"].unique()) == ["adam", "lbfgs"]
    assert refined.n_iter_ == len(history) and (history["optimizer"] == "adam").sum() == 300
    lbfgs_loss = history.loc[history["optimizer"] == "lbfgs", "loss"].to_numpy()
    assert np.all(np.diff(lbfgs_loss) <= 0) and lbfgs_loss[-1] < 1e-2 * lbfgs_loss[0]
    assert "optimizer" not in adam.history_
