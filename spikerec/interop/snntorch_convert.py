"""Convert between :class:`spikerec.LIF` and :class:`snntorch.Leaky`, exactly or not at all.

Both are the same discrete update when configured as in ``docs/snntorch.md``:

    mem[t] = beta * mem[t-1] + g * x[t],  spike when mem crosses the threshold, reset

with ``beta`` the integrator's decay over one step (``exp(-dt_ms/tau_mem_ms)`` for the
exact integrator, ``1 - dt_ms/tau_mem_ms`` for Euler) and ``g`` spikerec's input gain
(``r_m/tau_mem_ms`` for delta synapses). snntorch.Leaky has no input gain, so
:func:`to_snntorch` returns a Leaky that works in spikerec's voltage units and must be
fed ``g * x`` (:func:`snntorch_input_gain`; fold it into the preceding Linear), and
:func:`from_snntorch` returns a LIF with ``r_m = tau_mem_ms`` (so ``g = 1``) that takes
exactly the Leaky's input. Whatever cannot be matched exactly is refused with a
one-line ``ValueError``.
"""

from __future__ import annotations

import math
from typing import cast

import snntorch as snn
import torch
from snntorch import surrogate as snn_surrogate
from torch import nn

from spikerec.errors import ParameterError, ParameterTypeError
from spikerec.lif.modules import LIF
from spikerec.lif.params import LIFParams
from spikerec.lif.step import held_affine_step
from spikerec.lif.surrogates import ATan, FastSigmoid, Sigmoid, Surrogate


def _check_lif(lif: object) -> LIF:
    if not isinstance(lif, LIF):
        raise ParameterTypeError(f"expected a spikerec.LIF layer, got {type(lif).__name__}")
    p = lif.params
    if p.v_rest != 0.0:
        raise ParameterError(
            f"v_rest={p.v_rest!r}: snntorch.Leaky has no resting potential; it must be 0"
        )
    if p.t_ref_ms > 0:
        raise ParameterError(f"t_ref_ms={p.t_ref_ms!r}: snntorch.Leaky has no refractory period")
    return lif


def _decay_and_gain(lif: LIF) -> tuple[float | torch.Tensor, float | torch.Tensor]:
    """``(beta, g)``: the layer's decay over a step and input gain (scalars or ``[N]``)."""
    p, method = lif.params, lif.integrator
    tau = lif.tau_mem_ms
    if not isinstance(tau, torch.Tensor):
        a, b, _ = held_affine_step(p, method, lif.synapse, tau)
        return a, b
    tau = tau.detach().to(torch.float64)
    one, zero = torch.ones_like(tau), torch.zeros_like(tau)
    a = method.advance(one, zero, dt_ms=p.dt_ms, tau_mem_ms=tau, v_rest=0.0)
    if lif.synapse == "delta":
        return a, p.r_m / tau
    return a, p.r_m * method.advance(zero, one, dt_ms=p.dt_ms, tau_mem_ms=tau, v_rest=0.0)


def snntorch_input_gain(lif: LIF) -> float | torch.Tensor:
    """Factor ``g`` that turns the layer's input into the Leaky's from :func:`to_snntorch`.

    Parameters
    ----------
    lif : LIF

    Returns
    -------
    float or Tensor [N]
        ``r_m / tau_mem_ms`` (1/ms) for delta synapses; ``r_m`` times the integrator's
        input gain (``1 - exp(-dt/tau)`` for ``exact``) for held current. A tensor
        (float64) when the layer has per-neuron time constants.

    Examples
    --------
    >>> snntorch_input_gain(LIF(LIFParams(tau_mem_ms=10.0, r_m=2.0)))
    0.2
    """
    _check_lif(lif)
    return _decay_and_gain(lif)[1]


def _spike_grad(surrogate: Surrogate):
    # SuperSpike is a FastSigmoid subclass: the same formula.
    if isinstance(surrogate, FastSigmoid):
        return snn_surrogate.fast_sigmoid(slope=surrogate.slope)
    if isinstance(surrogate, ATan):
        return snn_surrogate.atan(alpha=surrogate.alpha)
    if isinstance(surrogate, Sigmoid):
        return snn_surrogate.sigmoid(slope=surrogate.slope)
    raise ParameterError(
        f"surrogate {surrogate} has no snntorch equivalent with the same derivative; "
        "pass spike_grad= to choose one"
    )


