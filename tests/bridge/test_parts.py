"""The bridge's parts on their own (no JACK): OSC validation, note pairing, sources, MIDI-in grid, recorder."""
from __future__ import annotations

import math

import mido
import pytest
from cdgmvae.bridge.clock import InternalClock, Timeline
from cdgmvae.bridge.midi_in import grid_bars
from cdgmvae.bridge.midi_out import MidiFileRecorder
from cdgmvae.bridge.osc_server import Invalid, LiveState, validate
from cdgmvae.bridge.osc_spec import BY_ADDRESS
from cdgmvae.bridge.sources import DATA_DIR, DEFAULT_CLIP, ClipSource, LiveControls
from cdgmvae.engine.notes import GridNote
from cdgmvae.engine.playback import Player


@pytest.mark.parametrize("address, params, value", [
    ("/cdgmvae/valence", [0.25], 0.25),
    ("/cdgmvae/valence", [1], 1.0),             # an int where a float is expected is fine
    ("/cdgmvae/temperature", [2.0], 2.0),
    ("/cdgmvae/play", [1.0], 1),                # a whole float where an int is expected is fine
    ("/cdgmvae/play", [True], 1),
    ("/cdgmvae/emotion", ["Sad"], "sad"),
    ("/cdgmvae/tonic", [9], 9),
    ("/cdgmvae/tonic", [11.0], 11),             # a whole float, as for every int
])
def test_valid_messages(address, params, value):
    spec, args = validate(address, params)
    assert spec is BY_ADDRESS[address] and args == [value] and type(args[0]) is type(value)


@pytest.mark.parametrize("address, params", [
    ("/cdgmvae/valence", [math.nan]),
    ("/cdgmvae/valence", [math.inf]),
    ("/cdgmvae/valence", [-0.01]),
    ("/cdgmvae/valence", [1.01]),
    ("/cdgmvae/valence", ["0.5"]),
    ("/cdgmvae/valence", [True]),
    ("/cdgmvae/valence", []),
    ("/cdgmvae/valence", [0.5, 0.5]),
    ("/cdgmvae/temperature", [0.0]),
    ("/cdgmvae/play", [0.5]),
    ("/cdgmvae/play", [2]),
    ("/cdgmvae/emotion", ["angry"]),
    ("/cdgmvae/emotion", [1]),
    ("/cdgmvae/tonic", [12]),
    ("/cdgmvae/tonic", [13]),
    ("/cdgmvae/tonic", [-1]),
    ("/cdgmvae/tonic", [9.5]),
    ("/cdgmvae/tonic", ["A"]),
    ("/cdgmvae/tonic", []),
    ("/cdgmvae/panic", [1]),
    ("/cdgmvae/fb/bar", [3]),                   # feedback goes out, never in
    ("/cdgmvae/volume", [0.5]),
    ("/other", []),
])
def test_invalid_messages(address, params):
    with pytest.raises(Invalid):
        validate(address, params)


def test_state_applies_checked_messages():
    state = LiveState(LiveControls())
    state.apply(*validate("/cdgmvae/emotion", ["tense"]))
    state.apply(*validate("/cdgmvae/lambda", [0.2]))
    state.apply(*validate("/cdgmvae/play", [0]))
    state.apply(*validate("/cdgmvae/transfer", [1]))
    state.apply(*validate("/cdgmvae/key_strength", [0.5]))
    controls, play, panic = state.take()
    assert (controls.valence, controls.arousal, controls.lam, controls.transfer) == (0.0, 1.0, 0.2, True)
    assert controls.key_strength == 0.5
    assert play is False and panic is False
    assert state.take()[1] is None  # a play request is taken once


def test_a_chosen_tonic_holds_until_a_transfer_takes_the_played_one():
    state = LiveState(LiveControls())
    assert state.take()[0].tonic is None  # the piece's own
    state.apply(*validate("/cdgmvae/tonic", [9]))
    state.apply(*validate("/cdgmvae/transfer", [0]))
    assert state.take()[0].tonic == 9
    state.apply(*validate("/cdgmvae/transfer", [1]))
    assert state.take()[0].tonic is None
    state.apply(*validate("/cdgmvae/tonic", [2]))  # chosen while transferring
    assert state.take()[0].tonic == 2


