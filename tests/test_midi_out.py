"""MIDI out as a user gets it: the .mid files that generate, transfer, swap and inspect --roundtrip write,
read back with mido (tests/midi_check.py), not with the project's codec.

- No key sounds twice on one channel: no note-on of a sounding key, no note-off that ends a later note,
  no zero-length notes (issue 15, item 7).
- Every note is on its track's channel, whichever tracks are present (item 8).
- Every pitch is in its instrument's range, even at temperature 2 (item 9).
"""
from __future__ import annotations

import itertools
from pathlib import Path

import mido
import pytest
from cdgmvae.engine import codec
from cdgmvae.engine import vocab as V
from cdgmvae.engine.notes import GridNote

from cdgmvae.cli import main as cdgmvae
from tests.midi_check import CHANNEL, RANGE, file_notes

ROOT = Path(__file__).parent.parent
CASES = Path(__file__).parent / "cases" / "midi"
CLIP_HAPPY = ROOT / "data/emopia/midis/Q1_0vLPYiPN7qY_0.mid"   # the transfer case
CLIP_SAD = ROOT / "data/emopia/midis/Q3_Ie5koh4qvJc_5.mid"
SIXTEENTH = codec.DECODE_TICKS_PER_QUARTER // 4


def tokens(bars: list[list[GridNote]]) -> list[list[int]]:
    return [codec.bar_tokens(sorted(notes, key=codec.note_order), V.tempo_to_bin(120))[0] for notes in bars]


def written(tmp_path: Path, bars: list[list[GridNote]], name: str = "out.mid") -> Path:
    """The file the commands write for these bars (commands.common.write_bars saves codec.midi_file)."""
    path = tmp_path / name
    codec.midi_file(tokens(bars)).save(str(path))
    return path


def test_a_key_struck_again_ends_the_earlier_note_and_one_struck_twice_at_once_is_one_note(tmp_path):
    piano, bass, strings = V.PIANO, V.BASS, V.STRINGS
    bars = [
        [GridNote(piano, 60, 100, 0, 8), GridNote(piano, 60, 60, 0, 4),     # struck twice at once
         GridNote(piano, 64, 100, 0, 12), GridNote(piano, 64, 100, 4, 12),  # again while it sounds
         GridNote(bass, 60, 100, 0, 16),                                     # same pitch, other channel
         GridNote(strings, 72, 100, 12, 16)],                                # sounds into the next bar...
        [GridNote(strings, 72, 100, 4, 4)],                                  # ...where it is struck again
    ]
    notes, faults = file_notes(written(tmp_path, bars))
    assert faults == {}
    ticks = {(n.channel, n.pitch, n.start // SIXTEENTH, n.end // SIXTEENTH) for n in notes}
    assert ticks == {(0, 60, 0, 8),                   # the longer of the two, once
                     (0, 64, 0, 4), (0, 64, 4, 16),   # the first ends where the second starts
                     (2, 60, 0, 16),
                     (3, 72, 12, 20), (3, 72, 20, 24)}  # across the bar line too
    assert len(notes) == len(ticks)


@pytest.mark.parametrize("present", [s for n in range(1, 6) for s in itertools.combinations(V.TRACKS, n)],
                         ids="+".join)
def test_every_track_is_written_on_its_own_channel_whatever_tracks_are_present(tmp_path, present):
    pitch = {"Drums": 38, "Piano": 72, "Guitar": 55, "Bass": 40, "Strings": 84}  # tells the tracks apart
    bars = [[GridNote(V.TRACKS.index(name), pitch[name], 90, 0, 4) for name in present]]
    path = written(tmp_path, bars)
    ons = [m for m in mido.merge_tracks(mido.MidiFile(path).tracks) if m.type == "note_on" and m.velocity]
    assert sorted((m.note, m.channel) for m in ons) == sorted((pitch[name], CHANNEL[name]) for name in present)
    programs = {m.channel: m.program for m in mido.merge_tracks(mido.MidiFile(path).tracks)
                if m.type == "program_change"}
    gm = {"Piano": 0, "Guitar": 25, "Bass": 33, "Strings": 48}
    assert programs == {CHANNEL[name]: gm[name] for name in present if name != "Drums"}


def test_case_23_round_trips_with_bass_on_the_bass_channel(tmp_path, capsys):
    """Piano on channel 1, bass on channel 3, no drums: a round trip keeps every note on its channel."""
    case = CASES / "23_piano_ch1_bass_ch3_no_drums.mid"
    out = tmp_path / "rt.mid"
    assert cdgmvae(["inspect", str(case), "--roundtrip", str(out)]) == 0

    def heard(path):
        ppq = mido.MidiFile(path).ticks_per_beat
        notes, faults = file_notes(path)
        assert faults == {}
        return sorted((n.channel, n.pitch, n.start / ppq, n.end / ppq) for n in notes)
    original = heard(case)
    assert {channel for channel, *_ in original} == {CHANNEL["Piano"], CHANNEL["Bass"]}
    assert heard(out) == original


def run_command(kind: str, out: Path, temperature: float, seed: int) -> None:
    common = ["--temperature", str(temperature), "--seed", str(seed), "--threads", "1", "--out", str(out)]
    args = {"generate": ["generate", "--emotion", "tense", "--bars", "8"],
            "transfer": ["transfer", str(CLIP_HAPPY), "--to", "sad", "--lambda", "0.7"],
            "swap": ["swap", str(CLIP_SAD), str(CLIP_HAPPY), "--feature", "key"]}[kind]
    assert cdgmvae(args + common) == 0


# each temperature of the OSC table's span (0.1..2) with a seed of its own
RUNS = [(0.1, 0), (0.5, 1), (1.0, 2), (1.5, 3), (2.0, 4)]


@pytest.mark.parametrize("temperature, seed", RUNS)
@pytest.mark.parametrize("kind", ["generate", "transfer", "swap"])
def test_generated_transferred_and_swapped_pieces_never_sound_a_key_twice(tmp_path, capsys, kind, temperature,
                                                                          seed):
    out = tmp_path / f"{kind}.mid"
    run_command(kind, out, temperature, seed)
    notes, faults = file_notes(out)
    assert notes and faults == {}, f"{kind} at temperature {temperature}, seed {seed}"


@pytest.mark.parametrize("seed", range(4))
def test_pitches_stay_in_each_instruments_range_at_temperature_2(tmp_path, capsys, seed):
    out = tmp_path / "hot.mid"
    assert cdgmvae(["generate", "--valence", "0.5", "--arousal", "1", "--bars", "8", "--temperature", "2",
                    "--top-p", "1", "--seed", str(seed), "--threads", "1", "--out", str(out)]) == 0
    notes, _ = file_notes(out)
    outside = [n for n in notes if not RANGE[n.channel][0] <= n.pitch <= RANGE[n.channel][1]]
    assert len(notes) > 50 and not outside

