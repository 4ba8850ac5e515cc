"""Fuzzing the samplers, the statistics, the observables and the command line with bad input.

Every call is time-boxed (a hang fails the test), and its outcome must be one of:

- a ValueError or TypeError (or an error of :mod:`skphys.exceptions`) whose message names the
  parameter that was made bad;
- a result without NaN, or with NaN only when a warning was issued, the input itself held
  NaN or inf (garbage in: the observables are plain batched functions), or the function
  documents it (the effective mass where the correlator does not decay);
- for the command line: exit code 0, or 2 with exactly one ``skphys ...: error:`` line on
  stderr (besides ``warning:`` lines), never a traceback.

The number of inputs per test is that of the hypothesis profile (``ci``: 25 each).
"""

from __future__ import annotations

import contextlib
import io
import math
import signal
import warnings
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
import torch
from _fuzzing import (
    BareNotImplemented,
    ColumnAction,
    IntegerAction,
    NoAction,
    NumpyAction,
    ScalarAction,
    time_box,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from skphys import exceptions
from skphys._cli import main
from skphys.lattice import (
    XY,
    ComplexPhi4,
    FreeScalar,
    Ising,
    IsingDual,
    LatticeTheory,
    Phi4,
    mcmc,
    observables,
    reliability,
    stats,
)

pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM")

CI = settings(settings.get_profile("ci"), deadline=None, max_examples=50)
LIBRARY_ERRORS = tuple(getattr(exceptions, name) for name in exceptions.__all__
                       if isinstance(getattr(exceptions, name), type)
                       and issubclass(getattr(exceptions, name), Exception))
#: inputs generated per category and outcome (printed at the end of the module)
COUNTS: Counter = Counter()


def _numbers(obj):
    """Every float in a result (nested tuples, dicts, arrays, tensors, MCMCResult)."""
    if isinstance(obj, mcmc.MCMCResult):
        yield from _numbers((obj.samples, obj.acceptance, obj.step_size))
    elif isinstance(obj, torch.Tensor):
        if obj.is_floating_point() or obj.is_complex():
            yield from obj.detach().cpu().flatten().tolist()
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc":
            yield from obj.ravel().tolist()
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _numbers(item)
    elif isinstance(obj, dict):
        yield from _numbers(list(obj.values()))
    elif isinstance(obj, (float, complex, np.floating)):
        yield obj


def _has_nan(obj) -> bool:
    return any(isinstance(v, (float, complex, np.floating)) and v != v for v in _numbers(obj))


def _non_finite(value) -> bool:
    try:
        array = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)
        return array.dtype.kind in "fc" and not np.all(np.isfinite(array))
    except (TypeError, ValueError):
        return False


