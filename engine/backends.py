"""The decoder's backends, one row each: where a backend runs, what it needs, and how it builds its
per-token function (BarCache.next_token's signature: feed a token, get the next one).

The command-line choices and help (cdgmvae/commands/common.py), `cdgmvae export`, the bar decoder
(engine/decoding.py) and the README's table (`markdown_table`; a test keeps them equal) all read `TABLE`.
To add a backend, add a row. This module imports no torch, so that `--help` and the live bridge's sender
process read the table cheaply; the builders import what they need when they run.
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cdgmvae.engine.errors import UserError

if TYPE_CHECKING:
    import torch
    from cdgmvae.engine.incremental import BarCache, NextToken
    from cdgmvae.engine.model import CDGMVAE


@dataclass(frozen=True)
class Package:
    """A package a backend imports beyond torch."""
    module: str    # what is imported
    name: str      # what a user calls it
    install: str   # how to get it


@dataclass(frozen=True)
class Backend:
    name: str
    where: str                          # the devices it runs on, in words: "the CPU", "an NVIDIA GPU"
    devices: tuple[str, ...] | None  # torch device types it runs on; None: any
    summary: str                        # what it is: --help and the README
    pick_when: str                      # the README's advice
    build: Callable[[BarCache], NextToken]
    needs: Package | None = None
    int8_weights: bool = False          # decodes with a copy of the model holding int8 weights (engine/int8.py)
    whole_bar_graph: bool = False       # on a CUDA device a bar is one CUDA graph (decoding.WholeBarGraph)
    inductor_on_cpu: bool = False       # Inductor compiles it on the CPU (cached in its cache folder)
    cache: str = "the inductor cache"   # where what `cdgmvae export` builds is kept
    interpreter: str | None = None   # an environment variable that, set to 1, lets it run on any device


def _eager(cache: BarCache) -> NextToken:
    return cache.next_token


def _compiled(cache: BarCache) -> NextToken:
    """The whole token (step, grammar mask and draw) as one graph."""
    import torch
    if cache.tokens.device.type == "cuda":  # decoding.make_bar_decoder captures the bar as a CUDA graph
        return torch.compile(cache.next_token, fullgraph=True, dynamic=False)
    # Inductor's C++ wrapper calls the kernels with less overhead than its Python one (MODEL.md, *Speed*)
    return torch.compile(cache.next_token, fullgraph=True, dynamic=False, options={"cpp_wrapper": True})


def _int8(cache: BarCache) -> NextToken:
    import torch
    # around int8_linear, an op that calls Python, the C++ wrapper was no faster (MODEL.md, *Speed*)
    return torch.compile(cache.next_token, fullgraph=True, dynamic=False, options={"cpp_wrapper": False})


def _tensorrt(cache: BarCache) -> NextToken:
    """The step compiled by torch-tensorrt; the draw stays in PyTorch."""
    import torch
    import torch_tensorrt  # noqa: F401  (registers the "tensorrt" compile backend)
    from cdgmvae.engine.incremental import step_then_choose
    return step_then_choose(torch.compile(cache.step, backend="tensorrt", dynamic=False), cache.choose)


def _triton(cache: BarCache) -> NextToken:
    """The step as Triton kernels, run from Python (the bar's CUDA graph holds them); the draw compiled."""
    import torch
    from cdgmvae.engine.incremental import step_then_choose
    from cdgmvae.engine.triton_step import TritonStep
    on_gpu = cache.tokens.device.type == "cuda"
    choose = torch.compile(cache.choose, fullgraph=True, dynamic=False) if on_gpu else cache.choose
    return step_then_choose(TritonStep(cache), choose)


TABLE: tuple[Backend, ...] = (
    Backend("eager", "the CPU or a GPU", None, "PyTorch as it is", "always works; the reference", _eager),
    Backend("compiled", "the CPU or a GPU", None,
            "`torch.compile` of the fixed-shape step (C++ wrapper on the CPU; on a GPU every step of a bar "
            "captured as one CUDA graph)",
            "live play with the bundled model: the fastest on a CPU and on a GPU; the first bar waits for the "
            "compiler unless `cdgmvae export --backend compiled` ran before",
            _compiled, whole_bar_graph=True, inductor_on_cpu=True),
    Backend("int8", "the CPU", ("cpu",), "int8 decoder weights, compiled like `compiled`",
            "large models (`paper`) on a CPU, where reading the weights is the cost; notes differ slightly "
            "from fp32; the first bar waits for the compiler unless `cdgmvae export --backend int8` ran before",
            _int8, int8_weights=True, inductor_on_cpu=True),
    Backend("tensorrt", "an NVIDIA GPU", ("cuda",), "the step compiled by torch-tensorrt, the draw in PyTorch",
            "a GPU with torch-tensorrt installed; not measured yet, so compare it with `compiled` on your card",
            _tensorrt, needs=Package("torch_tensorrt", "torch-tensorrt", "pip install 'cdgmvae[tensorrt]'"),
            cache="the torch-tensorrt engine cache"),
    Backend("triton", "an NVIDIA GPU", ("cuda",),
            "the decoder step as hand-written Triton kernels, three per layer (`engine/triton_step.py`), the "
            "draw compiled, a bar one CUDA graph",
            "large models (`paper`) on a GPU: 37 kernels and one small compiled graph per token, where "
            "`compiled` launches 248; not measured on a GPU yet, so compare it with `compiled` on your card",
            _triton, needs=Package("triton", "Triton", "PyTorch's CUDA builds bring it; or pip install triton"),
            whole_bar_graph=True, cache="the Triton and Inductor caches",
            # Triton's interpreter runs the kernels on the CPU (slowly): how the tests check them without a GPU
            interpreter="TRITON_INTERPRET"),
)
BACKENDS = tuple(backend.name for backend in TABLE)
_BY_NAME = {backend.name: backend for backend in TABLE}


def backend_named(name: str) -> Backend:
    """The row of a backend; UserError for an unknown name."""
    if name not in _BY_NAME:
        raise UserError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return _BY_NAME[name]


def _device_words(device: torch.device) -> str:
    return {"cpu": "the CPU", "cuda": "a CUDA GPU"}.get(device.type, device.type)


def unavailable_reason(name: str, device: torch.device) -> str | None:
    """Why a backend cannot run on `device` here (wrong device, a package missing), or None when it can."""
    backend = backend_named(name)
    interpreted = backend.interpreter is not None and os.environ.get(backend.interpreter) == "1"
    if backend.devices is not None and device.type not in backend.devices and not interpreted:
        return f"the {name} backend runs on {backend.where} only (the model is on {_device_words(device)})"
    if backend.needs is not None:
        try:
            importlib.import_module(backend.needs.module)
        except ImportError:
            return f"{backend.needs.name} is not installed ({backend.needs.install})"
    return None


def decoding_model(name: str, model: CDGMVAE) -> CDGMVAE:
    """The model a backend decodes with: the model itself, or for int8 a copy with int8 decoder weights.
    UserError for an unknown backend, and for int8 off the CPU."""
    if not backend_named(name).int8_weights:
        return model
    reason = unavailable_reason(name, next(model.parameters()).device)
    if reason:
        raise UserError(f"{reason}; on a GPU use --backend compiled or --backend tensorrt")
    from cdgmvae.engine.int8 import int8_decoder
    return int8_decoder(model)


def make_decoder(name: str, cache: BarCache) -> NextToken:
    """A backend's per-token function for `cache` (BarCache.next_token's arguments and result). UserError
    for a backend that is unknown or cannot run here, naming the ones that can."""
    backend = backend_named(name)
    reason = unavailable_reason(name, cache.tokens.device)
    if reason:
        raise UserError(f"{reason}; use --backend compiled or --backend eager instead")
    return backend.build(cache)


def help_text() -> str:
    """What --backend's help says of each backend."""
    return "; ".join(f"{b.name} ({b.where}: {b.summary})" for b in TABLE)


def markdown_table() -> str:
    """The README's table of backends."""
    rows = ["| backend | where | needs | what it is | pick it when |", "|---|---|---|---|---|"]
    for b in TABLE:
        needs = f"{b.needs.name} ({b.needs.install})" if b.needs else "PyTorch alone"
        rows.append(f"| `{b.name}` | {b.where} | {needs} | {b.summary} | {b.pick_when} |")
    return "\n".join(rows)
