"""Safe saving and loading of fitted estimators.

A saved file holds only tensors and plain Python values, written with :func:`torch.save` and
read back with ``torch.load(..., weights_only=True)``: loading a file cannot execute code. The
estimator class and any lattice theory among its parameters are looked up by name in registries
of classes already imported, never imported from the file: a lattice theory is saved under its
``"module.qualname"`` key in :data:`skphys.lattice.THEORIES`, and the module that defines it
must have been imported before loading.

:func:`load` trusts nothing in the file. Before ``torch.load`` it checks the archive (plain
stored records of consistent sizes and checksums) and every global the pickle names; after it,
the decoded tree (plain types, no shared or circular references, bounded depth, dense finite
tensors) and the schema: the header and format version, the estimator's exact parameter names
and its constraints table, the fitted attributes its class declares (:data:`FITTED_ATTRIBUTES`)
and a state dict that matches, key for key, the module its parameters build. Anything else is
an :class:`~skphys.exceptions.InvalidModelFileError` naming the problem.
"""

from __future__ import annotations

import importlib
import math
import os
import pickletools
import re
import sys
import time
import warnings
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from ._io import atomic_write
from ._parameter_object import PARAMETER_OBJECTS, ParameterObject
from ._torch_utils import _DEVICE_PATTERN, registrations, resolve_device
from ._version import __version__
from .exceptions import InvalidModelFileError
from .lattice import THEORIES, LatticeTheory
from .lattice._theory import qualified_name

__all__ = ["ESTIMATORS", "FITTED_ATTRIBUTES", "save", "load", "encode", "decode"]

FORMAT = "skphys-estimator"
FORMAT_VERSION = 1

#: the modules of the built-in estimators, imported by :func:`load` so that their classes are
#: registered (``import skphys`` imports them only on first use)
_ESTIMATOR_MODULES = ("_autoregressive_hamiltonian", "_distiller", "_flow_sampler", "_rg_flow",
                      "_translator")

ESTIMATORS: dict[str, type] = {}
"""Registry of estimator classes by name, filled by ``TorchEstimator.__init_subclass__``."""

# -- limits of the decoder ------------------------------------------------------------------
#: nesting of lists, tuples and dicts (a saved estimator needs about 15)
_MAX_DEPTH = 64
#: the pickle (everything but the tensors' bytes)
_MAX_PICKLE_BYTES = 256 * 2**20
#: CPU seconds for building the module on the meta device, plus one per 100 kB of weights
#: (the lattice-sized buffers of a large lattice pay for its longer build)
_BUILD_SECONDS = 1.0
_BUILD_BYTES_PER_SECOND = 1e5
#: the unpickler's stack (torch.save writes lists and dicts in batches of 1000 items)
_MAX_STACK = 10_000
#: integers anywhere in the file (seeds are below 2**63)
_MAX_INT = 2**64
#: what the pickle of a saved estimator may name: the tensor rebuild, its (empty) hook dict
#: and the storage types; ``torch.load(weights_only=True)`` allows more (and whatever a
#: process adds with ``torch.serialization.add_safe_globals``)
_STORAGES = ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte",
             "Bool", "ComplexFloat", "ComplexDouble")
_ALLOWED_GLOBALS = frozenset({"torch._utils _rebuild_tensor_v2", "collections OrderedDict",
                              *(f"torch {name}Storage" for name in _STORAGES)})
#: opcodes that build objects other than through an allowed global (torch.save writes none)
_REFUSED_OPCODES = frozenset({"STACK_GLOBAL", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "EXT1",
                              "EXT2", "EXT4", "PERSID"})
_TENSOR_DTYPES = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64,
                            torch.complex64, torch.complex128, torch.uint8, torch.int8,
                            torch.int16, torch.int32, torch.int64, torch.bool})
_HEADER_KEYS = ("format", "format_version", "skphys_version", "class", "params", "fitted",
                "seeds", "module_state")
#: the tags of :func:`encode` and the other keys each tagged dict has
_TAGS: dict[str, tuple[frozenset, frozenset]] = {  # tag: (required keys, optional keys)
    "__ndarray__": (frozenset({"__ndarray__"}), frozenset()),
    "__strarray__": (frozenset({"__strarray__"}), frozenset()),
    "__dataframe__": (frozenset({"__dataframe__"}), frozenset()),
    "__parameter_object__": (frozenset({"__parameter_object__", "params"}), frozenset()),
    "__theory__": (frozenset({"__theory__", "params"}), frozenset({"module", "qualname"})),
    "__dict__": (frozenset({"__dict__"}), frozenset()),
    "__estimator__": (frozenset({"__estimator__"}), frozenset()),
}