def check_call(category: str, fn: Callable, *args, bad: str | None = None,
               nan_allowed: bool = False, **kwargs) -> str:
    """Call ``fn`` time-boxed and check its outcome (see the module docstring).

    ``bad``: the name the error message must contain; with it the call must fail.
    ``nan_allowed``: NaN in the result needs no warning (non-finite input, or a documented
    NaN such as the effective mass of a correlator that does not decay). Returns
    ``"error"``, ``"warned"`` or ``"ok"``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with time_box():
                result = fn(*args, **kwargs)
        except (ValueError, TypeError, NotImplementedError, *LIBRARY_ERRORS) as error:
            message = str(error)
            assert message, f"{fn.__name__}: {type(error).__name__} without a message"
            if bad is not None:
                assert bad in message, f"{fn.__name__}: {bad!r} not named in {message!r}"
            COUNTS[category, "error"] += 1
            return "error"
    assert bad is None, f"{fn.__name__} accepted a bad {bad}: {args!r} {kwargs!r}"
    if _has_nan(result):
        assert caught or nan_allowed, f"{fn.__name__} returned NaN without a warning"
    outcome = "warned" if caught else "ok"
    COUNTS[category, outcome] += 1
    return outcome


# -- the samplers --------------------------------------------------------------------------------
PHI4 = Phi4((2, 2), m2=1.0, lam=1.0)
ISING = Ising((2, 2), temperature=2.5)
ISING_3X3 = Ising((3, 3), temperature=2.5)  # 9 sites: a lattice that configurations miss
TINY = {"n_samples": 2, "n_chains": 2, "n_burnin": 2}
SAMPLERS = {
    "hmc": (mcmc.hmc, PHI4),
    "metropolis": (mcmc.metropolis, PHI4),
    "wolff": (mcmc.wolff, ISING),
}
COUNT = [0, -1, -(10**18), 10**12, 10**18, 1.5, 2.0, "3", None, True, math.nan, math.inf]
POSITIVE = [0.0, -1.0, math.nan, math.inf, -math.inf, "0.1", True, [0.1], 1e-300]
FRACTION = [0.0, 1.0, -0.5, 1.5, math.nan, "0.8", None, True]
#: parameter -> clearly invalid values, per sampler (values a sampler must refuse, naming it)
BAD_ARGUMENTS = {
    "n_samples": COUNT,
    "n_chains": COUNT,
    "n_burnin": [v for v in COUNT if v != 0],
    "thin": COUNT,
    "step_size": POSITIVE,
    "trajectory_length": [v for v in POSITIVE if v != 1e-300],
    "max_leapfrog": [0, -1, 1.5, "10", None, math.nan],
    "target_acceptance": FRACTION,
    "proposal_scale": [v for v in POSITIVE if v != 1e-300],
    "init": [torch.zeros(3, 4), torch.full((2, 4), math.nan), torch.full((2, 4), math.inf),
             [[0.0] * 4] * 2, np.zeros((2, 4)), torch.zeros(2, 5)],
    "dtype": [torch.int64, "float64", np.float64, torch.bool],
    "device": ["bogus", 3, "cuda:99"],
    "generator": ["seed", 0, np.random.default_rng(0)],
}
SAMPLER_PARAMETERS = {
    "hmc": ["n_samples", "n_chains", "n_burnin", "thin", "step_size", "trajectory_length",
            "max_leapfrog", "target_acceptance", "init", "dtype", "device", "generator"],
    "metropolis": ["n_samples", "n_chains", "n_burnin", "thin", "proposal_scale",
                   "target_acceptance", "init", "dtype", "device", "generator"],
    "wolff": ["n_samples", "n_chains", "n_burnin", "thin", "init", "dtype", "device",
              "generator"],
}


@CI
@given(data=st.data())
def test_samplers_refuse_each_bad_argument(data):
    name = data.draw(st.sampled_from(sorted(SAMPLERS)), label="sampler")
    parameter = data.draw(st.sampled_from(SAMPLER_PARAMETERS[name]), label="parameter")
    value = data.draw(st.sampled_from(BAD_ARGUMENTS[parameter]), label="value")
    sampler, theory = SAMPLERS[name]
    kwargs = {**TINY, "generator": torch.Generator().manual_seed(0), parameter: value}
    if parameter == "init" and name == "wolff" and isinstance(value, torch.Tensor):
        kwargs[parameter] = value if value.shape != (2, 4) or not value.isfinite().all() \
            else value + 0.5  # spins must be +-1
    n_samples = kwargs.pop("n_samples")
    check_call("samplers: bad arguments", sampler, theory, n_samples, bad=parameter, **kwargs)


class NaNAction(Phi4):
    """phi^4 whose action is NaN beyond |phi| = 1 (a broken user theory)."""

    def action(self, x):
        return torch.where(x.abs().amax(1) > 1.0, torch.nan, super().action(x))

    def local_action(self, x):
        return torch.where(x.abs() > 1.0, torch.nan, super().local_action(x))


#: hostile or absurd theories with the name an error about them must contain (None: any
#: outcome but a hang, a crash and a silent NaN)
THEORIES = [
    (Phi4((2, 2), m2=1e300, lam=1.0), None),
    (Phi4((2, 2), m2=1.0, lam=1e300), None),
    (Phi4((2, 2), m2=-1e300, lam=1e-300), None),
    (FreeScalar((2, 2), m2=1e-300), None),
    (ComplexPhi4((2, 2), t=1e300, mu=1.0, lam=1.0), None),
    (IsingDual((2, 2), temperature=1e-300), None),
    (NaNAction((2, 2), m2=1.0, lam=1.0), None),
    (ScalarAction((2, 2)), "ScalarAction"),
    (ColumnAction((2, 2)), "ColumnAction"),
    (NumpyAction((2, 2)), "NumpyAction"),
    (IntegerAction((2, 2)), "IntegerAction"),
    (NoAction((2, 2)), "NoAction"),
    (BareNotImplemented((2, 2)), "BareNotImplemented"),
    (Ising((2, 2), temperature=1e-300), None),
    (Ising((2, 2), temperature=1e300), None),
    (XY((2, 2), temperature=1e-300), None),
    (XY((2, 2), temperature=1e300), None),
]


@CI
@given(data=st.data())
def test_samplers_on_absurd_and_broken_theories(data):
    theory, name = data.draw(st.sampled_from(THEORIES), label="theory")
    usable = ["hmc"] if theory.field_type != "spin" else []
    if type(theory).local_action is not LatticeTheory.local_action:
        usable.append("metropolis")
    if isinstance(theory, (Ising, XY)):
        usable.append("wolff")
    sampler = data.draw(st.sampled_from(usable or ["hmc"]), label="sampler")
    n_burnin = data.draw(st.integers(0, 6), label="n_burnin")
    check_call("samplers: absurd theories", SAMPLERS[sampler][0], theory, 2, n_chains=2,
               n_burnin=n_burnin, generator=torch.Generator().manual_seed(0),
               bad=name if usable else None)


@CI
@given(parameter=st.sampled_from(["step_size", "n_steps"]), data=st.data())
def test_leapfrog_refuses_bad_steps(parameter, data):
    values = {"step_size": POSITIVE[:-1], "n_steps": COUNT}[parameter]
    kwargs = {"step_size": 0.1, "n_steps": 2,
              parameter: data.draw(st.sampled_from(values), label="value")}
    x = torch.zeros(2, 4, dtype=torch.float64)
    check_call("samplers: bad arguments", mcmc.leapfrog, PHI4, x, x, bad=parameter, **kwargs)


@CI
@given(
    log_w=st.sampled_from([[], [math.nan, 0.0], [math.inf], [[0.0, 1.0]], "abc", None,
                           [1 + 1j, 0.0], [-math.inf, -math.inf]]),
)
def test_independence_metropolis_refuses_bad_weights(log_w):
    check_call("samplers: bad arguments", mcmc.independence_metropolis, log_w, bad="log_w",
               generator=torch.Generator().manual_seed(0))


# -- statistics --------------------------------------------------------------------------------
RNG = np.random.default_rng(0)
SERIES = RNG.normal(size=64)
#: data a statistic must refuse, naming its parameter
BAD_DATA = [
    np.array([1.0, math.nan, 2.0, 3.0]),
    np.array([1.0, math.inf, 2.0, 3.0]),
    SERIES[:4] + 1j,
    torch.tensor(SERIES[:4]) * 1j,
    np.array(["a", "b", "c"]),
    np.zeros((2, 2, 2)),
    np.array([]),
    "not an array",
    None,
    [[1.0, 2.0], [3.0]],
]
#: valid but extreme data: a statistic must give a finite result (or warn)
EXTREME_DATA = [SERIES * 1e300, SERIES * 1e160, SERIES * 1e-300, SERIES * 1e-320,
                np.full(64, 1e300), np.r_[np.zeros(63), 1e308], torch.tensor(SERIES) * 1e200,
                np.arange(64.0) ** 8]
SERIES_FUNCTIONS = {
    "tau_int": (stats.tau_int, "x"),
    "mean_error": (stats.mean_error, "x"),
    "autocorrelation": (stats.autocorrelation, "x"),
    "chain_mean_error": (reliability.chain_mean_error, "x"),
}
WEIGHT_FUNCTIONS = {
    "ess": (stats.ess, "log_w"),
    "pareto_k": (stats.pareto_k, "log_w"),
    "log_mean_exp": (stats.log_mean_exp, "log_w"),
    "tail_shape": (reliability.tail_shape, "log_w"),
    "weight_problems": (reliability.weight_problems, "log_w"),
}


@CI
@given(function=st.sampled_from(sorted({**SERIES_FUNCTIONS, **WEIGHT_FUNCTIONS})),
       bad=st.booleans(), data=st.data())
def test_statistics_of_bad_and_extreme_data(function, bad, data):
    fn, parameter = {**SERIES_FUNCTIONS, **WEIGHT_FUNCTIONS}[function]
    weights = function in WEIGHT_FUNCTIONS
    pool = BAD_DATA if bad else EXTREME_DATA
    if weights and bad:  # -inf is a zero weight, allowed among log-weights
        pool = [d for d in pool if not (isinstance(d, np.ndarray) and d.dtype.kind == "f"
                                        and np.isinf(d).any())]
    x = data.draw(st.sampled_from(pool), label="x")
    if weights and not bad:
        x = -np.abs(np.asarray(x, dtype=np.float64))  # extreme but valid log-weights
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # short series: window not closed
        check_call("statistics: data", fn, x, bad=parameter if bad else None)


@CI
@given(data=st.data())
def test_statistics_refuse_bad_parameters(data):
    cases = [
        (stats.tau_int, (SERIES,), "S", [0, -1.0, math.nan, math.inf, "1.5", None]),
        (stats.mean_error, (SERIES,), "S", [0, -1.0, math.nan, math.inf, "1.5"]),
        (stats.bootstrap, (np.mean, SERIES), "n_boot", [0, 1, -5, 2.5, "10", None]),
        (stats.bootstrap, (np.mean, SERIES), "random_state", ["seed", 1.5, [1]]),
        (stats.jackknife, (np.mean, SERIES), "n_blocks", [0, 1, 65, 10**12, 2.5, "4", None]),
        (stats.bootstrap, ("mean", SERIES), "func", [None]),
        (stats.jackknife, (3, SERIES), "func", [None]),
        (stats.bootstrap, (np.mean,), "samples[0]", BAD_DATA[:5]),
        (stats.jackknife, (np.mean,), "samples[0]", BAD_DATA[:5]),
        (stats.bootstrap, (lambda a: a.mean() * 1j, SERIES), "func", [None]),
        (stats.importance_mean, (), "values", BAD_DATA[:6]),
        (stats.importance_mean, (SERIES,), "log_w", BAD_DATA[:6]),
        (stats.ess, (SERIES,), "n_boot", [0, -1, 2.5]),
        (stats.reweighted_thermodynamics, (), "energy", BAD_DATA[:6]),
        (stats.reweighted_thermodynamics, (SERIES,), "log_q", BAD_DATA[:6]),
        (stats.reweighted_thermodynamics, (SERIES, -np.abs(SERIES)), "temperature",
         [0.0, -1.0, math.nan, math.inf, "1", None]),
        (stats.reweighted_thermodynamics, (SERIES, -np.abs(SERIES), 1.0), "n_blocks",
         [0, 1, 65, 2.5, "4"]),
    ]
    fn, args, parameter, values = data.draw(st.sampled_from(cases), label="case")
    value = data.draw(st.sampled_from(values), label="value")
    kwargs = {}
    if parameter in ("S", "n_boot", "random_state", "n_blocks"):
        kwargs = {parameter: value}
        if fn is stats.ess:
            kwargs["return_error"] = True
    elif parameter == "func" and value is None:
        pass
    elif fn is stats.jackknife:
        args, kwargs = (*args, value), {"n_blocks": 2}
    elif fn is stats.reweighted_thermodynamics and parameter in ("energy", "log_q"):
        n = len(value) if hasattr(value, "__len__") else 4
        other = np.zeros(n if isinstance(value, np.ndarray) and value.ndim == 1 else 4)
        args = (value, other, 1.0) if parameter == "energy" else (other, value, 1.0)
    elif fn is stats.importance_mean:
        args = (value, np.zeros(len(value) if hasattr(value, "__len__") else 1)) \
            if parameter == "values" else (SERIES, value)
        args = args if parameter == "log_w" or not isinstance(value, np.ndarray) \
            or value.ndim != 1 else (value, np.zeros(value.shape[0]))
    else:
        args = (*args, value)
    check_call("statistics: parameters", fn, *args, bad=parameter, **kwargs)


@CI
@given(values=st.sampled_from(EXTREME_DATA))
def test_importance_mean_of_extreme_values_is_finite(values):
    n = len(values)
    check_call("statistics: data", stats.importance_mean, values, np.zeros(n))


# -- observables -----------------------------------------------------------------------------
SHAPE = (2, 2)
OBSERVABLES = {
    "magnetization": lambda x: observables.magnetization(x),
    "abs_magnetization": lambda x: observables.abs_magnetization(x),
    "complex_magnetization": lambda x: observables.complex_magnetization(x),
    "two_point_susceptibility": lambda x: observables.two_point_susceptibility(x),
    "energy_per_site": lambda x: observables.energy_per_site(PHI4, x),
    "binder_cumulant": lambda x: observables.binder_cumulant(x),
    "two_point_function": lambda x: observables.two_point_function(x, SHAPE),
    "zero_momentum_correlator": lambda x: observables.zero_momentum_correlator(x, SHAPE),
    "correlation_length": lambda x: observables.correlation_length(x, SHAPE),
    "plaquette_winding": lambda x: observables.plaquette_winding(x, SHAPE),
    "vortex_density": lambda x: observables.vortex_density(x, SHAPE),
    "helicity_modulus": lambda x: observables.helicity_modulus(x, SHAPE, 1.0),
    "effective_mass": lambda x: observables.effective_mass(x),
}
BAD_CONFIGURATIONS = [
    np.ones((3, 4), dtype=complex),
    torch.ones(3, 4, dtype=torch.complex128),
    np.array([["a"] * 4] * 3),
    np.ones(4),
    np.ones((3, 2, 2)),
    np.ones((3, 5)),
    [[1.0] * 4] * 3,
    None,
]
ODD_CONFIGURATIONS = [np.full((3, 4), math.nan), np.full((3, 4), math.inf),
                      np.full((3, 4), 1e300), np.zeros((3, 4)), np.zeros((1, 4)),
                      np.ones((3, 4), dtype=np.int64), np.ones((3, 4), dtype=bool),
                      torch.full((3, 4), 1e30, dtype=torch.float32)]


@CI
@given(name=st.sampled_from(sorted(OBSERVABLES)), bad=st.booleans(), data=st.data())
def test_observables_of_bad_configurations(name, bad, data):
    pool = BAD_CONFIGURATIONS if bad else ODD_CONFIGURATIONS
    if name in ("magnetization", "abs_magnetization", "two_point_susceptibility",
                "binder_cumulant", "effective_mass"):  # any number of sites
        pool = [x for x in pool if not (isinstance(x, np.ndarray) and x.shape == (3, 5))]
    if name == "effective_mass":  # a correlator of any shape with >= 3 times
        pool = [x for x in pool if not (isinstance(x, np.ndarray) and x.shape == (4,))]
    x = data.draw(st.sampled_from(pool), label="x")
    arg = "theta" if name in ("plaquette_winding", "vortex_density", "helicity_modulus") else "x"
    arg = "G" if name == "effective_mass" else arg
    fn = OBSERVABLES[name]
    fn.__name__ = name
    documented_nan = ("binder_cumulant", "correlation_length", "effective_mass")  # 0/0, no decay
    check_call("observables", fn, x, bad=arg if bad else None,
               nan_allowed=_non_finite(x) or (not bad and name in documented_nan))


@CI
@given(data=st.data())
def test_observables_refuse_bad_parameters(data):
    x = np.ones((3, 4))
    cases = [
        (lambda v: observables.two_point_function(x, v), "shape", [(3, 3), (1, 4), "2x2", None,
                                                                   (2.0, 2.0), ()]),
        (lambda v: observables.correlation_length(x, SHAPE, t=v), "t", [-1, 5, 1.5, "1"]),
        (lambda v: observables.helicity_modulus(x, SHAPE, v), "temperature",
         [0.0, -1.0, math.nan, math.inf, "1"]),
        (lambda v: observables.energy_per_site(v, x), "theory", [None, "Phi4", ISING_3X3]),
    ]
    fn, parameter, values = data.draw(st.sampled_from(cases), label="case")
    value = data.draw(st.sampled_from(values), label="value")
    fn.__name__ = parameter
    bad = parameter if not (parameter == "theory" and value is ISING_3X3) else "x"
    check_call("observables", fn, value, bad=bad)


# -- the command line ------------------------------------------------------------------------
def run_cli(argv: list[str]) -> tuple[int, str]:
    """``skphys ARGV`` in this process: exit code and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), time_box():
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, err.getvalue()


