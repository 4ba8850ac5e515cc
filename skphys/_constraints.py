"""Declarative parameter constraints: one table per estimator, checked in one place.

Each estimator (and each architecture object) declares ``_parameter_constraints``, a mapping
from every constructor parameter to a :class:`Constraint`; :func:`validate_params` checks the
current values against it. A value of the wrong type raises :class:`TypeError`, a value of the
right type outside the allowed set raises :class:`ValueError`; both name the parameter and say
what was expected. This is the one place skphys validates parameters.

Sizes are checked before anything is allocated: every count of layers is at most
:data:`MAX_LAYERS`, and :func:`check_memory` refuses a fit, a sample or an estimate whose
memory, estimated from below (the parameters with their gradients and Adam's moments, one
batch of rows, the rows asked for), exceeds the device's memory, naming the parameter to
reduce.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

__all__ = [
    "Constraint", "Integer", "Real", "Options", "Boolean", "Instance", "Optional",
    "IntTuple", "IntegerWith", "OneOf", "Anything", "check_int", "check_real", "validate_params",
    "MAX_LAYERS", "memory_budget", "check_memory", "naming",
]

MAX_LAYERS = 1000
"""Upper bound of every count of layers (``n_layers``, ``depth``): the architectures are meant
for a few to a few dozen, and a network of thousands would take minutes to build."""


class Constraint:
    """A rule for one parameter: :meth:`check` returns the value or raises."""

    def check(self, name: str, value):
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def _type_error(self, name: str, value) -> TypeError:
        return TypeError(f"{name} must be {self.describe()}, got {value!r} "
                         f"({type(value).__name__})")

    def _value_error(self, name: str, value) -> ValueError:
        return ValueError(f"{name} must be {self.describe()}, got {value!r}")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


class Integer(Constraint):
    """An int (not a bool) in ``[low, high]`` (either bound optional)."""

    def __init__(self, low: int | None = None, high: int | None = None):
        self.low, self.high = low, high

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"an int in [{self.low}, {self.high}]"
        if self.low is not None:
            return f"an int >= {self.low}"
        if self.high is not None:
            return f"an int <= {self.high}"
        return "an int"

    def check(self, name, value):
        if not _is_int(value):
            raise self._type_error(name, value)
        if (self.low is not None and value < self.low) or (
                self.high is not None and value > self.high):
            raise self._value_error(name, value)
        return int(value)


class Real(Constraint):
    """A finite real number (not a bool) within the given bounds."""

    def __init__(self, low: float | None = None, high: float | None = None, *,
                 low_inclusive: bool = True, high_inclusive: bool = True):
        self.low, self.high = low, high
        self.low_inclusive, self.high_inclusive = low_inclusive, high_inclusive

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>=' if self.low_inclusive else '>'} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<=' if self.high_inclusive else '<'} {self.high:g}")
        return "a finite real number" + (f" {' and '.join(parts)}" if parts else "")

    def check(self, name, value):
        if not _is_real(value):
            raise self._type_error(name, value)
        value = float(value)
        if not math.isfinite(value):
            raise self._value_error(name, value)
        if self.low is not None and (value < self.low
                                     or (value == self.low and not self.low_inclusive)):
            raise self._value_error(name, value)
        if self.high is not None and (value > self.high
                                      or (value == self.high and not self.high_inclusive)):
            raise self._value_error(name, value)
        return value


class Options(Constraint):
    """One of a fixed set of values (strings, usually)."""

    def __init__(self, *options):
        self.options = options

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)

    def check(self, name, value):
        types = {type(o) for o in self.options}
        if not any(isinstance(value, t) for t in types):
            raise self._type_error(name, value)
        if value not in self.options:
            raise self._value_error(name, value)
        return value


class Boolean(Constraint):
    """A Python or NumPy bool."""

    def describe(self) -> str:
        return "a bool"

    def check(self, name, value):
        if not isinstance(value, (bool, np.bool_)):
            raise self._type_error(name, value)
        return bool(value)


class Instance(Constraint):
    """An instance of one of ``types`` (described as ``description``)."""

    def __init__(self, *types: type, description: str | None = None):
        self.types = types
        self.description = description

    def describe(self) -> str:
        return self.description or "an instance of " + " or ".join(t.__name__ for t in self.types)

    def check(self, name, value):
        if not isinstance(value, self.types):
            raise self._type_error(name, value)
        return value


class Optional(Constraint):
    """``None`` or a value that passes ``constraint``."""

    def __init__(self, constraint: Constraint):
        self.constraint = constraint

    def describe(self) -> str:
        return f"None or {self.constraint.describe()}"

    def check(self, name, value):
        if value is None:
            return None
        try:
            return self.constraint.check(name, value)
        except TypeError:
            raise self._type_error(name, value) from None
        except ValueError:
            raise self._value_error(name, value) from None


class IntTuple(Constraint):
    """A non-empty sequence of ints ``>= low`` (or one int, taken as a 1-tuple when
    ``allow_int``); returned as a tuple."""

    def __init__(self, low: int = 1, *, allow_int: bool = False, high: int | None = None):
        self.low, self.high, self.allow_int = low, high, allow_int

    def describe(self) -> str:
        bound = f">= {self.low}" + (f" and <= {self.high}" if self.high is not None else "")
        one = "an int or " if self.allow_int else ""
        return f"{one}a non-empty tuple of ints {bound}"

    def check(self, name, value):
        if self.allow_int and _is_int(value):
            value = (value,)
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise self._type_error(name, value)
        if not value:
            raise self._value_error(name, value)
        if not all(_is_int(v) for v in value):
            raise self._type_error(name, value)
        if any(v < self.low or (self.high is not None and v > self.high) for v in value):
            raise self._value_error(name, value)
        return tuple(int(v) for v in value)


class IntegerWith(Constraint):
    """An int ``>= low`` that also passes ``test`` (described as ``description``)."""

    def __init__(self, low: int, test: Callable[[int], bool], description: str):
        self.low, self.test, self.description = low, test, description

    def describe(self) -> str:
        return self.description

    def check(self, name, value):
        if not _is_int(value):
            raise self._type_error(name, value)
        if value < self.low or not self.test(value):
            raise self._value_error(name, value)
        return int(value)


class Names(Constraint):
    """A tuple or list of distinct strings out of ``names``; returned as a tuple."""

    def __init__(self, *names: str):
        self.names = names

    def describe(self) -> str:
        return "a tuple of distinct names out of " + ", ".join(repr(n) for n in self.names)

    def check(self, name, value):
        if not isinstance(value, (tuple, list)) or not all(isinstance(v, str) for v in value):
            raise self._type_error(name, value)
        if len(set(value)) != len(value) or not set(value) <= set(self.names):
            raise self._value_error(name, value)
        return tuple(value)


class OneOf(Constraint):
    """A value that passes the first of ``constraints`` whose type it has."""

    def __init__(self, *constraints: Constraint, description: str):
        self.constraints, self.description = constraints, description

    def describe(self) -> str:
        return self.description

    def check(self, name, value):
        for constraint in self.constraints:
            try:
                return constraint.check(name, value)
            except TypeError:
                continue
            except ValueError:
                raise self._value_error(name, value) from None
        raise self._type_error(name, value)


class Anything(Constraint):
    """No constraint (checked elsewhere, e.g. ``random_state`` by ``check_random_state``)."""

    def describe(self) -> str:
        return "anything"

    def check(self, name, value):
        return value


def check_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``; TypeError / ValueError naming ``name``."""
    return Integer(low, high).check(name, value)


