"""The live scheduler's timing: each bar's first event against the clock's bar line, less --latency-ms, and
the recorded MIDI at its beats; the request budget, the first bar after a start and following a moved
timeline, worked out by hand.

The real-time run uses the bridge's own parts (internal clock, generator process with a hand-made bar,
MIDI recorder) without a port: what it checks is when the sender sends, which the port does not change
(tests/bridge checks what arrives at a real JACK port). Margins are half a beat: a bar one beat late, or
the latency ignored or applied the wrong way, is off by more.
"""
from __future__ import annotations

import functools
import logging
import math
import socket
import threading
import time

import mido
import pytest
from cdgmvae.bridge.clock import InternalClock, Timeline
from cdgmvae.bridge.generator_process import GeneratorProcess, Result
from cdgmvae.bridge.midi_in import MidiIn
from cdgmvae.bridge.midi_out import MidiFileRecorder, MidiOut
from cdgmvae.bridge.osc_server import LiveState, OscServer, parse_message
from cdgmvae.bridge.scheduler import Scheduler, Settings, log_fields
from cdgmvae.bridge.sources import LiveControls
from cdgmvae.engine import vocab as V
from cdgmvae.engine.notes import GridNote

from tests.bridge.bar_sources import RepeatBar

BPM = 240.0
BEAT = 60.0 / BPM
BAR_S = 4 * BEAT
LATENCY = 0.2          # 0.8 beats: ignoring it, doubling it or adding it is off by more than the margin
MARGIN = BEAT / 2
BARS = 4
BAR = [GridNote(V.PIANO, 60, 100, 0, 2), GridNote(V.BASS, 40, 90, 8, 4)]   # piano on the bar line, bass at beat 3
PIANO, BASS = 0, 2     # their MIDI channels


@pytest.fixture  # each test plays its own bars: make mutation then knows which tests a line reaches
def played(tmp_path_factory):
    """Four bars played in real time: (clock, start time, event log, scheduler, the recorded MIDI file, the
    share of the playing time the scheduler's thread was on a CPU)."""
    path = tmp_path_factory.mktemp("sched") / "played.mid"
    generator = GeneratorProcess(functools.partial(RepeatBar, BAR))
    out = MidiOut(None, MidiFileRecorder(str(path)))
    events: list = []
    try:
        generator.wait_ready(60)
        clock = InternalClock(BPM)
        started = time.monotonic()
        scheduler = Scheduler(clock, out, generator, LiveState(LiveControls()),
                              settings=Settings(latency=LATENCY, max_bars=BARS), event_log=events)
        cpu = time.thread_time()   # the scheduler runs in this thread; the generator in its own process
        scheduler.run()
        cpu_share = (time.thread_time() - cpu) / (time.monotonic() - started)
    finally:
        generator.close()
        out.close()
    return clock, started, events, scheduler, mido.MidiFile(str(path)), cpu_share


def note_ons(events, channel: int) -> list[float]:
    return [sent for _, sent, data in events if data[0] == 0x90 | channel and data[2] > 0]


def test_each_bar_starts_on_a_bar_line_of_the_clock_less_the_latency(played):
    clock, started, events, scheduler, *_ = played
    piano, bass = note_ons(events, PIANO), note_ons(events, BASS)
    assert len(piano) == BARS and len(bass) == BARS
    t0 = clock.timeline.t0
    first = (piano[0] + LATENCY - t0) / BAR_S
    assert abs(first - round(first)) * BAR_S < MARGIN, first   # on a bar line of the clock's grid
    assert piano[0] + LATENCY > started                         # the next bar line after the start, not a past one
    assert (piano[0] + LATENCY) - started < BAR_S + MARGIN
    for n in range(BARS):
        line = t0 + (round(first) + n) * BAR_S - LATENCY
        assert abs(piano[n] - line) < MARGIN, (n, piano[n] - line)
        assert abs(bass[n] - (line + 2 * BEAT)) < MARGIN, (n, bass[n] - line)
    assert scheduler.bars_played == BARS and scheduler.missed == 0


