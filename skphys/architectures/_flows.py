"""Architecture objects of the flow estimators.

:class:`CouplingFlow` and :class:`ContinuousFlow` are the ``flow`` of
:class:`~skphys.FlowSampler`; :class:`MERAFlow`, with its block bijector
:class:`CouplingBlock` or :class:`ODEBlock`, is the ``flow`` of :class:`~skphys.RGFlow`.
Each stores its parameters, checks them (``_parameter_constraints``) and builds a
:class:`skphys.flows.LatticeFlow` with the pure-PyTorch builders of :mod:`skphys.flows`.
"""

from __future__ import annotations

from .._constraints import (
    MAX_LAYERS,
    Boolean,
    Constraint,
    Instance,
    Integer,
    IntegerWith,
    IntTuple,
    OneOf,
    Optional,
    Options,
    Real,
)
from .._parameter_object import Architecture
from ..flows._blocks import block_coupling, block_ode
from ..flows._continuous import _FIXED_STEP_ORDERS
from ..flows._dequantization import AffineMap, LogitMap
from ..flows._mera import level_depths, max_levels
from ..flows._model import (
    _ACTIVATIONS,
    _ODD_ACTIVATIONS,
    _PRIORS,
    LatticeFlow,
    continuous_flow,
    coupling_flow,
    mera_flow,
)

__all__ = ["CouplingFlow", "ContinuousFlow", "MERAFlow", "CouplingBlock", "ODEBlock"]

#: torchdiffeq solvers the continuous flow accepts: fixed-step ones (with the step control of
#: :class:`skphys.flows.ContinuousBijector`) and adaptive ones
_ODE_METHODS = (*_FIXED_STEP_ORDERS, "dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")


def sign_symmetric(theory) -> bool:
    """Whether ``theory`` declares the sign symmetry ``phi -> -phi`` (False without one).

    The one place the flows read the theory's symmetry: ``z2_equivariant=None`` follows it.
    """
    return theory is not None and bool(theory.has_sign_symmetry)


class _FlowArchitecture(Architecture):
    """What the flow estimators ask of their ``flow``: checks against the theory and the
    lattice, and ``build(shape, channels, theory)``."""

    def _check_theory(self, theory, prefix: str = "") -> None:
        """Refuse a combination of these parameters with ``theory`` (ValueError naming
        ``prefix + parameter``): an equivariant flow has a density symmetric under
        ``phi -> -phi`` and cannot fit a theory that lacks the symmetry."""
        if (getattr(self, "z2_equivariant", None) is True and theory is not None
                and not sign_symmetric(theory)):
            raise ValueError(
                f"{prefix}z2_equivariant=True makes the flow's density symmetric under "
                f"phi -> -phi, but {type(theory).__name__} declares no such symmetry "
                f"(internal_symmetries={tuple(theory.internal_symmetries)}): use "
                f"{prefix}z2_equivariant=None or False"
            )

    def _check_lattice(self, shape: tuple[int, ...], prefix: str = "") -> None:
        """Refuse lattice shapes this flow cannot handle (ValueError)."""

    def build(self, shape, channels: int = 1, theory=None) -> LatticeFlow:
        """The flow on a lattice of ``shape`` with ``channels`` real components per site.

        Parameters
        ----------
        shape : tuple of int
            Lattice extents.
        channels : int, default=1
            Real components per site (2 for a complex field).
        theory : LatticeTheory, optional
            The target; its declared symmetry decides ``z2_equivariant=None``.

        Returns
        -------
        skphys.flows.LatticeFlow
        """
        params = self.validate()
        self._check_theory(theory)
        self._check_lattice(tuple(shape))
        return self._flow(tuple(shape), channels, theory, params)

    def _flow(self, shape: tuple[int, ...], channels: int, theory, params: dict) -> LatticeFlow:
        raise NotImplementedError


