"""Surrogate derivatives for the spike threshold, as small frozen callable objects.

Calling a surrogate on ``x = V - v_th`` returns the Heaviside step ``x >= 0`` in
the forward pass and passes ``grad * derivative(x)`` backward. Each surrogate also
names the smooth function whose derivative it uses (:meth:`Surrogate.primitive`),
so the hand-written derivative can be checked against finite differences.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from spikerec.errors import ParameterError
from spikerec.registry import Registry


class _SpikeFunction(torch.autograd.Function):
    """Heaviside forward, surrogate derivative backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.derivative(x), None


class _SmoothFunction(torch.autograd.Function):
    """The surrogate's primitive forward with its hand-written derivative backward.

    Used to gradcheck ``derivative`` against the primitive it claims to differentiate.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return surrogate.primitive(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.derivative(x), None


class Surrogate(ABC):
    """A surrogate derivative of the Heaviside spike function.

    Subclasses are frozen dataclasses that define :meth:`primitive` (a smooth
    step-like function) and :meth:`derivative` (its derivative, written by hand).
    Calling one on ``x = V - v_th`` (any shape, voltage units) returns spikes
    ``(x >= 0)`` of the same shape and dtype, 0 or 1.

    Examples
    --------
    >>> x = torch.tensor([-0.2, 0.0, 0.3], requires_grad=True)
    >>> spikes = FastSigmoid()(x)
    >>> spikes.tolist()
    [0.0, 1.0, 1.0]
    >>> spikes.sum().backward()
    >>> x.grad
    tensor([0.0278, 1.0000, 0.0138])
    """

    name: str = ""

    @abstractmethod
    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        """Smooth function of ``x = V - v_th`` whose derivative is the surrogate."""

    @abstractmethod
    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """Surrogate derivative ``d spike / d x``, same shape as ``x``."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes ``(x >= 0)`` with the surrogate derivative in the backward pass.

        Parameters
        ----------
        x : Tensor [...]
            Distance of the membrane from threshold, ``V - v_th``.
        """
        return _SpikeFunction.apply(x, self)

    def smooth(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`primitive` whose backward uses :meth:`derivative` (for gradcheck)."""
        return _SmoothFunction.apply(x, self)


def _positive(name: str, value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise ParameterError(f"{name}={value!r} must be a finite number > 0")


@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """Derivative of the fast sigmoid ``x / (1 + k|x|)``: ``1 / (1 + k|x|)^2``.

    Same formula and default as ``snntorch.surrogate.fast_sigmoid(slope=25)``.

    Examples
    --------
    >>> FastSigmoid(slope=25.0).derivative(torch.tensor([0.0])).item()
    1.0
    """

    slope: float = 25.0
    name = "fast_sigmoid"

    def __post_init__(self) -> None:
        _positive("slope", self.slope)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return x / (1.0 + self.slope * x.abs())

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        # In place on one fresh tensor: this runs over [T, B, N] in every backward pass.
        return x.abs().mul_(self.slope).add_(1.0).pow_(-2)


@dataclass(frozen=True)
class ATan(Surrogate):
    """Derivative of ``arctan(pi/2 * alpha * x) / pi``: ``(alpha/2) / (1 + (pi/2 alpha x)^2)``.

    Same formula and default as ``snntorch.surrogate.atan(alpha=2.0)``.
    ``alpha`` is per voltage unit; the peak derivative at threshold is ``alpha / 2``.

    Examples
    --------
    >>> ATan(alpha=2.0).derivative(torch.tensor([0.0])).item()
    1.0
    """

    alpha: float = 2.0
    name = "atan"

    def __post_init__(self) -> None:
        _positive("alpha", self.alpha)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return torch.atan(0.5 * math.pi * self.alpha * x) / math.pi + 0.5

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return (0.5 * self.alpha) / (1.0 + (0.5 * math.pi * self.alpha * x) ** 2)


@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """Derivative of the logistic ``sigma(k x)``: ``k sigma(kx) (1 - sigma(kx))``.

    The formula of ``snntorch.surrogate.sigmoid(slope=25)``, evaluated through
    ``torch.sigmoid`` so that it stays finite for every input (snntorch's
    ``exp(-kx) / (exp(-kx) + 1)^2`` gives NaN once ``exp(-kx)`` overflows).
    ``slope`` is per voltage unit; the peak derivative at threshold is ``slope / 4``.

    Examples
    --------
    >>> Sigmoid(slope=25.0).derivative(torch.tensor([0.0])).item()
    6.25
    """

    slope: float = 25.0
    name = "sigmoid"

    def __post_init__(self) -> None:
        _positive("slope", self.slope)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.slope * x)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.slope * x)
        return self.slope * s * (1.0 - s)


@dataclass(frozen=True)
class Triangle(Surrogate):
    """Triangle of half-width ``width`` and unit area: ``max(0, 1 - |x|/w) / w``.

    snntorch's ``triangular`` is a different function (``+/-threshold`` either
    side of zero, not a triangle), so no parity is claimed with it. ``width`` is in
    voltage units.

    Examples
    --------
    >>> Triangle(width=1.0).derivative(torch.tensor([0.0, 0.5, 2.0])).tolist()
    [1.0, 0.5, 0.0]
    """

    width: float = 1.0
    name = "triangle"

    def __post_init__(self) -> None:
        _positive("width", self.width)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        z = (x / self.width).clamp(-1.0, 1.0)
        return 0.5 + z - 0.5 * z * z.abs()

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return (1.0 - (x / self.width).abs()).clamp(min=0.0) / self.width


@dataclass(frozen=True)
class SuperSpike(FastSigmoid):
    """SuperSpike (Zenke & Ganguli 2018): ``1 / (1 + slope |x|)^2``.

    The fast-sigmoid derivative with SuperSpike's steepness: 100 per voltage unit,
    as in Zenke's SpyTorch for a threshold of 1.

    Examples
    --------
    >>> SuperSpike().derivative(torch.tensor([0.0, 0.1])).tolist()
    [1.0, 0.00826...]
    """

    slope: float = 100.0
    name = "superspike"


#: The surrogate classes by name; a new surrogate is one subclass plus one line here.
SURROGATES: Registry[type[Surrogate]] = Registry(
    "surrogate", [(cls.name, cls) for cls in (FastSigmoid, ATan, Sigmoid, Triangle, SuperSpike)]
)


def get_surrogate(surrogate: str | Surrogate) -> Surrogate:
    """The surrogate named ``surrogate`` with default settings (an instance, with its own
    settings, passes through), or a one-line error listing the valid names
    (:meth:`spikerec.registry.Registry.build`).

    ``surrogate`` is a name in :data:`SURROGATES` (``fast_sigmoid``, ``atan``,
    ``sigmoid``, ``triangle``, ``superspike``) or a :class:`Surrogate`.

    Examples
    --------
    >>> get_surrogate("atan")
    ATan(alpha=2.0)
    >>> get_surrogate(Triangle(width=0.5))
    Triangle(width=0.5)
    """
    return SURROGATES.build(surrogate, Surrogate)