def check_cli(argv: list[str], *, must_fail: bool) -> int:
    code, err = run_cli(argv)
    COUNTS["command line", f"exit {code}" + (" warned" if "warning: " in err else "")] += 1
    assert "Traceback" not in err, (argv, err)
    errors = [line for line in err.splitlines() if line and not line.startswith("warning: ")]
    if must_fail:
        assert code == 2, (argv, code, err)
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        assert len(errors) == 1 and ": error: " in errors[0], (argv, err)
    else:
        assert not errors, (argv, err)
    return code


THEORY_ARGS = {
    "phi4": {"--m2": ["1"], "--lam": ["1"]},
    "free": {"--m2": ["1"]},
    "complex-phi4": {"--t": ["1"], "--mu": ["4.5"], "--lam": ["1"]},
    "ising-dual": {"-T": ["2.5"]},
    "ising": {"-T": ["2.5"]},
    "xy": {"-T": ["1"]},
}
COMMAND_THEORIES = {"mcmc": list(THEORY_ARGS), "sample": ["phi4", "free", "ising-dual"],
                    "rg": ["free", "ising-dual"], "van": ["ising", "xy"]}
BASE = {"mcmc": {"-n": ["4"], "--chains": ["2"], "--burnin": ["2"]},
        "sample": {"-n": ["4"], "--max-iter": ["1"], "--batch-size": ["2"]},
        "rg": {"-n": ["4"], "--max-iter": ["1"], "--batch-size": ["2"]},
        "van": {"-n": ["20"], "--max-iter": ["1"], "--batch-size": ["2"]}}


