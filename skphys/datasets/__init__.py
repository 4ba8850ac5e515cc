"""Data generators: thermalized Monte Carlo configurations of lattice models, and 1-D
Schrödinger potentials with their ground-state densities.

Configurations are rows of 2-D arrays ``(n_samples, n_sites)`` in row-major site order.
"""

from ._monte_carlo import make_ising, make_ising_dual, make_phi4, make_xy
from ._path_integral import make_path_integral
from ._schrodinger import make_schrodinger_1d, schrodinger_ground_state

__all__ = ["make_ising", "make_ising_dual", "make_xy", "make_phi4", "make_path_integral",
           "make_schrodinger_1d",
           "schrodinger_ground_state"]
