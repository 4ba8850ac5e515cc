"""AutoregressiveHamiltonian: learned Hamiltonians and variational free energies of spin, angle
and real-field models."""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.utils.validation import check_non_negative

from ._base import COMMON_CONSTRAINTS
from ._constraints import (
    Instance,
    Integer,
    IntTuple,
    Names,
    OneOf,
    Optional,
    Options,
    Real,
    check_int,
    check_real,
)
from ._docstrings import (
    FIT_CHECK_ATTRIBUTES,
    THEORY_PARAMETERS,
    TRAINING_PARAMETERS,
    VALIDATION_PARAMETERS,
    fill_doc,
)
from ._generative import THEORY_CONSTRAINT, FitData, GenerativeEstimator
from ._optimizer import Adam
from ._torch_utils import to_numpy
from .architectures import MADE, PixelCNN
from .autoregressive import AutoregressiveModel
from .lattice import LatticeTheory, lattice_symmetries, random_symmetry_transform
from .lattice._symmetry import SYMMETRY_NAMES, check_symmetries
from .lattice._theory import evaluate_action
from .lattice.reliability import warn_unreliable
from .lattice.stats import ess, reweighted_thermodynamics

__all__ = ["AutoregressiveHamiltonian"]

_DOFS = ("spin", "angle", "real")
_OPS = ("flip", "rotate")
_TWO_PI = 2 * math.pi
# free_energy(): the extensive values, returned per site with their errors
_PER_SITE = ("free_energy", "free_energy_nis", "energy", "entropy", "heat_capacity")
# the default beta_anneal: beta_t reaches 99 % of beta after 460 and 1150 steps
_SPIN_ANNEAL, _ANGLE_ANNEAL = 0.99, 0.996
# the default max_iter: maximum-likelihood fits of real fields need more steps (see max_iter)
_MAX_ITER, _REAL_DATA_MAX_ITER = 1300, 4000