def argv_of(command: str, theory: str, shape: list[str], **options: list[str]) -> list[str]:
    """``COMMAND THEORY --shape ... OPTIONS --quiet``: the theory's and the command's base
    options, replaced by ``options`` (keys without the leading dashes' spelling: see
    :data:`FLAGS`)."""
    merged = {"--shape": shape, **THEORY_ARGS[theory], **BASE[command]}
    merged.update({FLAGS.get(k, k): v for k, v in options.items()})
    return [command, theory, *(t for flag, value in merged.items() for t in (flag, *value)),
            "--quiet"]


FLAGS = {"n": "-n", "T": "-T", "o": "-o"}
#: option -> values every command must refuse (exit code 2, one line)
BAD_OPTIONS = {
    "--shape": [["0"], ["1", "1"], ["100000", "100000"], ["-3", "4"], ["a"], ["2.5"],
                ["2"] * 40],
    "-n": [["0"], ["-5"], ["1000000000000"], ["x"], ["1"]],
    "--seed": [["-1"], ["99999999999"], ["s"]],
    "--device": [["bogus"], ["cuda:99"], ["cpu:0:1"]],
    "--max-memory": [["0"], ["-1"], ["nan"], ["inf"]],
    "--bogus-option": [["1"]],
    "-o": [["/nonexistent-dir/x.npz"], ["/tmp"], ["out.txt"], ["/proc/skphys/x.npz"]],
}
BAD_THEORY_VALUES = {"--m2": ["nan", "inf", "1e300", "-1e300", "x"], "--lam": ["-1", "1e300"],
                     "-T": ["1e-300", "0", "-1", "nan", "1e300"], "--t": ["-1", "1e300"],
                     "--mu": ["nan"]}