# -- FlowSampler ------------------------------------------------------------------------------
class CouplingFlow(_FlowArchitecture):
    """Affine-coupling flow on a periodic lattice: the default ``flow`` of FlowSampler.

    A stack of affine couplings with alternating checkerboard masks: each freezes one colour
    of the lattice and scales and shifts the other with a periodic convolutional network of
    the frozen field (:class:`skphys.flows.AffineCoupling`), optionally after a learnable
    Gaussian layer diagonal in momentum space (:class:`skphys.flows.FourierGaussian`).

    Parameters
    ----------
    n_layers : int, default=6
        Coupling layers (at most 1000).
    hidden_channels : int or tuple of int, default=(16, 16)
        Hidden channels of each coupling network, one entry per hidden convolution.
    kernel_size : int, default=3
        Convolution kernel size (odd); its periodic padding, ``kernel_size // 2``, must not
        exceed the smallest lattice extent.
    activation : {"tanh", "leaky_relu", "silu"}, default="tanh"
        Activation between convolutions; a Z2-equivariant flow needs the odd ``"tanh"``.
    final_tanh : bool, default=True
        Bound the coupling networks' outputs with ``tanh``.
    z2_equivariant : bool or None, default=None
        Make every coupling layer commute with ``phi -> -phi``, exactly and at no extra cost:
        the networks are odd (no biases, ``tanh``), giving an odd shift and an even log-scale
        (the product of two odd output channels plus a constant); each layer then starts as
        the identity. None: equivariant when the theory declares the sign symmetry
        (``theory.has_sign_symmetry``), not otherwise, nor without a theory.
    fourier_layer : bool, default=True
        Start with a learnable Gaussian layer diagonal in momentum space (one scale per
        momentum orbit), which carries the long-range Gaussian correlations of the field.
    compile : bool, default=False
        Train with the flow's forward and inverse passes compiled by :func:`torch.compile`
        (an up-front cost, then faster steps; see :ref:`flows-at-scale`). The fitted flow
        is a plain module either way.

    Examples
    --------
    >>> from skphys import CouplingFlow, FlowSampler
    >>> from skphys.lattice import Phi4
    >>> theory = Phi4((4, 4), m2=-4.0, lam=8.0)
    >>> flow = CouplingFlow(n_layers=4, hidden_channels=8)
    >>> module = flow.build(theory.shape, 1, theory)
    >>> layers = module.bijector.bijectors  # the Fourier layer, then the couplings
    >>> len(layers), all(layer.z2_equivariant for layer in layers[1:])
    (5, True)
    >>> FlowSampler(theory, flow=flow).get_params()["flow__n_layers"]
    4
    """

    _parameter_constraints = {
        "n_layers": Integer(1, MAX_LAYERS),
        "hidden_channels": IntTuple(1, allow_int=True),
        "kernel_size": IntegerWith(1, lambda n: n % 2 == 1, "an odd int >= 1"),
        "activation": Options(*_ACTIVATIONS),
        "final_tanh": Boolean(),
        "z2_equivariant": Optional(Boolean()),
        "fourier_layer": Boolean(),
        "compile": Boolean(),
    }

    def __init__(self, *, n_layers: int = 6, hidden_channels=(16, 16), kernel_size: int = 3,
                 activation: str = "tanh", final_tanh: bool = True,
                 z2_equivariant: bool | None = None, fourier_layer: bool = True,
                 compile: bool = False):
        self.n_layers = n_layers
        self.hidden_channels = hidden_channels
        self.kernel_size = kernel_size
        self.activation = activation
        self.final_tanh = final_tanh
        self.z2_equivariant = z2_equivariant
        self.fourier_layer = fourier_layer
        self.compile = compile

    def _check_consistency(self, params) -> None:
        if params["z2_equivariant"] and params["activation"] not in _ODD_ACTIVATIONS:
            raise ValueError(
                f"z2_equivariant=True needs an odd activation, one of {_ODD_ACTIVATIONS}, "
                f"got activation={params['activation']!r}"
            )

    def _equivariant(self, theory) -> bool:
        """``z2_equivariant``, with None resolved by the theory's sign symmetry."""
        if self.z2_equivariant is None:
            return sign_symmetric(theory)
        return bool(self.z2_equivariant)

    def _check_theory(self, theory, prefix: str = "") -> None:
        super()._check_theory(theory, prefix)
        if self._equivariant(theory) and self.activation not in _ODD_ACTIVATIONS:
            raise ValueError(
                f"{prefix}activation={self.activation!r} is not odd, but the flow is "
                f"Z2-equivariant ({prefix}z2_equivariant=None follows the sign symmetry of "
                f"{type(theory).__name__}): use activation='tanh' or "
                f"{prefix}z2_equivariant=False"
            )

    def _check_lattice(self, shape: tuple[int, ...], prefix: str = "") -> None:
        if isinstance(self.kernel_size, int) and self.kernel_size // 2 > min(shape):
            raise ValueError(
                f"{prefix}kernel_size={self.kernel_size} is too large for the lattice "
                f"{tuple(shape)}: its periodic padding ({self.kernel_size // 2} sites) would "
                f"wrap around the smallest extent, {min(shape)}; use {prefix}kernel_size <= "
                f"{2 * min(shape) + 1}"
            )

    def _flow(self, shape, channels, theory, params):
        return coupling_flow(
            shape, channels, n_layers=params["n_layers"],
            hidden_channels=params["hidden_channels"], kernel_size=params["kernel_size"],
            activation=params["activation"], final_tanh=params["final_tanh"],
            z2_equivariant=self._equivariant(theory), fourier_layer=params["fourier_layer"],
        )


