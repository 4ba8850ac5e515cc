"""Data parallelism over :mod:`torch.distributed`: ranks, per-rank streams and collectives.

It knows nothing of scikit-learn. Outside an initialized process group every helper is the
single-process identity (rank 0 of 1, the whole batch, the tensor itself, the same seed), so
code written with them costs nothing there.

The library starts a process group in one case only: :func:`init_from_env`, called by ``fit``,
when the process was launched by ``torchrun`` (its environment variables ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` are set, with
``WORLD_SIZE`` > 1) and no group exists yet. The backend is gloo for the CPU and NCCL for
CUDA. A group the user initialized is used as it is; a group of one process, or none, leaves
``fit`` on its single-process path.

Under a group, ``fit`` runs each optimizer step through
:class:`~torch.nn.parallel.DistributedDataParallel` (:func:`data_parallel`): each rank draws
its share of the batch (:func:`shard_size`) from its own stream (:func:`rank_seed`), DDP
averages the gradients, and one all-reduce per step gives every rank the global loss and
metrics, so that all ranks take the same decisions (a non-finite loss, early stopping) at the
same step.
"""

from __future__ import annotations

import atexit
import numbers
import os
from collections.abc import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ._torch_utils import draw_in_chunks

__all__ = ["is_initialized", "rank", "world_size", "is_rank_zero", "rank_zero_verbosity",
           "backend_for", "init_from_env", "rank_device", "rank_seed", "require_seed",
           "shard_size", "gather_rows", "all_reduce_mean", "draw_sharded", "data_parallel"]

TORCHRUN_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
"""The environment variables of ``torchrun`` that :func:`init_from_env` requires."""


def is_initialized() -> bool:
    """Whether a default process group of :mod:`torch.distributed` exists."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank (0 outside a process group)."""
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    """The number of processes (1 outside a process group)."""
    return dist.get_world_size() if is_initialized() else 1


def is_rank_zero() -> bool:
    """Whether this process shows progress and writes files: rank 0, or no group."""
    return rank() == 0


def rank_zero_verbosity(verbose: int) -> int:
    """``verbose`` on rank 0, 0 (silent) on the other ranks."""
    return verbose if rank() == 0 else 0


def backend_for(device: torch.device) -> str:
    """NCCL for a CUDA device (where torch has it), gloo otherwise."""
    return "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"


def _local_rank() -> int:
    count = max(torch.cuda.device_count(), 1)
    return int(os.environ.get("LOCAL_RANK", rank() % count))


def rank_device(device: torch.device) -> torch.device:
    """The device of this rank: a CUDA device without an index becomes this node's GPU
    ``LOCAL_RANK`` under a process group (one GPU per process); others are unchanged."""
    if device.type != "cuda" or device.index is not None or not is_initialized():
        return device
    return torch.device("cuda", _local_rank())


def init_from_env(device: torch.device) -> bool:
    """Initialize the default process group from ``torchrun``'s environment, if needed.

    Nothing happens unless the process was launched by ``torchrun`` (all of
    :data:`TORCHRUN_ENV` set) with ``WORLD_SIZE`` > 1 and no group exists yet. The backend is
    :func:`backend_for` the estimator's ``device``; the group is destroyed at exit.

    Returns
    -------
    bool
        Whether a process group exists now.
    """
    if is_initialized():
        return True
    if (not dist.is_available() or any(name not in os.environ for name in TORCHRUN_ENV)
            or int(os.environ["WORLD_SIZE"]) < 2):
        return False
    backend = backend_for(device)
    device_id = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if backend == "nccl" else None
    dist.init_process_group(backend, device_id=device_id)
    atexit.register(_destroy)
    return True


def _destroy() -> None:
    if is_initialized():
        dist.destroy_process_group()


def rank_seed(seed: int) -> int:
    """The seed of this rank's stream: ``seed`` itself outside a group (or in a group of
    one), else an independent 63-bit seed spawned from ``seed`` and the rank
    (:class:`numpy.random.SeedSequence`)."""
    if world_size() == 1:
        return seed
    state = np.random.SeedSequence(seed, spawn_key=(rank(),)).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


def require_seed(random_state) -> None:
    """Refuse ``random_state=None`` under a process group of several ranks (ValueError):
    every rank must draw the same initial parameters, data split and per-rank streams."""
    if random_state is None and world_size() > 1:
        raise ValueError(
            f"random_state=None under torch.distributed ({world_size()} processes): pass an "
            f"int (the same on every rank), from which each rank's sampling stream is derived"
        )