def to_snntorch(
    lif: LIF,
    *,
    spike_grad: object | None = None,
    dtype: torch.dtype = torch.float64,
) -> snn.Leaky:
    """An :class:`snntorch.Leaky` with the same spikes as a spikerec layer.

    Parameters
    ----------
    lif : LIF
        With ``v_rest = 0``, no refractory period, and for ``reset="zero"``
        ``v_reset = 0``; any integrator whose decay ``beta`` lies in ``(0, 1]``.
    spike_grad : callable, optional
        snntorch surrogate; default: the equivalent of the layer's surrogate
        (fast_sigmoid, atan or sigmoid with the same slope).
    dtype : torch.dtype
        dtype of ``beta`` and ``threshold``. Scalars are 0-d tensors, which never
        change the dtype of the input; per-neuron values are ``[N]`` tensors and
        promote float32 input when float64. With float64 the Leaky gets
        ``graded_spikes_factor = ones(1, float64)``, so that its spikes and its
        subtract reset are float64 too (snntorch's surrogates emit float32 spikes,
        and ``float32 spike * 0-d float64 threshold`` is computed in float32).

    Returns
    -------
    snntorch.Leaky
        Feed it ``snntorch_input_gain(lif) * x[t]`` step by step. Its threshold and
        membrane are in spikerec's voltage unit. ``reset_delay=False`` (``mem`` is the
        post-reset membrane), except for a subtract reset with ``v_reset = v_th -
        v_th/beta``, which maps to snntorch's default ``reset_delay=True`` (``mem`` is
        the pre-reset membrane). A learnable threshold stays learnable; a learned
        tau becomes a fixed ``beta`` (snntorch learns ``beta`` itself, with a fixed
        input gain, which is a different parametrisation).

    Raises
    ------
    TypeError
        If ``lif`` is not a :class:`spikerec.LIF`.
    ValueError
        For a layer snntorch cannot reproduce exactly: ``v_rest != 0``, a refractory
        period, a decay outside ``(0, 1]`` (Euler with ``dt_ms >= tau_mem_ms``), a zero
        reset to ``v_reset != 0``, a subtract reset to any ``v_reset`` but ``0`` or
        ``v_th - v_th/beta``, or a surrogate without an snntorch equivalent.

    Notes
    -----
    snntorch fires on ``mem > threshold``, spikerec on ``V >= v_th``: spikes differ
    where the membrane lands exactly on the threshold. With a subtract reset and
    ``v_reset = 0``, snntorch 1.0's non-delayed reset differs once a single reset
    leaves the membrane at or above threshold (more than twice the threshold in one
    step): snntorch then holds the neuron above threshold without firing (see
    ``docs/snntorch.md``).

    Examples
    --------
    >>> lif = LIF(LIFParams(tau_mem_ms=10.0, r_m=2.0))
    >>> leaky = to_snntorch(lif)
    >>> round(float(leaky.beta), 6), float(leaky.threshold), leaky.reset_delay
    (0.904837, 1.0, False)
    """
    lif = _check_lif(lif)
    p = lif.params
    beta, _ = _decay_and_gain(lif)
    beta_t = torch.as_tensor(beta, dtype=dtype)
    low = float(beta_t.min())
    if not (0.0 < low and float(beta_t.max()) <= 1.0):
        raise ParameterError(
            f"the '{lif.integrator.name}' integrator's decay per step is {low!r}; snntorch "
            "clamps beta to [0, 1] and needs it in (0, 1] (take dt_ms < tau_mem_ms or 'exact')"
        )
    learn_threshold = lif.v_th is not None
    v_th = lif.v_th.detach() if lif.v_th is not None else torch.tensor(p.v_th, dtype=torch.float64)
    threshold = v_th.to(dtype)

    reset_delay = False
    if p.reset == "zero" and p.v_reset != 0.0:
        raise ParameterError(
            f"v_reset={p.v_reset!r}: snntorch's zero reset sets mem to 0; it must be 0"
        )
    if p.reset == "subtract" and p.v_reset != 0.0:
        if beta_t.dim() > 0 or learn_threshold:
            raise ParameterError(
                f"v_reset={p.v_reset!r} with per-neuron or learnable tau or threshold: "
                "snntorch's delayed reset needs one fixed v_reset = v_th - v_th/beta"
            )
        shifted = p.v_th - p.v_th / float(beta_t)
        if not math.isclose(p.v_reset, shifted, rel_tol=1e-12, abs_tol=1e-12):
            raise ParameterError(
                f"v_reset={p.v_reset!r}: a subtract reset maps to snntorch only with v_reset=0 "
                f"(reset_delay=False) or v_th - v_th/beta={shifted!r} (reset_delay=True)"
            )
        reset_delay = True

    grad = _spike_grad(lif.surrogate) if spike_grad is None else spike_grad
    # snntorch's surrogates return float32 spikes, and a 0-d float64 threshold times a
    # float32 spike stays float32: the subtract reset would remove float32(v_th). A [1]
    # float64 spike factor of 1 makes spikes, and so the reset, float64.
    factor = torch.ones(1, dtype=dtype) if dtype == torch.float64 else 1.0
    return snn.Leaky(
        beta=beta_t,
        threshold=threshold,
        spike_grad=grad,
        learn_threshold=learn_threshold,
        reset_mechanism=p.reset,
        reset_delay=reset_delay,
        graded_spikes_factor=factor,
    )


