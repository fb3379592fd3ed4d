"""MIDI files as people send them, read through the one reading path (midi_reader.read_midi via
codec.encode). The cases in tests/cases/midi/ (from issue 15) and, for each kind, other files of the same
kind built with mido. Expected notes come from mido's reading of the file or from the builder's own
numbers, never from the codec."""
from __future__ import annotations

import io
import struct
from pathlib import Path

import mido
import pytest
from cdgmvae.engine import codec
from cdgmvae.engine import vocab as V
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.midi_reader import MidiReadError, NoNotesError, read_midi

from tests.midi_builders import note_events, onsets, sixteenths, tempo, write_midi, write_tracks

CASES = Path(__file__).parent / "cases" / "midi"


def grid_onsets(piece: codec.EncodedPiece) -> list[tuple]:
    """(absolute 16th, pitch) of every encoded note, counting the dropped leading bars back in."""
    first = piece.report.leading_bars_dropped * V.POSITIONS_PER_BAR
    return sorted((first + bar * V.POSITIONS_PER_BAR + n.position, n.pitch)
                  for bar, notes in enumerate(piece.notes) for n in notes)


def mido_grid(path: Path) -> list[tuple]:
    midi = mido.MidiFile(str(path))
    return sorted((sixteenths(tick, midi.ticks_per_beat), pitch) for tick, _, pitch, _ in onsets(midi))


