"""Fuzz suite of the estimators: hostile inputs to every public method and constructor parameter.

Each property draws bad inputs (NaN, inf, values beyond float32, wrong shapes and types, absurd
sizes, unfitted estimators) and asserts what the library promises for any input: the call
ends within its time box; it either returns or raises ValueError / TypeError (NotFittedError
and the errors of :mod:`skphys.exceptions` are of these kinds) with a message naming the
parameter; and a result with NaN in it comes with a warning. Models are tiny (2 steps, 4 x 4
lattices) so that the file stays within CI's budget.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from _fuzzing import TIME_BOX, time_box
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone

from skphys import (
    Adam,
    AutoregressiveHamiltonian,
    BottleneckDistiller,
    CouplingBlock,
    CouplingFlow,
    FlowSampler,
    MERAFlow,
    PhysicsTranslator,
    PixelCNN,
    RGFlow,
    scan_latent_dim,
)
from skphys.architectures import GRUCell
from skphys.datasets import make_schrodinger_1d
from skphys.exceptions import NonFiniteLossError
from skphys.lattice import FreeScalar, Ising

CI = settings(settings.get_profile("ci"))
SHAPE = (4, 4)
N = 16
COUNTS: Counter = Counter()  # inputs tried per category (shown by test_report_counts)

FREE = FreeScalar(SHAPE, m2=1.0)
ISING = Ising(SHAPE, 2.5)
TINY = dict(max_iter=2, batch_size=8, device="cpu", random_state=0)


def _flow():
    return FlowSampler(FREE, flow=CouplingFlow(n_layers=1, hidden_channels=2), monitor_every=0,
                       **TINY)


def _rg():
    return RGFlow(FREE, flow=MERAFlow(depth=1, block=CouplingBlock(n_layers=1, hidden_channels=2),
                                      fourier_layer=False), monitor_every=0, **TINY)


def _ah():
    return AutoregressiveHamiltonian(ISING, network=PixelCNN(n_layers=1, hidden_channels=2),
                                     **TINY)


V, RHO = make_schrodinger_1d(n_samples=12, n_sites=10, random_state=0)


def _translator():
    return PhysicsTranslator(GRUCell(hidden_channels=2), window=5, lbfgs_iter=0, **TINY)


def _distiller(translator):
    return BottleneckDistiller(translator, latent_dim=1, horizon=4, hidden_channels=2, **TINY)


def _has_nan(result) -> bool:
    if isinstance(result, (tuple, list)):
        return any(_has_nan(r) for r in result)
    if isinstance(result, dict):
        return any(_has_nan(v) for v in result.values())
    if isinstance(result, pd.DataFrame):
        return bool(result.select_dtypes("number").isna().to_numpy().any())
    if isinstance(result, (float, np.floating)):
        return math.isnan(result)
    if isinstance(result, np.ndarray) and result.dtype.kind in "fc":
        return bool(np.isnan(result).any())
    return False


def check_call(category: str, call, names) -> str:
    """Run ``call()`` within the time box: a result (with a warning if it holds NaN), or a
    ValueError / TypeError / NonFiniteLossError whose message names one of ``names``."""
    COUNTS[category] += 1
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with time_box():
                result = call()
        except NonFiniteLossError:  # a fit that diverged on hostile data: documented
            COUNTS[f"{category}: NonFiniteLossError"] += 1
            return "error"
        except (ValueError, TypeError) as error:
            message = str(error)
            assert any(name in message for name in names), (
                f"{type(error).__name__} does not name {names}: {message}")
            COUNTS[f"{category}: clear error"] += 1
            return "error"
    assert time.perf_counter() - start < TIME_BOX
    if _has_nan(result):
        assert caught, f"NaN result without a warning: {result!r}"[:500]
        COUNTS[f"{category}: NaN with a warning"] += 1
        return "nan"
    COUNTS[f"{category}: result"] += 1
    return "ok"


# -- fitted estimators, shared by the properties (fitted once) ----------------------------------
@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny fits: ConvergenceWarning by design
        translator = _translator().fit(V, RHO)
        return {
            "flow": _flow().fit(),
            "rg": _rg().fit(),
            "ah": _ah().fit(),
            "translator": translator,
            "distiller": _distiller(translator).fit(V),
        }


# -- strategies -----------------------------------------------------------------------------------
HOSTILE_VALUES = [0.0, 1.0, -1.0, 0.5, np.nan, np.inf, -np.inf, 1e39, -1e39, 3e38, 1e300,
                  5e-324]


def bad_arrays(n_features: int, spins: bool = False):
    """Arrays with hostile values, wrong shapes and wrong types for a method's ``X``."""
    values = [*HOSTILE_VALUES, *([1.0, -1.0] * 4 if spins else [])]
    hostile = arrays(np.float64, st.sampled_from([(3, n_features), (1, n_features)]),
                     elements=st.sampled_from(values))
    shapes = st.sampled_from([(n_features,), (0, n_features), (3, n_features + 1), (3, 1),
                              (2, 3, n_features), (3, 0), ()]).map(np.ones)
    types = st.sampled_from([
        "abc", None, 3, {"a": 1}, [["a"] * n_features], np.full((2, n_features), "x"),
        np.ones((2, n_features), dtype=complex), torch.zeros(2, n_features),
        np.ones((2, n_features), dtype=bool), np.ones((2, n_features), dtype=object),
        pd.DataFrame(np.ones((2, n_features))),
    ])
    return st.one_of(hostile, shapes, types)