def _scalar_or_vector(value: torch.Tensor, name: str) -> torch.Tensor:
    value = torch.as_tensor(value).detach().to("cpu", torch.float64)
    if value.dim() > 1:
        raise ParameterError(
            f"Leaky.{name} has shape {tuple(value.shape)}; expected a scalar or [N]"
        )
    if not torch.isfinite(value).all():
        raise ParameterError(f"Leaky.{name} holds NaN or infinite values")
    return value


def from_snntorch(
    leaky: snn.Leaky,
    dt_ms: float = 1.0,
    *,
    surrogate: str | Surrogate = FastSigmoid(),
) -> LIF:
    """A spikerec :class:`~spikerec.LIF` with the same spikes as an ``snntorch.Leaky``.

    Parameters
    ----------
    leaky : snntorch.Leaky
        With one fixed ``beta`` in ``(0, 1)``; threshold scalar or per neuron,
        fixed or learnable; any reset mechanism; either ``reset_delay``.
    dt_ms : float
        The step the Leaky stands for, in ms: ``tau_mem_ms = -dt_ms / ln(beta)``.
    surrogate : str or Surrogate
        Threshold derivative of the new layer (snntorch's is an opaque closure).

    Returns
    -------
    LIF
        ``integrator="exact"``, ``synapse="delta"``, ``r_m = tau_mem_ms`` (so a unit
        input raises V by exactly 1): ``lif(x)`` with ``x [T, B, N]`` the inputs the
        Leaky gets step by step gives the same spikes. Its ``membrane`` is the
        pre-reset membrane; the Leaky's ``mem`` is post-reset with
        ``reset_delay=False``, pre-reset with ``reset_delay=True``. The delayed
        subtract reset becomes ``v_reset = v_th - v_th/beta``; the delayed zero reset
        is spikerec's zero reset.

    Raises
    ------
    TypeError
        If ``leaky`` is not an ``snntorch.Leaky``.
    ValueError
        For what spikerec cannot reproduce exactly: a per-neuron ``beta`` (the input
        gain ``r_m/tau_mem_ms`` would differ between neurons) or a learnable one (a
        learned tau also rescales spikerec's input gain), ``beta`` outside ``(0, 1)``,
        inhibition, state quantisation, graded spikes, or a delayed subtract reset
        with a per-neuron or learnable threshold.

    Notes
    -----
    snntorch fires on ``mem > threshold``, spikerec on ``V >= v_th`` (ties differ),
    and ``beta = exp(-dt/tau)`` is recomputed from ``tau``, which may differ from the
    Leaky's ``beta`` in the last bit. See :func:`to_snntorch` for the non-delayed
    subtract-reset quirk of snntorch 1.0. A float64 Leaky with a 0-d threshold that is
    no float32 number (e.g. 1.2) subtracts ``float32(threshold)`` at each reset (its
    spikes are float32); spikerec subtracts the float64 value, so membranes then drift
    apart by that rounding per reset.

    Examples
    --------
    >>> leaky = snn.Leaky(beta=0.9, threshold=1.0, reset_delay=False)
    >>> lif = from_snntorch(leaky, dt_ms=1.0)
    >>> round(lif.params.tau_mem_ms, 4), lif.params.r_m == lif.params.tau_mem_ms
    (9.4912, True)
    """
    if type(leaky) is not snn.Leaky:
        raise ParameterTypeError(f"expected an snntorch.Leaky, got {type(leaky).__name__}")
    if leaky.inhibition:
        raise ParameterError(
            "Leaky(inhibition=True) silences all but one neuron; spikerec has no equivalent"
        )
    if leaky.state_quant:
        raise ParameterError(
            "Leaky(state_quant=...) quantises the membrane; spikerec has no equivalent"
        )
    factor = torch.as_tensor(leaky.graded_spikes_factor)
    if isinstance(leaky.graded_spikes_factor, torch.nn.Parameter) or not bool((factor == 1).all()):
        raise ParameterError(
            f"Leaky graded_spikes_factor={factor.tolist()!r}: spikerec emits spikes of 1.0; "
            "it must be a fixed 1"
        )
    if isinstance(leaky.beta, torch.nn.Parameter):
        raise ParameterError(
            "Leaky(learn_beta=True) cannot be mapped: a learned spikerec tau also rescales the "
            "input gain r_m/tau_mem_ms; freeze beta first"
        )
    beta = _scalar_or_vector(leaky.beta, "beta")
    if beta.numel() != 1:
        if not bool((beta == beta.flatten()[0]).all()):
            raise ParameterError(
                f"Leaky has per-neuron beta ({beta.numel()} values): spikerec's input gain "
                "r_m/tau_mem_ms would differ between neurons; use one beta"
            )
    b = float(beta.flatten()[0])
    if not 0.0 < b < 1.0:
        raise ParameterError(
            f"Leaky beta={b!r} must be in (0, 1): beta=1 never leaks (tau infinite), "
            "beta<=0 has no time constant"
        )
    tau_ms = -dt_ms / math.log(b)

    threshold = _scalar_or_vector(leaky.threshold, "threshold")
    learnable = isinstance(leaky.threshold, torch.nn.Parameter)
    per_neuron = threshold.dim() == 1
    mechanism = leaky.reset_mechanism
    v_th = float(threshold.max()) if per_neuron else float(threshold)
    v_reset = 0.0
    if leaky.reset_delay and mechanism == "subtract":
        if per_neuron or learnable:
            raise ParameterError(
                "Leaky with reset_delay=True, reset 'subtract' and a per-neuron or learnable "
                "threshold: spikerec's equivalent v_reset = v_th - v_th/beta must be one "
                "fixed value"
            )
        v_reset = v_th - v_th / b
    if v_th <= v_reset or (per_neuron and bool((threshold <= v_reset).any())):
        raise ParameterError(
            f"Leaky threshold {threshold.tolist()!r} must be > {v_reset!r} (spikerec's v_reset)"
        )
    params = LIFParams(
        tau_mem_ms=tau_ms, dt_ms=dt_ms, v_reset=v_reset, v_th=v_th, r_m=tau_ms, reset=mechanism
    )
    lif = LIF(
        params,
        integrator="exact",
        synapse="delta",
        surrogate=surrogate,
        learn_threshold=learnable or per_neuron,
        n_neurons=threshold.numel() if per_neuron else None,
    )
    if lif.v_th is not None:
        source = torch.as_tensor(leaky.threshold)
        lif = lif.to(source.dtype if source.is_floating_point() else torch.float32)
        learned = cast(nn.Parameter, lif.v_th)  # still there: .to() converts in place
        with torch.no_grad():
            learned.copy_(threshold.to(learned.dtype))
        learned.requires_grad_(learnable)
    return lif


__all__ = ["from_snntorch", "snntorch_input_gain", "to_snntorch"]
