"""Backends for the decoder's step function, behind one call: step(token [B], index) -> logits [B, V].

- eager:    PyTorch as it is (CPU or GPU).
- compiled: torch.compile of the fixed-shape step; on CUDA with mode "reduce-overhead" (CUDA graphs).
- tensorrt: torch.compile with the torch-tensorrt backend (optional extra, NVIDIA GPU only).
"""
from __future__ import annotations

from typing import Callable

import torch

from engine.errors import UserError
from engine.incremental import BarCache

BACKENDS = ("eager", "compiled", "tensorrt")


def tensorrt_unavailable_reason(device: torch.device) -> str | None:
    """Why the tensorrt backend cannot run here, or None when it can."""
    if device.type != "cuda":
        return "the tensorrt backend needs an NVIDIA GPU (the model is on the CPU)"
    try:
        import torch_tensorrt  # noqa: F401
    except ImportError:
        return "torch-tensorrt is not installed (pip install 'cdgmvae[tensorrt]')"
    return None


def make_step(backend: str, cache: BarCache) -> Callable:
    device = cache.keys.device
    if backend == "eager":
        return cache.step
    if backend == "compiled":
        mode = "reduce-overhead" if device.type == "cuda" else None
        return torch.compile(cache.step, fullgraph=True, dynamic=False, mode=mode)
    if backend == "tensorrt":
        reason = tensorrt_unavailable_reason(device)
        if reason:
            raise UserError(f"{reason}; use --backend compiled or --backend eager instead")
        import torch_tensorrt  # noqa: F401  (registers the "tensorrt" compile backend)
        return torch.compile(cache.step, backend="tensorrt", dynamic=False)
    raise UserError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def export_step(cache: BarCache) -> "torch.export.ExportedProgram":
    """The fixed-shape step as an ExportedProgram (what TensorRT compiles): token [B], index [] -> logits,
    with the cache updates captured as buffer mutations."""
    batch = cache.tokens.shape[0]
    token = torch.full((batch,), 2, dtype=torch.long, device=cache.keys.device)
    index = torch.tensor(0, device=cache.keys.device)
    return torch.export.export(cache, (token, index), strict=False)
