"""`cdgmvae demo`: what `make demo` runs. With the bundled model: one 16-bar piece per emotion and one
transfer of a bundled clip, each as MIDI and piano-roll PNG, and what the model and the reference
classifier infer of each."""
from __future__ import annotations

import argparse
from pathlib import Path

from cdgmvae.engine import codec
from cdgmvae.engine.emotion import EMOTIONS, QUADRANTS, emotion_va, quadrant
from cdgmvae.engine.generator import DEFAULT_MODEL, Controls, Generator
from cdgmvae.engine.pianoroll import save_pianoroll

ROOT = Path(__file__).resolve().parents[2]  # the source tree: the demo clip is in its data/
TRANSFER_CLIP = ROOT / "data/emopia/midis/Q3_Ie5koh4qvJc_5.mid"  # sad, from the validation split


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default out/demo)")
    parser.add_argument("--bars", type=int, default=16, help="bars per piece (default 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_MODEL,
                        help="model folder or .json (default: the bundled model)")


def judge(generator: Generator, baseline, bars: list[list[int]]) -> str:
    from cdgmvae.training.baseline import clip_features
    _, _, p_a, p_v = generator.encode_piece(bars)
    base = baseline.probabilities(clip_features([codec.bar_notes(b) for b in bars]))[0]
    return (f"model infers {quadrant(float(p_v), float(p_a))} (p_arousal_high {float(p_a):.2f}, "
            f"p_valence_high {float(p_v):.2f}); baseline infers {quadrant(base[1], base[0])}")


def run(args: argparse.Namespace) -> int:
    from cdgmvae.training.baseline import LogisticRegression
    from cdgmvae.training.control import BASELINE
    baseline = LogisticRegression.load(BASELINE)
    generator = Generator.load(args.checkpoint, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"model: {args.checkpoint}; writing to {args.out}/")
    for emotion in EMOTIONS:
        generator.controls = Controls.for_emotion(emotion)
        generator.reset(args.seed)
        bars = generator.generate(args.bars)
        write(args.out / emotion, [b.tokens for b in bars], f"{emotion} ({QUADRANTS[emotion]}), generated")
        verdict = judge(generator, baseline, [b.tokens for b in bars])
        print(f"  {emotion:6s} -> {args.out / emotion}.mid/.png: {verdict}")
    source = codec.encode(TRANSFER_CLIP).bars
    valence, arousal = emotion_va("happy")
    moved = generator.transfer(source, valence, arousal, lam=1.0)
    write(args.out / "transfer-source", source, f"{TRANSFER_CLIP.name} (source)")
    write(args.out / "transfer-to-happy", [b.tokens for b in moved], f"{TRANSFER_CLIP.name} -> happy, lambda 1")
    print(f"  source {TRANSFER_CLIP.name}: {judge(generator, baseline, source)}")
    print(f"  transfer to happy -> {args.out / 'transfer-to-happy'}.mid/.png: "
          f"{judge(generator, baseline, [b.tokens for b in moved])}")
    return 0


def write(stem: Path, bars: list[list[int]], title: str) -> None:
    codec.midi_file(bars).save(str(stem.with_suffix(".mid")))
    save_pianoroll([codec.bar_notes(b) for b in bars], stem.with_suffix(".png"), title)
