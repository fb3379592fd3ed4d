"""Per-bar musical features (docs/ARCHITECTURE.md, *Data*): the rhythm 16-vector f_r and the key f_k among 24."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from cdgmvae.engine import vocab as V
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.notes import GridNote

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
KEY_NAMES = tuple(f"{n} major" for n in PITCH_NAMES) + tuple(f"{n} minor" for n in PITCH_NAMES)
N_PITCH_CLASSES = len(PITCH_NAMES)
N_KEYS = len(KEY_NAMES)          # f_k: 12 major keys (0..11, on C..B), then 12 minor
N_RHYTHM = V.POSITIONS_PER_BAR   # f_r: note onsets at each 16th of the bar

# sharps and flats beyond PITCH_NAMES' spelling
_ENHARMONIC = {"DB": 1, "D#": 3, "GB": 6, "G#": 8, "A#": 10}


def parse_tonic(name: str) -> int:
    """'A', 'f#', 'Bb' ... -> 0..11."""
    key = name.strip().upper()
    names = {n.upper(): i for i, n in enumerate(PITCH_NAMES)} | _ENHARMONIC
    if key not in names:
        raise UserError(f"unknown tonic {name!r}; use a note name: {', '.join(PITCH_NAMES)}")
    return names[key]


# Krumhansl-Kessler key profiles, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
KEY_PROFILES = np.stack([np.roll(MAJOR_PROFILE, k) for k in range(N_PITCH_CLASSES)] +
                        [np.roll(MINOR_PROFILE, k) for k in range(N_PITCH_CLASSES)])  # [24, 12]

# Weights of the previous, current and next bar when smoothing the pitch-class profile.
SMOOTHING = (0.5, 1.0, 0.5)


def rhythm_vector(notes: Sequence[GridNote]) -> np.ndarray:
    """Number of note onsets at each 16th of the bar (all tracks)."""
    onsets = np.zeros(N_RHYTHM, dtype=np.float32)
    for note in notes:
        onsets[note.position] += 1
    return onsets


def pitch_class_profile(notes: Sequence[GridNote]) -> np.ndarray:
    """Duration-weighted pitch classes of the pitched tracks, counting only the part inside the bar."""
    profile = np.zeros(N_PITCH_CLASSES)
    for note in notes:
        if note.track != V.DRUMS:
            profile[note.pitch % N_PITCH_CLASSES] += min(note.duration, V.POSITIONS_PER_BAR - note.position)
    return profile


def clip_profile(bars: Iterable[Sequence[GridNote]]) -> np.ndarray:
    """The pitch-class profile of a whole clip: its bars' profiles summed."""
    return sum((pitch_class_profile(bar) for bar in bars), np.zeros(N_PITCH_CLASSES))


_CENTRED_KEYS = KEY_PROFILES - KEY_PROFILES.mean(axis=1, keepdims=True)
# Centred and of unit length: their dot product with a centred unit-length profile is a correlation.
UNIT_KEY_PROFILES = _CENTRED_KEYS / np.linalg.norm(_CENTRED_KEYS, axis=1, keepdims=True)


def key_scores(profile: np.ndarray) -> np.ndarray:
    """[24] correlation of a pitch-class profile with each key's Krumhansl-Schmuckler profile
    (all 0 for a flat profile)."""
    centred = profile - profile.mean()
    return UNIT_KEY_PROFILES @ centred / (np.linalg.norm(centred) or 1.0)


def major_minus_minor(scores: np.ndarray) -> float:
    """How much better the best major key fits than the best minor key, from key_scores' [24]."""
    return float(scores[:N_PITCH_CLASSES].max() - scores[N_PITCH_CLASSES:].max())


def key_of_profile(profile: np.ndarray) -> int:
    """The key whose Krumhansl-Schmuckler profile correlates best with a pitch-class profile."""
    return int(np.argmax(key_scores(profile)))


def bar_keys(bars: Sequence[Sequence[GridNote]]) -> np.ndarray:
    """Key per bar (0..11 major on C..B, 12..23 minor), from profiles smoothed with the neighbouring bars.
    A bar with no pitched notes nearby takes the previous bar's key (C major at the start)."""
    profiles = np.array([pitch_class_profile(b) for b in bars]).reshape(len(bars), N_PITCH_CLASSES)
    padded = np.pad(profiles, ((1, 1), (0, 0)))
    smoothed = sum(w * padded[i: i + len(bars)] for i, w in enumerate(SMOOTHING))
    keys = np.zeros(len(bars), dtype=np.int64)
    for i, profile in enumerate(smoothed):
        flat = np.ptp(profile) == 0
        keys[i] = (keys[i - 1] if i else 0) if flat else key_of_profile(profile)
    return keys


def piece_features(bars: Sequence[Sequence[GridNote]]) -> tuple[np.ndarray, np.ndarray]:
    """(rhythm [n_bars, 16] float32, key [n_bars] int64)."""
    rhythm = np.array([rhythm_vector(b) for b in bars], dtype=np.float32).reshape(len(bars), N_RHYTHM)
    return rhythm, bar_keys(bars)