class _Invalid(Exception):
    """Why a file is not a valid skphys model (:func:`load` adds the path)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _short(value, limit: int = 80) -> str:
    """A repr of a value from a file, cut to ``limit`` characters."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _MAX_INT:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value) if not isinstance(value, torch.Tensor) else (
        f"tensor(shape={tuple(value.shape)}, dtype={value.dtype})")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- fitted attributes ----------------------------------------------------------------------
def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_Kind = tuple[Callable[[Any], bool], str]
_STR: _Kind = (lambda v: isinstance(v, str), "a string")
_BOOL: _Kind = (lambda v: isinstance(v, bool), "a bool")
_COUNT: _Kind = (lambda v: _is_int(v) and v >= 0, "an integer >= 0")
_SIZE: _Kind = (lambda v: _is_int(v) and v >= 1, "an integer >= 1")
_REAL: _Kind = (_is_real, "a real number")
_SCORE: _Kind = (lambda v: v is None or _is_real(v), "a real number or None")
_SHAPE: _Kind = (lambda v: isinstance(v, tuple) and 1 <= len(v) <= 8
                 and all(_is_int(n) and n >= 1 for n in v), "a tuple of integers >= 1")
_RANGE: _Kind = (lambda v: isinstance(v, tuple) and len(v) == 2 and all(map(_is_real, v)),
                 "a pair of real numbers")
_FLOATS: _Kind = (lambda v: isinstance(v, np.ndarray) and v.dtype.kind == "f", "a float array")
_INTS: _Kind = (lambda v: isinstance(v, np.ndarray) and v.dtype.kind in "iu",
                "an integer array")
_NAMES: _Kind = (lambda v: isinstance(v, np.ndarray) and v.dtype == object and v.ndim == 1,
                 "a 1-D array of str")
_STRS: _Kind = (lambda v: isinstance(v, tuple) and all(isinstance(n, str) for n in v),
                "a tuple of str")
_HISTORY: _Kind = (lambda v: isinstance(v, pd.DataFrame), "a DataFrame")
_DEVICE: _Kind = (lambda v: isinstance(v, str) and v != "auto"
                  and _DEVICE_PATTERN.match(v) is not None, "'cpu', 'cuda' or 'cuda:N'")
_ANY: _Kind = (lambda v: True, "anything")

#: the fitted attributes every estimator may have (``module_`` is the state dict); the first
#: three are required
_BASE_FITTED: dict[str, _Kind] = {
    "device_": _DEVICE, "n_iter_": _COUNT, "history_": _HISTORY,
    "n_features_in_": _SIZE, "feature_names_in_": _NAMES,
}
_REQUIRED_FITTED = ("device_", "n_iter_", "history_")
_GENERATIVE_FITTED: dict[str, _Kind] = {
    "lattice_shape_": _SHAPE, "train_score_": _SCORE, "validation_score_": _SCORE,
    "ess_": _REAL, "pareto_k_": _REAL, "acceptance_rate_": _REAL,
}

FITTED_ATTRIBUTES: dict[str, dict[str, _Kind]] = {
    "FlowSampler": _GENERATIVE_FITTED,
    "RGFlow": {**_GENERATIVE_FITTED, "levels_": _INTS},
    "AutoregressiveHamiltonian": {**_GENERATIVE_FITTED, "dof_": _STR, "z2_mixture_": _BOOL,
                                  "rotation_symmetric_": _BOOL, "beta_anneal_": _REAL,
                                  "augment_": _STRS},
    "PhysicsTranslator": {"v_scale_": _REAL, "row_sum_": _REAL},
    "BottleneckDistiller": {"hidden_mean_": _FLOATS, "hidden_scale_": _FLOATS,
                            "v_scale_": _REAL, "v_range_": _RANGE, "density_mean_": _REAL,
                            "density_scale_": _REAL},
    # the transformers of skphys.preprocessing (pickled as sklearn objects, not by save)
    "Dequantizer": {"n_levels_": _SIZE, "data_range_": _RANGE},
    "LevelSelector": {"levels_": _INTS, "support_": _ANY},
}
"""The fitted attributes (beyond those of every estimator) that :func:`load` accepts, by
estimator class name, each with the kind of value it must hold. A file holding any other is
refused. A new fitted attribute must be added here, or it does not survive ``save``/``load``
(the round-trip tests fail). A subclass inherits its bases' entries; an estimator defined
outside skphys may list its own in a class attribute ``_fitted_attributes`` (names only)."""


