"""Options and set-up that `generate`, `transfer` and `swap` share."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from cdgmvae.engine import codec
from cdgmvae.engine.backends import BACKENDS
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.generator import Controls, Generator


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, help="model folder or .json (default: the bundled model)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--backend", choices=BACKENDS, default="eager", help="decoder backend: eager; compiled (torch.compile; "
                        "first bar waits for the compiler, see `cdgmvae export`); int8 (CPU, int8 weights, compiled like "
                        "compiled, for large models); tensorrt (NVIDIA GPU); triton (NVIDIA GPU, hand-written Triton "
                        "kernels, for large models) (default eager)")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same notes (default 0)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0)")
    parser.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass (default 0.95)")
    parser.add_argument("--variety", type=float, default=Controls.variety,
                        help="spread of each bar's latents around the emotion's path, in prior standard "
                             "deviations (default %(default)s)")
    parser.add_argument("--key-strength", type=float, default=Controls.key_strength, metavar="S",
                        help="key guidance: how strongly notes are pulled toward the piece's key, major for high "
                             "valence and minor for low; 0 turns it off and leaves the model's own choice "
                             "(default %(default)s)")
    parser.add_argument("--candidates", type=int, default=1, metavar="K",
                        help="decode K bars at once and keep the one closest to the target emotion (default 1)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")


def generator_from_args(args: argparse.Namespace, **controls) -> Generator:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu")
    try:
        control = Controls(temperature=args.temperature, top_p=args.top_p, variety=args.variety,
                           key_strength=args.key_strength, **controls)
    except ValueError as err:
        raise UserError(str(err)) from None
    return Generator.load(args.checkpoint, device=args.device, seed=args.seed, backend=args.backend,
                          candidates=args.candidates, controls=control)


def read_piece(path: Path, bar_len: int) -> list[list[int]]:
    """The bars of a MIDI file's tokens; a UserError naming the real cause if it cannot be read."""
    return codec.encode(path, bar_len).bars


def write_bars(bars, out: Path, report: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    codec.decode([b.tokens for b in bars]).write(str(out))
    print(json.dumps({"out": str(out), "bars": len(bars), **report}))
