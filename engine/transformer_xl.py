"""Transformer-XL blocks: relative positional attention and per-bar segment memory.

Positions are counted inside a bar: the current bar's tokens sit at 0..n-1 and the memory (the previous
bar's states) at j - L for its j-th token, L = the configured bar length. The offset is fixed, so the
distances do not depend on how much padding a batch carries (training trims it, generation does not).
Attention between a query at position i and a key at position j uses
the relative distance i - j (Dai et al. 2019):

    score(i, j) = (q_i + u) . k_j  +  (q_i + v) . W_r R(i - j)

with R a sinusoidal table and u, v the learned biases (r_w_bias, r_r_bias). Instead of the "rel-shift"
reshaping trick we gather the positional term by distance index: the same numbers, and it works
unchanged for one query at a time (the incremental decoder of the engine).

Memory is each layer's *input* for the previous bar, detached (gradient stopped). A layer turns memory
into keys/values with `Block.memory_kv`, so an incremental decoder projects it once per bar.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

KV = tuple[Tensor, Tensor]  # keys, values: [B, H, N, d_head] each


def sinusoid_table(distances: Tensor, d_model: int) -> Tensor:
    """[N] distances -> [N, d_model] sinusoidal embeddings (sin half, cos half)."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0, d_model, 2, dtype=torch.float32) / d_model))
    angles = distances.float()[:, None] * inv_freq[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class RelativeAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.kv_proj = nn.Linear(d_model, 2 * d_model, bias=False)
        self.r_proj = nn.Linear(d_model, d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model)
        self.r_w_bias = nn.Parameter(torch.zeros(n_heads, self.d_head))
        self.r_r_bias = nn.Parameter(torch.zeros(n_heads, self.d_head))

    def _heads(self, x: Tensor) -> Tensor:  # [B, N, d] -> [B, H, N, d_head]
        return x.view(*x.shape[:-1], self.n_heads, self.d_head).transpose(-2, -3)

    def project_kv(self, h: Tensor) -> KV:
        """Keys and values of already layer-normed states h [B, N, d]."""
        k, v = self.kv_proj(h).chunk(2, dim=-1)
        return self._heads(k), self._heads(v)

    def rel_keys(self, rel_emb: Tensor) -> Tensor:
        """[N_dist, d] table -> [H, N_dist, d_head]. Independent of the input: cacheable at inference."""
        return self.r_proj(rel_emb).view(-1, self.n_heads, self.d_head).transpose(0, 1)

    def forward(self, h: Tensor, k: Tensor, v: Tensor, rel_k: Tensor, rel_idx: Tensor, allowed: Tensor) -> Tensor:
        """h [B, Lq, d] (normed queries); k, v [B, H, Lk, dh]; rel_idx [Lq, Lk] index into rel_k's distances;
        allowed [B or 1, Lq, Lk] bool. Returns [B, Lq, d]."""
        q = self._heads(self.q_proj(h))
        scale = 1.0 / math.sqrt(self.d_head)
        position = (q + self.r_r_bias[:, None]) @ rel_k.transpose(-1, -2)  # [B, H, Lq, N_dist]
        position = position.gather(-1, rel_idx.expand(*position.shape[:-1], rel_idx.shape[-1]))
        # A finite fill keeps rows with no allowed key (all-PAD filler bars) finite; nothing reads them.
        bias = (position * scale).masked_fill(~allowed[:, None], torch.finfo(position.dtype).min)
        content_q = q + self.r_w_bias[:, None]
        if q.shape[-2] == 1 and torch.compiler.is_compiling():
            # one query (the engine's compiled step): the plain math, which Inductor fuses into its own
            # loops; the SDPA kernel it would call costs more than the arithmetic at this size
            weights = torch.softmax(content_q @ k.transpose(-1, -2) * scale + bias, dim=-1)
            out = weights @ v
        else:
            # SDPA adds `bias` to the scaled content term (q + u) . k
            out = F.scaled_dot_product_attention(content_q, k, v, attn_mask=bias)
        out = out.transpose(1, 2).reshape(h.shape)
        return self.out_proj(out)


class Block(nn.Module):
    """Pre-LayerNorm Transformer-XL layer."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = RelativeAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model), nn.Dropout(dropout))
        self.dropout = nn.Dropout(dropout)

    def memory_kv(self, memory: Tensor) -> KV:
        """Keys/values of this layer's memory [B, M, d] (the layer's inputs for the previous bar)."""
        return self.attn.project_kv(self.ln1(memory))

    def forward(self, x: Tensor, past_kv: KV | None, rel_emb: Tensor, rel_idx: Tensor, allowed: Tensor,
                rel_k: Tensor | None = None) -> tuple[Tensor, KV]:
        """x [B, n, d]: this layer's input for n new tokens. past_kv: keys/values before them (memory, and
        for incremental decoding the bar's cache). Returns the layer output and the new tokens' (k, v)."""
        h = self.ln1(x)
        new_kv = self.attn.project_kv(h)
        if past_kv is None:
            k, v = new_kv
        else:
            k, v = torch.cat([past_kv[0], new_kv[0]], 2), torch.cat([past_kv[1], new_kv[1]], 2)
        if rel_k is None:
            rel_k = self.attn.rel_keys(rel_emb)
        return self.attend(x, h, k, v, rel_k, rel_idx, allowed), new_kv

    def attend(self, x: Tensor, h: Tensor, k: Tensor, v: Tensor, rel_k: Tensor, rel_idx: Tensor,
               allowed: Tensor) -> Tensor:
        """The rest of the layer once keys and values are in place: attention from h = ln1(x), then MLP.
        The engine's incremental decoder calls this with keys/values in preallocated buffers."""
        x = x + self.dropout(self.attn(h, k, v, rel_k, rel_idx, allowed))
        return x + self.mlp(self.ln2(x))


