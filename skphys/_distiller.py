"""BottleneckDistiller: the local law behind a translator's hidden states, through a bottleneck."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import linregress
from sklearn.base import TransformerMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import validation_curve
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from ._base import COMMON_CONSTRAINTS, TorchEstimator
from ._constraints import Constraint, Integer, IntTuple, Options, check_real, naming
from ._docstrings import TRAINING_PARAMETERS, fill_doc
from ._optimizer import Adam
from ._torch_utils import to_numpy
from ._translator import PhysicsTranslator
from .nn import TARGETS, LatentRecurrence

__all__ = ["BottleneckDistiller", "scan_latent_dim"]


def _nonzero(scale):
    """Standard deviations with the (near) zero ones replaced by 1."""
    return np.where(scale > 1e-8, scale, 1.0)


def _unwrap(translator):
    return translator.estimator if isinstance(translator, FrozenEstimator) else translator


class _FittedTranslator(Constraint):
    """A fitted PhysicsTranslator, possibly wrapped in a FrozenEstimator (TypeError for
    anything else, NotFittedError for an unfitted one)."""

    def describe(self) -> str:
        return "a fitted PhysicsTranslator (or a FrozenEstimator of one)"

    def check(self, name, value):
        translator = _unwrap(value)
        if not isinstance(translator, PhysicsTranslator):
            raise self._type_error(name, value)
        check_is_fitted(translator, "module_",
                        msg=f"{name} must be fitted: call translator.fit(V, rho) first")
        return value


@fill_doc(training_parameters=TRAINING_PARAMETERS.format(
    max_iter=4000, batch_size=64, batch_what="Windows",
    optimizer="Adam(3e-3, clip_grad_norm=1.0)"))
class BottleneckDistiller(TransformerMixin, TorchEstimator):
    r"""Distil the local law followed by a translator's hidden states (arXiv:1901.11103).

    The hidden states :math:`h_i` of a fitted :class:`PhysicsTranslator` are squeezed
    through a :math:`d`-dimensional latent space: a window of ``horizon`` sites starting at
    :math:`s` is encoded from its first state only, :math:`g_s = E(h_s)`, carried along by a
    recurrence linear in :math:`g`,

    .. math:: g_{i+1} = M(V_{i+1})\, g_i, \qquad M(V) = 1 + N(V),

    with :math:`N` a small network of the potential alone, and decoded back,
    :math:`\hat h_i = D(g_i)`, where :math:`D` represents every quadratic map of :math:`g`
    exactly (see :class:`skphys.nn.LatentRecurrence`). The loss is the mean squared error of
    :math:`\hat h_i` over the whole window, in units of the per-feature standard deviation of
    the hidden states (1 is the error of predicting their mean). The latent step enters at
    :math:`V_{i+1}` because the translator's state :math:`h_{i+1}` is the first to have read
    :math:`V_{i+1}`.

    **Alternative formulation** (``target="density"``). The decoder reproduces the
    translator's (unnormalized) density instead of its hidden states, and *linearly*,
    :math:`\hat\rho_i = w \cdot g_i + b`; the encoder represents every quadratic map of
    :math:`h_s` exactly and the step sees two potential values,
    :math:`M(V_i, V_{i+1})`. A density that must be one direction of a linearly evolving state
    needs :math:`d = 3` (:math:`\rho, \rho', \rho''`, which obey
    :math:`\rho''' = 4\tilde V\rho' + 2\tilde V'\rho`; conventions §7): the loss jumps
    between :math:`d = 2` and :math:`d = 3`, one variable more than the wave function needs.
    The loss is the mean squared error in units of the variance of the density.

    When :math:`d` is large enough for the physics (2 for :math:`(\psi, \psi')`), the loss
    drops by orders of magnitude; scan ``latent_dim`` with :func:`scan_latent_dim` (or
    :func:`sklearn.model_selection.validation_curve`) to find the jump, then compare the
    learned step with the discrete Schrödinger recursion with :meth:`law_report`.

    The distiller is fitted for one sequence length (``transform`` returns a fixed number of
    features); the translator itself reads sequences of any length.

    **Cloning.** :func:`sklearn.base.clone` would return an unfitted copy of an
    estimator-valued parameter. This estimator keeps its translator instead: its
    ``__sklearn_clone__`` clones every other parameter and shares the (read-only) fitted
    translator, so ``validation_curve(BottleneckDistiller(translator=tr), ...)`` works. The
    translator may also be given wrapped in :class:`sklearn.frozen.FrozenEstimator`.

    Parameters
    ----------
    translator : PhysicsTranslator or FrozenEstimator of one
        A fitted translator.
    latent_dim : int, default=2
        Dimension :math:`d` of the bottleneck.
    horizon : int, default=50
        Sites per reconstructed window (clipped to the sequence length).
    target : {"hidden", "density"}, default="hidden"
        What the decoder reconstructs: the translator's hidden states, or its density (the
        alternative formulation above).
    hidden_channels : int, default=32
        Width of the encoder, step and decoder networks (one hidden layer each).
    {training_parameters}

    Attributes
    ----------
    module_ : LatentRecurrence
    n_features_in_ : int
        Sites of the training sequences.
    hidden_mean_, hidden_scale_ : ndarray of shape (translator.cell.hidden_channels,)
        Standardization of the hidden states.
    density_mean_, density_scale_ : float
        Standardization of the translator's density (``target="density"`` only).
    v_scale_ : float
        Standard deviation of the training potentials (the step network reads
        :math:`V / v_\mathrm{scale}`).
    v_range_ : tuple of float
        1st and 99th percentiles of the training potentials (the range of :meth:`law_report`).
    history_ : pandas.DataFrame
        ``step``, ``loss``, ``wall_time``.
    n_iter_ : int

    Examples
    --------
    >>> from skphys import BottleneckDistiller, PhysicsTranslator
    >>> from skphys.architectures import GRUCell
    >>> from skphys.datasets import make_schrodinger_1d
    >>> V, rho = make_schrodinger_1d(n_samples=32, n_sites=30, random_state=0)
    >>> tr = PhysicsTranslator(GRUCell(hidden_channels=4), window=10, max_iter=5,
    ...                        lbfgs_iter=0, device="cpu", random_state=0).fit(V, rho)
    >>> ds = BottleneckDistiller(tr, latent_dim=2, horizon=10, max_iter=5, device="cpu",
    ...                          random_state=0).fit(V)
    >>> ds.transform(V).shape, ds.update_matrices([0.0, 1.0]).shape
    ((32, 60), (2, 2, 2))
    >>> list(ds.law_report(spacing=0.1).columns)
    ['latent_dim', 'slope', 'intercept', 'r2', 'expected_slope', 'slope_rel_error']

    The alternative formulation: the step reads pairs of potential values.

    >>> alt = BottleneckDistiller(tr, latent_dim=3, horizon=10, target="density", max_iter=5,
    ...                           device="cpu", random_state=0).fit(V)
    >>> alt.update_matrices([[0.0, 0.5]]).shape, alt.score(V) < 0
    ((1, 3, 3), True)
    """

    module_: LatentRecurrence

    _parameter_constraints = {
        **COMMON_CONSTRAINTS,
        "translator": _FittedTranslator(),
        "latent_dim": Integer(1),
        "horizon": Integer(1),
        "target": Options(*TARGETS),
        "hidden_channels": Integer(1),
    }

    def __init__(
        self,
        translator=None,
        *,
        latent_dim: int = 2,
        horizon: int = 50,
        target: str = "hidden",
        hidden_channels: int = 32,
        max_iter: int = 4000,
        batch_size: int = 64,
        optimizer=Adam(3e-3, clip_grad_norm=1.0),
        warm_start: bool = False,
        device: str = "auto",
        dtype: str = "float32",
        random_state=None,
        verbose: int = 0,
    ):
        self.translator = translator
        self.latent_dim = latent_dim
        self.horizon = horizon
        self.target = target
        self.hidden_channels = hidden_channels
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.warm_start = warm_start
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_clone__(self):
        params = self.get_params(deep=False)
        translator = params.pop("translator")
        return type(self)(translator=translator,
                          **{k: clone(v, safe=False) for k, v in params.items()})

    # -- the fit hooks ------------------------------------------------------------------------
    def _initialize(self, V: np.ndarray) -> None:
        hidden, density = self._translate(V)
        hidden = hidden.reshape(-1, hidden.shape[-1])
        self.hidden_mean_ = hidden.mean(0)
        self.hidden_scale_ = _nonzero(hidden.std(0))
        if self.target == "density":
            self.density_mean_ = float(density.mean())
            self.density_scale_ = float(_nonzero(density.std()))
        self.v_scale_ = float(_nonzero(V.std()))
        self.v_range_ = tuple(float(q) for q in np.percentile(V, [1, 99]))

    def _build_module(self) -> LatentRecurrence:
        return LatentRecurrence(self.hidden_mean_.shape[0], self.latent_dim,
                                self.hidden_channels, self.target)

    def _fit_module(self, V: np.ndarray) -> None:
        self._train(self._loss(V))

    def _translate(self, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The translator's hidden states (n, n_sites, hidden) and unnormalized density."""
        density, hidden = _unwrap(self.translator).translate(V)
        return hidden.astype(np.float64), density.astype(np.float64)

    def _sequences(self, V: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardized hidden states (n, n_sites, hidden) and targets (n, n_sites, n_out)."""
        hidden, density = self._translate(V)
        H = self._to_tensor((hidden - self.hidden_mean_) / self.hidden_scale_)
        if self.target == "hidden":
            return H, H
        return H, self._to_tensor((density - self.density_mean_) / self.density_scale_)[..., None]

    def _check_V(self, V) -> np.ndarray:
        self._check_fitted()
        return self._validate_X(V, reset=False, input_name="V")

    # -- training -----------------------------------------------------------------------------
    def _windows(self, V: np.ndarray, starts):
        """Windows of ``horizon`` sites starting at ``starts``.

        Returns the encoded hidden states (n, n_starts, hidden), the targets
        (n, n_starts, T, n_out) and the scaled potentials (n, n_starts, T).
        """
        T = min(self.horizon, V.shape[1])
        H, Y = self._sequences(V)
        v = self._to_tensor(V / self.v_scale_)
        starts = torch.as_tensor(starts, device=v.device)
        offsets = starts[:, None] + torch.arange(T, device=v.device)
        return H[:, starts], Y[:, offsets], v[:, offsets]

    def _loss(self, V: np.ndarray):
        T = min(self.horizon, V.shape[1])
        h0, Y, v = (t.flatten(0, 1) for t in self._windows(V, np.arange(V.shape[1] - T + 1)))

        def loss_fn(step):
            idx = torch.randint(len(Y), (self._local_batch_size,), generator=self._generator,
                                device=Y.device)
            loss = (self.module_(h0[idx], v[idx]) - Y[idx]).square().mean()
            return loss, {}

        return loss_fn

    # -- evaluation ---------------------------------------------------------------------------
    def reconstruction_loss(self, V) -> np.ndarray:
        """Mean squared reconstruction error of each row, over tiling windows.

        The windows start at ``0, horizon, 2 horizon, ...``, the last one ending at the last
        site, so that every site is reconstructed.

        Returns
        -------
        loss : ndarray of shape (n_samples,)
        """
        V = self._check_V(V)
        T = min(self.horizon, V.shape[1])
        starts = np.unique(np.r_[np.arange(0, V.shape[1] - T + 1, T), V.shape[1] - T])
        h0, Y, v = self._windows(V, starts)
        with torch.no_grad():
            recon = self.module_(h0.flatten(0, 1), v.flatten(0, 1))
        error = (recon.reshape(Y.shape) - Y).square().mean((1, 2, 3))
        return to_numpy(error).astype(np.float64)

    def score(self, V, y=None) -> float:
        """Minus the mean reconstruction loss (higher is better)."""
        return -float(np.mean(self.reconstruction_loss(V)))

    def transform(self, V) -> np.ndarray:
        """Latent state :math:`g_i = E(h_i)` of every site, flattened site by site.

        Parameters
        ----------
        V : array-like of shape (n_samples, n_sites)

        Returns
        -------
        G : ndarray of shape (n_samples, n_sites * latent_dim)
            ``G.reshape(n_samples, n_sites, latent_dim)`` gives the trajectories.
        """
        V = self._check_V(V)
        with torch.no_grad():
            G = self.module_.encode(self._sequences(V)[0])
        return to_numpy(G.flatten(1)).astype(np.float64)

    def update_matrices(self, v) -> np.ndarray:
        """Latent step matrices :math:`M(v)` for potential values ``v``.

        Parameters
        ----------
        v : array-like of shape (n_values,) or, for ``target="density"``, (n_values, 2)
            Potential values; for the density target, pairs :math:`(V_i, V_{i+1})` of the
            step from site :math:`i` to :math:`i + 1`, a 1-D ``v`` standing for a locally
            constant potential :math:`V_i = V_{i+1} = v`.

        Returns
        -------
        M : ndarray of shape (n_values, latent_dim, latent_dim)
        """
        self._check_fitted()
        with naming("v"):
            v = check_array(np.atleast_1d(v), ensure_2d=False, input_name="v")
        k = self.module_.n_step_inputs
        if v.ndim == 1:
            v = np.repeat(v[:, None], k, axis=1)
        elif v.shape[1:] != (k,) or k == 1:
            expected = "a 1-D array" if k == 1 else "a 1-D array or an array of shape (n, 2)"
            raise ValueError(f"v must be {expected} of potential values, got shape {v.shape}")
        with torch.no_grad():
            M = self.module_.step_matrices(self._to_tensor(v / self.v_scale_))
        return to_numpy(M).astype(np.float64)

    def law_report(self, v=None, *, spacing: float | None = None) -> pd.DataFrame:
        r"""Linear fit of :math:`\det(M(V) - 1)` against :math:`V` (basis-free, conventions §7).

        For the discrete Schrödinger recursion in any basis (exact transfer matrix, forward or
        symplectic Euler), :math:`\det(M - 1) = -a^2 V`: a line of slope :math:`-a^2` through
        the origin. A similarity transform of the latent space leaves the determinant alone.

        Parameters
        ----------
        v : array-like of shape (n_values,), optional
            Potential values; default 101 points spanning ``v_range_``.
        spacing : float, optional
            Grid spacing :math:`a`; adds ``expected_slope`` :math:`= -a^2` and
            ``slope_rel_error``.

        Returns
        -------
        report : pandas.DataFrame
            One row: ``latent_dim``, ``slope``, ``intercept``, ``r2``, and with ``spacing``
            ``expected_slope``, ``slope_rel_error``.
        """
        self._check_fitted()
        if spacing is not None:
            spacing = check_real("spacing", spacing, 0.0, low_inclusive=False)
        if self.target != "hidden":
            raise ValueError("law_report checks the wave-function law det(M - 1) = -a^2 V, "
                             "which needs target='hidden'")
        if v is None:
            low, high = self.v_range_
            v = np.linspace(low, high, 101)
        else:
            v = np.asarray(v, dtype=np.float64)
        M = self.update_matrices(v)
        det = np.linalg.det(M - np.eye(self.latent_dim))
        fit = linregress(v, det)
        row = {"latent_dim": self.latent_dim, "slope": fit.slope, "intercept": fit.intercept,
               "r2": fit.rvalue**2}
        if spacing is not None:
            row["expected_slope"] = -spacing**2
            row["slope_rel_error"] = abs(fit.slope + spacing**2) / spacing**2
        return pd.DataFrame([row])


def scan_latent_dim(distiller: BottleneckDistiller, V, latent_dims: Sequence[int] = (1, 2, 3, 4),
                    *, random_states: Sequence[int] = (0,), cv=3, n_jobs=None,
                    tolerance: float = 2.0) -> pd.DataFrame:
    """Reconstruction loss against the bottleneck size, by cross-validation.

    Runs :func:`sklearn.model_selection.validation_curve` on ``latent_dim`` once per seed in
    ``random_states`` and averages the losses (minus the scores) over folds and seeds. The
    jump of the test loss between two consecutive dimensions marks the number of latent
    variables the law needs.

    **The chosen dimension.** ``scan.attrs["latent_dim"]`` is the smallest scanned dimension
    whose test loss is within a factor ``tolerance`` of the lowest test loss of the scan: the
    number of latent variables the law needs, when the scan is monotone.

    **Monotonicity.** A bottleneck of dimension :math:`d' > d` can represent whatever one of
    dimension :math:`d` can, so a converged scan does not rise with :math:`d`. When the test
    loss of some dimension exceeds ``tolerance`` times that of a smaller one, the larger fits
    did not reach what the smaller ones did (too few ``max_iter`` steps, an unlucky seed) and
    the chosen dimension may be wrong: ``scan.attrs["monotone"]`` is then False and a
    :class:`~sklearn.exceptions.ConvergenceWarning` names the rise. Scan with more seeds or
    more steps before trusting it.

    Parameters
    ----------
    distiller : BottleneckDistiller
        Template (its ``latent_dim`` and ``random_state`` are overridden).
    V : array-like of shape (n_samples, n_sites)
    latent_dims : sequence of int, default=(1, 2, 3, 4)
        Bottleneck sizes to scan, each >= 1.
    random_states : sequence of int, default=(0,)
    cv : int or cross-validation generator, default=3
    n_jobs : int, optional
    tolerance : float, default=2.0
        Factor (> 1) of the test loss within which a dimension counts as good as the best
        one, and beyond which a rise with the dimension makes the scan non-monotone.

    Returns
    -------
    scan : pandas.DataFrame
        Indexed by ``latent_dim``: ``train_loss``, ``test_loss`` (means), ``test_loss_std``
        (over folds and seeds). ``scan.attrs`` holds ``"latent_dim"``, the chosen
        dimension (None if every fit failed), and ``"monotone"``, whether the test loss
        never rose by more than ``tolerance`` with the dimension.

    Warns
    -----
    sklearn.exceptions.ConvergenceWarning
        When the scan is not monotone.
    RuntimeWarning
        When a fit failed (its losses are NaN, and the choice skips it).

    Examples
    --------
    >>> from skphys import BottleneckDistiller, PhysicsTranslator, scan_latent_dim
    >>> from skphys.architectures import GRUCell
    >>> from skphys.datasets import make_schrodinger_1d
    >>> V, rho = make_schrodinger_1d(n_samples=30, n_sites=20, random_state=0)
    >>> tr = PhysicsTranslator(GRUCell(hidden_channels=4), window=10, max_iter=5,
    ...                        lbfgs_iter=0, device="cpu", random_state=0).fit(V, rho)
    >>> ds = BottleneckDistiller(tr, horizon=10, max_iter=5, device="cpu")
    >>> scan = scan_latent_dim(ds, V, latent_dims=[1, 2])
    >>> scan.shape, sorted(scan.attrs)
    ((2, 3), ['latent_dim', 'monotone'])
    """
    tolerance = check_real("tolerance", tolerance, 1.0, low_inclusive=False)
    if isinstance(latent_dims, np.ndarray):
        latent_dims = latent_dims.tolist()
    latent_dims = IntTuple(1).check("latent_dims", latent_dims)
    train_parts, test_parts = [], []
    for seed in random_states:
        estimator = clone(distiller).set_params(random_state=seed)
        tr_scores, te_scores = validation_curve(estimator, V, None, param_name="latent_dim",
                                                param_range=list(latent_dims), cv=cv,
                                                n_jobs=n_jobs)
        train_parts.append(-tr_scores)
        test_parts.append(-te_scores)
    train, test = np.concatenate(train_parts, 1), np.concatenate(test_parts, 1)
    scan = pd.DataFrame({"train_loss": train.mean(1), "test_loss": test.mean(1),
                         "test_loss_std": test.std(1)},
                        index=pd.Index(list(latent_dims), name="latent_dim"))
    failed = scan.index[scan[["train_loss", "test_loss"]].isna().any(axis=1)].tolist()
    if failed:
        warnings.warn(
            f"scan_latent_dim: the fits at latent_dim={failed} failed (NaN losses: see the "
            f"errors validation_curve reported); the scan skips them", RuntimeWarning,
            stacklevel=2)
    return _choose_latent_dim(scan, tolerance)


def _choose_latent_dim(scan: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Set ``scan.attrs`` (the chosen dimension, monotonicity) and warn on a rise of the
    test loss with the dimension (see :func:`scan_latent_dim`)."""
    loss = scan["test_loss"].sort_index()
    dims = [int(d) for d in loss.index]
    best = loss.min()  # NaN losses (failed fits) are skipped; all NaN: no choice (None)
    chosen = next((d for d, value in zip(dims, loss) if value <= tolerance * best), None)
    rises = [(low, high) for i, high in enumerate(dims) for low in dims[:i]
             if loss[high] > tolerance * loss[low]]
    scan.attrs["latent_dim"] = chosen
    scan.attrs["monotone"] = not rises
    if rises:
        low, high = max(rises, key=lambda pair: loss[pair[1]] / loss[pair[0]])
        warnings.warn(
            f"scan_latent_dim: the test loss rises with the bottleneck, from "
            f"{loss[low]:.3g} at latent_dim={low} to {loss[high]:.3g} at latent_dim={high} "
            f"(more than tolerance={tolerance:g} times); a larger bottleneck can do whatever "
            f"a smaller one does, so the larger fits did not converge and the chosen "
            f"latent_dim={chosen} may be wrong: scan with more random_states or a larger "
            f"max_iter", ConvergenceWarning, stacklevel=3)
    return scan
