"""FlowSampler: a normalizing-flow sampler for lattice field theories."""

from __future__ import annotations

from collections.abc import Sequence

from ._base import _check_int
from ._flow_base import FlowEstimator
from .flows._model import continuous_flow, coupling_flow
from .lattice import LatticeTheory

__all__ = ["FlowSampler"]

_FLOWS = ("coupling", "continuous")


class FlowSampler(FlowEstimator):
    """Normalizing-flow sampler for lattice field theories.

    A flow ``x = f(z)`` pushes white noise to field configurations with an exact density
    ``q(x)``. It is trained from the action by reverse KL (``fit()``, no data), from samples by
    maximum likelihood (``fit(X)``), or both; its samples are then made exact for
    ``p = exp(-S)/Z`` by independence Metropolis-Hastings or importance weights.

    Parameters
    ----------
    theory : LatticeTheory, optional
        The target (``Phi4``, ``FreeScalar``, ``IsingDual``, ``ComplexPhi4``...). Needed for
        reverse-KL training, Metropolis-Hastings and importance weights.
    flow : {"coupling", "continuous"}, default="coupling"
        Affine couplings with checkerboard masks and periodic convolutional networks, or the
        equivariant continuous flow integrated with torchdiffeq.
    lattice_shape : tuple of int, optional
        Lattice extents; default that of ``theory``, or a 1-D chain of ``n_features`` sites
        when fitting data without a theory.
    n_layers : int, default=6
        Coupling layers (``flow="coupling"``).
    hidden_channels : tuple of int, default=(16, 16)
        Hidden channels of each coupling network.
    kernel_size : int, default=3
        Convolution kernel size (odd).
    activation : {"leaky_relu", "tanh", "silu"}, default="tanh"
        Activation between convolutions (``z2_equivariant`` needs the odd ``"tanh"``).
    final_tanh : bool, default=True
        Bound the coupling networks' outputs with ``tanh``.
    z2_equivariant : bool, default=True
        Make every coupling layer commute with ``phi -> -phi``, exactly and at no extra cost:
        the networks are odd (no biases, ``tanh``), giving an odd shift and an even log-scale
        (the product of two odd output channels plus a constant); each layer starts as the
        identity.
    fourier_layer : bool, default=True
        Start with a learnable Gaussian layer diagonal in momentum space.
    n_frequencies : int, default=8
        Sine features of the continuous flow.
    n_time_kernels : int, default=5
        Fourier time kernels of the continuous flow.
    ode_method : str, default="rk4"
        torchdiffeq solver of the continuous flow.
    ode_steps : int, default=10
        Minimum number of steps of a fixed-step solver; stiffer velocities get more, so that
        the integrated divergence stays the log-determinant of the discrete map (see
        :class:`skphys.flows.ContinuousFlow`).
    adjoint : bool, default=False
        Adjoint backpropagation through the ODE.
    loss : {"auto", "reverse_kl", "forward_kl", "both"}, default="auto"
        ``auto``: reverse KL for ``fit()``, forward KL (maximum likelihood) for ``fit(X)``;
        ``both``: their sum, reverse KL from ``theory`` plus ``forward_weight`` times the
        forward KL on ``X``.
    forward_weight : float, default=1.0
        Weight of the forward-KL term with ``loss="both"``. The reverse KL is mode-seeking:
        it can leave regions of the target under-sampled and the importance weights there
        heavy-tailed; a forward term on data pulls mass onto them, at some cost in reverse
        KL (the smaller the weight, the smaller that cost).
    path_gradient : bool, default=True
        Estimate the reverse-KL gradient along the sample path only (arXiv:2207.08219): no
        score term, whose variance does not vanish at the optimum. Costs an inverse pass per
        step; see :meth:`skphys.flows.LatticeFlow.sample_path`.
    max_iter : int, default=1000
        Optimizer steps per ``fit``.
    batch_size : int, default=64
        Samples (or data rows) per step.
    learning_rate : float, default=6e-3
        Adam learning rate.
    lr_schedule : {None, "constant", "cosine"}, default="cosine"
    clip_grad_norm : float or None, default=100.0
    tol : float or None, default=None
        Early stopping on the loss (``n_iter_no_change`` steps without improving by ``tol``).
    n_iter_no_change : int, default=50
    monitor_every : int, default=50
        Steps between measurements of the ESS on a fresh monitor batch (recorded in
        ``history_``; 0 disables).
    monitor_size : int, default=1024
        Size of the monitor batch.
    warm_start : bool, default=False
        Continue training the fitted flow (Adam keeps its state; the learning rate and its
        schedule start over for the new ``max_iter``).
    device : str, default="auto"
    dtype : {"float32", "float64"}, default="float32"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
        0 silent, 1 progress bar, 2 a table of the history.

    Attributes
    ----------
    module_ : LatticeFlow
        The trained flow.
    lattice_shape_ : tuple of int
    n_features_in_ : int
    history_ : pandas.DataFrame
        ``step``, ``loss``, ``ess`` and ``acceptance`` (on monitor steps), ``wall_time``.
    n_iter_ : int
    ess_ : float
        ESS/N on fresh samples at the end of fit (with a theory).
    acceptance_rate_ : float
        Independence Metropolis-Hastings acceptance on fresh samples (with a theory).

    Examples
    --------
    >>> from skphys import FlowSampler
    >>> from skphys.lattice import FreeScalar
    >>> fs = FlowSampler(FreeScalar((4, 4), m2=1.0), max_iter=200, learning_rate=1e-2,
    ...                  random_state=0).fit()
    >>> fs.sample(3).shape
    (3, 16)
    >>> fs.ess_ > 0.9
    True
    """

    def __init__(
        self,
        theory: LatticeTheory | None = None,
        flow: str = "coupling",
        lattice_shape=None,
        *,
        n_layers: int = 6,
        hidden_channels: Sequence[int] = (16, 16),
        kernel_size: int = 3,
        activation: str = "tanh",
        final_tanh: bool = True,
        z2_equivariant: bool = True,
        fourier_layer: bool = True,
        n_frequencies: int = 8,
        n_time_kernels: int = 5,
        ode_method: str = "rk4",
        ode_steps: int = 10,
        adjoint: bool = False,
        loss: str = "auto",
        forward_weight: float = 1.0,
        path_gradient: bool = True,
        max_iter: int = 1000,
        batch_size: int = 64,
        learning_rate: float = 6e-3,
        lr_schedule: str | None = "cosine",
        clip_grad_norm: float | None = 100.0,
        tol: float | None = None,
        n_iter_no_change: int = 50,
        monitor_every: int = 50,
        monitor_size: int = 1024,
        warm_start: bool = False,
        device: str = "auto",
        dtype: str = "float32",
        random_state=None,
        verbose: int = 0,
    ):
        self.theory = theory
        self.flow = flow
        self.lattice_shape = lattice_shape
        self.n_layers = n_layers
        self.hidden_channels = hidden_channels
        self.kernel_size = kernel_size
        self.activation = activation
        self.final_tanh = final_tanh
        self.z2_equivariant = z2_equivariant
        self.fourier_layer = fourier_layer
        self.n_frequencies = n_frequencies
        self.n_time_kernels = n_time_kernels
        self.ode_method = ode_method
        self.ode_steps = ode_steps
        self.adjoint = adjoint
        self.loss = loss
        self.forward_weight = forward_weight
        self.path_gradient = path_gradient
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.clip_grad_norm = clip_grad_norm
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.monitor_every = monitor_every
        self.monitor_size = monitor_size
        self.warm_start = warm_start
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # -- the flow ----------------------------------------------------------------------------
    def _validate_params(self) -> None:
        if self.flow not in _FLOWS:
            raise ValueError(f"flow must be one of {_FLOWS}, got {self.flow!r}")
        super()._validate_params()
        for name in ("n_layers", "ode_steps", "n_frequencies", "n_time_kernels"):
            _check_int(name, getattr(self, name), 1)

    def _build_module(self):
        shape = tuple(self.lattice_shape_)
        if self.flow == "coupling":
            return coupling_flow(
                shape, self._channels(), n_layers=self.n_layers,
                hidden_channels=tuple(self.hidden_channels), kernel_size=self.kernel_size,
                activation=self.activation, final_tanh=self.final_tanh,
                z2_equivariant=self.z2_equivariant, fourier_layer=self.fourier_layer,
            )
        return continuous_flow(
            shape, self._channels(), n_frequencies=self.n_frequencies,
            n_time_kernels=self.n_time_kernels, ode_method=self.ode_method,
            ode_steps=self.ode_steps, adjoint=self.adjoint, fourier_layer=self.fourier_layer,
        )