def test_live_controls_are_the_generators_controls_plus_tonic_and_transfer():
    import inspect

    from cdgmvae.engine.generator import Generator
    engine = inspect.signature(Generator).parameters["controls"].default  # what a Generator starts with
    live = LiveControls()
    assert live.generation() == engine  # one set of defaults, whichever side starts
    assert (live.tonic, live.transfer) == (None, False)
    moved = live.with_(valence=0.25, lam=0.5, tonic=4, transfer=True)
    assert moved.generation() == type(engine)(valence=0.25, lam=0.5)
    with pytest.raises(ValueError):  # the engine's checks hold live too
        live.with_(lam=1.5)


def messages(player: Player, upto: float) -> list[tuple[float, mido.Message]]:
    return [(beat, m) for beat, m in player.due(upto) if isinstance(m, mido.Message)]


def test_player_pairs_every_note_on_with_its_note_off():
    player = Player()
    bar = [GridNote(1, 60, 100, 0, 4), GridNote(0, 36, 90, 0, 1), GridNote(4, 72, 80, 0, 16)]
    player.add_bar(0.0, bar, mark="bar 0")
    player.add_bar(4.0, bar)
    out = messages(player, 100.0)
    ons = [(b, m.channel, m.note) for b, m in out if m.type == "note_on"]
    offs = [(b, m.channel, m.note) for b, m in out if m.type == "note_off"]
    assert len(ons) == len(offs) == 6
    assert {(m.channel) for _, m in out} == {0, 9, 3}
    # the strings note ends exactly where the next one starts: its off comes first
    at4 = [(m.type, m.note) for b, m in out if b == 4.0 and m.channel == 3]
    assert at4 == [("note_off", 72), ("note_on", 72)]
    assert not player.sounding


def test_player_retrigger_ends_the_old_note_once():
    player = Player()
    player.add_bar(0.0, [GridNote(1, 60, 100, 0, 16), GridNote(1, 60, 100, 4, 2)])
    out = [(b, m.type) for b, m in messages(player, 100.0)]
    assert out == [(0.0, "note_on"), (1.0, "note_off"), (1.0, "note_on"), (1.5, "note_off")]


@pytest.mark.parametrize("first, second", [(4, 8), (8, 4)])
def test_player_merges_a_key_struck_twice_at_once_into_the_longer_note(first, second):
    player = Player()
    player.add_bar(0.0, [GridNote(1, 60, 100, 0, first), GridNote(1, 60, 80, 0, second)])
    out = [(b, m.type) for b, m in messages(player, 100.0)]
    assert out == [(0.0, "note_on"), (2.0, "note_off")]
    assert not player.sounding


def test_player_never_lets_an_earlier_note_off_end_a_later_note():
    player = Player()
    player.add_bar(0.0, [GridNote(1, 60, 100, 0, 8), GridNote(1, 60, 100, 4, 8)])
    out = [(b, m.type) for b, m in messages(player, 100.0)]
    assert out == [(0.0, "note_on"), (1.0, "note_off"), (1.0, "note_on"), (3.0, "note_off")]


def test_release_all_ends_sounding_notes_and_drops_the_rest():
    player = Player()
    player.add_bar(0.0, [GridNote(1, 60, 100, 0, 16), GridNote(1, 62, 100, 8, 4)])
    assert [m.type for _, m in messages(player, 0.5)] == ["note_on"]
    assert [(m.type, m.note) for m in player.release_all()] == [("note_off", 60)]
    assert messages(player, 100.0) == []


def test_shift_moves_queued_events_by_whole_bars():
    player = Player()
    player.add_bar(8.0, [GridNote(1, 60, 100, 0, 4)])
    player.shift(4.0)
    assert player.next_beat() == 12.0


def test_clip_source_loops_and_follows_the_controls():
    source = ClipSource(str(DATA_DIR / DEFAULT_CLIP))
    n = len(source.bars)
    source.set_controls(LiveControls(valence=1.0, arousal=1.0, lam=0.5))
    first = [source.next_bar() for _ in range(n)]
    again = source.next_bar()
    assert again == first[0] and any(first)
    source.set_controls(LiveControls(valence=0.0, arousal=0.0, lam=0.5))
    quiet = source.next_bar()
    assert source.mood() == (0.5, 0.5)
    source.next_bar()
    assert source.mood() == (0.25, 0.25)
    assert sum(x.velocity for x in quiet) < sum(x.velocity for x in first[1])
    assert all(0 <= x.position < 16 and 1 <= x.duration <= 16 for bar in first for x in bar)


