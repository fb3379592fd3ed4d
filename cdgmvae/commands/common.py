"""Options and set-up that the model's commands share (`generate`, `transfer`, `swap`, `evaluate-control`,
and `live` for the model's options). Imports no torch until a generator is made, so that `live`'s sender
process and --help stay light.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from cdgmvae.engine.backends import BACKENDS, help_text
from cdgmvae.engine.controls import Controls
from cdgmvae.engine.errors import UserError

if TYPE_CHECKING:
    from cdgmvae.engine.generator import Generator


def add_checkpoint_argument(parser, note: str = "") -> None:
    """--checkpoint (a Path, or None for the bundled model); `note` is added to its help."""
    parser.add_argument("--checkpoint", type=Path,
                        help=f"model folder or .json{note} (default: the bundled model)")


def add_backend_argument(parser, note: str = "") -> None:
    """--backend, one of engine/backends.py's table, every one described in the help; `note` is added to it."""
    parser.add_argument("--backend", choices=BACKENDS, default="eager",
                        help=f"decoder backend{note}: {help_text()}; `cdgmvae export` builds a fast backend "
                             f"ahead of the first bar (default %(default)s)")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_argument(parser)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    add_backend_argument(parser)
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
                        help="decode K bars at once and keep the best: in generate and live the one whose "
                             "emotion is closest to the target; in transfer and swap the one whose encoding "
                             "lies nearest the bar's latents, so the result keeps more of them (default 1)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")


def generator_from_args(args: argparse.Namespace, **controls) -> Generator:
    import torch
    from cdgmvae.engine.generator import Generator
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
    from cdgmvae.engine import codec
    return codec.encode(path, bar_len).bars


def write_bars(bars, out: Path, report: dict) -> None:
    from cdgmvae.engine import codec
    out.parent.mkdir(parents=True, exist_ok=True)
    codec.midi_file([b.tokens for b in bars]).save(str(out))
    print(json.dumps({"out": str(out), "bars": len(bars), **report}))
