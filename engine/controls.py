"""What steers generation from the next bar on: the target emotion, how fast it is reached, and the draw.

One definition for the engine (`Generator.controls`) and the live bridge (`bridge.sources.LiveControls`
adds what only a performance has). It needs no torch, so the live sender process reads it cheaply.
"""
from __future__ import annotations

from dataclasses import dataclass

from cdgmvae.engine.emotion import DEFAULT_KEY_STRENGTH, emotion_va


@dataclass(frozen=True)
class Controls:
    """The generator's settings. Valence and arousal are targets in [0, 1] on the line between each factor's
    low (0) and high (1) mixture component; lam is the transition amount λ of Eq 23 applied per bar.

    The defaults are a neutral start: valence and arousal halfway, λ = 1 (each bar at its target at once,
    so a constant target gives a piece that stays there), temperature 1, top-p 0.95, key guidance at
    DEFAULT_KEY_STRENGTH. Commands start from their own options: `cdgmvae live` from --emotion happy and
    --lambda 0.5, which glides, as a performer moves the target while it plays.

    Raises ValueError for valence, arousal or lam outside [0, 1], top_p outside (0, 1] or a negative
    key_strength.
    """
    valence: float = 0.5      # target, 0..1
    arousal: float = 0.5      # target, 0..1
    lam: float = 1.0          # how far each bar moves toward the target, 0..1
    temperature: float = 1.0
    top_p: float = 0.95
    variety: float = 1.0      # spread of each bar's latents around the path, in prior standard deviations
    key_strength: float = DEFAULT_KEY_STRENGTH  # key guidance: pull toward the piece's key and valence's mode

    def __post_init__(self):
        for name in ("valence", "arousal", "lam"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.key_strength < 0.0:
            raise ValueError(f"key_strength must be at least 0, got {self.key_strength}")

    @classmethod
    def for_emotion(cls, emotion: str, **kwargs) -> Controls:
        """A quadrant's corner (happy, tense, sad, calm or Q1..Q4); UserError for another name."""
        valence, arousal = emotion_va(emotion)
        return cls(valence=valence, arousal=arousal, **kwargs)
