"""Every estimator on the device under test (``pytest --device cuda`` on a GPU machine).

Each estimator is fitted on ``device`` for a few steps, and its outputs must come back as
finite NumPy arrays; its pickle must hold tensors only in the module state, on the CPU, so a
model fitted on a GPU unpickles on a machine without one; and a saved model loaded onto the
CPU must reproduce the outputs computed on the device. On the CPU (the default, as in CI)
the same tests guard the pickling and persistence invariants.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import skphys
from skphys import (
    AutoregressiveHamiltonian,
    BottleneckDistiller,
    ContinuousFlow,
    CouplingBlock,
    CouplingFlow,
    FlowSampler,
    MERAFlow,
    ODEBlock,
    PhysicsTranslator,
    RGFlow,
)
from skphys.architectures import MADE, GRUCell, PixelCNN
from skphys.datasets import make_schrodinger_1d
from skphys.lattice import XY, ComplexPhi4, Ising, IsingDual, Phi4
from skphys.lattice.exact import T_C

_TRAINING = dict(monitor_every=0, max_iter=3, batch_size=16, dtype="float64", random_state=0)
_FLOW = dict(flow=CouplingFlow(n_layers=2, hidden_channels=(4,)), **_TRAINING)
_RG = dict(flow=MERAFlow(block=CouplingBlock(n_layers=1, hidden_channels=(4,))), **_TRAINING)
_AH = dict(max_iter=3, batch_size=16, dtype="float64", random_state=0)


def _schrodinger():
    return make_schrodinger_1d(n_samples=16, n_sites=12, random_state=0)


def _translator(device):
    return PhysicsTranslator(GRUCell(hidden_channels=3), window=6, max_iter=2, lbfgs_iter=0,
                             device=device, dtype="float64",
                             random_state=0).fit(*_schrodinger())


# name -> (fitted estimator on a device, inputs X for its deterministic outputs)
def _fit(name: str, device: str):
    if name == "flow-coupling-ising-dual":
        return FlowSampler(IsingDual((4, 4), T_C), device=device, **_FLOW).fit()
    if name == "flow-continuous-phi4":
        return FlowSampler(Phi4((4, 4), m2=-4.0, lam=8.0), flow=ContinuousFlow(ode_steps=2),
                           device=device, **_TRAINING).fit()
    if name == "rg-coupling-ising-dual":
        return RGFlow(IsingDual((4, 4), T_C), device=device, **_RG).fit()
    if name == "rg-ode-complex-phi4":
        return RGFlow(ComplexPhi4((4, 4), t=1.0, mu=-2.0, lam=1.5),
                      flow=MERAFlow(block=ODEBlock(hidden_channels=(4,), ode_steps=2)),
                      device=device, **_TRAINING).fit()
    if name == "autoregressive-ising":
        return AutoregressiveHamiltonian(Ising((4, 4), 2.5), device=device,
                                         network=PixelCNN(hidden_channels=2, n_layers=1),
                                         **_AH).fit()
    if name == "autoregressive-xy":
        return AutoregressiveHamiltonian(XY((4, 4), 1.0), network=MADE(hidden_channels=2,
                                                                       n_layers=1),
                                         device=device, **_AH).fit()
    if name == "translator":
        return _translator(device)
    if name == "distiller":
        return BottleneckDistiller(_translator(device), latent_dim=2, horizon=4,
                                   hidden_channels=4, max_iter=3, dtype="float64",
                                   device=device, random_state=0).fit(_schrodinger()[0])
    raise AssertionError(name)


NAMES = ["flow-coupling-ising-dual", "flow-continuous-phi4", "rg-coupling-ising-dual",
         "rg-ode-complex-phi4", "autoregressive-ising", "autoregressive-xy", "translator",
         "distiller"]


def _inputs(estimator):
    """Inputs for the deterministic outputs: model samples, or potentials."""
    if isinstance(estimator, (PhysicsTranslator, BottleneckDistiller)):
        return _schrodinger()[0][:4]
    return estimator.sample(4)


def _outputs(estimator, X) -> dict:
    """The estimator's deterministic outputs on ``X``."""
    methods = ("score_samples", "transform", "inverse_transform", "predict")
    out = {}
    for method in methods:
        if method == "inverse_transform" and hasattr(estimator, method):
            out[method] = estimator.inverse_transform(out["transform"])
        elif hasattr(estimator, method):
            out[method] = getattr(estimator, method)(X)
    return out


def _tensors(obj, path: str = "", seen: set | None = None) -> list[tuple[str, torch.device]]:
    """Every tensor reachable through the containers and object states of ``obj``."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, (type, str, bytes, np.ndarray)):
        return []
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return [(path, obj.device)]
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    elif hasattr(obj, "__dict__"):
        state = obj.__getstate__()
        items = state.items() if isinstance(state, dict) else []
    else:
        return []
    found = []
    for key, value in items:
        found += _tensors(value, f"{path}[{key!r}]", seen)
    return found


@pytest.fixture(scope="module", params=NAMES)
def fitted(request, device):
    return _fit(request.param, device), device


def test_runs_on_the_device(fitted):
    estimator, device = fitted
    assert torch.device(estimator.device_).type == torch.device(device).type
    assert {p.device.type for p in estimator.module_.parameters()} == {torch.device(device).type}
    X = _inputs(estimator)
    outputs = _outputs(estimator, X)
    assert outputs
    for method, value in outputs.items():
        assert isinstance(value, np.ndarray) and np.isfinite(value).all(), method
    if hasattr(estimator, "sample"):
        assert isinstance(X, np.ndarray) and np.isfinite(X).all()


def test_pickle_holds_only_the_cpu_module_state(fitted):
    estimator, _ = fitted
    state = estimator.__getstate__()
    found = _tensors(state)
    assert found, "the module state should be pickled"
    # a nested estimator (the distiller's translator) pickles its own module state
    outside = [path for path, _ in found if "['_module_state']" not in path]
    assert not outside, f"tensors pickled outside the module state: {outside}"
    assert {dev.type for _, dev in found} == {"cpu"}
    X = _inputs(estimator)
    twin = pickle.loads(pickle.dumps(estimator))
    for method, value in _outputs(estimator, X).items():
        np.testing.assert_allclose(_outputs(twin, X)[method], value, rtol=1e-10, atol=1e-12,
                                   err_msg=method)


def test_saved_model_reproduces_the_device_outputs_on_the_cpu(fitted, tmp_path):
    estimator, device = fitted
    estimator.save(tmp_path / "model.pt")
    on_cpu = skphys.load(tmp_path / "model.pt", device="cpu")
    assert on_cpu.device_ == "cpu"
    X = _inputs(estimator)
    # float64 on both: a GPU differs from the CPU only by the order of its sums
    tolerance = dict(rtol=0, atol=0) if device == "cpu" else dict(rtol=1e-9, atol=1e-9)
    for method, value in _outputs(estimator, X).items():
        np.testing.assert_allclose(_outputs(on_cpu, X)[method], value, **tolerance,
                                   err_msg=method)
