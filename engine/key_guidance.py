"""Key guidance: keep a piece in one key, in the mode that its valence asks for.

The bundled model's bars do not hold a key: they fit their best key profile less well than EMOPIA's bars,
and the next bar keeps the key about as often as chance (MODEL.md, *Key guidance, and why it is needed*;
bench/tonality.py measures it). Valence, which listeners (and the reference classifier) hear mostly as
major against minor, then hardly comes through. Key guidance adds
to each pitched note's logit `strength` times how well its pitch class fits the piece's key: the
Krumhansl-Kessler profile of the piece's tonic, its major and minor profiles blended by valence (1 =
major, 0 = minor), after the temperature (BarCache.choose): the pull is the same at every temperature, so a
low temperature does not pile a bar onto the tonic in every octave. Strength 0 turns it off and leaves the
model's own distribution.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from cdgmvae.engine import codec
from cdgmvae.engine.features import N_PITCH_CLASSES, UNIT_KEY_PROFILES, clip_profile, key_of_profile
from torch import Tensor


def key_profile(tonic: int, valence: float) -> Tensor:
    """[12]: the centred, unit-length profile of `tonic` major (valence 1) or minor (valence 0), blended."""
    tonic %= N_PITCH_CLASSES
    major = torch.as_tensor(UNIT_KEY_PROFILES[tonic], dtype=torch.float32)
    minor = torch.as_tensor(UNIT_KEY_PROFILES[N_PITCH_CLASSES + tonic], dtype=torch.float32)
    return valence * major + (1.0 - valence) * minor


def pitch_bias(token_pitch_class: Tensor, tonic: int, valence: float, strength: float) -> Tensor:
    """[V] logit bias: strength x the key profile at each pitched token's pitch class, 0 for other tokens
    (token_pitch_class [V] holds N_PITCH_CLASSES for tokens that are not pitched notes)."""
    profile = F.pad(key_profile(tonic, valence), (0, 1)).to(token_pitch_class.device)
    return strength * profile[token_pitch_class]


def tonic_of(bars: Sequence[Sequence[int]]) -> int:
    """The tonic (0 = C .. 11 = B) of the best-fitting key of bars of tokens; C for bars without notes."""
    profile = clip_profile(codec.bar_notes(list(bar)) for bar in bars)
    return key_of_profile(profile) % N_PITCH_CLASSES if profile.any() else 0
