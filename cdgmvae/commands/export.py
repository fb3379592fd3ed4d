"""`cdgmvae export --backend compiled|int8|tensorrt|triton`: build what a fast backend needs, so the first live
bar does not wait for it (torch.compile, TensorRT and Triton keep their results in their own on-disk caches)."""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from cdgmvae.engine.backends import BACKENDS, backend_named, unavailable_reason
from cdgmvae.engine.decoding import export_step
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.generator import Generator

from cdgmvae.commands.common import add_checkpoint_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=[name for name in BACKENDS if name != "eager"], required=True)
    add_checkpoint_argument(parser)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (tensorrt and triton need cuda)")


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    reason = unavailable_reason(args.backend, torch.device(args.device))
    if reason:
        raise UserError(f"{reason}; `cdgmvae export --backend compiled` builds the other fast backend")
    generator = Generator.load(args.checkpoint, device=args.device, backend="eager", seed=0)
    program = export_step(generator.cache)
    print(f"exported the decoder step: {len(program.graph.nodes)} graph nodes")
    backend = backend_named(args.backend)
    if args.device == "cpu" and backend.inductor_on_cpu:
        cache_dir = os.environ.get("TORCHINDUCTOR_CACHE_DIR",
                                   Path(tempfile.gettempdir()) / f"torchinductor_{os.environ.get('USER', 'root')}")
    else:
        cache_dir = backend.cache
    Generator(generator.model, seed=0, backend=args.backend).next_bar()  # compiles, filling the caches
    print(f"built the {args.backend} backend in {time.perf_counter() - started:.1f} s; cached in {cache_dir}")
    return 0
