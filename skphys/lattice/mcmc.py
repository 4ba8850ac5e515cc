"""Reference Monte Carlo samplers, vectorized over many independent chains.

These are the baselines the machine-learned samplers of skphys are compared against:

- :func:`hmc`: hybrid Monte Carlo for any theory with a differentiable action;
- :func:`metropolis`: local checkerboard Metropolis for any theory with a local action;
- :func:`wolff`: Wolff single-cluster updates for the Ising and XY models;
- :func:`leapfrog`: the reversible integrator of :func:`hmc`;
- :func:`independence_metropolis`: an exact chain through proposals with importance weights
  (for samplers with a tractable density: flows, autoregressive models).

All return an :class:`MCMCResult` holding chain-major samples ``(n_chains, n_samples,
n_features)`` with the acceptance, the frozen step size, the cost and the wall time after
burn-in. Randomness comes only from the ``generator`` passed in.

Examples
--------
>>> import torch
>>> from skphys.lattice import XY
>>> from skphys.lattice.mcmc import hmc, wolff
>>> theory = XY((4, 4), temperature=1.0)
>>> g = torch.Generator().manual_seed(0)
>>> a = wolff(theory, 50, n_chains=4, n_burnin=20, generator=g)
>>> b = hmc(theory, 50, n_chains=4, n_burnin=50, generator=g)
>>> a.method, b.method, bool((b.samples >= 0).all())
('wolff', 'hmc', True)
"""

from ._hmc import hmc, leapfrog
from ._independence import IndependenceChain, independence_metropolis
from ._mcmc_result import MCMCResult
from ._metropolis import metropolis
from ._wolff import wolff

__all__ = [
    "hmc",
    "metropolis",
    "wolff",
    "leapfrog",
    "MCMCResult",
    "independence_metropolis",
    "IndependenceChain",
]
