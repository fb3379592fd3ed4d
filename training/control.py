"""How well generated music follows the requested emotion, judged by the reference classifier (an
independent judge) and by the model's own q(y|x)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from cdgmvae.engine.emotion import EMOTIONS, QUADRANTS, emotion_va
from cdgmvae.engine.generator import Generator
from cdgmvae.engine.notes import GridNote
from cdgmvae.training.baseline import LogisticRegression, clip_features
from tqdm import tqdm

BASELINE = Path(__file__).resolve().parent / "baseline.json"


@dataclass
class Judges:
    """What the reference classifier (on a piece's notes) and the model's q(y|x) (on its tokens, z = mu,
    Eq 6) hear in a piece: P(high) of arousal and of valence."""
    generator: Generator
    baseline: LogisticRegression = field(default_factory=lambda: LogisticRegression.load(BASELINE))

    def reference(self, notes: Sequence[Sequence[GridNote]]) -> tuple[float, float]:
        p_arousal, p_valence = self.baseline.probabilities(clip_features(notes))[0]
        return float(p_arousal), float(p_valence)

    def model(self, bars: Sequence[Sequence[int]]) -> tuple[float, float]:
        _, _, p_arousal, p_valence = self.generator.encode_piece(bars)
        return float(p_arousal), float(p_valence)


def evaluate_control(generator: Generator, pieces: int = 16, bars: int = 16, seed: int = 0,
                     baseline_path: Path = BASELINE, progress: bool = True) -> dict:
    """Per quadrant and dimension, the fraction of pieces recognised as the requested emotion."""
    judges = Judges(generator, LogisticRegression.load(baseline_path))
    base_controls = generator.controls
    rows = {}
    bar = tqdm(total=len(EMOTIONS) * pieces, desc="evaluate-control", unit="piece", disable=not progress)
    for emotion in EMOTIONS:
        valence, arousal = emotion_va(emotion)
        generator.controls = replace(base_controls, valence=valence, arousal=arousal, lam=1.0)
        hits = {"baseline_arousal": 0, "baseline_valence": 0, "model_arousal": 0, "model_valence": 0}
        density = []
        for i in range(pieces):
            generator.reset(seed + i)
            piece = generator.generate(bars)
            notes = [b.notes for b in piece]
            p_arousal, p_valence = judges.reference(notes)
            m_arousal, m_valence = judges.model([b.tokens for b in piece])
            hits["baseline_arousal"] += (p_arousal >= 0.5) == (arousal >= 0.5)
            hits["baseline_valence"] += (p_valence >= 0.5) == (valence >= 0.5)
            hits["model_arousal"] += (float(m_arousal) >= 0.5) == (arousal >= 0.5)
            hits["model_valence"] += (float(m_valence) >= 0.5) == (valence >= 0.5)
            density.append(sum(len(n) for n in notes) / bars)
            bar.update()
        rows[QUADRANTS[emotion] + " " + emotion] = {**{k: v / pieces for k, v in hits.items()},
                                                   "notes_per_bar": float(np.mean(density))}
    bar.close()
    generator.controls = base_controls
    overall = {k: float(np.mean([r[k] for r in rows.values()])) for k in next(iter(rows.values()))}
    return {"pieces_per_quadrant": pieces, "bars": bars, "quadrants": rows, "overall": overall}


def markdown(report: dict) -> str:
    lines = ["| quadrant | baseline arousal | baseline valence | model arousal | model valence | notes/bar |",
             "|---|---|---|---|---|---|"]
    for name, r in list(report["quadrants"].items()) + [("overall", report["overall"])]:
        lines.append(f"| {name} | {r['baseline_arousal']:.2f} | {r['baseline_valence']:.2f} | "
                     f"{r['model_arousal']:.2f} | {r['model_valence']:.2f} | {r['notes_per_bar']:.1f} |")
    return "\n".join(lines)
