"""V4 spike encoders: features ``[B, N]`` become spike trains ``[T, B, N]``.

Features are the non-negative outputs of the front end. Every encoder keeps a
gradient path back into the front end, so the whole recogniser trains end to end.
Randomness comes only from an explicit ``torch.Generator``.
"""

from __future__ import annotations

import math
from abc import abstractmethod

import torch
from snntorch import spikegen
from torch import nn

from spikerec.errors import ParameterError, ParameterTypeError
from spikerec.lif.fused import fused_supported, lif_sequence_fused
from spikerec.lif.integrators import get_integrator
from spikerec.lif.params import LIFParams
from spikerec.lif.step import _lif_sequence, check_params, init_lif_state
from spikerec.lif.surrogates import FastSigmoid, Surrogate, get_surrogate
from spikerec.registry import Registry
from spikerec.validation import check_tensor


def _check_features(features: torch.Tensor) -> None:
    """Refuse anything but finite, non-empty floating-point features ``[B, N]`` with data."""
    if not isinstance(features, torch.Tensor):
        raise ParameterError(f"features must be a tensor [B, N], got {type(features).__name__}")
    check_tensor("features", features, "[B, N]", ndim=2)


def _check_generator(generator: object, features: torch.Tensor, used: bool) -> None:
    """Refuse a generator that is not a ``torch.Generator`` (or None where unused); one
    that draws (``used``) must exist and sit on the features' device."""
    if generator is None:
        if used:
            raise ParameterError("the rate encoder draws spikes and needs a torch.Generator")
        return
    if not isinstance(generator, torch.Generator):
        raise ParameterTypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}"
        )
    if used and generator.device.type != features.device.type:
        raise ParameterError(
            f"generator is on {generator.device} but features are on {features.device}; "
            "make the generator with torch.Generator(device=features.device)"
        )


def spike_probability(features: torch.Tensor) -> torch.Tensor:
    """Probability of at least one spike in a step, ``1 - exp(-features)``.

    A feature is read as the expected number of spikes of a Poisson process in one
    step; negative values count as silence.
    """
    return -torch.expm1(-features.clamp(min=0.0))


