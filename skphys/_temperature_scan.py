"""Thermodynamics across temperatures: one fitted model per temperature, in parallel (joblib:
local processes, or a dask cluster through joblib's dask backend)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone

from ._constraints import check_int
from .datasets._monte_carlo import _check_temperatures

__all__ = ["temperature_scan", "heat_capacity_peak"]

_COLUMNS = ("free_energy", "free_energy_nis", "energy", "entropy", "heat_capacity")


def _fit_at(estimator, temperature: float, X, n_samples: int) -> dict:
    model = clone(estimator).set_params(theory__temperature=temperature)
    model.fit(X)
    result = model.free_energy(n_samples)  # per site, as the table
    row = {"temperature": temperature}
    for name in _COLUMNS:
        row[name] = result[name]
        row[name + "_err"] = result[name + "_err"]
    row["ess"] = result["ess"]
    row["n_iter"] = model.n_iter_
    return row


def temperature_scan(estimator, temperatures, X=None, X_temperatures=None, *,
                     n_samples: int = 4096, n_jobs: int | None = None) -> pd.DataFrame:
    r"""Fit one model per temperature and tabulate its thermodynamics per site.

    For every temperature :math:`T` a clone of ``estimator`` gets the theory at :math:`T`
    (``set_params(theory__temperature=T)``) and is fitted, by VAN (``X=None``) or by maximum
    likelihood on the rows of ``X`` taken at :math:`T`; its
    :meth:`~skphys.AutoregressiveHamiltonian.free_energy` on ``n_samples`` fresh samples then
    gives the variational and importance-sampled free energies, and the reweighted energy,
    entropy and heat capacity per site: estimates of the theory's values, not of the model's.

    Parameters
    ----------
    estimator : AutoregressiveHamiltonian
        Unfitted template with a ``theory`` (``Ising`` or ``XY``); its other parameters
        (including ``random_state``) are used at every temperature.
    temperatures : array_like of shape (n_temperatures,)
    X : array_like of shape (n_rows, n_sites), optional
        Configurations to fit by maximum likelihood (e.g. from
        :func:`skphys.datasets.make_ising`); default: VAN training on the theory.
    X_temperatures : array_like of shape (n_rows,), optional
        The temperature of each row of ``X``; needed with ``X``. Every entry of
        ``temperatures`` must have rows.
    n_samples : int, default=4096
        Fresh model samples for the estimates at each temperature.
    n_jobs : int, optional
        Temperatures fitted in parallel (joblib; ``None``: one at a time, ``-1``: all cores).
        Under ``joblib.parallel_config(backend="dask")`` each temperature is a task on the
        workers of a ``dask.distributed`` cluster (``None``: all of them); the table is the
        same as a local run's on the same kind of device, since every fit is seeded from
        ``random_state`` alone (:doc:`/scaling`).

    Returns
    -------
    pandas.DataFrame
        One row per temperature, sorted: ``temperature``; per site, with ``_err`` columns:
        ``free_energy`` (variational, :math:`F_q/N`), ``free_energy_nis``, ``energy``,
        ``entropy``, ``heat_capacity``; ``ess`` (ESS/N) and ``n_iter``.

    See Also
    --------
    heat_capacity_peak : the temperature of the maximum of ``heat_capacity``.

    Examples
    --------
    >>> from skphys import AutoregressiveHamiltonian, PixelCNN, temperature_scan
    >>> from skphys.lattice import Ising
    >>> template = AutoregressiveHamiltonian(Ising((3, 3), 2.0), max_iter=30,
    ...                                      network=PixelCNN(hidden_channels=8), random_state=0)
    >>> scan = temperature_scan(template, [1.5, 3.0], n_samples=500)
    >>> scan[["temperature", "heat_capacity"]].shape
    (2, 2)
    """
    t = np.sort(_check_temperatures(temperatures))
    theory = getattr(estimator, "theory", None)
    if theory is None or not hasattr(theory, "temperature"):
        raise ValueError("estimator must have a theory with a temperature (Ising or XY)")
    check_int("n_samples", n_samples, 20)
    data: Sequence[np.ndarray | None]
    if X is None:
        if X_temperatures is not None:
            raise ValueError("X_temperatures needs X")
        data = [None] * len(t)
    else:
        if X_temperatures is None:
            raise ValueError("X needs X_temperatures, the temperature of each row")
        X = np.asarray(X)
        rows_t = np.asarray(X_temperatures, dtype=np.float64)
        if rows_t.shape != (len(X),):
            raise ValueError(
                f"X_temperatures must have shape ({len(X)},), got {rows_t.shape}"
            )
        subsets = [X[np.isclose(rows_t, temperature)] for temperature in t]
        missing = [float(temperature) for temperature, d in zip(t, subsets) if len(d) == 0]
        if missing:
            raise ValueError(f"X has no rows at the temperatures {missing}")
        data = subsets
    rows = Parallel(n_jobs=n_jobs)(
        delayed(_fit_at)(estimator, float(temperature), d, n_samples)
        for temperature, d in zip(t, data)
    )
    return pd.DataFrame(rows)


def heat_capacity_peak(scan: pd.DataFrame) -> tuple[float, float]:
    """Temperature and height of the heat-capacity maximum of a :func:`temperature_scan`.

    The vertex of the parabola through the largest ``heat_capacity`` and its two neighbours
    on the temperature grid (the grid maximum itself when it lies at an end of the grid).

    Parameters
    ----------
    scan : pandas.DataFrame
        With columns ``temperature`` and ``heat_capacity``, at least 3 rows.

    Returns
    -------
    (temperature, heat_capacity) : tuple of float

    Examples
    --------
    >>> import pandas as pd
    >>> from skphys import heat_capacity_peak
    >>> scan = pd.DataFrame({"temperature": [1.0, 2.0, 3.0], "heat_capacity": [0.0, 1.0, 0.5]})
    >>> t_peak, c_peak = heat_capacity_peak(scan)
    >>> round(t_peak, 4), round(c_peak, 4)
    (2.1667, 1.0208)
    """
    if not isinstance(scan, pd.DataFrame) or not {"temperature", "heat_capacity"} <= set(
        scan.columns
    ):
        raise TypeError("scan must be a DataFrame with columns temperature and heat_capacity")
    scan = scan.sort_values("temperature")
    t = scan["temperature"].to_numpy(np.float64)
    c = scan["heat_capacity"].to_numpy(np.float64)
    if len(t) < 3 or not np.all(np.isfinite(c)):
        raise ValueError("scan needs at least 3 rows with finite heat capacities")
    k = int(np.argmax(c))
    if k in (0, len(t) - 1):
        return float(t[k]), float(c[k])
    a, b, c0 = np.polyfit(t[k - 1:k + 2], c[k - 1:k + 2], 2)
    t_peak = -b / (2 * a)
    return float(t_peak), float(c0 - b**2 / (4 * a))
