"""How tonal generated pieces are, against EMOPIA's clips, for several key-guidance strengths.

    python bench/tonality.py [--strengths 0 1 2 3] [--pieces 12] [--bars 16] [--backend compiled] [--json]

Per set of pieces, with the Krumhansl-Schmuckler key profiles the reference classifier uses: how well a
whole clip fits its best key, its major-minus-minor strength, how well each bar fits its own best key,
and how often the next bar has the same best key. EMOPIA: the bundled clips' first --bars bars, split by
valence; generated: --pieces pieces per valence (0 and 1) at arousal 0.5, seeds 0.. .
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
from cdgmvae.engine.features import clip_profile, key_scores, major_minus_minor, pitch_class_profile
from cdgmvae.engine.generator import Generator
from cdgmvae.engine.notes import GridNote

EMOPIA = Path(__file__).resolve().parent.parent / "data" / "emopia" / "midis"


def tonality(pieces: Sequence[Sequence[Sequence[GridNote]]]) -> dict:
    clip_fit, mode, bar_fit, same_key = [], [], [], []
    for bars in pieces:
        scores = key_scores(clip_profile(bars))
        clip_fit.append(scores.max())
        mode.append(major_minus_minor(scores))
        keys = []
        for bar in bars:
            profile = pitch_class_profile(bar)
            if profile.any():
                bar_scores = key_scores(profile)
                bar_fit.append(bar_scores.max())
                keys.append(int(bar_scores.argmax()))
        same_key += [a == b for a, b in zip(keys, keys[1:])]
    return {"clip_key_fit": float(np.mean(clip_fit)), "major_minus_minor": float(np.mean(mode)),
            "bar_key_fit": float(np.mean(bar_fit)), "next_bar_same_key": float(np.mean(same_key)),
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
