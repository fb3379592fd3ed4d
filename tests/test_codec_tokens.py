"""The codec's tokens, reports and MIDI files against values worked out by hand from the REMI definition.

The expectations are written out here: token names as the vocabulary spells them (Bar, Tempo_<bpm>,
Position_<16th>, Pitch-<Track>_<key>, Velocity-<Track>_<bin>, Duration-<Track>_<16ths>, EOS), velocity bins
of width 4 (bin = velocity // 4, decoded to 4 * bin + 2), tempo bins 30 * 2 ** (k / 8) BPM, and MIDI files
read back with mido at 480 ticks a quarter (a 16th is 120 ticks, a bar 1920).
"""
from __future__ import annotations

import mido
import numpy as np
import pytest
from cdgmvae.engine import codec
from cdgmvae.engine import vocab as V
from cdgmvae.engine.notes import GridNote

from tests.midi_builders import note_events, tempo, write_midi, write_tracks

PIANO, GUITAR, BASS, STRINGS, DRUMS = 1, 2, 3, 4, 0   # the LPD-5 order: Drums, Piano, Guitar, Bass, Strings


def names(tokens) -> list[str]:
    return [V.token_name(t) for t in tokens]


def test_a_bar_is_bar_tempo_then_positions_each_with_pitch_velocity_duration(tmp_path):
    spec = [{"program": 0, "notes": [(4, 4, 62, 50), (0, 2, 64, 90), (0, 4, 60, 100)]},
            {"program": 33, "notes": [(0, 8, 36, 127)]}]
    piece = codec.encode(write_midi(tmp_path / "bar.mid", spec))
    assert names(piece.bars[0]) == [
        "Bar", "Tempo_120",
        "Position_0", "Pitch-Piano_60", "Velocity-Piano_25", "Duration-Piano_4",
        "Pitch-Piano_64", "Velocity-Piano_22", "Duration-Piano_2",
        "Pitch-Bass_36", "Velocity-Bass_31", "Duration-Bass_8",
        "Position_4", "Pitch-Piano_62", "Velocity-Piano_12", "Duration-Piano_4",
        "EOS"]
    assert piece.notes[0] == [GridNote(PIANO, 60, 102, 0, 4), GridNote(PIANO, 64, 90, 0, 2),
                              GridNote(BASS, 36, 126, 0, 8), GridNote(PIANO, 62, 50, 4, 4)]
    assert piece.tempos == [120.0]
    assert piece.report.notes == 4 and piece.report.drum_notes == 0


def test_program_family_boundaries():
    cases = {0: PIANO, 23: PIANO, 24: GUITAR, 31: GUITAR, 32: BASS, 39: BASS, 40: STRINGS, 127: STRINGS}
    assert {p: codec.program_to_track(p, False) for p in cases} == cases
    assert codec.program_to_track(33, True) == DRUMS


def test_token_array_pads_each_bar_to_bar_len():
    piece = codec.EncodedPiece([[2, 19, 1], [2, 20, 5, 1]], [[], []], [120.0, 120.0])
    array = piece.token_array(6)
    assert array.dtype == np.int16 and array.shape == (2, 6)
    assert array.tolist() == [[2, 19, 1, 0, 0, 0], [2, 20, 5, 1, 0, 0]]
    assert piece.token_array().shape == (2, 128)


def test_reports_count_what_was_changed(tmp_path):
    # piano 60 at 0 for 8 16ths and again at 4: the first ends at 4; two onsets of 64 at 16th 8 (ticks 960 and
    # 990 both round to 8): one is dropped; a zero-length drum hit lasts a 16th; a 20-16th note is one bar long
    events = (note_events(0, 960, 60) + note_events(480, 480, 60) + note_events(960, 240, 64)
              + note_events(990, 240, 64) + note_events(1440, 2400, 48, channel=1)
              + note_events(240, 0, 38, velocity=40, channel=9))
    path = write_tracks(tmp_path / "overlaps.mid", [[tempo(0, 120.0)], events])
    piece = codec.encode(path)
    report = piece.report
    assert (report.notes_overlap_shortened, report.notes_duplicate_dropped, report.notes_zero_length,
            report.notes_shortened, report.drum_notes, report.notes) == (1, 1, 1, 1, 1, 5)
    assert sorted(piece.notes[0]) == sorted([
        GridNote(PIANO, 60, 90, 0, 4), GridNote(PIANO, 60, 90, 4, 4), GridNote(PIANO, 64, 90, 8, 2),
        GridNote(PIANO, 48, 90, 12, 16), GridNote(DRUMS, 38, 42, 2, 1)])


