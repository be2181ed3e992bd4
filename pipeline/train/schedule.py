"""Learning-rate schedules (built from config as partials: `scheduler(optimizer=...)`)."""
from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine(optimizer: Optimizer, warmup_steps: int, total_steps: int, min_ratio: float) -> LambdaLR:
    """Linear warm-up over `warmup_steps`, then cosine decay to `min_ratio` × the base rate at
    `total_steps` (and flat after it)."""
    warmup_steps, total_steps = max(0, int(warmup_steps)), max(1, int(total_steps))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return LambdaLR(optimizer, factor)
