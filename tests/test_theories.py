"""Lattice theories: actions against explicit sums, forces, local actions, conventions, and
theories defined by users (parameters, registry, persistence)."""

from __future__ import annotations

import copy
import itertools
import math
import pickle

import numpy as np
import pytest
import torch
from _fuzzing import (
    BareNotImplemented,
    ColumnAction,
    IntegerAction,
    NoAction,
    NumpyAction,
    ScalarAction,
)
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import clone

import skphys
from skphys.lattice import THEORIES as REGISTRY
from skphys.lattice import (
    XY,
    ComplexPhi4,
    FreeScalar,
    Ising,
    IsingDual,
    LatticeTheory,
    Phi4,
)
from skphys.lattice.exact import T_C


def _fitted_flow(theory):
    """A tiny flow fitted to ``theory``: every estimator construction of this file is here."""
    from skphys import FlowSampler

    return FlowSampler(theory, max_iter=2, batch_size=8, monitor_every=0, device="cpu",
                       random_state=0).fit()


class Phi6(LatticeTheory):
    """phi^6 theory: the action of Phi4 plus ``g6 * phi^6`` on each site (a user's theory)."""

    internal_symmetries = ("z2",)

    def __init__(self, shape, m2, lam, g6=0.1):
        super().__init__(shape)
        self.m2 = m2
        self.lam = lam
        self.g6 = g6

    def action(self, x):
        phi = x.reshape(-1, *self.shape)
        hop = sum((phi * torch.roll(phi, -1, d)).flatten(1).sum(1) for d in range(1, phi.dim()))
        phi2 = x.square()
        onsite = (2 * self.ndim + self.m2) * phi2 + self.lam * phi2**2 + self.g6 * phi2**3
        return -2 * hop + onsite.sum(1)


class Phi4InField(Phi4):
    """Phi4 in an external field ``h``: ``S_phi4 - h sum_x phi_x``, which breaks Z2."""

    internal_symmetries = ()

    def __init__(self, shape, m2, lam, h):
        super().__init__(shape, m2, lam)
        self.h = h

    def action(self, x):
        return super().action(x) - self.h * x.sum(1)

    def grad_action(self, x):
        return super().grad_action(x) - self.h

    def local_action(self, x):
        return super().local_action(x) - self.h * x

THEORIES = [
    Phi4((4, 4), m2=-4.0, lam=8.0),
    Phi4((3, 4, 5), m2=0.3, lam=1.0),
    FreeScalar((4, 6), m2=0.5),
    ComplexPhi4((4, 4), t=1.0, mu=-2.0, lam=1.5),
    XY((4, 4), temperature=0.9),
    IsingDual((4, 4), temperature=T_C),
    IsingDual((5, 5), temperature=2.0),
]


def _neighbours(shape):
    """Forward-neighbour pairs (i, j) of a periodic lattice, one per bond direction."""
    index = np.arange(math.prod(shape)).reshape(shape)
    for site in itertools.product(*(range(n) for n in shape)):
        for mu in range(len(shape)):
            nb = list(site)
            nb[mu] = (nb[mu] + 1) % shape[mu]
            yield index[site], index[tuple(nb)]