def test_leading_empty_bars_are_dropped_and_counted(tmp_path):
    piece = codec.encode(write_midi(tmp_path / "late.mid", [{"program": 0, "notes": [(2 * 16 + 5, 3, 70, 64),
                                                                                      (4 * 16, 1, 72, 64)]}]))
    assert piece.report.leading_bars_dropped == 2
    assert [names(bar) for bar in piece.bars] == [
        ["Bar", "Tempo_120", "Position_5", "Pitch-Piano_70", "Velocity-Piano_16", "Duration-Piano_3", "EOS"],
        ["Bar", "Tempo_120", "EOS"],
        ["Bar", "Tempo_120", "Position_0", "Pitch-Piano_72", "Velocity-Piano_16", "Duration-Piano_1", "EOS"]]


def test_tempo_events_last_on_a_tick_wins_and_repeats_are_no_change(tmp_path):
    bar = 1920
    tempos = [tempo(0, 100.0), tempo(0, 60.0), tempo(bar + 240, 60.0), tempo(2 * bar + 480, 90.0),
              tempo(3 * bar, 240.0), tempo(4 * bar, 20.0)]
    notes = [n for i in range(5) for n in note_events(i * bar, 120, 60)]
    piece = codec.encode(write_tracks(tmp_path / "tempi.mid", [tempos, notes]))
    # 60 BPM is bin 8 (30 * 2 ** (8 / 8)); 240 BPM is past the top bin 23 (~220 BPM), 20 below bin 0 (30 BPM)
    assert [names(b)[1] for b in piece.bars] == ["Tempo_60", "Tempo_60", "Tempo_60", "Tempo_220", "Tempo_30"]
    assert piece.tempos == pytest.approx([60.0, 60.0, 60.0, 240.0, 20.0])
    assert piece.report.tempo_changes_moved == 1        # only the 90 inside bar 2; the repeat is no change
    assert piece.report.bars_tempo_clamped == 2


def test_a_bar_is_cut_after_the_last_whole_note_that_fits():
    notes = [GridNote(PIANO, 60, 50, 0, 4), GridNote(PIANO, 62, 50, 0, 4)]
    tokens, kept = codec.bar_tokens(notes, 16, bar_len=7)    # Bar Tempo Position Pitch Velocity Duration EOS
    assert names(tokens) == ["Bar", "Tempo_120", "Position_0", "Pitch-Piano_60", "Velocity-Piano_12",
                             "Duration-Piano_4", "EOS"] and kept == notes[:1]
    assert codec.bar_tokens(notes, 16, bar_len=10)[1] == notes    # the second needs 3 more tokens
    assert names(codec.bar_tokens(notes, 16, bar_len=6)[0]) == ["Bar", "Tempo_120", "EOS"]


def test_bar_notes_skips_ill_formed_triples_and_stops_at_eos():
    p, v, d = V.pitch_token, V.velocity_token, V.duration_token
    tokens = [V.BAR, V.tempo_token(8), V.position_token(3),
              p(PIANO, 60), v(BASS, 10), d(PIANO, 4),              # velocity of another track: skipped
              p(PIANO, 61), d(PIANO, 4),                           # no velocity: skipped
              p(BASS, 40), v(BASS, 5), d(BASS, 2),                 # a note at 16th 3
              p(GUITAR, 50), v(GUITAR, 7), V.position_token(9), d(GUITAR, 3),  # a position breaks it
              p(GUITAR, 52), v(GUITAR, 7), d(BASS, 3),             # duration of another track: skipped
              p(STRINGS, 70), v(STRINGS, 0), d(STRINGS, 16),
              V.EOS, p(PIANO, 70), v(PIANO, 1), d(PIANO, 1)]
    assert codec.bar_notes(tokens) == [GridNote(BASS, 40, 22, 3, 2), GridNote(STRINGS, 70, 2, 9, 16)]
    assert codec.bar_tempo(tokens) == pytest.approx(60.0)
    assert codec.bar_tempo([V.BAR, V.EOS]) == 120.0 and codec.bar_tempo([V.BAR], default=90.0) == 90.0


