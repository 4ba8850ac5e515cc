"""Safe saving and loading of fitted estimators.

A saved file holds only tensors and plain Python values, written with :func:`torch.save` and
read back with ``torch.load(..., weights_only=True)``: loading a file cannot execute code. The
estimator class and any lattice theory among its parameters are looked up by name in registries
of classes already imported, never imported from the file: a lattice theory is saved under its
``"module.qualname"`` key in :data:`skphys.lattice.THEORIES`, and the module that defines it
must have been imported before loading.
"""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pandas as pd
import torch

from ._io import atomic_write
from ._parameter_object import PARAMETER_OBJECTS, ParameterObject
from ._torch_utils import resolve_device
from ._version import __version__
from .lattice import THEORIES, LatticeTheory
from .lattice._theory import qualified_name

__all__ = ["ESTIMATORS", "save", "load", "encode", "decode"]

FORMAT = "skphys-estimator"
FORMAT_VERSION = 1

#: the modules of the built-in estimators, imported by :func:`load` so that their classes are
#: registered (``import skphys`` imports them only on first use)
_ESTIMATOR_MODULES = ("_autoregressive_hamiltonian", "_distiller", "_flow_sampler", "_rg_flow",
                      "_translator")

ESTIMATORS: dict[str, type] = {}
"""Registry of estimator classes by name, filled by ``TorchEstimator.__init_subclass__``."""


def encode(value, name: str = "value"):
    """Encode ``value`` into tensors and plain Python values that ``weights_only`` accepts."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biufc":
            return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(value).copy())}
        if value.dtype.kind in "UO" and all(isinstance(v, str) for v in value.ravel()):
            return {"__strarray__": value.tolist()}
        raise TypeError(f"cannot save {name}: array of dtype {value.dtype}")
    if isinstance(value, pd.DataFrame):
        return {"__dataframe__": {str(c): value[c].tolist() for c in value.columns}}
    if isinstance(value, ParameterObject):
        return {"__parameter_object__": qualified_name(type(value)),
                "params": encode(value.get_params(deep=False), name)}
    if isinstance(value, LatticeTheory):
        cls = type(value)
        return {
            "__theory__": qualified_name(cls),
            "module": cls.__module__,
            "qualname": cls.__qualname__,
            "params": encode(value.get_params(), name),
        }
    if isinstance(value, tuple):
        return tuple(encode(v, name) for v in value)
    if isinstance(value, list):
        return [encode(v, name) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"cannot save {name}: dict keys must be strings")
        return {"__dict__": {k: encode(v, f"{name}[{k!r}]") for k, v in value.items()}}
    if type(value).__name__ in ESTIMATORS and hasattr(value, "_to_payload"):
        return {"__estimator__": value._to_payload()}
    raise TypeError(f"cannot save {name} of type {type(value).__name__}")


def decode(value, device=None):
    """Inverse of :func:`encode`."""
    if isinstance(value, tuple):
        return tuple(decode(v, device) for v in value)
    if isinstance(value, list):
        return [decode(v, device) for v in value]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        return value["__ndarray__"].numpy()
    if "__strarray__" in value:
        return np.asarray(value["__strarray__"], dtype=object)
    if "__dataframe__" in value:
        return pd.DataFrame(value["__dataframe__"])
    if "__parameter_object__" in value:
        cls = PARAMETER_OBJECTS.get(value["__parameter_object__"])
        if cls is None:
            raise ValueError(f"unknown parameter object {value['__parameter_object__']!r} in "
                             f"saved file: import the module that defines it first")
        return cls(**decode(value["params"], device))
    if "__theory__" in value:
        return _theory_class(value)(**decode(value["params"]))
    if "__dict__" in value:
        return {k: decode(v, device) for k, v in value["__dict__"].items()}
    if "__estimator__" in value:
        return from_payload(value["__estimator__"], device=device)
    raise ValueError(f"unrecognized entry in saved file: keys {sorted(value)}")


def _theory_class(entry: dict) -> type:
    """The registered class of a saved theory, or a ValueError saying what to import.

    Only classes already defined in this process are candidates: nothing is imported.
    """
    key = entry["__theory__"]
    matches = THEORIES.find(key)
    if len(matches) == 1:
        return matches[0]
    module, qualname = entry.get("module"), entry.get("qualname")
    if matches:  # a bare class name, written by an older version, that several classes have
        keys = ", ".join(sorted(qualified_name(cls) for cls in matches))
        raise ValueError(
            f"the saved model names its lattice theory only {key!r} (it was saved by an "
            f"older skphys), and several imported theories have that name ({keys}): load it "
            f"in a process that imports only the one it was saved with"
        )
    if module is not None and module.split(".")[0] == "skphys":
        # one of skphys's own theories, since moved to another private module
        moved = [cls for cls in THEORIES.values()
                 if cls.__qualname__ == qualname and cls.__module__.split(".")[0] == "skphys"]
        if len(moved) == 1:
            return moved[0]
    if module is None or qualname is None:  # an older file: a bare class name only
        raise ValueError(
            f"the saved model uses the lattice theory {key}, which is not imported: import "
            f"the module that defines it before skphys.load(...)"
        )
    if "<locals>" in qualname:
        raise ValueError(
            f"the saved model uses the lattice theory {qualname} from module {module!r}, "
            f"defined inside a function, which has not run in this process: such a theory "
            f"loads only where the function that defines it has run; define it at module "
            f"level to load it anywhere"
        )
    if module == "__main__":
        raise ValueError(
            f"the saved model uses the lattice theory {qualname} defined in the script that "
            f"saved it (module '__main__'), and this process defines no such theory: define "
            f"the theory in an importable module and import it before skphys.load(...)"
        )
    if module in sys.modules:
        raise ValueError(
            f"the saved model uses the lattice theory {qualname} from module {module!r}, "
            f"which is imported but defines no lattice theory {qualname} (renamed or moved?)"
        )
    raise ValueError(
        f"the saved model uses the lattice theory {qualname} from module {module!r}, which "
        f"is not imported: import it before skphys.load(...)"
    )


def from_payload(payload: dict, device=None):
    """Rebuild an estimator from the dictionary written by ``TorchEstimator._to_payload``."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError("not a skphys estimator file")
    cls = ESTIMATORS.get(payload["class"])
    if cls is None:
        raise ValueError(
            f"unknown estimator class {payload['class']!r}; import the module defining it first"
        )
    params = decode(payload["params"], device)
    if device is not None:
        params["device"] = device
    estimator = cls(**params)
    estimator._restore_payload(payload, device=device)
    # a requested (or saved) device that is not available here fell back to the CPU with a
    # warning: the ``device`` parameter records the device actually used, so that a later
    # ``fit`` (or ``clone(estimator).fit()``) runs where the model lives instead of failing
    if "device" in params and hasattr(estimator, "device_"):
        try:
            resolve_device(params["device"])
        except ValueError:
            estimator.set_params(device=estimator.device_)
    return estimator