class ContinuousFlow(_FlowArchitecture):
    """Equivariant continuous normalizing flow (a neural ODE): a ``flow`` of FlowSampler.

    The field follows ``d phi / dt = v(phi, t)`` from the prior sample at ``t = 0`` to the
    model sample at ``t = 1``; the velocity (:class:`skphys.flows.EquivariantVelocity`) is a
    periodic convolution of odd sine features with weights tied over the lattice symmetries,
    integrated by torchdiffeq (:class:`skphys.flows.ContinuousBijector`). The flow is always
    equivariant under the lattice symmetries and ``phi -> -phi``: for a theory without the
    sign symmetry use :class:`CouplingFlow`.

    Parameters
    ----------
    n_frequencies : int, default=8
        Learnable sine features ``sin(omega_f phi)``.
    n_time_kernels : int, default=5
        Fourier kernels in time.
    ode_method : str, default="rk4"
        torchdiffeq solver: fixed-step ``"rk4"``, ``"euler"``, ``"midpoint"``,
        ``"explicit_adams"``, ``"implicit_adams"``, or adaptive ``"dopri5"``, ``"dopri8"``,
        ``"bosh3"``, ``"fehlberg2"``, ``"adaptive_heun"``.
    ode_steps : int, default=10
        Minimum number of steps (at most 1000) of a fixed-step solver. Training measures the
        solver's error every 50 passes through the ODE and takes more steps where the
        velocity needs them, so that the integrated divergence stays the log-determinant of
        the discrete map (see :class:`skphys.flows.ContinuousBijector`).
    adjoint : bool, default=False
        Adjoint backpropagation through the ODE (memory independent of the steps).
    fourier_layer : bool, default=True
        Start with a learnable Gaussian layer diagonal in momentum space.
    compile : bool, default=False
        Train with the flow's forward and inverse passes compiled by :func:`torch.compile`
        (an up-front cost, then faster steps; see :ref:`flows-at-scale`). The fitted flow
        is a plain module either way.

    Examples
    --------
    >>> from skphys import ContinuousFlow, FlowSampler
    >>> from skphys.lattice import FreeScalar
    >>> flow = ContinuousFlow(n_frequencies=4, ode_steps=4)
    >>> module = flow.build((4, 4), 1)
    >>> x, log_q = module.sample(2)
    >>> tuple(x.shape), tuple(log_q.shape)
    ((2, 16), (2,))
    >>> FlowSampler(FreeScalar((4, 4), m2=1.0), flow=flow).flow
    ContinuousFlow(n_frequencies=4, ode_steps=4)
    """

    _parameter_constraints = {
        "n_frequencies": Integer(1),
        "n_time_kernels": Integer(1),
        "ode_method": Options(*_ODE_METHODS),
        "ode_steps": Integer(1, MAX_LAYERS),
        "adjoint": Boolean(),
        "fourier_layer": Boolean(),
        "compile": Boolean(),
    }

    def __init__(self, *, n_frequencies: int = 8, n_time_kernels: int = 5,
                 ode_method: str = "rk4", ode_steps: int = 10, adjoint: bool = False,
                 fourier_layer: bool = True, compile: bool = False):
        self.n_frequencies = n_frequencies
        self.n_time_kernels = n_time_kernels
        self.ode_method = ode_method
        self.ode_steps = ode_steps
        self.adjoint = adjoint
        self.fourier_layer = fourier_layer
        self.compile = compile

    def _check_theory(self, theory, prefix: str = "") -> None:
        if theory is not None and not sign_symmetric(theory):
            raise ValueError(
                f"flow=ContinuousFlow() is Z2-equivariant by construction (its density is "
                f"symmetric under phi -> -phi), but {type(theory).__name__} declares no such "
                f"symmetry: use flow=CouplingFlow()"
            )

    def _flow(self, shape, channels, theory, params):
        return continuous_flow(
            shape, channels, n_frequencies=params["n_frequencies"],
            n_time_kernels=params["n_time_kernels"], ode_method=params["ode_method"],
            ode_steps=params["ode_steps"], adjoint=params["adjoint"],
            fourier_layer=params["fourier_layer"],
        )


