"""The gradient-descent loop every skphys estimator trains with.

It knows nothing of scikit-learn: it takes the parameters, a closure computing the loss (and
metrics) of one step, and the optimization settings. It keeps a copy of the last parameters
that gave a finite loss (a Ctrl-C restores them) and of those that gave the lowest loss (a
divergence restores them, or the initial ones if their outputs are not finite), so that a
failed fit leaves a usable model behind.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch.optim.lr_scheduler import LRScheduler
from tqdm.auto import tqdm

from .exceptions import NonFiniteLossError

__all__ = ["TrainingSettings", "TrainingOutcome", "make_optimizer", "restart_schedule", "run_lbfgs",
           "run_training"]

LossFn = Callable[[int], "tuple[torch.Tensor, dict[str, float]]"]


@dataclass
class TrainingSettings:
    """Optimization settings, validated by the estimator before they get here."""

    max_iter: int
    learning_rate: float
    lr_schedule: str | None = None
    clip_grad_norm: float | None = None
    tol: float | None = None
    n_iter_no_change: int = 10
    monitor: str = "loss"
    key_metric: str | None = None
    verbose: int = 0
    description: str = "fit"


@dataclass
class TrainingOutcome:
    """What a call of :func:`run_training` did."""

    records: list[dict] = field(default_factory=list)
    n_steps: int = 0
    interrupted: bool = False
    converged: bool = False


def make_optimizer(
    params: Sequence[torch.nn.Parameter], settings: TrainingSettings
) -> tuple[torch.optim.Adam, LRScheduler | None]:
    """Adam with the settings' learning rate and schedule (``None``/"constant" or "cosine").

    On the CPU and CUDA it is torch's fused Adam (one kernel for all parameters: with the
    flows' many small tensors the per-tensor loop is a noticeable share of a MERA training
    step; :doc:`/results` has the timings).
    """
    params = list(params)
    fused = all(p.device.type in ("cpu", "cuda") for p in params)
    optimizer = torch.optim.Adam(params, lr=settings.learning_rate, fused=fused or None)
    return optimizer, restart_schedule(optimizer, settings)


def restart_schedule(
    optimizer: torch.optim.Optimizer, settings: TrainingSettings
) -> LRScheduler | None:
    """Set the learning rate to the settings' one and start its schedule over ``max_iter``.

    A warm-started fit keeps the optimizer's moment estimates but runs its own schedule: the
    cosine anneals from ``learning_rate`` to 0 over the new fit's ``max_iter`` steps (a warm
    restart) instead of continuing the previous one's cosine past its end, where it climbs
    back; and a ``learning_rate`` changed between the fits (``set_params``) takes effect.
    Returns the scheduler (``None`` without a schedule).
    """
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] = settings.learning_rate
    if settings.lr_schedule != "cosine":
        return None
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(settings.max_iter, 1))


def _format_row(record: dict) -> str:
    return "  ".join(
        f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()
    )


def _progress_bar(settings: TrainingSettings, total: int):
    return tqdm(total=total, desc=settings.description, disable=settings.verbose != 1,
                dynamic_ncols=True, leave=True)


def _report(bar, settings: TrainingSettings, record: dict, i: int, total: int) -> None:
    """Show one finished step: on the progress bar (``verbose=1``) or as a table row (>= 2)."""
    if settings.verbose == 1:
        postfix = {"loss": f"{record['loss']:.4g}"}
        if settings.key_metric and settings.key_metric in record:
            postfix[settings.key_metric] = f"{record[settings.key_metric]:.4g}"
        bar.set_postfix(postfix, refresh=False)
        bar.update(1)
    elif settings.verbose >= 2 and (i % max(1, total // 20) == 0 or i + 1 == total):
        print(_format_row(record), flush=True)


def run_training(
    params: Sequence[torch.nn.Parameter],
    loss_fn: LossFn,
    settings: TrainingSettings,
    *,
    optimizer: torch.optim.Optimizer,
    scheduler=None,
    step_offset: int = 0,
    outcome: TrainingOutcome | None = None,
    reduce: Callable | None = None,
    usable: Callable[[], bool] | None = None,
) -> TrainingOutcome:
    """Run up to ``settings.max_iter`` optimizer steps of ``loss_fn``.

    Parameters
    ----------
    params : sequence of Parameter
        The trained parameters (they are restored on divergence or interruption).
    loss_fn : callable
        ``loss_fn(step) -> (loss, metrics)``: a scalar tensor to minimize and a dict of floats
        recorded in the history (``step`` counts from ``step_offset + 1``).
    settings : TrainingSettings
    optimizer, scheduler
        Built by :func:`make_optimizer` (kept by the estimator for ``warm_start``).
    step_offset : int
        Steps already taken by earlier fits.
    outcome : TrainingOutcome, optional
        Filled in place as training goes, so the caller keeps the records of the steps taken
        even when this function raises.
    reduce : callable, optional
        Data-parallel training (:func:`skphys._distributed.data_parallel`):
        ``reduce(loss, metrics) -> (value, metrics)``, the global loss and metrics, which
        are recorded and decide (a non-finite loss, early stopping) on every rank alike.
    usable : callable, optional
        ``usable() -> bool``: whether the model with the current parameters gives finite
        outputs; checked after a divergence restored the parameters.

    Returns
    -------
    TrainingOutcome

    Raises
    ------
    NonFiniteLossError
        When the loss or its gradient is not finite. The parameters are first restored to
        those that gave the lowest loss (a loss that grew large before it overflowed marks
        a model already diverged) and, if ``usable`` says their outputs are not finite, to
        the initial ones.
    """
    params = list(params)
    snapshot = [p.detach().clone() for p in params]
    initial = [p.detach().clone() for p in params]
    best_state = [p.detach().clone() for p in params]
    best_loss, best_step = math.inf, step_offset
    outcome = TrainingOutcome() if outcome is None else outcome
    best = math.inf
    stall = 0
    start = time.perf_counter()
    bar = _progress_bar(settings, settings.max_iter)
    last_good_step = step_offset
    try:
        for i in range(settings.max_iter):
            step = step_offset + i + 1
            loss, metrics = loss_fn(step)
            optimizer.zero_grad(set_to_none=True)
            if reduce is None:
                value = float(loss.detach())
            else:
                value, metrics = reduce(loss, metrics)
            if not math.isfinite(value):
                raise NonFiniteLossError(step, value, last_good_step)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(
                params,
                settings.clip_grad_norm if settings.clip_grad_norm else math.inf,
            )
            if not torch.isfinite(grad_norm):
                raise NonFiniteLossError(step, float(grad_norm), last_good_step, what="gradient")
            torch._foreach_copy_(snapshot, [p.detach() for p in params])
            last_good_step = step
            if value < best_loss:
                torch._foreach_copy_(best_state, snapshot)
                best_loss, best_step = value, step
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            record = {"step": step, "loss": value, **metrics,
                      "wall_time": time.perf_counter() - start}
            outcome.records.append(record)
            outcome.n_steps = i + 1
            _report(bar, settings, record, i, settings.max_iter)
            current = value if settings.monitor == "loss" else metrics.get(settings.monitor)
            if settings.tol is not None and current is not None:  # a step that measured it
                if current < best - settings.tol:
                    best, stall = current, 0
                else:
                    stall += 1
                    if stall >= settings.n_iter_no_change:
                        outcome.converged = True
                        break
    except NonFiniteLossError as error:
        torch._foreach_copy_([p.data for p in params], best_state)
        restored, checked = best_step, False
        if usable is not None:
            checked = usable()
            if not checked and restored != step_offset:
                torch._foreach_copy_([p.data for p in params], initial)
                restored = step_offset
                checked = usable()
        raise NonFiniteLossError(error.step, error.value, restored, what=error.what,
                                 restored_loss=best_loss if restored == best_step else None,
                                 checked=checked) from None
    except KeyboardInterrupt:
        torch._foreach_copy_([p.data for p in params], snapshot)
        outcome.interrupted = True
        warnings.warn(
            f"training interrupted at step {step_offset + outcome.n_steps + 1}; keeping the "
            f"parameters of step {last_good_step}",
            RuntimeWarning,
            stacklevel=3,
        )
    finally:
        bar.close()
    return outcome


def run_lbfgs(
    params: Sequence[torch.nn.Parameter],
    loss_fn: LossFn,
    settings: TrainingSettings,
    *,
    step_offset: int = 0,
    outcome: TrainingOutcome | None = None,
) -> TrainingOutcome:
    """Up to ``settings.max_iter`` iterations of full-batch L-BFGS on a deterministic loss.

    Meant to refine a model that stochastic steps brought near a minimum, to the precision a
    quasi-Newton method reaches there (a loss that must be minimized to many digits, like the
    translator's forward recursion). Each iteration is one
    :class:`torch.optim.LBFGS` iteration (history 50) with a strong-Wolfe line search, and
    one row of the records, with the loss and metrics at its start. No gradient clipping (it
    would break the line search); ``settings.learning_rate`` is the line search's first step.

    Parameters
    ----------
    params : sequence of Parameter
    loss_fn : callable
        ``loss_fn(step) -> (loss, metrics)``, the same value for the same parameters.
    settings : TrainingSettings
        ``max_iter``, ``learning_rate``, ``verbose`` and ``description`` are used.
    step_offset : int
        Steps taken before (the records continue the numbering).
    outcome : TrainingOutcome, optional
        Filled in place.

    Returns
    -------
    TrainingOutcome
        ``converged`` when an iteration no longer lowered the loss (or the gradient vanished).

    Warns
    -----
    RuntimeWarning
        When a line-search trial point gives a non-finite loss or gradient: the refinement
        stops and the parameters of the last completed iteration are kept.
    """
    params = list(params)
    outcome = TrainingOutcome() if outcome is None else outcome
    # max_eval bounds the line search too (max_ls = max_eval - 1 at max_iter=1)
    optimizer = torch.optim.LBFGS(params, lr=settings.learning_rate, max_iter=1, max_eval=26,
                                  history_size=50, line_search_fn="strong_wolfe",
                                  tolerance_grad=0.0, tolerance_change=0.0)
    snapshot = [p.detach().clone() for p in params]
    start = time.perf_counter()
    bar = _progress_bar(settings, settings.max_iter)
    previous = math.inf
    try:
        for i in range(settings.max_iter):
            step = step_offset + i + 1
            evaluations: list[dict] = []

            def closure(step=step, evaluations=evaluations):
                optimizer.zero_grad(set_to_none=True)
                loss, metrics = loss_fn(step)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise NonFiniteLossError(step, value, step - 1)
                loss.backward()
                grad_norm = torch.linalg.vector_norm(
                    torch.stack([torch.linalg.vector_norm(p.grad) for p in params
                                 if p.grad is not None]))
                if not torch.isfinite(grad_norm):
                    raise NonFiniteLossError(step, float(grad_norm), step - 1, what="gradient")
                evaluations.append({"loss": value, **metrics})
                return loss

            torch._foreach_copy_(snapshot, [p.detach() for p in params])
            optimizer.step(closure)
            record = {"step": step, **evaluations[0], "wall_time": time.perf_counter() - start}
            outcome.records.append(record)
            outcome.n_steps = i + 1
            _report(bar, settings, record, i, settings.max_iter)
            if not record["loss"] < previous:  # the last iteration made no progress
                outcome.converged = True
                break
            previous = record["loss"]
    except NonFiniteLossError as error:
        torch._foreach_copy_([p.data for p in params], snapshot)
        warnings.warn(f"L-BFGS stopped: {error.args[0].split(';')[0]}; keeping the parameters "
                      f"of step {step - 1}", RuntimeWarning, stacklevel=3)
    except KeyboardInterrupt:
        torch._foreach_copy_([p.data for p in params], snapshot)
        outcome.interrupted = True
        warnings.warn(f"L-BFGS interrupted at step {step}; keeping the parameters of step "
                      f"{step - 1}", RuntimeWarning, stacklevel=3)
    finally:
        bar.close()
    return outcome