# --- 1. any resolution ----------------------------------------------------------------------------------
@pytest.mark.parametrize("ppq", [32767, 24000, 7, 96])
def test_any_ticks_per_beat_reads_the_notes_mido_reads(tmp_path, ppq):
    bar = 4 * ppq
    events = [e for i in range(12) for e in note_events(i * bar // 4, bar // 4 - 1, 60 + i)]
    path = write_tracks(tmp_path / f"ppq{ppq}.mid", [[tempo(0, 100)], events], ticks_per_beat=ppq)
    piece = codec.encode(path)
    assert grid_onsets(piece) == mido_grid(path)
    assert len(piece.bars) == 3 and piece.tempos == [pytest.approx(100, abs=0.01)] * 3


def test_case_02_the_80_bar_piece_at_32767_ticks_per_beat():
    path = CASES / "02_high_ppq32767_80bars_legit.mid"
    assert mido.MidiFile(str(path)).ticks_per_beat == 32767
    piece = codec.encode(path)
    assert len(piece.bars) == 80
    assert grid_onsets(piece) == mido_grid(path)


# --- 2. zero-length notes -------------------------------------------------------------------------------
def test_case_04_zero_length_drum_hits_are_kept_and_counted():
    path = CASES / "04_zero_length_drum_hits_ch10.mid"
    hits = onsets(mido.MidiFile(str(path)))
    assert hits and all(channel == 9 for _, channel, _, _ in hits)
    piece = codec.encode(path)
    assert grid_onsets(piece) == mido_grid(path)
    assert piece.report.notes_zero_length == len(hits) == piece.report.drum_notes
    assert all(n.track == V.DRUMS and n.duration == 1 for bar in piece.notes for n in bar)


def test_zero_length_pitched_notes_and_grace_notes_are_kept_at_one_sixteenth(tmp_path):
    # a grace note (on and off on one tick) before each melody note, on the piano, at an odd resolution
    ppq = 384
    events = []
    for i in range(8):
        events += note_events(i * ppq, 0, 71 + i)                 # zero length
        events += note_events(i * ppq, ppq // 2, 60 + i)          # the note it graces, same tick
    path = write_tracks(tmp_path / "grace.mid", [events], ticks_per_beat=ppq)
    piece = codec.encode(path)
    assert piece.report.notes_zero_length == 8 and piece.report.notes == 16
    assert grid_onsets(piece) == mido_grid(path)
    durations = {n.pitch: n.duration for bar in piece.notes for n in bar}
    assert all(durations[71 + i] == 1 and durations[60 + i] == 2 for i in range(8))


def test_a_zero_length_note_then_a_note_of_the_same_pitch_on_that_tick_are_two_notes(tmp_path):
    events = note_events(0, 0, 38, channel=9) + note_events(0, 240, 38, channel=9) + note_events(480, 0, 38, channel=9)
    piece = codec.encode(write_tracks(tmp_path / "flam.mid", [events]))
    # two onsets on one 16th of one drum are one note on the grid: the second is dropped and counted
    assert piece.report.notes_zero_length == 2
    assert piece.report.notes + piece.report.notes_duplicate_dropped == 3
    assert grid_onsets(piece) == [(0, 38), (4, 38)]


# --- 3. tempo and time signature on any track -----------------------------------------------------------
def test_case_11_tempo_on_the_note_track_is_honoured():
    path = CASES / "11_tempo_on_nonzero_track_72bpm.mid"
    midi = mido.MidiFile(str(path))
    assert not any(m.type == "set_tempo" for m in midi.tracks[0])  # the kind: tempo not on track 0
    piece = codec.encode(path)
    assert piece.tempos == [pytest.approx(72.0, abs=0.01)] * len(piece.bars)
    assert {V.tempo_bin_bpm(V.TOKEN_VALUE[bar[1]]) for bar in piece.bars} == {V.tempo_bin_bpm(V.tempo_to_bin(72))}


def test_a_tempo_change_on_the_third_track_takes_effect_at_its_bar(tmp_path):
    bar = 4 * 480
    notes = [e for i in range(4) for e in note_events(i * bar, 480, 60 + i)]
    path = write_tracks(tmp_path / "t.mid", [[tempo(0, 120)], notes, [tempo(2 * bar, 90)]])
    assert codec.encode(path).tempos == pytest.approx([120, 120, 90, 90], abs=0.01)


def test_a_time_signature_on_track_2_is_seen(tmp_path):
    events = [(0, mido.MetaMessage("time_signature", numerator=3, denominator=4))] + note_events(0, 480, 60)
    piece = codec.encode(write_tracks(tmp_path / "ts.mid", [[tempo(0, 120)], events]))
    assert piece.report.rebarred
    four = codec.encode(write_tracks(tmp_path / "ts44.mid", [[tempo(0, 120)], note_events(0, 480, 60)]))
    assert not four.report.rebarred


# --- 4. type 2 ------------------------------------------------------------------------------------------
def test_case_16_type_2_patterns_play_one_after_the_other():
    path = CASES / "16_type2_sequential_patterns.mid"
    midi = mido.MidiFile(str(path))
    assert midi.type == 2 and len(midi.tracks) == 2
    piece = codec.encode(path)
    assert piece.report.patterns_in_sequence == 2 and len(piece.bars) == 2
    first, second = ([(sixteenths(t, midi.ticks_per_beat), p) for t, _, p, _ in onsets(mido.MidiFile(tracks=[tr]))]
                     for tr in midi.tracks)
    assert grid_onsets(piece) == sorted(first + [(t + 16, p) for t, p in second])


def test_type_2_patterns_start_at_the_bar_line_after_the_previous_pattern(tmp_path):
    bar = 4 * 480
    patterns = [note_events(0, 240, 60) + note_events(bar + 480, 240, 62),   # ends in its second bar
                note_events(0, 480, 40),                                      # one bar
                note_events(480, 480, 50)]                                    # starts after a beat's rest
    piece = codec.encode(write_tracks(tmp_path / "t2.mid", patterns, midi_type=2))
    assert piece.report.patterns_in_sequence == 3
    assert grid_onsets(piece) == [(0, 60), (20, 62), (32, 40), (48 + 4, 50)]


# --- 5. faults the codec does not use -------------------------------------------------------------------
def test_case_12_an_impossible_key_signature_is_skipped_and_counted():
    path = CASES / "12_keysig_minus18_flats.mid"
    data = path.read_bytes()
    with pytest.raises(mido.KeySignatureError):
        mido.MidiFile(file=io.BytesIO(data))  # the kind: a strict reader refuses the whole file
    # mido reads the notes once the key signature is made a possible one (0 sharps, major)
    key_event = data.index(b"\xff\x59\x02")
    fixed = mido.MidiFile(file=io.BytesIO(data[:key_event + 3] + b"\x00\x00" + data[key_event + 5:]))
    expected = sorted((sixteenths(t, fixed.ticks_per_beat), p) for t, _, p, _ in onsets(fixed))
    piece = codec.encode(path)
    assert piece.report.events_skipped == 1
    assert grid_onsets(piece) == expected and len(expected) == 16


def patched(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1
    return data.replace(old, new)


@pytest.mark.parametrize("meta, bad", [
    (mido.MetaMessage("key_signature", key="C"), b"\xff\x59\x02\x00\x05"),             # mode 5
    (mido.MetaMessage("key_signature", key="C"), b"\xff\x59\x02\x09\x00"),             # 9 sharps
    (mido.MetaMessage("time_signature", numerator=3, denominator=4), b"\xff\x58\x04\x00\x02\x18\x08"),  # 0 beats
    (mido.MetaMessage("set_tempo", tempo=500000), b"\xff\x51\x03\x00\x00\x00"),          # 0 microseconds a beat
])
def test_other_impossible_meta_events_are_skipped_and_counted(tmp_path, meta, bad):
    good = write_tracks(tmp_path / "good.mid", [[(0, meta)] + note_events(0, 480, 60) + note_events(480, 480, 64)])
    data = good.read_bytes()
    start = data.index(bad[:3])
    path = tmp_path / "bad.mid"
    path.write_bytes(data[:start] + bad + data[start + len(bad):])
    piece = codec.encode(path)
    assert piece.report.events_skipped == 1
    assert grid_onsets(piece) == [(0, 60), (4, 64)]
    assert piece.tempos == [120.0] and not piece.report.rebarred  # what was skipped has no effect


# --- 6. extreme tempos ----------------------------------------------------------------------------------
def test_tempos_beyond_the_bins_are_clamped_and_counted(tmp_path):
    bar = 4 * 480
    notes = [e for i in range(4) for e in note_events(i * bar, 480, 60 + i)]
    conductor = [tempo(0, 10), tempo(bar, 120), tempo(2 * bar, 600), tempo(3 * bar, 220)]
    piece = codec.encode(write_tracks(tmp_path / "fast.mid", [conductor, notes]))
    assert piece.report.bars_tempo_clamped == 2
    bins = [V.TOKEN_VALUE[bar_tokens[1]] for bar_tokens in piece.bars]
    assert bins == [0, V.tempo_to_bin(120), V.N_TEMPO_BINS - 1, V.N_TEMPO_BINS - 1]


# --- files that cannot be read: one line naming the cause -----------------------------------------------
def good_bytes(tmp_path) -> bytes:
    return write_midi(tmp_path / "g.mid", [{"program": 0, "notes": [(0, 4, 60, 80), (16, 4, 62, 80)]}]).read_bytes()


@pytest.mark.parametrize("make, words", [
    (lambda d: b"", "empty file"),
    (lambda d: b"this is a text file, not MIDI\n", "not a MIDI file"),
    (lambda d: d[: len(d) - 10], "cut short"),
    (lambda d: d[:30], "cut short"),
    (lambda d: d[:12] + struct.pack(">h", -(25 << 8) + 40) + d[14:], "SMPTE"),
    (lambda d: d[:8] + b"\x00\x07" + d[10:], "format 7"),
    (lambda d: d[:12] + b"\x00\x00" + d[14:], "0 ticks per beat"),
])
def test_unreadable_files_give_one_line_naming_the_cause(tmp_path, make, words):
    path = tmp_path / "bad.mid"
    path.write_bytes(make(good_bytes(tmp_path)))
    with pytest.raises(MidiReadError) as caught:
        codec.encode(path)
    message = str(caught.value)
    assert isinstance(caught.value, UserError) and "\n" not in message
    assert message.startswith(str(path)) and words in message


def test_a_file_without_notes_says_so(tmp_path):
    with pytest.raises(NoNotesError, match="no notes"):
        codec.encode(write_midi(tmp_path / "silent.mid", [{"program": 0, "notes": []}]))


def test_a_missing_path_says_so(tmp_path):
    with pytest.raises(MidiReadError, match="no such file"):
        read_midi(tmp_path / "absent.mid")


def test_a_header_that_miscounts_its_tracks_still_reads_every_track(tmp_path):
    data = write_midi(tmp_path / "two.mid", [{"program": 0, "notes": [(0, 4, 60, 80)]},
                                              {"program": 33, "notes": [(4, 4, 40, 80)]}]).read_bytes()
    for count in (1, 9):
        piece = codec.encode(data[:10] + struct.pack(">H", count) + data[12:])
        assert grid_onsets(piece) == [(0, 60), (4, 40)]


def test_an_rmid_wrapped_file_is_read(tmp_path):
    data = good_bytes(tmp_path)
    body = b"RMID" + b"data" + struct.pack("<I", len(data)) + data
    assert grid_onsets(codec.encode(b"RIFF" + struct.pack("<I", len(body)) + body)) == [(0, 60), (16, 62)]


def test_in_memory_midi_objects_are_read_like_files(tmp_path):
    path = write_midi(tmp_path / "m.mid", [{"program": 0, "notes": [(0, 4, 60, 80), (16, 4, 62, 80)]}])
    from_file = codec.encode(path)
    assert codec.encode(path.read_bytes()).bars == from_file.bars
    assert codec.encode(mido.MidiFile(str(path))).bars == from_file.bars
    assert codec.encode(codec.decode(from_file.bars)).bars == from_file.bars
