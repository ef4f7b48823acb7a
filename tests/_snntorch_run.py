"""Shared by the snntorch tests: stepping an snntorch neuron by hand."""

from __future__ import annotations

import torch


def run_snntorch(
    neuron: torch.nn.Module, inputs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step an snntorch neuron by hand with explicit state from 0; return spikes
    [T,B,N] and mem [T,B,N]."""
    mem = torch.zeros(inputs.shape[1:], dtype=inputs.dtype)
    spikes, mems = [], []
    for x_t in inputs:
        spk, mem = neuron(x_t, mem)
        spikes.append(spk)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)
