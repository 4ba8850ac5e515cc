"""Small torch helpers shared by the estimators: devices, dtypes, seeded initialization."""

from __future__ import annotations

import inspect
import math
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

__all__ = ["resolve_device", "resolve_dtype", "init_parameters", "to_numpy", "seed_from",
           "draw_in_chunks", "registrations"]

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device, *, fallback: bool = False) -> torch.device:
    """Turn the ``device`` parameter into a :class:`torch.device`.

    ``"auto"`` is CUDA when available, else the CPU. With ``fallback=True`` a CUDA device that
    is not available (e.g. unpickling on a CPU-only machine) becomes the CPU with a warning;
    otherwise it raises ``ValueError``.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str) or not _DEVICE_PATTERN.match(device):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        )
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda":
        index = dev.index or 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            if fallback:
                warnings.warn(
                    f"device {device!r} is not available here; using the CPU instead",
                    RuntimeWarning,
                    stacklevel=3,
                )
                return torch.device("cpu")
            raise ValueError(f"device={device!r} was requested but CUDA is not available")
    return dev


def resolve_dtype(dtype) -> torch.dtype:
    """Turn the ``dtype`` parameter ("float32" or "float64") into a torch dtype."""
    if isinstance(dtype, torch.dtype):
        for value in _DTYPES.values():
            if value == dtype:
                return value
    key = np.dtype(dtype).name if not isinstance(dtype, (str, torch.dtype)) else dtype
    if key not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return _DTYPES[key]


def seed_from(random_state: np.random.RandomState) -> int:
    """Draw a 63-bit seed for a torch generator from a numpy RandomState."""
    return int(random_state.randint(0, 2**63 - 1, dtype=np.int64))


def init_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """Initialize every parameter of ``module`` in place from ``generator``.

    Linear and convolution layers get PyTorch's default scheme (Kaiming-uniform weights,
    uniform biases) drawn from ``generator`` instead of the global RNG. Any submodule whose
    ``reset_parameters`` accepts a ``generator`` keyword is reset with it; children are handled
    before their parents, so a parent may overwrite (e.g. zero) what its children set.
    """
    for m in reversed(list(module.modules())):
        reset = getattr(m, "reset_parameters", None)
        if reset is not None and "generator" in inspect.signature(reset).parameters:
            reset(generator=generator)
        elif isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
            if m.bias is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """Detach, move to the CPU and convert to numpy."""
    return t.detach().cpu().numpy()


def draw_in_chunks(draw, n: int, chunk: int) -> tuple[torch.Tensor, ...]:
    """Call ``draw(m)`` (a tuple of tensors of ``m`` rows) on chunks of at most ``chunk`` rows,
    without gradients, and concatenate: ``n`` rows in bounded memory."""
    with torch.no_grad():
        parts = [draw(min(chunk, n - start)) for start in range(0, n, chunk)]
    return tuple(torch.cat(tensors) for tensors in zip(*parts))


@contextmanager
def registrations(callback: Callable[[str, object], None]) -> Iterator[None]:
    """Within the context, ``callback(kind, value)`` for every parameter, buffer and submodule
    (``kind`` "parameter", "buffer", "module") that a module built in this thread registers:
    a build watched as it runs (its size counted, stopped by raising from ``callback``)."""
    me = threading.get_ident()

    def hook(kind: str) -> Callable:
        def call(module, name, value):
            if threading.get_ident() == me and value is not None:
                callback(kind, value)
        return call

    hooks = torch.nn.modules.module
    handles = [hooks.register_module_parameter_registration_hook(hook("parameter")),
               hooks.register_module_buffer_registration_hook(hook("buffer")),
               hooks.register_module_module_registration_hook(hook("module"))]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def compiled_passes(module: nn.Module, *, enabled: bool = True) -> Iterator[None]:
    """Within the block, ``module``'s ``forward`` and ``inverse`` (where it has one) run
    through :func:`torch.compile`.

    The compiled functions are instance attributes that shadow the methods and are removed on
    exit, so the module pickles, saves and runs eagerly afterwards as before. The first call
    of each compiles (tens of seconds on a CPU, with a C++ compiler), and a new input shape
    may compile again; a gain needs many steps. ``enabled=False``: a no-op.
    """
    names = [name for name in ("forward", "inverse") if enabled and hasattr(module, name)]
    for name in names:
        setattr(module, name, torch.compile(getattr(module, name)))
    try:
        yield
    finally:
        for name in names:
            module.__dict__.pop(name, None)
