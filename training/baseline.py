"""The reference classifier: logistic regression on hand-made clip features, one per emotion dimension.

Every report shows it beside the model, and `evaluate-control` uses it as an independent judge of
generated music. Its weights are a small JSON file; the bundled ones (baseline.json) are fitted on EMOPIA's
clips and shared under CC BY-NC-SA 4.0, as the clips are (engine/default_model/README.md).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cdgmvae.engine import codec
from cdgmvae.engine import vocab as V
from cdgmvae.engine.features import clip_profile, key_scores, major_minus_minor
from cdgmvae.engine.notes import GridNote

FEATURES = ("note_density", "velocity_mean", "velocity_spread", "duration_mean", "pitch_mean", "pitch_spread",
            "major_minus_minor")
DIMENSIONS = ("arousal", "valence")


def clip_features(bars: Sequence[Sequence[GridNote]]) -> np.ndarray:
    """The seven features of a clip, from its notes per bar."""
    notes = [n for bar in bars for n in bar]
    if not notes:
        return np.zeros(len(FEATURES))
    velocity = np.array([n.velocity for n in notes], dtype=float)
    duration = np.array([n.duration for n in notes], dtype=float)
    pitched = np.array([n.pitch for n in notes if n.track != V.DRUMS] or [0], dtype=float)
    scores = key_scores(clip_profile(bars))
    return np.array([len(notes) / len(bars), velocity.mean(), velocity.std(), duration.mean(), pitched.mean(),
                     pitched.std(), major_minus_minor(scores)])


def tokens_to_bars(tokens: np.ndarray) -> list[list[GridNote]]:
    return [codec.bar_notes([int(t) for t in bar if t != V.PAD]) for bar in tokens]


@dataclass
class LogisticRegression:
    """Standardised inputs, one weight vector per dimension, fitted by full-batch gradient descent."""
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray   # [dimensions, features + 1]: the last column is the bias

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 3000, lr: float = 0.5):
        """x [n, features]; y [n, dimensions] of 0/1."""
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-8
        xb = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
        weights = np.zeros((y.shape[1], xb.shape[1]))
        for _ in range(steps):
            p = 1 / (1 + np.exp(-xb @ weights.T))
            grad = (p - y).T @ xb / len(x) + l2 * np.hstack([weights[:, :-1], np.zeros((len(weights), 1))])
            weights -= lr * grad
        return cls(mean, scale, weights)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """P(high) per dimension: [n, dimensions]."""
        xb = np.hstack([(np.atleast_2d(x) - self.mean) / self.scale, np.ones((len(np.atleast_2d(x)), 1))])
        return 1 / (1 + np.exp(-xb @ self.weights.T))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"features": FEATURES, "dimensions": DIMENSIONS, "mean": self.mean.tolist(),
                                    "scale": self.scale.tolist(), "weights": self.weights.tolist()}, indent=1))

    @classmethod
    def load(cls, path: Path) -> LogisticRegression:
        data = json.loads(Path(path).read_text())
        if tuple(data.get("features", ())) != FEATURES:
            raise ValueError(f"{path} was fitted on other features: {data.get('features')}")
        return cls(np.array(data["mean"]), np.array(data["scale"]), np.array(data["weights"]))


def load_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Features and (arousal, valence) labels of the labelled pieces of one split of a prepared dataset."""
    manifest = json.loads((data_dir / "manifest.json").read_text())
    xs, ys = [], []
    for piece in manifest["pieces"]:
        if piece["split"] != split or piece["valence"] is None:
            continue
        with np.load(data_dir / piece["file"], allow_pickle=False) as arrays:
            xs.append(clip_features(tokens_to_bars(arrays["tokens"])))
        ys.append((piece["arousal"], piece["valence"]))
    return np.array(xs), np.array(ys)


def accuracies(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    predicted = probabilities >= 0.5
    correct = predicted == labels.astype(bool)
    return {"arousal": float(correct[:, 0].mean()), "valence": float(correct[:, 1].mean()),
            "quadrant": float(correct.all(axis=1).mean()), "n": int(len(labels))}