@fill_doc(
    theory_parameters=THEORY_PARAMETERS,
    training_parameters=TRAINING_PARAMETERS.format(
        max_iter="None", batch_size=256,
        batch_what="Samples (VAN) or data rows (maximum likelihood)",
        optimizer="Adam(2e-3, clip_grad_norm=1.0, n_iter_no_change=100)"),
    validation_parameters=VALIDATION_PARAMETERS,
    fit_check_attributes=FIT_CHECK_ATTRIBUTES,
)
class AutoregressiveHamiltonian(GenerativeEstimator):
    r"""Autoregressive model of spin, angle or real-field configurations: learned Hamiltonians
    and VAN.

    The model :math:`q_\theta(s) = \prod_i q(s_i \mid s_{<i})` (row-major site order) has an
    exact, normalized log-probability and exact independent samples. It is trained either

    * on data, ``fit(X)``: maximum likelihood, with a validation split whose best parameters
      are kept; the learned Hamiltonian is :math:`H_\theta(s) = -T \ln q_\theta(s)`
      (:meth:`hamiltonian`);
    * from a known energy, ``fit()`` with ``theory``: the variational autoregressive network
      (VAN, Wu, Wang and Zhang, PRL 122, 080602 (2019)) minimizes
      :math:`\beta F_q = E_q[\beta E(s) + \ln q(s)] \ge \beta F` with the REINFORCE gradient
      :math:`E_q[(f - \bar f)\nabla\ln q]`, :math:`f = \beta_t E + \ln q`, the batch mean
      :math:`\bar f` as baseline, and an annealed inverse temperature
      :math:`\beta_t = \beta (1 - a^t)`, ``a = beta_anneal``.

    The defaults are the recipe for VAN on lattices of about 8 x 8 on one CPU core: 1300
    steps of Adam from a learning rate of 2e-3 (cosine schedule) on batches of 256 samples,
    the default :class:`PixelCNN`, and an annealing suited to the field type (see
    ``beta_anneal``). Larger lattices or lower temperatures need more steps (``max_iter``,
    or ``warm_start=True`` to continue); the figures of the defaults are on
    :doc:`/results`.

    Parameters
    ----------
    {theory_parameters}
    dof : {"spin", "angle", "real"}, optional
        Spins ``+1.0/-1.0`` (Bernoulli conditionals), angles in ``[0, 2 pi)`` (mixtures of
        Beta laws on ``theta / 2 pi``) or real values (mixtures of normal laws,
        :class:`~skphys.autoregressive.NormalMixture`: ``Phi4``, ``FreeScalar``,
        path-integral configurations). Default: the theory's field type, else ``"spin"``.
    network : PixelCNN or MADE, default=PixelCNN()
        The masked network and its settings (the class is the switch): :class:`PixelCNN`
        (masked convolutions, 1-D and 2-D lattices) or :class:`MADE` (masked dense layers,
        any lattice). Its ``z2_mixture`` and ``rotation_symmetric`` default to what the fit
        needs (see there); the resolved values are ``z2_mixture_`` and
        ``rotation_symmetric_``. Change one setting with e.g.
        ``set_params(network__hidden_channels=16)``.
    {training_parameters}
        ``max_iter=None``: 4000 steps for ``fit(X)`` of real fields (``dof="real"``), whose
        normal-mixture conditionals are still improving on held-out rows long after the
        1300 steps that suffice for spins, angles and VAN; 1300 otherwise.
    beta_anneal : float or None, default=None
        Annealing factor ``a`` of :math:`\beta_t = \beta(1 - a^t)` in VAN training
        (0: no annealing); with ``warm_start`` the annealing continues from the step reached.
        None: 0.99 for spin and real-field theories (Ising, Phi4; :math:`\beta_t` reaches
        95 % of :math:`\beta` in 300 steps) and 0.996 for angle theories (XY; 95 % in 750
        steps), whose vortex sectors the model must learn while they are still common:
        reverse KL hardly samples what the model misses. The resolved value is
        ``beta_anneal_``. Figures: :doc:`/results`.
    {validation_parameters} With held-out rows, the early stopping of ``optimizer``
        monitors their NLL per site.
    augment : "auto", tuple of str or None, default="auto"
        Data augmentation of ``fit(X)`` by exact symmetries of the data: every training
        batch is moved by random elements of the group they generate
        (:func:`~skphys.lattice.random_symmetry_transform`), so that the model learns a
        distribution with those symmetries from fewer configurations. Names out of
        ``"translation"``, ``"reflection"``, ``"rotation"`` (of a periodic lattice),
        ``"z2"`` (the flip of spins and real fields, ``theta -> -theta`` for angles) and
        ``"o2"`` (rotations and reflections of angles). ``"auto"``: the theory's
        ``symmetries`` when ``theory`` is given, else the lattice symmetries of a periodic
        lattice (:func:`~skphys.lattice.lattice_symmetries`; pass the theory, or name
        ``"z2"``, for the internal ones). None: the rows as they are, for data whose lattice
        is not periodic or that lack these symmetries. The resolved names are ``augment_``
        (empty for VAN, which has no data).

    Attributes
    ----------
    module_ : AutoregressiveModel
    lattice_shape_ : tuple of int
    dof_ : str
    z2_mixture_ : bool
        Whether the density is the flip-symmetrized mixture.
    rotation_symmetric_ : bool
        Whether angles are modelled relative to the first one (exact U(1) invariance);
        :meth:`transform` then gives the conditionals of the relative angles.
    beta_anneal_ : float
        The annealing factor of the last fit from the action.
    augment_ : tuple of str
        The symmetries that augmented the training data (see ``augment``).
    n_features_in_ : int
    history_ : pandas.DataFrame
        ``step``, ``loss`` (``beta_t F_q`` for VAN, NLL per site for data) and ``val_nll`` or
        ``beta`` and ``free_energy`` (per site, at ``beta_t``), ``wall_time``.
    n_iter_ : int
    {fit_check_attributes}

    See Also
    --------
    FlowSampler, RGFlow : normalizing flows for real and complex fields.

    Examples
    --------
    >>> from skphys import AutoregressiveHamiltonian, PixelCNN
    >>> from skphys.lattice import Ising
    >>> ah = AutoregressiveHamiltonian(Ising((3, 3), temperature=3.0),
    ...                                network=PixelCNN(hidden_channels=8), max_iter=50,
    ...                                batch_size=64, random_state=0).fit()
    >>> ah.sample(4).shape
    (4, 9)
    >>> f = ah.free_energy(2000)  # per site
    >>> bool(f["free_energy"] >= f["free_energy_nis"] - 3 * f["free_energy_nis_err"])
    True
    """


    _field_types = ("spin", "angle", "real")
    _other_estimator = "FlowSampler or RGFlow"
    _key_metric = "free_energy"
    module_: AutoregressiveModel
    _parameter_constraints = {
        **COMMON_CONSTRAINTS,
        "theory": THEORY_CONSTRAINT,
        "lattice_shape": Optional(IntTuple(2, allow_int=True)),
        "dof": Optional(Options(*_DOFS)),
        "network": Instance(PixelCNN, MADE, description="a skphys.PixelCNN or skphys.MADE"),
        "beta_anneal": Optional(Real(0.0, 1.0, high_inclusive=False)),
        "validation_fraction": Real(0.0, 1.0, high_inclusive=False),
        "max_iter": Optional(Integer(1)),
        "augment": Optional(OneOf(Options("auto"), Names(*SYMMETRY_NAMES),
                                  description="'auto' or a tuple of distinct names out of "
                                              + ", ".join(map(repr, SYMMETRY_NAMES)))),
    }

    def __init__(
        self,
        theory: LatticeTheory | None = None,
        *,
        lattice_shape=None,
        dof: str | None = None,
        network: PixelCNN | MADE = PixelCNN(),
        max_iter: int | None = None,
        batch_size: int = 256,
        optimizer: Adam = Adam(2e-3, clip_grad_norm=1.0, n_iter_no_change=100),
        beta_anneal: float | None = None,
        validation_fraction: float = 0.1,
        augment="auto",
        warm_start: bool = False,
        device: str = "auto",
        dtype: str = "float32",
        random_state=None,
        verbose: int = 0,
    ):
        self.theory = theory
        self.lattice_shape = lattice_shape
        self.dof = dof
        self.network = network
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.beta_anneal = beta_anneal
        self.validation_fraction = validation_fraction
        self.augment = augment
        self.warm_start = warm_start
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # -- the fit hooks --------------------------------------------------------------------------
    def _resolve_dof(self) -> str:
        """``dof``, else the theory's field type, else ``"spin"``."""
        if self.dof is not None:
            return self.dof
        return getattr(self.theory, "field_type", "spin")

    def _check_params(self, params: dict) -> None:
        super()._check_params(params)  # a theory of another field type: TypeError
        theory, dof = params["theory"], params["dof"]
        if theory is not None and dof is not None and dof != theory.field_type:
            raise ValueError(f"dof={dof!r} does not match the theory's field type "
                             f"{theory.field_type!r}")
        if params["network"]["rotation_symmetric"] and self._resolve_dof() != "angle":
            raise ValueError(f"network__rotation_symmetric=True needs dof='angle', got "
                             f"dof={self._resolve_dof()!r}")
        if params["augment"] not in (None, "auto"):
            dof = self._resolve_dof()
            if "o2" in params["augment"] and dof != "angle":
                raise ValueError(f"augment: 'o2' acts on angles, got dof={dof!r}")

    def _check_lattice(self, shape: tuple[int, ...]) -> None:
        self.network._check_lattice_shape(shape)  # PixelCNN: 1-D or 2-D only

    def _check_values(self, X: np.ndarray, *, fitting: bool) -> None:
        dof = self._resolve_dof() if fitting else self.dof_
        if dof == "spin" and not np.all(np.abs(X) == 1):
            raise ValueError("X must hold spins +1.0 / -1.0 for dof='spin'")
        if dof == "angle":
            check_non_negative(X, f"{type(self).__name__} (angles in [0, 2 pi))")
            if not np.all(X < _TWO_PI):
                raise ValueError("X must hold angles in [0, 2 pi) for dof='angle'")

    def _check_warm_start(self, data: FitData) -> None:
        super()._check_warm_start(data)
        if self._resolve_dof() != self.dof_:
            raise ValueError(f"warm_start needs the dof of the previous fit, {self.dof_!r}; "
                             f"got {self._resolve_dof()!r}")

    def _initialize(self, data: FitData) -> None:
        super()._initialize(data)
        van = data.X is None
        self.dof_ = self._resolve_dof()
        z2, rotation = self.network.z2_mixture, self.network.rotation_symmetric
        theory = self.theory
        self.z2_mixture_ = (theory is not None and theory.has_sign_symmetry
                            if z2 is None else bool(z2))
        self.rotation_symmetric_ = (van and self.dof_ == "angle" if rotation is None
                                    else bool(rotation))

    def _build_module(self) -> AutoregressiveModel:
        return self.network.build(self.lattice_shape_, self.dof_, self.z2_mixture_,
                                  self.rotation_symmetric_)

    def _fit_module(self, data: FitData) -> None:
        self.__dict__.pop("beta_anneal_", None)  # of an earlier fit
        self._from_data = data.X is not None  # the default max_iter depends on it
        self.augment_ = self._resolve_augment() if self._from_data else ()
        if data.X is None:
            self._train(self._van_loss())
            return
        self._train(self._with_validation(self._nll_loss(self._to_tensor(data.X)), data),
                    monitor="loss" if data.held_out is None else "val_nll")

    # -- training -------------------------------------------------------------------------------
    @property
    def _max_iter(self) -> int:
        """``max_iter``, else 4000 steps for ``fit(X)`` of real fields and 1300 otherwise."""
        if self.max_iter is not None:
            return self.max_iter
        real_data = getattr(self, "dof_", None) == "real" and getattr(self, "_from_data", False)
        return _REAL_DATA_MAX_ITER if real_data else _MAX_ITER

    def _resolve_augment(self) -> tuple[str, ...]:
        """``augment``, else the theory's symmetries (those of a periodic lattice without
        one) that act on this field type."""
        if self.augment is None:
            return ()
        if self.augment != "auto":
            try:
                check_symmetries(self.lattice_shape_, self.augment, self.dof_)
            except ValueError as error:
                raise ValueError(f"augment: {error}") from None
            return tuple(self.augment)
        if self.theory is None:
            return lattice_symmetries(self.lattice_shape_)
        return tuple(s for s in self.theory.symmetries
                     if s in SYMMETRY_NAMES and (s != "o2" or self.dof_ == "angle"))

    def _training_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """The rows of a training batch, each moved by a random element of ``augment_``."""
        if not self.augment_:
            return rows
        return random_symmetry_transform(rows, self.lattice_shape_, self.augment_,
                                         field_type=self.dof_, generator=self._generator)

    def _resolve_beta_anneal(self) -> float:
        """``beta_anneal``, else 0.996 for angle theories and 0.99 for the others."""
        if self.beta_anneal is not None:
            return self.beta_anneal
        return _ANGLE_ANNEAL if self.dof_ == "angle" else _SPIN_ANNEAL

    def _van_loss(self):
        theory, n_sites = self.theory, math.prod(self.lattice_shape_)
        temperature = self._temperature()
        self.beta_anneal_ = anneal = self._resolve_beta_anneal()

        def loss_fn(step):
            frac = 1 - anneal**step
            x = self.module_.sample_configurations(self._local_batch_size,
                                                   generator=self._generator)
            log_q = self.module_.log_prob(x)
            with torch.no_grad():
                f = log_q + frac * evaluate_action(theory, x)
            surrogate = ((f - f.mean()) * log_q).mean()
            # value: beta_t F_q at the current temperature; gradient: REINFORCE with baseline
            loss = surrogate + (f.mean() - surrogate).detach()
            free = float(f.mean()) * temperature / (frac * n_sites)
            return loss, {"beta": frac / temperature, "free_energy": free}

        return loss_fn

    def _nll_loss(self, train: torch.Tensor):
        n_sites = train.shape[1]

        def loss_fn(step):
            idx = torch.randint(len(train), (self._local_batch_size,),
                                generator=self._generator, device=self._device)
            return -self.module_.log_prob(self._training_rows(train[idx])).mean() / n_sites, {}

        return loss_fn

    def _temperature(self) -> float:
        """The theory's ``temperature``; 1 for a theory without one (field theories, whose
        action is the energy)."""
        return float(getattr(self.theory, "temperature", 1.0))

    # -- the learned Hamiltonian and features ---------------------------------------------------
    def hamiltonian(self, X, temperature: float | None = None):
        r"""Learned energy :math:`H_\theta(x) = -T\ln q_\theta(x)` of each row of ``X``.

        It equals the true energy up to the constant :math:`-T\ln Z` when :math:`q_\theta` is
        exact (:math:`p = e^{-H/T}/Z`): only differences of ``hamiltonian`` are physical.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_sites)
        temperature : float, optional
            The temperature :math:`T` of the data. Default: that of ``theory`` (1 for a
            theory without one, such as ``Phi4``: the action); without a theory it must be
            given, except for real fields (``dof_="real"``), whose action :math:`-\ln q` is
            the learned Hamiltonian at :math:`T = 1`.

        Returns
        -------
        ndarray of shape (n_samples,)

        Raises
        ------
        ValueError
            Without ``temperature`` when the estimator has no theory with a temperature.
        """
        if temperature is None:
            self._check_fitted()
            temperature = (getattr(self.theory, "temperature", 1.0)
                           if self.theory is not None or self.dof_ == "real" else None)
            if temperature is None:
                raise ValueError("hamiltonian needs a temperature: pass temperature=... or "
                                 "fit with a theory")
        t = check_real("temperature", temperature, low=0.0, low_inclusive=False)
        return -t * self.score_samples(X)

    def transform(self, X):
        """Conditional summaries as features, in site order.

        Spins: ``p(s_i = +1 | s_<i)``, shape (n_samples, n_sites). Angles: the conditional
        mean angles, then the concentrations ``E[alpha + beta]``, shape (n_samples,
        2 n_sites). Real fields: the conditional means, then the standard deviations, shape
        (n_samples, 2 n_sites).
        """
        x = self._configurations(X)
        with torch.no_grad():
            return to_numpy(self.module_.conditionals(x))

    @property
    def _n_features_out(self):
        return self.n_features_in_ * (1 if self.dof_ == "spin" else 2)

    # -- physics --------------------------------------------------------------------------------
    def free_energy(self, n_samples: int = 10_000) -> dict:
        r"""Free energies, energy, entropy and heat capacity of ``theory`` per site, from fresh
        samples.

        With :math:`\ln w = -\beta E - \ln q` on :math:`x \sim q`: the variational bound
        :math:`F_q = \overline{E + T\ln q} \ge F`, the neural importance sampling estimate
        :math:`F = -T\ln\overline{w}` (unbiased for :math:`Z`), and the reweighted energy
        :math:`U`, entropy :math:`S = (U - F)/T` and heat capacity
        :math:`C = \beta^2\,\mathrm{Var}_p(E)`
        (:func:`skphys.lattice.stats.reweighted_thermodynamics`, jackknife errors), each
        divided by the number of sites :math:`N`: the convention of
        :func:`~skphys.temperature_scan` and of ``history_["free_energy"]``.

        Parameters
        ----------
        n_samples : int, default=10000

        Returns
        -------
        dict
            Per site: ``free_energy`` (:math:`F_q/N`), ``free_energy_nis`` (:math:`F/N`),
            ``energy``, ``entropy``, ``heat_capacity``, each with its error under the same
            name plus ``_err``; ``ess`` (ESS/N of the importance weights) and ``n_sites``
            (multiply by it for totals).

        Warns
        -----
        UnreliableEstimateWarning
            When the weights' Pareto tail shape exceeds 0.5 (the threshold of
            :mod:`skphys.lattice.reliability`): the reweighted values and their errors cannot
            be trusted (the variational bound ``free_energy`` still holds).
        """
        self._check_fitted()
        theory = self._require_theory("free_energy")
        n = check_int("n_samples", n_samples, 20)
        self._check_rows("n_samples", n)
        x, log_q_tensor = self._draw(n)
        with torch.no_grad():
            energy = to_numpy(theory.energy(x)).astype(np.float64)
        log_q = to_numpy(log_q_tensor).astype(np.float64)
        t = self._temperature()
        log_w = -energy / t - log_q
        warn_unreliable(self._weight_problems(log_w), "the reweighted thermodynamics",
                        "Train longer (a larger max_iter, or warm_start=True to continue); "
                        "the variational bound free_energy still holds.")
        thermo = reweighted_thermodynamics(energy, log_q, t)
        names = {"free_energy_variational": "free_energy", "free_energy": "free_energy_nis"}
        totals = {}
        for key, (value, error) in thermo.items():
            name = names.get(key, key)
            totals[name], totals[name + "_err"] = value, error
        n_sites = math.prod(self.lattice_shape_)
        result = {}
        for name in _PER_SITE:
            result[name] = totals[name] / n_sites
            result[name + "_err"] = totals[name + "_err"] / n_sites
        result["ess"] = ess(log_w)
        result["n_sites"] = n_sites
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
        tags.input_tags.positive_only = (self.dof or getattr(self.theory, "field_type", None)
                                         ) == "angle"
        return tags
