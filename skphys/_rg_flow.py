"""RGFlow: an invertible renormalization-group flow with a holographic (bulk) encoding."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import cast

import numpy as np
import pandas as pd
import torch

from ._constraints import Instance, check_int
from ._flow_base import FLOW_CONSTRAINTS, FlowEstimator, flow_docstring
from ._generative import FitData
from ._learned_theory import ModelAction
from ._optimizer import Adam
from ._torch_utils import to_numpy
from .architectures import MERAFlow
from .exceptions import UnreliableEstimateWarning
from .flows import MERA, AffineMap, LogitMap
from .flows._mera import mera_levels
from .lattice import LatticeTheory
from .lattice.mcmc import hmc

__all__ = ["RGFlow", "BulkAction"]

_COMPONENTS = ("re", "im")  # the two real components of a complex field
_AXES = {1: ("x",), 2: ("r", "c"), 3: ("t", "r", "c")}


_N_STARTS = 256  # model samples drawn per inpaint call without a theory: starts and spread


def _inner_log_prob(module, y: torch.Tensor) -> torch.Tensor:
    """``ln q_y(y)``: the log density of the flow's field before its output map (rows)."""
    mera = module.bijector
    if mera.output_map is None:
        return module.log_prob(y)
    if module.z2_mixture:  # through the data scale, where the mixture is defined
        x, log_det = mera.output_map(module._fields(y))
        return module.log_prob(x.reshape(y.shape)) + log_det
    z, log_det = mera.inverse_inner(module._fields(y))
    return module.prior_log_prob(z.reshape(y.shape)) + log_det


def _rows_of_chains(fixed: torch.Tensor, free: torch.Tensor, samples: torch.Tensor,
                    n_chains: int, n: int) -> torch.Tensor:
    """``(n_rows, n, n_features)``: the rows of ``fixed`` (``n_chains`` consecutive copies of
    each row, one per chain) with their ``free`` coordinates from the chains' ``samples``
    (``(n_rows * n_chains, per_chain, n_free)``); sample ``t * n_chains + c`` of a row is its
    chain ``c`` at step ``t``."""
    per_chain = samples.shape[1]
    full = fixed[:, None, :].expand(-1, per_chain, -1).clone()
    full[:, :, free] = samples
    full = full.view(-1, n_chains, per_chain, fixed.shape[1]).transpose(1, 2)
    return full.reshape(len(full), n_chains * per_chain, -1)[:, :n]


class _ModelConditional(ModelAction, LatticeTheory):
    """Minus the log density of a fitted flow, ``-ln q_y(y)``, as a theory of the coordinates
    ``free`` of each row, the others held at ``fixed``: the flow's own conditional law of
    those coordinates given the others (one row per chain).

    ``y`` is the field before the flow's output map (:class:`~skphys.flows.LogitMap` of
    bounded data), where the density lives on the whole real line; without an output map
    ``y = x``. ``q_y(y) = q(x(y)) |dx/dy|``.
    """

    def __init__(self, module, fixed: torch.Tensor, free: torch.Tensor):
        super().__init__((int(free.sum()),))
        self.module = module
        self.fixed = fixed
        self.free = free

    def _evaluate(self, y):
        full = self.fixed.to(y.dtype).clone()
        full[:, self.free] = y
        return -_inner_log_prob(self.module, full)


class BulkAction(ModelAction, LatticeTheory):
    """The effective action of the bulk of a fitted RGFlow, as a lattice theory.

    ``S_eff(z) = S(G(z)) - ln|det dG/dz|``: the target pulled back to the latent (bulk)
    variables, so that the samplers of :mod:`skphys.lattice.mcmc` run in the bulk and ``G``
    maps their samples to samples of the target. Rows are latent configurations restricted
    to the coordinates ``free`` (all by default); the other coordinates are held at
    ``fixed`` (one row per chain). Obtain it with :meth:`RGFlow.latent_theory`.

    The force comes from a flow pass that also gives the action, which HMC's action at the
    end point of a trajectory reuses (:class:`~skphys._learned_theory.ModelAction`, as for
    :class:`~skphys.LearnedAction`).

    Parameters
    ----------
    estimator : RGFlow
        A fitted RGFlow with a theory.
    fixed : Tensor of shape (n_chains, n_features), optional
        Latent rows whose coordinates outside ``free`` are held fixed.
    free : Tensor of bool of shape (n_features,), optional
        The latent coordinates that are variables of this theory (all when None).

    Examples
    --------
    >>> import torch
    >>> from skphys import RGFlow
    >>> from skphys.lattice import FreeScalar
    >>> rg = RGFlow(FreeScalar((4, 4), m2=1.0), max_iter=5, random_state=0).fit()
    >>> bulk = rg.latent_theory()
    >>> z = torch.zeros(2, bulk.n_features)
    >>> bulk.action(z).shape, bulk.grad_action(z).shape
    (torch.Size([2]), torch.Size([2, 16]))
    """

    def __init__(self, estimator: RGFlow, fixed: torch.Tensor | None = None,
                 free: torch.Tensor | None = None):
        n_free = estimator.n_features_in_ if free is None else int(free.sum())
        super().__init__((n_free,))
        self.estimator = estimator
        self.fixed = fixed
        self.free = free

    def _latent(self, z: torch.Tensor) -> torch.Tensor:
        if self.free is None:
            return z
        assert self.fixed is not None  # free comes with fixed (see RGFlow.latent_theory)
        full = self.fixed.to(z.dtype).clone()
        full[:, self.free] = z
        return full

    def _evaluate(self, z):
        return self.estimator._effective_action(self._latent(z))