def _fitted_kinds(cls: type) -> dict[str, _Kind]:
    kinds = dict(_BASE_FITTED)
    for klass in reversed(cls.__mro__):
        kinds.update(FITTED_ATTRIBUTES.get(klass.__name__, {}))
        for name in vars(klass).get("_fitted_attributes", ()):
            kinds.setdefault(name, _ANY)
    return kinds


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


# -- reading the file -----------------------------------------------------------------------
def _read_payload(file) -> object:
    """``torch.load`` of an open binary file, after checking the archive and its pickle."""
    size = file.seek(0, os.SEEK_END)
    file.seek(0)
    try:
        archive = zipfile.ZipFile(file)
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError):
        raise _Invalid("it is not a zip archive written by torch.save (a truncated file, or "
                       "another format)") from None
    pickles = [info for info in infos if info.filename.endswith("/data.pkl")]
    if len(pickles) != 1:
        raise _Invalid(f"it is a zip archive with {len(pickles)} pickles instead of the one "
                       f"data.pkl of torch.save")
    prefix = pickles[0].filename[: -len("data.pkl")]
    for info in infos:
        if not info.filename.startswith(prefix) or info.flag_bits & 0x1:
            raise _Invalid(f"its archive holds a foreign record {info.filename!r}")
        if info.compress_type != zipfile.ZIP_STORED:
            raise _Invalid(f"its record {info.filename!r} is compressed, which torch.save never "
                           f"does (a possible decompression bomb)")
    if sum(info.file_size for info in infos) > size:
        raise _Invalid("its records claim more bytes than the file has")
    if pickles[0].file_size > _MAX_PICKLE_BYTES:
        raise _Invalid(f"its pickle has {pickles[0].file_size} bytes, more than the "
                       f"{_MAX_PICKLE_BYTES} a saved estimator can need")
    try:
        for info in infos:  # reading a record to its end checks its CRC-32
            with archive.open(info) as record:
                while record.read(2**20):
                    pass
        data = archive.read(pickles[0])
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError,
            RuntimeError) as error:
        raise _Invalid(f"its archive is corrupt ({error})") from None
    _check_pickle(data)
    file.seek(0)
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # whatever torch raises on a malformed archive or pickle
        # the weights-only unpickler's own words, without its advice to load unsafely
        message = str(error)
        found = re.search(r"WeightsUnpickler error:\s*(.*?)\s*(\n\n|$)", message, re.S)
        message = (found.group(1) if found else message).strip("'\"")
        if len(message) > 200:
            message = message[:197] + "..."
        raise _Invalid(f"torch.load refused it ({type(error).__name__}: {message})") from error


def _check_pickle(data: bytes) -> None:
    """Refuse a pickle that names anything but the tensor rebuild and storage types, or whose
    stack grows beyond what nesting a saved estimator needs."""
    height, marks = 0, []  # the unpickler's stack, simulated (as pickletools.dis does)
    try:
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name in _REFUSED_OPCODES:
                raise _Invalid(f"its pickle uses the opcode {opcode.name}, which torch.save "
                               f"never writes for a skphys model")
            if opcode.name == "GLOBAL" and arg not in _ALLOWED_GLOBALS:
                raise _Invalid(f"its pickle refers to {str(arg).replace(' ', '.')}, which a "
                               f"skphys model file never holds")
            before, after = opcode.stack_before, opcode.stack_after
            if opcode.name == "MARK":
                marks.append(height)
            elif pickletools.markobject in before:
                if not marks:
                    raise ValueError(f"{opcode.name} without a MARK")
                height = marks.pop() - before.index(pickletools.markobject) + len(after)
            else:
                height += len(after) - len(before)
            if height > _MAX_STACK or len(marks) > _MAX_STACK:
                raise _Invalid(f"its pickle stacks more than {_MAX_STACK} objects (nesting far "
                               f"deeper than a saved estimator's)")
    except ValueError as error:  # truncated or unknown opcodes
        raise _Invalid(f"its pickle is corrupt ({error})") from None


