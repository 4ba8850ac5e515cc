"""What the two fuzz suites share: a time box that turns a hang into a failure, and theories
whose action has the wrong shape or type (also used by the tests of the theory interface)."""

from __future__ import annotations

import contextlib
import signal

from skphys.lattice import LatticeTheory

#: wall-clock seconds any one fuzzed call may take before it counts as a hang: far above what
#: each needs, with room for CI's busy cores
TIME_BOX = 20.0


class Hang(BaseException):
    """A call ran past its time box (a BaseException: no library ``except`` swallows it)."""


@contextlib.contextmanager
def time_box(seconds: float = TIME_BOX):
    """Raise :class:`Hang` in the body once it has run ``seconds`` (SIGALRM)."""

    def alarm(signum, frame):
        raise Hang(f"the call ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class ScalarAction(LatticeTheory):
    """One number for the whole batch instead of one action per configuration."""

    def action(self, x):
        return x.square().sum()


class ColumnAction(LatticeTheory):
    """Actions of shape ``(batch, 1)`` instead of ``(batch,)``."""

    def action(self, x):
        return x.square().sum(1, keepdim=True)


class NumpyAction(LatticeTheory):
    """A numpy array instead of a tensor."""

    def action(self, x):
        return x.detach().numpy().sum(1)


class IntegerAction(LatticeTheory):
    """An integer tensor instead of a floating-point one."""

    def action(self, x):
        return x.square().sum(1).long()


class NoAction(LatticeTheory):
    """No action at all."""


class BareNotImplemented(LatticeTheory):
    """An action that raises a bare NotImplementedError."""

    def action(self, x):
        raise NotImplementedError
