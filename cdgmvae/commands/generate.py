"""`cdgmvae generate (--emotion E | --valence V --arousal A) --bars N --out FILE.mid`."""
from __future__ import annotations

import argparse
from pathlib import Path

from cdgmvae.engine.emotion import EMOTIONS, emotion_va, nearest_emotion
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.features import PITCH_NAMES, parse_tonic

from cdgmvae.commands.common import add_model_arguments, generator_from_args, write_bars


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--emotion", help=f"one of {', '.join(EMOTIONS)} (or Q1..Q4)")
    parser.add_argument("--valence", type=float, help="0 (negative) .. 1 (positive), with --arousal")
    parser.add_argument("--arousal", type=float, help="0 (calm) .. 1 (energetic), with --valence")
    parser.add_argument("--bars", type=int, default=16, help="number of bars (default 16)")
    parser.add_argument("--tonic", metavar="NOTE",
                        help="the key guidance's tonic, a note name such as A or F# (default: drawn from the seed)")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.mid")
    add_model_arguments(parser)


def target_from_args(args: argparse.Namespace) -> tuple[float, float]:
    if args.emotion is not None:
        if args.valence is not None or args.arousal is not None:
            raise UserError("give either --emotion or --valence and --arousal, not both")
        return emotion_va(args.emotion)
    if args.valence is None or args.arousal is None:
        raise UserError("give --emotion, or both --valence and --arousal")
    return args.valence, args.arousal


def run(args: argparse.Namespace) -> int:
    valence, arousal = target_from_args(args)
    if args.bars < 1:
        raise UserError("--bars must be at least 1")
    generator = generator_from_args(args, valence=valence, arousal=arousal)
    if args.tonic is not None:
        generator.tonic = parse_tonic(args.tonic)
    bars = generator.generate(args.bars)
    ms = sorted(b.seconds * 1000 for b in bars)
    write_bars(bars, args.out, {"emotion": nearest_emotion(valence, arousal), "valence": valence,
                                "arousal": arousal, "notes": sum(len(b.notes) for b in bars),
                                # the key guidance keeps the piece on this tonic (None: guidance off)
                                "tonic": PITCH_NAMES[generator.tonic] if generator.controls.key_strength else None,
                                "median_ms_per_bar": round(ms[len(ms) // 2], 1)})
    return 0
