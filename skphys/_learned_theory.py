"""The action a fitted density estimator has learned, as a lattice theory.

:class:`LearnedAction` wraps a fitted :class:`~skphys._generative.GenerativeEstimator`
(``AutoregressiveHamiltonian``, ``FlowSampler``, ``RGFlow``) as a
:class:`~skphys.lattice.LatticeTheory` whose action is :math:`S(x) = -\\ln q_\\theta(x)`, so that
the samplers of :mod:`skphys.lattice.mcmc` and the estimators that train from an action accept
a learned model where they accept a known theory. :class:`ModelAction` is the part shared with
the other theories that evaluate a network (``RGFlow``'s bulk action): one pass gives both the
action and its force.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from ._constraints import check_real
from .lattice._theory import LatticeTheory

__all__ = ["LearnedAction", "ModelAction"]


@contextlib.contextmanager
def frozen_parameters(module: nn.Module) -> Iterator[None]:
    """Evaluate ``module`` without recording its parameters in the autograd graph.

    The graph (if any) then reaches the inputs only: an action evaluated by a sampler builds
    none, and a flow trained against the action does not accumulate gradients in the model
    that defines it. The flags are restored on exit.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


class ModelAction:
    """Mixin of the lattice theories whose action is a network evaluation.

    A subclass defines :meth:`_evaluate` (the action, differentiable in ``x``). The action is
    differentiable where its input requires a gradient (a flow trained against it) and
    builds no graph otherwise (the samplers keep actions across steps). :meth:`grad_action`
    comes from autograd; the action of the same pass is kept with the tensor it belongs to
    (and that tensor's version counter), so that HMC's action at the end point of a
    trajectory, where the last force was taken, costs no second pass.
    """

    _forced: tuple[torch.Tensor, int, torch.Tensor] | None = None

    def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def action(self, x: torch.Tensor) -> torch.Tensor:
        if self._forced is not None:
            forced, version, action = self._forced
            if x is forced and x._version == version:
                return action
        with torch.set_grad_enabled(torch.is_grad_enabled() and x.requires_grad):
            return self._evaluate(x)

    def grad_action(self, x: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            action = self._evaluate(xg)
            (grad,) = torch.autograd.grad(action.sum(), xg)
        self._forced = (x, x._version, action.detach())
        return grad


class LearnedAction(ModelAction, LatticeTheory):
    r"""The action learned by a fitted density estimator, :math:`S(x) = -\ln q_\theta(x)`.

    Obtain it with ``estimator.as_theory()``. Its Boltzmann weight :math:`e^{-S}` is the
    model density itself, normalized: :math:`\ln Z = 0` exactly, which an estimate of
    :math:`\ln Z` (e.g. a :class:`~skphys.FlowSampler` trained on this theory) can be checked
    against. The learned energy is :math:`H = T S = -T \ln q_\theta` at the ``temperature``
    :math:`T` (:meth:`energy`), which is what the estimators that report thermodynamics read;
    the samplers use the action alone.

    * ``field_type`` and ``n_components`` are those of the model: ``dof_`` of an
      :class:`~skphys.AutoregressiveHamiltonian`; for a flow, those of its theory, else a real
      field.
    * The action is differentiable in ``x`` where the model is continuous (real and complex
      fields, angles): the force of :func:`~skphys.lattice.hmc` comes from autograd, and a
      :class:`~skphys.FlowSampler` trains against it by reverse KL. Spins take
      :func:`~skphys.lattice.metropolis`. :func:`~skphys.lattice.wolff` does not apply: its
      cluster rule holds for the nearest-neighbour couplings of ``Ising`` and ``XY`` only.
    * The action is not local: every site interacts with every other through the network.
      :meth:`local_action` is therefore the whole action on every site, and
      :meth:`update_sets` makes :func:`~skphys.lattice.metropolis` move one site at a time
      (its per-site acceptance is then exact), at the cost of a full network pass per site
      and sweep.
    * Symmetries: only those the model holds exactly, ``"z2"`` for the flip-symmetrized
      autoregressive mixture (``z2_mixture_``) of spins or real fields; nothing else is
      claimed, not even the lattice symmetries, which a network need not have learned.

    It is saved and loaded with the estimator that holds it (``skphys.save`` of, e.g., a
    ``FlowSampler(theory=ah.as_theory())`` stores the wrapped estimator's own payload, which
    :func:`skphys.load` rebuilds like any estimator).

    Parameters
    ----------
    estimator : AutoregressiveHamiltonian, FlowSampler or RGFlow
        A fitted density estimator; it is used, not copied (refitting it changes the action).
    temperature : float, default=1.0
        The temperature :math:`T` of :meth:`energy`; ``as_theory()`` passes the estimator's
        (that of its theory, 1 without one).

    Examples
    --------
    >>> import torch
    >>> from skphys import AutoregressiveHamiltonian, MADE
    >>> from skphys.datasets import make_phi4
    >>> X = make_phi4((2, 2), m2=-4.0, lam=8.0, n_samples=200, random_state=0)
    >>> ah = AutoregressiveHamiltonian(lattice_shape=(2, 2), dof="real", network=MADE(),
    ...                                max_iter=20, random_state=0).fit(X)
    >>> theory = ah.as_theory()
    >>> theory.field_type, theory.temperature
    ('real', 1.0)
    >>> x = torch.as_tensor(X[:3])
    >>> bool(torch.allclose(theory.action(x), -torch.as_tensor(ah.score_samples(X[:3])),
    ...                     atol=1e-4))
    True
    """

    def __init__(self, estimator, temperature: float = 1.0):
        lattice_shape = getattr(estimator, "lattice_shape_", None)
        if lattice_shape is None or not hasattr(estimator, "module_"):
            raise TypeError(f"estimator must be a fitted density estimator (with lattice_shape_ "
                            f"and module_), got {type(estimator).__name__}")
        super().__init__(lattice_shape)
        self.estimator = estimator
        self.temperature = check_real("temperature", temperature, low=0.0,
                                      low_inclusive=False)
        theory = getattr(estimator, "theory", None)
        self.field_type = str(getattr(estimator, "dof_", None)
                              or getattr(theory, "field_type", "real"))
        self.n_components = getattr(theory, "n_components", 1)
        symmetric = getattr(estimator, "z2_mixture_", False) and self.field_type != "angle"
        self.internal_symmetries = ("z2",) if symmetric else ()

    @property
    def symmetries(self) -> tuple[str, ...]:
        """``internal_symmetries`` only: a network need not have learned the lattice ones."""
        return tuple(self.internal_symmetries)

    def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
        estimator = self.estimator
        self._field(x)  # the shape check
        module = estimator.module_
        with frozen_parameters(module):
            log_q = module.log_prob(x.to(device=estimator._device, dtype=estimator._dtype))
        return -log_q.to(device=x.device, dtype=x.dtype)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """The learned energy :math:`H = -T \\ln q_\\theta(x) = T S(x)`."""
        return self.temperature * self.action(x)

    def local_action(self, x: torch.Tensor) -> torch.Tensor:
        """The whole action on every site, shape ``(batch, n_sites)``.

        The action of a network is not a sum of local terms; with one site updated at a time
        (:meth:`update_sets`) the change of this quantity at that site is the exact change
        of the action. Each call costs one network pass.
        """
        return self.action(x)[:, None].expand(-1, self.n_sites)

    def update_sets(self, device=None) -> tuple[torch.Tensor, ...]:
        """One site per set, in row-major order: every site interacts with every other."""
        eye = torch.eye(self.n_sites, dtype=torch.bool, device=device)
        return tuple(eye)

    def initial_state(self, n: int, *, generator=None, device=None, dtype=torch.float64):
        """``n`` independent draws of the model: the chains start in (learned) equilibrium."""
        estimator = self.estimator
        if generator is not None and generator.device != torch.device(estimator._device):
            seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
            generator = torch.Generator(device=estimator._device).manual_seed(seed)
        with torch.no_grad():
            x, _ = estimator.module_.sample(n, generator=generator)
        return x.to(device=device, dtype=dtype)
