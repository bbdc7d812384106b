"""Data-parallel helpers: process group set-up from ``torchrun`` variables, reductions, rank checks.

The trainer averages gradients across ranks with an explicit all-reduce after each backward
pass instead of wrapping the model in ``DistributedDataParallel``. Every rank therefore runs
the unwrapped model, which keeps ``torch.autograd.grad`` calls inside the model (forces,
stress) and per-task gradient probes free of DDP's bucket hooks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """Return True when a process group with more than one rank is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """Return this process's global rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """Return the number of ranks (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """Return True on rank 0, the only rank that writes files and prints progress."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    """Return True when the environment variables set by ``torchrun`` are present."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


def init_from_environment(device: str | torch.device | None = None) -> torch.device:
    """Join the process group that ``torchrun`` describes and return this rank's device.

    The backend is NCCL when the device is CUDA and gloo otherwise. Without ``torchrun``
    variables nothing is initialised and ``device`` (default: CUDA if available, else CPU)
    is returned.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if not launched_by_torchrun() or (dist.is_available() and dist.is_initialized()):
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend)
    return device


def shutdown() -> None:
    """Destroy the process group if one is active."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _communicate(tensor: torch.Tensor, operation) -> None:
    # NCCL only moves CUDA tensors, so CPU tensors (metric sums, flags) travel through a CUDA copy.
    if dist.get_backend() == "nccl" and not tensor.is_cuda:
        buffer = tensor.to(torch.device("cuda", torch.cuda.current_device()))
        operation(buffer)
        tensor.copy_(buffer.cpu())
    else:
        operation(tensor)


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over ranks in place and return it (a no-op on one rank)."""
    if is_distributed():
        _communicate(tensor, lambda buffer: dist.all_reduce(buffer, op=dist.ReduceOp.SUM))
    return tensor


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Average ``tensor`` over ranks in place and return it (a no-op on one rank)."""
    if is_distributed():
        all_reduce_sum(tensor)
        tensor /= dist.get_world_size()
    return tensor


def broadcast(tensor: torch.Tensor, source: int = 0) -> torch.Tensor:
    """Overwrite ``tensor`` with rank ``source``'s value in place and return it (a no-op on one rank)."""
    if is_distributed():
        _communicate(tensor, lambda buffer: dist.broadcast(buffer, src=source))
    return tensor


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Average the ``.grad`` of ``parameters`` over ranks with one flat all-reduce.

    A parameter whose gradient is None on this rank contributes zeros, so that every rank
    reduces buffers of the same length even when a head was unused on one rank's batch.
    """
    if not is_distributed():
        return
    parameters = [parameter for parameter in parameters if parameter.requires_grad]
    if not parameters:
        return
    for parameter in parameters:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
    flat = torch.cat([parameter.grad.reshape(-1) for parameter in parameters])
    all_reduce_mean(flat)
    offset = 0
    for parameter in parameters:
        size = parameter.numel()
        parameter.grad.copy_(flat[offset : offset + size].view_as(parameter.grad))
        offset += size


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not is_distributed():
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        broadcast(tensor.data)


def barrier() -> None:
    """Wait for every rank (a no-op on one rank)."""
    if is_distributed():
        dist.barrier()
