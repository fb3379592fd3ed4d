"""A bar through a backend's per-token function (engine/backends.py): token by token from Python, or on a
CUDA device, for the backends that ask for it, the whole bar as one CUDA graph.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from cdgmvae.engine.backends import backend_named, make_decoder
from cdgmvae.engine.incremental import BarCache
from cdgmvae.engine.vocab import EOS
from torch import Tensor


def make_bar_decoder(backend: str, cache: BarCache) -> Callable:
    """A function that decodes a whole bar with `backend` (a name in engine/backends.py): (first token [B],
    clocks [M, B, V], temperature, top_p, min_length) -> tokens [B, n], the first token included, PAD after
    EOS. Call cache.start_bar first. UserError for a backend that is unknown or cannot run here."""
    next_token = make_decoder(backend, cache)
    if backend_named(backend).whole_bar_graph and cache.tokens.device.type == "cuda":
        return WholeBarGraph(next_token, cache)
    return TokenLoop(next_token, cache)


class TokenLoop:
    """Token by token from Python, until every row has fed EOS."""

    def __init__(self, next_token: Callable, cache: BarCache):
        self.next_token, self.indices = next_token, cache.indices
        self.check_every = 1 if cache.tokens.device.type == "cpu" else 8  # a check reads back to the host

    def __call__(self, token: Tensor, clocks: Tensor, temperature: Tensor, top_p: Tensor,
                 min_length: Tensor) -> Tensor:
        sampled = [token]
        for i, index in enumerate(self.indices):
            chosen = self.next_token(token, index, clocks, temperature, top_p, min_length)
            if i and i % self.check_every == 0 and bool((token <= EOS).all()):  # EOS (or PAD, id 0, after it) fed
                break
            token = chosen
            sampled.append(token)
        return torch.stack(sampled, dim=1)


class WholeBarGraph:
    """All M steps of a bar as one CUDA graph, captured at the first bar and replayed for every bar after.

    A token of `paper` is a few hundred small kernels; launched one by one (or as one graph per token, with
    Python in between) the launches cost more than the kernels. Replaying the bar is one launch. The
    graph always runs every step: after EOS the grammar allows only PAD, so the extra steps change nothing
    but the PAD slots, which the next bar's memory masks. The inputs are copied into fixed buffers, which
    is how a captured graph sees new values."""

    def __init__(self, next_token: Callable, cache: BarCache):
        self.next_token, self.cache = next_token, cache
        self.inputs: list[Tensor] = []
        self.graph: torch.cuda.CUDAGraph | None = None
        self.tokens: Tensor | None = None

    def __call__(self, token: Tensor, clocks: Tensor, temperature: Tensor, top_p: Tensor,
                 min_length: Tensor) -> Tensor:
        values = (token, clocks, temperature, top_p, min_length)
        if self.graph is None:
            self.inputs = [value.clone() for value in values]
            self._capture()
        for fixed, value in zip(self.inputs, values):
            fixed.copy_(value)
        self.graph.replay()
        return self.tokens.clone()

    def _decode(self) -> Tensor:
        token, settings = self.inputs[0], self.inputs[1:]
        sampled = [token]
        for index in self.cache.indices:
            token = self.next_token(token, index, *settings)
            sampled.append(token)
        return torch.stack(sampled, dim=1)

    def _capture(self) -> None:
        # compilation and autotuning run in the first call and cannot be captured: warm up on a side stream
        # (as torch.cuda.graph asks), then put the grammar back where start_bar left it. The cache's other
        # bar state is overwritten step by step, and the memory slots are only read.
        warm_up = torch.cuda.Stream()
        warm_up.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(warm_up):
            self._decode()
        torch.cuda.current_stream().wait_stream(warm_up)
        self.cache.grammar.reset()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.tokens = self._decode()


def export_step(cache: BarCache) -> torch.export.ExportedProgram:
    """The fixed-shape step as an ExportedProgram (what TensorRT compiles): token [B], index [] -> logits,
    with the cache updates captured as buffer mutations."""
    batch = cache.tokens.shape[0]
    token = torch.full((batch,), 2, dtype=torch.long, device=cache.tokens.device)
    index = torch.tensor(0, device=cache.tokens.device)
    return torch.export.export(cache, (token, index), strict=False)
