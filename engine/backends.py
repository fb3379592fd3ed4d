"""Backends for the decoder, behind one call: BarCache.next_token (feed a token, get the next one).

- eager:    PyTorch as it is (CPU or GPU).
- compiled: torch.compile of the fixed-shape step. On the CPU with Inductor's C++ wrapper (its Python
            wrapper costs more than a small model's kernels: 0.45 against 0.34 ms per token for the bundled
            model, one thread of the 2-core VM). On CUDA a whole bar, every step of it, is captured once as
            one CUDA graph and replayed for each bar (WholeBarGraph).
- int8:     compiled like `compiled` (CPU only), on a copy of the model whose decoder and output Linear
            layers hold int8 weights (dynamic quantization). A token reads a quarter of the weight bytes:
            what a model the size of `paper` needs on a CPU, where reading fp32 weights is most of a step.
            torch.compile cannot trace fbgemm's packed weights, so each int8 Linear is one opaque custom op
            in the graph and Inductor fuses everything around them.
- tensorrt: torch.compile with the torch-tensorrt backend (optional extra, NVIDIA GPU only).
- triton:   the step as hand-written Triton kernels, three per layer (engine/triton_step.py), the draw
            compiled by Inductor, a whole bar one CUDA graph (NVIDIA GPU; Triton comes with PyTorch's CUDA
            builds).
"""
from __future__ import annotations

import itertools
import os
import warnings
import weakref
from typing import Callable

import torch
from torch import Tensor, nn

from cdgmvae.engine.errors import UserError
from cdgmvae.engine.incremental import BarCache
from cdgmvae.engine.model import CDGMVAE
from cdgmvae.engine.vocab import EOS

BACKENDS = ("eager", "compiled", "int8", "tensorrt", "triton")
WHOLE_BAR_GRAPH = ("compiled", "triton")  # the backends that replay a bar as one CUDA graph
INDUCTOR_ON_CPU = ("compiled", "int8")  # the backends that Inductor compiles on the CPU


