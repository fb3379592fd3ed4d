"""Sampled bars are valid REMI, judged by tests/remi_check.py (written from the specification), not by the
grammar masks that constrain the sampling: decode the tokens to notes and inspect them."""
from __future__ import annotations

import pytest
import torch
from cdgmvae.engine.generator import Controls, Generator

from tests.remi_check import TRACK_RANGE, Note, read_bar, token_id

BAR_LEN = 128  # L of the bundled model


def note(track: str, pitch: int, velocity: int = 20, duration: int = 4) -> list[int]:
    return [token_id("Pitch", pitch, track), token_id("Velocity", velocity, track),
            token_id("Duration", duration, track)]


START = [token_id("Bar"), token_id("Tempo", 8)]
END = [token_id("EOS")]


def test_the_checker_reads_a_valid_bar_and_names_each_fault():
    bar = START + [token_id("Position", 0)] + note("Piano", 60) + note("Bass", 40, 10, 16) \
        + [token_id("Position", 12)] + note("Drums", 36, 31, 1) + END
    notes, faults = read_bar(bar, BAR_LEN)
    assert faults == []
    assert notes == [Note("Piano", 60, 0, 4, 20), Note("Bass", 40, 0, 16, 10), Note("Drums", 36, 12, 1, 31)]
    assert read_bar(START + END, BAR_LEN) == ([], [])                       # an empty bar is valid REMI
    p0, p4 = token_id("Position", 0), token_id("Position", 4)
    broken = {
        "no Tempo": [token_id("Bar"), p0] + note("Piano", 60) + END,
        "no EOS": START + [p0] + note("Piano", 60),
        "too long": START + [p0] + note("Piano", 60) + [token_id("PAD")] * BAR_LEN + END,
        "a note before any Position": START + note("Piano", 60) + END,
        "a note's tokens on two tracks": START + [p0, note("Piano", 60)[0]] + note("Guitar", 60)[1:] + END,
        "a note without its Velocity": START + [p0] + note("Piano", 60)[::2] + END,
        "an empty Position": START + [p0, p4] + note("Piano", 60) + END,
        "positions falling": START + [p4] + note("Piano", 60) + [p0] + note("Piano", 62) + END,
        "a position twice": START + [p4] + note("Piano", 60) + [p4] + note("Piano", 62) + END,
        "a bass pitch below E1": START + [p0] + note("Bass", 27) + END,
        "a drum key outside GM's map": START + [p0] + note("Drums", 82) + END,
        "a key struck twice at one onset": START + [p0] + note("Piano", 60) + note("Piano", 60, 5, 2) + END,
    }
    for name, tokens in broken.items():
        assert read_bar(tokens, BAR_LEN)[1], name
    # the same key on another track, or at a later onset, is fine
    assert read_bar(START + [p0] + note("Piano", 60) + note("Strings", 60) + [p4] + note("Piano", 60) + END,
                    BAR_LEN)[1] == []


@pytest.fixture(scope="module")
def hot_bars() -> list[list[int]]:
    """96 bars of the bundled model at temperature 2 without a nucleus cut, where only the grammar keeps the
    sampling in REMI: 16 candidates a bar, across moods."""
    torch.set_num_threads(1)
    bars = []
    for seed, (valence, arousal) in enumerate([(1.0, 1.0), (0.0, 0.0)]):
        generator = Generator.load(seed=seed, candidates=16, use_prior=False,
                                   controls=Controls(valence=valence, arousal=arousal, temperature=2.0, top_p=1.0))
        for _ in range(3):
            bar = generator.next_bar()
            bars += [bar.tokens] + bar.alternatives
    return bars


def test_sampled_bars_are_valid_remi_with_notes_a_player_can_sound(hot_bars):
    assert len(hot_bars) == 96
    notes, faults = [], []
    for tokens in hot_bars:
        bar_notes, bar_faults = read_bar(tokens, BAR_LEN)
        notes += bar_notes
        faults += bar_faults
    assert faults == [], f"{len(faults)} faults, the first: {faults[:5]}"
    assert len(notes) > 500
    # the sampling reaches every track, so each track's range and notes were put to the test
    assert {n.track for n in notes} == set(TRACK_RANGE)