# -- RGFlow -----------------------------------------------------------------------------------
_DATA_MAPS = {"logit": LogitMap, "affine": AffineMap}


class _Interval(Constraint):
    """A pair ``(low, high)`` of finite reals with ``low < high``."""

    def describe(self) -> str:
        return "a pair (low, high) of finite reals with low < high"

    def check(self, name, value):
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise self._type_error(name, value)
        low, high = (Real().check(name, v) for v in value)
        if not low < high:
            raise self._value_error(name, value)
        return (low, high)


class _BlockArchitecture(Architecture):
    """What MERAFlow asks of its ``block``: ``build(channels, block_shape, z2_equivariant=,
    n_positions=)``."""

    def build(self, channels: int, block_shape: tuple[int, ...], *, z2_equivariant: bool,
              n_positions: int = 1):
        """The block bijector on ``(batch, channels, *block_shape)`` fields.

        Parameters
        ----------
        channels : int
            Real components per site.
        block_shape : tuple of int
            Extents of one block, e.g. ``(2, 2)``.
        z2_equivariant : bool
            Odd networks: the block map commutes with ``phi -> -phi``.
        n_positions : int, default=1
            Block positions the map tells apart (rows ``(batch, n_positions)``, the position
            varying fastest); 1: the same map at every position.

        Returns
        -------
        skphys.flows.Bijector
        """
        return self._bijector(channels, tuple(block_shape), z2_equivariant, n_positions,
                              self.validate())

    def _bijector(self, channels: int, block_shape: tuple[int, ...], z2_equivariant: bool,
                  n_positions: int, params: dict):
        raise NotImplementedError


class CouplingBlock(_BlockArchitecture):
    """Affine couplings on one block of a MERAFlow, with MLPs (NeuralRG's RealNVP blocks).

    Parameters
    ----------
    n_layers : int, default=4
        Coupling layers per block bijector (at most 1000); their masks cycle through the
        two checkerboard colours of the block and its two halves
        (:func:`skphys.flows.block_masks`).
    hidden_channels : int or tuple of int, default=(16, 16)
        Hidden widths of each coupling's MLP, one entry per hidden layer.

    Examples
    --------
    >>> import torch
    >>> from skphys import CouplingBlock, MERAFlow
    >>> block = CouplingBlock(n_layers=2, hidden_channels=8)
    >>> bijector = block.build(1, (2, 2), z2_equivariant=True)
    >>> z = torch.randn(3, 1, 2, 2)
    >>> len(bijector.bijectors), torch.equal(bijector(z)[0], z)  # the identity until trained
    (2, True)
    >>> MERAFlow(block=block).get_params()["block__n_layers"]
    2
    """

    _parameter_constraints = {
        "n_layers": Integer(1, MAX_LAYERS),
        "hidden_channels": IntTuple(1, allow_int=True),
    }

    def __init__(self, *, n_layers: int = 4, hidden_channels=(16, 16)):
        self.n_layers = n_layers
        self.hidden_channels = hidden_channels

    def _bijector(self, channels, block_shape, z2_equivariant, n_positions, params):
        return block_coupling(channels, block_shape, n_layers=params["n_layers"],
                              hidden_channels=params["hidden_channels"],
                              z2_equivariant=z2_equivariant, n_positions=n_positions)