class TransformerXL(nn.Module):
    """A stack of Blocks over one bar at a time, with the previous bar's per-layer inputs as memory."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int, dropout: float, bar_len: int):
        super().__init__()
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        # Distances from -(L-1) (bidirectional encoder) to 2L-1 (last token back to the first memory slot).
        self.bar_len = bar_len
        self.min_distance = -(bar_len - 1)
        distances = torch.arange(self.min_distance, 2 * bar_len)
        self.register_buffer("rel_emb", sinusoid_table(distances, d_model), persistent=False)

    def memory_positions(self, M: int, device) -> Tensor:
        """Positions of a memory of M tokens: the j-th at j - L, whatever M (padding trimmed or not)."""
        return torch.arange(M, device=device) - self.bar_len

    def rel_index(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        """Index of distance q - k into rel_emb, [Lq, Lk]. Out-of-range distances only occur where masked."""
        return (q_pos[:, None] - k_pos[None, :] - self.min_distance).clamp(0, self.rel_emb.shape[0] - 1)

    def forward(self, x: Tensor, memory: list[Tensor] | None = None, memory_mask: Tensor | None = None,
                key_mask: Tensor | None = None, causal: bool = False,
                inject: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
        """x [B, n, d] one bar; memory: per-layer [B, M, d] with memory_mask [B, M] (True = real token);
        key_mask [B, n] (True = real token; None = all); inject [B, 1 or n, d] is added to every layer's
        input. Returns (normed output [B, n, d], per-layer inputs for use as the next bar's memory)."""
        B, n = x.shape[:2]
        M = 0 if memory is None else memory[0].shape[1]
        q_pos = torch.arange(n, device=x.device)
        k_pos = torch.cat([self.memory_positions(M, x.device), torch.arange(n, device=x.device)])
        masks = []
        if memory is not None:
            masks.append(memory_mask if memory_mask is not None
                         else torch.ones(B, M, dtype=torch.bool, device=x.device))
        masks.append(key_mask if key_mask is not None else torch.ones(B, n, dtype=torch.bool, device=x.device))
        allowed = torch.cat(masks, dim=1)[:, None, :]  # [B, 1, M + n]
        if causal:
            allowed = allowed & (q_pos[:, None] >= k_pos[None, :])
        return self.run(x, memory, self.rel_index(q_pos, k_pos), allowed, inject)

    def forward_bars(self, x: Tensor, key_mask: Tensor, memory: list[Tensor] | None = None,
                     memory_mask: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
        """T consecutive bars at once, bidirectional within a bar (the encoders): the same numbers as
        `forward` called bar by bar with each bar's per-layer inputs as the next bar's memory.

        Bar t's memory at layer i is bar t-1's input to layer i, which is known once layer i-1 has run
        for every bar; so the layers run one after the other, each over all T bars as one batch, instead
        of T steps of one bar each.
        x [B, T, n, d]; key_mask [B, T, n] (True = real token); memory: per-layer inputs [B, M, d] of the
        bar before the first (None: none), memory_mask [B, M]. Returns (normed output [B, T, n, d],
        per-layer inputs [B, n, d] of the last bar: the memory for the bar after it)."""
        B, T, n, d = x.shape
        M = n if memory is None else max(n, memory[0].shape[1])

        first_mask = torch.zeros(B, 1, M, dtype=torch.bool, device=x.device)
        if memory is not None:
            mask = memory_mask if memory_mask is not None else torch.ones(B, memory[0].shape[1], dtype=torch.bool,
                                                                            device=x.device)
            first_mask[:, 0, : mask.shape[1]] = mask
        previous_mask = F.pad(key_mask[:, :-1], (0, M - n))
        allowed = torch.cat([first_mask, previous_mask], dim=1)  # [B, T, M]: each bar's memory slots
        allowed = torch.cat([allowed, key_mask], dim=-1).reshape(B * T, 1, M + n)
        q_pos = torch.arange(n, device=x.device)
        k_pos = torch.cat([self.memory_positions(M, x.device), q_pos])
        rel_idx = self.rel_index(q_pos, k_pos)
        # only the distances this layout has: the positional term's cost follows n, not the bar length
        lo, hi = int(rel_idx.min()), int(rel_idx.max())
        rel_emb, rel_idx = self.rel_emb[lo: hi + 1], rel_idx - lo
        h = x.reshape(B * T, n, d)
        last_inputs = []
        for i, block in enumerate(self.blocks):
            inputs = h.detach().view(B, T, n, d)
            last_inputs.append(inputs[:, -1])
            first = torch.zeros(B, 1, M, d, dtype=x.dtype, device=x.device)
            if memory is not None:
                first[:, 0, : memory[i].shape[1]] = memory[i]
            bar_memory = torch.cat([first, F.pad(inputs[:, :-1], (0, 0, 0, M - n))], dim=1)
            h, _ = block(h, block.memory_kv(bar_memory.reshape(B * T, M, d)), rel_emb, rel_idx, allowed)
        return self.ln_f(h).view(B, T, n, d), last_inputs

    def run(self, x: Tensor, memory: list[Tensor] | None, rel_idx: Tensor, allowed: Tensor,
            inject: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
        """The layers with an explicit layout (rel_idx, allowed) over keys = memory followed by x."""
        inputs = []
        for i, block in enumerate(self.blocks):
            if inject is not None:
                x = x + inject
            inputs.append(x.detach())
            past_kv = block.memory_kv(memory[i]) if memory is not None else None
            x, _ = block(x, past_kv, self.rel_emb, rel_idx, allowed)
        return self.ln_f(x), inputs
