"""Token-by-token decoding of one bar with fixed-size caches.

Per bar, each layer's memory (the previous bar's layer inputs) is projected to keys and values once and
written into a fixed buffer; each step writes one token's keys and values into its slot and attends over
the whole buffer under a mask. Every tensor has a fixed shape, the step index is a tensor, and nothing is
read back to the host, so the same `step` runs eagerly, under torch.compile, or in a CUDA graph.
`next_token` adds the grammar mask and the draw (`choose`), so that one call (one compiled graph) does all
the work of a token. A backend that runs the step some other way (compiled by TensorRT, as Triton kernels)
joins its own step to a draw with `step_then_choose` (engine/backends.py builds each backend's function).

Each layer has buffers of its own (keys0, keys1, ...), not one slice of a buffer shared by all layers:
Inductor turns an in-place write into a slice of a buffer into a copy of the whole buffer, three copies
per layer and token, which cost more than the rest of a small model's step.

Buffer layout per layer: M = L - 1 memory slots, then L - 1 slots for the bar's tokens.
    slot s <  M : memory token s, at position s - L (TransformerXL.memory_positions)
    slot s >= M : bar token at position s - M
(Like the training decoder, which reads tokens[:-1], the last token of a full bar is never fed.)
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from cdgmvae.engine.grammar import Grammar
from cdgmvae.engine.model import CDGMVAE, BarMemory
from cdgmvae.engine.sampling import sample
from cdgmvae.engine.vocab import PAD
from torch import Tensor, nn

# (token [B], index []) -> logits [B, V]: feed a token, as BarCache.step does
Step = Callable[[Tensor, Tensor], Tensor]
# (token [B], index [], clocks [M, B, V], temperature [], top_p [], min_length []) -> the next token [B]:
# BarCache.next_token's signature, what every backend builds
NextToken = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor], Tensor]


class BarCache(nn.Module):
    """The state of decoding a batch of B bars with one model. Its tensors are buffers, so the step can
    be exported (torch.export) with the cache mutations in the graph; `forward` is `step`."""

    def __init__(self, model: CDGMVAE, batch: int):
        super().__init__()
        cfg = model.cfg
        self.model = model
        self.M = cfg.bar_len - 1
        param = next(model.parameters())
        device, dtype = param.device, param.dtype
        d_head = cfg.d_model // cfg.n_heads
        slots = 2 * self.M
        buffer = functools.partial(self.register_buffer, persistent=False)

        def per_layer(name: str, *shape: int) -> list[Tensor]:
            for layer in range(cfg.n_layers):
                buffer(f"{name}{layer}", torch.zeros(*shape, device=device, dtype=dtype))
            return [getattr(self, f"{name}{layer}") for layer in range(cfg.n_layers)]

        self.keys = per_layer("keys", batch, cfg.n_heads, slots, d_head)
        self.values = per_layer("values", batch, cfg.n_heads, slots, d_head)
        self.states = per_layer("states", batch, self.M, cfg.d_model)
        buffer("tokens", torch.full((batch, self.M), PAD, dtype=torch.long, device=device))
        buffer("inject", torch.zeros(batch, 1, cfg.d_model, device=device, dtype=dtype))
        buffer("bias", torch.zeros(batch, cfg.vocab_size, device=device))  # the bar's logit bias (key guidance)
        # the model's own logit bias for the bar (CDGMVAE.note_logit_bias): only a model with the bag-of-notes path
        # has one, so the others' per-token draw does no extra add
        buffer("model_bias", torch.zeros(batch, cfg.vocab_size, device=device) if cfg.note_bias else None)
        # allowed[b, i]: which slots a query at position i may see (memory mask | bar slots <= i)
        buffer("allowed", torch.zeros(batch, self.M, slots, dtype=torch.bool, device=device))
        self.allowed[:, :, self.M:] = torch.ones(self.M, self.M, dtype=torch.bool, device=device).tril()
        self.grammar = Grammar(batch, cfg.bar_len, device)
        self.indices = [torch.tensor(i, device=device) for i in range(self.M)]  # each step's `index`

        xl = model.decoder
        with torch.no_grad():
            buffer("rel_k", torch.stack([block.attn.rel_keys(xl.rel_emb) for block in xl.blocks]))
        position = torch.arange(self.M, device=device)
        slot_position = torch.cat([xl.memory_positions(self.M, device), position])
        buffer("rel_idx", (position[:, None] - slot_position[None, :] - xl.min_distance).clamp(
            0, xl.rel_emb.shape[0] - 1))  # [M queries, slots]

    @torch.no_grad()
    def start_bar(self, inject: Tensor, memory: BarMemory | None, bias: Tensor | None = None,
                  model_bias: Tensor | None = None) -> None:
        """inject [B, d]: the bar's z projection; memory: the previous bar's (None at the start); bias [V]
        or [B, V]: added to every step's tempered logits before the draw (None: no bias); model_bias [B, V]:
        part of the model's logits for this bar (CDGMVAE.note_logit_bias), added before tempering."""
        self.inject.copy_(inject[:, None])
        for buffer, value in ((self.bias, bias), (self.model_bias, model_bias)):
            if buffer is None:
                continue
            if value is None:
                buffer.zero_()
            else:
                buffer.copy_(value.expand_as(buffer))
        self.tokens.fill_(PAD)
        self.grammar.reset()
        memory_mask = torch.zeros_like(self.tokens, dtype=torch.bool)
        if memory is not None:
            memory_mask[:, : memory.mask.shape[1]] = memory.mask[:, : self.M]
            for layer, block in enumerate(self.model.decoder.blocks):
                k, v = block.memory_kv(memory.states[layer][:, : self.M])
                self.keys[layer][:, :, : k.shape[2]] = k
                self.values[layer][:, :, : v.shape[2]] = v
        self.allowed[:, :, : self.M] = memory_mask[:, None, :]

    def forward(self, token: Tensor, index: Tensor) -> Tensor:
        return self.step(token, index)

    @torch.no_grad()
    def step(self, token: Tensor, index: Tensor) -> Tensor:
        """Feed token [B] at position `index` (a 0-dim long tensor, 0..L-2); returns logits [B, V]."""
        model, xl = self.model, self.model.decoder
        at = index.view(1)
        self.tokens.index_copy_(1, at, token.view(-1, 1))
        allowed = self.allowed.index_select(1, at)          # [B, 1, slots]
        rel_idx = self.rel_idx.index_select(0, at)          # [1, slots]
        slot = at + self.M
        x = model.token_embedding(token)[:, None]
        for layer, block in enumerate(xl.blocks):
            x = x + self.inject
            self.states[layer].index_copy_(1, at, x)
            h = block.ln1(x)
            k, v = block.attn.project_kv(h)
            self.keys[layer].index_copy_(2, slot, k)
            self.values[layer].index_copy_(2, slot, v)
            x = block.attend(x, h, self.keys[layer], self.values[layer], self.rel_k[layer], rel_idx, allowed)
        return model.head(xl.ln_f(x))[:, 0]

    @torch.no_grad()
    def next_token(self, token: Tensor, index: Tensor, clocks: Tensor, temperature: Tensor, top_p: Tensor,
                   min_length: Tensor) -> Tensor:
        """Feed token [B] at position `index` and choose the token after it: [B]. clocks [M, B, V] are the
        bar's race clocks (sampling.race_clocks); the settings are 0-dim tensors, so changing them between
        bars does not recompile anything."""
        return self.choose(self.step(token, index), index, clocks, temperature, top_p, min_length)

    @torch.no_grad()
    def choose(self, logits: Tensor, index: Tensor, clocks: Tensor, temperature: Tensor, top_p: Tensor,
               min_length: Tensor) -> Tensor:
        """The draw of next_token from the logits of the token at `index`: bias, grammar mask, sample.
        The bias is added to the tempered logits (logits / temperature + bias): a low temperature sharpens
        the model's own choice but not the bias, which would otherwise pile a bar onto the tonic."""
        allowed = self.grammar.mask(index + 1, min_length)
        if self.model_bias is not None:
            logits = logits + self.model_bias
        chosen = sample(logits + self.bias * temperature, allowed, temperature, top_p,
                        clocks.index_select(0, index.view(1))[0])
        self.grammar.update(chosen)
        return chosen

    def memory(self) -> BarMemory:
        """This bar as memory for the next one: the layer inputs of the tokens fed, PAD masked."""
        return BarMemory([s.clone() for s in self.states], self.tokens != PAD)


def step_then_choose(step: Step, choose: Callable[..., Tensor]) -> NextToken:
    """BarCache.next_token with another step and draw: a backend's compiled step or kernels writing the same
    cache, then `choose` (BarCache.choose, or a compiled copy of it)."""
    def next_token(token: Tensor, index: Tensor, clocks: Tensor, temperature: Tensor, top_p: Tensor,
                   min_length: Tensor) -> Tensor:
        return choose(step(token, index), index, clocks, temperature, top_p, min_length)
    return next_token
