"""Independence Metropolis-Hastings over proposals with importance weights.

Given proposals ``x_i ~ q`` and their log-weights ``log w_i = -S(x_i) - ln q(x_i)``, the chain
moves from ``x`` to the next proposal ``x'`` with probability ``min(1, w(x') / w(x))``: an exact
Markov chain for ``p = exp(-S) / Z`` whatever ``q`` is (conventions §6). Shared by every
sampler with a tractable density (flows, autoregressive models).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .stats import _as_float_array

__all__ = ["IndependenceChain", "independence_metropolis"]


@dataclass
class IndependenceChain:
    """States of an independence Metropolis-Hastings chain, as indices into the proposals.

    Attributes
    ----------
    index : ndarray of int, shape (n,)
        ``index[t]`` is the proposal the chain sits on at time ``t``.
    accepted : ndarray of bool, shape (n,)
        Whether step ``t`` accepted its proposal (step 0 starts the chain: True).

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skphys.lattice.mcmc import independence_metropolis
    >>> log_w = np.log([1.0, 1e-9, 1e-9, 2.0, 1e-9])  # weightless proposals are rejected
    >>> chain = independence_metropolis(log_w, generator=torch.Generator().manual_seed(0))
    >>> chain.index.tolist(), chain.acceptance
    ([0, 0, 0, 3, 3], 0.25)
    """

    index: np.ndarray
    accepted: np.ndarray

    @property
    def acceptance(self) -> float:
        """Fraction of accepted proposals, the starting state excluded."""
        return float(self.accepted[1:].mean()) if len(self.accepted) > 1 else 1.0


def independence_metropolis(log_w, *, generator: torch.Generator | None = None,
                            current_log_w: float | None = None) -> IndependenceChain:
    """Run an independence Metropolis-Hastings chain through proposals with log-weights ``log_w``.

    Parameters
    ----------
    log_w : array_like or Tensor of shape (n,)
        Log importance weights of the proposals, in proposal order. ``-inf`` (zero weight) is
        never accepted; NaN and ``+inf`` are rejected with a ValueError.
    generator : torch.Generator, optional
        Source of the accept/reject uniforms (on the CPU); default a fresh, randomly seeded
        one.
    current_log_w : float, optional
        Log-weight of the state the chain continues from. Without it the chain starts on the
        first proposal (step 0 counts as accepted); with it, proposal 0 is tested too and a
        rejected step keeps index ``-1`` (the previous state).

    Returns
    -------
    IndependenceChain

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice.mcmc import independence_metropolis
    >>> chain = independence_metropolis([0.0, 0.0, 0.0], generator=torch.Generator().manual_seed(0))
    >>> chain.index.tolist(), chain.acceptance
    ([0, 1, 2], 1.0)
    """
    log_w = _as_float_array(log_w, "log_w")
    if log_w.ndim != 1 or log_w.size == 0:
        raise ValueError(f"log_w must be a non-empty 1-D array, got shape {log_w.shape}")
    if np.isnan(log_w).any() or np.isposinf(log_w).any():
        raise ValueError("log_w must not contain NaN or +inf")
    if current_log_w is None and np.isneginf(log_w).all():
        raise ValueError("log_w needs at least one finite value to start the chain from (all "
                         "weights are zero)")
    n = log_w.size
    if generator is None:
        generator = torch.Generator()
        generator.seed()  # non-deterministic; the global RNG is untouched
    uniforms = torch.rand(n, generator=generator, dtype=torch.float64).numpy()
    log_u = np.log(uniforms)
    index = np.empty(n, dtype=np.int64)
    accepted = np.empty(n, dtype=bool)
    if current_log_w is None:
        current, current_w, start = 0, log_w[0], 1
        index[0], accepted[0] = 0, True
    else:
        current, current_w, start = -1, float(current_log_w), 0
    for t in range(start, n):
        if log_u[t] < log_w[t] - current_w:
            current, current_w = t, log_w[t]
            accepted[t] = True
        else:
            accepted[t] = False
        index[t] = current
    return IndependenceChain(index=index, accepted=accepted)
