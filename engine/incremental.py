"""Token-by-token decoding of one bar with fixed-size caches.

Per bar, each layer's memory (the previous bar's layer inputs) is projected to keys and values once and
written into a fixed buffer; each step appends one token's keys and values. Every tensor has a fixed
shape, the step index is a tensor, and nothing reads a value back to the host, so the same `step` runs
eagerly, under torch.compile, or captured in a CUDA graph.

Buffer layout per layer, M = L - 1 memory slots then L - 1 slots for the bar's earlier tokens:
    slot s <  M : memory token at position s - M
    slot s >= M : bar token at position s - M
The token being fed is appended after the buffer at position `index`, exactly as the training-time
`Block.forward` appends a bar's own keys after the memory's.
"""
from __future__ import annotations

import torch
from torch import Tensor

from engine.model import CDGMVAE, BarMemory
from engine.vocab import PAD


class BarCache:
    """The state of decoding a batch of B bars with one model."""

    def __init__(self, model: CDGMVAE, batch: int):
        cfg = model.cfg
        self.model = model
        self.L = cfg.bar_len
        self.M = cfg.bar_len - 1
        param = next(model.parameters())
        device, dtype = param.device, param.dtype
        n_layers, heads = cfg.n_layers, cfg.n_heads
        d_head = cfg.d_model // heads
        slots = self.M + self.L - 1
        self.keys = torch.zeros(n_layers, batch, heads, slots, d_head, device=device, dtype=dtype)
        self.values = torch.zeros_like(self.keys)
        self.states = torch.zeros(n_layers, batch, self.L, cfg.d_model, device=device, dtype=dtype)
        self.tokens = torch.full((batch, self.L), PAD, dtype=torch.long, device=device)
        self.memory_mask = torch.zeros(batch, self.M, dtype=torch.bool, device=device)
        self.inject = torch.zeros(batch, 1, cfg.d_model, device=device, dtype=dtype)

        xl = model.decoder
        with torch.no_grad():
            self.rel_k = [block.attn.rel_keys(xl.rel_emb) for block in xl.blocks]
        slot_pos = torch.arange(-self.M, self.L - 1, device=device)
        # rel_idx[i]: index of the distance i - position for every slot, then 0 for the new token itself
        query = torch.arange(self.L, device=device)
        key_pos = torch.cat([slot_pos.expand(self.L, -1), query[:, None]], dim=1)
        self.rel_idx = (query[:, None] - key_pos - xl.min_distance).clamp(0, xl.rel_emb.shape[0] - 1)
        self.bar_positions = torch.arange(self.L - 1, device=device)
        self.self_slot = torch.ones(1, 1, dtype=torch.bool, device=device)

    @torch.no_grad()
    def start_bar(self, inject: Tensor, memory: BarMemory | None) -> None:
        """inject [B, d]: the bar's z projection; memory: the previous bar's (None at the start)."""
        self.inject.copy_(inject[:, None])
        self.tokens.fill_(PAD)
        if memory is None:
            self.memory_mask.zero_()
            return
        states, mask = memory.states, memory.mask
        self.memory_mask.zero_()
        self.memory_mask[:, : mask.shape[1]] = mask[:, : self.M]
        for layer, block in enumerate(self.model.decoder.blocks):
            k, v = block.memory_kv(states[layer][:, : self.M])
            self.keys[layer, :, :, : k.shape[2]] = k
            self.values[layer, :, :, : v.shape[2]] = v

    @torch.no_grad()
    def step(self, token: Tensor, index: Tensor) -> Tensor:
        """Feed token [B] at position `index` (a 0-dim long tensor, 0..L-2: like the training decoder,
        which reads tokens[:-1], the last token of a full bar is never fed); returns logits [B, V]."""
        model, xl = self.model, self.model.decoder
        self.tokens.index_copy_(1, index.view(1), token.view(-1, 1))
        batch = len(token)
        earlier = (self.bar_positions < index).expand(batch, -1)
        allowed = torch.cat([self.memory_mask, earlier, self.self_slot.expand(batch, -1)], dim=1)
        allowed = allowed[:, None, :]  # [B, 1 query, slots + 1]
        rel_idx = self.rel_idx.index_select(0, index.view(1))
        x = model.tok_emb(token)[:, None]
        for layer, block in enumerate(xl.blocks):
            x = x + self.inject
            self.states[layer].index_copy_(1, index.view(1), x)
            past = (self.keys[layer], self.values[layer])
            x, (k, v) = block(x, past, xl.rel_emb, rel_idx, allowed, rel_k=self.rel_k[layer])
            slot = (self.M + index).view(1)
            self.keys[layer].index_copy_(2, slot, k)
            self.values[layer].index_copy_(2, slot, v)
        return model.head(xl.ln_f(x))[:, 0]

    def memory(self) -> BarMemory:
        """This bar as memory for the next one: the layer inputs of the tokens fed, PAD masked."""
        fed = self.tokens[:, : self.M]
        return BarMemory([s[:, : self.M].clone() for s in self.states], fed != PAD)
