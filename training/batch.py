"""One training or validation batch: segments of consecutive bars with their features and labels."""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor


@dataclass(frozen=True)
class Batch:
    """B segments of T bars of L tokens (REMI, PAD after each bar's EOS and in filler bars).

    tokens   int64 [B, T, L]
    bar_mask bool [B, T]: real bars (False for the filler after a short piece's end)
    rhythm   float32 [B, T, 16]: f_r, onsets per sixteenth of each bar
    key      int64 [B, T]: f_k, each bar's key in 0..23
    arousal  int64 [B]: 0 low, 1 high, -1 unknown (unlabelled segment)
    valence  int64 [B]: the same for valence
    """
    tokens: Tensor
    bar_mask: Tensor
    rhythm: Tensor
    key: Tensor
    arousal: Tensor
    valence: Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """The same batch on `device`; non_blocking copies overlap with compute from pinned memory."""
        return Batch(**{name: t.to(device, non_blocking=non_blocking) for name, t in self.tensors().items()})

    def pin_memory(self) -> Batch:
        """Page-locked copies, so that `.to(cuda, non_blocking=True)` overlaps (DataLoader(pin_memory=True))."""
        return Batch(**{name: t.pin_memory() for name, t in self.tensors().items()})

    def tensors(self) -> dict[str, Tensor]:
        """The fields by name (for comparisons and summaries)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def labelled(self) -> Tensor:
        """bool [B]: segments with at least one of arousal and valence known."""
        return (self.arousal >= 0) | (self.valence >= 0)