BAD_NUMBERS = st.sampled_from([0, -1, 1.5, "3", None, 10**12, np.nan, np.inf, True, (2,), -10**18,
                               2, 1e-300])

# (estimator, method, how to call it with a drawn array X, the parameter names of the message)
ARRAY_METHODS = [
    ("flow", "score_samples", lambda e, X: e.score_samples(X), ["X"]),
    ("flow", "score", lambda e, X: e.score(X), ["X"]),
    ("flow", "transform", lambda e, X: e.transform(X), ["X"]),
    ("flow", "inverse_transform", lambda e, X: e.inverse_transform(X), ["Z", "X"]),
    ("flow", "fit(X)", lambda e, X: clone(e).set_params(theory=None).fit(X), ["X"]),
    ("rg", "score_samples", lambda e, X: e.score_samples(X), ["X"]),
    ("rg", "transform", lambda e, X: e.transform(X), ["X"]),
    ("rg", "inverse_transform", lambda e, X: e.inverse_transform(X), ["Z", "X"]),
    ("rg", "effective_action", lambda e, X: e.effective_action(X), ["Z", "X"]),
    ("rg", "mix", lambda e, X: e.mix(X, X, 1), ["X"]),
    ("rg", "inpaint", lambda e, X: e.inpaint(X, np.arange(N) < 2, 2, n_burnin=1), ["X"]),
    ("rg", "bulk_correlation", lambda e, X: e.bulk_correlation(X=X), ["X"]),
    ("rg", "causal_cone", lambda e, X: e.causal_cone(X), ["mask"]),
    ("ah", "score_samples", lambda e, X: e.score_samples(X), ["X"]),
    ("ah", "transform", lambda e, X: e.transform(X), ["X"]),
    ("ah", "hamiltonian", lambda e, X: e.hamiltonian(X), ["X"]),
    ("ah", "symmetry_score", lambda e, X: e.symmetry_score(X), ["X"]),
    ("ah", "fit(X)", lambda e, X: clone(e).set_params(theory=None).fit(X), ["X"]),
]
TRANSLATOR_METHODS = [
    ("translator", "translate", lambda e, X: e.translate(X), ["V", "X"]),
    ("translator", "predict", lambda e, X: e.predict(X), ["V", "X"]),
    ("translator", "hidden_states", lambda e, X: e.hidden_states(X), ["V", "X"]),
    ("translator", "relative_error", lambda e, X: e.relative_error(X, RHO[:3]), ["V", "X", "rho"]),
    ("translator", "score", lambda e, X: e.score(V[:3], X), ["rho", "y"]),
    ("translator", "fit", lambda e, X: clone(e).fit(X, X), ["V", "X", "rho", "y"]),
    ("distiller", "transform", lambda e, X: e.transform(X), ["V", "X"]),
    ("distiller", "score", lambda e, X: e.score(X), ["V", "X"]),
    ("distiller", "reconstruction_loss", lambda e, X: e.reconstruction_loss(X), ["V", "X"]),
    ("distiller", "update_matrices", lambda e, X: e.update_matrices(X), ["v"]),
    ("distiller", "law_report", lambda e, X: e.law_report(X), ["v"]),
    ("distiller", "fit", lambda e, X: clone(e).fit(X), ["V", "X"]),
]