class ODEBlock(_BlockArchitecture):
    """A neural ODE on one block of a MERAFlow: an MLP velocity integrated by RK4.

    The divergence is exact (the trace of the block's full Jacobian) and the inverse inverts
    the discrete forward map (:class:`skphys.flows.BlockODE`).

    Parameters
    ----------
    hidden_channels : int or tuple of int, default=(32, 32)
        Hidden widths of the velocity MLP, one entry per hidden layer.
    ode_steps : int, default=4
        Minimum RK4 steps (more where the measured solver error demands them; at most 1000).

    Examples
    --------
    >>> import torch
    >>> from skphys import MERAFlow, ODEBlock
    >>> block = ODEBlock(hidden_channels=8, ode_steps=2)
    >>> bijector = block.build(1, (2, 2), z2_equivariant=False)
    >>> z = torch.randn(3, 1, 2, 2)
    >>> torch.allclose(bijector(z)[0], z)  # zero velocity until trained
    True
    >>> MERAFlow(block=block)
    MERAFlow(block=ODEBlock(hidden_channels=8, ode_steps=2))
    """

    _parameter_constraints = {
        "hidden_channels": IntTuple(1, allow_int=True),
        "ode_steps": Integer(1, MAX_LAYERS),
    }

    def __init__(self, *, hidden_channels=(32, 32), ode_steps: int = 4):
        self.hidden_channels = hidden_channels
        self.ode_steps = ode_steps

    def _bijector(self, channels, block_shape, z2_equivariant, n_positions, params):
        if n_positions > 1:
            raise ValueError(
                "translation_invariant=False needs block=CouplingBlock(...) (biases per block "
                "position); ODEBlock has no parameters per position"
            )
        return block_ode(channels, block_shape, hidden_channels=params["hidden_channels"],
                         z2_equivariant=z2_equivariant, n_steps=params["ode_steps"])


