"""Key guidance: keep a piece in one key, in the mode that its valence asks for.

Key guidance adds to each pitched note's logit `strength` times how well its pitch class fits the piece's
key, the key's major and minor profiles blended by valence (1 = major, 0 = minor), after the temperature
(BarCache.choose): the pull is the same at every temperature, so a low temperature does not pile a bar
onto the tonic in every octave. Strength 0 turns it off and leaves the model's own distribution.

Two profiles (`PROFILES`):
- `scale`, a scale lock: the major scale's or the natural minor scale's seven pitch classes up, the other
  five down, no note of the scale favoured over another. What a musician's scale lock does; used with a
  latent prior, which already gives the piece its key and tonal centre (engine/prior.py).
- `krumhansl`: the Krumhansl-Kessler profile, which also leans on the tonic, the third and the fifth.
  Without a latent prior the model's bars hold no key from bar to bar, so the guidance itself has to
  give the tonal centre (MODEL.md, *Key guidance, and why it is needed*); with a prior the two leanings
  add up and a bar piles onto its tonic.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from cdgmvae.engine import codec
from cdgmvae.engine.features import N_PITCH_CLASSES, UNIT_KEY_PROFILES, clip_profile, key_of_profile
from torch import Tensor

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
NATURAL_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)


def _unit(profile: np.ndarray) -> np.ndarray:
    centred = profile - profile.mean()
    return centred / np.linalg.norm(centred)


def _scale_profiles() -> np.ndarray:
    """[24, 12]: centred, unit-length indicator of each key's scale (0..11 major, 12..23 natural minor)."""
    rows = []
    for steps in (MAJOR_SCALE, NATURAL_MINOR_SCALE):
        indicator = np.zeros(N_PITCH_CLASSES)
        indicator[list(steps)] = 1.0
        rows += [_unit(np.roll(indicator, tonic)) for tonic in range(N_PITCH_CLASSES)]
    return np.stack(rows)


PROFILES = {"scale": _scale_profiles(), "krumhansl": UNIT_KEY_PROFILES}


def key_profile(tonic: int, valence: float, kind: str = "krumhansl") -> Tensor:
    """[12]: the centred, unit-length profile (`PROFILES[kind]`) of `tonic` major (valence 1) or minor
    (valence 0), blended."""
    tonic %= N_PITCH_CLASSES
    major = torch.as_tensor(PROFILES[kind][tonic], dtype=torch.float32)
    minor = torch.as_tensor(PROFILES[kind][N_PITCH_CLASSES + tonic], dtype=torch.float32)
    return valence * major + (1.0 - valence) * minor


def pitch_bias(token_pitch_class: Tensor, tonic: int, valence: float, strength: float,
               kind: str = "krumhansl") -> Tensor:
    """[V] logit bias: strength x the key profile at each pitched token's pitch class, 0 for other tokens
    (token_pitch_class [V] holds N_PITCH_CLASSES for tokens that are not pitched notes)."""
    profile = F.pad(key_profile(tonic, valence, kind), (0, 1)).to(token_pitch_class.device)
    return strength * profile[token_pitch_class]


def tonic_of(bars: Sequence[Sequence[int]]) -> int:
    """The tonic (0 = C .. 11 = B) of the best-fitting key of bars of tokens; C for bars without notes."""
    profile = clip_profile(codec.bar_notes(list(bar)) for bar in bars)
    return key_of_profile(profile) % N_PITCH_CLASSES if profile.any() else 0