def absolute(track) -> list[tuple]:
    now, out = 0, []
    for msg in track:
        now += msg.time
        out.append((now, msg))
    return out


def test_midi_file_puts_each_track_on_its_channel_with_tempo_events_at_bar_lines():
    bar0 = [GridNote(PIANO, 60, 102, 0, 4), GridNote(BASS, 36, 126, 2, 16)]
    bar2 = [GridNote(DRUMS, 38, 50, 15, 1)]
    bars = [codec.bar_tokens(notes, k)[0] for notes, k in ((bar0, 16), ([], 16), (bar2, 8))]
    midi = codec.midi_file(bars)
    assert midi.type == 1 and midi.ticks_per_beat == 480 and len(midi.tracks) == 4
    conductor = absolute(midi.tracks[0])
    assert [(t, m.type) for t, m in conductor] == [(0, "time_signature"), (0, "set_tempo"), (3840, "set_tempo"),
                                                   (3840, "end_of_track")]
    assert (conductor[0][1].numerator, conductor[0][1].denominator) == (4, 4)
    assert [m.tempo for _, m in conductor[1:3]] == [500000, 1000000]        # 120 BPM, then 60 BPM at bar 2
    expected = {  # name, program (None for drums), channel, [(tick, type, key, velocity)]
        1: ("Drums", None, 9, [(3840 + 1800, "note_on", 38, 50), (3840 + 1920, "note_off", 38, None)]),
        2: ("Piano", 0, 0, [(0, "note_on", 60, 102), (480, "note_off", 60, None)]),
        3: ("Bass", 33, 2, [(240, "note_on", 36, 126), (240 + 1920, "note_off", 36, None)]),
    }
    for index, (name, program, channel, notes) in expected.items():
        events = absolute(midi.tracks[index])
        assert events[0][1].type == "track_name" and events[0][1].name == name
        programs = [m.program for _, m in events if m.type == "program_change"]
        assert programs == ([] if program is None else [program])
        played = [(t, m.type, m.note, m.velocity if m.type == "note_on" else None)
                  for t, m in events if m.type in ("note_on", "note_off")]
        assert played == notes
        assert {m.channel for _, m in events if not m.is_meta} == {channel}
        assert events[-1][1].type == "end_of_track"


def test_midi_file_without_bars_still_sets_120_bpm():
    conductor = absolute(codec.midi_file([]).tracks[0])
    assert [(t, m.type) for t, m in conductor] == [(0, "time_signature"), (0, "set_tempo"), (0, "end_of_track")]
    assert conductor[1][1].tempo == 500000


def test_beat_grid_interpolates_and_extends_at_the_neighbouring_beat_length():
    grid = codec.BeatGrid([1.0, 1.5, 2.5, 3.0])
    assert grid.beat_at([0.0, 0.75, 1.0, 1.25, 2.0, 2.75, 3.0, 4.0]).tolist() == pytest.approx(
        [-2.0, -0.5, 0.0, 0.5, 1.5, 2.5, 3.0, 5.0])
    assert grid.time_at([-2.0, -0.5, 0.5, 1.5, 2.5, 3.0, 5.0]).tolist() == pytest.approx(
        [0.0, 0.75, 1.25, 2.0, 2.75, 3.0, 4.0])
    for bad in ([1.0], [1.0, 1.0], [2.0, 1.0, 3.0]):
        with pytest.raises(ValueError, match="at least two and strictly increasing"):
            codec.BeatGrid(bad)


def test_bar_start_beats_cover_the_notes_around_the_downbeats():
    # downbeats at beats 2 and 8: a bar 4 beats before 2 covers beat 0; 2 to 8 is 6 beats, so bars at 2 and 6;
    # after 8 every 4 beats up to the last note's beat 13
    assert codec.bar_start_beats([8, 2, 2], 0.0, 13.0).tolist() == [-2, 2, 6, 8, 12]
    assert codec.bar_start_beats([0], 0.0, 3.0).tolist() == [0]
    assert codec.bar_start_beats([4], 4.0, 4.0).tolist() == [4]
    with pytest.raises(ValueError, match="no downbeats"):
        codec.bar_start_beats([], 0.0, 1.0)