def shard_size(n: int, of_rank: int | None = None) -> int:
    """Rows of ``n`` that rank ``of_rank`` (default: this one) draws: ``n // W``, plus one
    on the first ``n % W`` ranks; ``n`` outside a group."""
    size = world_size()
    if size == 1:
        return n
    r = rank() if of_rank is None else of_rank
    return n // size + (r < n % size)


def _comm_device(device: torch.device) -> torch.device:
    """Where a collective's tensors live: the device for NCCL, the CPU for gloo."""
    return device if dist.get_backend() == "nccl" else torch.device("cpu")


def gather_rows(tensor: torch.Tensor, n: int) -> torch.Tensor:
    """The union in rank order of every rank's :func:`shard_size` rows of ``n``: the same
    ``n`` rows on every rank (``tensor`` itself outside a group)."""
    if not is_initialized():
        return tensor
    size = world_size()
    sizes = [shard_size(n, r) for r in range(size)]
    local = tensor.detach().to(_comm_device(tensor.device))
    padded = local.new_zeros((sizes[0], *local.shape[1:]))
    padded[:len(local)] = local
    parts = [torch.empty_like(padded) for _ in range(size)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:s] for p, s in zip(parts, sizes)]).to(tensor.device)


def all_reduce_mean(values, device: torch.device) -> list[float]:
    """The mean over ranks of each of ``values`` (floats), on every rank."""
    if not is_initialized():
        return [float(v) for v in values]
    buffer = torch.tensor([float(v) for v in values], dtype=torch.float64,
                          device=_comm_device(device))
    dist.all_reduce(buffer)
    return (buffer / world_size()).tolist()


def draw_sharded(draw: Callable, n: int, chunk: int) -> tuple[torch.Tensor, ...]:
    """:func:`~skphys._torch_utils.draw_in_chunks` of this rank's share of ``n`` rows from
    its own stream, gathered: the same ``n`` rows on every rank."""
    if not is_initialized():
        return draw_in_chunks(draw, n, chunk)
    m = shard_size(n)
    parts = draw_in_chunks(draw, max(m, 1), chunk)  # a rank with no rows: shapes, no data
    return tuple(gather_rows(t[:m], n) for t in parts)


class _Step(nn.Module):
    """The module DDP wraps: its ``forward`` runs one step's loss closure, so DDP prepares
    its gradient all-reduce for every step however the closure uses the model (``sample``,
    ``log_prob``, ...)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, loss_fn: Callable, step: int):
        return loss_fn(step)


LossFn = Callable[[int], "tuple[torch.Tensor, dict[str, float]]"]
Reduce = Callable[[torch.Tensor, dict], "tuple[float, dict[str, float]]"]


def data_parallel(module: nn.Module, loss_fn: LossFn, batch_size: int
                  ) -> tuple[LossFn, Reduce | None]:
    """Make ``loss_fn`` data-parallel under a process group (unchanged outside one).

    Returns ``(loss_fn, reduce)``. The new ``loss_fn`` runs the closure through
    :class:`~torch.nn.parallel.DistributedDataParallel`, which averages the gradients over
    the ranks in ``backward``; its loss, the mean over this rank's ``shard_size(batch_size)``
    rows, is weighted by ``shard_size * W / batch_size`` (1 when ``W`` divides
    ``batch_size``), so that the averaged gradient is that of the mean over the global batch.
    ``reduce(loss, metrics) -> (value, metrics)`` all-reduces the loss and the metrics (with
    the same weights) in one call: every rank gets the global values. ``reduce`` is None
    outside a group.

    Raises
    ------
    ValueError
        When ``batch_size`` is smaller than the number of processes.
    """
    if not is_initialized():
        return loss_fn, None
    size = world_size()
    if batch_size < size:
        raise ValueError(f"batch_size={batch_size} is smaller than the {size} processes of "
                         f"torch.distributed: each rank needs at least one row of the batch")
    weight = shard_size(batch_size) * size / batch_size
    device = next(module.parameters()).device
    # find_unused_parameters: a parameter may get no gradient in a step (detached along a
    # path gradient, a branch taken only by some batches)
    ddp = nn.parallel.DistributedDataParallel(
        _Step(module), device_ids=[device] if device.type == "cuda" else None,
        find_unused_parameters=True)

    def parallel_loss_fn(step):
        loss, metrics = ddp(loss_fn, step)
        return (loss if weight == 1 else loss * weight), metrics

    def reduce(loss: torch.Tensor, metrics: dict) -> tuple[float, dict[str, float]]:
        names = [k for k, v in metrics.items() if isinstance(v, numbers.Real)]
        values = all_reduce_mean([float(loss.detach()), *(weight * metrics[k] for k in names)],
                                 device)
        return values[0], {**metrics, **dict(zip(names, values[1:]))}

    return parallel_loss_fn, reduce