def _where(trail) -> str:
    """``payload['params']['__dict__'][0]`` from a linked trail ``(parent, key)``."""
    keys = []
    while trail is not None:
        trail, key = trail
        keys.append(key)
    keys.reverse()
    text = "".join(f"[{_short(key, 40)}]" for key in keys[:6])
    if len(keys) > 6:
        text += f"... ({len(keys)} levels deep)"
    return "the file" + text


def _check_tree(root) -> None:
    """Refuse anything but a tree of plain values and dense tensors of bounded depth.

    A container reached twice (a shared reference, which the pickle memo allows, or a cycle)
    is refused: :func:`decode` would copy it each time it is reached, so that references
    nested ``n`` deep would expand to ``2**n`` copies.
    """
    seen: set[int] = set()
    stack: list[tuple[Any, int, Any]] = [(root, 0, None)]
    while stack:
        value, depth, trail = stack.pop()
        kind = type(value)
        if value is None or kind in (bool, float, complex, str):
            continue
        if kind is int:
            if not -_MAX_INT < value < _MAX_INT:
                raise _Invalid(f"{_where(trail)} is {_short(value)}, beyond 64 bits")
            continue
        if kind is torch.Tensor:
            _check_tensor(value, trail)
            continue
        if kind not in (dict, list, tuple):
            raise _Invalid(f"{_where(trail)} holds a {kind.__module__}.{kind.__qualname__}, "
                           f"which a skphys model file never contains")
        if depth >= _MAX_DEPTH:
            raise _Invalid(f"{_where(trail)} is nested more than {_MAX_DEPTH} levels deep")
        if value:
            if id(value) in seen:
                raise _Invalid(f"{_where(trail)} is a shared or circular reference (skphys "
                               f"never writes one; decoded, such references multiply)")
            seen.add(id(value))
        if kind is dict:
            for key, item in value.items():
                if not isinstance(key, str):
                    raise _Invalid(f"{_where(trail)} has a key {_short(key)} that is not a "
                                   f"string")
                stack.append((item, depth + 1, (trail, key)))
        else:
            stack.extend((item, depth + 1, (trail, i)) for i, item in enumerate(value))


def _check_tensor(tensor: torch.Tensor, trail) -> None:
    if (tensor.layout != torch.strided or tensor.is_quantized or tensor.requires_grad
            or tensor.dtype not in _TENSOR_DTYPES or tensor.device.type != "cpu"):
        raise _Invalid(f"{_where(trail)} is a {tensor.layout} {tensor.dtype} tensor "
                       f"(requires_grad={tensor.requires_grad}), which skphys never saves")
    needed = (tensor.storage_offset() + tensor.numel()) * tensor.element_size()
    if not tensor.is_contiguous() or needed > tensor.untyped_storage().nbytes():
        raise _Invalid(f"{_where(trail)} is a tensor of shape {tuple(tensor.shape)} whose "
                       f"elements are not all stored (a strided view; skphys saves dense "
                       f"tensors)")


