"""`cdgmvae generate` judged by the MIDI file it writes, read with mido (tests/midi_check.py), not by the
numbers it prints: every bar asked for is in the file, and an emotion is the valence and arousal of its
quadrant on Russell's circumplex (Q1 happy V+A+, Q2 tense V-A+, Q3 sad V-A-, Q4 calm V+A-), as the music
shows it: more notes for high arousal, major thirds and sixths over the tonic for high valence."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import mido
import pytest
from helpers_model import one_thread

from cdgmvae import cli
from tests.midi_check import file_notes

_one_thread = pytest.fixture(autouse=True)(one_thread)

# Russell's quadrants as (valence, arousal) in [0, 1], written out here, not taken from engine/emotion.py
QUADRANT_VA = {"happy": (1.0, 1.0), "tense": (0.0, 1.0), "sad": (0.0, 0.0), "calm": (1.0, 0.0)}
DRUM_CHANNEL = 9
# pitch classes above the tonic C: the major third and sixth (E, A) against the minor ones (Eb, Ab)
MAJOR, MINOR = {4, 9}, {3, 8}


def generate(capsys, out: Path, *target: str, bars: int = 4, seed: int = 0) -> dict:
    assert cli.main(["generate", *target, "--bars", str(bars), "--seed", str(seed), "--tonic", "C",
                     "--threads", "1", "--out", str(out)]) == 0
    return json.loads(capsys.readouterr().out)


def bar_onsets(path: Path) -> tuple[Counter, int]:
    """(notes starting in each bar, the number of bars) of a MIDI file, bars from its 4/4 time signature."""
    midi = mido.MidiFile(path)
    signatures = [m for track in midi.tracks for m in track if m.type == "time_signature"]
    assert [(m.numerator, m.denominator) for m in signatures] == [(4, 4)]
    ticks_per_bar = midi.ticks_per_beat * 4
    notes, faults = file_notes(path)
    assert not faults, faults
    return Counter(int(n.start // ticks_per_bar) for n in notes), ticks_per_bar


@pytest.mark.parametrize("emotion", sorted(QUADRANT_VA))
def test_an_emotion_writes_the_file_of_its_quadrants_valence_and_arousal(tmp_path, capsys, emotion):
    valence, arousal = QUADRANT_VA[emotion]
    report = generate(capsys, tmp_path / "named.mid", "--emotion", emotion, bars=1)
    assert (report["emotion"], report["valence"], report["arousal"]) == (emotion, valence, arousal)
    generate(capsys, tmp_path / "explicit.mid", "--valence", str(valence), "--arousal", str(arousal), bars=1)
    assert (tmp_path / "named.mid").read_bytes() == (tmp_path / "explicit.mid").read_bytes()
    if valence != arousal:
        generate(capsys, tmp_path / "swapped.mid", "--valence", str(arousal), "--arousal", str(valence), bars=1)
        assert (tmp_path / "named.mid").read_bytes() != (tmp_path / "swapped.mid").read_bytes()


def test_every_bar_asked_for_is_in_the_file(tmp_path, capsys):
    for bars in (1, 5):
        out = tmp_path / f"{bars}.mid"
        assert generate(capsys, out, "--emotion", "happy", bars=bars, seed=3)["bars"] == bars
        onsets, _ = bar_onsets(out)
        assert sorted(onsets) == list(range(bars)), onsets   # notes start in each bar, and after none


def test_calm_and_tense_sound_as_their_quadrants(tmp_path, capsys):
    """calm (V+ A-) against tense (V- A+), same seeds and tonic: a swap of valence and arousal on the way in
    turns both comparisons round. Measured on the bundled model: ~1.3 times the notes, and ~3 to 8 times the
    major (or minor) thirds and sixths."""
    notes, thirds = Counter(), {emotion: Counter() for emotion in ("calm", "tense")}
    for emotion in thirds:
        for seed in range(3):
            out = tmp_path / f"{emotion}{seed}.mid"
            generate(capsys, out, "--emotion", emotion, seed=seed)
            onsets, _ = bar_onsets(out)
            assert sorted(onsets) == [0, 1, 2, 3]
            notes[emotion] += sum(onsets.values())
            for note in file_notes(out)[0]:
                if note.channel != DRUM_CHANNEL:
                    thirds[emotion]["major" if note.pitch % 12 in MAJOR else
                                    "minor" if note.pitch % 12 in MINOR else "other"] += 1
    assert notes["tense"] >= 1.1 * notes["calm"], notes
    assert thirds["calm"]["major"] >= 2 * thirds["calm"]["minor"], thirds
    assert thirds["tense"]["minor"] >= 2 * thirds["tense"]["major"], thirds