def test_the_scheduler_sleeps_between_events_instead_of_holding_a_core(played):
    """On stage the bridge shares a laptop with the DAW: between events the scheduler sleeps, and spins
    only the last stretch before an event (Settings.spin). A scheduler that polled the clock without
    sleeping would hold its core the whole time; a quarter is far above the sleeping one's share and far
    below a polling one's, even on a loaded machine."""
    *_, cpu_share = played
    print(f"scheduler CPU share {cpu_share:.3f}")
    assert cpu_share < 0.25, cpu_share


def test_the_recording_holds_each_bar_at_its_beats(played):
    *_, midi, _ = played
    assert midi.type == 0 and midi.ticks_per_beat == 480
    now, notes, programs, all_off = 0, [], [], set()
    for msg in midi.tracks[0]:
        now += msg.time
        if msg.type in ("note_on", "note_off"):
            kind = "on" if msg.type == "note_on" and msg.velocity > 0 else "off"
            notes.append((now, kind, msg.channel, msg.note))
        elif msg.type == "program_change":
            programs.append((now, msg.channel, msg.program))
        elif msg.type == "control_change" and msg.control == 123:
            all_off.add(msg.channel)
    assert programs == [(0, 0, 0), (0, 1, 25), (0, 2, 33), (0, 3, 48)]    # with the first bar, at its line
    expected = []
    for n in range(BARS):
        bar = n * 4 * 480
        expected += [(bar, "on", PIANO, 60), (bar + 240, "off", PIANO, 60),       # 2 16ths: half a beat
                     (bar + 960, "on", BASS, 40), (bar + 1440, "off", BASS, 40)]  # beat 3, one beat long
    assert sorted(notes) == sorted(expected)
    assert all_off == {9, 0, 1, 2, 3}   # all notes off on every track's channel when it stops


def scheduler_at(latency: float = 0.0, guard: float = 0.005) -> Scheduler:
    """A scheduler whose pure parts are under test: no generator process is asked for anything."""
    return Scheduler(InternalClock(120.0), MidiOut(None), None, LiveState(LiveControls()),
                     settings=Settings(latency=latency, guard=guard))


def test_budget_asks_as_late_as_the_slowest_recent_bar_allows():
    scheduler = scheduler_at()
    at_120 = Timeline(0.0, 0.0, 120.0, True)    # a bar is 2 s
    assert scheduler.budget(at_120) == pytest.approx(1.8)           # nothing measured yet: 0.9 bar
    scheduler.gen_times.append(0.3)
    assert scheduler.budget(at_120) == pytest.approx(0.65)          # twice the slowest, plus 50 ms
    scheduler.gen_times.append(0.01)
    assert scheduler.budget(at_120) == pytest.approx(0.65)          # the slowest counts
    scheduler.gen_times.clear()
    scheduler.gen_times.append(0.1)
    assert scheduler.budget(at_120) == pytest.approx(0.5)           # never less than a quarter bar
    scheduler.gen_times.append(5.0)
    assert scheduler.budget(at_120) == pytest.approx(1.8)           # never more than 0.9 bar
    assert scheduler.budget(Timeline(0.0, 0.0, 60.0, True)) == pytest.approx(3.6)


def test_first_bar_is_the_next_bar_line_that_latency_and_guard_leave_time_for():
    scheduler = scheduler_at(latency=0.1, guard=0.005)
    # at 120 BPM, now=100 is beat b0; latency + guard + 1 ms = 0.106 s = 0.212 beats
    assert scheduler.first_bar(Timeline(100.0, 6.0, 120.0, True), 100.0) == 2     # beat 6.21 -> bar 2 (beat 8)
    assert scheduler.first_bar(Timeline(100.0, 7.7, 120.0, True), 100.0) == 2     # 7.91: bar 2 still ahead
    assert scheduler.first_bar(Timeline(100.0, 7.8, 120.0, True), 100.0) == 3     # 8.01: too late for bar 2
    assert scheduler.first_bar(Timeline(100.0, 8.0 - 0.21, 120.0, True), 100.0) == 3  # 1 ms margin too
    assert scheduler_at().first_bar(Timeline(0.0, 0.0, 120.0, True), 0.0) == 1    # beat 0 is already now


