"""Choosing the next token: grammar mask, temperature, nucleus (top-p), seeded draws.

Draws are exponential race clocks: the token with the largest p / E, E ~ Exp(1), is a draw from p. The
clocks of a whole bar are drawn at once from the piece's seeded generator (`race_clocks`), so choosing a
token needs no generator and no host read, and a compiled step can hold it.
"""
from __future__ import annotations

import torch
from torch import Tensor


def race_clocks(steps: int, batch: int, vocab: int, generator: torch.Generator | None,
                device: torch.device | str = "cpu") -> Tensor:
    """[steps, batch, vocab] Exp(1) clocks, one per possible token of each step of a bar."""
    return torch.empty(steps, batch, vocab, device=device).exponential_(generator=generator)


def sample(logits: Tensor, allowed: Tensor, temperature: float | Tensor, top_p: float | Tensor,
           clocks: Tensor) -> Tensor:
    """logits [B, V], allowed [B, V] bool, clocks [B, V] -> token ids [B]. temperature 0 takes the most
    likely allowed token; top_p 1 keeps every allowed token. Branch-free in both settings."""
    logits = logits.float().masked_fill(~allowed, float("-inf"))
    temperature, top_p = torch.as_tensor(temperature), torch.as_tensor(top_p)
    probs = torch.softmax(logits / temperature.clamp(min=1e-6), dim=-1)
    # nucleus: keep the smallest set of most likely tokens whose mass reaches top_p, i.e. every token at
    # least as likely as the last one that set needs
    sorted_probs = probs.sort(dim=-1, descending=True).values
    needed = ((sorted_probs.cumsum(-1) - sorted_probs) < top_p).sum(-1, keepdim=True).clamp(min=1)
    cut = (top_p < 1.0) & (probs < sorted_probs.gather(-1, needed - 1))
    drawn = (probs.masked_fill(cut, 0.0) / clocks).argmax(-1)
    return torch.where(temperature <= 0, logits.argmax(-1), drawn)