def test_encode_beats_places_notes_by_the_annotated_beats():
    # beats every 0.5 s (120 BPM) for the first bar, then every 0.75 s (80 BPM); bars at beats 0 and 4
    beats = [0.0, 0.5, 1.0, 1.5, 2.0, 2.75, 3.5, 4.25, 5.0]
    notes = [codec.TimedNote(PIANO, 60, 100, 0.25, 0.5),      # beat 0.5 -> 16th 2, half a beat long
             codec.TimedNote(BASS, 40, 64, 2.375, 3.5),       # beat 4.5 -> bar 1, 16th 2, until beat 6: 6 16ths
             codec.TimedNote(DRUMS, 36, 127, 4.75, 4.75)]     # beat 7 + 2/3 -> 16th 31 (bar 1, 15), zero length
    piece = codec.encode_beats(notes, beats, [0, 4])
    assert piece.notes == [[GridNote(PIANO, 60, 102, 2, 2)],
                           [GridNote(BASS, 40, 66, 2, 6), GridNote(DRUMS, 36, 126, 15, 1)]]
    assert piece.tempos == pytest.approx([120.0, 80.0])
    assert piece.report.bars_irregular == 0 and piece.report.drum_notes == 1
    irregular = codec.encode_beats(notes[:1], beats, [0, 3, 9])
    assert irregular.report.bars_irregular == 2
    with pytest.raises(ValueError, match="no notes"):
        codec.encode_beats([], beats, [0])


def test_encode_beats_tempo_of_the_last_bar_and_of_a_short_bar():
    beats = [0.0, 0.6, 1.2, 1.8, 2.4, 3.0]   # 100 BPM throughout
    notes = [codec.TimedNote(PIANO, 60, 80, 0.0, 0.3), codec.TimedNote(PIANO, 62, 80, 1.8, 2.0),
             codec.TimedNote(PIANO, 64, 80, 2.4, 2.7)]
    piece = codec.encode_beats(notes, beats, [0, 3])   # a 3-beat bar, then the last bar from beat 3
    assert [len(n) for n in piece.notes] == [1, 2]
    assert [n.position for n in piece.notes[1]] == [0, 4]
    assert piece.tempos == pytest.approx([100.0, 100.0])
    assert piece.report.bars_irregular == 1


def test_encode_placed_names_the_piece_without_notes():
    from cdgmvae.engine.midi_reader import NoNotesError
    with pytest.raises(NoNotesError, match="song.mid"):
        codec.encode_placed([], lambda s: (0, s), lambda b: 120.0, codec.EncodeReport(), 128, "song.mid")


def test_report_as_dict_lists_every_count():
    report = codec.EncodeReport(notes=3, bars_cut=1)
    d = report.as_dict()
    assert d["notes"] == 3 and d["bars_cut"] == 1 and d["rebarred"] is False and len(d) == 15
    d["notes"] = 9
    assert report.notes == 3


def test_midi_file_round_trip_keeps_every_onset(tmp_path):
    spec = [{"program": 26, "notes": [(1, 3, 55, 33), (17, 2, 57, 77)]},
            {"drum": True, "notes": [(0, 1, 42, 99), (8, 1, 42, 99)]}]
    piece = codec.encode(write_midi(tmp_path / "in.mid", spec))
    path = tmp_path / "out.mid"
    codec.midi_file(piece.bars).save(str(path))
    onsets = sorted((t, m.channel, m.note, m.velocity) for track in mido.MidiFile(str(path)).tracks
                    for t, m in absolute(track) if m.type == "note_on")
    assert onsets == [(0, 9, 42, 98), (120, 1, 55, 34), (960, 9, 42, 98), (2040, 1, 57, 78)]


def test_a_file_in_four_four_is_not_rebarred_and_cuts_nothing(tmp_path):
    piece = codec.encode(write_midi(tmp_path / "plain.mid", [{"program": 0, "notes": [(0, 4, 60, 80)]}]))
    report = piece.report
    assert not report.rebarred and report.bars_cut == 0 and report.notes_cut == 0
    assert report.notes_overlap_shortened == 0 and report.notes_duplicate_dropped == 0


def test_a_file_without_tempo_events_is_at_120_bpm(tmp_path):
    piece = codec.encode(write_tracks(tmp_path / "no_tempo.mid", [note_events(0, 480, 60)]))
    assert piece.tempos == [120.0] and names(piece.bars[0])[1] == "Tempo_120"


