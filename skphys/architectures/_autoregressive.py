"""Architecture objects of :class:`~skphys.AutoregressiveHamiltonian`: the masked network and
the per-site conditionals of its autoregressive model.

Each object holds the settings; calling it (:meth:`build`) returns a new
:class:`~skphys.autoregressive.AutoregressiveModel` (pure PyTorch). The class is the switch:
:class:`PixelCNN` (masked convolutions, 1-D and 2-D lattices) or :class:`MADE` (a masked dense
network, any lattice).
"""

from __future__ import annotations

import math
from typing import ClassVar

from .._constraints import MAX_LAYERS, Boolean, Constraint, Integer, Optional
from .._docstrings import fill_doc
from .._parameter_object import Architecture
from ..autoregressive import (
    AutoregressiveModel,
    Bernoulli,
    BetaMixture,
    MADENetwork,
    NormalMixture,
    PixelCNNNetwork,
)
from ..autoregressive._model import SiteNetwork
from ..lattice._theory import check_shape

__all__ = ["PixelCNN", "MADE"]

_DOFS = ("spin", "angle", "real")

# the parameters both architectures share, documented once
_SHARED_PARAMETERS = """\
residual : bool, default=True
        Residual connections between the hidden layers.
    n_components : int, default=4
        Components per conditional of an angle (mixtures of Beta laws on ``theta / 2 pi``)
        or of a real field (mixtures of normal laws,
        :class:`~skphys.autoregressive.NormalMixture`); unused for spins (Bernoulli
        conditionals).
    z2_mixture : bool or None, default=None
        Symmetrize the density over the flip ``s -> -s`` (``theta -> -theta`` for angles,
        ``x -> -x`` for real fields),
        ``q(x) = [q(x) + q(-x)] / 2``. None lets the estimator decide: on whenever its
        ``theory`` declares that symmetry (Ising, XY, Phi4, FreeScalar): in VAN training,
        where it stops the model from collapsing onto one of the symmetric phases, and in
        ``fit(X)`` with a theory, whose learned action then has the symmetry exactly (a
        flow trained on ``as_theory()`` is then equivariant); off for ``fit(X)`` without a
        theory, whose data decide. :meth:`build` called with None: off.
    rotation_symmetric : bool or None, default=None
        Angles only: make the model exactly invariant under global rotations
        ``theta -> theta + c`` (the U(1) symmetry of the XY model) by drawing the first angle
        uniformly and modelling the others relative to it (see
        :class:`~skphys.autoregressive.AutoregressiveModel`). None lets the estimator decide:
        on for VAN training with an angle theory (XY), off for ``fit(X)``. :meth:`build`
        called with None: off."""

_BUILD_DOC = """Build a new autoregressive model (parameters initialized by PyTorch's default).

        Parameters
        ----------
        lattice_shape : tuple of int
            Lattice extents (each >= 2); sites in row-major order.
        dof : {"spin", "angle", "real"}, default="spin"
            Spins ``+1/-1`` (Bernoulli conditionals), angles in ``[0, 2 pi)`` (Beta
            mixtures) or real values (Gaussian mixtures).
        z2_mixture, rotation_symmetric : bool or None, default=None
            The resolved settings (the estimator passes its ``z2_mixture_`` and
            ``rotation_symmetric_``); None takes this object's own value, and None there
            means off.

        Returns
        -------
        AutoregressiveModel
        """


class _AutoregressiveArchitecture(Architecture):
    """What :class:`PixelCNN` and :class:`MADE` share: the conditional and the model."""

    # the parameters both subclasses set in __init__
    n_layers: int
    hidden_channels: int
    residual: bool
    n_components: int
    z2_mixture: bool | None
    rotation_symmetric: bool | None

    _common_constraints: ClassVar[dict[str, Constraint]] = {
        "n_layers": Integer(1, MAX_LAYERS),
        "hidden_channels": Integer(1),
        "residual": Boolean(),
        "n_components": Integer(1),
        "z2_mixture": Optional(Boolean()),
        "rotation_symmetric": Optional(Boolean()),
    }

    def _check_lattice_shape(self, shape: tuple[int, ...]) -> None:
        """Refuse lattices the network cannot handle (ValueError)."""

    def _network(self, shape: tuple[int, ...], in_channels: int,
                 out_channels: int) -> SiteNetwork:
        raise NotImplementedError

    def build(self, lattice_shape, dof: str = "spin", z2_mixture: bool | None = None,
              rotation_symmetric: bool | None = None) -> AutoregressiveModel:
        self.validate()
        shape = check_shape(lattice_shape)
        if dof not in _DOFS:
            raise ValueError(f"dof must be one of {_DOFS}, got {dof!r}")
        self._check_lattice_shape(shape)
        z2 = self.z2_mixture if z2_mixture is None else z2_mixture
        rotation = self.rotation_symmetric if rotation_symmetric is None else rotation_symmetric
        if rotation and dof != "angle":
            raise ValueError(f"rotation_symmetric=True needs dof='angle', got dof={dof!r}")
        conditional = (Bernoulli() if dof == "spin" else BetaMixture(self.n_components)
                       if dof == "angle" else NormalMixture(self.n_components))
        network = self._network(shape, conditional.n_inputs, conditional.n_params)
        return AutoregressiveModel(math.prod(shape), network, conditional,
                                   z2_mixture=bool(z2), rotation_symmetric=bool(rotation))

    build.__doc__ = _BUILD_DOC