def _explicit_action(theory, x):
    """The conventions' formulas written out site by site (float64 numpy)."""
    x = x.numpy()
    bonds = list(_neighbours(theory.shape))
    d = theory.ndim
    if isinstance(theory, Phi4):
        hop = sum(x[:, i] * x[:, j] for i, j in bonds)
        return -2 * hop + ((2 * d + theory.m2) * x**2 + theory.lam * x**4).sum(1)
    if isinstance(theory, FreeScalar):
        grad2 = sum((x[:, j] - x[:, i]) ** 2 for i, j in bonds)
        return 0.5 * grad2 + 0.5 * theory.m2 * (x**2).sum(1)
    if isinstance(theory, ComplexPhi4):
        n = theory.n_sites
        phi = x[:, :n] + 1j * x[:, n:]
        hop = sum((np.conj(phi[:, i]) * phi[:, j]).real * 2 for i, j in bonds)
        r2 = np.abs(phi) ** 2
        return -theory.t * hop + (theory.mu * r2 + theory.lam * r2**2).sum(1)
    if isinstance(theory, XY):
        return -sum(np.cos(x[:, i] - x[:, j]) for i, j in bonds) / theory.temperature
    if isinstance(theory, IsingDual):
        n = theory.n_sites
        adjacency = np.zeros((n, n))
        for i, j in bonds:
            adjacency[i, j] += 1
            adjacency[j, i] += 1
        kernel = adjacency / theory.temperature + theory.alpha * np.eye(n)
        assert abs(np.linalg.eigvalsh(kernel).min() - 0.1) < 1e-12
        quad = 0.5 * np.einsum("bi,ij,bj->b", x, np.linalg.inv(kernel), x)
        return quad - np.log(np.cosh(x)).sum(1)
    raise AssertionError(theory)


