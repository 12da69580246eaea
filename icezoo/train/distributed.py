"""Data-parallel training under ``torchrun``: one process per device, gradients averaged.

``torchrun --nproc-per-node N -m icezoo train RECIPE`` starts N copies of
``icezoo train``; each draws the same global batch of the step (the batch is
a function of the seed and the step) and trains on its ``rank``-th share of
it. After each backward pass the gradients of the module just updated are
averaged over the processes, so every process takes the same optimiser step
and holds the same weights; D's batch-norm running statistics are averaged
after each step. Process 0 writes the run folder.

Why not ``DistributedDataParallel``: one GAN step calls D three times (real,
synthesised, and synthesised again through the freshly updated D) before and
between two backward passes, and DDP's reducer expects one forward per
backward; averaging the gradients explicitly after ``backward()`` is the same
arithmetic without that constraint (it gives up overlapping communication
with the backward pass). With losses that are plain batch means, equal shares
and no batch norm in the models, N processes compute what one process computes
on the whole batch (tested on the CPU with gloo). Otherwise they differ, as
DDP does: batch norms normalise each share by its own statistics (and the
averaged running variance leaves out the variance between shares), and
weighted means (the pixel loss under random fake labels, ``class_balance``)
are taken over each share's weights.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed import constants as dist_constants

from ..errors import IcezooError, warn_once


@dataclasses.dataclass(frozen=True)
class Distributed:
    """This process's place among ``world`` processes (world 1: not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def share(self, tensors: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """This process's ``rank``-th equal part (along the first axis) of tensors every process holds whole."""
        if not self.active:
            return tensors
        b = len(tensors[0])
        part = slice(self.rank * b // self.world, (self.rank + 1) * b // self.world)
        return tuple(t[part] for t in tensors)

    def average_gradients(self, module: nn.Module) -> None:
        """Average the gradients of ``module``'s parameters over the processes, in one flat all-reduce."""
        self._average([p.grad for p in module.parameters() if p.grad is not None])

    def average_statistics(self, buffers: list[Tensor]) -> None:
        """Average floating-point buffers (batch-norm running statistics) over the processes."""
        self._average([b for b in buffers if b.is_floating_point()])

    def _average(self, tensors: list[Tensor]) -> None:
        """Replace each tensor by its mean over the processes: one all-reduce of them all, flattened."""
        if not self.active or not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        flat.div_(self.world)
        offset = 0
        for t in tensors:
            t.copy_(flat[offset : offset + t.numel()].view_as(t))
            offset += t.numel()

    def broadcast_module(self, module: nn.Module) -> None:
        """Process 0's parameters and buffers everywhere (the seeded initialisation already agrees; this makes sure)."""
        if self.active:
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, src=0)

    def broadcast_object(self, value: Any) -> Any:
        """Process 0's ``value`` (a run folder name, say) in every process."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def any(self, flag: bool, device: torch.device) -> bool:
        """True in every process when ``flag`` is true in any (an interrupt seen by one stops all at the same step); waits on the host."""
        if not self.active:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(t)
        return bool(t.item() > 0)

    def gather(self, value: Tensor) -> Tensor:
        """Every process's ``value`` stacked in rank order, ``[world, *shape]``, in every process."""
        if not self.active:
            return value.unsqueeze(0)
        out = [torch.empty_like(value) for _ in range(self.world)]
        dist.all_gather(out, value.contiguous())
        return torch.stack(out)

    def mean(self, values: Tensor) -> Tensor:
        """The mean of ``values`` over the processes (logged losses)."""
        if self.active:
            values = values.clone()
            dist.all_reduce(values)
            values.div_(self.world)
        return values


def from_environment(device_type: str) -> Distributed:
    """The process group ``torchrun`` describes in RANK / WORLD_SIZE / LOCAL_RANK, joined; world 1 without them.

    ``device_type`` is where training runs: NCCL for ``cuda``, gloo otherwise.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        backend = "nccl" if device_type == "cuda" else "gloo"
        store = restart_store(world, backend)
        if store is None:
            dist.init_process_group(backend)
        else:
            dist.init_process_group(backend, store=store, rank=rank, world_size=world, timeout=default_timeout(backend))
    return Distributed(rank, world, local_rank)


SHARED_STORE_RESTARTS = (
    "torchrun may restart this job (--max-restarts) across %s nodes, whose workers share the agents' store: a "
    "restarted group can read the previous group's addresses and fail to connect (pytorch/pytorch#135712); %s"
)
FRESH_STORES = "start torchrun with TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 in its environment"
STATIC_SHARES = (
    "torchrun's static rendezvous shares its store whatever TORCH_DISABLE_SHARE_RDZV_TCP_STORE says: start it "
    "with --rdzv-backend c10d and that variable"
)


def default_timeout(backend: str) -> timedelta:
    """What ``init_process_group`` waits by default: NCCL's own (10 minutes), else gloo's (30)."""
    nccl = getattr(dist_constants, "default_pg_nccl_timeout", None)  # None in a torch built without NCCL
    return nccl if backend == "nccl" and nccl is not None else dist_constants.default_pg_timeout


def restart_store(world: int, backend: str = "gloo") -> dist.Store | None:
    """The store this attempt's process group meets in, when torchrun's shared store needs scoping; else None (env://).

    torchrun's agent keeps one store for all its restarts, and a process group
    writes its members' addresses there under the same keys every time: a
    restarted worker may read the dead group's address before its new peer
    overwrites it, and gloo fails with "Connection refused" or NCCL hangs.
    On one node every worker has the agent's restart count, so scoping the
    store by it gives each attempt its own keys. Across nodes the counts
    differ (a node restarted for a membership change does not count it), so
    there the remedy is torch's: a fresh store per attempt when torchrun runs
    with ``TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1`` and the c10d rendezvous;
    process 0 says so when restarts are allowed.
    """
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None  # not torchrun, or torchrun without a shared store: nothing outlives an attempt
    nodes = os.environ.get("GROUP_WORLD_SIZE", "1")
    if nodes != "1":
        if int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0")) > 0 and os.environ.get("RANK") == "0":
            static = os.environ.get("TORCH_DISABLE_SHARE_RDZV_TCP_STORE") == "1"  # set, and shared all the same
            warn_once(SHARED_STORE_RESTARTS % (nodes, STATIC_SHARES if static else FRESH_STORES))
        return None
    timeout = default_timeout(backend)
    agent = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world, False, timeout=timeout)
    return dist.PrefixStore(f"icezoo/attempt_{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", agent)


def shutdown() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def check_batch(batch_size: int, world: int, source: str) -> None:
    if batch_size % world:
        raise IcezooError(
            f"{source}: train.batch_size ({batch_size}) must be a multiple of the {world} processes, each trains on an equal share"
        )
