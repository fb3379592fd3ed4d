"""`cdgmvae transfer IN.mid --to EMOTION --lambda L --out OUT.mid`."""
from __future__ import annotations

import argparse
from pathlib import Path

from cdgmvae.engine.emotion import EMOTIONS, emotion_va, quadrant
from cdgmvae.engine.errors import UserError

from cdgmvae.commands.common import add_model_arguments, generator_from_args, read_piece, write_bars


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, metavar="IN.mid")
    parser.add_argument("--to", required=True, metavar="EMOTION", help=f"one of {', '.join(EMOTIONS)} (or Q1..Q4)")
    parser.add_argument("--lambda", dest="lam", type=float, default=1.0,
                        help="how far to move toward the target: 0 keeps the source's latents, 1 goes all the way")
    parser.add_argument("--out", type=Path, required=True, metavar="OUT.mid")
    add_model_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if not 0.0 <= args.lam <= 1.0:
        raise UserError("--lambda must be in [0, 1]")
    valence, arousal = emotion_va(args.to)
    generator = generator_from_args(args)
    bars = read_piece(args.input, generator.model.cfg.bar_len)
    encoded = generator.encode_piece(bars, progress=True)
    _, _, p_a, p_v = encoded
    result = generator.transfer(bars, valence, arousal, args.lam, encoded, progress=True)
    write_bars(result, args.out, {"source_quadrant": quadrant(float(p_v), float(p_a)), "target": args.to,
                                  "lambda": args.lam})
    return 0
