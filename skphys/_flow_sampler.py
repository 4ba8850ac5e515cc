"""FlowSampler: a normalizing-flow sampler for lattice field theories."""

from __future__ import annotations

from ._constraints import Instance
from ._flow_base import FLOW_CONSTRAINTS, FlowEstimator, flow_docstring
from ._optimizer import Adam
from .architectures import ContinuousFlow, CouplingFlow
from .lattice import LatticeTheory

__all__ = ["FlowSampler"]


@flow_docstring(path_gradient="True", max_iter=1000, batch_size=64,
                optimizer="Adam(6e-3, clip_grad_norm=100.0)")
class FlowSampler(FlowEstimator):
    """Normalizing-flow sampler for lattice field theories.

    A flow ``x = f(z)`` pushes white noise to field configurations with an exact density
    ``q(x)``. It is trained from the action by reverse KL (``fit()``, no data), from samples by
    maximum likelihood (``fit(X)``), or both; its samples are then made exact for
    ``p = exp(-S)/Z`` by independence Metropolis-Hastings or importance weights. Real and
    complex fields (``Phi4``, ``FreeScalar``, ``IsingDual``, ``ComplexPhi4``...); spins and
    angles need :class:`~skphys.AutoregressiveHamiltonian`.

    Parameters
    ----------
    {theory_parameters}
    flow : CouplingFlow or ContinuousFlow, default=CouplingFlow()
        The architecture: affine couplings with checkerboard masks and periodic convolutional
        networks (:class:`~skphys.CouplingFlow`), or the equivariant neural ODE
        (:class:`~skphys.ContinuousFlow`). Its parameters are nested estimator parameters,
        e.g. ``set_params(flow__n_layers=8)``. By default the flow is Z2-equivariant exactly
        when the theory declares the sign symmetry.
    {flow_parameters}
    {training_parameters}
    {monitor_parameters}

    Attributes
    ----------
    module_ : skphys.flows.LatticeFlow
        The trained flow.
    {flow_attributes}

    See Also
    --------
    RGFlow : a hierarchical flow whose latents are labelled by RG level.

    Examples
    --------
    >>> from skphys import Adam, FlowSampler
    >>> from skphys.lattice import FreeScalar
    >>> fs = FlowSampler(FreeScalar((4, 4), m2=1.0), max_iter=200, optimizer=Adam(1e-2),
    ...                  random_state=0).fit()
    >>> fs.sample(3).shape
    (3, 16)
    >>> fs.ess_ > 0.9
    True
    """

    _parameter_constraints = {
        **FLOW_CONSTRAINTS,
        "flow": Instance(CouplingFlow, ContinuousFlow,
                         description="a skphys.CouplingFlow or skphys.ContinuousFlow"),
    }

    def __init__(
        self,
        theory: LatticeTheory | None = None,
        *,
        lattice_shape=None,
        flow=CouplingFlow(),
        loss: str = "auto",
        forward_weight: float = 1.0,
        path_gradient: bool = True,
        max_iter: int = 1000,
        batch_size: int = 64,
        optimizer=Adam(6e-3, clip_grad_norm=100.0),
        monitor_every: int = 50,
        validation_fraction: float = 0.1,
        warm_start: bool = False,
        device: str = "auto",
        dtype: str = "float32",
        random_state=None,
        verbose: int = 0,
    ):
        self.theory = theory
        self.lattice_shape = lattice_shape
        self.flow = flow
        self.loss = loss
        self.forward_weight = forward_weight
        self.path_gradient = path_gradient
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.monitor_every = monitor_every
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