@pytest.mark.parametrize("theory", THEORIES, ids=repr)
def test_action_matches_explicit_sum(theory):
    x = theory.initial_state(5, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(theory.action(x).numpy(), _explicit_action(theory, x), rtol=1e-12,
                               atol=1e-10)


@pytest.mark.parametrize("theory", THEORIES, ids=repr)
@given(seed=st.integers(0, 2**31 - 1))
def test_analytic_force_and_local_action(theory, seed):
    g = torch.Generator().manual_seed(seed)
    x = theory.initial_state(3, generator=g) + 0.3 * torch.randn(3, theory.n_features,
                                                                 generator=g, dtype=torch.float64)
    xg = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(theory.action(xg).sum(), xg)
    torch.testing.assert_close(theory.grad_action(x), auto)
    if isinstance(theory, IsingDual):
        return  # non-local action
    # changing every site of one checkerboard colour changes S by the sum of local changes
    coords = torch.meshgrid(*(torch.arange(n) for n in theory.shape), indexing="ij")
    colour = (sum(coords) % 2 == 0).flatten().repeat(theory.n_components)
    y = x + colour * torch.randn(x.shape, generator=g, dtype=torch.float64)
    site_colour = colour[: theory.n_sites]
    if all(n % 2 == 0 for n in theory.shape):
        local = (theory.local_action(y) - theory.local_action(x))[:, site_colour].sum(1)
        torch.testing.assert_close(theory.action(y) - theory.action(x), local)


def test_ising_energy_and_local_action():
    theory = Ising((4, 4), temperature=2.0)
    up = torch.ones(1, 16, dtype=torch.float64)
    assert theory.energy(up).item() == -32.0 and theory.action(up).item() == -16.0
    s = theory.initial_state(4, generator=torch.Generator().manual_seed(1))
    assert set(s.unique().tolist()) <= {-1.0, 1.0}
    flipped = s.clone()
    flipped[:, 5] *= -1
    delta = theory.action(flipped) - theory.action(s)
    torch.testing.assert_close(delta, -2 * theory.local_action(s)[:, 5])
    with pytest.raises(TypeError, match="discrete"):
        theory.grad_action(s)


@given(m2=st.floats(-7.9, 5.0), lam=st.floats(0.01, 20.0))
def test_hopping_form_round_trip_and_action(m2, lam):
    theory = Phi4((4, 4), m2=m2, lam=lam)
    kappa, lam_h, c = theory.to_hopping()
    back = Phi4.from_hopping((4, 4), kappa, lam_h)
    assert back.m2 == pytest.approx(m2, abs=1e-9) and back.lam == pytest.approx(lam, rel=1e-9)
    # S_phi(c psi) equals the hopping-form action of psi
    psi = torch.randn(3, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    p = psi.view(3, 4, 4)
    hop = (p * torch.roll(p, -1, 1) + p * torch.roll(p, -1, 2)).sum((1, 2))
    s_hopping = -2 * kappa * hop + ((1 - 2 * lam_h) * psi**2 + lam_h * psi**4).sum(1)
    torch.testing.assert_close(theory.action(c * psi), s_hopping)


def test_tutorial_point_hopping_values():
    kappa, lam_h, c = Phi4((8, 8), m2=-4.0, lam=8.0).to_hopping()
    assert kappa == pytest.approx(1 / math.sqrt(16)) and lam_h == pytest.approx(0.5)
    assert c**2 == pytest.approx(kappa)  # susceptibilities of phi are c^2 times those of psi


def test_ising_dual_conventions():
    theory = IsingDual((4, 4), temperature=2.0)
    assert theory.alpha == pytest.approx(0.1 + 4 / 2.0)
    assert theory.coupling_eigenvalues().min().item() == pytest.approx(0.1)
    x = torch.randn(1000, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    p = theory.spin_probabilities(x)
    torch.testing.assert_close(p, 1 / (1 + torch.exp(-2 * x)))
    spins = theory.sample_spins(x, generator=torch.Generator().manual_seed(1))
    assert set(spins.unique().tolist()) == {-1.0, 1.0}
    # the improved estimators are the averages over spins drawn given x
    x3 = x[:3].repeat_interleave(20_000, 0)
    s = theory.sample_spins(x3, generator=torch.Generator().manual_seed(2)).view(3, 20_000, 16)
    m2_draws = (s.mean(2) ** 2)
    energy_draws = Ising((4, 4), temperature=2.0).energy(s.reshape(-1, 16)).view(3, 20_000)
    for draws, improved in ((m2_draws, theory.ising_magnetization_sq(x[:3])),
                            (energy_draws, theory.ising_energy(x[:3]))):
        error = draws.std(1) / math.sqrt(20_000)
        assert ((draws.mean(1) - improved).abs() < 4 * error).all()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Phi4((4, 4), m2=-4.0, lam=-1.0), "lam"),
        (lambda: Phi4((4, 4), m2=-1.0, lam=0.0), "m2"),
        (lambda: Phi4((4, 1), m2=1.0, lam=1.0), "shape"),
        (lambda: Phi4((4, 4), m2=float("nan"), lam=1.0), "m2"),
        (lambda: FreeScalar((4, 4), m2=0.0), "m2"),
        (lambda: ComplexPhi4((4, 4), t=1.0, mu=4.0, lam=0.0), "mu"),
        (lambda: Ising((4, 4), temperature=0.0), "temperature"),
        (lambda: XY((4, 4), temperature=-1.0), "temperature"),
        (lambda: IsingDual((4, 4), temperature=float("inf")), "temperature"),
    ],
)
def test_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_wrong_row_length_and_type():
    theory = Phi4((4, 4), m2=-4.0, lam=8.0)
    with pytest.raises(ValueError, match=r"\(n_samples, 16\)"):
        theory.action(torch.zeros(2, 15))
    with pytest.raises(TypeError, match="shape"):
        Phi4("8x8", m2=1.0, lam=1.0)
    with pytest.raises(TypeError, match="m2"):
        Phi4((4, 4), m2="1", lam=1.0)


def test_symmetries_and_equality():
    assert Phi4((4, 4), -4.0, 8.0).symmetries == ("z2", "translation", "reflection", "rotation")
    assert "rotation" not in Phi4((4, 6), -4.0, 8.0).symmetries
    assert ComplexPhi4((4, 4), 1.0, 4.5, 0.0).symmetries[0] == "u1"
    assert Phi4((4, 4), -4.0, 8.0) == Phi4((4, 4), -4, 8)
    assert Phi4((4, 4), -4.0, 8.0) != Phi4((4, 4), -4.0, 7.0)
    theory = XY((4, 4), 1.0)
    assert eval(repr(theory)) == theory