def test_each_key_ends_where_it_strikes_again_and_every_drop_and_cut_is_counted(tmp_path):
    # piano 60 at 16ths 0, 4 and 8, each a bar long: the first two end where the next starts; a second onset at
    # 4 is dropped; 40 at 0 and 4 for exactly 4 16ths each just meet (program 0: piano, whatever the channel);
    # zero-length hits on two tracks
    events = (note_events(0, 1920, 60) + note_events(480, 1920, 60) + note_events(480, 1920, 60, velocity=30)
              + note_events(960, 1920, 60) + note_events(0, 480, 40, channel=2) + note_events(480, 480, 40, channel=2)
              + note_events(1440, 0, 42, channel=9) + note_events(1560, 0, 72))
    piece = codec.encode(write_tracks(tmp_path / "keys.mid", [events]))
    report = piece.report
    assert (report.notes_overlap_shortened, report.notes_duplicate_dropped, report.notes_zero_length) == (2, 1, 2)
    assert sorted((n.track, n.pitch, n.position, n.duration) for n in piece.notes[0]) == sorted([
        (DRUMS, 42, 12, 1), (PIANO, 60, 0, 4), (PIANO, 60, 4, 4), (PIANO, 60, 8, 16), (PIANO, 72, 13, 1),
        (PIANO, 40, 0, 4), (PIANO, 40, 4, 4)])


