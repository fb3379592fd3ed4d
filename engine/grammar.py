"""The REMI grammar of one bar as tensor masks, so that sampling never leaves valid REMI.

    Bar -> Tempo -> (Position -> (Pitch-t Velocity-t Duration-t)+)* -> EOS -> PAD...

Positions rise strictly within a bar, a note's Pitch, Velocity and Duration share one track, and a bar
ends with room for EOS within L tokens. Beyond REMI's syntax, what a player can sound:
- each track's pitches stay in its instrument's range (notes.TRACK_RANGE), at any temperature;
- a position holds a pitch once per track: MIDI cannot sound one key twice on one channel, and a second
  strike at the same onset would be a zero-length note.
The state is a few tensors updated in place with tensor ops only, so a decoding loop needs no host-device
synchronisation to apply it, and a compiled step or a captured CUDA graph holds it.
"""
from __future__ import annotations

import functools

import torch
from cdgmvae.engine import vocab as V
from cdgmvae.engine.notes import TRACK_RANGE
from torch import Tensor

NOTE_TOKENS = 3      # Pitch, Velocity, Duration
_MAX_NEW_NOTE = 1 + NOTE_TOKENS + 1  # Position + note + EOS: room a new position needs


def playable_pitches() -> Tensor:
    """[V] bool: Pitch tokens inside their track's range (notes.TRACK_RANGE); False for other tokens."""
    kind, track, value = (torch.as_tensor(a) for a in (V.TOKEN_KIND, V.TOKEN_TRACK, V.TOKEN_VALUE))
    low, high = (torch.tensor([r[i] for r in TRACK_RANGE])[track.clamp(min=0)] for i in (0, 1))
    return (kind == V.KIND_PITCH) & (low <= value) & (value <= high)


@functools.cache
def _next_token_table() -> Tensor:
    """[V, V] bool: which tokens may follow each token, ignoring positions and length."""
    kind, track = torch.as_tensor(V.TOKEN_KIND), torch.as_tensor(V.TOKEN_TRACK)
    is_ = {k: kind == k for k in range(8)}
    is_[V.KIND_PITCH] = playable_pitches()  # a pitch outside its track's range never follows anything
    table = torch.zeros(V.VOCAB_SIZE, V.VOCAB_SIZE, dtype=torch.bool)
    table[V.BAR] = is_[V.KIND_TEMPO]
    table[is_[V.KIND_TEMPO]] = is_[V.KIND_POSITION] | is_[V.KIND_EOS]
    table[is_[V.KIND_POSITION]] = is_[V.KIND_PITCH]
    for t in range(len(V.TRACKS)):
        same_track = track == t
        table[is_[V.KIND_PITCH] & same_track] = is_[V.KIND_VELOCITY] & same_track
        table[is_[V.KIND_VELOCITY] & same_track] = is_[V.KIND_DURATION] & same_track
    table[is_[V.KIND_DURATION]] = is_[V.KIND_PITCH] | is_[V.KIND_POSITION] | is_[V.KIND_EOS]
    table[V.EOS, V.PAD] = True
    table[V.PAD, V.PAD] = True
    return table


class Grammar:
    """Masks for a batch of bars being decoded. Call `mask(length)` before sampling token number
    `length` (0-based) and `update(tokens)` after."""

    def __init__(self, batch: int, bar_len: int, device: torch.device | str = "cpu"):
        self.bar_len = bar_len
        self.next_table = _next_token_table().to(device)  # built once per process, not per bar
        self.position_value = torch.as_tensor(V.TOKEN_POSITION, device=device)
        self.is_position = self.position_value >= 0
        self.is_pitch = (torch.as_tensor(V.TOKEN_KIND) == V.KIND_PITCH).to(device)
        self.is_eos = torch.zeros(V.VOCAB_SIZE, dtype=torch.bool, device=device)
        self.is_eos[V.EOS] = True
        self.token_ids = torch.arange(V.VOCAB_SIZE, device=device)
        self.last = torch.full((batch,), V.BAR, dtype=torch.long, device=device)
        self.position = torch.full((batch,), -1, dtype=torch.long, device=device)
        # [B, V]: the Pitch tokens written at the current position (a Pitch token names its track)
        self.struck = torch.zeros(batch, V.VOCAB_SIZE, dtype=torch.bool, device=device)

    def reset(self) -> None:
        """A new bar: only Bar has been written."""
        self.last.fill_(V.BAR)
        self.position.fill_(-1)
        self.struck.fill_(False)

    def mask(self, length: int | Tensor, min_length: int | Tensor = 0) -> Tensor:
        """[B, V] bool: tokens allowed as token number `length` of each bar (Bar is token 0).
        `min_length` holds EOS back until the bar has that many tokens (benchmarks use full bars).
        Both may be 0-dim tensors: no branch depends on their values, so a compiled step can hold this."""
        allowed = self.next_table[self.last] & ~self.struck
        allowed = allowed & ~(self.is_position & (self.position_value <= self.position[:, None]))
        room = self.bar_len - length
        allowed = allowed & ~(self.is_position & (room < _MAX_NEW_NOTE))
        allowed = allowed & ~(self.is_pitch & (room < NOTE_TOKENS + 1))  # a new note would not fit before EOS
        # keep at least one way forward: while EOS is held back, it is allowed only when nothing else is
        others = (allowed & ~self.is_eos).any(-1, keepdim=True)
        return allowed & ~(self.is_eos & (length < min_length) & others)

    def update(self, tokens: Tensor) -> None:
        new_position = self.is_position[tokens]
        self.last.copy_(tokens)
        self.position.copy_(torch.where(new_position, self.position_value[tokens], self.position))
        written = (self.token_ids == tokens[:, None]) & self.is_pitch[tokens][:, None]
        self.struck.copy_((self.struck & ~new_position[:, None]) | written)


def is_valid_bar(tokens: list[int], bar_len: int) -> bool:
    """Whether a bar's tokens follow the grammar (used by tests and by checks on generated output)."""
    if not tokens or tokens[0] != V.BAR or len(tokens) > bar_len:
        return False
    grammar = Grammar(1, bar_len)
    for length, token in enumerate(tokens[1:], start=1):
        if not bool(grammar.mask(length)[0, token]):
            return False
        grammar.update(torch.tensor([token]))
    return tokens[-1] == V.EOS
