import glob
import math
from pathlib import Path

import pretty_midi
import pytest
from cdgmvae.engine import codec
from cdgmvae.engine import vocab as V

from tests.midi_builders import write_midi

EMOPIA = sorted(glob.glob(str(Path(__file__).parent.parent / "data/emopia/midis/*.mid")))


# Expected values written out from the specification (engine/vocab.py's docstring, docs/ARCHITECTURE.md), not
# computed with the codec's own functions:
# - 32 velocity bins of equal width over MIDI's 0..127 (4 velocities each), a bin decoded to its middle;
# - tempo bins 2**(1/8) apart from 30 BPM (120 BPM is bin 16), a tempo going to the nearest in log-tempo;
# - General MIDI program families onto the LPD-5 tracks: 0-23 Piano, 24-31 Guitar, 32-39 Bass, the rest Strings.
def decoded_velocity(velocity: int) -> int:
    return 4 * (velocity // 4) + 2


def tempo_bin(bpm: float) -> int:
    return round(8 * math.log2(bpm / 30))


GM_TRACK = {0: V.PIANO, 25: V.GUITAR, 33: V.BASS, 48: V.STRINGS}


def test_velocity_bins_written_out():
    assert [decoded_velocity(v) for v in (0, 1, 3, 4, 64, 100, 126, 127)] == [2, 2, 2, 6, 66, 102, 126, 126]
    assert len({decoded_velocity(v) for v in range(128)}) == V.N_VELOCITY_BINS == 32
    assert (tempo_bin(120), tempo_bin(90), tempo_bin(30), tempo_bin(220)) == (16, 13, 0, 23)


def grid(piece: codec.EncodedPiece) -> list[tuple]:
    return sorted((bar, *note) for bar, notes in enumerate(piece.notes) for note in notes)


def five_track_spec():
    # (start in 16ths, length in 16ths, pitch, velocity); programs: piano 0, guitar 25, bass 33, strings 48
    return [
        {"program": 0, "notes": [(0, 4, 60, 100), (4, 4, 64, 90), (8, 8, 67, 80), (17, 3, 72, 70)]},
        {"program": 25, "notes": [(2, 2, 55, 64), (18, 6, 57, 50)]},
        {"program": 33, "notes": [(0, 16, 36, 110), (16, 24, 38, 105)]},  # the second is longer than a bar
        {"program": 48, "notes": [(0, 32, 48, 40)]},
        {"drum": True, "notes": [(0, 1, 36, 127), (4, 1, 38, 120), (8, 1, 42, 60), (20, 1, 36, 127)]},
    ]


def expected_grid(spec) -> list[tuple]:
    tracks = [V.DRUMS if t.get("drum") else GM_TRACK[t.get("program", 0)] for t in spec]
    out = []
    for track, t in zip(tracks, spec):
        for start, length, pitch, velocity in t["notes"]:
            out.append((start // 16, track, pitch, decoded_velocity(velocity), start % 16, min(length, 16)))
    return sorted(out)


def test_program_families_map_to_lpd5_tracks():
    assert codec.program_to_track(0, False) == V.PIANO
    assert codec.program_to_track(26, False) == V.GUITAR
    assert codec.program_to_track(33, False) == V.BASS
    assert codec.program_to_track(48, False) == V.STRINGS
    assert codec.program_to_track(0, True) == V.DRUMS


def test_five_tracks_round_trip_on_the_grid(tmp_path):
    spec = five_track_spec()
    path = write_midi(tmp_path / "five.mid", spec)
    piece = codec.encode(path)
    assert grid(piece) == expected_grid(spec)
    assert piece.report.notes_shortened == 2  # the 24-16th bass note and the two-bar strings note
    assert piece.report.drum_notes == 4
    back = codec.encode(codec.decode(piece.bars))
    assert grid(back) == grid(piece)
    assert back.bars == piece.bars
    decoded = codec.decode(piece.bars)
    drums = [i for i in decoded.instruments if i.is_drum]
    assert len(drums) == 1 and sorted(n.pitch for n in drums[0].notes) == [36, 36, 38, 42]


def test_tempo_change_at_a_bar_line_is_kept_and_inside_a_bar_moves(tmp_path):
    spec = [{"program": 0, "notes": [(16 * i, 4, 60 + i, 80) for i in range(4)]}]
    tempos = [(0, 120.0), (2 * 16 * 120, 90.0), (3 * 16 * 120 + 2 * 120, 150.0)]  # bar 2, and inside bar 3
    piece = codec.encode(write_midi(tmp_path / "tempo.mid", spec, tempos))
    bins = [V.TOKEN_VALUE[bar[1]] for bar in piece.bars]
    assert bins[:3] == [tempo_bin(120), tempo_bin(120), tempo_bin(90)] == [16, 16, 13]
    assert V.tempo_bin_bpm(bins[2]) == pytest.approx(90, rel=0.05)  # bins step by 2**(1/8)
    assert piece.report.tempo_changes_moved == 1
    assert grid(piece) == expected_grid(spec)
    decoded = codec.decode(piece.bars)
    # onsets in seconds follow the per-bar tempos: bars 0-1 at 120 BPM (2 s each), bar 2 at ~90 BPM
    starts = sorted(n.start for n in decoded.instruments[0].notes)
    assert starts[:3] == pytest.approx([0.0, 2.0, 4.0], abs=1e-3)
    assert starts[3] == pytest.approx(4.0 + 4 * 60 / (30 * 2 ** (13 / 8)), abs=1e-3)  # bin 13: 92.5 BPM
    assert codec.encode(decoded).bars == piece.bars


def test_other_time_signatures_are_rebarred_and_counted(tmp_path):
    spec = [{"program": 0, "notes": [(0, 4, 60, 80), (12, 4, 62, 80), (24, 4, 64, 80)]}]
    piece = codec.encode(write_midi(tmp_path / "waltz.mid", spec, time_signature=(3, 4)))
    assert piece.report.rebarred
    assert grid(piece) == expected_grid(spec)


def test_long_bars_are_cut_at_L_and_counted(tmp_path):
    notes = [(p % 16, 1, 30 + p, 80) for p in range(60)]  # 60 notes in one bar: ~200 tokens
    piece = codec.encode(write_midi(tmp_path / "dense.mid", [{"program": 0, "notes": notes}]), bar_len=64)
    assert len(piece.bars[0]) <= 64 and piece.bars[0][-1] == V.EOS
    assert piece.report.bars_cut == 1
    assert piece.report.notes_cut == 60 - len(piece.notes[0])
    assert codec.bar_notes(piece.bars[0]) == piece.notes[0]


def test_file_without_notes_raises(tmp_path):
    from cdgmvae.engine.midi_reader import NoNotesError
    with pytest.raises(NoNotesError):
        codec.encode(write_midi(tmp_path / "empty.mid", [{"program": 0, "notes": []}]))


def test_every_bundled_emopia_clip_round_trips():
    assert len(EMOPIA) == 990
    for path in EMOPIA:
        original = pretty_midi.PrettyMIDI(path)
        piece = codec.encode(original)
        # every note is accounted for: kept, dropped as a duplicate onset, or cut from an over-long bar
        kept = sum(len(n) for n in piece.notes)
        assert kept + piece.report.notes_duplicate_dropped + piece.report.notes_cut == \
            len(original.instruments[0].notes), path
        # the kept notes are the original notes quantized to the grid
        quantized = {(round(original.time_to_tick(n.start) / (original.resolution / 4)), n.pitch,
                      decoded_velocity(n.velocity)) for n in original.instruments[0].notes}
        first = piece.report.leading_bars_dropped * 16
        for bar, notes in enumerate(piece.notes):
            for note in notes:
                assert (first + bar * 16 + note.position, note.pitch, note.velocity) in quantized, path
        back = codec.encode(codec.decode(piece.bars))
        assert grid(back) == grid(piece), path
