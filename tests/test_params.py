"""LIFParams validation, frozen-ness and derived quantities; integrator refusals.

Every invalid value must raise with a one-line message that names the field, shows
the offending value and states the rule (DESIGN.md, "Conventions").
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

import spikerec
from spikerec import LIF, LIFParams, get_integrator
from spikerec.lif.integrators import INTEGRATORS

REAL_FIELDS = ("tau_mem_ms", "dt_ms", "v_rest", "v_reset", "v_th", "r_m", "t_ref_ms")

# (keyword arguments, exception type, substrings the message must contain)
INVALID_VALUES = [
    # domain rules
    ({"tau_mem_ms": 0.0}, ValueError, ["tau_mem_ms", "0.0", "> 0"]),
    ({"tau_mem_ms": -5.0}, ValueError, ["tau_mem_ms", "-5.0", "> 0"]),
    ({"dt_ms": 0.0}, ValueError, ["dt_ms", "0.0", "> 0"]),
    ({"dt_ms": -0.1}, ValueError, ["dt_ms", "-0.1", "> 0"]),
    ({"r_m": 0.0}, ValueError, ["r_m", "0.0", "> 0"]),
    ({"r_m": -2.5}, ValueError, ["r_m", "-2.5", "> 0"]),
    ({"t_ref_ms": -0.5}, ValueError, ["t_ref_ms", "-0.5", ">= 0"]),
    ({"v_reset": 1.0}, ValueError, ["v_reset", "1.0", "v_th"]),
    ({"v_reset": 2.0, "v_th": 1.5}, ValueError, ["v_reset", "2.0", "v_th", "1.5"]),
    # non-finite values, in every real field
    *[({name: math.nan}, ValueError, [name, "nan", "finite"]) for name in REAL_FIELDS],
    *[({name: math.inf}, ValueError, [name, "inf", "finite"]) for name in REAL_FIELDS],
    ({"tau_mem_ms": -math.inf}, ValueError, ["tau_mem_ms", "-inf", "finite"]),
    ({"v_th": np.float64("nan")}, ValueError, ["v_th", "nan", "finite"]),
    # wrong types
    ({"tau_mem_ms": "10"}, TypeError, ["tau_mem_ms", "'10'", "real number"]),
    ({"dt_ms": "fast"}, TypeError, ["dt_ms", "'fast'", "real number"]),
    ({"v_th": b"1"}, TypeError, ["v_th", "b'1'", "real number"]),
    ({"tau_mem_ms": True}, TypeError, ["tau_mem_ms", "True", "real number"]),
    ({"t_ref_ms": False}, TypeError, ["t_ref_ms", "False", "real number"]),
    ({"r_m": None}, TypeError, ["r_m", "None", "real number"]),
    ({"v_rest": None}, TypeError, ["v_rest", "None", "real number"]),
    ({"tau_mem_ms": [10.0]}, TypeError, ["tau_mem_ms", "[10.0]", "real number"]),
    ({"tau_mem_ms": 1 + 2j}, TypeError, ["tau_mem_ms", "(1+2j)", "real number"]),
    ({"tau_mem_ms": np.array([1.0, 2.0])}, TypeError, ["tau_mem_ms", "real number"]),
    # unknown reset modes; the message lists the valid ones
    ({"reset": "hard"}, ValueError, ["reset", "'hard'", "subtract", "zero", "none"]),
    ({"reset": None}, ValueError, ["reset", "None", "subtract, zero, none"]),
    ({"reset": 0}, ValueError, ["reset", "0", "subtract, zero, none"]),
    ({"reset": "Zero"}, ValueError, ["reset", "'Zero'"]),
]


def _case_id(case: tuple) -> str:
    kwargs = case[0]
    return ",".join(f"{k}={v!r}" for k, v in kwargs.items())


@pytest.mark.parametrize(
    ("kwargs", "error", "fragments"), INVALID_VALUES, ids=[_case_id(c) for c in INVALID_VALUES]
)
def test_invalid_value_raises_naming_field_and_value(kwargs, error, fragments):
    with pytest.raises(error) as info:
        LIFParams(**kwargs)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from {message!r}"


@pytest.mark.parametrize(
    "value",
    [5, np.float32(5.0), np.float64(5.0), np.int64(5), np.array(5.0), torch.tensor(5.0)],
    ids=["int", "float32", "float64", "int64", "0d-array", "0d-tensor"],
)
@pytest.mark.parametrize("name", REAL_FIELDS)
def test_numeric_values_are_accepted_and_stored_as_float(name, value):
    kwargs = {name: value}
    if name == "v_reset":  # must stay below v_th = 1 (default)
        kwargs["v_th"] = 6.0
    params = LIFParams(**kwargs)
    stored = getattr(params, name)
    assert type(stored) is float
    assert stored == 5.0


def test_defaults_and_types():
    params = LIFParams()
    for name in REAL_FIELDS:
        assert type(getattr(params, name)) is float
    assert params.reset == "subtract"
    assert (params.v_rest, params.v_reset, params.v_th) == (0.0, 0.0, 1.0)


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_valid_reset_modes(reset):
    assert LIFParams(reset=reset).reset == reset


def test_params_are_frozen():
    params = LIFParams(tau_mem_ms=20.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.tau_mem_ms = 5.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.reset = "zero"  # type: ignore[misc]
    assert params.tau_mem_ms == 20.0
    # frozen dataclasses with equal fields are equal and hashable
    assert params == LIFParams(tau_mem_ms=20)
    assert hash(params) == hash(LIFParams(tau_mem_ms=20.0))


def test_replace_returns_validated_copy():
    params = LIFParams(tau_mem_ms=20.0, dt_ms=0.5)
    changed = params.replace(dt_ms=np.float32(0.25), reset="zero")
    assert changed is not params
    assert changed.dt_ms == 0.25 and type(changed.dt_ms) is float
    assert changed.reset == "zero"
    assert changed.tau_mem_ms == 20.0
    assert params.dt_ms == 0.5 and params.reset == "subtract"  # original untouched


@pytest.mark.parametrize(
    ("changes", "error", "fragments"),
    [
        ({"tau_mem_ms": -1.0}, ValueError, ["tau_mem_ms", "-1.0"]),
        ({"v_reset": 3.0}, ValueError, ["v_reset", "3.0", "v_th"]),
        ({"dt_ms": math.nan}, ValueError, ["dt_ms", "nan"]),
        ({"r_m": "1"}, TypeError, ["r_m", "'1'"]),
        ({"reset": "soft"}, ValueError, ["reset", "'soft'"]),
    ],
)
def test_replace_validates(changes, error, fragments):
    with pytest.raises(error) as info:
        LIFParams().replace(**changes)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_replace_rejects_unknown_fields_listing_valid_ones():
    with pytest.raises(TypeError) as info:
        LIFParams().replace(tau_ms=3.0, beta=0.9)
    message = str(info.value)
    assert "beta" in message and "tau_ms" in message
    for name in (*REAL_FIELDS, "reset"):
        assert name in message


@pytest.mark.parametrize(
    ("tau_mem_ms", "dt_ms"), [(20.0, 0.5), (10.0, 1.0), (5.0, 0.01), (1.0, 30.0)]
)
def test_beta_is_exp_minus_dt_over_tau(tau_mem_ms, dt_ms):
    beta = LIFParams(tau_mem_ms=tau_mem_ms, dt_ms=dt_ms).beta
    assert beta == pytest.approx(math.exp(-dt_ms / tau_mem_ms), rel=1e-15)
    assert 0.0 < beta < 1.0


def test_beta_docstring_value():
    assert round(LIFParams(tau_mem_ms=20.0, dt_ms=0.5).beta, 6) == 0.975310


@pytest.mark.parametrize(
    ("t_ref_ms", "dt_ms", "steps"),
    [(0.0, 1.0, 0), (2.0, 0.5, 4), (0.9, 0.3, 3), (0.3, 0.1, 3), (5.0, 0.01, 500), (1.0, 1.0, 1)],
)
def test_refractory_steps(t_ref_ms, dt_ms, steps):
    params = LIFParams(t_ref_ms=t_ref_ms, dt_ms=dt_ms)
    assert params.refractory_steps == steps
    assert isinstance(params.refractory_steps, int)
    for name in INTEGRATORS:  # whole numbers of steps, up to rounding, are accepted
        if name == "euler" and dt_ms >= 2 * params.tau_mem_ms:
            continue
        get_integrator(name).validate(params)


# ---------------------------------------------------------------------------
# Integrators refuse what they cannot integrate
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tau_mem_ms", "dt_ms"), [(1.0, 2.0), (1.0, 2.5), (10.0, 20.0), (0.5, 7.0)]
)
def test_euler_refuses_unstable_step(tau_mem_ms, dt_ms):
    params = LIFParams(tau_mem_ms=tau_mem_ms, dt_ms=dt_ms)
    with pytest.raises(ValueError) as info:
        get_integrator("euler").validate(params)
    message = str(info.value)
    assert "dt_ms" in message and repr(dt_ms) in message and "euler" in message
    with pytest.raises(ValueError, match="euler"):
        LIF(params, integrator="euler")
    with pytest.raises(ValueError, match="euler"):
        spikerec.simulate(params, current=np.ones(3), integrator="euler")
    # exact accepts every step; rk4 every step within its larger stability region
    get_integrator("exact").validate(params)
    LIF(params, integrator="exact")
    if dt_ms < 2.785 * tau_mem_ms:
        get_integrator("rk4").validate(params)
        LIF(params, integrator="rk4")
    else:
        with pytest.raises(ValueError, match="unstable for the 'rk4'"):
            LIF(params, integrator="rk4")


@pytest.mark.parametrize(
    ("tau_mem_ms", "dt_ms", "stable"),
    [(1.0, 2.78, True), (1.0, 2.7853, False), (0.5, 7.0, False), (10.0, 27.85, True)],
)
def test_rk4_refuses_unstable_step(tau_mem_ms, dt_ms, stable):
    """RK4 multiplies the distance from equilibrium by its 4th-order Taylor polynomial of
    exp(-dt/tau), which exceeds 1 beyond dt/tau = 2.7853: refused, not silently run."""
    params = LIFParams(tau_mem_ms=tau_mem_ms, dt_ms=dt_ms)
    h = dt_ms / tau_mem_ms
    assert (abs(1 - h + h**2 / 2 - h**3 / 6 + h**4 / 24) < 1) == stable
    if stable:
        get_integrator("rk4").validate(params)
        return
    with pytest.raises(ValueError) as info:
        get_integrator("rk4").validate(params)
    message = str(info.value)
    assert "dt_ms" in message and repr(dt_ms) in message and "rk4" in message
    with pytest.raises(ValueError, match="rk4"):
        spikerec.simulate(params, current=np.ones(3), integrator="rk4")


def test_euler_accepts_step_just_below_stability_limit():
    params = LIFParams(tau_mem_ms=1.0, dt_ms=1.999)
    get_integrator("euler").validate(params)
    LIF(params, integrator="euler")


@pytest.mark.parametrize("name", ["euler", "exact", "rk4"])
@pytest.mark.parametrize(("t_ref_ms", "dt_ms"), [(1.0, 0.3), (0.25, 0.1), (0.5, 1.0), (2.05, 0.1)])
def test_grid_integrators_refuse_fractional_refractory_period(name, t_ref_ms, dt_ms):
    params = LIFParams(t_ref_ms=t_ref_ms, dt_ms=dt_ms)
    with pytest.raises(ValueError) as info:
        get_integrator(name).validate(params)
    message = str(info.value)
    assert "t_ref_ms" in message and repr(t_ref_ms) in message and repr(dt_ms) in message
    assert name in message
    with pytest.raises(ValueError, match="t_ref_ms"):
        LIF(params, integrator=name)
    with pytest.raises(ValueError, match="t_ref_ms"):
        spikerec.simulate(params, current=np.ones(3), integrator=name)


@pytest.mark.parametrize("bad", ["nope", "Exact", "", None, 3, ["euler"]])
def test_unknown_integrator_lists_valid_names(bad):
    with pytest.raises(ValueError) as info:
        get_integrator(bad)
    message = str(info.value)
    assert "euler, exact, rk4" in message
    assert repr(bad) in message


def test_get_integrator_by_name_and_instance_passthrough():
    for name, cls in INTEGRATORS.items():
        method = get_integrator(name)
        assert isinstance(method, cls) and method.name == name
        assert get_integrator(method) is method
    assert sorted(INTEGRATORS) == ["euler", "exact", "rk4"]
