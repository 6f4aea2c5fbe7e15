"""Data-parallel training: torchrun detection, process groups, and launching torchrun.

Run under ``torchrun --nproc_per_node=N -m maskkit train ...`` (or ``maskkit train --nproc N``,
which launches exactly that through :func:`launch`): every process trains a DistributedDataParallel copy of the model
on its share of each batch (the batch size is the total over all processes), gloo on CPU and
NCCL on CUDA. Every rank applies the mask after its own optimizer step; only rank 0 writes
outputs, checkpoints, logs and progress.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from maskkit.errors import OptionError, TrainingError
from maskkit.training._errors import about


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def from_env() -> DistInfo | None:
    """The DistInfo that torchrun's environment variables describe, or None outside torchrun."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return None
    try:
        return DistInfo(
            rank=int(os.environ["RANK"]),
            world_size=int(os.environ["WORLD_SIZE"]),
            local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        )
    except ValueError:
        raise TrainingError(
            "RANK/WORLD_SIZE/LOCAL_RANK are not integers; run under torchrun"
        ) from None


def current() -> DistInfo:
    """This process's DistInfo once a process group is up (rank 0 of 1 otherwise)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return DistInfo(
            dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))
        )
    return DistInfo()


def resolve_device(name: str, info: DistInfo | None = None) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; under torchrun each rank takes cuda:LOCAL_RANK."""
    info = info or DistInfo()
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise about("device", "--device", " cuda: CUDA is not available on this machine")
        return torch.device("cuda", info.local_rank % torch.cuda.device_count())
    if name == "mps":
        if info.distributed:
            raise about("device", "--device", " mps: distributed training needs cpu or cuda")
        if not (
            getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        ):
            raise about("device", "--device", " mps: MPS is not available on this machine")
        return torch.device("mps")
    if name != "cpu":
        raise OptionError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    return torch.device("cpu")


def setup(device: str = "auto") -> DistInfo:
    """Join the torchrun job if there is one (gloo on CPU, NCCL on CUDA); idempotent."""
    import torch.distributed as dist

    info = from_env()
    if info is None or info.world_size == 1:
        return DistInfo()
    if dist.is_initialized():
        return current()
    kind = resolve_device(device, info).type
    if kind == "cuda":
        torch.cuda.set_device(info.local_rank % torch.cuda.device_count())
    dist.init_process_group("nccl" if kind == "cuda" else "gloo")
    return current()


def teardown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_object(value: object) -> object:
    """Rank 0's ``value`` on every rank (identity when not distributed)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def launch(nproc: int, argv: Sequence[str], *, stdin: bytes | None = None) -> None:
    """Run ``maskkit ARGV`` under torchrun with ``nproc`` local processes.

    stdout is inherited and ``stdin`` (when given) is piped in: rank 0 reads the input artifact
    from stdin (and sends it to the other ranks) and writes the output artifact to stdout, so
    pipelines work unchanged. Raises TrainingError when torchrun fails (the processes have
    already said why on stderr).
    """
    if nproc < 1:
        raise about("nproc", "--nproc", f" must be at least 1, got {nproc}")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "maskkit",
        *argv,
    ]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    code = subprocess.run(command, input=stdin, env=env).returncode
    if code:
        raise TrainingError(
            f"distributed training failed (torchrun exit status {code}); see the messages above"
        )
