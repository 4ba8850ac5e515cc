r"""Transformers for image data in front of (and behind) :class:`~skphys.RGFlow`.

* :class:`Dequantizer`: uniform dequantization of integer data (pixel intensities), so that a
  continuous density can be fitted to them;
* :func:`bits_per_dim`: a log-likelihood in bits per dimension, the usual figure of merit of
  density models of discrete data;
* :class:`LevelSelector`: the latent columns of chosen RG levels of an
  :class:`~skphys.RGFlow`, by their feature names (e.g. the top levels as features of a
  classifier).

The convention of the likelihood of discrete data. Integer data ``k`` in ``{0, ..., n - 1}``
(``n = n_levels``) are dequantized to ``x = k + u`` with ``u`` uniform in ``[0, 1)``, i.e.
data in ``[0, n)`` with unit bins. For any density ``q`` of ``x``,
``log P(k) = log int_{[0,1)^D} q(k + u) du >= E_u log q(k + u)`` (Jensen), so the NLL of the
dequantized data, ``-log q(k + u)``, averaged over the noise, bounds the NLL of the discrete
data from above. In bits per dimension (``D`` features),

.. math::

    \mathrm{bpd} = \frac{-\log q(x) - D \log w}{D \ln 2},

with ``q`` the density on the scale of ``x`` and ``w`` the width of a bin on that scale:
``w = 1`` for data in ``[0, n)`` (no correction), ``w = 1 / n`` for data rescaled to
``[0, 1)``, whose density is ``n**D`` times larger. Both give the same number, the cost of
coding the integers; a uniform model of ``n`` levels has ``log2(n)`` bits per dimension.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._constraints import Anything, Integer, IntTuple, OneOf, Optional, check_real

__all__ = ["Dequantizer", "LevelSelector", "bits_per_dim"]

_LEVEL = re.compile(r"(?:^|_)z_l(\d+)_")


def bits_per_dim(log_density, n_features: int, *, bin_width: float = 1.0) -> float:
    """Mean negative log-likelihood in bits per dimension of dequantized discrete data.

    ``(-mean(log_density) - n_features * ln(bin_width)) / (n_features * ln 2)`` (see the
    module): ``log_density`` in nats, per row, of data whose bins have width ``bin_width``
    (1 for integers dequantized by :class:`Dequantizer`, ``1 / n_levels`` for data rescaled
    to ``[0, 1)``). It bounds the bits per dimension of the integers from above.

    Parameters
    ----------
    log_density : array-like of shape (n_samples,)
        Log densities in nats, e.g. ``score_samples`` of a density estimator.
    n_features : int
        Dimensions ``D`` of a row.
    bin_width : float, default=1.0
        Width of one quantization bin on the scale of the data.

    Returns
    -------
    float

    Examples
    --------
    A uniform density of 17 levels: 1/17 per unit bin, or 1 on [0, 1) with bins of 1/17.

    >>> import numpy as np
    >>> from skphys.preprocessing import bits_per_dim
    >>> round(bits_per_dim(np.full(3, -64 * np.log(17)), 64), 6), round(float(np.log2(17)), 6)
    (4.087463, 4.087463)
    >>> round(bits_per_dim(np.zeros(3), 64, bin_width=1 / 17), 6)
    4.087463
    """
    n = Integer(1).check("n_features", n_features)
    width = check_real("bin_width", bin_width, 0.0, low_inclusive=False)
    log_density = np.asarray(log_density, dtype=np.float64)
    if log_density.ndim != 1 or not len(log_density):
        raise ValueError(f"log_density must be a non-empty 1-D array, got shape "
                         f"{log_density.shape}")
    return float((-log_density.mean() - n * math.log(width)) / (n * math.log(2.0)))


class Dequantizer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Uniform dequantization: integer data ``k`` in ``{0, ..., n_levels - 1}`` to ``k + u``.

    ``u`` is uniform in ``[0, 1)``, drawn independently for every entry, so the output lies in
    ``[0, n_levels)`` with unit bins and a density fitted to it bounds the likelihood of the
    integers (see :mod:`skphys.preprocessing` and :func:`bits_per_dim`). The map adds noise
    only (no rescaling, Jacobian 1): in a :class:`~sklearn.pipeline.Pipeline` in front of a
    density estimator, ``score_samples`` of the pipeline stays a normalized log density of the
    dequantized data. Pair it with ``RGFlow(flow=MERAFlow(data_range=(0, n_levels)))``, whose
    flow ends with a logit map onto that interval.

    Each call of :meth:`transform` draws fresh noise from ``random_state`` (an int gives the
    same noise for the same input shape on every call, as sklearn's random transformers do).

    Parameters
    ----------
    n_levels : int, optional
        Number of quantization levels; default: the largest value seen by :meth:`fit`
        plus one.
    random_state : int, RandomState instance or None, default=None
        Seed of the noise.

    Attributes
    ----------
    n_levels_ : int
        Number of levels.
    data_range_ : tuple of float
        ``(0, n_levels_)``: the interval of the output.
    n_features_in_ : int
        Number of features.

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.preprocessing import Dequantizer
    >>> X = np.array([[0, 16], [3, 7]])
    >>> deq = Dequantizer(n_levels=17, random_state=0).fit(X)
    >>> Xd = deq.transform(X)
    >>> bool(np.all((Xd >= X) & (Xd < X + 1))), deq.data_range_
    (True, (0.0, 17.0))
    >>> deq.inverse_transform(Xd).tolist()
    [[0, 16], [3, 7]]
    """

    _parameter_constraints = {
        "n_levels": Optional(Integer(2)),
        "random_state": Anything(),
    }

    def __init__(self, n_levels: int | None = None, random_state=None):
        self.n_levels = n_levels
        self.random_state = random_state

    def _integers(self, X, *, reset: bool) -> np.ndarray:
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        if not np.all(np.isfinite(X)) or np.any(X != np.round(X)) or np.any(X < 0):
            raise ValueError("X must hold non-negative integers (quantized data)")
        return X

    def fit(self, X, y=None):
        """Check the data and set ``n_levels_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative integers.
        y : Ignored

        Returns
        -------
        self
        """
        params = {name: c.check(name, getattr(self, name))
                  for name, c in self._parameter_constraints.items()}
        X = self._integers(X, reset=True)
        largest = int(X.max()) if X.size else 0
        n_levels = params["n_levels"] if params["n_levels"] is not None else largest + 1
        if largest >= n_levels:
            raise ValueError(f"X has the value {largest}, beyond n_levels={n_levels} "
                             f"(levels 0 to {n_levels - 1})")
        self.n_levels_ = max(int(n_levels), 2)
        self.data_range_ = (0.0, float(self.n_levels_))
        return self

    def transform(self, X):
        """``X + u``, ``u`` uniform in ``[0, 1)`` per entry.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Integers in ``[0, n_levels_)``.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = self._integers(X, reset=False)
        if X.size and X.max() >= self.n_levels_:
            raise ValueError(f"X has the value {int(X.max())}, beyond the fitted "
                             f"n_levels_={self.n_levels_}")
        return X + check_random_state(self.random_state).random_sample(X.shape)

    def inverse_transform(self, X):
        """The integers back: ``floor(X)`` clipped to ``[0, n_levels_ - 1]`` (e.g. of model
        samples).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of int of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return np.clip(np.floor(X), 0, self.n_levels_ - 1).astype(np.int64)