# -- decoding -------------------------------------------------------------------------------
def decode(value, device=None, where: str = "the file"):
    """Inverse of :func:`encode`, for a tree that passed :func:`_check_tree`.

    Raises ``_Invalid`` for any entry :func:`encode` does not write.
    """
    if isinstance(value, tuple):
        return tuple(decode(v, device, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(value, list):
        return [decode(v, device, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):  # a plain value or a tensor (checked by _check_tree)
        return value
    tags = [key for key in value if key in _TAGS]
    keys = set(value)
    if len(tags) != 1 or not (_TAGS[tags[0]][0] <= keys <= _TAGS[tags[0]][0] | _TAGS[tags[0]][1]):
        raise _Invalid(f"{where} is an unrecognized entry (keys {_short(sorted(keys))})")
    tag, content = tags[0], value[tags[0]]
    if tag == "__ndarray__":
        if not isinstance(content, torch.Tensor) or content.dtype == torch.bfloat16:
            raise _Invalid(f"{where} is not an array")
        return content.numpy()
    if tag == "__strarray__":
        array = np.asarray(content, dtype=object) if isinstance(content, list) else None
        if array is None or not all(isinstance(v, str) for v in array.ravel()):
            raise _Invalid(f"{where} is not an array of str")
        return array
    if tag == "__dataframe__":
        return _decode_dataframe(content, where)
    if tag == "__dict__":
        if not isinstance(content, dict):
            raise _Invalid(f"{where} is not a dict")
        return {k: decode(v, device, f"{where}[{k!r}]") for k, v in content.items()}
    if tag == "__parameter_object__":
        cls = PARAMETER_OBJECTS.get(content) if isinstance(content, str) else None
        if cls is None:
            raise ValueError(f"unknown parameter object {_short(content)} in saved file: "
                             f"import the module that defines it first")
        return _construct(cls, decode(value["params"], device, where), where)
    if tag == "__theory__":
        if not isinstance(content, str) or not all(
                isinstance(value.get(k, ""), str) for k in ("module", "qualname")):
            raise _Invalid(f"{where} is not a lattice theory")
        return _construct(_theory_class(value), decode(value["params"], None, where), where)
    try:
        return from_payload(content, device=device)
    except _Invalid as error:
        raise _Invalid(f"{where} is an invalid nested estimator: {error.reason}") from (
            error.__cause__)


def _decode_dataframe(columns, where: str) -> pd.DataFrame:
    if not isinstance(columns, dict) or not all(
            isinstance(column, list) and all(
                v is None or type(v) in (bool, int, float, complex, str) for v in column)
            for column in columns.values()):
        raise _Invalid(f"{where} is not a table of plain values")
    if len({len(column) for column in columns.values()}) > 1:
        raise _Invalid(f"{where} is a table with columns of different lengths")
    return pd.DataFrame(columns)


def _construct(cls: Any, params, where: str):
    """``cls(**params)`` with exactly the parameters of ``cls``."""
    if not isinstance(params, dict):
        raise _Invalid(f"{where} has no parameter dict")
    names = set(cls._get_param_names())
    if set(params) != names:
        unknown, missing = sorted(set(params) - names), sorted(names - set(params))
        raise _Invalid(f"{where}: its parameters are not those of {cls.__name__} (unknown "
                       f"{unknown}, missing {missing})")
    try:
        return cls(**params)
    except (TypeError, ValueError) as error:
        raise _Invalid(f"{where}: {cls.__name__}(...) refused its parameters: {error}") from (
            error)


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


def _check_header(payload) -> Any:
    """The estimator class of a payload whose header and top-level keys are valid."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        keys = sorted(payload)[:8] if isinstance(payload, dict) else type(payload).__name__
        raise _Invalid(f"it is not a skphys estimator file (no format {FORMAT!r}; it holds "
                       f"{_short(keys)})")
    version: Any = payload.get("format_version")
    if not _is_int(version) or version < 1:
        raise _Invalid(f"its format version {_short(version)} is not one skphys writes")
    if version > FORMAT_VERSION:
        raise _Invalid(
            f"it was written in format version {version}, newer than the version "
            f"{FORMAT_VERSION} this skphys {__version__} reads (saved by skphys "
            f"{_short(payload.get('skphys_version'))}): upgrade skphys to load it")
    name = payload.get("class")
    cls = ESTIMATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise _Invalid(f"unknown estimator class {_short(name)}; if a module of yours defines "
                       f"it, import that module before skphys.load(...)")
    unknown = sorted(set(payload) - set(_HEADER_KEYS))
    missing = [key for key in _HEADER_KEYS if key not in payload]
    if unknown or missing:
        raise _Invalid(f"its top-level entries do not match format version {FORMAT_VERSION} "
                       f"(unknown {_short(unknown)}, missing {missing})")
    if not isinstance(payload["skphys_version"], str):
        raise _Invalid("its skphys_version is not a string")
    seeds = payload["seeds"]
    if not (isinstance(seeds, list) and len(seeds) == 2
            and all(_is_int(s) and 0 <= s < 2**63 for s in seeds)):
        raise _Invalid(f"its seeds {_short(seeds)} are not two integers in [0, 2**63)")
    for key in ("params", "fitted", "module_state"):
        if not isinstance(payload[key], dict):
            raise _Invalid(f"its {key} is not a dict")
    if not all(isinstance(v, torch.Tensor) for v in payload["module_state"].values()):
        raise _Invalid("its module_state holds something other than tensors")
    return cls


def _available_device(device):
    """A CUDA ``device`` not available here becomes the CPU (the fitted ``device_`` warns)."""
    try:
        resolve_device(device)
    except ValueError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                return str(resolve_device(device, fallback=True))
            except ValueError:
                pass  # not a device at all: the constraints table reports it
    return device


def from_payload(payload: dict, device=None):
    """Rebuild an estimator from the dictionary written by ``TorchEstimator._to_payload``.

    ``payload`` must have passed :func:`_check_tree`; a file that is not a valid skphys model
    raises ``_Invalid``.
    """
    cls = _check_header(payload)
    params = decode(payload["params"], device, "params")
    if not isinstance(params, dict) or set(params) != set(cls._get_param_names()):
        names = set(cls._get_param_names())
        got = set(params) if isinstance(params, dict) else set()
        raise _Invalid(f"its parameters are not those of {cls.__name__} (unknown "
                       f"{sorted(got - names)}, missing {sorted(names - got)})")
    if device is not None:
        params["device"] = device
    if "device" in params:
        # a saved CUDA device not available here: the estimator records the device it uses,
        # so that a later ``fit`` (or ``clone(estimator).fit()``) runs where the model lives
        params["device"] = _available_device(params["device"])
    try:
        estimator = cls(**params)
        estimator._validate_params()
    except (TypeError, ValueError) as error:
        raise _Invalid(f"it holds an invalid parameter: {error}") from error
    estimator._restore_payload(payload, device=device)
    return estimator


def restore_fitted(estimator, fitted: dict, device=None) -> None:
    """Set the fitted attributes of ``estimator`` from a payload's ``fitted`` dict, each one
    that its class declares, of the declared kind (``_Invalid`` otherwise)."""
    cls = type(estimator)
    kinds = _fitted_kinds(cls)
    unknown = sorted(set(fitted) - set(kinds))
    if unknown:
        raise _Invalid(f"it holds fitted attribute(s) {_short(unknown)} that {cls.__name__} "
                       f"does not have")
    missing = [name for name in _REQUIRED_FITTED if name not in fitted]
    if missing:
        raise _Invalid(f"it lacks the fitted attribute(s) {missing}")
    values = {}
    for name, value in fitted.items():
        value = decode(value, device, name)
        check, description = kinds[name]
        if hasattr(cls, name):
            raise _Invalid(f"its fitted attribute {name} would hide {cls.__name__}.{name}")
        if not check(value):
            raise _Invalid(f"its fitted attribute {name} is {_short(value)}, not "
                           f"{description}")
        values[name] = value
    _check_lattice(estimator, values)
    for name, value in values.items():
        setattr(estimator, name, value)


def _check_lattice(estimator, fitted: dict) -> None:
    """The fitted lattice agrees with the parameters that fix it and with n_features_in_."""
    shape = fitted.get("lattice_shape_")
    if shape is None:
        return
    theory = getattr(estimator, "theory", None)
    declared = getattr(theory, "shape", None) or getattr(estimator, "lattice_shape", None)
    if isinstance(declared, (tuple, list)) and tuple(declared) != shape:
        raise _Invalid(f"its fitted lattice_shape_ {_short(shape)} is not the lattice "
                       f"{tuple(declared)} of its parameters")
    n_features = fitted.get("n_features_in_")
    if n_features is not None and n_features % math.prod(shape):
        raise _Invalid(f"its n_features_in_={n_features} is not a multiple of the "
                       f"{math.prod(shape)} sites of lattice_shape_ {shape}")


def check_module_state(estimator, state: dict) -> None:
    """``state`` has the keys, shapes and dtypes of the module that ``estimator``'s parameters
    and fitted attributes build, and finite values (``_Invalid`` otherwise).

    The module is built on the ``meta`` device (no memory for its tensors), and its build is
    stopped once it registers more tensors and submodules than ``state`` can account for, so
    that parameters claiming a huge model cost neither memory nor time.
    """
    n_bytes = sum(t.numel() * t.element_size() for t in state.values())
    expected = _expected_state(estimator, limit=8 * len(state) + 256, n_bytes=n_bytes)
    unknown = sorted(set(state) - set(expected))
    missing = sorted(set(expected) - set(state))
    if unknown or missing:
        raise _Invalid(f"its module_state does not match the module its parameters build "
                       f"(unknown keys {_short(unknown)}, missing {_short(missing)})")
    for name, tensor in state.items():
        shape, dtype = expected[name]
        if tuple(tensor.shape) != shape or tensor.dtype != dtype:
            raise _Invalid(f"its module_state[{name!r}] is {_short(tensor)}, but the module "
                           f"its parameters build has shape {shape} and dtype {dtype}")
        if (tensor.is_floating_point() or tensor.is_complex()) and not bool(
                torch.isfinite(tensor).all()):
            raise _Invalid(f"its module_state[{name!r}] holds NaN or infinite values")


def _expected_state(estimator, limit: int, n_bytes: int) -> dict[str, tuple]:
    """Keys, shapes and dtypes of the state dict of the module ``estimator`` builds.

    The build runs on the ``meta`` device and stops (``_Invalid``) once it registers more
    than ``limit`` tensors and submodules, or spends more CPU time than a model of
    ``n_bytes`` of weights can need (parameters claiming a huge lattice or thousands of
    layers)."""
    count = [0]

    def count_registration(kind, value):
        count[0] += 1
        if count[0] > limit:
            raise _Invalid("its parameters build a module far larger than the weights it "
                           "holds")

    # torch imports its compiler stack (seconds) on a first call through its eval-frame
    # wrappers, which a build makes: that is not the build's cost, so it comes first
    importlib.import_module("torch._dynamo")
    deadline = time.thread_time() + _BUILD_SECONDS + n_bytes / _BUILD_BYTES_PER_SECOND
    events = [0]

    def watch(frame, event, arg):
        events[0] += 1
        if events[0] % 256 == 0 and time.thread_time() > deadline:
            sys.setprofile(None)
            raise _Invalid("its parameters build a model far larger than the weights it holds "
                           "(the build ran out of its time budget)")

    profiling = sys.getprofile() is None  # never displace a profiler the user runs
    try:
        with torch.random.fork_rng(devices=[]), registrations(count_registration):
            if profiling:
                sys.setprofile(watch)
            try:
                with torch.device("meta"):
                    module = estimator._build_module()
            except (RuntimeError, NotImplementedError):
                # a build that needs real tensors (none of skphys's): the CPU, still bounded
                count[0] = 0
                module = estimator._build_module()
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, RuntimeError,
            MemoryError) as error:
        raise _Invalid(f"its parameters and fitted attributes do not build a model: "
                       f"{type(error).__name__}: {error}") from error
    finally:
        if profiling:
            sys.setprofile(None)
    module = module.to(dtype=estimator._dtype)
    return {k: (tuple(v.shape), v.dtype) for k, v in module.state_dict().items()}


def save(estimator, path) -> None:
    """Write ``estimator`` to ``path`` atomically (a temporary file renamed into place)."""
    payload = estimator._to_payload()
    with atomic_write(path) as f:
        torch.save(payload, f)


def load(path, device=None):
    """Load an estimator saved with ``estimator.save(path)``.

    The file is read with ``torch.load(..., weights_only=True)``, so a tampered file cannot run
    code, and :func:`load` checks it before it builds the model the file describes:

    - the archive: the zip records of ``torch.save``, uncompressed, with matching sizes and
      checksums; the pickle names no global but the tensor rebuild and storage types;
    - the decoded values: only plain values (None, bool, int within 64 bits, float, str),
      lists, tuples, dicts with string keys and dense CPU tensors, nested at most 64 deep,
      with no shared or circular references (which would multiply when decoded);
    - the schema: the format version is one this skphys reads; no top-level entry is
      missing or unknown; the estimator's parameters are exactly its parameter names and pass
      its constraints table; the fitted attributes are those its class declares, each of the
      declared kind; the state dict has the keys, shapes and dtypes of the module that the
      parameters build and only finite values. That module is built first on the ``meta``
      device (on the CPU for a flow whose build needs real tensors), and the build is stopped
      once it registers more tensors and submodules, or spends more CPU time, than the
      weights in the file account for.

    Memory and time stay proportional to the file's size.

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

    Raises
    ------
    skphys.exceptions.InvalidModelFileError
        (a ``ValueError``) when the file is not a valid skphys model, saying why: not a
        ``torch.save`` archive, truncated or corrupted, or altered after saving.
    ValueError
        When the file needs a class this process has not imported (a lattice theory or
        estimator defined outside skphys), saying what to import.

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
    with open(path, "rb") as file:
        try:
            payload = _read_payload(file)
            if type(payload) is not dict or payload.get("format") != FORMAT:
                _check_header(payload)  # says what the file holds instead
            _check_tree(payload)
            return from_payload(payload, device=device)
        except _Invalid as error:
            raise InvalidModelFileError(path, error.reason) from error.__cause__


def _payload_header(estimator) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skphys_version": __version__,
        "class": type(estimator).__name__,
    }