def save(estimator, path) -> None:
    """Write ``estimator`` to ``path`` atomically (a temporary file renamed into place)."""
    payload = estimator._to_payload()
    with atomic_write(path) as f:
        torch.save(payload, f)


def load(path, device=None):
    """Load an estimator saved with ``estimator.save(path)``.

    The file is read with ``torch.load(..., weights_only=True)``, so a tampered file cannot run
    code: it fails to load instead.

    Parameters
    ----------
    path : str or path-like
        File written by :meth:`TorchEstimator.save`.
    device : str, optional
        Overrides the saved ``device`` parameter (e.g. ``"cpu"``). A CUDA device that is not
        available (requested here or saved) falls back to the CPU with a warning, and the
        ``device`` parameter of the loaded estimator is then ``"cpu"``, the device used.

    Returns
    -------
    estimator
        The fitted estimator.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skphys import CouplingFlow, FlowSampler, load
    >>> from skphys.lattice import FreeScalar
    >>> flow = FlowSampler(FreeScalar((4, 4), m2=1.0),
    ...                    flow=CouplingFlow(n_layers=2, hidden_channels=4), max_iter=5,
    ...                    monitor_every=0, device="cpu", random_state=0).fit()
    >>> X = flow.sample(3)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     flow.save(os.path.join(folder, "flow.pt"))
    ...     loaded = load(os.path.join(folder, "flow.pt"))
    >>> bool(np.array_equal(loaded.score_samples(X), flow.score_samples(X)))
    True
    """
    for module in _ESTIMATOR_MODULES:
        importlib.import_module(f"skphys.{module}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    return from_payload(payload, device=device)


def _payload_header(estimator) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skphys_version": __version__,
        "class": type(estimator).__name__,
    }
