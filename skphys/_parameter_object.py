"""Parameter objects: scikit-learn-style holders of a group of parameters.

An estimator takes its architecture (and its optimizer) as one object, the way
``GaussianProcessRegressor(kernel=RBF(1.0))`` takes its kernel. A parameter object stores its
constructor arguments unchanged, declares them in ``_parameter_constraints``, validates itself
(:meth:`ParameterObject.validate`) and exposes ``get_params`` / ``set_params``, so that nested
names such as ``flow__n_layers`` work with :func:`sklearn.base.clone`,
:class:`~sklearn.model_selection.GridSearchCV` and ``set_params`` of the estimator. Calling an
architecture object builds its torch module.

Every subclass is registered by its qualified name, so that :func:`skphys.load` can rebuild
the objects of a saved estimator without importing anything.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from ._constraints import Constraint, validate_params
from .lattice._theory import qualified_name

__all__ = ["ParameterObject", "Architecture", "PARAMETER_OBJECTS"]

PARAMETER_OBJECTS: dict[str, type] = {}
"""Registry of parameter-object classes by qualified name (module.qualname)."""


class ParameterObject:
    """Base of the parameter objects (architectures, optimizers).

    Subclasses define ``__init__`` with keyword parameters that it stores unchanged under the
    same names, and ``_parameter_constraints`` with an entry for each.
    """

    _parameter_constraints: ClassVar[dict[str, Constraint]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        PARAMETER_OBJECTS[qualified_name(cls)] = cls

    @classmethod
    def _get_param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values()
                if p.name != "self" and p.kind is not p.VAR_KEYWORD]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of this object (with ``deep``, those of nested objects as ``a__b``)."""
        params = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            params[name] = value
            if deep and isinstance(value, ParameterObject):
                params.update({f"{name}__{k}": v for k, v in value.get_params(True).items()})
        return params

    def set_params(self, **params) -> ParameterObject:
        """Set parameters in place (nested ones as ``a__b``); returns ``self``."""
        valid = self._get_param_names()
        for key, value in params.items():
            head, _, sub = key.partition("__")
            if head not in valid:
                raise ValueError(
                    f"invalid parameter {head!r} for {type(self).__name__}; valid parameters "
                    f"are {valid}"
                )
            if sub:
                getattr(self, head).set_params(**{sub: value})
            else:
                setattr(self, head, value)
        return self

    def validate(self, prefix: str = "") -> dict[str, Any]:
        """Check every parameter against ``_parameter_constraints``; return the checked
        values (nested objects validate themselves). Errors name the parameter as
        ``prefix + name`` (the estimator passes e.g. ``"flow__"``)."""
        params = {prefix + k: v for k, v in self.get_params(deep=False).items()}
        constraints = {prefix + k: v for k, v in self._parameter_constraints.items()}
        checked = validate_params(params, constraints, type(self).__name__)
        checked = {k[len(prefix):]: v for k, v in checked.items()}
        for name, value in checked.items():
            if isinstance(value, ParameterObject):
                value.validate(f"{prefix}{name}__")
        try:
            self._check_consistency(checked)
        except ValueError as error:
            if not prefix:
                raise
            raise ValueError(f"{prefix[:-2]}={self!r}: {error}") from None
        return checked

    def _check_consistency(self, params: dict[str, Any]) -> None:
        """Hook: checks that involve several parameters (ValueError naming them)."""

    def __repr__(self) -> str:
        defaults = {p.name: p.default
                    for p in inspect.signature(type(self).__init__).parameters.values()}
        shown = [f"{k}={v!r}" for k, v in self.get_params(deep=False).items()
                 if not (defaults.get(k) is v or _equal(defaults.get(k), v))]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_params(deep=False) == other.get_params(
            deep=False)

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self)))


def _equal(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # e.g. arrays: never the default
        return False


class Architecture(ParameterObject):
    """A network architecture: calling it builds the torch module (see each subclass)."""

    def __call__(self, *args, **kwargs):
        return self.build(*args, **kwargs)

    def build(self, *args, **kwargs):
        raise NotImplementedError
