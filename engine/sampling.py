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
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # keep the smallest set of tokens whose mass reaches top_p (the most likely token always stays)
        drop = sorted_probs.cumsum(-1) - sorted_probs >= top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]