class SpikeEncoder(nn.Module):
    """Base class: ``forward(features [B, N], generator=None) -> spikes [T, B, N]``."""

    name: str = ""
    stochastic: bool = False

    def __init__(self, n_steps: int = 25) -> None:
        super().__init__()
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise ParameterError(f"n_steps={n_steps!r} must be a positive integer")
        self.n_steps = n_steps

    @abstractmethod
    def forward(
        self, features: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Spike trains ``[T, B, N]`` of 0.0/1.0 from features ``[B, N]``."""

    def extra_repr(self) -> str:
        return f"n_steps={self.n_steps}"


class RateEncoder(SpikeEncoder):
    """Bernoulli (discretised Poisson) spike trains with ``P(spike) = 1 - exp(-f)`` per step.

    The backward pass is straight-through, ``d spikes / d f = 1`` for ``f > 0``:
    unlike the slope ``exp(-f)`` of the expected spike it does not vanish for
    strong features, which would otherwise saturate and stop learning. snntorch's
    ``spikegen.rate`` is not used because it draws from torch's global generator.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> spikes = RateEncoder(n_steps=1000)(torch.full((1, 2), math.log(2.0)), g)
    >>> spikes.shape, round(spikes.mean().item(), 1)
    (torch.Size([1000, 1, 2]), 0.5)
    """

    name = "rate"
    stochastic = True

    def forward(self, features, generator=None):
        _check_features(features)
        _check_generator(generator, features, used=True)
        p = spike_probability(features)
        draws = torch.rand(
            (self.n_steps, *p.shape), generator=generator, device=p.device, dtype=p.dtype
        )
        spikes = (draws < p).to(p.dtype)
        # Straight-through: d spikes / d features = 1. The exact slope of the
        # expected spike, exp(-f), vanishes for strong features and would freeze them.
        rate = features.clamp(min=0.0)
        return spikes + (rate - rate.detach())


class LatencyEncoder(SpikeEncoder):
    """One spike per unit, earlier for stronger features (time-to-first-spike code).

    Spike times come from ``snntorch.spikegen.latency_code`` (linear code,
    normalised to the ``n_steps`` window) applied to ``1 - exp(-f)``; units below
    ``threshold`` stay silent. The one-hot spike train is passed forward; the
    backward pass goes through a Gaussian bump of width ``sigma_steps`` around the
    continuous spike time, so gradients move spikes earlier or later.

    Parameters
    ----------
    n_steps : int
        Time steps T of the spike trains.
    threshold : float
        In (0, 1): units with ``1 - exp(-f)`` below it stay silent.
    sigma_steps : float
        Width of the Gaussian of the backward pass, in steps.

    Examples
    --------
    >>> spikes = LatencyEncoder(n_steps=10)(torch.tensor([[0.0, 1.0, 5.0]]))  # [B=1, N=3]
    >>> spikes.shape, spikes.sum(0).tolist(), spikes.argmax(0).tolist()
    (torch.Size([10, 1, 3]), [[0.0, 1.0, 1.0]], [[0, 3, 0]])
    """

    name = "latency"

    def __init__(self, n_steps: int = 25, threshold: float = 0.01, sigma_steps: float = 1.0):
        super().__init__(n_steps)
        if not (math.isfinite(threshold) and 0 < threshold < 1):
            raise ParameterError(f"threshold={threshold!r} must be in (0, 1)")
        if not (math.isfinite(sigma_steps) and sigma_steps > 0):
            raise ParameterError(f"sigma_steps={sigma_steps!r} must be > 0")
        self.threshold = threshold
        self.sigma_steps = sigma_steps

    def spike_times(self, features: torch.Tensor) -> torch.Tensor:
        """Continuous spike step in ``[0, n_steps - 1]`` for each unit, ``[B, N]``."""
        p = spike_probability(features)
        times, _ = spikegen.latency_code(
            p, num_steps=self.n_steps, threshold=self.threshold, linear=True, normalize=True
        )
        return times.clamp(0.0, self.n_steps - 1.0)

    def forward(self, features, generator=None):
        _check_features(features)
        _check_generator(generator, features, used=False)
        p = spike_probability(features)
        times = self.spike_times(features)
        steps = torch.arange(self.n_steps, device=p.device, dtype=p.dtype).view(-1, 1, 1)
        active = (p >= self.threshold).to(p.dtype)
        hard = (steps == times.detach().round()).to(p.dtype) * active
        soft = torch.exp(-0.5 * ((steps - times) / self.sigma_steps) ** 2) * active
        return hard + (soft - soft.detach())


class LIFPopulationEncoder(SpikeEncoder):
    """A deterministic population of LIF neurons, one per V4 unit, driven by its feature.

    Each feature is a current held over all ``n_steps`` steps
    (``synapse="current"``, exact integrator); the neurons' spikes are the V4
    spike trains, and the surrogate derivative carries gradients to the features.

    Parameters
    ----------
    params : LIFParams, optional
        Default ``LIFParams(tau_mem_ms=5.0, dt_ms=1.0, r_m=4.0)``: a feature ``f``
        drives the membrane towards ``4 f``, so units with ``f > 0.25`` fire
        regularly, faster for stronger features. With ``r_m = 1`` the features of
        a freshly initialised front end (99.9 % below 0.7 on digits) would leave
        the whole V4 layer silent, and only Adam would recover from that.
    surrogate : str or Surrogate

    Examples
    --------
    >>> spikes = LIFPopulationEncoder(n_steps=20)(torch.tensor([[0.0, 0.5, 2.0]]))
    >>> spikes.shape, spikes.sum(0).tolist()      # spike counts grow with the feature
    (torch.Size([20, 1, 3]), [[0.0, 5.0, 20.0]])
    """

    name = "lif"

    def __init__(
        self,
        n_steps: int = 25,
        params: LIFParams | None = None,
        surrogate: str | Surrogate = FastSigmoid(),
    ) -> None:
        super().__init__(n_steps)
        self.params = LIFParams(tau_mem_ms=5.0, dt_ms=1.0, r_m=4.0) if params is None else params
        check_params(self.params)
        get_integrator("exact").validate(self.params)
        self.surrogate = get_surrogate(surrogate)

    def forward(self, features, generator=None):
        _check_features(features)
        _check_generator(generator, features, used=False)
        state = init_lif_state(
            features.shape, self.params, dtype=features.dtype, device=features.device
        )
        if fused_supported(self.params):
            spikes, _, _ = lif_sequence_fused(
                features,
                state,
                self.params,
                method=get_integrator("exact"),
                synapse="current",
                surrogate=self.surrogate,
                n_steps=self.n_steps,
            )
            return spikes
        drive = features.unsqueeze(0).expand(self.n_steps, *features.shape)
        p = self.params
        rules_of_step = (get_integrator("exact"), self.surrogate, p.tau_mem_ms, p.v_th)
        spikes, _, _ = _lif_sequence(drive, state, p, rules_of_step, synapse="current")
        return spikes


#: The encoder classes by name; a new encoder is one subclass of :class:`SpikeEncoder`
#: plus one line here.
ENCODERS: Registry[type[SpikeEncoder]] = Registry(
    "encoder", [(cls.name, cls) for cls in (RateEncoder, LatencyEncoder, LIFPopulationEncoder)]
)


def make_encoder(name: str, n_steps: int = 25) -> SpikeEncoder:
    """The encoder named ``name`` (``"rate"``, ``"latency"`` or ``"lif"``, see
    :data:`ENCODERS`) with default settings and ``n_steps`` time steps T of its spike
    trains ``[T, B, N]``, or a one-line error listing the valid names
    (:meth:`spikerec.registry.Registry.build`).

    Examples
    --------
    >>> make_encoder("rate", n_steps=10)
    RateEncoder(n_steps=10)
    """
    if not isinstance(name, str):  # names only: an encoder object is not taken here
        raise ParameterError(f"unknown encoder {name!r}; valid: {', '.join(ENCODERS)}")
    return ENCODERS.build(name, SpikeEncoder, n_steps=n_steps)