class MERAFlow(_FlowArchitecture):
    """MERA-like hierarchy of block bijectors (NeuralRG): the ``flow`` of RGFlow.

    At RG level ``l`` a disentangler acts on the ``b x b`` blocks of the active sublattice
    (stride ``b**l``) shifted by ``b / 2``, then a decimator on the aligned blocks; one site
    per block moves on to level ``l + 1``, the others become the bulk (latent) variables of
    level ``l`` (:class:`skphys.flows.MERA`). Lattice extents must be powers of two, at least
    ``block_size``.

    Parameters
    ----------
    block_size : int, default=2
        Block extent ``b`` (a power of two).
    n_levels : int, optional
        Number of RG levels; default all (``log_b L``).
    depth : int, tuple of int or None, default=None
        Disentangler-decimator pairs per level (NeuralRG: 1), or one count per level, finest
        first (each at most 1000). None: 4 at the finest level and 1 at each coarser one,
        e.g. ``(4, 1, 1)`` on an ``8 x 8`` lattice. The finest level holds most of the bulk
        variables and where the flow falls short extra depth there tends to pay most (see
        :doc:`/results`).
    block : CouplingBlock or ODEBlock, default=CouplingBlock()
        The block bijector of every disentangler and decimator.
    translation_invariant : bool, default=True
        One block map for all blocks of a level (the RG picture of a homogeneous field).
        False: each coupling network of a :class:`~skphys.CouplingBlock` also learns a bias
        of its first hidden layer per block position, so the map can depend on where its
        block sits, as for images, whose statistics change across the frame (digits are
        centred), at a cost of ``hidden_channels[0]`` parameters per block and network.
        Needs ``block=CouplingBlock(...)`` and a flow that is not Z2-equivariant; such a
        flow cannot be transferred to a lattice of another size.
    prior : {"gaussian", "laplace"}, default="gaussian"
        Distribution of the bulk variables.
    z2_equivariant : bool or None, default=None
        Odd block networks: every block map, hence the whole flow ``G``, commutes with
        ``phi -> -phi``. None: equivariant when the theory declares the sign symmetry
        (``theory.has_sign_symmetry``) and ``z2_mixture`` is False (so, by default, only
        with ``z2_mixture=False`` given); not otherwise, nor without a theory.
    z2_mixture : bool or None, default=None
        Symmetrize the flow density over the sign instead, ``q(x) = [q_G(x) + q_G(-x)] / 2``,
        sampled by flipping the sign of ``G(z)`` with probability 1/2 (see
        :class:`skphys.flows.LatticeFlow`). For bimodal targets (the Ising dual near and below
        T_c) a non-equivariant ``G`` can settle on one mode while the mixture covers both,
        which an equivariant ``G`` from a unimodal prior does badly. Excludes
        ``z2_equivariant=True`` (an equivariant ``G`` is already symmetric) and needs a theory
        symmetric under ``phi -> -phi`` (data without a theory are taken to be symmetric).
        Each density evaluation costs two inverse passes of ``G``; see :class:`skphys.RGFlow`
        for how its methods treat the sign. None: a mixture when the theory declares the sign
        symmetry (``theory.has_sign_symmetry``) and ``z2_equivariant`` is not True; no
        mixture otherwise, nor without a theory (``fit(X)`` on data alone).
    fourier_layer : bool, default=True
        End ``G`` with a learnable Gaussian layer diagonal in momentum space (one scale per
        momentum orbit, :class:`skphys.flows.FourierGaussian`, linear and odd): it carries
        the long-range Gaussian correlations of the field, which the local blocks would
        otherwise build level by level, for two FFTs per pass. Every latent then moves every
        site: the causal cone of any site is the whole lattice and ``RGFlow.inpaint`` is
        refused (set ``fourier_layer=False`` to inpaint).
    data_range : tuple of float, optional
        ``(low, high)``: the data lie in this interval (dequantized pixels of ``n`` grey levels
        lie in ``[0, n)``, see :class:`skphys.preprocessing.Dequantizer`). ``G`` then ends
        with the elementwise map ``data_map`` onto it, whose log-determinant is part of the
        density: densities, samples and latents are on the data scale. ``fit`` refuses data
        outside the interval. None: fields on the whole real line.
    data_map : {"logit", "affine"}, default="logit"
        With ``data_range``: the logistic map of the real line onto (slightly more than) the
        interval (:class:`skphys.flows.LogitMap`, RealNVP's pre-processing; samples stay in
        it), or the affine map of ``[-1, 1)`` onto it (:class:`skphys.flows.AffineMap`).
    dequantize : bool, default=False
        ``RGFlow.fit(X)`` on dequantized integers (needs ``data_range=(low, low + n)``, unit
        bins): every training step sees the rows with fresh uniform noise in their bins,
        ``x -> low + floor(x - low) + u``, the usual stochastic estimate of the dequantized
        likelihood bound (see :mod:`skphys.preprocessing`), so that the flow cannot fit the
        one noise draw of the rows given (a :class:`skphys.preprocessing.Dequantizer`'s
        output), of which only the bins are kept; the held-out rows of
        ``validation_fraction`` keep their values.
    compile : bool, default=False
        Train with the flow's forward and inverse passes compiled by :func:`torch.compile`
        (an up-front cost, then faster steps; see :ref:`flows-at-scale`). The fitted flow
        is a plain module either way.

    Examples
    --------
    >>> from skphys import MERAFlow, ODEBlock, RGFlow
    >>> from skphys.lattice import FreeScalar
    >>> theory = FreeScalar((8, 8), m2=1.0)
    >>> flow = MERAFlow(depth=(2, 1, 1), block=ODEBlock(hidden_channels=8))
    >>> module = flow.build(theory.shape, 1, theory)
    >>> module.bijector.depths, module.bijector.n_levels
    ((2, 1, 1), 3)
    >>> RGFlow(theory, flow=flow).set_params(flow__block__ode_steps=2).flow.block
    ODEBlock(hidden_channels=8, ode_steps=2)
    """

    _parameter_constraints = {
        "block_size": IntegerWith(2, lambda n: n & (n - 1) == 0, "a power of two >= 2"),
        "n_levels": Optional(Integer(1)),
        "depth": Optional(OneOf(Integer(1, MAX_LAYERS), IntTuple(1, high=MAX_LAYERS),
                                description=f"an int >= 1 (at most {MAX_LAYERS}) or a "
                                f"non-empty tuple of such ints (one per level, finest "
                                f"first)")),
        "block": Instance(CouplingBlock, ODEBlock,
                          description="a skphys.CouplingBlock or skphys.ODEBlock"),
        "translation_invariant": Boolean(),
        "prior": Options(*_PRIORS),
        "z2_equivariant": Optional(Boolean()),
        "z2_mixture": Optional(Boolean()),
        "fourier_layer": Boolean(),
        "data_range": Optional(_Interval()),
        "data_map": Options(*_DATA_MAPS),
        "dequantize": Boolean(),
        "compile": Boolean(),
    }

    def __init__(self, *, block_size: int = 2, n_levels: int | None = None, depth=None,
                 block=CouplingBlock(), translation_invariant: bool = True,
                 prior: str = "gaussian", z2_equivariant: bool | None = None,
                 z2_mixture: bool | None = None, fourier_layer: bool = True, data_range=None,
                 data_map: str = "logit", dequantize: bool = False, compile: bool = False):
        self.block_size = block_size
        self.n_levels = n_levels
        self.depth = depth
        self.block = block
        self.translation_invariant = translation_invariant
        self.prior = prior
        self.z2_equivariant = z2_equivariant
        self.z2_mixture = z2_mixture
        self.fourier_layer = fourier_layer
        self.data_range = data_range
        self.data_map = data_map
        self.dequantize = dequantize
        self.compile = compile

    def _check_consistency(self, params) -> None:
        data_range = params["data_range"]
        if params["dequantize"] and (data_range is None or not float(
                data_range[1] - data_range[0]).is_integer()):
            raise ValueError(
                f"dequantize=True needs data_range=(low, low + n_levels), an interval of "
                f"whole unit bins, got data_range={data_range}"
            )
        if params["z2_mixture"] and params["z2_equivariant"]:
            raise ValueError(
                "z2_mixture=True needs z2_equivariant=False or None: an equivariant flow is "
                "already symmetric under phi -> -phi, so the mixture would change nothing"
            )

    def _mixture(self, theory) -> bool:
        """``z2_mixture``, with None resolved by the theory's sign symmetry (and False for an
        explicitly equivariant flow)."""
        if self.z2_mixture is None:
            return sign_symmetric(theory) and self.z2_equivariant is not True
        return bool(self.z2_mixture)

    def _equivariant(self, theory) -> bool:
        """``z2_equivariant``, with None resolved by the theory's sign symmetry (and False
        for a Z2 mixture)."""
        if self.z2_equivariant is None:
            return sign_symmetric(theory) and not self._mixture(theory)
        return bool(self.z2_equivariant)

    def _depth(self, n_levels: int):
        """``depth``, with None resolved to 4 pairs at the finest level and 1 above."""
        if self.depth is None:
            return (4,) + (1,) * (n_levels - 1)
        return self.depth

    def _check_theory(self, theory, prefix: str = "") -> None:
        super()._check_theory(theory, prefix)
        if self.z2_mixture and theory is not None and not sign_symmetric(theory):
            raise ValueError(
                f"{prefix}z2_mixture=True needs a theory symmetric under phi -> -phi (its "
                f"has_sign_symmetry: 'z2' or 'u1' in internal_symmetries); "
                f"{type(theory).__name__} has {tuple(theory.internal_symmetries)}"
            )

    def _check_lattice(self, shape: tuple[int, ...], prefix: str = "") -> None:
        shape = tuple(shape)
        if any(n & (n - 1) for n in shape) or min(shape) < self.block_size:
            raise ValueError(
                f"a MERAFlow needs power-of-two lattice extents of at least {prefix}block_size="
                f"{self.block_size}; got lattice_shape {shape} (set lattice_shape or use a "
                f"theory on a 2^k lattice)"
            )
        limit = max_levels(shape, self.block_size)
        if self.n_levels is not None and self.n_levels > limit:
            raise ValueError(
                f"{prefix}n_levels={self.n_levels} exceeds the {limit} levels of lattice_shape "
                f"{shape} with block_size={self.block_size}"
            )
        n_levels = limit if self.n_levels is None else self.n_levels
        try:
            level_depths(self._depth(n_levels), n_levels)
        except ValueError as error:
            raise ValueError(f"{prefix}{error}") from None

    def _flow(self, shape, channels, theory, params):
        block, equivariant = self.block, self._equivariant(theory)
        by_position = not params["translation_invariant"]
        if by_position and equivariant:
            raise ValueError(
                "translation_invariant=False needs a flow that is not Z2-equivariant (biases "
                "per position are even in phi): set z2_equivariant=False or z2_mixture=True"
            )

        def make_block(block_shape, n_blocks):
            return block.build(channels, block_shape, z2_equivariant=equivariant,
                               n_positions=n_blocks if by_position else 1)

        n_levels = params["n_levels"] or max_levels(shape, params["block_size"])
        module = mera_flow(
            shape, channels, block_size=params["block_size"], n_levels=n_levels,
            depth=self._depth(n_levels), make_block=make_block, prior=params["prior"],
            z2_mixture=self._mixture(theory), fourier_layer=params["fourier_layer"],
        )
        if params["data_range"] is not None:
            module.bijector.output_map = _DATA_MAPS[params["data_map"]](*params["data_range"])
        return module
