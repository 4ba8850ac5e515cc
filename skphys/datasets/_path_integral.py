"""Paths of 0+1D quantum mechanics (:class:`~skphys.lattice.PathIntegral`) sampled by HMC."""

from __future__ import annotations

import functools

import numpy as np
import torch
from sklearn.utils import check_random_state

from .._constraints import check_int
from .._torch_utils import seed_from
from ..lattice import PathIntegral
from ..lattice.mcmc import hmc
from ._monte_carlo import _cached, _frozen_step_size, _sample_decorrelated

__all__ = ["make_path_integral"]

_TRAJECTORY_LENGTH = 2.0


def make_path_integral(n_sites, beta, n_samples, potential="double_well", random_state=None,
                       *, omega=1.0, lam=4.0, v=1.4, cache_dir=None):
    r"""Euclidean paths of a particle in a potential at inverse temperature ``beta``.

    Samples of :class:`skphys.lattice.PathIntegral` (periodic imaginary time, ``n_sites``
    slices, :math:`a = \beta/N`) by HMC on 8 chains: trajectories of length 2, the step size
    tuned in burn-in and then frozen, samples kept every ``ceil(2 tau_int)`` trajectories
    (tau_int of :math:`|\bar x|` and of the action, measured on a pilot run), as
    :func:`make_phi4` does. For the symmetric potentials (harmonic, double well) each path is
    then multiplied by an independent random sign, an exact symmetry of the action, so the
    two wells are equally populated whatever the chains did.

    Parameters
    ----------
    n_sites : int
        Number of time slices :math:`N`.
    beta : float
        Inverse temperature :math:`\beta`.
    n_samples : int
        Number of paths.
    potential : {"double_well", "harmonic"} or callable, default="double_well"
        The potential, as in :class:`~skphys.lattice.PathIntegral`.
    random_state : int, RandomState instance or None
        Seeds the sampler's own generator; the global RNGs are not used.
    omega, lam, v : float
        Parameters of the potential, as in :class:`~skphys.lattice.PathIntegral`.
    cache_dir : str or path-like, optional
        On-disk cache, as in :func:`make_ising` (not for a callable potential).

    Returns
    -------
    X : ndarray of shape (n_samples, n_sites)
        Positions :math:`x_0, \dots, x_{N-1}` of each path.

    Notes
    -----
    **Tunnelling.** In the double well the path sits in one well and crosses the barrier
    only through kink-antikink pairs, whose weight falls like :math:`e^{-S_\text{kink}}` per
    pair while their number grows with :math:`\beta`; HMC moves between sectors of different
    kink numbers slowly, and more slowly at large :math:`\beta` or small :math:`a`. The
    spacing of the samples follows tau_int of :math:`|\bar x|`, which sees the kinks, but a
    pilot run of 200 trajectories cannot measure an autocorrelation far longer than itself
    (a warning then says so). At large :math:`\beta` compare with the exact transfer-matrix
    values of :mod:`skphys.lattice.exact`, not with a chain.

    See Also
    --------
    skphys.lattice.exact.path_integral_correlator : the exact :math:`\langle x_0 x_t\rangle`.

    Examples
    --------
    >>> from skphys.datasets import make_path_integral
    >>> X = make_path_integral(16, beta=2.0, n_samples=6, random_state=0)
    >>> X.shape
    (6, 16)
    """
    theory = PathIntegral(n_sites, beta, potential, omega=omega, lam=lam, v=v)
    n_samples = check_int("n_samples", n_samples, 1)
    sampler = functools.partial(hmc, trajectory_length=_TRAJECTORY_LENGTH)

    def compute():
        rng = check_random_state(random_state)
        generator = torch.Generator().manual_seed(seed_from(rng))
        X = _sample_decorrelated(theory, n_samples, generator, sampler=sampler,
                                 freeze=_frozen_step_size)
        if theory.has_sign_symmetry:
            X = X * rng.choice([-1.0, 1.0], size=(len(X), 1))
        return (X,)

    if callable(potential):
        return compute()[0]
    params = {"n_sites": theory.n_sites, "beta": theory.beta, "potential": theory.potential,
              "omega": theory.omega, "lam": theory.lam, "v": theory.v, "n_samples": n_samples}
    (X,) = _cached("path_integral", params, random_state, cache_dir, compute)
    return np.asarray(X)