@pytest.mark.parametrize("theory", THEORIES + [Ising((4, 4), 2.0)], ids=repr)
def test_used_theory_pickles_without_tensors(theory):
    """Whatever a theory caches on the device it last ran on stays out of pickles and copies,
    so an estimator fitted on a GPU unpickles on a machine without one."""
    x = theory.initial_state(3, generator=torch.Generator().manual_seed(0))
    action = theory.action(x)
    blob = pickle.dumps(theory)
    assert b"_rebuild_tensor" not in blob
    for twin in (pickle.loads(blob), copy.deepcopy(theory)):
        assert twin == theory
        torch.testing.assert_close(twin.action(x), action, rtol=0, atol=0)


@pytest.mark.parametrize("theory", THEORIES + [Ising((4, 4), 2.0)], ids=repr)
def test_estimators_holding_a_theory_can_be_cloned(theory):
    from sklearn.base import clone

    from skphys import FlowSampler

    estimator = FlowSampler(theory=theory)
    copy = clone(estimator)
    assert copy.theory == theory and copy.theory is not theory


# -- theories defined by users ---------------------------------------------------------------


def test_user_theory_params_repr_equality_hash_clone_pickle():
    theory = Phi6((4, 4), m2=-4.0, lam=8.0, g6=0.5)
    assert theory.get_params() == {"shape": (4, 4), "m2": -4.0, "lam": 8.0, "g6": 0.5}
    assert repr(theory) == "Phi6(shape=(4, 4), m2=-4.0, lam=8.0, g6=0.5)"
    assert eval(repr(theory)) == theory
    assert theory == Phi6((4, 4), -4.0, 8.0, 0.5) and hash(theory) == hash(Phi6((4, 4), -4, 8, 0.5))
    assert theory != Phi6((4, 4), -4.0, 8.0, 0.6) and theory != Phi4((4, 4), -4.0, 8.0)
    assert len({theory, Phi6((4, 4), -4.0, 8.0, 0.5), Phi6((4, 4), -4.0, 8.0)}) == 2
    for twin in (clone(theory), pickle.loads(pickle.dumps(theory)), copy.deepcopy(theory)):
        assert type(twin) is Phi6 and twin == theory and twin is not theory
    # a subclass of a built-in theory adds its own parameters to the inherited ones
    field = Phi4InField((4, 4), m2=-4.0, lam=8.0, h=0.3)
    assert field.get_params() == {"shape": (4, 4), "m2": -4.0, "lam": 8.0, "h": 0.3}
    assert clone(field) == field and field != Phi4InField((4, 4), -4.0, 8.0, 0.0)