MCMC_BAD = {"--chains": [["0"], ["-1"]], "--burnin": [["-1"]], "--thin": [["0"]],
            "--sampler": [["bogus"]], "--dtype": [["float16"]]}
TRAINING_BAD = {"--max-iter": [["0"], ["-1"]], "--batch-size": [["0"], ["10000000000"]]}
if not torch.cuda.is_available():
    BAD_OPTIONS["--device"].append(["cuda"])


@CI
@given(data=st.data())
def test_cli_refuses_each_bad_option(data):
    command = data.draw(st.sampled_from(sorted(BASE)), label="command")
    theory = data.draw(st.sampled_from(COMMAND_THEORIES[command]), label="theory")
    options = {**BAD_OPTIONS, **(MCMC_BAD if command == "mcmc" else TRAINING_BAD)}
    options.update({flag: [[v] for v in values] for flag, values in BAD_THEORY_VALUES.items()
                    if flag in THEORY_ARGS[theory]})
    flag = data.draw(st.sampled_from(sorted(options)), label="option")
    value = data.draw(st.sampled_from(options[flag]), label="value")
    if command == "van" and flag == "-n" and value == ["1"]:
        value = ["19"]  # van keeps at least 20 samples
    check_cli(argv_of(command, theory, ["4", "4"], **{flag: value}), must_fail=True)


