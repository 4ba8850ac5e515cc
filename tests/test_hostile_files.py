"""Hostile files: ``skphys.load`` refuses each with one InvalidModelFileError, quickly and in
bounded memory.

Every file is built from a valid saved model: a small GaussianDensity (the test estimator)
or a small FlowSampler of a lattice theory, read back as the plain payload ``torch.load``
returns, altered, and written again; or the archive itself is altered byte by byte.
"""

from __future__ import annotations

import os
import pickle
import re
import time
import tracemalloc
import warnings
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from _gaussian_estimator import GaussianDensity

import skphys
from skphys import ContinuousFlow, CouplingFlow, FlowSampler
from skphys._persistence import FITTED_ATTRIBUTES
from skphys.exceptions import InvalidModelFileError
from skphys.lattice import FreeScalar

MAX_SECONDS = 2.0  # CPU seconds per refused file
MAX_EXTRA_BYTES = 200 * 2**20  # peak memory beyond that before the load


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """Paths of valid files: a GaussianDensity and two FlowSamplers of a theory."""
    folder = tmp_path_factory.mktemp("valid")
    X = np.random.default_rng(0).normal(size=(64, 3))
    GaussianDensity(max_iter=3, random_state=0, device="cpu").fit(X).save(folder / "g.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two steps: not usable for reweighting
        FlowSampler(FreeScalar((4, 4), m2=1.0), flow=CouplingFlow(n_layers=2, hidden_channels=4),
                    max_iter=2, monitor_every=0, device="cpu", random_state=0,
                    ).fit().save(folder / "f.pt")
        # its build needs real tensors: the CPU instead of the meta device, same bounds
        FlowSampler(FreeScalar((4, 4), m2=1.0), flow=ContinuousFlow(), max_iter=1,
                    monitor_every=0, device="cpu", random_state=0).fit().save(folder / "c.pt")
    return {"gaussian": folder / "g.pt", "flow": folder / "f.pt", "continuous": folder / "c.pt"}


# -- ways of building a hostile file --------------------------------------------------------
def _payload(path):
    return torch.load(path, weights_only=True)


def _rewrite(path, out, change=lambda name, data: data, compression=zipfile.ZIP_STORED):
    """Copy the archive ``path`` to ``out`` with each record passed through ``change``."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w", compression) as target:
        for info in source.infolist():
            target.writestr(info.filename, change(info.filename, source.read(info)))


def _flip_byte(path, out, record):
    """Flip one byte inside ``record`` without updating its checksum."""
    data = bytearray(Path(path).read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(record))
    name_length, extra_length = int.from_bytes(data[info.header_offset + 26:][:2], "little"), \
        int.from_bytes(data[info.header_offset + 28:][:2], "little")
    data[info.header_offset + 30 + name_length + extra_length + info.file_size // 2] ^= 0x10
    Path(out).write_bytes(bytes(data))


def _bomb(depth):
    """Nested lists, each holding its child twice: 2**depth leaves through shared references
    (the pickle memo writes each list once)."""
    node = [0.0]
    for _ in range(depth):
        node = [node, node]
    return node


def _deep(source, out, depth=100_000):
    """random_state: lists nested ``depth`` deep (written as pickle opcodes: the pickler
    itself recurses)."""
    _tamper(lambda p: _params(p).update(random_state="PLACEHOLDER"))(source, out)
    string = b"X" + len("PLACEHOLDER").to_bytes(4, "little") + b"PLACEHOLDER"
    nested = b"]" * depth + b"a" * (depth - 1)  # EMPTY_LIST ..., then APPEND ...
    _rewrite(out, out.with_suffix(".tmp"),
             lambda name, data: data.replace(string, nested) if name.endswith(".pkl") else data)
    os.replace(out.with_suffix(".tmp"), out)


class _System:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def _tamper(change):
    """A case that alters the payload of a valid file with ``change(payload)``."""
    def build(source, out):
        payload = _payload(source)
        change(payload)
        torch.save(payload, out)
    return build


def _set(*keys, value):
    def change(payload):
        node = payload
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return _tamper(change)


def _params(payload):
    return payload["params"]["__dict__"]


def _theory(payload):
    return _params(payload)["theory"]


def _write(data):
    def build(source, out):
        Path(out).write_bytes(data(source) if callable(data) else data)
    return build


def _legacy_torch(source, out):
    torch.save({"w": torch.zeros(3)}, out, _use_new_zipfile_serialization=False)


def _npz(source, out):
    with open(out, "wb") as f:
        np.savez(f, w=np.zeros(3))


def _foreign_torch(source, out):
    torch.save(torch.nn.Linear(2, 2).state_dict(), out)


def _pickled_code(source, out):
    payload = _payload(source)
    payload["params"] = _System()
    torch.save(payload, out)


def _declared_size(source, out):
    # the first storage declares 200 elements where its record holds 3
    def change(name, data):
        if name.endswith("data.pkl"):
            data = re.sub(rb"(X\x01\x00\x00\x000q.h.)K\x03t", lambda m: m.group(1) + b"K\xc8t",
                          data, count=1, flags=re.S)
        return data
    _rewrite(source, out, change)


def _more_layers(payload, n_layers=10**6):
    flow = _params(payload)["flow"]["params"]["__dict__"]
    flow["n_layers"] = n_layers


def _wider(payload):
    flow = _params(payload)["flow"]["params"]["__dict__"]
    flow["hidden_channels"] = (10**6, 10**6)


def _huge_lattice(payload):
    _theory(payload)["params"]["__dict__"]["shape"] = tuple([4096, 4096])
    payload["fitted"]["lattice_shape_"] = tuple([4096, 4096])  # not the same tuple
    payload["fitted"]["n_features_in_"] = 4096**2


def _weights(change):
    def apply(payload):
        state = payload["module_state"]
        change(state)
    return _tamper(apply)


def _nan(state):
    state["mean"][0] = float("nan")


def _inf(state):
    state["tril"][1, 1] = float("inf")


def _cycle(payload):
    loop: list = []
    loop.append(loop)
    _params(payload)["random_state"] = loop


# (id, model, build(source, out), expected message)
CASES = [
    # foreign, truncated and corrupt files
    ("empty", "gaussian", _write(b""), "not a zip archive"),
    ("text", "gaussian", _write(b"just some notes\n"), "not a zip archive"),
    ("pickle", "gaussian", _write(pickle.dumps({"w": [1.0, 2.0]})), "not a zip archive"),
    ("legacy-torch", "gaussian", _legacy_torch, "not a zip archive"),
    ("npz", "gaussian", _npz, r"0 pickles instead of the one data\.pkl"),
    ("torch-state-dict", "gaussian", _foreign_torch, "not a skphys estimator file"),
    ("truncated-half", "gaussian", _write(lambda p: Path(p).read_bytes()[:1500]),
     "not a zip archive"),
    ("truncated-end", "gaussian", _write(lambda p: Path(p).read_bytes()[:-30]),
     "not a zip archive"),
    ("flipped-weight", "gaussian", lambda s, o: _flip_byte(s, o, "data/1"),
     "archive is corrupt.*CRC"),
    ("flipped-pickle", "gaussian", lambda s, o: _flip_byte(s, o, "data.pkl"),
     "archive is corrupt.*CRC"),
    ("compressed", "gaussian",
     lambda s, o: _rewrite(s, o, compression=zipfile.ZIP_DEFLATED), "is compressed"),
    ("declared-size", "gaussian", _declared_size, "torch.load refused it"),
    ("code", "gaussian", _pickled_code, r"refers to (os|posix)\.system"),
    ("torch-safe-set", "gaussian", _set("params", value={1, 2}),
     r"refers to (builtins|__builtin__)\.set"),
    # reference bombs and other decoder traps
    ("reference-bomb", "gaussian", _tamper(lambda p: _params(p).update(random_state=_bomb(60))),
     "shared or circular reference"),
    ("dict-bomb", "gaussian", _tamper(lambda p: p["fitted"].update(
        history_={"__dataframe__": {"a": _bomb(60)[0], "b": _bomb(60)[0]}})),
     "shared or circular reference"),
    ("cycle", "gaussian", _tamper(_cycle), "shared or circular reference"),
    ("deep-nesting", "gaussian", _deep, "stacks more than 10000 objects"),
    ("nesting", "gaussian", lambda s, o: _deep(s, o, depth=1000), "nested more than 64 levels"),
    ("huge-int", "gaussian", _set("fitted", "n_iter_", value=2**2000), "beyond 64 bits"),
    ("long4-int", "gaussian", _set("fitted", "n_iter_", value=2**80_000),
     r"torch.load refused it \(UnpicklingError: Unsupported operand"),
    ("stride-0-tensor", "gaussian", _weights(lambda s: s.update(
        mean=torch.zeros(1).expand(10**12))), "not all stored"),
    ("tensor-parameter", "gaussian", _tamper(lambda p: _params(p).update(
        random_state=torch.zeros(2))), "invalid parameter: random_state"),
    ("unknown-tag", "gaussian", _tamper(lambda p: _params(p).update(
        random_state={"__eval__": "print(1)"})), "unrecognized entry"),
    # tampered header and parameters
    ("future-version", "gaussian", _set("format_version", value=2),
     "format version 2, newer than the version 1"),
    ("version-as-string", "gaussian", _set("format_version", value="1"),
     "format version '1' is not one"),
    ("unknown-top-level-key", "gaussian", _set("extra", value=1), r"unknown \['extra'\]"),
    ("missing-seeds", "gaussian", _tamper(lambda p: p.pop("seeds")), r"missing \['seeds'\]"),
    ("bad-seeds", "gaussian", _set("seeds", value=[-1, 2]), "seeds .* not two integers"),
    ("unknown-class", "gaussian", _set("class", value="Nope"), "unknown estimator class 'Nope'"),
    ("invalid-parameter-value", "gaussian",
     _tamper(lambda p: _params(p).update(max_iter=-3)), "invalid parameter: max_iter"),
    ("invalid-parameter-type", "gaussian",
     _tamper(lambda p: _params(p).update(dtype=3)), "invalid parameter: dtype"),
    ("unknown-parameter", "gaussian", _tamper(lambda p: _params(p).update(evil=1)),
     r"parameters are not those of GaussianDensity \(unknown \['evil'\]"),
    ("invalid-theory-parameter", "flow",
     _tamper(lambda p: _theory(p)["params"]["__dict__"].update(shape=(0, 4))),
     "FreeScalar.*refused its parameters"),
    # injected and tampered fitted attributes
    ("injected-attribute", "gaussian", _set("fitted", "evil_", value=1),
     r"fitted attribute\(s\) \['evil_'\] that GaussianDensity does not have"),
    ("injected-private", "gaussian", _set("fitted", "_generator", value=1),
     r"\['_generator'\] that GaussianDensity does not have"),
    ("injected-dunder", "gaussian", _set("fitted", "__dict__", value={"__dict__": {}}),
     r"\['__dict__'\] that GaussianDensity does not have"),
    ("other-class-attribute", "gaussian", _set("fitted", "z2_mixture_", value=True),
     r"\['z2_mixture_'\] that GaussianDensity does not have"),
    ("attribute-kind", "gaussian", _set("fitted", "n_iter_", value="many"),
     "n_iter_ is 'many', not an integer >= 0"),
    ("missing-attribute", "gaussian", _tamper(lambda p: p["fitted"].pop("device_")),
     r"lacks the fitted attribute\(s\) \['device_'\]"),
    ("lattice-mismatch", "flow", _set("fitted", "lattice_shape_", value=(4096, 4096)),
     r"lattice_shape_ \(4096, 4096\) is not the lattice \(4, 4\)"),
    # tampered weights
    ("nan-weights", "gaussian", _weights(_nan), r"module_state\['mean'\] holds NaN"),
    ("inf-weights", "gaussian", _weights(_inf), r"module_state\['tril'\] holds NaN or inf"),
    ("wrong-shape", "gaussian", _weights(lambda s: s.update(tril=torch.zeros(4, 4))),
     r"module_state\['tril'\] is tensor\(shape=\(4, 4\)"),
    ("wrong-dtype", "gaussian", _weights(lambda s: s.update(mean=s["mean"].double())),
     "dtype torch.float32"),
    ("extra-weight", "gaussian", _weights(lambda s: s.update(evil=torch.zeros(1))),
     r"unknown keys \['evil'\]"),
    ("missing-weight", "gaussian", _weights(lambda s: s.pop("tril")), r"missing \['tril'\]"),
    ("weights-not-tensors", "gaussian", _weights(lambda s: s.update(mean=[0.0, 0.0, 0.0])),
     "module_state holds something other than tensors"),
    # parameters that claim a huge model in a small file
    ("million-layers", "flow", _tamper(_more_layers), "flow__n_layers must be an int in"),
    ("many-layers", "flow", _tamper(partial(_more_layers, n_layers=1000)),
     "far larger than the weights"),
    ("huge-hidden-channels", "flow", _tamper(_wider),
     "module_state does not match the module its parameters build"),
    ("huge-lattice", "flow", _tamper(_huge_lattice), "far larger than the weights"),
    ("huge-lattice-continuous", "continuous", _tamper(_huge_lattice),
     "far larger than the weights"),
]


def _peak_rss_reset() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def measure_load(path):
    """``skphys.load(path)``: the exception raised, CPU seconds, peak extra bytes."""
    rss = _peak_rss_reset()
    before = _status_kb("VmRSS") if rss else 0
    tracemalloc.start()
    start = time.process_time()
    try:
        skphys.load(path)
        error = None
    except Exception as raised:  # noqa: BLE001 -- the test inspects it
        error = raised
    seconds = time.process_time() - start
    _, python_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    extra = python_peak
    if rss:
        extra = max(extra, (_status_kb("VmHWM") - before) * 1024)
    return error, seconds, extra


@pytest.mark.parametrize("model, build, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_hostile_file_is_refused_quickly_in_bounded_memory(valid, tmp_path, model, build,
                                                            expected, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the "code" case would create its file
    path = tmp_path / "hostile.pt"
    build(valid[model], path)
    error, seconds, extra = measure_load(path)
    assert isinstance(error, InvalidModelFileError), repr(error)
    assert str(error).startswith(f"{path} is not a valid skphys model file: ")
    assert re.search(expected, error.reason), error.reason
    assert error.path == str(path)
    assert seconds < MAX_SECONDS and extra < MAX_EXTRA_BYTES, (seconds, extra)
    assert not (tmp_path / "pwned").exists()


def test_reference_bomb_file_is_small(valid, tmp_path):
    """The bomb of the issue: a file of a few kB whose references expand to 2**60 lists."""
    path = tmp_path / "bomb.pt"
    _tamper(lambda p: _params(p).update(random_state=_bomb(60)))(valid["gaussian"], path)
    assert path.stat().st_size < 5000


@pytest.mark.parametrize("model", ["gaussian", "flow", "continuous"])
def test_valid_files_still_load(valid, model):
    error, seconds, extra = measure_load(valid[model])
    assert error is None and seconds < MAX_SECONDS


def test_error_is_a_value_error_that_pickles(valid, tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("notes")
    with pytest.raises(ValueError, match="not a valid skphys model file") as info:
        skphys.load(path)
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.path, copy.reason, str(copy)) == (info.value.path, info.value.reason,
                                                    str(info.value))


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        skphys.load(tmp_path / "absent.pt")


def test_a_missing_theory_import_is_not_called_invalid(valid, tmp_path):
    """A valid file whose theory this process has not imported says what to import."""
    payload = _payload(valid["flow"])
    theory = _theory(payload)
    theory.update(__theory__="mylib.Phi6", module="mylib", qualname="Phi6")
    torch.save(payload, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="mylib.*not imported: import it") as info:
        skphys.load(tmp_path / "other.pt")
    assert not isinstance(info.value, InvalidModelFileError)


def test_every_fitted_attribute_is_declared_for_load():
    """Each ``self.name_ = ...`` in skphys is a fitted attribute that ``load`` accepts: a new
    one must be added to ``skphys._persistence.FITTED_ATTRIBUTES``."""
    declared = {"module_", "device_", "n_iter_", "history_", "n_features_in_"}
    declared |= {name for kinds in FITTED_ATTRIBUTES.values() for name in kinds}
    root = Path(skphys.__file__).parent
    assigned = {name for path in root.rglob("*.py")
                for name in re.findall(r"self\.([a-z][a-z0-9_]*[a-z0-9]_) = ", path.read_text())}
    assert assigned <= declared, sorted(assigned - declared)


def test_default_model_loads_in_a_fresh_process(tmp_path):
    """A model with default architecture, loaded by a process that has trained nothing: the
    build's time budget must not be spent on torch's first-use imports."""
    import subprocess
    import sys

    from skphys.lattice import Phi4

    path = tmp_path / "default.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        FlowSampler(Phi4((8, 8), m2=-4.0, lam=8.0), max_iter=1, device="cpu",
                    random_state=0).fit().save(path)
    code = "import sys, skphys; print(skphys.load(sys.argv[1]).sample(2).shape)"
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(2, 64)"