def test_clip_source_continues_from_what_it_heard():
    source = ClipSource(str(DATA_DIR / DEFAULT_CLIP))
    heard = [[GridNote(1, 90, 100, 0, 4)], [GridNote(1, 93, 100, 8, 4)]]
    source.hear(heard)
    source.set_controls(LiveControls(transfer=True, lam=1.0))
    pitches = {n.pitch for _ in range(2) for n in source.next_bar()}
    assert pitches == {90, 93}


def test_midi_in_grid_bars():
    timeline = Timeline(t0=0.0, beat0=0.0, tempo=120.0, playing=True)  # a beat is 0.5 s
    events = [
        (8.0, mido.Message("note_on", channel=0, note=60, velocity=80)),    # bar 4, beat 0
        (8.5, mido.Message("note_off", channel=0, note=60)),
        (9.26, mido.Message("note_on", channel=9, note=36, velocity=100)),  # bar 4, 16th 10 (9.25 s)
        (9.4, mido.Message("note_on", channel=9, note=36, velocity=0)),
        (10.0, mido.Message("note_on", channel=2, note=40, velocity=70)),   # bar 5, still held
    ]
    bars = grid_bars(events, timeline, playing_bar=6, now=11.0)
    assert bars == [
        [GridNote(1, 60, 80, 0, 4), GridNote(0, 36, 100, 10, 1)],
        [GridNote(3, 40, 70, 0, 8)],
    ]
    assert grid_bars([], timeline, playing_bar=6, now=11.0) == []
    # the last phrase stays when the performer stops; the bar under way is not part of it
    assert grid_bars(events, timeline, playing_bar=20, now=11.0) == bars
    assert grid_bars(events, timeline, playing_bar=5, now=11.0) == bars[:1]


def test_recorder_writes_the_stream_with_its_tempo(tmp_path):
    rec = MidiFileRecorder(str(tmp_path / "r.mid"))
    rec.add(mido.Message("note_on", note=60, velocity=90), 4.0, 120.0)
    rec.add(mido.Message("note_off", note=60), 5.0, 120.0)
    rec.add(mido.Message("note_on", note=62, velocity=90), 6.0, 90.0)
    rec.save()
    mid = mido.MidiFile(tmp_path / "r.mid")
    track = mid.tracks[0]
    assert [m.type for m in track][:4] == ["set_tempo", "note_on", "note_off", "set_tempo"]
    ticks, absolute = 0, []
    for m in track:
        ticks += m.time
        if not m.is_meta:
            absolute.append(ticks)
    assert absolute == [0, 480, 960]
    assert mido.tempo2bpm(track[3].tempo) == pytest.approx(90.0)


def test_internal_clock_bars():
    clock = InternalClock(180.0)
    timeline = clock.snapshot()
    assert timeline.time_at(4.0) - timeline.time_at(0.0) == pytest.approx(4 / 3)
    assert timeline.beat_at(timeline.time_at(7.5)) == pytest.approx(7.5)


def test_model_source_passes_every_control_to_the_generator():
    from cdgmvae.bridge.model_source import ModelSource
    source = ModelSource(None, "eager", seed=0, threads=1, tonic=9)
    assert source.generator.tonic == 9  # --tonic A
    source.set_controls(LiveControls(valence=0.0, arousal=1.0, lam=0.25, temperature=0.5, key_strength=3.0))
    c = source.generator.controls
    assert (c.valence, c.arousal, c.lam, c.temperature, c.key_strength) == (0.0, 1.0, 0.25, 0.5, 3.0)
    assert source.next_bar()
    assert source.tonic() == 9  # and fed back


def test_model_source_plays_in_the_chosen_tonic_then_in_the_one_a_transfer_heard():
    from cdgmvae.bridge.model_source import ModelSource
    source = ModelSource(None, "eager", seed=0, threads=1, tonic=3)
    source.set_controls(LiveControls(tonic=9))
    source.next_bar()
    assert source.generator.tonic == source.tonic() == 9
    # I IV V I in G major
    g_major = (55, 59, 62, 60, 64, 67, 62, 66, 69, 55, 59, 62, 67)
    source.hear([[GridNote(1, pitch, 100, position, 4) for position, pitch in enumerate(g_major)]])
    source.set_controls(LiveControls(transfer=True))  # /cdgmvae/transfer 1 clears the chosen tonic
    source.next_bar()
    assert source.tonic() == 7
    source.set_controls(LiveControls(transfer=True, tonic=2))
    source.next_bar()
    assert source.tonic() == 2