@CI
@given(theory=st.sampled_from(sorted(THEORY_ARGS)),
       sampler=st.sampled_from(["auto", "hmc", "metropolis", "wolff"]),
       shape=st.sampled_from([["2", "2"], ["3", "3"], ["2", "2", "2"], ["4"]]),
       extreme=st.sampled_from([{}, {"--m2": ["1e4"], "--lam": ["1e4"]}, {"--m2": ["-1e4"]},
                                {"-T": ["1e-3"]}, {"-T": ["1e6"]}, {"--mu": ["-1e4"]},
                                {"--dtype": ["float32"]}, {"--thin": ["3"]}]))
def test_cli_mcmc_edge_cases(theory, sampler, shape, extreme):
    """Valid but extreme mcmc runs (tiny sizes): exit 0 (the tables warn when the chain cannot
    support its errors), or 2 with one line (a sampler that cannot sample the theory, a
    parameter the theory does not take, a theory too stiff for the sampler)."""
    check_cli(argv_of("mcmc", theory, shape, **{"--burnin": ["3"], "--sampler": [sampler],
                                                 **extreme}), must_fail=False)


def test_cli_mcmc_unmoved_chain_warns(capsys):
    """``skphys mcmc ... -T 1e-3`` on Ising: the chain visits two states; the table warns."""
    code, err = run_cli(["mcmc", "ising", "--shape", "4", "4", "-T", "1e-3", "-n", "40",
                         "--quiet"])
    assert code == 0
    assert err.count("warning: ") == 1 and "visited only 2 distinct states" in err, err


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    """Print how many inputs each category got (seen with ``pytest -s``)."""
    yield
    print("\nfuzz inputs per category and outcome:")
    for (category, outcome), count in sorted(COUNTS.items()):
        print(f"  {category}: {outcome}: {count}")
