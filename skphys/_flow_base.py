"""What the flow estimators (FlowSampler, RGFlow) share beyond GenerativeEstimator.

A flow estimator's ``module_`` is a :class:`skphys.flows.LatticeFlow` (``sample``,
``log_prob``, ``sample_path``, ``to_latent``, ``from_latent``) built by its ``flow``
parameter, an architecture object of :mod:`skphys.architectures`. This base trains it by
reverse KL, forward KL or both, monitors the sampler during training, maps configurations to
latents and back (``transform`` / ``inverse_transform``) and measures the sampler at the end
of ``fit``. Lattice resolution, sampling and the exact estimates come from
:class:`~skphys._generative.GenerativeEstimator`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar, cast

import torch

from ._base import COMMON_CONSTRAINTS
from ._constraints import Boolean, Constraint, Integer, IntTuple, Optional, Options, Real
from ._distributed import gather_rows, shard_size
from ._docstrings import (
    FIT_CHECK_ATTRIBUTES,
    THEORY_PARAMETERS,
    TRAINING_PARAMETERS,
    VALIDATION_PARAMETERS,
    fill_doc,
)
from ._generative import THEORY_CONSTRAINT, FitData, GenerativeEstimator
from ._torch_utils import compiled_passes, init_parameters, to_numpy
from .flows import LatticeFlow
from .flows._resize import check_larger
from .lattice._theory import check_shape, evaluate_action
from .lattice.mcmc import independence_metropolis
from .lattice.stats import ess

__all__ = ["FlowEstimator", "FLOW_CONSTRAINTS", "flow_docstring"]

MONITOR_SIZE = 1024
"""Fresh samples of each monitor step."""

FLOW_CONSTRAINTS: dict[str, Constraint] = {
    **COMMON_CONSTRAINTS,
    "theory": THEORY_CONSTRAINT,
    "lattice_shape": Optional(IntTuple(2)),
    "loss": Options("auto", "reverse_kl", "forward_kl", "both"),
    "forward_weight": Real(0.0, low_inclusive=False),
    "path_gradient": Boolean(),
    "monitor_every": Integer(0),
    "validation_fraction": Real(0.0, 1.0, high_inclusive=False),
}
"""Constraints of the parameters every flow estimator has (each adds its ``flow``)."""

FLOW_PARAMETERS = """\
loss : {{"auto", "reverse_kl", "forward_kl", "both"}}, default="auto"
        ``auto``: reverse KL for ``fit()``, forward KL (maximum likelihood) for ``fit(X)``;
        ``both``: reverse KL from ``theory`` plus ``forward_weight`` times the forward KL on
        ``X``.
    forward_weight : float, default=1.0
        Weight of the forward-KL term with ``loss="both"``. The reverse KL is mode-seeking:
        it can leave regions of the target under-sampled and the importance weights there
        heavy-tailed; a forward term on data pulls mass onto them, at some cost in reverse
        KL (the smaller the weight, the smaller that cost).
    path_gradient : bool, default={path_gradient}
        Estimate the reverse-KL gradient along the sample path only (arXiv:2207.08219): no
        score term, whose variance does not vanish at the optimum. Costs an inverse pass per
        step; see :meth:`skphys.flows.LatticeFlow.sample_path`."""
"""Docstring of ``loss``, ``forward_weight`` and ``path_gradient`` (format the default)."""

MONITOR_PARAMETERS = """\
monitor_every : int, default=50
        Steps between measurements of ESS/N and the independence Metropolis-Hastings
        acceptance on 1024 fresh samples (columns ``ess`` and ``acceptance`` of
        ``history_``; with a theory only; 0 disables).
    {validation_parameters}"""
"""Docstring of ``monitor_every`` and ``validation_fraction``."""

FLOW_ATTRIBUTES = """\
lattice_shape_ : tuple of int
        The lattice the flow was built for.
    n_features_in_ : int
        Row length: components per site times sites.
    history_ : pandas.DataFrame
        One row per step: ``step``, ``loss``, ``ess`` and ``acceptance`` (on monitor steps),
        ``val_nll`` (``fit(X)`` with held-out rows), ``wall_time``.
    n_iter_ : int
        Optimizer steps taken (over all warm-started fits).
    {fit_check_attributes}"""
"""Docstring of the fitted attributes every flow estimator has."""

FLOW_WARM_START = """ The theory may change between the fits (a
        coupling scan, :func:`~skphys.coupling_scan`), and so may the lattice, to one of the
        same dimension with no smaller extent (size transfer): the flow is rebuilt for the
        new lattice and takes the fitted parameters, re-expressed by
        :meth:`skphys.flows.LatticeFlow.transfer_from` (convolution kernels and block maps
        copied, since they act alike on any lattice; the Fourier layer's scales interpolated
        in momentum; a continuous flow's kernel over offsets embedded, longer offsets
        starting at zero; the coarser levels a larger lattice adds to a MERA flow as
        initialized). That is ``warm_start`` rather than a method of its own because it is
        what warm starting means for these flows: continue from the fitted parameters on the
        theory and lattice of this ``fit``. Adam, ``history_`` and ``n_iter_`` then start
        over (they count the steps on the new lattice). A smaller lattice, another dimension
        or another architecture is refused (ValueError)."""
"""What the flow estimators add to the shared text of ``warm_start``
(:data:`~skphys._docstrings.TRAINING_PARAMETERS`, whose next parameter is ``device``)."""


def flow_docstring(*, path_gradient: str, max_iter: int, batch_size: int, optimizer: str):
    """Decorator filling a flow estimator's docstring with the shared fragments, given its
    defaults of ``path_gradient``, ``max_iter``, ``batch_size`` and ``optimizer``."""
    training = TRAINING_PARAMETERS.format(
        max_iter=max_iter, batch_size=batch_size, batch_what="Samples (or data rows)",
        optimizer=optimizer)
    head, device, tail = training.partition("\n    device :")
    if "warm_start :" not in head or not device:
        raise RuntimeError("TRAINING_PARAMETERS no longer has warm_start before device")
    return fill_doc(
        theory_parameters=THEORY_PARAMETERS,
        flow_parameters=FLOW_PARAMETERS.format(path_gradient=path_gradient),
        training_parameters=head + FLOW_WARM_START + device + tail,
        monitor_parameters=MONITOR_PARAMETERS.replace(
            "{validation_parameters}", VALIDATION_PARAMETERS),
        flow_attributes=FLOW_ATTRIBUTES.replace("{fit_check_attributes}",
                                                FIT_CHECK_ATTRIBUTES),
    )


class FlowEstimator(GenerativeEstimator):
    """Base of the flow estimators: training, monitoring and the latent map of a lattice flow.

    Subclasses have the parameters of :data:`FLOW_CONSTRAINTS` and ``flow`` (an architecture
    object with ``build(shape, channels, theory)``, ``_check_theory`` and ``_check_lattice``).
    """

    _key_metric = "ess"
    module_: LatticeFlow
    _field_types: ClassVar[tuple[str, ...]] = ("real", "complex")
    _other_estimator: ClassVar[str] = "AutoregressiveHamiltonian"

    # -- set-up -------------------------------------------------------------------------------
    def _check_params(self, params: dict) -> None:
        super()._check_params(params)  # the theory's field type
        self.flow._check_theory(params["theory"], prefix="flow__")

    def _check_lattice(self, shape: tuple[int, ...]) -> None:
        self.flow._check_lattice(shape, prefix="flow__")

    def _build_module(self) -> torch.nn.Module:
        return self.flow.build(tuple(self.lattice_shape_), self._channels(), self.theory)

    # -- size transfer (warm_start onto a larger lattice) ------------------------------------
    def _requested_shape(self) -> tuple[int, ...] | None:
        """The lattice this fit asks for through ``theory`` or ``lattice_shape`` (None when
        only data could tell)."""
        if self.theory is not None:
            return tuple(self.theory.shape)
        return None if self.lattice_shape is None else check_shape(self.lattice_shape)

    def _validate_fit_data(self, X, y, *, reset: bool) -> FitData:
        # a warm start on a new lattice validates the rows afresh (their length changes)
        if not reset and hasattr(self, "lattice_shape_"):
            shape = self._requested_shape()
            if shape is not None and shape != tuple(self.lattice_shape_):
                self._check_transfer(shape)
                reset = True
        return super()._validate_fit_data(X, y, reset=reset)

    def _check_transfer(self, shape: tuple[int, ...]) -> None:
        """ValueError naming ``warm_start`` unless ``shape`` is a lattice the fitted flow may
        move to (whether its layers can is :meth:`_transfer`'s to find)."""
        try:
            check_larger(tuple(self.lattice_shape_), shape)
        except ValueError as error:
            raise ValueError(f"warm_start=True moves the fitted flow as far as its lattice "
                             f"allows: {error}; fit afresh with warm_start=False") from None

    def _check_warm_start(self, data: FitData) -> None:
        if tuple(data.lattice_shape) == tuple(self.lattice_shape_):
            super()._check_warm_start(data)  # (a new lattice was checked with the data)

    def _transfer(self, data: FitData) -> None:
        """Rebuild ``module_`` for the lattice of ``data`` with the fitted parameters
        re-expressed (:meth:`skphys.flows.LatticeFlow.transfer_from`); a new optimizer."""
        source, previous = self.module_, tuple(self.lattice_shape_)
        new = tuple(data.lattice_shape)
        self._initialize(data)
        try:
            with torch.random.fork_rng(devices=[]):
                module = cast(LatticeFlow, self._build_checked())
            init_parameters(module, self._cpu_generator)  # for what the transfer leaves
            module = module.to(device=self._device, dtype=self._dtype)
            module.transfer_from(source)
        except ValueError as error:  # the fitted state stays that of the previous lattice
            self.lattice_shape_ = previous
            self.n_features_in_ = self._channels() * math.prod(previous)
            raise ValueError(f"warm_start=True could not move the fitted flow from the "
                             f"lattice {previous} to {new}: {error}") from None
        self.module_ = module.train()
        self._optimizer = None

    # -- training -----------------------------------------------------------------------------
    def _monitor(self) -> dict[str, float]:
        """ESS/N and independence Metropolis-Hastings acceptance on a fresh monitor batch
        (under torch.distributed: on the union of the ranks' shares of it)."""
        with torch.no_grad():
            x, log_q = self.module_.sample(shard_size(MONITOR_SIZE), generator=self._generator,
                                           device=self._device, dtype=self._dtype)
            log_w = gather_rows(self._log_weights(x, log_q), MONITOR_SIZE)
        chain = independence_metropolis(log_w, generator=self._cpu_generator)
        return {"ess": ess(log_w), "acceptance": chain.acceptance}

    def _loss_fn(self, data: torch.Tensor | None) -> Callable:
        mode = self.loss
        if mode == "auto":
            mode = "reverse_kl" if data is None else "forward_kl"
        if mode in ("reverse_kl", "both") and self.theory is None:
            raise ValueError(f"loss={mode!r} needs a theory")
        if mode in ("forward_kl", "both") and data is None:
            raise ValueError(f"loss={mode!r} needs data: call fit(X)")
        monitor = self.theory is not None and self.monitor_every > 0
        draw = self.module_.sample_path if self.path_gradient else self.module_.sample

        def loss_fn(step):
            loss = 0.0
            if mode in ("reverse_kl", "both"):
                x, log_q = draw(self._local_batch_size, generator=self._generator,
                                device=self._device, dtype=self._dtype)
                loss = loss + (log_q + evaluate_action(self.theory, x)).mean()
            if mode in ("forward_kl", "both"):
                idx = torch.randint(len(data), (self._local_batch_size,),
                                    generator=self._generator, device=self._device)
                forward = -self.module_.log_prob(self._training_rows(data[idx])).mean()
                loss = loss + (self.forward_weight * forward if mode == "both" else forward)
            metrics = {}
            if monitor and (step % self.monitor_every == 0 or step == 1):
                metrics.update(self._monitor())
            return loss, metrics

        return loss_fn

    def _fit_module(self, data: FitData) -> None:
        if tuple(data.lattice_shape) != tuple(self.lattice_shape_):
            self._transfer(data)
        X = None if data.X is None else self._to_tensor(data.X)
        with compiled_passes(cast(LatticeFlow, self.module_).bijector,
                             enabled=self.flow.compile):
            self._train(self._with_validation(self._loss_fn(X), data))

    # -- the latent map -------------------------------------------------------------------------
    def transform(self, X):
        """Latent coordinates ``z = f^{-1}(x)`` (exact inverse of :meth:`inverse_transform`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Configurations.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        x = self._configurations(X)
        with torch.no_grad():
            return self._warn_nan("transform", to_numpy(self.module_.to_latent(x)))

    def inverse_transform(self, Z):
        """Field configurations ``x = f(z)`` from latent rows ``Z``.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_features)
            Latent rows.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        self._check_fitted()
        Z = self._validate_X(Z, reset=False, input_name="Z")
        with torch.no_grad():
            return self._warn_nan("inverse_transform",
                                  to_numpy(self.module_.from_latent(self._to_tensor(Z))))

    @property
    def _n_features_out(self):
        return self.n_features_in_