@fill_doc(shared=_SHARED_PARAMETERS)
class PixelCNN(_AutoregressiveArchitecture):
    r"""Masked convolutional network of an autoregressive model on a 1-D or 2-D lattice.

    A ``network`` of :class:`~skphys.AutoregressiveHamiltonian`. The model it builds
    (:class:`~skphys.autoregressive.AutoregressiveModel`) is
    :math:`q(x) = \prod_i q(x_i \mid x_{<i})` in row-major site order, the parameters of each
    conditional coming from a :class:`~skphys.autoregressive.PixelCNNNetwork`: a type-A masked
    convolution that sees every earlier site (by default), ``n_layers - 1`` type-B ``3 x 3``
    masked convolutions and a ``1 x 1`` output layer. Sampling evaluates only a small window
    per site. For lattices of more than two dimensions use :class:`MADE`.

    Parameters
    ----------
    n_layers : int, default=3
        Masked convolutions (1 to 1000).
    hidden_channels : int, default=32
        Channels of the hidden layers.
    half_kernel_size : int or None, default=None
        Half-width of the first (type-A) kernel, from 1 to ``max(shape) - 1``; None:
        ``max(shape) - 1``, which sees every earlier site.
    {shared}

    See Also
    --------
    MADE : the masked dense network, for any lattice.

    Examples
    --------
    >>> from skphys import PixelCNN
    >>> network = PixelCNN(hidden_channels=8)
    >>> model = network.build((4, 4), "spin", z2_mixture=True)
    >>> x, log_q = model.sample(3)
    >>> tuple(x.shape), tuple(log_q.shape)
    ((3, 16), (3,))
    >>> PixelCNN(n_layers=2).build((2, 2, 2))
    Traceback (most recent call last):
    ...
    ValueError: PixelCNN needs a 1-D or 2-D lattice, got (2, 2, 2); use network=MADE()
    """

    _parameter_constraints = {
        **_AutoregressiveArchitecture._common_constraints,
        "half_kernel_size": Optional(Integer(1)),
    }

    def __init__(self, *, n_layers: int = 3, hidden_channels: int = 32,
                 half_kernel_size: int | None = None, residual: bool = True,
                 n_components: int = 4, z2_mixture: bool | None = None,
                 rotation_symmetric: bool | None = None):
        self.n_layers = n_layers
        self.hidden_channels = hidden_channels
        self.half_kernel_size = half_kernel_size
        self.residual = residual
        self.n_components = n_components
        self.z2_mixture = z2_mixture
        self.rotation_symmetric = rotation_symmetric

    def _check_lattice_shape(self, shape):
        if len(shape) > 2:
            raise ValueError(f"PixelCNN needs a 1-D or 2-D lattice, got {tuple(shape)}; use "
                             f"network=MADE()")
        widest = max(shape) - 1
        if self.half_kernel_size is not None and self.half_kernel_size > max(widest, 1):
            raise ValueError(
                f"half_kernel_size={self.half_kernel_size} is wider than the lattice "
                f"{tuple(shape)} needs: at most {max(widest, 1)} (max(shape) - 1, which sees "
                f"every earlier site)")

    def _network(self, shape, in_channels, out_channels):
        return PixelCNNNetwork(shape, in_channels, out_channels,
                               hidden_channels=self.hidden_channels, n_layers=self.n_layers,
                               half_kernel_size=self.half_kernel_size, residual=self.residual)


@fill_doc(shared=_SHARED_PARAMETERS)
class MADE(_AutoregressiveArchitecture):
    r"""Masked dense network of an autoregressive model on a lattice of any dimension.

    A ``network`` of :class:`~skphys.AutoregressiveHamiltonian`. The model it builds
    (:class:`~skphys.autoregressive.AutoregressiveModel`) is
    :math:`q(x) = \prod_i q(x_i \mid x_{<i})` in row-major site order, the parameters of each
    conditional coming from a :class:`~skphys.autoregressive.MADENetwork` (Germain et al.
    2015): dense layers whose masks let the output at site ``i`` see the sites before ``i``
    only. Cheaper than :class:`PixelCNN` on small lattices; its size grows with the square of
    the number of sites.

    Parameters
    ----------
    n_layers : int, default=3
        Hidden layers (1 to 1000).
    hidden_channels : int, default=4
        Hidden units per site (``hidden_channels * n_sites`` per hidden layer).
    {shared}

    See Also
    --------
    PixelCNN : masked convolutions, for 1-D and 2-D lattices.

    Examples
    --------
    >>> from skphys import MADE
    >>> model = MADE(n_layers=2, n_components=3).build((2, 2, 2), "angle")
    >>> x, log_q = model.sample(5)
    >>> tuple(x.shape), bool((x >= 0).all() and (x < 6.2832).all())
    ((5, 8), True)
    """

    _parameter_constraints = _AutoregressiveArchitecture._common_constraints

    def __init__(self, *, n_layers: int = 3, hidden_channels: int = 4, residual: bool = True,
                 n_components: int = 4, z2_mixture: bool | None = None,
                 rotation_symmetric: bool | None = None):
        self.n_layers = n_layers
        self.hidden_channels = hidden_channels
        self.residual = residual
        self.n_components = n_components
        self.z2_mixture = z2_mixture
        self.rotation_symmetric = rotation_symmetric

    def _network(self, shape, in_channels, out_channels):
        return MADENetwork(math.prod(shape), in_channels, out_channels,
                           hidden_channels=self.hidden_channels, n_layers=self.n_layers,
                           residual=self.residual)