def test_a_moved_timeline_shifts_the_queued_bars_by_whole_bars():
    scheduler = scheduler_at()
    scheduler.player.add_bar(8.0, [GridNote(V.PIANO, 60, 90, 0, 4)])
    scheduler.next_bar = 3
    scheduler.follow_jump(Timeline(0.0, 0.0, 120.0, True), 10.0)         # first look: nothing to compare
    assert (scheduler.next_bar, scheduler.player.next_beat()) == (3, 8.0)
    scheduler.follow_jump(Timeline(0.0, 0.04, 120.0, True), 10.0)        # drift under JUMP_BEATS: no jump
    assert (scheduler.next_bar, scheduler.player.next_beat()) == (3, 8.0)
    scheduler.follow_jump(Timeline(0.0, 8.3, 120.0, True), 10.0)         # moved 8.26 beats: two bars
    assert (scheduler.next_bar, scheduler.player.next_beat()) == (5, 16.0)
    scheduler.follow_jump(Timeline(0.0, 4.6, 120.0, True), 10.0)         # back 3.7 beats: one bar
    assert (scheduler.next_bar, scheduler.player.next_beat()) == (4, 12.0)
    scheduler.follow_jump(Timeline(0.0, 4.6 - 0.06, 120.0, True), 10.0)  # just over JUMP_BEATS, under half a bar
    assert (scheduler.next_bar, scheduler.player.next_beat()) == (4, 12.0)


def test_log_fields_name_the_tonic_and_round_the_values():
    mark = {"bar": 7, "emotion": "calm", "valence": 0.123, "lambda": 1.0, "playing": 1, "missed": 2,
            "tempo": 97.25, "tonic": 10}
    assert log_fields(mark) == "emotion=calm valence=0.12 lambda=1.00 playing=1 missed=2 tempo=97.2 tonic=Bb"


def test_bar_feedback_reports_the_bar_as_it_was_made():
    scheduler = scheduler_at()
    scheduler.mood, scheduler.missed = (0.2, 0.9), 3
    scheduler.bar_controls = LiveControls(lam=0.25, temperature=1.5, key_strength=2.0, transfer=True)
    assert scheduler.bar_feedback(5, 133.0) == {
        "bar": 5, "emotion": "tense", "valence": 0.2, "arousal": 0.9, "lambda": 0.25, "temperature": 1.5,
        "key_strength": 2.0, "transfer": 1, "playing": 1, "missed": 3, "tempo": 133.0}
    scheduler.tonic = 0
    assert scheduler.bar_feedback(5, 133.0)["tonic"] == 0


def test_stopping_sends_note_offs_then_all_notes_off_at_the_current_beat(tmp_path):
    recorder = MidiFileRecorder(str(tmp_path / "stop.mid"))
    scheduler = Scheduler(InternalClock(120.0), MidiOut(None, recorder), None, LiveState(LiveControls()))
    scheduler.player.add_bar(0.0, [GridNote(V.PIANO, 60, 90, 0, 16)])
    list(scheduler.player.due(0.0))   # the note-on went out: the key sounds
    timeline = Timeline(50.0, 10.0, 120.0, False)
    scheduler.playing = True
    scheduler.transport(timeline, 51.0)
    assert scheduler.playing is False
    sent = [(beat, msg.type, msg.channel, getattr(msg, "control", None)) for beat, _, msg in recorder.events
            if not msg.is_meta]
    assert sent[0] == (12.0, "note_off", 0, None)     # at the beat of now: 10 + 1 s at 120 BPM
    assert sorted(sent[1:]) == sorted((12.0, "control_change", ch, 123) for ch in (9, 0, 1, 2, 3))
    assert math.isclose(recorder.tempo, 120.0)


