"""Learning-rate schedule of the paper (4.3): linear warm-up to the peak, then cosine decay to 5e-6."""
from __future__ import annotations

import math

FLOOR_LR = 5e-6
PAPER_WARMUP_FRACTION = 10_000 / 230_000  # 10k warm-up steps of the paper's 230k


def default_warmup(total_steps: int) -> int:
    return max(1, round(total_steps * PAPER_WARMUP_FRACTION))


def lr_at(step: int, total_steps: int, warmup_steps: int, peak: float, floor: float = FLOOR_LR) -> float:
    """LR for the update with 0-based index `step`."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps - 1))  # last update: floor
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