def _by_estimator(cases):
    return [pytest.param([c for c in cases if c[0] == name], id=name)
            for name in dict.fromkeys(c[0] for c in cases)]


@pytest.mark.parametrize("cases", _by_estimator(ARRAY_METHODS + TRANSLATOR_METHODS))
@CI
@given(data=st.data())
def test_methods_on_hostile_arrays(fitted, cases, data):
    name, method, call, names = data.draw(st.sampled_from(cases), label="method")
    n_features = N if name in ("flow", "rg", "ah") else V.shape[1]
    X = data.draw(bad_arrays(n_features, spins=name == "ah"), label="X")
    check_call("hostile arrays", lambda: call(fitted[name], X), names)


# (estimator, method, call with a drawn value, parameter name)
NUMBER_ARGUMENTS = [
    ("flow", "sample", lambda e, n: e.sample(n), "n_samples"),
    ("flow", "sample", lambda e, n: e.sample(2, method="mh", n_burnin=n), "n_burnin"),
    ("flow", "sample", lambda e, n: e.sample(2, method=n), "method"),
    ("flow", "estimate", lambda e, n: e.estimate(lambda x: x[:, 0], n), "n_samples"),
    ("flow", "estimate", lambda e, n: e.estimate(lambda x: np.full(len(x), n), 64),
     "observable"),
    ("flow", "estimate", lambda e, n: e.estimate(lambda x: x[:, 0], 64, method=n), "method"),
    ("flow", "diagnose", lambda e, n: e.diagnose(n), "n_samples"),
    ("rg", "sample", lambda e, n: e.sample(n, method="bulk_hmc", n_burnin=1), "n_samples"),
    ("rg", "sample", lambda e, n: e.sample(4, method="bulk_hmc", n_chains=n, n_burnin=1),
     "n_chains"),
    ("rg", "bulk_correlation", lambda e, n: e.bulk_correlation(n), "n_samples"),
    ("rg", "mix", lambda e, n: e.mix(e.sample(2), e.sample(2), n), "level"),
    ("rg", "inpaint", lambda e, n: e.inpaint(e.sample(1), np.arange(N) < 2, n, n_burnin=1),
     "n_samples"),
    ("rg", "inpaint", lambda e, n: e.inpaint(e.sample(1), np.arange(N) < n, 2, n_burnin=1),
     "mask"),
    ("ah", "hamiltonian", lambda e, n: e.hamiltonian(e.sample(2), temperature=n), "temperature"),
    ("ah", "free_energy", lambda e, n: e.free_energy(n), "n_samples"),
    ("ah", "symmetry_score", lambda e, n: e.symmetry_score(e.sample(2), op=n), "op"),
    ("ah", "sample", lambda e, n: e.sample(n), "n_samples"),
    ("distiller", "law_report", lambda e, n: e.law_report(spacing=n), "spacing"),
    ("distiller", "scan_latent_dim", lambda e, n: scan_latent_dim(e, V, latent_dims=[n], cv=2),
     "latent_dims"),
    ("distiller", "scan_latent_dim", lambda e, n: scan_latent_dim(e, V, [1], tolerance=n, cv=2),
     "tolerance"),
]


@pytest.mark.parametrize("cases", _by_estimator(NUMBER_ARGUMENTS))
@CI
@given(data=st.data(), value=BAD_NUMBERS)
def test_method_arguments(fitted, cases, data, value):
    name, method, call, parameter = data.draw(st.sampled_from(cases), label="method")
    check_call("method arguments", lambda: call(fitted[name], value), [parameter])