def run_live(factory, state: LiveState, settings: Settings, path, actions=(), clock=None, midi_in=None):
    """Play with the bridge's parts until settings.max_bars; `actions`: (seconds after the start, function of
    the state) run from a timer thread; `clock`: makes the clock to play by, when the generator is ready
    (default: an internal clock at BPM); `midi_in`: makes the performer's input from the clock. Returns
    (clock, start time, event log, scheduler, when each action ran, the recorder: every message sent with its
    beat)."""
    generator = GeneratorProcess(factory)
    recorder = MidiFileRecorder(str(path))
    out = MidiOut(None, recorder)
    events, done = [], []
    try:
        generator.wait_ready(60)
        clock = (clock or functools.partial(InternalClock, BPM))()
        scheduler = Scheduler(clock, out, generator, state, settings=settings, event_log=events,
                              midi_in=midi_in(clock) if midi_in else None)
        started = time.monotonic()
        timers = []
        for delay, action in actions:
            def run(action=action):
                with state.lock:
                    action(state)
                done.append(time.monotonic())
            timers.append(threading.Timer(delay, run))
        for timer in timers:
            timer.start()
        scheduler.run()
        for timer in timers:
            timer.cancel()
    finally:
        generator.close()
        out.close()
    return clock, started, events, scheduler, done, recorder


def all_off_beats(recorder) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for beat, _, msg in recorder.events:
        if msg.type == "control_change" and msg.control == 123:
            out.setdefault(msg.channel, []).append(beat)
    return out


def test_panic_stop_and_start_from_the_performer(tmp_path):
    state = LiveState(LiveControls())
    state.panic = True   # at the first step: every channel all notes off, before any note

    def stop(s):
        s.play_request = False

    def start(s):
        s.play_request = True

    clock, started, events, scheduler, done, recorder = run_live(
        functools.partial(RepeatBar, BAR), state, Settings(latency=LATENCY, max_bars=4), tmp_path / "transport.mid",
        actions=[(2.3, stop), (3.9, start)])
    stopped_at, started_again = done
    offs = all_off_beats(recorder)
    assert sorted(offs) == [0, 1, 2, 3, 9]
    beat_of = clock.timeline.beat_at
    piano = note_ons(events, PIANO)
    assert all(beats[0] < beat_of(piano[0]) for beats in offs.values())         # the panic, before any note
    stop_beat = beat_of(stopped_at)
    assert all(any(stop_beat <= b < stop_beat + MARGIN / BEAT for b in beats) for beats in offs.values())  # stop
    assert not [t for t in piano if stopped_at + MARGIN < t < started_again]    # silent while stopped
    after = [t for t in piano if t > started_again]
    assert after, piano
    t0 = clock.timeline.t0
    phase = (after[0] + LATENCY - t0) / BAR_S
    assert abs(phase - round(phase)) * BAR_S < MARGIN                            # again on a bar line
    assert after[0] + LATENCY - started_again < BAR_S + MARGIN                   # the next one
    programs = [beat for beat, _, msg in recorder.events if msg.type == "program_change"]
    assert len(programs) == 8 and max(programs) > beat_of(started_again)        # sent again with the restart
    assert scheduler.bars_played == 4


def test_late_bars_are_counted_and_replaced_by_the_fallback(tmp_path):
    from tests.scheduler_sources import SlowRepeatBar
    for fallback in ("rest", "repeat"):
        # each bar takes 2.2 bars to make: after the first, most bars miss their deadline
        _, _, events, scheduler, _, _ = run_live(functools.partial(SlowRepeatBar, BAR, 2.2 * BAR_S), LiveState(
            LiveControls()), Settings(latency=LATENCY, max_bars=4, fallback=fallback), path=tmp_path / "late.mid")
        assert scheduler.missed >= 2
        bars_heard = len(note_ons(events, PIANO))
        if fallback == "rest":
            assert bars_heard == scheduler.bars_played - scheduler.missed
        else:   # the last bar again, after the first bar that arrived
            assert bars_heard > scheduler.bars_played - scheduler.missed