def decoding_model(backend: str, model: CDGMVAE) -> CDGMVAE:
    """The model a backend decodes with: the model itself, or for int8 a quantized copy (the encoders,
    which only run once per bar, stay fp32)."""
    if backend != "int8":
        return model
    device = next(model.parameters()).device
    if device.type != "cpu":
        raise UserError("the int8 backend runs on the CPU; on a GPU use --backend compiled or --backend tensorrt")
    quantize = getattr(getattr(torch, "ao", None), "quantization", None)
    if quantize is None or not hasattr(quantize, "quantize_dynamic"):
        raise UserError(f"this torch ({torch.__version__}) has no dynamic quantization; use --backend compiled")
    qconfig = quantize.default_dynamic_qconfig
    with warnings.catch_warnings():
        # torch 2.13 marks quantized tensors deprecated (their successor is the torchao package); the
        # kernels are the same fbgemm ones
        warnings.filterwarnings("ignore", category=UserWarning, message=r".*(quantiz|torchao).*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        # not in place: quantize_dynamic quantizes a copy and leaves the fp32 model as it is
        quantized = quantize.quantize_dynamic(model, {"decoder": qconfig, "head": qconfig}, dtype=torch.qint8,
                                              inplace=False).eval()
    return _opaque_int8_linears(quantized)


# An int8 Linear seen by torch.compile: the custom op gets a number that names the quantized module.
_INT8_LINEARS: "weakref.WeakValueDictionary[int, nn.Module]" = weakref.WeakValueDictionary()
_next_slot = itertools.count()


@torch.library.custom_op("cdgmvae::int8_linear", mutates_args=())
def int8_linear(x: Tensor, slot: int) -> Tensor:
    return _INT8_LINEARS[slot](x)


@int8_linear.register_fake
def _int8_linear_shape(x: Tensor, slot: int) -> Tensor:
    return x.new_empty(*x.shape[:-1], _INT8_LINEARS[slot].out_features)


class Int8Linear(nn.Module):
    def __init__(self, quantized: nn.Module):
        super().__init__()
        self.quantized = quantized
        self.slot = next(_next_slot)
        _INT8_LINEARS[self.slot] = quantized

    def forward(self, x: Tensor) -> Tensor:
        return int8_linear(x, self.slot)


def _opaque_int8_linears(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, torch.ao.nn.quantized.dynamic.Linear):
            setattr(module, name, Int8Linear(child))
        else:
            _opaque_int8_linears(child)
    return module


def unavailable_reason(backend: str, device: torch.device) -> str | None:
    """Why a GPU backend cannot run here, or None when it can."""
    if backend == "tensorrt":
        if device.type != "cuda":
            return "the tensorrt backend needs an NVIDIA GPU (the model is on the CPU)"
        try:
            import torch_tensorrt  # noqa: F401
        except ImportError:
            return "torch-tensorrt is not installed (pip install 'cdgmvae[tensorrt]')"
    if backend == "triton":
        # TRITON_INTERPRET=1 runs Triton kernels on the CPU (slowly): how the tests check them without a GPU
        if device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
            return "the triton backend needs an NVIDIA GPU (the model is on the CPU)"
        try:
            import triton  # noqa: F401
        except ImportError:
            return "Triton is not installed (PyTorch's CUDA builds bring it; or pip install triton)"
    return None


def make_decoder(backend: str, cache: BarCache) -> Callable:
    """The per-token function of a backend, with BarCache.next_token's arguments. compiled takes the whole
    token (step, grammar mask and draw) into one graph; tensorrt compiles the step and leaves the draw to
    PyTorch; triton runs its kernels for the step and compiles the draw on its own."""
    device = cache.tokens.device
    if backend == "eager":
        return cache.next_token
    if backend == "compiled" and device.type == "cuda":
        return torch.compile(cache.next_token, fullgraph=True, dynamic=False)  # make_bar_decoder graphs it
    if backend in INDUCTOR_ON_CPU:
        # the C++ wrapper calls kernels with less overhead; around int8_linear, a Python op, it was no
        # faster (paper: 899 against 828 ms per bar), so int8 keeps the Python wrapper
        return torch.compile(cache.next_token, fullgraph=True, dynamic=False,
                             options={"cpp_wrapper": backend == "compiled"})
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    reason = unavailable_reason(backend, device)
    if reason:
        raise UserError(f"{reason}; use --backend compiled or --backend eager instead")
    if backend == "tensorrt":
        import torch_tensorrt  # noqa: F401  (registers the "tensorrt" compile backend)
        cache.logits = torch.compile(cache.step, backend="tensorrt", dynamic=False)
        return cache.next_token
    # triton: the kernels run from Python (the bar's CUDA graph holds them), the draw is compiled on the GPU
    from cdgmvae.engine.triton_step import TritonStep
    step = cache.logits = TritonStep(cache)
    choose = torch.compile(cache.choose, fullgraph=True, dynamic=False) if device.type == "cuda" else cache.choose

    def next_token(token: Tensor, index: Tensor, *settings: Tensor) -> Tensor:
        return choose(step(token, index), index, *settings)
    return next_token


def make_bar_decoder(backend: str, cache: BarCache) -> Callable:
    """A function that decodes a whole bar: (first token [B], clocks [M, B, V], temperature, top_p,
    min_length) -> tokens [B, n], the first token included, PAD after EOS. Call cache.start_bar first."""
    step = make_decoder(backend, cache)
    if backend in WHOLE_BAR_GRAPH and cache.tokens.device.type == "cuda":
        return WholeBarGraph(step, cache)
    return TokenLoop(step, cache)


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
        self.graph: "torch.cuda.CUDAGraph | None" = None
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


def export_step(cache: BarCache) -> "torch.export.ExportedProgram":
    """The fixed-shape step as an ExportedProgram (what TensorRT compiles): token [B], index [] -> logits,
    with the cache updates captured as buffer mutations."""
    batch = cache.tokens.shape[0]
    token = torch.full((batch,), 2, dtype=torch.long, device=cache.tokens.device)
    index = torch.tensor(0, device=cache.tokens.device)
    return torch.export.export(cache, (token, index), strict=False)
