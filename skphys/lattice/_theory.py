"""Base class of lattice theories and the nearest-neighbour helpers they share.

A theory knows its lattice ``shape`` and evaluates a batched, differentiable action on
configurations stored as rows of a 2-D tensor ``(batch, n_features)``; sites are in row-major
order of ``shape`` and boundaries are periodic (see ``docs/conventions.rst``). Nothing here
knows about scikit-learn.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Iterator, Mapping
from numbers import Integral
from typing import cast

import numpy as np
import torch

from ._symmetry import lattice_symmetries

__all__ = ["LatticeTheory", "THEORIES", "evaluate_action"]

SIGN_SYMMETRIES = ("z2", "u1", "o2")
"""Internal symmetries that contain the flip of the field: ``phi -> -phi`` (``"z2"``; for a
complex field the phase rotation by pi, ``"u1"``) and, for angles, ``theta -> -theta`` (the
reflection in ``"o2"``)."""


def check_shape(shape) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of ints >= 2, or raise a ValueError naming it."""
    if isinstance(shape, Integral):
        shape = (int(shape),)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of ints, got {shape!r}") from None
    if not shape or not all(isinstance(s, Integral) and not isinstance(s, bool) for s in shape):
        raise TypeError(f"shape must be a non-empty tuple of ints, got {shape!r}")
    if any(s < 2 for s in shape):
        raise ValueError(f"every lattice extent in shape must be >= 2, got {shape!r}")
    return tuple(int(s) for s in shape)


def forward_neighbor_sum(phi: torch.Tensor, ndim: int) -> torch.Tensor:
    """Sum over directions of the forward neighbour, ``sum_mu phi(x + mu)``.

    ``phi`` has shape ``(batch, *shape)`` with ``ndim`` lattice dimensions.
    """
    dims = range(phi.dim() - ndim, phi.dim())
    return cast(torch.Tensor, sum(torch.roll(phi, -1, d) for d in dims))  # ndim >= 1 terms


def all_neighbor_sum(phi: torch.Tensor, ndim: int) -> torch.Tensor:
    """Sum over all ``2 * ndim`` nearest neighbours, ``sum_mu [phi(x+mu) + phi(x-mu)]``."""
    dims = range(phi.dim() - ndim, phi.dim())
    return cast(torch.Tensor, sum(torch.roll(phi, -1, d) + torch.roll(phi, 1, d) for d in dims))


def checkerboard(shape: tuple[int, ...], device=None) -> torch.Tensor:
    """Boolean mask ``(n_sites,)`` of the sites whose coordinates have an odd sum."""
    coords = torch.meshgrid(*(torch.arange(n, device=device) for n in shape), indexing="ij")
    return (cast(torch.Tensor, sum(coords)) % 2 == 1).flatten()


