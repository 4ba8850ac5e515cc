"""Learned couplings: regress a learned Hamiltonian on candidate interaction terms."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import combinations

import numpy as np
import pandas as pd
import torch
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from ._constraints import check_int, check_real
from .lattice._theory import LatticeTheory, check_shape

__all__ = ["learned_couplings", "coupling_terms"]

_SPIN_TERMS = ("nn", "nnn", "field")
_REAL_TERMS = ("nn", "nnn", "field", "x2", "x4")


def _pair_sum(lattice: np.ndarray, shifts: list[tuple[int, ...]]) -> np.ndarray:
    """``sum_x sum_shift x(x) x(x + shift)`` of each configuration ``(n, *shape)``."""
    axes = tuple(range(1, lattice.ndim))
    total = np.zeros(len(lattice))
    for shift in shifts:
        rolled = np.roll(lattice, [-s for s in shift], axis=axes)
        total += (lattice * rolled).reshape(len(lattice), -1).sum(1)
    return total


def _nnn_shifts(ndim: int) -> list[tuple[int, ...]]:
    """Next-nearest neighbours: the diagonals ``e_mu +- e_nu`` (``mu < nu``); in 1-D, ``2 e``."""
    if ndim == 1:
        return [(2,)]
    shifts = []
    for mu, nu in combinations(range(ndim), 2):
        for sign in (1, -1):
            shift = [0] * ndim
            shift[mu], shift[nu] = 1, sign
            shifts.append(tuple(shift))
    return shifts


_TERMS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "nn": ("-sum_<ij> x_i x_j (nearest neighbours, each pair once)",
           lambda f: -_pair_sum(f, [tuple(int(m == d) for m in range(f.ndim - 1))
                                    for d in range(f.ndim - 1)])),
    "nnn": ("-sum_<<ij>> x_i x_j (next-nearest: diagonals; in 1-D distance 2)",
            lambda f: -_pair_sum(f, _nnn_shifts(f.ndim - 1))),
    "field": ("-sum_i x_i", lambda f: -f.reshape(len(f), -1).sum(1)),
    "x2": ("sum_i x_i^2", lambda f: np.square(f).reshape(len(f), -1).sum(1)),
    "x4": ("sum_i x_i^4", lambda f: np.square(np.square(f)).reshape(len(f), -1).sum(1)),
}


def coupling_terms() -> dict[str, str]:
    """The built-in candidate terms of :func:`learned_couplings` and what each one sums.

    Examples
    --------
    >>> from skphys import coupling_terms
    >>> sorted(coupling_terms())
    ['field', 'nn', 'nnn', 'x2', 'x4']
    """
    return {name: what for name, (what, _) in _TERMS.items()}


def _hamiltonian_values(hamiltonian, X: np.ndarray, temperature) -> np.ndarray:
    if isinstance(hamiltonian, LatticeTheory):
        with torch.no_grad():
            values = hamiltonian.energy(torch.as_tensor(X, dtype=torch.float64))
        return values.cpu().numpy().astype(np.float64)
    if hasattr(hamiltonian, "score_samples"):
        t = 1.0 if temperature is None else temperature
        t = check_real("temperature", t, low=0.0, low_inclusive=False)
        return -t * np.asarray(hamiltonian.score_samples(X), dtype=np.float64)
    values = check_array(hamiltonian, ensure_2d=False, input_name="hamiltonian")
    if values.ndim != 1 or len(values) != len(X):
        raise ValueError(f"hamiltonian must hold one value per row of X ({len(X)}), got shape "
                         f"{values.shape}")
    return values.astype(np.float64)


def _resolve_shape(hamiltonian, lattice_shape, n_features: int) -> tuple[int, ...]:
    if lattice_shape is None:
        lattice_shape = (getattr(hamiltonian, "lattice_shape_", None)
                         or getattr(hamiltonian, "shape", None)
                         or getattr(getattr(hamiltonian, "theory", None), "shape", None))
    if lattice_shape is None:
        raise ValueError("learned_couplings needs lattice_shape for the values of a "
                         "Hamiltonian (the neighbour terms depend on it)")
    shape = check_shape(lattice_shape)
    if int(np.prod(shape)) != n_features:
        raise ValueError(f"lattice_shape {shape} has {int(np.prod(shape))} sites but X has "
                         f"{n_features} columns")
    return shape


def _design(X: np.ndarray, shape, terms) -> tuple[list[str], np.ndarray]:
    spins = bool(np.all(np.abs(X) == 1))
    if terms is None:
        terms = _SPIN_TERMS if spins else _REAL_TERMS
    items = terms.items() if isinstance(terms, Mapping) else [(t, t) for t in terms]
    lattice = X.reshape(len(X), *shape)
    names, columns = [], []
    for name, term in items:
        if isinstance(term, str):
            if term not in _TERMS:
                raise ValueError(f"unknown term {term!r} in terms: use one of {list(_TERMS)} or "
                                 f"a callable of X in a dict {{name: callable}}")
            column = _TERMS[term][1](lattice)
        elif callable(term):
            column = np.asarray(term(X), dtype=np.float64).reshape(-1)
            if column.shape != (len(X),):
                raise ValueError(f"term {name!r} must give one value per row of X, got shape "
                                 f"{column.shape}")
        else:
            raise TypeError(f"terms[{name!r}] must be a term name or a callable of X, got "
                            f"{term!r}")
        names.append(str(name))
        columns.append(column)
    if not names:
        raise ValueError("terms must name at least one term")
    return names, np.column_stack([np.ones(len(X)), *columns])


def learned_couplings(hamiltonian, X, *, terms=None, lattice_shape=None, temperature=None,
                      training_data=None, n_bootstrap: int = 10, n_jobs: int | None = None,
                      random_state=None) -> pd.DataFrame:
    r"""Couplings of a learned Hamiltonian: its regression on candidate interaction terms.

    Fits :math:`H(x) \approx H_0 + \sum_k g_k\,O_k(x)` by ordinary least squares over the
    configurations ``X``, the intercept :math:`H_0` taking the unknown :math:`-T\ln Z`. The
    built-in terms (:func:`coupling_terms`) carry the signs of the usual Hamiltonians, so that
    Ising data give ``nn`` :math:`= J` and ``field`` :math:`= h` in
    :math:`H = -J\sum_{\langle ij\rangle}s_is_j - h\sum_is_i`, and :class:`~skphys.lattice.Phi4`
    data (:math:`T = 1`) give ``nn`` :math:`= 2`, ``x2`` :math:`= 2d + m^2`,
    ``x4`` :math:`= \lambda`:

    * ``"nn"``: :math:`-\sum_{\langle ij\rangle}x_ix_j`, nearest neighbours (periodic), each
      pair once;
    * ``"nnn"``: :math:`-\sum_{\langle\langle ij\rangle\rangle}x_ix_j`, next-nearest
      neighbours (the diagonals; in 1-D the sites two apart);
    * ``"field"``: :math:`-\sum_i x_i`; ``"x2"``: :math:`\sum_i x_i^2`; ``"x4"``:
      :math:`\sum_i x_i^4` (real fields only: for spins they are constant).

    Pass a dict ``{name: callable}`` for terms of your own, e.g. the kinetic and potential
    parts of a path integral, ``{"kinetic": K, "potential": U}`` with
    ``K = lambda X: theory.kinetic_term(torch.as_tensor(X)).numpy()``.

    Two kinds of standard error:

    * with ``training_data`` (the configurations the estimator was fitted on), the error of
      the whole procedure: the estimator is cloned and refitted on ``n_bootstrap``
      resamples, with replacement, of ``training_data`` (each with its own ``random_state``),
      each refit is regressed on a resample of ``X``, and the standard error is the standard
      deviation of the couplings over the refits. The couplings learned from a finite
      training set scatter by at least the Cramér-Rao bound of the candidate family, so this
      is the error to compare a coupling with. It costs ``n_bootstrap`` fits.
    * without it, the error of the regression alone: heteroscedasticity-consistent (HC3,
      MacKinnon & White 1985; the residuals are the model's own errors, not independent
      noise of one variance) over the configurations ``X`` (assumed independent rows). It
      leaves out the randomness of the training and is smaller: a coupling a few of these
      errors away from zero need not be a real interaction.

    Parameters
    ----------
    hamiltonian : estimator, LatticeTheory or array-like of shape (n_samples,)
        A fitted density estimator (its ``score_samples`` gives :math:`H = -T\ln q`), a
        theory (its ``energy``, e.g. ``ah.as_theory()`` or an exact theory), or the values
        of :math:`H` on the rows of ``X``.
    X : array-like of shape (n_samples, n_sites)
        Configurations, rows in row-major site order.
    terms : sequence of str or dict, optional
        Built-in term names, or a dict from names to built-in names or callables of ``X``
        returning one value per row. Default: ``("nn", "nnn", "field")`` for spins (all
        entries +-1), ``("nn", "nnn", "field", "x2", "x4")`` otherwise.
    lattice_shape : tuple of int, optional
        The lattice. Default: the estimator's ``lattice_shape_`` or the theory's ``shape``.
    temperature : float, optional
        :math:`T` in :math:`H = -T\ln q` for an estimator; default 1 (the couplings of the
        action :math:`-\ln q`, i.e. :math:`\beta J`).
    training_data : array-like of shape (n_train, n_sites), optional
        The training configurations of the estimator ``hamiltonian``; given, the standard
        errors are bootstrap errors of training and regression together (see above).
    n_bootstrap : int, default=10
        Refits for the bootstrap errors (with ``training_data``).
    n_jobs : int, optional
        Refits run in parallel (joblib; ``None``: one at a time, ``-1``: all cores).
    random_state : int, RandomState instance or None, default=None
        Seeds the resamples and the refits' ``random_state``.

    Returns
    -------
    pandas.DataFrame
        One row per term (index ``term``), then ``"constant"`` (:math:`H_0`); columns
        ``coupling``, ``std_error`` and ``z`` (the coupling in standard errors). ``attrs``
        holds ``r2`` (the fraction of the variance of :math:`H` the terms explain),
        ``residual_std``, ``n_samples`` and ``std_error`` (``"bootstrap"`` or
        ``"regression"``).

    Raises
    ------
    ValueError
        When the terms are linearly dependent on ``X`` (e.g. ``x2`` for spins), or shapes
        do not match.
    TypeError
        When ``training_data`` is given but ``hamiltonian`` is not an estimator.

    Examples
    --------
    The exact Ising energy has ``J = 1`` and nothing else:

    >>> import numpy as np
    >>> from skphys import learned_couplings
    >>> from skphys.lattice import Ising
    >>> X = np.random.default_rng(0).choice([-1.0, 1.0], size=(200, 16))
    >>> table = learned_couplings(Ising((4, 4), temperature=2.5), X)
    >>> table["coupling"].round(6).tolist()
    [1.0, 0.0, 0.0, 0.0]
    """
    X = check_array(X, dtype=np.float64, input_name="X")
    shape = _resolve_shape(hamiltonian, lattice_shape, X.shape[1])
    names, A = _design(X, shape, terms)
    n, p = A.shape
    if n <= p:
        raise ValueError(f"learned_couplings needs more configurations ({n}) than "
                         f"coefficients ({p})")
    scale = np.abs(A).max(0)
    scale[scale == 0] = 1.0
    As = A / scale
    if np.linalg.matrix_rank(As) < p:
        raise ValueError(f"the terms {names} and a constant are linearly dependent on X (for "
                         f"spins x2 and x4 are constant); drop one")
    y = _hamiltonian_values(hamiltonian, X, temperature)
    coef, se, residual = _regression(As, y)
    coef, se = coef / scale, se / scale
    if training_data is not None:
        se = _bootstrap_errors(hamiltonian, training_data, X, As, temperature, n_bootstrap,
                               n_jobs, random_state) / scale
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, coef / np.where(se > 0, se, 1.0), np.nan)
    order = [*range(1, p), 0]
    table = pd.DataFrame({"coupling": coef[order], "std_error": se[order], "z": z[order]},
                         index=pd.Index([*names, "constant"], name="term"))
    total = float(np.sum((y - y.mean()) ** 2))
    table.attrs.update(r2=1.0 - float(residual @ residual) / total if total > 0 else 1.0,
                       residual_std=float(np.sqrt(residual @ residual / (n - p))), n_samples=n,
                       std_error="regression" if training_data is None else "bootstrap")
    return table


def _regression(As: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares coefficients of ``y`` on the columns of ``As``, their HC3 standard
    errors and the residuals."""
    gram_inv = np.linalg.inv(As.T @ As)
    coef = gram_inv @ (As.T @ y)
    residual = y - As @ coef
    leverage = np.einsum("ij,jk,ik->i", As, gram_inv, As)
    weights = (residual / np.clip(1 - leverage, 1e-12, None)) ** 2
    cov = gram_inv @ (As.T * weights) @ As @ gram_inv
    return coef, np.sqrt(np.clip(np.diag(cov), 0.0, None)), residual