def test_user_theory_actions_and_forces():
    x = torch.randn(3, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    phi4 = Phi4((4, 4), m2=-4.0, lam=8.0)
    torch.testing.assert_close(Phi6((4, 4), -4.0, 8.0, g6=0.0).action(x), phi4.action(x))
    torch.testing.assert_close(Phi6((4, 4), -4.0, 8.0, g6=0.5).action(x),
                               phi4.action(x) + 0.5 * x.pow(6).sum(1))
    field = Phi4InField((4, 4), -4.0, 8.0, h=0.3)
    torch.testing.assert_close(field.action(x), phi4.action(x) - 0.3 * x.sum(1))
    torch.testing.assert_close(field.grad_action(x), LatticeTheory.grad_action(field, x))


def test_params_with_lists_and_arrays_hash_and_compare():
    class Couplings(LatticeTheory):
        def __init__(self, shape, couplings):
            super().__init__(shape)
            self.couplings = couplings

        def action(self, x):
            return x.sum(1)

    listed = Couplings((2, 2), [1.0, 2.0])
    assert hash(listed) == hash(Couplings((2, 2), [1.0, 2.0])) == hash(Couplings((2, 2), (1, 2)))
    assert listed == Couplings((2, 2), (1.0, 2.0)) != Couplings((2, 2), [1.0, 3.0])
    arrays = Couplings((2, 2), np.array([1.0, 2.0]))
    assert arrays == Couplings((2, 2), np.array([1.0, 2.0])) != Couplings((2, 2), np.ones(2))
    assert hash(arrays) == hash(Couplings((2, 2), np.array([1.0, 2.0])))
    tensors = Couplings((2, 2), torch.tensor([1.0, 2.0]))
    assert hash(tensors) == hash(clone(tensors)) and clone(tensors) == tensors


@given(m2=st.floats(-10, 10), lam=st.floats(0, 20), g6=st.floats(0, 5),
       shape=st.lists(st.integers(2, 6), min_size=1, max_size=3).map(tuple))
def test_get_params_rebuilds_the_theory(m2, lam, g6, shape):
    theory = Phi6(shape, m2=m2, lam=lam, g6=g6)
    rebuilt = type(theory)(**theory.get_params())
    assert rebuilt == theory and hash(rebuilt) == hash(theory) and rebuilt is not theory
    assert eval(repr(theory)) == theory
    assert list(theory.get_params()) == ["shape", "m2", "lam", "g6"]


@pytest.mark.parametrize(
    "theory",
    [Phi6((4, 4), m2=-4.0, lam=8.0, g6=0.2), Phi4InField((4, 4), m2=-4.0, lam=8.0, h=0.3),
     Phi4((4, 4), m2=-4.0, lam=8.0)],
    ids=repr,
)
def test_user_theory_save_load_round_trip(theory, tmp_path):
    estimator = _fitted_flow(theory)
    path = tmp_path / "flow.pt"
    estimator.save(path)
    loaded = skphys.load(path)
    assert type(loaded.theory) is type(theory) and loaded.theory == estimator.theory
    X = theory.initial_state(5, generator=torch.Generator().manual_seed(0)).numpy()
    np.testing.assert_array_equal(loaded.score_samples(X), estimator.score_samples(X))


def test_saved_theory_is_keyed_by_module_and_qualname():
    from skphys._persistence import decode, encode

    theory = Phi6((4, 4), m2=-4.0, lam=8.0, g6=0.2)
    entry = encode(theory)
    assert entry["__theory__"] == f"{Phi6.__module__}.Phi6"
    assert REGISTRY[entry["__theory__"]] is Phi6
    assert decode(entry) == theory
    # files of older versions name the class only, which is found when unambiguous
    old = {"__theory__": "Phi4", "params": encode(Phi4((4, 4), -4.0, 8.0).get_params())}
    assert decode(old) == Phi4((4, 4), -4.0, 8.0)
    assert REGISTRY["Phi4"] is Phi4 and "skphys.lattice._scalar.Phi4" in REGISTRY
    assert all(issubclass(cls, LatticeTheory) for cls in REGISTRY.values())


def test_theory_defined_in_a_function_registers_and_loads_in_process():
    from skphys._persistence import decode, encode

    class Local(LatticeTheory):
        def __init__(self, shape, a):
            super().__init__(shape)
            self.a = a

        def action(self, x):
            return self.a * x.sum(1)

    key = f"{__name__}.test_theory_defined_in_a_function_registers_and_loads_in_process" \
          ".<locals>.Local"
    assert REGISTRY[key] is Local
    theory = Local((2, 3), a=2.0)
    assert decode(encode(theory)) == theory


def test_unknown_theory_at_load_names_class_and_module(monkeypatch):
    from skphys._persistence import decode, encode

    entry = encode(Phi6((4, 4), m2=-4.0, lam=8.0))
    key = entry["__theory__"]
    monkeypatch.delitem(REGISTRY._classes, key)
    assert key not in REGISTRY and "Phi6" not in REGISTRY
    # the module is imported here, so the message says the class is missing from it
    with pytest.raises(ValueError, match=rf"Phi6 from module '{Phi6.__module__}'.*defines no"):
        decode(entry)
    entry = {**entry, "__theory__": "mylib.theories.Phi6", "module": "mylib.theories"}
    with pytest.raises(ValueError, match=r"the saved model uses the lattice theory Phi6 from "
                                         r"module 'mylib.theories', which is not imported: "
                                         r"import it before skphys.load"):
        decode(entry)
    with pytest.raises(ValueError, match=r"Phi6 .*\(module '__main__'\)"):
        decode({**entry, "__theory__": "__main__.Phi6", "module": "__main__"})
    with pytest.raises(ValueError, match="defined inside a function"):
        decode({**entry, "__theory__": "mylib.f.<locals>.Phi6", "qualname": "f.<locals>.Phi6"})
    with pytest.raises(ValueError, match="lattice theory Phi6, which is not imported"):
        decode({"__theory__": "Phi6", "params": entry["params"]})  # an older file


def test_ambiguous_bare_name_of_an_older_file(monkeypatch):
    from skphys._persistence import decode, encode

    monkeypatch.setattr(REGISTRY, "_classes", dict(REGISTRY._classes))  # forget Phi6 below

    def make():
        class Phi6(LatticeTheory):  # same bare name as the module-level Phi6
            pass
        return Phi6

    other = make()
    with pytest.raises(KeyError):
        REGISTRY["Phi6"]
    entry = {"__theory__": "Phi6", "params": encode({"shape": (4, 4)})}
    with pytest.raises(ValueError, match="several imported theories have that name"):
        decode(entry)
    assert other.__qualname__ == "test_ambiguous_bare_name_of_an_older_file.<locals>.make" \
                                 ".<locals>.Phi6"


def test_skphys_theory_moved_to_another_private_module_still_loads():
    from skphys._persistence import decode, encode

    entry = encode(Phi4((4, 4), -4.0, 8.0))
    moved = {**entry, "__theory__": "skphys.lattice._old_scalar.Phi4",
             "module": "skphys.lattice._old_scalar"}
    assert decode(moved) == Phi4((4, 4), -4.0, 8.0)


def test_parameter_stored_under_another_name_is_a_clear_error():
    class Renamed(LatticeTheory):
        def __init__(self, shape, coupling):
            super().__init__(shape)
            self._coupling = coupling

        def action(self, x):
            return self._coupling * x.sum(1)

    theory = Renamed((2, 2), coupling=1.0)
    message = r"Renamed has no attribute 'coupling'.*store every __init__ parameter under its own"
    for use in (theory.get_params, lambda: repr(theory), lambda: clone(theory),
                lambda: hash(theory), lambda: theory == Renamed((2, 2), 1.0)):
        with pytest.raises(AttributeError, match=message):
            use()


@pytest.mark.parametrize("signature", ["shape, *couplings", "shape, **couplings",
                                       "shape, /, m2"])
def test_init_without_named_keyword_parameters_is_refused_at_definition(signature):
    namespace = {"LatticeTheory": LatticeTheory}
    source = f"class Bad(LatticeTheory):\n    def __init__(self, {signature}):\n        pass\n"
    with pytest.raises(TypeError, match=r"Bad.__init__ takes .*no \*args or \*\*kwargs"):
        exec(source, namespace)


def test_bad_internal_symmetries_is_refused_at_definition():
    with pytest.raises(TypeError, match="internal_symmetries must be a tuple of str"):
        class Bad(LatticeTheory):
            internal_symmetries = "z2"


def test_missing_action_is_a_clear_error():
    class NoAction(LatticeTheory):
        pass

    theory = NoAction((2, 2))
    message = (r"NoAction must define action\(x\): the action of each row of x, a tensor of "
               r"shape \(batch,\)")
    with pytest.raises(NotImplementedError, match=message):
        theory.action(torch.zeros(1, 4))
    with pytest.raises(NotImplementedError, match=message):
        theory.grad_action(torch.zeros(1, 4))


@pytest.mark.parametrize(
    "theory, expected",
    [(Phi4((4, 4), -4.0, 8.0), True), (FreeScalar((4, 4), 1.0), True),
     (ComplexPhi4((4, 4), 1.0, 4.5, 0.0), True), (Ising((4, 4), 2.0), True),
     (IsingDual((4, 4), 2.0), True), (XY((4, 4), 1.0), True),
     (Phi6((4, 4), -4.0, 8.0), True), (Phi4InField((4, 4), -4.0, 8.0, h=0.3), False)],
    ids=repr,
)
def test_has_sign_symmetry(theory, expected):
    assert theory.has_sign_symmetry is expected
    if expected:  # the flip of the field type leaves the action unchanged
        x = theory.initial_state(3, generator=torch.Generator().manual_seed(0))
        flipped = theory.canonicalize(-x)  # angles: theta -> -theta modulo 2 pi
        torch.testing.assert_close(theory.action(flipped), theory.action(x))


def test_sign_flip_changes_the_action_in_a_field():
    theory = Phi4InField((4, 4), -4.0, 8.0, h=0.3)
    x = theory.initial_state(3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(theory.action(x) - theory.action(-x), -0.6 * x.sum(1))


# -- the action-shape check where a theory is first used --------------------------------------


class _Float32Action(LatticeTheory):
    def action(self, x):
        return x.square().sum(1).float()


@pytest.mark.parametrize(
    "theory_cls, error, match",
    [
        (ScalarAction, ValueError, r"ScalarAction.action\(x\) must return one action per "
         r"configuration, shape \(3,\), got \(\): it returned one number for the whole batch"),
        (ColumnAction, ValueError, r"ColumnAction.action\(x\) .* shape \(3,\), got \(3, 1\): "
         r"squeeze the trailing axis"),
        (NumpyAction, TypeError, r"NumpyAction.action\(x\) must return a torch.Tensor .* got "
         r"ndarray"),
        (IntegerAction, TypeError, r"IntegerAction.action\(x\) must return a real "
         r"floating-point tensor .* got torch.int64"),
        (_Float32Action, TypeError, r"_Float32Action.action\(x\) must return the dtype of x "
         r"\(torch.float64\), got torch.float32"),
        (NoAction, NotImplementedError, r"NoAction must define action\(x\)"),
        (BareNotImplemented, NotImplementedError, r"BareNotImplemented must define "
         r"action\(x\)"),
    ],
)
def test_evaluate_action_names_the_theory_and_what_is_wrong(theory_cls, error, match):
    from skphys.lattice._theory import evaluate_action

    with pytest.raises(error, match=match):
        evaluate_action(theory_cls((2, 2)), torch.ones(3, 4, dtype=torch.float64))


@pytest.mark.parametrize("theory", [
    Phi4((2, 2), m2=-1.0, lam=1.0), FreeScalar((2, 2), m2=1.0), XY((2, 2), temperature=1.0),
    ComplexPhi4((2, 2), t=1.0, mu=4.5, lam=1.0), Ising((2, 2), temperature=2.0),
    IsingDual((2, 2), temperature=2.0)], ids=lambda t: type(t).__name__)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_evaluate_action_passes_every_builtin_theory(theory, dtype):
    from skphys.lattice._theory import evaluate_action

    x = theory.initial_state(5, generator=torch.Generator().manual_seed(0), dtype=dtype)
    x.requires_grad_(True)
    action = evaluate_action(theory, x, finite=True)
    assert action.shape == (5,) and action.dtype == dtype
    assert torch.equal(action.detach(), theory.action(x).detach())
    assert action.requires_grad  # the training losses differentiate through it


def test_evaluate_action_finite_names_the_theory_and_the_count():
    from skphys.lattice._theory import evaluate_action

    theory = Phi4((2, 2), m2=1.0, lam=1.0)
    x = torch.tensor([[0.5] * 4, [1e300] * 4, [0.0] * 4], dtype=torch.float64)
    assert torch.isnan(evaluate_action(theory, x)[1])  # samplers count and reject these
    with pytest.raises(ValueError, match=r"the action of Phi4 is not finite \(NaN or inf\) for "
                       r"1 of 3 configurations"):
        evaluate_action(theory, x, finite=True)
