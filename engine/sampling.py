"""Choosing the next token: grammar mask, temperature, nucleus (top-p), seeded draws."""
from __future__ import annotations

import torch
from torch import Tensor


def sample(logits: Tensor, allowed: Tensor, temperature: float, top_p: float,
           generator: torch.Generator | None) -> Tensor:
    """logits [B, V], allowed [B, V] bool -> token ids [B]. temperature 0 takes the most likely token."""
    logits = logits.float().masked_fill(~allowed, float("-inf"))
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        # keep the smallest set of most likely tokens whose mass reaches top_p: every token at least as
        # likely as the last one that set needs
        sorted_probs = probs.sort(dim=-1, descending=True).values
        needed = ((sorted_probs.cumsum(-1) - sorted_probs) < top_p).sum(-1, keepdim=True)
        probs = probs.masked_fill(probs < sorted_probs.gather(-1, needed - 1), 0.0)
    # a draw from the categorical distribution: the smallest exponential clock wins (no host sync)
    clocks = torch.empty_like(probs).exponential_(generator=generator)
    return (probs / clocks).argmax(-1)
