"""Emotions as valence and arousal (docs/ARCHITECTURE.md, *Data*): Q1 happy, Q2 tense, Q3 sad, Q4 calm.

The one table of the quadrants: their names, EMOPIA's labels Q1..Q4 and their (valence, arousal) corners.
"""
from __future__ import annotations

from cdgmvae.engine.errors import UserError

# (valence, arousal) of each quadrant's corner
EMOTION_VA = {"happy": (1.0, 1.0), "tense": (0.0, 1.0), "sad": (0.0, 0.0), "calm": (1.0, 0.0)}
QUADRANTS = {"happy": "Q1", "tense": "Q2", "sad": "Q3", "calm": "Q4"}
EMOTIONS = tuple(EMOTION_VA)
# How strongly the engine voices valence as major or minor and keeps a piece in one key
# (engine/key_guidance.py); here, without torch, so that the live bridge's processes can read it too.
DEFAULT_KEY_STRENGTH = 3.0  # why 3: MODEL.md, Key guidance
MAX_KEY_STRENGTH = 4.0


def emotion_va(name: str) -> tuple[float, float]:
    key = name.strip().lower()
    for emotion, quadrant in QUADRANTS.items():
        if key in (emotion, quadrant.lower()):
            return EMOTION_VA[emotion]
    raise UserError(f"unknown emotion {name!r}; choose one of {', '.join(EMOTIONS)} (or Q1..Q4)")


def nearest_emotion(valence: float, arousal: float) -> str:
    """The quadrant whose corner is nearest (valence, arousal) in [0, 1]^2: each split at 0.5."""
    return next(emotion for emotion, corner in EMOTION_VA.items()
                if corner == (float(valence >= 0.5), float(arousal >= 0.5)))


def quadrant(valence: float, arousal: float) -> str:
    """"Q1".."Q4" of nearest_emotion."""
    return QUADRANTS[nearest_emotion(valence, arousal)]
