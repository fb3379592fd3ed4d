"""How tonal generated pieces are, against EMOPIA's clips, for several key-guidance strengths.

    python bench/tonality.py [--strengths 0 1 2 3] [--pieces 12] [--bars 16] [--backend compiled] [--json]

Per set of pieces, with the Krumhansl-Schmuckler key profiles the reference classifier uses
(training/quality.py's `tonality`): how well a whole clip fits its best key, its major-minus-minor
strength, how well each bar fits its own best key, and how often the next bar has the same best key.
bench/quality.py measures the same, and more, on MIDI files read without the project's codec. EMOPIA:
the bundled clips' first --bars bars, split by valence; generated: --pieces pieces per valence (0 and 1)
at arousal 0.5, seeds 0.. .
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from cdgmvae.engine import codec
from cdgmvae.engine.emotion import EMOTION_VA, QUADRANTS
from cdgmvae.engine.generator import Generator
from cdgmvae.engine.notes import GridNote
from cdgmvae.training import quality

EMOPIA = Path(__file__).resolve().parent.parent / "data" / "emopia" / "midis"


def tonality(pieces: Sequence[Sequence[Sequence[GridNote]]]) -> dict:
    """Means over pieces of training/quality.py's tonality measures; the next bar in the same key pooled
    over all pairs of consecutive keyed bars."""
    rows = [quality.tonality(bars) for bars in pieces]
    pairs = sum(r["key_pairs"] for r in rows)
    return {"clip_key_fit": float(np.mean([r["key_fit"] for r in rows])),
            "major_minus_minor": float(np.mean([r["major_minus_minor"] for r in rows])),
            "bar_key_fit": float(np.nanmean([r["bar_key_fit"] for r in rows])),
            "next_bar_same_key": sum(r["same_key_pairs"] for r in rows) / pairs if pairs else float("nan"),
            "pieces": len(pieces)}


def emopia(valence_high: bool, bars: int) -> list[list[list[GridNote]]]:
    quadrants = tuple(QUADRANTS[e] for e, (valence, _) in EMOTION_VA.items() if (valence == 1.0) == valence_high)
    paths = sorted(p for p in EMOPIA.glob("*.mid") if p.name[:2] in quadrants)
    return [[list(b) for b in codec.encode(p).notes[:bars]] for p in paths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0])
    parser.add_argument("--pieces", type=int, default=12)
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--checkpoint", help="model folder (default: the bundled model)")
    parser.add_argument("--backend", default="compiled")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = {f"EMOPIA valence {v}": tonality(emopia(v == "high", args.bars)) for v in ("high", "low")}
    generator = Generator.load(args.checkpoint, backend=args.backend)
    for strength in args.strengths:
        for valence in (1.0, 0.0):
            generator.set_controls(valence=valence, arousal=0.5, key_strength=strength)
            pieces = []
            for seed in range(args.pieces):
                generator.reset(seed)
                pieces.append([bar.notes for bar in generator.generate(args.bars)])
            rows[f"key strength {strength:g}, valence {valence:g}"] = tonality(pieces)
    if args.json:
        print(json.dumps(rows))
        return
    print("| pieces | clip key fit | major - minor | bar key fit | next bar same key |\n|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['clip_key_fit']:.3f} | {r['major_minus_minor']:+.3f} | {r['bar_key_fit']:.3f} | "
              f"{r['next_bar_same_key']:.3f} |")


if __name__ == "__main__":
    main()
