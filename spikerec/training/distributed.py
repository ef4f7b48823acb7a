"""Data-parallel training on PyTorch's own engine: process group, shards, reductions.

``spikerec train`` runs unchanged under ``torchrun --nproc-per-node N``: torchrun
sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``, :func:`init_from_environment`
joins the process group (``nccl`` on GPUs, ``gloo`` on CPUs), and the trainer
wraps the model in :class:`torch.nn.parallel.DistributedDataParallel`.

Sharding keeps the global batch of a single-process run: every rank draws the
same permutation from the run's seeded generator, each global batch of
``batch_size`` images is split among the ranks (``batch[rank::world_size]``), and
the loss is scaled so that DDP's gradient average equals the gradient of the
global batch mean. A run on N processes therefore follows the single-process run
up to the order of floating-point summation, with one exception: a front end with
BatchNorm (the default ``frontend_norm="batch"``) normalises by the statistics of
the whole global batch on GPUs (``SyncBatchNorm``) but, on CPU ranks, where torch
has no ``SyncBatchNorm``, by those of each rank's share; ``--frontend-norm none``
restores the exact correspondence there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from spikerec.errors import ParameterError


@dataclass(frozen=True)
class Placement:
    """Where this process trains: its rank among ``world_size`` and its device."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Only the main process (rank 0) writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def current_placement(device: str | torch.device | None = None) -> Placement:
    """This process's placement: from the initialised process group, else single.

    ``device`` (default: ``cuda:LOCAL_RANK`` when the group uses nccl, else CPU)
    is where the model and batches go.
    """
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        if device is None:
            device = (
                torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
                if dist.get_backend() == "nccl"
                else torch.device("cpu")
            )
        return Placement(rank=rank, world_size=world, device=torch.device(device))
    return Placement(device=torch.device("cpu" if device is None else device))


def init_from_environment() -> Placement:
    """Join the process group torchrun describes in the environment, if any.

    Does nothing for a plain run (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``). The
    backend is ``nccl`` when CUDA is available, else ``gloo``.

    Raises
    ------
    ValueError
        If the torchrun variables are malformed.
    """
    world = os.environ.get("WORLD_SIZE")
    if world is None:
        return current_placement()
    try:
        world_size = int(world)
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ParameterError(
            f"WORLD_SIZE={world!r}, RANK, LOCAL_RANK must be integers (set by torchrun)"
        ) from None
    if world_size <= 1:
        return current_placement()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return current_placement()


def leave_process_group() -> None:
    """Destroy the process group this process joined (no-op when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(batch_indices: torch.Tensor, placement: Placement) -> torch.Tensor:
    """This rank's share ``[rank::world_size]`` of one global batch of indices."""
    return batch_indices[placement.rank :: placement.world_size]


def loss_scale(local_size: int, global_size: int, placement: Placement) -> float:
    """Factor on a rank's mean loss so that DDP's gradient average is the global mean's.

    DDP averages gradients over ``world_size`` ranks; a rank's mean over
    ``local_size`` images counts ``local_size / global_size`` of the global mean.
    """
    return local_size * placement.world_size / global_size


def sum_over_ranks(values: list[float], placement: Placement) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (the values themselves if single)."""
    if not placement.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=_reduce_device(placement))
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def all_ranks_ok(ok: bool, placement: Placement) -> bool:
    """Whether ``ok`` holds on every rank (a collective: every rank must call it).

    Lets the other ranks stop at once when rank 0 fails to set up the run, instead
    of waiting in the next collective until the backend's timeout.
    """
    if not placement.distributed:
        return ok
    flag = torch.tensor([1 if ok else 0], device=_reduce_device(placement))
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def _reduce_device(placement: Placement) -> torch.device:
    return placement.device if dist.get_backend() == "nccl" else torch.device("cpu")
