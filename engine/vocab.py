"""The REMI vocabulary of the paper (section 4.2): 923 tokens.

Layout of the ids, in order:
    PAD, EOS, Bar, Position_0..15, Tempo_0..23,
    then per track (Drums, Piano, Guitar, Bass, Strings):
    Pitch-<track>_0..127, Velocity-<track>_0..31, Duration-<track>_1..16

A bar is the token list ``Bar Tempo (Position (Pitch Velocity Duration)+)* EOS``:
EOS closes each bar's sequence, so the decoder knows where a bar ends.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

TRACKS = ("Drums", "Piano", "Guitar", "Bass", "Strings")
DRUMS, PIANO, GUITAR, BASS, STRINGS = range(5)

POSITIONS_PER_BAR = 16          # 16th notes in a 4/4 bar
BEATS_PER_BAR = 4
N_TEMPO_BINS = 24
N_VELOCITY_BINS = 32
MAX_DURATION = 16               # in 16ths: one bar is the longest duration bin
TEMPO_MIN = 30.0                # BPM of the lowest tempo bin
TEMPO_BINS_PER_OCTAVE = 8       # bins step by 2**(1/8): 30 .. 220 BPM, 120 BPM exact

PAD, EOS, BAR = 0, 1, 2
POSITION_BASE = 3
TEMPO_BASE = POSITION_BASE + POSITIONS_PER_BAR
TRACK_BASE = TEMPO_BASE + N_TEMPO_BINS
PER_TRACK = 128 + N_VELOCITY_BINS + MAX_DURATION
VOCAB_SIZE = TRACK_BASE + len(TRACKS) * PER_TRACK  # 923

# Token kinds, used by the grammar mask and the codec.
KIND_PAD, KIND_EOS, KIND_BAR, KIND_POSITION, KIND_TEMPO, KIND_PITCH, KIND_VELOCITY, KIND_DURATION = range(8)


def position_token(position: int) -> int:
    return POSITION_BASE + position


def tempo_token(tempo_bin: int) -> int:
    return TEMPO_BASE + tempo_bin


def pitch_token(track: int, pitch: int) -> int:
    return TRACK_BASE + track * PER_TRACK + pitch


def velocity_token(track: int, velocity_bin: int) -> int:
    return TRACK_BASE + track * PER_TRACK + 128 + velocity_bin


def duration_token(track: int, sixteenths: int) -> int:
    return TRACK_BASE + track * PER_TRACK + 128 + N_VELOCITY_BINS + sixteenths - 1


@dataclass(frozen=True)
class TokenInfo:
    kind: int
    value: int   # position, tempo bin, pitch, velocity bin or duration in 16ths; 0 otherwise
    track: int   # -1 for tokens without a track


def describe(token: int) -> TokenInfo:
    """What a token id means."""
    if not 0 <= token < VOCAB_SIZE:
        raise ValueError(f"token {token} is outside the vocabulary (0..{VOCAB_SIZE - 1})")
    if token in (PAD, EOS, BAR):
        return TokenInfo((KIND_PAD, KIND_EOS, KIND_BAR)[token], 0, -1)
    if token < TEMPO_BASE:
        return TokenInfo(KIND_POSITION, token - POSITION_BASE, -1)
    if token < TRACK_BASE:
        return TokenInfo(KIND_TEMPO, token - TEMPO_BASE, -1)
    track, offset = divmod(token - TRACK_BASE, PER_TRACK)
    if offset < 128:
        return TokenInfo(KIND_PITCH, offset, track)
    if offset < 128 + N_VELOCITY_BINS:
        return TokenInfo(KIND_VELOCITY, offset - 128, track)
    return TokenInfo(KIND_DURATION, offset - 128 - N_VELOCITY_BINS + 1, track)


def token_name(token: int) -> str:
    info = describe(token)
    if info.kind == KIND_PAD:
        return "PAD"
    if info.kind == KIND_EOS:
        return "EOS"
    if info.kind == KIND_BAR:
        return "Bar"
    if info.kind == KIND_POSITION:
        return f"Position_{info.value}"
    if info.kind == KIND_TEMPO:
        return f"Tempo_{tempo_bin_bpm(info.value):.0f}"
    kind = {KIND_PITCH: "Pitch", KIND_VELOCITY: "Velocity", KIND_DURATION: "Duration"}[info.kind]
    return f"{kind}-{TRACKS[info.track]}_{info.value}"


# Arrays over the whole vocabulary, for vectorised grammar masks and feature code.
TOKEN_KIND = np.array([describe(t).kind for t in range(VOCAB_SIZE)], dtype=np.int64)
TOKEN_VALUE = np.array([describe(t).value for t in range(VOCAB_SIZE)], dtype=np.int64)
TOKEN_TRACK = np.array([describe(t).track for t in range(VOCAB_SIZE)], dtype=np.int64)
TOKEN_POSITION = np.where(TOKEN_KIND == KIND_POSITION, TOKEN_VALUE, -1)  # the 16th of Position tokens, else -1


def tempo_to_bin(bpm: float) -> int:
    """Tempo bins are evenly spaced in log-tempo; tempos outside the range go to the end bins."""
    steps = TEMPO_BINS_PER_OCTAVE * np.log2(max(float(bpm), 1.0) / TEMPO_MIN)
    return int(min(max(round(steps), 0), N_TEMPO_BINS - 1))


def tempo_in_range(bpm: float) -> bool:
    """Whether `bpm` lies within the bins' range (up to half a bin step beyond the end bins), so that
    tempo_to_bin does not clamp it."""
    steps = TEMPO_BINS_PER_OCTAVE * np.log2(max(float(bpm), 1e-9) / TEMPO_MIN)
    return -0.5 <= steps <= N_TEMPO_BINS - 0.5


def tempo_bin_bpm(tempo_bin: int) -> float:
    return float(TEMPO_MIN * 2.0 ** (tempo_bin / TEMPO_BINS_PER_OCTAVE))


def velocity_to_bin(velocity: int) -> int:
    return min(max(int(velocity), 0), 127) * N_VELOCITY_BINS // 128


def velocity_bin_value(velocity_bin: int) -> int:
    """The MIDI velocity a bin decodes to: the middle of the bin, at least 1 (0 would be a note-off)."""
    width = 128 // N_VELOCITY_BINS
    return max(1, velocity_bin * width + width // 2)


def fingerprint() -> str:
    """A short hash of the vocabulary layout; checkpoints store it so a mismatch is caught on load."""
    layout = {
        "tracks": TRACKS, "positions": POSITIONS_PER_BAR, "tempo_bins": N_TEMPO_BINS,
        "tempo": [TEMPO_MIN, TEMPO_BINS_PER_OCTAVE], "velocity_bins": N_VELOCITY_BINS,
        "max_duration": MAX_DURATION, "size": VOCAB_SIZE,
    }
    return hashlib.sha256(json.dumps(layout, sort_keys=True).encode()).hexdigest()[:16]
