"""Checks of the triton backend run by Triton's interpreter on the CPU. Run as a script in a process of
its own (tests/test_triton_step.py does): TRITON_INTERPRET must be set before the kernels are defined.

    TRITON_INTERPRET=1 python tests/triton_interpreted.py step|step-gpu-tiling|step-bf16|generator

prints one JSON object of measurements for the test to judge."""
from __future__ import annotations

import json
import os
import sys

import torch
from cdgmvae.engine.checkpoint import load_model
from cdgmvae.engine.generator import DEFAULT_MODEL, Controls, Generator
from cdgmvae.engine.incremental import BarCache

assert os.environ.get("TRITON_INTERPRET") == "1", "set TRITON_INTERPRET=1"
from cdgmvae.engine import triton_step  # noqa: E402  (after the check: the kernels are defined on import)

STEPS = 12  # tokens fed per bar: the interpreter takes a fraction of a second per token


def step(steps: int = STEPS, weight_dtype: torch.dtype = torch.float32) -> dict:
    """The same tokens through the eager step and the kernels, batch 2: a first bar, then one with memory.
    With bf16 weights, eager runs on the same weights rounded to bf16, so the two should agree as closely."""
    model, _ = load_model(DEFAULT_MODEL)
    if weight_dtype != torch.float32:
        with torch.no_grad():
            for name, param in model.named_parameters():
                if param.dim() == 2 and (name.startswith("decoder.blocks") or name == "head.weight"):
                    param.copy_(param.to(weight_dtype))
    torch.manual_seed(0)
    eager, fused = BarCache(model, 2), BarCache(model, 2)
    kernels = triton_step.TritonStep(fused, weight_dtype)
    tokens = torch.randint(3, model.cfg.vocab_size, (2, steps))
    logit_diff, memory = 0.0, None
    for _bar in range(2):
        inject = torch.randn(2, model.cfg.d_model)
        for cache in (eager, fused):
            cache.start_bar(inject, memory)
        for i in range(steps):
            index = torch.tensor(i)
            expected, got = eager.step(tokens[:, i], index), kernels(tokens[:, i], index)
            logit_diff = max(logit_diff, (expected - got).abs().max().item())
        memory = eager.memory()
    buffers = {name: (a.float() - b.float()).abs().max().item()
               for (name, a), (_, b) in zip(eager.named_buffers(recurse=False), fused.named_buffers(recurse=False))}
    return {"logit_diff": logit_diff, "logit_scale": expected.abs().max().item(), "buffer_diff": buffers}


def step_gpu_tiling() -> dict:
    """`step` with the work split as on a GPU: several programs per matrix (the last one partly masked),
    several feed-forward parts to add up, a chunk of 16 hidden units at a time."""
    triton_step.QKV_PROGRAMS = triton_step.FEED_FORWARD_PROGRAMS = triton_step.HEAD_PROGRAMS = 5
    triton_step.CHUNK = 16
    return step(steps=4)


def step_bf16() -> dict:
    return step(steps=4, weight_dtype=torch.bfloat16)


def generator() -> dict:
    """A bar sampled by the triton backend and by eager, same seed and controls, then another after a
    change of emotion."""
    model, _ = load_model(DEFAULT_MODEL)
    bars = {}
    for backend in ("eager", "triton"):
        gen = Generator(model, seed=1, backend=backend, controls=Controls.for_emotion("calm"))
        first = gen.next_bar().tokens
        gen.set_controls(valence=1.0, arousal=0.0, temperature=0.5)
        bars[backend] = [first, gen.next_bar().tokens]
    return bars


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(json.dumps({"step": step, "step-gpu-tiling": step_gpu_tiling, "step-bf16": step_bf16,
                      "generator": generator}[sys.argv[1]]()))
