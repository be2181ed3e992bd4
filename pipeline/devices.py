"""Where a stage's model work runs: a device setting (`auto`, `cpu`, `cuda`, `cuda:N`) made concrete,
or refused with what to set instead. `auto` is the GPU when there is one, as training's own default."""
from __future__ import annotations

from pipeline.errors import StageError


def resolve_device(name: str, setting: str) -> str:
    """The torch device `name` means here; `setting` names the config key for the message."""
    import torch

    n = str(name).strip().lower()
    if n == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if n == "cpu":
        return "cpu"
    if n == "cuda" or n.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise StageError(f"{setting}={name}: there is no CUDA device here (torch {torch.__version__}, "
                             f"CUDA build: {torch.version.cuda is not None}); use {setting}=auto or cpu")
        index = int(n.partition(":")[2] or 0) if n.partition(":")[2].isdigit() or n == "cuda" else -1
        if not 0 <= index < torch.cuda.device_count():
            raise StageError(f"{setting}={name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                             f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        return n
    raise StageError(f"{setting}={name!r}: use auto, cpu, cuda or cuda:N")


# Where launchers put a process's rank: torchrun (RANK), Lightning's own DDP launch (LOCAL_RANK,
# NODE_RANK), SLURM's srun (SLURM_PROCID). Lightning reads the same variables.
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")


def launched_rank(environ: dict[str, str] | None = None) -> int:
    """0 for the process a user started; another number for a process a data-parallel launch started
    beside it (it joins the training and writes nothing: pipeline/train/job.py)."""
    import os

    env = os.environ if environ is None else environ
    for var in _RANK_VARIABLES:
        value = env.get(var, "0").strip() or "0"
        if value.isdigit() and int(value) != 0:
            return int(value)
    return 0


def slurm_tasks(environ: dict[str, str] | None = None) -> int:
    """Tasks of the SLURM job step this process is one of (1 outside SLURM)."""
    import os

    env = os.environ if environ is None else environ
    value = env.get("SLURM_NTASKS", "1").strip()
    return int(value) if value.isdigit() else 1