class LevelSelector(TransformerMixin, BaseEstimator):
    """The latent columns of chosen RG levels, by their :class:`~skphys.RGFlow` feature names.

    The names ``z_l{level}_...`` of :meth:`RGFlow.get_feature_names_out` carry the level of
    each latent; this transformer keeps the columns of ``levels``. It reads the names of the
    columns it is fitted on, so the RGFlow step in front of it must output a DataFrame: call
    ``set_output(transform="pandas")`` on it or on the pipeline.

    Parameters
    ----------
    levels : int or tuple of int, default=-1
        Levels to keep; negative values count from the top, as Python indices do (``-1``
        the top, coarsest level, ``(-2, -1)`` the top two).

    Attributes
    ----------
    levels_ : ndarray of int
        The levels kept, resolved to non-negative values.
    support_ : ndarray of bool of shape (n_features,)
        Which input columns are kept.
    feature_names_in_ : ndarray of str
    n_features_in_ : int

    Examples
    --------
    >>> import pandas as pd
    >>> from skphys.preprocessing import LevelSelector
    >>> Z = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["z_l1_r0_c0", "z_l0_r0_c1", "z_l0_r1_c0"])
    >>> LevelSelector().fit_transform(Z).columns.tolist()
    ['z_l1_r0_c0']
    >>> LevelSelector(levels=0).fit(Z).get_feature_names_out().tolist()
    ['z_l0_r0_c1', 'z_l0_r1_c0']
    """

    _parameter_constraints = {
        "levels": OneOf(Integer(), IntTuple(-(2**31)), description="an int or a tuple of ints"),
    }

    def __init__(self, levels: int | Sequence[int] = -1):
        self.levels = levels

    def fit(self, X, y=None):
        """Find the columns of ``levels`` from the feature names of ``X``.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features)
            Latents with RGFlow's feature names.
        y : Ignored

        Returns
        -------
        self
        """
        requested = self.levels
        if isinstance(requested, (list, np.ndarray)):
            requested = tuple(requested)
        requested = self._parameter_constraints["levels"].check("levels", requested)
        validate_data(self, X, reset=True)
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            raise ValueError(
                "LevelSelector needs the feature names of RGFlow latents (z_l{level}_...): "
                "call set_output(transform='pandas') on the RGFlow step or the pipeline"
            )
        matches = [_LEVEL.search(str(name)) for name in names]
        if not all(matches):
            bad = next(str(n) for n, m in zip(names, matches) if m is None)
            raise ValueError(f"feature {bad!r} has no RG level: LevelSelector expects the "
                             f"latent names of RGFlow, z_l{{level}}_...")
        column_levels = np.array([int(m.group(1)) for m in matches if m is not None])
        present = np.unique(column_levels)
        wanted = (requested,) if isinstance(requested, int) else tuple(requested)
        resolved = []
        for level in wanted:
            if not -len(present) <= level <= present.max():
                raise ValueError(f"levels has {level}, but the latents have levels "
                                 f"{present.tolist()}")
            resolved.append(int(present[level]) if level < 0 else int(level))
        self.levels_ = np.unique(resolved)
        self.support_ = np.isin(column_levels, self.levels_)
        return self

    def transform(self, X):
        """The columns of the chosen levels.

        Parameters
        ----------
        X : DataFrame or array of shape (n_samples, n_features)

        Returns
        -------
        DataFrame or ndarray of shape (n_samples, n_selected)
        """
        check_is_fitted(self)
        validate_data(self, X, reset=False, skip_check_array=True)
        if hasattr(X, "iloc"):
            return X.iloc[:, self.support_]
        return np.asarray(X)[:, self.support_]

    def get_feature_names_out(self, input_features=None):
        """Names of the kept columns.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self)
        return np.asarray(self.feature_names_in_, dtype=object)[self.support_]
