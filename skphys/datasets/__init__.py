"""Data generators: thermalized Monte Carlo configurations of lattice models.

Configurations are rows of 2-D arrays ``(n_samples, n_sites)`` in row-major site order.
"""

from ._monte_carlo import make_ising, make_phi4, make_xy

__all__ = ["make_ising", "make_xy", "make_phi4"]