def test_two_cut_bars_are_both_counted():
    notes = [(16 * bar + p % 16, 1, 30 + p, 80) for bar in (0, 1) for p in range(30)]
    raw = [(start, PIANO, pitch, length, velocity) for start, length, pitch, velocity in notes]
    report = codec.EncodeReport()
    piece = codec.encode_placed(raw, lambda s: (s // 16, s % 16), lambda b: 120.0, report, 40)
    kept = [len(n) for n in piece.notes]
    # two notes a position: 4 + 3 tokens a pair, so 5 pairs fit in 40 - 3 (Bar, Tempo, EOS)
    assert report.bars_cut == 2 and report.notes_cut == 40 and kept == [10, 10]


def test_the_piece_without_notes_is_named_in_the_error():
    from cdgmvae.engine.midi_reader import NoNotesError
    with pytest.raises(NoNotesError) as error:
        codec.encode_placed([], lambda s: (0, s), lambda b: 120.0, codec.EncodeReport(), 128)
    assert str(error.value) == "the piece: no notes (a valid MIDI file, but it holds none)"


def test_a_bar_without_a_position_token_starts_at_its_bar_line_and_stray_tokens_are_skipped():
    p, v, d = V.pitch_token, V.velocity_token, V.duration_token
    tokens = [V.BAR, V.tempo_token(16), v(PIANO, 3), p(PIANO, 60), v(PIANO, 3), d(PIANO, 2),
              p(PIANO, 62), V.tempo_token(3), v(PIANO, 3), d(PIANO, 2)]
    assert codec.bar_notes(tokens) == [GridNote(PIANO, 60, 14, 0, 2)]


def test_bar_start_beats_reach_back_several_bars_before_the_first_downbeat():
    assert codec.bar_start_beats([8], 0.0, 9.0).tolist() == [0, 4, 8]
    assert codec.bar_start_beats([9], 0.5, 9.0).tolist() == [-3, 1, 5, 9]   # beat 0.5 lies before beat 1


def test_error_messages_of_beat_encoding():
    with pytest.raises(ValueError) as error:
        codec.bar_start_beats([], 0.0, 1.0)
    assert str(error.value) == "no downbeats"
    with pytest.raises(ValueError) as error:
        codec.encode_beats([], [0.0, 0.5], [0])
    assert str(error.value) == "no notes"
    with pytest.raises(ValueError) as error:
        codec.BeatGrid([0.0])
    assert str(error.value) == "beat times must be at least two and strictly increasing"
    assert codec.BeatGrid([0.0, 0.5]).beat_at([1.0]).tolist() == [2.0]


def test_beat_grid_extends_after_the_last_beat_at_the_last_beat_length():
    grid = codec.BeatGrid([0.0, 1.0, 1.5, 2.5, 3.0])   # the last beat is 0.5 s, the one before it 1.0 s
    assert grid.beat_at([4.0]).tolist() == pytest.approx([6.0])
    assert grid.time_at([6.0]).tolist() == pytest.approx([4.0])


def test_encode_beats_takes_each_bar_tempo_over_its_own_beats():
    # bar lines at beats 0, 4 (a 3-beat bar) and 7 (the last); beat lengths vary inside each bar
    beats = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.6, 4.2, 4.8, 5.6, 6.4]
    notes = [codec.TimedNote(PIANO, 60, 80, 0.0, 0.25), codec.TimedNote(PIANO, 62, 80, 2.0, 2.25),
             codec.TimedNote(PIANO, 64, 80, 4.2, 4.5)]
    piece = codec.encode_beats(notes, beats, [0, 4, 7])
    # 60 * beats / seconds: 4 beats in 2.0 s; 3 beats in 1.6 s; the last bar's 4 beats (7..11) in 2.8 s
    assert piece.tempos == pytest.approx([120.0, 112.5, 240.0 / 2.8])
    assert [[n.position for n in bar] for bar in piece.notes] == [[0], [0], [4]]
    assert piece.report.bars_irregular == 1
    assert codec.encode_beats(notes, beats, [0, 4, 8]).report.bars_irregular == 0


def test_encode_beats_makes_a_bar_every_four_beats_after_the_last_downbeat():
    beats = [0.5 * i for i in range(20)]
    notes = [codec.TimedNote(PIANO, 60 + i, 80, 2.0 * i + 0.5, 2.0 * i + 0.75) for i in range(4)]
    piece = codec.encode_beats(notes, beats, [0])
    assert [[(n.pitch, n.position) for n in bar] for bar in piece.notes] == [
        [(60, 4)], [(61, 4)], [(62, 4)], [(63, 4)]]
    assert piece.report.leading_bars_dropped == 0 and piece.report.bars_irregular == 0


def test_encode_beats_keeps_notes_before_the_first_downbeat_in_a_bar_of_their_own():
    beats = [0.5 * i for i in range(12)]
    notes = [codec.TimedNote(PIANO, 60, 80, 0.5, 0.75), codec.TimedNote(PIANO, 62, 80, 2.0, 2.25)]
    piece = codec.encode_beats(notes, beats, [4])
    assert [[(n.pitch, n.position) for n in bar] for bar in piece.notes] == [[(60, 4)], [(62, 0)]]


def test_every_repeated_onset_is_counted(tmp_path):
    events = note_events(0, 480, 50) + note_events(0, 480, 50, velocity=60) + note_events(30, 480, 50, velocity=70)
    piece = codec.encode(write_tracks(tmp_path / "triple.mid", [events]))
    assert piece.report.notes_duplicate_dropped == 2 and len(piece.notes[0]) == 1


def test_stray_velocities_before_or_after_a_note_are_skipped():
    p, v, d = V.pitch_token, V.velocity_token, V.duration_token
    tokens = [v(PIANO, 3), p(PIANO, 60), v(PIANO, 3), d(PIANO, 2), v(PIANO, 5), p(PIANO, 64), v(PIANO, 5), d(PIANO, 1)]
    assert codec.bar_notes(tokens) == [GridNote(PIANO, 60, 14, 0, 2), GridNote(PIANO, 64, 22, 0, 1)]


def test_a_file_without_notes_is_named_in_the_error(tmp_path):
    from cdgmvae.engine.midi_reader import NoNotesError
    path = write_midi(tmp_path / "silent.mid", [{"program": 0, "notes": []}])
    with pytest.raises(NoNotesError) as error:
        codec.encode(path)
    assert str(error.value) == f"{path}: no notes (a valid MIDI file, but it holds none)"


def test_encode_beats_adds_no_empty_bar_before_the_first_note():
    beats = [0.5 * i for i in range(24)]
    notes = [codec.TimedNote(PIANO, 60, 80, 2.25, 2.5), codec.TimedNote(PIANO, 62, 80, 4.5, 4.75)]  # beats 4.5, 9
    piece = codec.encode_beats(notes, beats, [8])
    assert piece.report.leading_bars_dropped == 0
    assert [[(n.pitch, n.position) for n in bar] for bar in piece.notes] == [[(60, 2)], [(62, 4)]]