@flow_docstring(path_gradient="True", max_iter=4000, batch_size=64,
                optimizer="Adam(1e-2, clip_grad_norm=100.0)")
class RGFlow(FlowEstimator):
    """Invertible RG flow (NeuralRG) whose latents form a holographic bulk.

    A MERA-like hierarchy of block bijectors ``x = G(z)`` (:class:`~skphys.MERAFlow`): at RG
    level ``l`` a disentangler acts on the ``b x b`` blocks of the active sublattice (stride
    ``b**l``) shifted by ``b / 2``, then a decimator on the aligned blocks; one site per block
    moves on to level ``l + 1``, the others become the bulk (latent) variables of level ``l``.
    Trained by reverse KL from a theory (``fit()``), by maximum likelihood on configurations
    (``fit(X)``) or both, so that the bulk variables are as independent as possible. Lattice
    extents must be powers of two. Real and complex fields; spins and angles need
    :class:`~skphys.AutoregressiveHamiltonian`.

    The defaults are one recipe for ``fit()`` from a theory: the :class:`~skphys.MERAFlow`
    defaults (4 disentangler-decimator pairs at the finest level, 1 above;
    :class:`~skphys.CouplingBlock` blocks of 4 couplings with ``(16, 16)`` hidden units; a
    Fourier layer; a Z2 mixture when the theory declares the sign symmetry ``phi -> -phi``),
    path gradients, 4000 Adam steps of 64 samples from a rate of ``1e-2`` annealed by a cosine
    to 0, gradients clipped at norm 100. They are sized for the Ising dual on ``8 x 8`` at and
    above T_c within minutes of one CPU core (figures on :doc:`/results`); larger lattices need
    more steps (``max_iter``). ``fit(X)`` on data alone has no Z2 mixture by default: state the
    symmetry of the data, if they have it, with ``flow=MERAFlow(z2_equivariant=True)`` or
    ``MERAFlow(z2_mixture=True)``.

    Images (bounded, quantized data, Hu et al. arXiv:2010.00029) take the image recipe
    ``flow=MERAFlow(data_range=(0, n_levels), depth=(6, 2, 2), translation_invariant=False,
    block=CouplingBlock(hidden_channels=(32, 32)), fourier_layer=False, dequantize=True)``
    (``depth``: one count per level, finest first, here for the three levels of an ``8 x 8``
    image), behind a :class:`~skphys.preprocessing.Dequantizer`: ``dequantize`` draws fresh
    noise in the bins of the pixels at every training step; ``data_range`` ends ``G`` with a
    logit map onto the interval of the dequantized pixels (its log-determinant is in the
    density, so :meth:`score_samples` is the log density on the pixel scale and
    :func:`~skphys.preprocessing.bits_per_dim` of it bounds the code length of the
    integers); ``translation_invariant=False`` lets every block network learn where its
    block sits, since images are not homogeneous; no Fourier layer, since images are not
    periodic and :meth:`inpaint` needs a local ``G``. ``prior="laplace"`` gives sparse
    latents at about the same likelihood; ``depth=1`` smaller receptive fields
    (:meth:`receptive_field`) at a cost in likelihood and inpainting. Data outside
    ``data_range`` are refused.

    With a Z2 mixture (``MERAFlow(z2_mixture=True)``, the default for a sign-symmetric theory)
    the density is the sign mixture ``q(x) = [q_G(x) + q_G(-x)] / 2``. The sign is a discrete
    latent that :meth:`transform` does not return: :meth:`transform`, :meth:`inverse_transform`,
    :meth:`effective_action` and the bulk samplers use the bijection ``G`` alone, so the round
    trip stays exact, while :meth:`score_samples`, the importance weights and the
    Metropolis-Hastings sampler use the mixture (:meth:`bulk_correlation` first aligns each
    configuration with its more likely branch; bulk-HMC samples get the random sign).

    Parameters
    ----------
    {theory_parameters}
    flow : MERAFlow, default=MERAFlow()
        The hierarchy: block size, levels, depth per level, the block bijector
        (:class:`~skphys.CouplingBlock` or :class:`~skphys.ODEBlock`), prior, Z2 equivariance
        or mixture (by default a mixture when the theory declares the sign symmetry), Fourier
        layer (on by default: set ``flow__fourier_layer=False`` for :meth:`inpaint`). Its
        parameters are nested estimator parameters, e.g.
        ``set_params(flow__depth=(2, 1), flow__block__n_layers=2)``.
    {flow_parameters}
    {training_parameters}
    {monitor_parameters}

    Attributes
    ----------
    module_ : skphys.flows.LatticeFlow
        The trained flow; ``module_.bijector`` is the :class:`~skphys.flows.MERA`.
    levels_ : ndarray of int of shape (n_features,)
        RG level of each latent coordinate (0 = finest).
    {flow_attributes}

    See Also
    --------
    FlowSampler : a flow of coupling layers on the whole lattice.

    Examples
    --------
    >>> from skphys import RGFlow
    >>> from skphys.lattice import FreeScalar
    >>> rg = RGFlow(FreeScalar((4, 4), m2=1.0), max_iter=50, random_state=0).fit()
    >>> rg.levels_.reshape(4, 4)[:2].tolist()
    [[1, 0, 1, 0], [0, 0, 0, 0]]
    >>> rg.get_feature_names_out()[:2].tolist()
    ['z_l1_r0_c0', 'z_l0_r0_c1']
    >>> rg.ess_ > 0.5
    True
    """

    _parameter_constraints = {
        **FLOW_CONSTRAINTS,
        "flow": Instance(MERAFlow, description="a skphys.MERAFlow"),
    }

    def __init__(
        self,
        theory: LatticeTheory | None = None,
        *,
        lattice_shape=None,
        flow=MERAFlow(),
        loss: str = "auto",
        forward_weight: float = 1.0,
        path_gradient: bool = True,
        max_iter: int = 4000,
        batch_size: int = 64,
        optimizer=Adam(1e-2, clip_grad_norm=100.0),
        monitor_every: int = 50,
        validation_fraction: float = 0.1,
        warm_start: bool = False,
        device: str = "auto",
        dtype: str = "float32",
        random_state=None,
        verbose: int = 0,
    ):
        self.theory = theory
        self.lattice_shape = lattice_shape
        self.flow = flow
        self.loss = loss
        self.forward_weight = forward_weight
        self.path_gradient = path_gradient
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.monitor_every = monitor_every
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def _training_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """With ``flow__dequantize``: the rows of a training batch with fresh uniform noise in
        their unit bins (the held-out rows of ``validation_fraction`` keep theirs)."""
        if not self.flow.dequantize:
            return rows
        low, high = (float(v) for v in self.flow.data_range)
        bins = torch.floor(rows - low).clamp(0, round(high - low) - 1)  # high: the last bin
        return low + bins + torch.rand(rows.shape, generator=self._generator,
                                       device=rows.device, dtype=rows.dtype)

    def _finish_fit(self, data: FitData) -> None:
        super()._finish_fit(data)
        mera = self._mera()
        site_levels = mera_levels(self.lattice_shape_, mera.block_size, mera.n_levels).numpy()
        self.levels_ = np.tile(site_levels.ravel(), self._channels())

    def _check_values(self, X: np.ndarray, *, fitting: bool) -> None:
        """With ``flow__data_range``: the data of ``fit`` must lie in the interval, the rows
        given later in the support of the density (the image of the output map)."""
        if fitting:
            data_range = self.flow.data_range
            if data_range is None or not X.size:
                return
            low, high = float(data_range[0]), float(data_range[1])
            inside = X.min() >= low and X.max() <= high
            where = f"the data interval flow__data_range=({low:g}, {high:g})"
        else:
            output_map = cast("LogitMap | AffineMap | None", self._mera().output_map)
            if output_map is None or not X.size:
                return
            (low, high), (lo, hi) = output_map.support, (output_map.low, output_map.high)
            inside = X.min() > low and X.max() < high
            where = (f"({low:.4g}, {high:.4g}), the support of the density of "
                     f"flow__data_range=({lo:g}, {hi:g})")
        if not inside:
            raise ValueError(
                f"X has values in [{X.min():.4g}, {X.max():.4g}], outside {where} "
                f"(dequantized integers of n levels lie in [0, n): see "
                f"skphys.preprocessing.Dequantizer)"
            )

    def _sample_methods(self) -> tuple[str, ...]:
        return (*super()._sample_methods(), "bulk_hmc")

    # -- bulk ----------------------------------------------------------------------------------
    def get_feature_names_out(self, input_features=None):
        """Level-labelled latent names: ``z_l{level}_r{row}_c{col}`` in 2-D (``z_l{level}_x{i}``
        in 1-D, ``z_l{level}_t{t}_r{row}_c{col}`` in 3-D), prefixed by ``re_`` / ``im_`` for
        two-component fields.

        Parameters
        ----------
        input_features : Ignored

        Returns
        -------
        ndarray of str of shape (n_features,)
        """
        self._check_fitted()
        shape = self.lattice_shape_
        coords = np.unravel_index(np.arange(math.prod(shape)), shape)
        axes = _AXES.get(len(shape)) or tuple(f"a{k}" for k in range(len(shape)))
        site_names = ["_".join(f"{axis}{c}" for axis, c in zip(axes, site))
                      for site in zip(*coords)]
        prefixes = [""] if self._channels() == 1 else [f"{p}_" for p in _COMPONENTS]
        names = [
            f"{prefix}z_l{level}_{site}"
            for prefix, block in zip(prefixes, np.split(self.levels_, len(prefixes)))
            for level, site in zip(block, site_names)
        ]
        return np.asarray(names, dtype=object)

    def _encode(self, X) -> np.ndarray:
        """The latents of ``X`` as an array (:meth:`transform` without ``set_output``)."""
        x = self._configurations(X)
        with torch.no_grad():
            return to_numpy(self.module_.to_latent(x))

    def _mera(self) -> MERA:
        """The bijector of ``module_``, the MERA that ``flow`` (a MERAFlow) builds."""
        return cast(MERA, self.module_.bijector)

    def _effective_action(self, z: torch.Tensor) -> torch.Tensor:
        theory = self.theory
        assert theory is not None  # the callers require a theory
        x, log_det = self.module_.bijector(self.module_._fields(z))
        return theory.action(x.reshape(z.shape[0], -1)) - log_det

    def effective_action(self, Z):
        """Bulk effective action ``S_eff(z) = S(G(z)) - ln|det dG/dz|`` of each latent row.

        ``exp(-S_eff)`` is the target density pulled back to the bulk; for a perfect flow
        without ``z2_mixture``, ``S_eff(z) = -ln prior(z) - ln Z``. With ``z2_mixture`` the
        target is still pulled back through the bijection ``G`` alone (the sign of the
        mixture plays no part), so ``G`` of bulk samples of ``exp(-S_eff)`` is still
        distributed as the target.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        self._check_fitted()
        self._require_theory("effective_action")
        Z = self._validate_X(Z, reset=False)
        with torch.no_grad():
            return to_numpy(self._effective_action(self._to_tensor(Z))).astype(np.float64)

    def latent_theory(self, fixed=None, free=None) -> BulkAction:
        """The bulk effective action ``S_eff(z) = S(G(z)) - ln|det dG/dz|`` as a theory.

        A :class:`~skphys.lattice.LatticeTheory` on the latent rows, so that the samplers of
        :mod:`skphys.lattice.mcmc` (HMC, Metropolis) run in the bulk: ``G`` maps their
        samples (:meth:`inverse_transform`) to samples of the target. It is what
        ``sample(method="bulk_hmc")`` and :meth:`inpaint` sample.

        Parameters
        ----------
        fixed : array-like or Tensor of shape (n_chains, n_features), optional
            Latent rows whose coordinates outside ``free`` are held fixed (one per chain).
        free : array-like of bool of shape (n_features,), optional
            The latent coordinates that are the theory's variables; all when None (then
            ``fixed`` is not used).

        Returns
        -------
        BulkAction
            A lattice theory of ``free.sum()`` (or ``n_features``) sites.

        Examples
        --------
        >>> import torch
        >>> from skphys import RGFlow
        >>> from skphys.lattice import FreeScalar
        >>> from skphys.lattice.mcmc import hmc
        >>> rg = RGFlow(FreeScalar((4, 4), m2=1.0), max_iter=5, random_state=0).fit()
        >>> bulk = rg.latent_theory()
        >>> chains = hmc(bulk, 5, n_chains=2, n_burnin=5, dtype=torch.float32,
        ...              generator=torch.Generator().manual_seed(0))
        >>> rg.inverse_transform(chains.samples.reshape(-1, 16).numpy()).shape
        (10, 16)
        """
        self._check_fitted()
        self._require_theory("latent_theory")
        if free is not None:
            free = (free if isinstance(free, torch.Tensor)
                    else torch.as_tensor(np.asarray(free))).to(self._device)
            if free.shape != (self.n_features_in_,) or free.dtype != torch.bool:
                raise ValueError(f"free must be a boolean array of shape "
                                 f"({self.n_features_in_},), got {free.dtype} "
                                 f"{tuple(free.shape)}")
            if fixed is None:
                raise ValueError("free needs fixed: the values of the other coordinates")
            fixed = self._to_tensor(fixed) if not isinstance(fixed, torch.Tensor) else fixed
        return BulkAction(self, fixed=fixed, free=free)

    def _target_samples(self, n_samples: int, X) -> np.ndarray:
        if X is not None:
            return self._validate_X(X, reset=False)
        self._require_theory("bulk_correlation without X")
        return super().sample(n_samples, method="mh")

    def bulk_correlation(self, n_samples: int = 4096, X=None) -> pd.DataFrame:
        """Correlations of the bulk variables of the target, against level and distance.

        The target configurations (an independence Metropolis-Hastings chain of
        ``n_samples`` states, or the rows of ``X``) are encoded, ``z = G^{-1}(x)``, and the
        Pearson correlation of every pair of latent coordinates is measured. A perfect RG
        flow leaves none; the holographic distance of Hu et al. is ``-ln|correlation|``.
        With ``z2_mixture`` each configuration is first given the sign of the branch of the
        mixture that more likely drew it (``argmax_s q_G(s x)``): the bulk code of ``G``
        alone would place the configurations of the other branch far out in the bulk and
        show their sign as a strong correlation of everything with everything.

        Parameters
        ----------
        n_samples : int, default=4096
            Length of the Metropolis-Hastings chain (needs the theory).
        X : array-like of shape (n, n_features), optional
            Configurations to encode instead.

        Returns
        -------
        pandas.DataFrame
            One row per pair ``i < j`` of latent coordinates: ``level_i``, ``level_j``,
            ``distance`` (periodic Euclidean distance of their sites) and ``correlation``
            (NaN for a coordinate that never changes, with an
            :class:`~skphys.UnreliableEstimateWarning`).
        """
        self._check_fitted()
        n = check_int("n_samples", n_samples, 2)
        X = self._target_samples(n, X)
        if self.module_.z2_mixture:
            with torch.no_grad():
                X = to_numpy(self.module_.align_sign(self._to_tensor(X)))
        Z = self._encode(X)
        fixed = np.ptp(Z, axis=0) == 0
        constant = int(fixed.sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.corrcoef(Z, rowvar=False)
        corr[fixed, :] = corr[:, fixed] = np.nan  # undefined (not rounding noise of the mean)
        if constant:
            warnings.warn(
                f"bulk_correlation: {constant} of {Z.shape[1]} latent coordinates never change "
                f"across the {len(Z)} configurations (a chain that never moved, or repeated "
                f"rows), so their correlations are NaN. Pass varied configurations as X, or "
                f"train the flow longer so that its Metropolis-Hastings chain moves.",
                UnreliableEstimateWarning, stacklevel=2)
        shape = np.asarray(self.lattice_shape_)
        sites = np.tile(np.stack(np.unravel_index(np.arange(shape.prod()), shape), 1),
                        (self._channels(), 1))
        i, j = np.triu_indices(len(self.levels_), k=1)
        delta = np.abs(sites[i] - sites[j])
        delta = np.minimum(delta, shape - delta)
        return pd.DataFrame({
            "level_i": self.levels_[i],
            "level_j": self.levels_[j],
            "distance": np.sqrt((delta**2).sum(1)),
            "correlation": corr[i, j],
        })

    def mix(self, X_a, X_b, level: int):
        """Configurations with the bulk of ``X_a`` at levels ``>= level`` and of ``X_b`` below.

        The coarse (long-distance) structure comes from ``X_a``, the fine details from
        ``X_b``.

        Parameters
        ----------
        X_a, X_b : array-like of shape (n_samples, n_features)
        level : int
            First level taken from ``X_a`` (0 gives ``X_a`` back).

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        self._check_fitted()
        level = check_int("level", level, 0)
        Z_a, Z_b = self._encode(X_a), self._encode(X_b)
        if Z_a.shape != Z_b.shape:
            raise ValueError(
                f"X_a and X_b must have the same shape, got {Z_a.shape} and {Z_b.shape}"
            )
        return self.inverse_transform(np.where(self.levels_ >= level, Z_a, Z_b))

    def causal_cone(self, mask) -> np.ndarray:
        """Latent coordinates whose change can move one of the sites in ``mask``.

        Parameters
        ----------
        mask : array-like of bool of shape (n_features,)
            Sites (per component) of interest.

        Returns
        -------
        ndarray of bool of shape (n_features,)
        """
        return self._influence("mask", mask, MERA.causal_cone)

    def receptive_field(self, latents) -> np.ndarray:
        """Sites that a change of one of the latent coordinates ``latents`` can move.

        The dual of :meth:`causal_cone`: site ``s`` is in the receptive field of latent ``i``
        exactly when ``i`` is in the causal cone of ``s``. The field grows with the level, and
        with ``depth`` (every disentangler-decimator pair widens it by a block); with the
        Fourier layer every latent moves every site.

        Parameters
        ----------
        latents : array-like of bool of shape (n_features,)
            Latent coordinates (per component) of interest.

        Returns
        -------
        ndarray of bool of shape (n_features,)
            The sites (of every component) they can move.

        Examples
        --------
        >>> import numpy as np
        >>> from skphys import MERAFlow, RGFlow
        >>> X = np.random.default_rng(0).normal(size=(64, 64))
        >>> rg = RGFlow(lattice_shape=(8, 8), flow=MERAFlow(depth=1, fourier_layer=False),
        ...             max_iter=2, random_state=0).fit(X)
        >>> names = rg.get_feature_names_out()
        >>> [int(rg.receptive_field(names == name).sum())
        ...  for name in ("z_l0_r0_c1", "z_l1_r0_c2", "z_l2_r0_c0")]
        [16, 64, 64]
        """
        return self._influence("latents", latents, MERA.receptive_field)

    def _influence(self, name: str, mask, walk: Callable) -> np.ndarray:
        """``walk(mera, sites)`` (:meth:`MERA.causal_cone` or :meth:`MERA.receptive_field`) of
        the lattice sites that ``mask`` selects in any component, repeated for every
        component."""
        self._check_fitted()
        mask = np.asarray(mask)
        if mask.shape != (self.n_features_in_,) or mask.dtype != bool:
            raise ValueError(
                f"{name} must be a boolean array of shape ({self.n_features_in_},), got "
                f"{mask.dtype} {mask.shape}"
            )
        sites = torch.as_tensor(mask.reshape(self._channels(), -1).any(0))
        reached = walk(self._mera(), sites.view(self.lattice_shape_))
        return np.tile(reached.flatten().numpy(), self._channels())

    def inpaint(self, X, mask, n_samples: int = 100, *, n_burnin: int = 100,
                n_chains: int = 4):
        r"""Resample the masked sites of each row of ``X`` by HMC in their causal cone.

        With a theory, the latents of ``X`` outside the causal cone of the masked sites are
        held fixed; the latents in the cone are sampled by HMC on the bulk effective action
        (exact for their conditional law given the others), mapped back by ``G``, and the
        masked sites of the result replace those of ``X``: the unmasked sites are returned
        unchanged. Moving the cone latents also moves unmasked sites near the mask, so the
        masked values are a sample of the model's conditional given the *encoded*
        environment, not exactly of ``p(x_masked | x_unmasked)``. The chains start at the
        latents of ``X``.

        Without a theory (``fit(X)`` on data alone, e.g. images) the target is the model
        itself, and the masked sites are sampled from its exact conditional
        ``q(x_masked | x_unmasked)``: HMC on ``-ln q`` as a function of the masked sites (before
        the output map of ``flow__data_range``, where the density lives on the real line), the
        others held at their values. HMC moves locally, and the conditional of nearly
        two-valued pixels has separated modes, which a chain hardly leaves: each chain starts
        at the masked values of one of 256 fresh model samples, drawn with probability
        proportional to the model's density of the row completed by them, so that the chains
        of a row start in the modes of the conditional. The draw also favours fillings that
        are common among the samples, so the weights of the modes come right only as far as
        the chains move between them; the trajectories are long for that, :math:`\pi/2` times
        the standard deviation of the masked coordinates over those samples (averaged over
        the coordinates): a quarter period of a Gaussian of that width, which carries such a
        coordinate to an independent value in one trajectory, on any data scale (with a
        theory the trajectory length is 1, in units of the latents). The latents that move
        are those of the causal cone of the mask (:meth:`causal_cone`); the mean over the
        samples is the model's least-squares fill-in.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            The rows to repair (with a theory their chains start at the latents of these
            rows; without one their masked values are not read). With a flow fitted to
            dequantized integers (``flow__dequantize=True``), give the integers at the
            centres of their bins, ``X + 0.5``.
        mask : array-like of bool of shape (n_features,)
            Sites to resample.
        n_samples : int, default=100
            Samples per row, from its ``n_chains`` chains.
        n_burnin : int, default=100
            HMC trajectories of each chain discarded (and used to tune the step size).
        n_chains : int, default=4
            HMC chains per row, run as one batch; each keeps ``ceil(n_samples / n_chains)``
            trajectories after its burn-in. Sample ``t * n_chains + c`` of a row is its chain
            ``c`` after ``n_burnin + t + 1`` trajectories.

        Returns
        -------
        ndarray of shape (n_rows, n_samples, n_features)
        """
        self._check_fitted()
        cone = self.causal_cone(mask)  # validates the mask
        if not np.asarray(mask).any():
            raise ValueError("mask selects no site: it must be True at the sites to resample")
        n = check_int("n_samples", n_samples, 1)
        n_burnin = check_int("n_burnin", n_burnin, 0)
        n_chains = check_int("n_chains", n_chains, 1)
        if self.theory is None:
            return self._inpaint_from_model(X, mask, n, n_burnin, n_chains)
        if self._mera().boundary is not None:  # the fitted flow, not the parameter
            raise ValueError(
                "inpaint needs a local G, but with flow__fourier_layer=True every latent moves "
                "every site (the causal cone of any mask is the whole lattice); refit with "
                "flow__fourier_layer=False"
            )
        X = self._validate_X(X, reset=False)
        self._check_rows("n_samples", n, len(X))
        Z = self._to_tensor(self._encode(X))
        free = torch.as_tensor(cone, device=Z.device)
        fixed = Z.repeat_interleave(n_chains, 0)
        per_chain = -(-n // n_chains)
        chains = hmc(self.latent_theory(fixed=fixed, free=free), per_chain,
                     n_chains=len(fixed), n_burnin=n_burnin, init=fixed[:, free],
                     generator=self._generator, dtype=self._dtype)
        full = _rows_of_chains(fixed, free, chains.samples, n_chains, n)
        with torch.no_grad():
            x = self.module_.from_latent(full.reshape(len(X) * n, -1)).view(len(X), n, -1)
        return np.where(np.asarray(mask), to_numpy(x), X[:, None, :])

    def _inpaint_from_model(self, X, mask, n_samples: int, n_burnin: int,
                            n_chains: int) -> np.ndarray:
        """:meth:`inpaint` without a theory: HMC on the model's conditional of the masked
        sites, ``n_chains`` chains per row."""
        free_sites = np.asarray(mask)
        x = self._configurations(X)
        self._check_rows("n_samples", n_samples, len(x))
        output_map = self._mera().output_map
        with torch.no_grad():
            y = x if output_map is None else output_map.inverse(
                self.module_._fields(x))[0].reshape(x.shape)
        free = torch.as_tensor(free_sites, device=y.device)
        candidates = self._candidates(free)
        fixed = y.repeat_interleave(n_chains, 0)
        # a quarter period of a Gaussian as wide as the masked coordinates of the model's
        # samples: the trajectory that takes such a coordinate to an independent value
        spread = float(candidates.std(0).mean())
        chains = hmc(_ModelConditional(self.module_, fixed, free), -(-n_samples // n_chains),
                     n_chains=len(fixed), n_burnin=n_burnin,
                     trajectory_length=math.pi / 2 * spread,
                     init=self._starts(y, free, candidates, n_chains),
                     generator=self._generator, dtype=self._dtype)
        full = _rows_of_chains(fixed, free, chains.samples, n_chains, n_samples)
        full = full.reshape(len(y) * n_samples, -1)
        with torch.no_grad():
            if output_map is not None:
                full = output_map(self.module_._fields(full))[0].reshape(full.shape)
        X = to_numpy(x)
        return np.where(free_sites, to_numpy(full).reshape(len(X), n_samples, -1),
                        X[:, None, :])

    def _candidates(self, free: torch.Tensor) -> torch.Tensor:
        """``(_N_STARTS, n_free)``: the coordinates ``free`` of fresh model samples, before the
        output map (where :meth:`inpaint`'s chains run)."""
        module = self.module_
        with torch.no_grad():
            z = module.sample_prior(_N_STARTS, generator=self._generator, device=free.device,
                                    dtype=self._dtype)
            y = self._mera().forward_inner(module._fields(z))[0].reshape(_N_STARTS, -1)
        return y[:, free]

    def _starts(self, y: torch.Tensor, free: torch.Tensor, candidates: torch.Tensor,
                n_chains: int) -> torch.Tensor:
        """Starting points of the inpainting chains, ``n_chains`` per row of ``y`` (row-major):
        ``candidates`` (masked values of model samples), each drawn with probability
        proportional to the model's density of the row completed by it: fillings in the modes
        of the conditional (and common among the model's samples, which favours the modes of
        typical images). HMC moves locally and pixels are nearly two-valued: a chain hardly
        leaves the mode it starts in."""
        starts = []
        with torch.no_grad():
            for row in y:
                trial = row.expand(len(candidates), -1).clone()
                trial[:, free] = candidates
                weights = torch.softmax(_inner_log_prob(self.module_, trial).double(), 0)
                pick = torch.multinomial(weights.cpu(), n_chains, replacement=True,
                                         generator=self._cpu_generator)
                starts.append(candidates[pick.to(y.device)])
        return torch.cat(starts)

    def sample(self, n_samples: int = 1, method: str = "model", *, n_burnin: int = 100,
               n_chains: int | None = None):
        """Draw configurations.

        Parameters
        ----------
        n_samples : int, default=1
            Number of configurations.
        method : {"model", "mh", "importance", "bulk_hmc"}, default="model"
            ``model``: independent draws of the trained flow (not exact for the theory);
            ``mh``: an independence Metropolis-Hastings chain of ``n_samples`` states through
            flow draws after ``n_burnin`` proposals, exact for the theory; ``importance``:
            flow draws with their log importance weights ``-S(x) - log q(x)``;
            ``bulk_hmc``: HMC on the bulk effective action (:meth:`latent_theory`) from
            prior samples, ``n_chains`` chains run as one batch, mapped back by ``G``; local
            moves in the bulk are global moves of the field. Row ``t * n_chains + c`` is
            chain ``c`` after ``n_burnin + t + 1`` trajectories. With a Z2 mixture each
            sample also gets the mixture's random sign (exact, since the action is even), as
            the chains stay on the branch of ``G`` they start in.
        n_burnin : int, default=100
            Discarded proposals (``mh``) or HMC trajectories per chain (``bulk_hmc``).
        n_chains : int, optional
            ``bulk_hmc`` only: number of chains, at most ``n_samples``; by default 16 (fewer
            for small ``n_samples``). More chains fill a GPU better; each still needs its
            ``n_burnin``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        log_w : ndarray of shape (n_samples,)
            Only for ``method="importance"``.

        Notes
        -----
        Each force of bulk HMC is a pass of the flow, forward and backward, which costs many
        times a force of HMC on the field; how that trades against the fewer force
        evaluations the bulk can need per independent sample is measured on
        :doc:`/results`. Bulk HMC is a Markov chain on the exact target, so unlike the
        importance weights and ``mh`` it does not rely on the flow covering all of the
        target: where the flow under-samples a region, prefer it (or a chain on the field).
        """
        if method != "bulk_hmc":
            if n_chains is not None:
                raise ValueError(f"n_chains applies only to method='bulk_hmc', got "
                                 f"method={method!r}")
            return super().sample(n_samples, method, n_burnin=n_burnin)
        self._check_fitted()
        self._require_theory("sample(method='bulk_hmc')")
        n = check_int("n_samples", n_samples, 1)
        self._check_rows("n_samples", n)
        n_burnin = check_int("n_burnin", n_burnin, 0)
        if n_chains is None:
            n_chains = min(16, n)
        else:
            n_chains = check_int("n_chains", n_chains, 1)
            if n_chains > n:
                raise ValueError(f"n_chains must be at most n_samples={n}, got {n_chains}")
        init = self.module_.sample_prior(n_chains, generator=self._generator,
                                         device=self._device, dtype=self._dtype)
        chains = hmc(self.latent_theory(), -(-n // n_chains), n_chains=n_chains,
                     n_burnin=n_burnin, init=init, generator=self._generator, dtype=self._dtype)
        z = chains.samples.transpose(0, 1).reshape(-1, self.n_features_in_)[:n]
        with torch.no_grad():
            x = self.module_.from_latent(z)
        if self.module_.z2_mixture:  # the target is symmetric: the sign is a fair coin of its own
            x = self.module_.random_sign(x, self._generator)
        return to_numpy(x)