def test_a_timeline_moved_by_half_a_bar_restarts_the_bars_on_its_new_grid(tmp_path, caplog):
    """A session timeline that moves by two beats (a Link session merging, a peer restarting its beat grid)
    cannot be followed by shifting the bars by whole bars: the bar due next would land mid-bar of the new
    grid. The bars restart at the next bar line of the new grid instead, and the log says so."""
    caplog.set_level(logging.INFO, logger="cdgmvae")
    clocks = []

    def new_clock():
        clocks.append(InternalClock(BPM))
        return clocks[0]

    # bars are due a bar line less LATENCY apart, from t0 + 1 bar; 0.675 bar after the bar line at t0 + 2
    # bars, the beat with latency is half a beat before the next bar due: two beats on, it is past it
    after_t0 = 2.675 * BAR_S
    jump = 2.0

    def move(_state):
        old = clocks[0].timeline
        clocks[0].timeline = Timeline(old.t0, old.beat0 + jump, old.tempo, old.playing)

    _, _, events, scheduler, done, _ = run_live(
        functools.partial(RepeatBar, BAR), LiveState(LiveControls()), Settings(latency=LATENCY, max_bars=6),
        tmp_path / "moved.mid", actions=[(after_t0, move)], clock=new_clock)
    (moved,) = done
    t0 = clocks[0].timeline.t0
    assert abs(moved - t0 - after_t0) < MARGIN / 2, "the timer moved the timeline too late to test this"
    piano = note_ons(events, PIANO)
    before, after = [t for t in piano if t < moved], [t for t in piano if t > moved]
    assert len(before) == 2 and after, piano

    def beats_off_the_grid(t: float, beat0: float) -> float:
        phase = (beat0 + (t + LATENCY - t0) / BEAT) % 4
        return min(phase, 4 - phase)
    assert all(beats_off_the_grid(t, 0.0) < MARGIN / BEAT for t in before)
    assert all(beats_off_the_grid(t, jump) < MARGIN / BEAT for t in after), \
        [round(beats_off_the_grid(t, jump), 2) for t in after]
    assert after[0] - moved < BAR_S + MARGIN                 # from the next bar line of the new grid on
    assert any("the session timeline jumped" in r.getMessage() for r in caplog.records)


def played_input(clock):
    """The bridge's MIDI input (bridge/midi_in.py) without a port: the performer's messages go to
    `receive`, as the port's callback hands them over (tests/bridge/test_live_midi_in.py plays them into a
    real JACK port)."""
    return MidiIn(None, "jack", clock)


@pytest.mark.parametrize("transfer", [True, False])
def test_what_the_performer_played_reaches_the_source_only_with_transfer_on(tmp_path, transfer):
    """Live transfer hands the source the bars played before the bar under way: a performer's note in bar 1
    comes back (EchoHeard plays what it was handed) in the bars made after it, on its beat; with transfer
    off the source never hears it."""
    from tests.bridge.bar_sources import EchoHeard
    inputs = []

    def make_input(clock):
        inputs.append(played_input(clock))
        return inputs[0]

    def play(kind):
        def action(_state):
            inputs[0].receive(mido.Message(kind, note=67, velocity=100 if kind == "note_on" else 0))
        return action

    # G4 from beat 1 of bar 1 (a quarter in) for half a beat
    _, _, events, scheduler, _, _ = run_live(
        functools.partial(EchoHeard, BAR), LiveState(LiveControls(transfer=transfer)),
        Settings(latency=LATENCY, max_bars=5), tmp_path / "heard.mid", midi_in=make_input,
        actions=[(1.25 * BAR_S, play("note_on")), (1.25 * BAR_S + BEAT / 2, play("note_off"))])
    echoed = [(sent, data[1]) for _, sent, data in events if data[0] & 0xF0 == 0x90 and data[2] > 0]
    heard = [sent for sent, pitch in echoed if pitch == 67]
    if not transfer:
        assert heard == [] and len(note_ons(events, PIANO)) == scheduler.bars_played
        return
    assert heard, echoed
    t0 = scheduler.clock.timeline.t0
    for sent in heard:   # a quarter into a bar, as played
        beat = (sent + LATENCY - t0) / BEAT
        assert abs(beat % 4 - 1.0) < MARGIN / BEAT, beat
    # bar 2 is asked for while bar 1 is under way (a quarter bar ahead, once bars take no time to make), so
    # the first bar made from it is bar 3; from then on every bar
    first = (min(heard) + LATENCY - t0) / BAR_S
    assert abs(first - 3.25) < MARGIN / BAR_S and len(heard) == scheduler.bars_played - 2, (first, len(heard))


def ready_bar(seconds: float = 0.0123) -> Result:
    return Result(serial=1, controls=LiveControls(valence=0.9, arousal=0.8, lam=0.5, key_strength=2.0),
                  notes=[GridNote(V.PIANO, 60 + i, 90, 4 * i, 2) for i in range(3)], mood=(0.9, 0.8), tonic=2,
                  seconds=seconds)