UNFITTED_CALLS = [
    (_flow, lambda e: e.sample(2)), (_flow, lambda e: e.score_samples(np.zeros((2, N)))),
    (_flow, lambda e: e.estimate(lambda x: x[:, 0])), (_flow, lambda e: e.diagnose()),
    (_flow, lambda e: e.inverse_transform(np.zeros((2, N)))),
    (_rg, lambda e: e.inpaint(np.zeros((1, N)), np.arange(N) < 2)),
    (_rg, lambda e: e.bulk_correlation()), (_rg, lambda e: e.causal_cone(np.arange(N) < 2)),
    (_rg, lambda e: e.effective_action(np.zeros((2, N)))), (_rg, lambda e: e.latent_theory()),
    (_ah, lambda e: e.free_energy()), (_ah, lambda e: e.hamiltonian(np.ones((2, N)))),
    (_ah, lambda e: e.symmetry_score(np.ones((2, N)))),
    (_translator, lambda e: e.predict(V)), (_translator, lambda e: e.translate(V)),
]


@pytest.mark.parametrize("make, call", UNFITTED_CALLS)
def test_unfitted_calls_raise_not_fitted(make, call):
    from sklearn.exceptions import NotFittedError

    COUNTS["unfitted calls"] += 1
    with time_box(), pytest.raises(NotFittedError):
        call(make())


def test_unfitted_distiller_methods(fitted):
    from sklearn.exceptions import NotFittedError

    for call in (lambda e: e.law_report(), lambda e: e.transform(V),
                 lambda e: e.update_matrices([0.0])):
        COUNTS["unfitted calls"] += 1
        with pytest.raises(NotFittedError):
            call(_distiller(fitted["translator"]))


BAD_PARAMETER_VALUES = [-1, 0, 1.5, "a", "0.1", None, np.nan, np.inf, 10**12, (0,), (), (-4,),
                        (4.5,), ("a",), True, object(), (10**6, 10**6), 99, -1e300]
TIME_PARAMETERS = {"max_iter", "lbfgs_iter"}  # a huge value is a long fit the user asked for


def _parameters(make):
    """Every constructor parameter of ``make()``, nested ones included, but the durations."""
    return [p for p in make().get_params()
            if p.split("__")[-1] not in TIME_PARAMETERS and not p.endswith("random_state")]


@pytest.mark.parametrize("make", [_flow, _rg, _ah, _translator],
                         ids=["flow", "rg", "ah", "translator"])
@CI
@given(data=st.data(), value=st.sampled_from(BAD_PARAMETER_VALUES))
def test_constructor_parameters(make, data, value):
    parameter = data.draw(st.sampled_from(_parameters(make)), label="parameter")
    estimator = make()
    head = parameter.split("__")[0]
    names = [parameter, head, parameter.split("__")[-1]]

    def fit():
        estimator.set_params(**{parameter: value})
        if isinstance(estimator, PhysicsTranslator):
            return estimator.fit(V, RHO)
        return estimator.fit()

    check_call("constructor parameters", fit, names + ["batch_size", "network"])


@CI
@given(parameter=st.sampled_from(["latent_dim", "horizon", "hidden_channels", "target",
                                  "batch_size", "optimizer__learning_rate", "dtype"]),
       value=st.sampled_from(BAD_PARAMETER_VALUES))
def test_distiller_constructor_parameters(fitted, parameter, value):
    estimator = _distiller(fitted["translator"])
    names = [parameter, parameter.split("__")[-1], "network"]
    check_call("constructor parameters",
               lambda: estimator.set_params(**{parameter: value}).fit(V), names)


def test_diverging_fit_leaves_a_usable_model():
    COUNTS["divergence"] += 1
    rg = RGFlow(FREE, flow=MERAFlow(depth=1, block=CouplingBlock(n_layers=1, hidden_channels=2)),
                optimizer=Adam(1e3, clip_grad_norm=None), monitor_every=0, max_iter=30,
                batch_size=8, device="cpu", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            rg.fit()
        except NonFiniteLossError as error:
            assert "checked to be finite" in str(error)
    X = np.random.default_rng(0).normal(size=(8, N))
    assert np.isfinite(rg.score_samples(X)).all() and np.isfinite(rg.transform(X)).all()


def test_report_counts():
    """The number of inputs per category (run last: ``pytest -s`` shows them)."""
    inputs = {k: v for k, v in COUNTS.items() if ":" not in k}
    outcomes = {k: v for k, v in COUNTS.items() if ":" in k}
    print("\nfuzz inputs per category:", inputs, "total", sum(inputs.values()))
    print("outcomes:", outcomes)