def momenta_cos_sum(shape: tuple[int, ...], *, half: bool = False) -> torch.Tensor:
    """``sum_mu 2 cos(k_mu)`` on the momentum grid of ``shape`` (float64).

    With ``half=True`` the last axis is the non-negative half used by ``torch.fft.rfftn``.
    """
    axes = []
    for i, n in enumerate(shape):
        k = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
        if half and i == len(shape) - 1:
            k = k[: n // 2 + 1]
        axes.append(2 * torch.cos(k))
    grids = torch.meshgrid(*axes, indexing="ij")
    return cast(torch.Tensor, sum(grids))  # at least one axis


def qualified_name(cls: type) -> str:
    """``"module.qualname"`` of a class, e.g. ``"mylib.theories.Phi6"``: the key of the
    registries that :func:`skphys.load` looks classes up in."""
    return f"{cls.__module__}.{cls.__qualname__}"


class TheoryRegistry(Mapping):
    """Read-only mapping of every :class:`LatticeTheory` subclass defined in this process.

    Keys are ``"module.qualname"`` (:func:`qualified_name`); a bare class name (what files saved
    by older versions hold) is also accepted when exactly one registered class has it. Classes
    register themselves when they are defined (``LatticeTheory.__init_subclass__``); a class
    redefined under the same key (a re-run notebook cell, a reloaded module) replaces the old
    one.
    """

    def __init__(self) -> None:
        self._classes: dict[str, type] = {}

    def _register(self, cls: type) -> None:
        self._classes[qualified_name(cls)] = cls

    def find(self, name: str) -> list[type]:
        """The classes ``name`` may mean: the one with that key, else all with that bare name."""
        if name in self._classes:
            return [self._classes[name]]
        return [cls for cls in self._classes.values() if cls.__name__ == name]

    def __getitem__(self, name: str) -> type:
        matches = self.find(name)
        if len(matches) != 1:
            raise KeyError(name)
        return matches[0]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._classes))

    def __len__(self) -> int:
        return len(self._classes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({sorted(self._classes)})"


THEORIES = TheoryRegistry()
"""Every lattice theory class, by ``"module.qualname"`` (filled by ``__init_subclass__``)."""


def _frozen(value):
    """A hashable stand-in for a parameter value, equal for equal values.

    Lists become tuples, dicts and sets frozensets, arrays and tensors ``(kind, dtype, shape,
    values)``; other values must be hashable themselves.
    """
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return frozenset((k, _frozen(v)) for k, v in value.items())
    if isinstance(value, (set, frozenset)):
        return frozenset(_frozen(v) for v in value)
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, tuple(value.ravel().tolist()))
    if isinstance(value, torch.Tensor):
        flat = value.detach().cpu().flatten().tolist()
        return ("tensor", str(value.dtype), tuple(value.shape), tuple(flat))
    return value


