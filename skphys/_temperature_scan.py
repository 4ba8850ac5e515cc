"""Scans of a theory parameter: one fitted model per value, tabulated.

:func:`temperature_scan` fits the values independently, in parallel (joblib: local processes,
or a dask cluster through joblib's dask backend); :func:`coupling_scan` continues one flow
from each value to the next (``warm_start``). Both build their rows with :func:`_table_row`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone

from ._constraints import check_int
from .datasets._monte_carlo import _check_temperatures

__all__ = ["temperature_scan", "heat_capacity_peak", "coupling_scan"]

_COLUMNS = ("free_energy", "free_energy_nis", "energy", "entropy", "heat_capacity")


def _at(estimator, parameter: str, value):
    """``estimator`` with its theory's ``parameter`` set to ``value`` (a modified copy of
    the theory, see :meth:`skphys._base.TorchEstimator.set_params`)."""
    return estimator.set_params(**{f"theory__{parameter}": value})


def _table_row(parameter: str, value, estimates: Mapping[str, tuple[float, float]],
               **extra) -> dict:
    """One row of a scan table: ``parameter`` = ``value``, each estimate as ``name`` and
    ``name_err``, then ``extra`` columns."""
    row = {parameter: value}
    for name, (mean, error) in estimates.items():
        row[name] = mean
        row[name + "_err"] = error
    row.update(extra)
    return row


def _fit_at(estimator, temperature: float, X, n_samples: int) -> dict:
    model = _at(clone(estimator), "temperature", temperature)
    model.fit(X)
    result = model.free_energy(n_samples)  # per site, as the table
    estimates = {name: (result[name], result[name + "_err"]) for name in _COLUMNS}
    return _table_row("temperature", temperature, estimates, ess=result["ess"],
                      n_iter=model.n_iter_)


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


def coupling_scan(estimator, parameter: str, values, *, observables=None,
                  n_samples: int = 8192, warm_start: bool = True,
                  continue_iter: int | None = None) -> pd.DataFrame:
    r"""Fit a sampler along a line of couplings, each fit continuing from the previous one.

    A clone of ``estimator`` is fitted at the first value of the theory parameter
    ``parameter`` (``set_params(theory__<parameter>=value)``); at every next value the same
    model is fitted again with ``warm_start=True``, starting from the parameters fitted at
    the value before (the flow analogue of annealing: a sampler of a nearby theory is a far
    better start than the identity). After each fit :meth:`~skphys.FlowSampler.diagnose`
    (ESS/N, :math:`\ln Z`) and :meth:`~skphys.FlowSampler.estimate` of each observable run
    on fresh samples; their warnings (unreliable weights) pass through.

    Parameters
    ----------
    estimator : FlowSampler, RGFlow or AutoregressiveHamiltonian
        Unfitted template with a ``theory``, trained from it (``fit()``); its other
        parameters (``random_state`` included) are used at every value, its ``max_iter`` for
        the first fit.
    parameter : str
        A parameter of the theory, e.g. ``"lam"`` or ``"m2"`` of
        :class:`~skphys.lattice.Phi4`, or ``"temperature"``.
    values : array_like of shape (n_values,)
        The values, in the order the fits visit them (start where the sampler trains
        easily, e.g. far from a critical point, and move towards the hard end).
    observables : dict of str to callable, optional
        Observables to estimate at every value, by name; each maps configurations
        ``(n, n_features)`` (numpy) to values ``(n,)`` (see
        :meth:`~skphys.FlowSampler.estimate`, ``method="mh"``).
    n_samples : int, default=8192
        Fresh samples of the diagnostics and of each estimate.
    warm_start : bool, default=True
        Continue each fit from the previous one; False fits every value afresh (a clone of
        ``estimator``), the baseline a continued scan is measured against.
    continue_iter : int, optional
        Optimizer steps of each continued fit (default: ``estimator.max_iter``).

    Returns
    -------
    pandas.DataFrame
        One row per value, in the order of ``values``: ``parameter``; ``ess`` (ESS/N) and
        ``log_z`` (:math:`\ln Z` of the theory from the importance weights), each with its
        ``_err``; one column and its ``_err`` per observable; ``n_iter`` (the steps of this
        fit) and ``cpu_seconds`` (process CPU time of this fit, diagnostics excluded).

    See Also
    --------
    temperature_scan : independent fits over temperatures, in parallel.

    Examples
    --------
    >>> from skphys import CouplingFlow, FlowSampler, coupling_scan
    >>> from skphys.lattice import Phi4
    >>> template = FlowSampler(Phi4((4, 4), m2=-4.0, lam=8.0), max_iter=20,
    ...                        flow=CouplingFlow(n_layers=2, hidden_channels=4), random_state=0)
    >>> scan = coupling_scan(template, "lam", [8.0, 7.0], n_samples=256,
    ...                      observables={"phi2": lambda x: (x**2).mean(1)})
    >>> list(scan.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['lam', 'ess', 'ess_err', 'log_z', 'log_z_err', 'phi2', 'phi2_err', 'n_iter',
     'cpu_seconds']
    """
    theory = getattr(estimator, "theory", None)
    if theory is None or not hasattr(estimator, "diagnose"):
        raise ValueError("estimator must be a sampler with a theory (FlowSampler, RGFlow or "
                         "AutoregressiveHamiltonian)")
    if not isinstance(parameter, str) or parameter not in theory.get_params():
        raise ValueError(f"parameter must be one of the parameters of {type(theory).__name__}, "
                         f"{sorted(theory.get_params())}; got {parameter!r}")
    values = list(values)
    if not values:
        raise ValueError("values must hold at least one value")
    check_int("n_samples", n_samples, 2)
    if not isinstance(warm_start, (bool, np.bool_)):
        raise TypeError(f"warm_start must be a bool, got {warm_start!r}")
    if continue_iter is not None:
        check_int("continue_iter", continue_iter, 1)
    observables = dict(observables or {})
    for name, function in observables.items():
        if not isinstance(name, str) or not callable(function):
            raise TypeError(f"observables must map names (str) to callables, got "
                            f"{name!r}: {function!r}")
    rows = []
    model = None
    for value in values:
        if model is None or not warm_start:
            model = _at(clone(estimator), parameter, value).set_params(warm_start=False)
        else:
            model = _at(model, parameter, value).set_params(warm_start=True)
            if continue_iter is not None:
                model.set_params(max_iter=continue_iter)
        before = (getattr(model, "n_iter_", 0), getattr(model, "lattice_shape_", None))
        cpu = time.process_time()
        model.fit()
        cpu = time.process_time() - cpu
        # a warm start counts on; on a new lattice (size transfer) the count starts over
        continued = model.warm_start and before[1] == model.lattice_shape_
        steps = model.n_iter_ - before[0] if continued else model.n_iter_
        rows.append(_scan_row(model, parameter, value, observables, n_samples,
                              n_iter=steps, cpu_seconds=cpu))
    return pd.DataFrame(rows)


def _scan_row(model, parameter: str, value, observables: Mapping[str, Callable],
              n_samples: int, **extra) -> dict:
    """The diagnostics and observables of a fitted sampler as a row of a scan table."""
    result = model.diagnose(n_samples)
    estimates = {"ess": (result["ess"], result["ess_err"]),
                 "log_z": (result["log_z"], result["log_z_err"])}
    for name, function in observables.items():
        estimates[name] = model.estimate(function, n_samples)
    return _table_row(parameter, value, estimates, **extra)
