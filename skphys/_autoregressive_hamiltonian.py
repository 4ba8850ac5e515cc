"""AutoregressiveHamiltonian: learned Hamiltonians and variational free energies of spin models."""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, DensityMixin, TransformerMixin
from sklearn.utils.validation import check_non_negative

from ._base import TorchEstimator, _check_bool, _check_int
from ._reweighting import ReweightingMixin, _warn_if_heavy_tailed
from ._torch_utils import draw_in_chunks, to_numpy
from .autoregressive import MADE, AutoregressiveModel, Bernoulli, BetaMixture, PixelCNN
from .lattice import LatticeTheory
from .lattice._theory import check_real, check_shape
from .lattice.stats import ess, reweighted_thermodynamics

__all__ = ["AutoregressiveHamiltonian"]

_DOFS = ("spin", "angle")
_NETWORKS = ("made", "pixelcnn")
_OPS = ("flip", "rotate")
_METHODS = ("model", "mh")
_TWO_PI = 2 * math.pi


class AutoregressiveHamiltonian(ReweightingMixin, ClassNamePrefixFeaturesOutMixin,
                                TransformerMixin, DensityMixin, TorchEstimator):
    r"""Autoregressive model of spin or angle configurations: learned Hamiltonians and VAN.

    The model :math:`q_\theta(s) = \prod_i q(s_i \mid s_{<i})` (row-major site order) has an
    exact, normalized log-probability and exact independent samples. It is trained either

    * on data, ``fit(X)``: maximum likelihood, with a validation split whose best parameters
      are kept; the learned Hamiltonian is :math:`H_\theta(s) = -T \ln q_\theta(s)`;
    * from a known energy, ``fit()`` with ``theory``: the variational autoregressive network
      (VAN, Wu, Wang and Zhang, PRL 122, 080602 (2019)) minimizes
      :math:`\beta F_q = E_q[\beta E(s) + \ln q(s)] \ge \beta F` with the REINFORCE gradient
      :math:`E_q[(f - \bar f)\nabla\ln q]`, :math:`f = \beta_t E + \ln q`, the batch mean
      :math:`\bar f` as baseline, and an annealed inverse temperature
      :math:`\beta_t = \beta (1 - a^t)`, ``a = beta_anneal``.

    Parameters
    ----------
    lattice_shape : tuple of int, optional
        Lattice extents; default that of ``theory``, or a 1-D chain of ``n_features`` sites
        when fitting data without a theory.
    dof : {"spin", "angle"}, optional
        Spins ``+1.0/-1.0`` (Bernoulli conditionals) or angles in ``[0, 2 pi)`` (mixtures of
        Beta laws on ``theta / 2 pi``). Default: the theory's field type, else ``"spin"``.
    network : {"pixelcnn", "made"}, default="pixelcnn"
        Masked convolutions (1-D and 2-D lattices) or a masked dense network (any lattice).
    temperature : float, optional
        Temperature of the learned Hamiltonian :math:`H_\theta = -T\ln q_\theta`; default that
        of ``theory``, else 1.
    theory : Ising or XY, optional
        Target Boltzmann distribution ``exp(-theory.action)`` for ``fit()`` (VAN),
        :meth:`free_energy` and ``sample(method="mh")``.
    z2_symmetric : bool, optional
        Symmetrize the model over the flip ``s -> -s`` (``theta -> -theta`` for angles).
        Default: on for VAN training (``fit()``) with a theory whose action has that symmetry
        (Ising, XY), where it stops the model from collapsing onto one of the symmetric
        phases; off for ``fit(X)``, whose data decide.
    rotation_symmetric : bool, optional
        Angles only: make the model exactly invariant under global rotations
        ``theta -> theta + c`` (the U(1) symmetry of the XY model) by drawing the first angle
        uniformly and modelling the others relative to it (see
        :class:`~skphys.autoregressive.AutoregressiveModel`). Default: on for VAN training with
        an angle theory (``XY``), off for ``fit(X)``. Conditional summaries returned by
        :meth:`transform` are then those of the relative angles.
    n_layers : int, default=3
        Layers of the network.
    hidden_channels : int, optional
        Channels of the PixelCNN (default 32), or hidden units per site of the MADE
        (default 4, that is ``4 n_sites`` per layer).
    half_kernel_size : int, optional
        Half-width of the PixelCNN's first (type-A) kernel; default ``max(shape) - 1``, which
        sees every earlier site.
    residual : bool, default=True
        Residual connections between hidden layers.
    n_components : int, default=4
        Beta components per angle conditional.
    max_iter : int, default=4000
        Optimizer steps per ``fit``.
    batch_size : int, default=256
        Samples (VAN) or data rows per step.
    learning_rate : float, default=1e-3
        Adam learning rate.
    lr_schedule : {None, "constant", "cosine"}, default="cosine"
    beta_anneal : float, default=0.99
        Annealing factor ``a`` of :math:`\beta_t = \beta(1 - a^t)` (0: no annealing).
        The default reaches 95 % of :math:`\beta` in 300 steps. For the XY model at low
        temperature anneal slower, ``0.998`` with at least 2000 steps: the model then learns
        the vortex sector while it is still common and keeps it; with the fast default,
        reverse KL, which hardly samples what the model misses, leaves vortex pairs
        underweighted by :math:`e^5` and more, and the importance-weighted energy at 8 x 8,
        T = 0.7 comes out 2e-3 per site low (``benchmarks/autoregressive_xy.py``).
    clip_grad_norm : float or None, default=1.0
        Gradient-norm clipping.
    validation_fraction : float, default=0.1
        Share of the rows of ``X`` held out to select the best parameters (0: none).
    tol : float or None, default=None
        Early stopping: stop after ``n_iter_no_change`` steps without improving the monitored
        value by ``tol`` (the validation NLL per site for ``fit(X)`` with a validation split,
        else the loss).
    n_iter_no_change : int, default=100
    warm_start : bool, default=False
        Continue training the fitted model (annealing continues from the step reached; Adam
        keeps its state, the learning rate and its schedule start over).
    device : str, default="auto"
    dtype : {"float32", "float64"}, default="float32"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    module_ : AutoregressiveModel
    lattice_shape_ : tuple of int
    dof_ : str
    z2_symmetric_ : bool
    rotation_symmetric_ : bool
    n_features_in_ : int
    history_ : pandas.DataFrame
        ``step``, ``loss`` (``beta_t F_q`` for VAN, NLL per site for data) and ``val_nll`` or
        ``beta`` and ``free_energy`` (per site, at ``beta_t``), ``wall_time``.
    n_iter_ : int
    validation_score_ : float
        Best validation log-likelihood per site (``fit(X)`` with a validation split).

    Examples
    --------
    >>> from skphys._autoregressive_hamiltonian import AutoregressiveHamiltonian
    >>> from skphys.lattice import Ising
    >>> ah = AutoregressiveHamiltonian(theory=Ising((3, 3), temperature=3.0), max_iter=50,
    ...                                batch_size=64, hidden_channels=8, random_state=0).fit()
    >>> ah.sample(4).shape
    (4, 9)
    >>> f = ah.free_energy(2000)
    >>> f["free_energy"] >= f["free_energy_nis"] - 3 * f["free_energy_nis_err"]
    True
    """

    _key_metric = "free_energy"

    def __init__(
        self,
        lattice_shape=None,
        dof: str | None = None,
        network: str = "pixelcnn",
        temperature: float | None = None,
        theory: LatticeTheory | None = None,
        z2_symmetric: bool | None = None,
        rotation_symmetric: bool | None = None,
        *,
        n_layers: int = 3,
        hidden_channels: int | None = None,
        half_kernel_size: int | None = None,
        residual: bool = True,
        n_components: int = 4,
        max_iter: int = 4000,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        lr_schedule: str | None = "cosine",
        beta_anneal: float = 0.99,
        clip_grad_norm: float | None = 1.0,
        validation_fraction: float = 0.1,
        tol: float | None = None,
        n_iter_no_change: int = 100,
        warm_start: bool = False,
        device: str = "auto",
        dtype: str = "float32",
        random_state=None,
        verbose: int = 0,
    ):
        self.lattice_shape = lattice_shape
        self.dof = dof
        self.network = network
        self.temperature = temperature
        self.theory = theory
        self.z2_symmetric = z2_symmetric
        self.rotation_symmetric = rotation_symmetric
        self.n_layers = n_layers
        self.hidden_channels = hidden_channels
        self.half_kernel_size = half_kernel_size
        self.residual = residual
        self.n_components = n_components
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.beta_anneal = beta_anneal
        self.clip_grad_norm = clip_grad_norm
        self.validation_fraction = validation_fraction
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # -- set-up -------------------------------------------------------------------------------
    def _validate_params(self) -> None:
        if self.network not in _NETWORKS:
            raise ValueError(f"network must be one of {_NETWORKS}, got {self.network!r}")
        if self.dof is not None and self.dof not in _DOFS:
            raise ValueError(f"dof must be None or one of {_DOFS}, got {self.dof!r}")
        if self.theory is not None:
            if not isinstance(self.theory, LatticeTheory) or self.theory.field_type not in _DOFS:
                raise TypeError(
                    "theory must be a skphys.lattice theory of spins or angles (Ising, XY) or "
                    f"None, got {type(self.theory).__name__}"
                )
            if self.dof is not None and self.dof != self.theory.field_type:
                raise ValueError(
                    f"dof={self.dof!r} does not match the theory's field type "
                    f"{self.theory.field_type!r}"
                )
        if self.temperature is not None:
            check_real("temperature", self.temperature, low=0.0, low_inclusive=False)
        for name in ("n_layers", "n_components"):
            _check_int(name, getattr(self, name), 1)
        _check_int("hidden_channels", self.hidden_channels, 1, allow_none=True)
        _check_int("half_kernel_size", self.half_kernel_size, 0, allow_none=True)
        for name in ("z2_symmetric", "rotation_symmetric"):
            if getattr(self, name) is not None:
                _check_bool(name, getattr(self, name))
        if not 0 <= self.beta_anneal < 1:
            raise ValueError(f"beta_anneal must be in [0, 1), got {self.beta_anneal!r}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}"
            )

    def _resolve_shape(self, n_features: int | None) -> tuple[int, ...]:
        """The lattice shape from ``lattice_shape``, ``theory`` or the data, checked.

        ``n_features`` is None only for ``fit()``, which has checked that there is a theory.
        """
        shape = None if self.lattice_shape is None else check_shape(self.lattice_shape)
        if self.theory is not None:
            if shape is not None and shape != self.theory.shape:
                raise ValueError(f"lattice_shape={shape} does not match the theory's shape "
                                 f"{self.theory.shape}")
            shape = self.theory.shape
        if shape is None:
            if n_features < 2:
                raise ValueError(f"a lattice needs at least 2 sites, got n_features = {n_features}")
            shape = (n_features,)
        if n_features is not None and n_features != math.prod(shape):
            raise ValueError(f"X has {n_features} sites per row but lattice_shape {shape} "
                             f"has {math.prod(shape)}")
        if self.network == "pixelcnn" and len(shape) > 2:
            raise ValueError(f"network='pixelcnn' needs a 1-D or 2-D lattice, got {shape}; "
                             "use network='made'")
        return shape

    def _build_module(self) -> AutoregressiveModel:
        n_sites = math.prod(self.lattice_shape_)
        conditional = Bernoulli() if self.dof_ == "spin" else BetaMixture(self.n_components)
        sizes = (conditional.n_inputs, conditional.n_params)
        if self.network == "made":
            net = MADE(n_sites, *sizes, hidden_channels=self.hidden_channels or 4,
                       n_layers=self.n_layers, residual=self.residual)
        else:
            net = PixelCNN(self.lattice_shape_, *sizes, hidden_channels=self.hidden_channels or 32,
                           n_layers=self.n_layers, half_kernel_size=self.half_kernel_size,
                           residual=self.residual)
        return AutoregressiveModel(n_sites, net, conditional, z2_symmetric=self.z2_symmetric_,
                                   rotation_symmetric=self.rotation_symmetric_)

    @property
    def _temperature(self) -> float:
        if self.temperature is not None:
            return float(self.temperature)
        return float(getattr(self.theory, "temperature", 1.0))

    # -- input checks -------------------------------------------------------------------------
    def _check_values(self, X: np.ndarray, dof: str) -> None:
        if dof == "spin" and not np.all(np.abs(X) == 1):
            raise ValueError("X must hold spins +1.0 / -1.0 for dof='spin'")
        if dof == "angle":
            check_non_negative(X, f"{type(self).__name__} (angles in [0, 2 pi))")
            if not np.all(X < _TWO_PI):
                raise ValueError("X must hold angles in [0, 2 pi) for dof='angle'")

    def _configurations(self, X) -> torch.Tensor:
        """Validate ``X`` against the fitted lattice and return it as a tensor."""
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        self._check_values(X, self.dof_)
        return self._to_tensor(X)

    # -- training -----------------------------------------------------------------------------
    def _van_loss(self):
        theory, n_sites = self.theory, math.prod(self.lattice_shape_)

        def loss_fn(step):
            frac = 1 - self.beta_anneal**step
            x = self.module_.sample(self.batch_size, generator=self._generator)
            log_q = self.module_.log_prob(x)
            with torch.no_grad():
                f = log_q + frac * theory.action(x)
            surrogate = ((f - f.mean()) * log_q).mean()
            # value: beta_t F_q at the current temperature; gradient: REINFORCE with baseline
            loss = surrogate + (f.mean() - surrogate).detach()
            free = float(f.mean()) * theory.temperature / (frac * n_sites)
            return loss, {"beta": frac / theory.temperature, "free_energy": free}

        return loss_fn

    def _nll_loss(self, train: torch.Tensor, val: torch.Tensor | None, best: dict):
        n_sites = train.shape[1]

        def loss_fn(step):
            idx = torch.randint(len(train), (self.batch_size,), generator=self._generator,
                                device=self._device)
            loss = -self.module_.log_prob(train[idx]).mean() / n_sites
            if val is None:
                return loss, {}
            with torch.no_grad():
                val_nll = float(-self.module_.log_prob(val).mean()) / n_sites
            if val_nll < best["nll"]:
                best["nll"] = val_nll
                best["state"] = {k: v.clone() for k, v in self.module_.state_dict().items()}
            return loss, {"val_nll": val_nll}

        return loss_fn

    def _split(self, data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        n_val = int(self.validation_fraction * len(data))
        if n_val == 0 or n_val == len(data):
            return data, None
        perm = torch.randperm(len(data), generator=self._generator, device=self._device)
        return data[perm[n_val:]], data[perm[:n_val]]

    def fit(self, X=None, y=None):
        """Train by maximum likelihood on ``X``, or by VAN on ``theory`` when ``X`` is None.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_sites), optional
            Configurations: spins +1/-1 or angles in [0, 2 pi), sites in row-major order.
        y : Ignored

        Returns
        -------
        self
        """
        self._validate_params()
        dof = self.dof or getattr(self.theory, "field_type", "spin")
        if self.rotation_symmetric and dof != "angle":
            raise ValueError(f"rotation_symmetric=True needs dof='angle', got dof={dof!r}")
        warm = self.warm_start and hasattr(self, "module_")
        if X is not None:
            X = self._validate_X(X, reset=not warm)
            self._check_values(X, dof)
            shape = self._resolve_shape(X.shape[1])
        else:
            if self.theory is None:
                raise ValueError("fit() without data needs a theory; pass X or theory=")
            shape = self._resolve_shape(None)
            if not warm:
                self.n_features_in_ = math.prod(shape)
        if warm and (tuple(shape) != tuple(self.lattice_shape_) or dof != self.dof_):
            raise ValueError("warm_start needs the same lattice and dof as the previous fit")
        self._setup(reset=not warm)
        if not warm:
            self.lattice_shape_, self.dof_ = tuple(shape), dof
            self.z2_symmetric_ = (X is None if self.z2_symmetric is None
                                  else bool(self.z2_symmetric))
            self.rotation_symmetric_ = (X is None and dof == "angle"
                                        if self.rotation_symmetric is None
                                        else bool(self.rotation_symmetric))
            self._init_module()
        self.module_.train()
        if X is None:
            self._train(self._van_loss())
        else:
            train, val = self._split(self._to_tensor(X))
            best = {"nll": math.inf, "state": None}
            self._train(self._nll_loss(train, val, best),
                        monitor="loss" if val is None else "val_nll")
            if best["state"] is not None:
                self.module_.load_state_dict(best["state"])
                self.validation_score_ = -best["nll"]
        self.module_.eval()
        return self

    # -- densities ----------------------------------------------------------------------------
    def score_samples(self, X):
        """Exact ``log q(x)`` of each row of ``X``, shape (n_samples,)."""
        x = self._configurations(X)
        with torch.no_grad():
            return to_numpy(self.module_.log_prob(x)).astype(np.float64)

    def score(self, X, y=None):
        """Mean log-likelihood of ``X``."""
        return float(np.mean(self.score_samples(X)))

    def hamiltonian(self, X):
        r"""Learned energy :math:`H_\theta(x) = -T\ln q_\theta(x)` of each row of ``X``.

        It equals the true energy up to the constant :math:`-T\ln Z` when :math:`q_\theta` is
        exact (:math:`p = e^{-H/T}/Z`): only differences of ``hamiltonian`` are physical.
        """
        return -self._temperature * self.score_samples(X)

    def transform(self, X):
        """Conditional summaries as features, in site order.

        Spins: ``p(s_i = +1 | s_<i)``, shape (n_samples, n_sites). Angles: the conditional
        mean angles, then the concentrations ``E[alpha + beta]``, shape (n_samples,
        2 n_sites).
        """
        x = self._configurations(X)
        with torch.no_grad():
            return to_numpy(self.module_.conditionals(x))

    @property
    def _n_features_out(self):
        return self.n_features_in_ * (1 if self.dof_ == "spin" else 2)

    # -- sampling -----------------------------------------------------------------------------
    def _draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` fresh samples and their ``log q``, in bounded-memory batches."""
        def draw(m):
            x = self.module_.sample(m, generator=self._generator)
            return x, self.module_.log_prob(x)

        return draw_in_chunks(draw, n, max(self.batch_size, 1024))

    def sample(self, n_samples: int = 1, method: str = "model", *, burn_in: int = 100):
        """Draw configurations.

        Parameters
        ----------
        n_samples : int
            Number of configurations.
        method : {"model", "mh"}
            ``model``: exact independent samples of the model, generated site by site for the
            whole batch at once; ``mh``: an independence Metropolis-Hastings chain through
            model samples, exact for the theory, after ``burn_in`` proposals.
        burn_in : int, default=100

        Returns
        -------
        ndarray of shape (n_samples, n_sites)
        """
        self._check_fitted()
        n = _check_int("n_samples", n_samples, 1)
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
        if method == "model":
            return to_numpy(self._draw(n)[0])
        self._require_theory("sample(method='mh')")
        return to_numpy(self._metropolis_samples(n, burn_in))

    # -- physics ------------------------------------------------------------------------------
    def free_energy(self, n_samples: int = 10_000) -> dict:
        r"""Free energies, energy, entropy and heat capacity of ``theory`` from fresh samples.

        With :math:`\ln w = -\beta E - \ln q` on :math:`x \sim q`: the variational bound
        :math:`F_q = \overline{E + T\ln q} \ge F`, the neural importance sampling estimate
        :math:`F = -T\ln\overline{w}` (unbiased for :math:`Z`), and the reweighted energy
        :math:`U`, entropy :math:`S = (U - F)/T` and heat capacity
        :math:`C = \beta^2\,\mathrm{Var}_p(E)`
        (:func:`skphys.lattice.stats.reweighted_thermodynamics`, jackknife errors).

        Parameters
        ----------
        n_samples : int, default=10000

        Returns
        -------
        dict
            ``free_energy`` (:math:`F_q`), ``free_energy_nis``, ``energy``, ``entropy``,
            ``heat_capacity``, each with its error under the same name plus ``_err``; ``ess``
            (ESS/N of the importance weights) and ``n_sites``. Extensive values (totals, not
            per site).

        Warns
        -----
        UnreliableEstimateWarning
            When the weights' Pareto tail shape exceeds 0.7: the reweighted values and their
            errors cannot be trusted (the variational bound ``free_energy`` still holds).
        """
        self._check_fitted()
        self._require_theory("free_energy")
        n = _check_int("n_samples", n_samples, 20)
        x, log_q = self._draw(n)
        with torch.no_grad():
            energy = to_numpy(self.theory.energy(x)).astype(np.float64)
        log_q = to_numpy(log_q).astype(np.float64)
        t = self.theory.temperature
        log_w = -energy / t - log_q
        _warn_if_heavy_tailed(log_w, "the reweighted thermodynamics")
        thermo = reweighted_thermodynamics(energy, log_q, t)
        names = {"free_energy_variational": "free_energy", "free_energy": "free_energy_nis"}
        result = {}
        for key, (value, error) in thermo.items():
            name = names.get(key, key)
            result[name], result[name + "_err"] = value, error
        result["ess"] = ess(log_w)
        result["n_sites"] = math.prod(self.lattice_shape_)
        return result

    def symmetry_score(self, X, op: str = "flip") -> float:
        r"""Mean :math:`|\ln q(gx) - \ln q(x)|` over the rows of ``X``: 0 for a symmetric model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_sites)
        op : {"flip", "rotate"}
            ``flip``: ``s -> -s`` (``theta -> -theta`` for angles); ``rotate`` (angles only):
            ``theta -> theta + phi`` with one random global ``phi`` per row.

        Returns
        -------
        float
        """
        x = self._configurations(X)
        if op not in _OPS:
            raise ValueError(f"op must be one of {_OPS}, got {op!r}")
        if op == "flip":
            gx = self.module_.conditional.flip(x)
        elif self.dof_ != "angle":
            raise ValueError("op='rotate' needs dof='angle'")
        else:
            phi = _TWO_PI * torch.rand(len(x), 1, generator=self._generator,
                                       device=x.device, dtype=x.dtype)
            gx = torch.remainder(x + phi, _TWO_PI)
        with torch.no_grad():
            diff = self.module_.log_prob(gx) - self.module_.log_prob(x)
        return float(diff.abs().mean())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.positive_only = self.dof == "angle"
        tags.transformer_tags.preserves_dtype = [self.dtype]
        tags.non_deterministic = self.device != "cpu" and torch.cuda.is_available()
        return tags