def check_real(name: str, value, low: float | None = None, high: float | None = None, *,
               low_inclusive: bool = True) -> float:
    """``value`` as a finite float within the bounds; TypeError / ValueError naming ``name``."""
    return Real(low, high, low_inclusive=low_inclusive).check(name, value)


def validate_params(params: Mapping[str, Any], constraints: Mapping[str, Constraint],
                    owner: str) -> dict[str, Any]:
    """Check every parameter against its constraint and return the checked values.

    Every parameter must have an entry in ``constraints`` (a missing one is a bug of
    ``owner``'s table, reported as such).
    """
    missing = set(params) - set(constraints)
    if missing:
        raise RuntimeError(f"{owner}._parameter_constraints has no entry for {sorted(missing)}")
    return {name: constraints[name].check(name, value) for name, value in params.items()}


def memory_budget(device) -> float:
    """Bytes of memory of ``device``: a CUDA device's total memory, else the machine's
    physical memory (infinite when the platform does not say)."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return float(torch.cuda.get_device_properties(device).total_memory)
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return math.inf


def check_memory(n_bytes: float, device, what: str, remedy: str) -> None:
    """ValueError when ``n_bytes`` (a lower bound of what ``what`` allocates) exceeds the memory
    of ``device`` (:func:`memory_budget`); the message says what needs it and ``remedy``
    (which names the parameter to reduce), e.g. "sample(n_samples=10**20) needs at least
    1.1e+12 GiB, more than the 23.6 GiB of memory of the device (cpu): reduce n_samples".
    """
    budget = memory_budget(device)
    if n_bytes > budget:
        raise ValueError(
            f"{what} needs at least {n_bytes / 2**30:.3g} GiB, more than the "
            f"{budget / 2**30:.3g} GiB of memory of the device ({torch.device(device)}): "
            f"{remedy}"
        )


@contextmanager
def naming(name: str) -> Iterator[None]:
    """Context in which a plain ValueError or TypeError (e.g. scikit-learn's "Found array with
    dim 3") that does not name the input ``name`` is raised again with ``name: `` prefixed
    (``V: could not convert string to float: 'abc'``).
    """
    try:
        yield
    except (TypeError, ValueError) as error:
        if type(error) not in (TypeError, ValueError) or name in str(error).replace(
                ",", " ").replace(".", " ").split():
            raise
        raise type(error)(f"{name}: {error}") from None
