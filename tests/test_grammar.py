"""The grammar mask beyond REMI's syntax: what a player can sound (issue 15, items 7 and 9)."""
from __future__ import annotations

import pytest
import torch
from cdgmvae.engine import vocab as V
from cdgmvae.engine.generator import Controls, Generator
from cdgmvae.engine.grammar import Grammar

from tests.midi_check import CHANNEL, RANGE

TRACK_RANGE = {name: RANGE[CHANNEL[name]] for name in V.TRACKS}  # the documented ranges, by track


def fed(grammar: Grammar, tokens: list[int]) -> Grammar:
    for token in tokens:
        grammar.update(torch.tensor([token]))
    return grammar


def note(track: int, pitch: int) -> list[int]:
    return [V.pitch_token(track, pitch), V.velocity_token(track, 20), V.duration_token(track, 4)]


def offered(grammar: Grammar, length: int) -> set[str]:
    return {V.token_name(t) for t in torch.nonzero(grammar.mask(length)[0]).flatten().tolist()}


def test_a_position_offers_a_pitch_once_per_track():
    start = [V.tempo_token(8), V.position_token(0)]
    grammar = fed(Grammar(1, 128), start + note(V.PIANO, 60))
    after = offered(grammar, 1 + len(start) + 3)
    assert "Pitch-Piano_60" not in after                       # the same key again, at the same onset
    assert {"Pitch-Piano_61", "Pitch-Bass_60", "Position_1", "EOS"} <= after  # another key or track is fine
    fed(grammar, [V.position_token(4)])
    assert "Pitch-Piano_60" in offered(grammar, 1 + len(start) + 4)  # a later onset may strike it again
    grammar.reset()
    fed(grammar, start)
    assert "Pitch-Piano_60" in offered(grammar, 1 + len(start))


def test_pitches_outside_a_tracks_range_are_never_offered():
    grammar = fed(Grammar(1, 128), [V.tempo_token(8), V.position_token(0)])
    pitches = {}
    for name in offered(grammar, 3):
        track, pitch = name.removeprefix("Pitch-").split("_")
        pitches.setdefault(track, set()).add(int(pitch))
    assert pitches == {name: set(range(low, high + 1)) for name, (low, high) in TRACK_RANGE.items()}


@pytest.fixture(scope="module")
def hot_bars() -> list[list[int]]:
    """64 bars sampled at temperature 2 without a nucleus cut, 16 candidates at a time."""
    torch.set_num_threads(1)
    generator = Generator.load(seed=1, candidates=16,
                               controls=Controls(valence=0.5, arousal=1.0, temperature=2.0, top_p=1.0))
    bars = []
    for _ in range(4):
        bar = generator.next_bar()
        bars += [bar.tokens] + bar.alternatives
    return bars


def test_sampled_bars_strike_a_key_once_per_onset_and_stay_in_range(hot_bars):
    notes = 0
    for tokens in hot_bars:
        position, seen = None, set()
        for token in tokens:
            info = V.describe(token)
            if info.kind == V.KIND_POSITION:
                position, seen = info.value, set()
            elif info.kind == V.KIND_PITCH:
                notes += 1
                low, high = TRACK_RANGE[V.TRACKS[info.track]]
                assert low <= info.value <= high, V.token_name(token)
                assert (info.track, info.value) not in seen, f"{V.token_name(token)} twice at {position}"
                seen.add((info.track, info.value))
    assert notes > 500