def test_a_queued_bar_is_logged_and_queued_with_its_feedback(caplog):
    """The bar log line a user reads (and the tests of the live command parse): the bar's number, the
    emotion, the controls it was made with, how long it took, how early it was ready, its notes."""
    caplog.set_level(logging.INFO, logger="cdgmvae")
    scheduler = scheduler_at()
    scheduler.ready, scheduler.ready_at = ready_bar(), 99.5
    scheduler.bars_played, scheduler.next_bar = 7, 9
    scheduler.queue_bar(Timeline(0.0, 0.0, 120.0, True), 100.0, LiveControls())
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("bar ")]
    assert line == ("bar 7 target=happy emotion=happy valence=0.90 arousal=0.80 lambda=0.50 temperature=1.00 "
                    "key_strength=2.00 transfer=0 playing=1 missed=0 tempo=120.0 tonic=D gen_ms=12.3 slack_ms=500 "
                    "notes=3")
    assert (scheduler.bars_played, scheduler.next_bar, scheduler.tonic) == (8, 10, 2)
    due = list(scheduler.player.due(36.0))
    assert due[0] == (36.0, {**scheduler.bar_feedback(7, 120.0), "missed": 0})
    assert [m.note for _, m in due[1:] if m.type == "note_on"] == [60]   # the bar's first note, at beat 36

    caplog.clear()
    scheduler.queue_bar(Timeline(0.0, 0.0, 120.0, True), 102.0, LiveControls())   # nothing ready: missed
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("bar ")]
    assert line.startswith("bar 8 MISSED: the generator was not ready by the deadline; fallback repeat (3 notes) "
                           "emotion=happy valence=0.90")
    assert "missed=1" in line and scheduler.missed == 1


def test_a_bars_feedback_goes_out_when_the_bar_starts_with_the_values_in_force(tmp_path):
    """Feedback of a bar leaves when the bar starts, not when it is queued; its number and tempo are the
    bar's, the controls those in force then (a surface must not flick back to a value it changed while the
    bar was being made). A datagram lost on the way makes the test try again."""
    for _ in range(3):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as surface:
            surface.bind(("127.0.0.1", 0))
            surface.settimeout(0.3)
            state = LiveState(LiveControls(lam=0.25))
            osc = OscServer("127.0.0.1", 0, [], [f"127.0.0.1:{surface.getsockname()[1]}"], state)
            try:
                recorder = MidiFileRecorder(str(tmp_path / "fed.mid"))
                scheduler = Scheduler(InternalClock(120.0), MidiOut(None, recorder), None, state, osc=osc)
                scheduler.ready, scheduler.next_bar, scheduler.bars_played = ready_bar(), 2, 5
                scheduler.queue_bar(Timeline(0.0, 0.0, 120.0, True), 3.9, LiveControls())  # bar 5, at beat 8
                state.controls = state.controls.with_(lam=0.75)               # changed meanwhile
                at_126 = Timeline(4.0, 8.0, 126.0, True)                      # and the session's tempo
                scheduler.send_due(at_126, 3.99)
                early = received(surface)
                scheduler.send_due(at_126, 4.0)
                shown = dict(received(surface))
            finally:
                osc.close()
        assert early == []                                               # not before the bar starts
        notes = [msg.note for _, _, msg in recorder.events if msg.type == "note_on"]
        assert notes == [60]                                             # with the bar's first note
        if len(shown) == len(scheduler.bar_feedback(5, 120.0)):
            break
    assert shown["/cdgmvae/fb/bar"] == 5 and shown["/cdgmvae/fb/tempo"] == 126.0   # the tempo it starts at
    assert shown["/cdgmvae/fb/lambda"] == 0.75                          # in force, not the bar's 0.5
    assert shown["/cdgmvae/fb/valence"] == pytest.approx(0.9) and shown["/cdgmvae/fb/emotion"] == "happy"


def received(sock) -> list[tuple[str, object]]:
    out = []
    while True:
        try:
            address, args = parse_message(sock.recvfrom(1024)[0])
        except TimeoutError:
            return out
        out.append((address, args[0]))