def _bootstrap_errors(estimator, training_data, X: np.ndarray, As: np.ndarray, temperature,
                      n_bootstrap: int, n_jobs, random_state) -> np.ndarray:
    """Standard deviation of the (scaled) coefficients over refits on resampled data."""
    if not hasattr(estimator, "score_samples") or not hasattr(estimator, "get_params"):
        raise TypeError(f"training_data needs hamiltonian to be an estimator to refit, got "
                        f"{type(estimator).__name__}")
    n_bootstrap = check_int("n_bootstrap", n_bootstrap, low=2)
    training_data = check_array(training_data, dtype=np.float64, input_name="training_data")
    if training_data.shape[1] != X.shape[1]:
        raise ValueError(f"training_data has {training_data.shape[1]} columns, X has "
                         f"{X.shape[1]}")
    rng = check_random_state(random_state)
    draws = [(rng.randint(len(training_data), size=len(training_data)),
              rng.randint(len(X), size=len(X)), int(rng.randint(2**31 - 1)))
             for _ in range(n_bootstrap)]
    coefs = Parallel(n_jobs=n_jobs)(
        delayed(_refit_coefficients)(estimator, training_data[rows], X[cols], As[cols],
                                     temperature, seed)
        for rows, cols, seed in draws)
    return np.std(coefs, axis=0, ddof=1)


def _refit_coefficients(estimator, train: np.ndarray, X: np.ndarray, As: np.ndarray,
                        temperature, seed: int) -> np.ndarray:
    model = clone(estimator).set_params(random_state=seed).fit(train)
    return _regression(As, _hamiltonian_values(model, X, temperature))[0]