class LatticeTheory:
    r"""A statistical theory on a periodic hypercubic lattice.

    Subclasses define :meth:`action` (the negative log of the unnormalized Boltzmann weight)
    and may override :meth:`grad_action` with an analytic force and :meth:`local_action` (the
    part of the action that depends on one site, used by local Metropolis updates).

    A theory is an immutable value object, like a scikit-learn kernel: its ``__init__`` names
    each of its parameters (no ``*args`` or ``**kwargs``) and stores each one under its own
    name (``self.g6 = g6``, possibly after validating it). :meth:`get_params` reads them back
    by those names, and the rest builds on it: ``repr``, ``==`` and ``hash`` compare the
    parameters, :func:`sklearn.base.clone` of an estimator holding the theory rebuilds it as
    ``type(theory)(**theory.get_params())``, and :func:`skphys.load` rebuilds it from the
    parameters saved in the file.

    Every subclass is registered in :data:`skphys.lattice.THEORIES` under
    ``"module.qualname"`` when it is defined. Loading a saved estimator looks its theory up
    there and never imports anything, so the module that defines the theory must be imported
    before :func:`skphys.load` (a theory defined inside a function or in a script run as
    ``__main__`` loads only where that code has run again).

    Internal symmetries are declared by a class attribute, ``internal_symmetries = ("z2",)``
    for an action invariant under :math:`\phi \to -\phi`, ``("u1",)`` for a complex field
    invariant under global phase rotations, ``("o2",)`` for the XY model and ``()`` (the
    default) when nothing is known. Lattice symmetries (translations, reflections and, on
    equal extents, rotations) are assumed for every theory. See :attr:`symmetries` and
    :attr:`has_sign_symmetry`.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents, each >= 2; sites are stored in row-major order of ``shape``.

    Attributes
    ----------
    shape : tuple of int
        Lattice extents; sites are stored in row-major order of ``shape``.
    field_type : {"real", "complex", "spin", "angle"}
        What a site holds (a class attribute).
    n_components : int
        Real numbers per site (2 for a complex field: real parts of all sites, then imaginary;
        a class attribute).
    internal_symmetries : tuple of str
        Exact internal symmetries of the action, declared by the class: ``"z2"``
        (:math:`\phi \to -\phi`), ``"u1"`` (global phase), ``"o2"`` (global rotations
        and reflections of angles).

    Examples
    --------
    A theory needs only its action; the force then comes from autograd:

    >>> import torch
    >>> from skphys.lattice import LatticeTheory
    >>> class Gaussian(LatticeTheory):
    ...     internal_symmetries = ("z2",)
    ...
    ...     def __init__(self, shape, m2):
    ...         super().__init__(shape)
    ...         self.m2 = m2
    ...
    ...     def action(self, x):
    ...         return 0.5 * self.m2 * x.square().sum(1)
    >>> theory = Gaussian((2, 3), m2=1.0)
    >>> theory
    Gaussian(shape=(2, 3), m2=1.0)
    >>> x = torch.ones(4, theory.n_features, dtype=torch.float64)
    >>> theory.n_sites, theory.action(x).tolist(), bool(torch.equal(theory.grad_action(x), x))
    (6, [3.0, 3.0, 3.0, 3.0], True)
    >>> theory.get_params(), theory.has_sign_symmetry
    ({'shape': (2, 3), 'm2': 1.0}, True)
    """

    field_type = "real"
    n_components = 1
    internal_symmetries: tuple[str, ...] = ()

    def __init__(self, shape):
        self.shape = check_shape(shape)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        symmetries = cls.internal_symmetries
        if isinstance(symmetries, str) or not all(isinstance(s, str) for s in symmetries):
            raise TypeError(
                f"{cls.__qualname__}.internal_symmetries must be a tuple of str such as "
                f"('z2',), got {symmetries!r}"
            )
        cls._get_param_names()  # a clear error now rather than at the first clone or save
        THEORIES._register(cls)

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """Names of the parameters of ``cls.__init__``, in order (sans ``self``)."""
        names = []
        for param in inspect.signature(cls.__init__).parameters.values():
            if param.name == "self":
                continue
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                what = {
                    param.VAR_POSITIONAL: f"*{param.name}",
                    param.VAR_KEYWORD: f"**{param.name}",
                    param.POSITIONAL_ONLY: f"the positional-only parameter {param.name!r}",
                }[param.kind]
                raise TypeError(
                    f"{cls.__qualname__}.__init__ takes {what}: a LatticeTheory's __init__ "
                    f"must name each parameter and accept it by keyword (no *args or "
                    f"**kwargs), because get_params, clone, ==, hash and skphys.load rebuild "
                    f"the theory as {cls.__name__}(**theory.get_params())"
                )
            names.append(param.name)
        return names

    # -- geometry ---------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        """Number of lattice dimensions."""
        return len(self.shape)

    @property
    def n_sites(self) -> int:
        """Number of lattice sites."""
        return math.prod(self.shape)

    @property
    def n_features(self) -> int:
        """Length of one configuration row: ``n_components * n_sites``."""
        return self.n_components * self.n_sites

    @property
    def symmetries(self) -> tuple[str, ...]:
        """Exact symmetries of the action: ``internal_symmetries``, then the lattice ones.

        The lattice symmetries are ``"translation"``, ``"reflection"`` and, when all extents
        are equal, ``"rotation"``.
        """
        return tuple(self.internal_symmetries) + lattice_symmetries(self.shape)

    @property
    def has_sign_symmetry(self) -> bool:
        r"""Whether the action is invariant under the flip of the field, :math:`x \to -x`
        (for angles :math:`\theta \to -\theta` modulo :math:`2\pi`).

        True when ``internal_symmetries`` holds ``"z2"``, ``"u1"`` (a phase rotation by
        :math:`\pi` flips both components of a complex field) or ``"o2"`` (whose reflection
        flips every angle). The estimators build the flip into their models only when it holds:
        Z2-equivariant flows, the Z2 mixture of the autoregressive models.

        Examples
        --------
        >>> from skphys.lattice import XY, ComplexPhi4, Phi4
        >>> Phi4((4, 4), m2=-4.0, lam=8.0).has_sign_symmetry
        True
        >>> ComplexPhi4((4, 4), t=1.0, mu=4.5, lam=0.0).has_sign_symmetry
        True
        >>> XY((4, 4), temperature=1.0).has_sign_symmetry
        True
        """
        return any(s in SIGN_SYMMETRIES for s in self.internal_symmetries)

    def _field(self, x: torch.Tensor) -> torch.Tensor:
        """View rows ``(batch, n_features)`` as ``(batch, n_components, *shape)``."""
        if x.dim() != 2 or x.shape[1] != self.n_features:
            raise ValueError(
                f"x must have shape (n_samples, {self.n_features}) for {self!r}, "
                f"got {tuple(x.shape)}"
            )
        return x.reshape(x.shape[0], self.n_components, *self.shape)

    # -- physics ----------------------------------------------------------------------------
    def action(self, x: torch.Tensor) -> torch.Tensor:
        """Action ``S(x)`` of each row of ``x``, shape ``(batch,)``; subclasses define it."""
        raise NotImplementedError(
            f"{type(self).__name__} must define action(x): the action of each row of x, "
            f"a tensor of shape (batch,)"
        )

    def grad_action(self, x: torch.Tensor) -> torch.Tensor:
        """Gradient of the action with respect to each row (the HMC force with a minus sign)."""
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.action(xg).sum(), xg)
        return g

    def local_action(self, x: torch.Tensor) -> torch.Tensor:
        """Part of the action that depends on each site with its neighbours held fixed.

        Shape ``(batch, n_sites)``. On a bipartite lattice, changing the sites of one
        checkerboard colour changes the action by the sum of the changes of this quantity over
        those sites, which is what local Metropolis updates use.
        """
        raise NotImplementedError(f"{type(self).__name__} has no local action")

    def update_sets(self, device=None) -> tuple[torch.Tensor, ...]:
        """The sets of sites that local Metropolis updates together, in turn.

        Boolean masks of shape ``(n_sites,)``; the sites of one set must not interact, so
        that the action changes by the sum of the per-site changes of :meth:`local_action`.
        Default: the two checkerboard colours (nearest-neighbour actions on a lattice with
        even extents). A theory with longer-range terms returns smaller sets (one site
        each for a non-local action, such as a learned one).
        """
        odd = checkerboard(self.shape, device)
        return (~odd, odd)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Energy of each configuration; the action for field theories (``temperature = 1``)."""
        return self.action(x)

    def initial_state(self, n: int, *, generator=None, device=None, dtype=torch.float64):
        """``n`` random configurations to start Markov chains from (a hot start)."""
        return 0.5 * torch.randn(
            n, self.n_features, generator=generator, device=device, dtype=dtype
        )

    def canonicalize(self, x: torch.Tensor) -> torch.Tensor:
        """Map configurations to the canonical domain (angles into [0, 2 pi))."""
        return x

    # -- bookkeeping --------------------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict:
        """Parameters that rebuild the theory: ``type(theory)(**theory.get_params())``.

        The names are those of the parameters of ``type(self).__init__``, each read from the
        attribute of the same name.

        Parameters
        ----------
        deep : bool, default=True
            Ignored; accepted for scikit-learn's ``get_params(deep=...)`` protocol.

        Returns
        -------
        dict
            Parameter name to value, in the order of the ``__init__`` signature.

        Examples
        --------
        >>> from skphys.lattice import Phi4
        >>> Phi4((8, 8), m2=-4.0, lam=8.0).get_params()
        {'shape': (8, 8), 'm2': -4.0, 'lam': 8.0}
        """
        params = {}
        for name in self._get_param_names():
            try:
                params[name] = getattr(self, name)
            except AttributeError as error:
                raise AttributeError(
                    f"{type(self).__name__} has no attribute {name!r} although its __init__ "
                    f"takes a parameter {name!r}: a LatticeTheory must store every __init__ "
                    f"parameter under its own name (self.{name} = ...), which get_params, "
                    f"repr, ==, hash, clone and skphys.load rely on"
                ) from error
        return params

    def __sklearn_clone__(self) -> LatticeTheory:
        """An equal, independent theory: estimators holding a theory can be cloned."""
        return type(self)(**copy.deepcopy(self.get_params()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        if type(self) is not type(other):
            return NotImplemented if not isinstance(other, LatticeTheory) else False
        return _frozen(self.get_params()) == _frozen(other.get_params())

    def __hash__(self) -> int:
        return hash((qualified_name(type(self)), _frozen(self.get_params())))


def evaluate_action(theory: LatticeTheory, x: torch.Tensor, *,
                    finite: bool = False) -> torch.Tensor:
    """``theory.action(x)``, checked to be what every caller assumes: a real floating tensor of
    shape ``(batch,)`` with the dtype of ``x``.

    A theory is a user's class, so its action may return a scalar, a ``(batch, 1)`` column, a
    NumPy array or an integer tensor; each would broadcast silently into a wrong loss or
    acceptance test. This check is where a theory is first used (the start of a sampler, each
    training loss), once per call. Gradients flow through the returned tensor.

    Parameters
    ----------
    theory : LatticeTheory
        The theory whose action is evaluated.
    x : torch.Tensor
        Configurations ``(batch, n_features)``.
    finite : bool, default=False
        Also require every action to be finite (a ValueError naming the theory and how many
        configurations gave a non-finite action). Samplers leave it off: they reject
        non-finite proposals and count them.

    Returns
    -------
    torch.Tensor
        The action of each configuration, shape ``(batch,)``.

    Raises
    ------
    NotImplementedError
        The theory does not define ``action``.
    TypeError
        The action is not a real floating-point ``torch.Tensor`` of the dtype of ``x``.
    ValueError
        Its shape is not ``(batch,)``; with ``finite=True``, a value is NaN or infinite.

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice import LatticeTheory, Phi4
    >>> from skphys.lattice._theory import evaluate_action
    >>> x = torch.zeros(3, 4, dtype=torch.float64)
    >>> evaluate_action(Phi4((2, 2), m2=1.0, lam=1.0), x).shape
    torch.Size([3])
    >>> class Column(LatticeTheory):
    ...     def action(self, x):
    ...         return x.square().sum(1, keepdim=True)
    >>> evaluate_action(Column((2, 2)), x)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Column.action(x) must return one action per configuration, shape (3,), got ...
    """
    name = type(theory).__name__
    try:
        action = theory.action(x)
    except NotImplementedError as error:
        if str(error):
            raise
        raise NotImplementedError(
            f"{name} must define action(x): the action of each row of x, a tensor of shape "
            f"(batch,)"
        ) from error
    if not isinstance(action, torch.Tensor):
        raise TypeError(
            f"{name}.action(x) must return a torch.Tensor of shape ({x.shape[0]},), got "
            f"{type(action).__name__}"
        )
    if not action.dtype.is_floating_point:
        raise TypeError(
            f"{name}.action(x) must return a real floating-point tensor (the dtype of x, "
            f"{x.dtype}), got {action.dtype}"
        )
    if action.shape != x.shape[:1]:
        hint = {
            0: ": it returned one number for the whole batch; sum over sites only "
            "(e.g. .sum(1), not .sum())",
            2: ": squeeze the trailing axis (e.g. .sum(1) instead of .sum(1, keepdim=True))",
        }.get(action.dim(), "")
        raise ValueError(
            f"{name}.action(x) must return one action per configuration, shape "
            f"({x.shape[0]},), got {tuple(action.shape)}{hint}"
        )
    if x.dtype.is_floating_point and action.dtype != x.dtype:
        raise TypeError(
            f"{name}.action(x) must return the dtype of x ({x.dtype}), got {action.dtype}: "
            f"compute it in the dtype of x"
        )
    if finite:
        bad = int((~torch.isfinite(action.detach())).sum())
        if bad:
            raise ValueError(
                f"the action of {name} is not finite (NaN or inf) for {bad} of "
                f"{action.shape[0]} configurations"
            )
    return action
