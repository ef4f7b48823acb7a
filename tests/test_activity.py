"""Networks that learn from step 0: ``init_firing_`` and ``measure_activity``.

A user's ``Linear -> LIF -> ... -> LIF`` network, built with default layers
(PyTorch's weight initialisation, ``LIF(LIFParams())``), is silent on its input:
no neuron reaches threshold, the loss sits at ``ln(n_classes)``. The diagnostic
must say so; after ``init_firing_`` the same network fires at the target rate and
learns a synthetic task within a set number of Adam steps.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from spikerec import (
    LIF,
    ActivityReport,
    LIFCell,
    LIFParams,
    SilentLayerWarning,
    init_firing_,
    measure_activity,
)
from spikerec.errors import ParameterError
from spikerec.recognition.recognizer import init_parameters

N_IN, N_CLASSES, T = 40, 5, 20
TRAIN_STEPS, TARGET_ACCURACY = 30, 0.9


class UserNet(nn.Module):
    """Linear -> LIF blocks as a user writes them: layer sizes ``sizes``, default LIFs."""

    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.fcs = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.lifs = nn.ModuleList(LIF(LIFParams()) for _ in sizes[1:])

    def forward(self, x: torch.Tensor):  # [T, B, N_IN]
        for fc, lif in zip(self.fcs, self.lifs, strict=True):
            out = lif(fc(x))
            x = out.spikes
        return out


def make_net(depth: int, seed: int = 0) -> UserNet:
    """PyTorch's default initialisation, drawn from an explicit generator."""
    net = UserNet([N_IN] + [64] * (depth - 1) + [N_CLASSES])
    init_parameters(net, torch.Generator().manual_seed(seed))
    return net


def task(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Rate-coded classes: each class has its own input rates in [0.2, 0.8); Bernoulli
    spikes [T, n, N_IN] and labels [n]."""
    prototypes = torch.rand(N_CLASSES, N_IN, generator=torch.Generator().manual_seed(123))
    labels = torch.randint(0, N_CLASSES, (n,), generator=g)
    rates = prototypes[labels] * 0.6 + 0.2 * torch.rand(n, N_IN, generator=g)
    return (torch.rand(T, n, N_IN, generator=g) < rates).float(), labels


def train(net: UserNet, steps: int, g: torch.Generator) -> list[float]:
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        x, y = task(64, g)
        loss = F.cross_entropy(net(x).spikes.sum(0), y)  # spike counts
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def accuracy(net: UserNet) -> float:
    x, y = task(500, torch.Generator().manual_seed(99))
    with torch.no_grad():
        return (net(x).spikes.sum(0).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize("depth", [2, 3])
def test_default_network_is_flagged_silent_and_learns_after_init_firing(depth):
    g = torch.Generator().manual_seed(1)
    batch, _ = task(128, g)

    silent = make_net(depth)
    with pytest.warns(SilentLayerWarning, match="lifs.0"):
        report = measure_activity(silent, batch)
    assert report.silent_layers() == [f"lifs.{k}" for k in range(depth)]
    assert all(a.rate == 0.0 and a.silent_fraction == 1.0 for a in report.layers)
    # Without spikes the output carries no information: the loss starts at ln(5).
    assert train(silent, 1, g)[0] == pytest.approx(math.log(N_CLASSES), abs=1e-6)

    net = make_net(depth)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SilentLayerWarning)
        report = init_firing_(net, batch)  # default target: 2 % of steps
    assert [a.name for a in report.layers] == [f"lifs.{k}" for k in range(depth)]
    for layer in report.layers:
        assert layer.rate == pytest.approx(0.02, rel=0.2)
        assert layer.silent_fraction < 0.05
    losses = train(net, TRAIN_STEPS, g)
    # learning from the first steps: ten steps in, the loss is well below chance
    assert sum(losses[5:10]) / 5 < 0.8 * math.log(N_CLASSES)
    assert accuracy(net) >= TARGET_ACCURACY


def test_three_layer_default_network_does_not_learn_without_the_helper():
    """The contrast: the same steps on the silent network leave it at chance."""
    g = torch.Generator().manual_seed(1)
    net = make_net(3)
    losses = train(net, 10, g)
    assert min(losses) > 0.99 * math.log(N_CLASSES)
    assert accuracy(net) < 0.5


def test_init_firing_on_a_conv_network_with_cells_in_a_time_loop():
    """Conv -> LIFCell stepped in Python, then Linear -> LIF: both kinds of layer tuned."""

    class ConvNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.cell = LIFCell()
            self.fc = nn.Linear(4 * 6 * 6, 3)
            self.lif = LIF()

        def forward(self, images: torch.Tensor):  # [B, 1, 8, 8]
            state, spikes = None, []
            drive = self.conv(images)
            for _ in range(12):
                s, _, state = self.cell(drive, state)
                spikes.append(s)
            return self.lif(self.fc(torch.stack(spikes).flatten(2)))

    torch.manual_seed(0)
    net = ConvNet()
    images = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    with pytest.warns(SilentLayerWarning):
        before = measure_activity(net, images)
    assert before.layers[0].rate == 0.0
    report = init_firing_(net, images, target_rate=0.2)
    assert [a.name for a in report.layers] == ["cell", "lif"]
    assert report.layers[0].n_steps == 12 and report.layers[0].neuron_shape == (4, 6, 6)
    for layer in report.layers:
        assert layer.rate == pytest.approx(0.2, rel=0.2)


def test_activity_report_counts_silent_neurons():
    lif = LIF(LIFParams.unit_jump())
    x = torch.zeros(5, 2, 4)
    x[:, :, 0] = 1.5  # neuron 0 fires every step, neuron 1 once, the others never
    x[0, 1, 1] = 1.5
    report = measure_activity(lif, x, warn_silent_fraction=None)
    (layer,) = report.layers
    assert isinstance(report, ActivityReport)
    assert layer.name == "LIF" and layer.n_steps == 5 and layer.neuron_shape == (4,)
    assert layer.rate == pytest.approx((10 + 1) / 40)
    assert layer.silent_fraction == 0.5
    assert report.silent_layers(0.5) == ["LIF"] and report.silent_layers(0.6) == []
    assert "silent" in str(report) and "LIF" in str(report)


def test_helper_leaves_buffers_and_refuses_bad_values():
    class WithNorm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.norm, self.lif = nn.Linear(6, 4), nn.BatchNorm1d(4), LIF()

        def forward(self, x):  # [T, B, 6]
            y = self.norm(self.fc(x).flatten(0, 1)).unflatten(0, x.shape[:2])
            return self.lif(y)

    torch.manual_seed(0)
    net = WithNorm()
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    x = torch.rand(10, 8, 6, generator=torch.Generator().manual_seed(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SilentLayerWarning)
        init_firing_(net, x)
    for k, v in before.items():
        assert torch.equal(net.state_dict()[k], v), k
    for bad in ({"target_rate": 0.0}, {"target_rate": 1.5}, {"rtol": 0}, {"max_iterations": 0}):
        with pytest.raises(ParameterError):
            init_firing_(net, x, **bad)
    with pytest.raises(ParameterError, match="no spikerec LIF"):
        measure_activity(nn.Linear(3, 3), torch.zeros(2, 3))
