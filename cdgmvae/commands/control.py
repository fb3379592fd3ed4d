"""`cdgmvae evaluate-control`: generate pieces per quadrant and measure how often the emotion is recognised."""
from __future__ import annotations

import argparse
import json

from cdgmvae.training.control import evaluate_control, markdown

from cdgmvae.commands.common import add_model_arguments, generator_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pieces", type=int, default=16, help="pieces per quadrant (default 16)")
    parser.add_argument("--bars", type=int, default=16, help="bars per piece (default 16)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add_model_arguments(parser)


def run(args: argparse.Namespace) -> int:
    generator = generator_from_args(args)
    report = evaluate_control(generator, args.pieces, args.bars, seed=args.seed, progress=not args.json)
    print(json.dumps(report, indent=1) if args.json else markdown(report))
    return 0
