"""Recurrent baselines: an image read as a sequence of rows, or of CNN feature columns.

``RowRNN`` (entry ``rnn``) reads an image ``[C, H, W]`` row by row: H time steps,
each the ``C·W`` pixels of one row (28 steps of 28 pixels for MNIST, 8 of 8 for
digits), and classifies from the last hidden state. ``ConvRNN`` (entry
``cnn-rnn``) first runs the V4 front end of the CNN entries, then reads its
``64 × 7 × 7`` feature map column by column: 7 steps of ``64·7 = 448`` features.
Sequences are time-major, ``[T, B, N]``.
"""

from __future__ import annotations

import torch
from torch import nn

from spikerec.errors import ParameterError
from spikerec.recognition.frontend import V4_CHANNELS, V4_SIDE, V4FrontEnd

SEQUENCE_MODELS: tuple[str, ...] = ("rnn", "cnn-rnn")
CELLS: tuple[str, ...] = ("gru", "lstm")


def _recurrent(cell: str, n_inputs: int, hidden_size: int) -> nn.RNNBase:
    if cell not in CELLS:
        raise ParameterError(f"unknown cell {cell!r}; valid: {', '.join(CELLS)}")
    if hidden_size < 1:
        raise ParameterError(f"hidden_size={hidden_size!r} must be >= 1")
    kind = nn.GRU if cell == "gru" else nn.LSTM
    return kind(n_inputs, hidden_size)


def _recurrent_macs(cell: str, n_inputs: int, hidden_size: int, n_steps: int) -> float:
    """Multiply-accumulates of the gate matrices over a sequence (3 gates GRU, 4 LSTM)."""
    gates = 3 if cell == "gru" else 4
    return float(n_steps * gates * hidden_size * (n_inputs + hidden_size))


def _last_state(rnn: nn.Module, sequence: torch.Tensor) -> torch.Tensor:
    """Hidden state ``[B, hidden]`` after the last step of ``sequence [T, B, N]``."""
    _, state = rnn(sequence)
    hidden = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
    return hidden[-1]


def image_rows(images: torch.Tensor) -> torch.Tensor:
    """Images ``[B, C, H, W]`` as a time-major sequence of rows ``[H, B, C·W]``.

    Step t holds row t of every channel, channel-major: ``[c0 row t, c1 row t, ...]``.

    Examples
    --------
    >>> image_rows(torch.arange(6.0).reshape(1, 1, 2, 3))
    tensor([[[0., 1., 2.]],
    <BLANKLINE>
            [[3., 4., 5.]]])
    """
    if images.dim() != 4:
        raise ParameterError(f"images must have shape [B, C, H, W], got {tuple(images.shape)}")
    b, c, h, w = images.shape
    return images.permute(2, 0, 1, 3).reshape(h, b, c * w)


class RowRNN(nn.Module):
    """A GRU or LSTM that reads an image row by row and classifies from its last state.

    Parameters
    ----------
    image_shape : tuple of int
        ``(C, H, W)``: the sequence has H steps of ``C·W`` inputs.
    n_classes : int
    hidden_size : int
        Units of the recurrent layer.
    cell : {"gru", "lstm"}

    Notes
    -----
    GRU update per row ``x_t``: ``r = σ(W_r x_t + U_r h)``, ``z = σ(W_z x_t + U_z h)``,
    ``ĥ = tanh(W_h x_t + r ⊙ U_h h)``, ``h ← (1 − z) ⊙ ĥ + z ⊙ h``; logits
    ``= W_o h_H + b_o``.

    Examples
    --------
    >>> RowRNN((1, 8, 8), 10)(torch.zeros(4, 1, 8, 8)).shape
    torch.Size([4, 10])
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        n_classes: int,
        *,
        hidden_size: int = 128,
        cell: str = "gru",
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        self.image_shape = (int(c), int(h), int(w))
        self.cell = cell
        self.rnn = _recurrent(cell, c * w, hidden_size)
        self.readout = nn.Linear(hidden_size, n_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, n_classes]`` of images ``[B, C, H, W]``."""
        if tuple(images.shape[1:]) != self.image_shape:
            raise ParameterError(
                f"images must have shape [B, {', '.join(map(str, self.image_shape))}], "
                f"got {tuple(images.shape)}"
            )
        return self.readout(_last_state(self.rnn, image_rows(images)))

    def macs_per_image(self) -> float:
        """Multiply-accumulates of one classification (recurrent gates and readout)."""
        c, h, w = self.image_shape
        return _recurrent_macs(self.cell, c * w, self.rnn.hidden_size, h) + float(
            self.readout.weight.numel()
        )


class ConvRNN(nn.Module):
    """The V4 front end's feature map read column by column by a GRU or LSTM.

    ``image [B, C, H, W] → V4FrontEnd → [B, 64, 7, 7] → 7 columns [7, B, 64·7] →
    GRU → last state → Linear → logits``.

    Parameters
    ----------
    in_channels : int
        1 or 3.
    n_classes : int
    hidden_size : int
    cell : {"gru", "lstm"}

    Examples
    --------
    >>> ConvRNN(1, 10)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self, in_channels: int, n_classes: int, *, hidden_size: int = 128, cell: str = "gru"
    ) -> None:
        super().__init__()
        self.frontend = V4FrontEnd(in_channels)
        self.cell = cell
        self.rnn = _recurrent(cell, V4_CHANNELS * V4_SIDE, hidden_size)
        self.readout = nn.Linear(hidden_size, n_classes)

    def columns(self, images: torch.Tensor) -> torch.Tensor:
        """The feature sequence ``[7, B, 448]``: step t is column t of every channel."""
        maps = self.frontend(images).view(-1, V4_CHANNELS, V4_SIDE, V4_SIDE)  # [B, ch, y, x]
        return maps.permute(3, 0, 1, 2).reshape(V4_SIDE, maps.shape[0], V4_CHANNELS * V4_SIDE)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, n_classes]`` of images ``[B, C, H, W]``."""
        return self.readout(_last_state(self.rnn, self.columns(images)))

    def macs_per_image(self) -> float:
        """Multiply-accumulates on top of the front end (recurrent gates and readout)."""
        return _recurrent_macs(
            self.cell, V4_CHANNELS * V4_SIDE, self.rnn.hidden_size, V4_SIDE
        ) + float(self.readout.weight.numel())


def build_sequence_model(
    name: str,
    image_shape: tuple[int, int, int],
    n_classes: int,
    *,
    hidden_size: int = 128,
    cell: str = "gru",
) -> RowRNN | ConvRNN:
    """``RowRNN`` for ``"rnn"``, ``ConvRNN`` for ``"cnn-rnn"``.

    The weights are PyTorch's defaults drawn without touching the global random
    stream; :func:`spikerec.compare.baselines.fit.fit_classifier` re-draws them from its seed.

    Raises
    ------
    ValueError
        For an unknown name or cell (with the valid names).
    """
    if name not in SEQUENCE_MODELS:
        raise ParameterError(
            f"unknown sequence model {name!r}; valid: {', '.join(SEQUENCE_MODELS)}"
        )
    with torch.random.fork_rng(devices=[]):
        if name == "rnn":
            return RowRNN(image_shape, n_classes, hidden_size=hidden_size, cell=cell)
        return ConvRNN(image_shape[0], n_classes, hidden_size=hidden_size, cell=cell)
