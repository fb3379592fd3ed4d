"""`cdgmvae live` through a real JACK server: what arrives, when, on which channels, and that it stops clean."""
from __future__ import annotations

import functools
import signal
import statistics

import mido
import pytest
from bar_sources import RepeatBar
from cdgmvae.bridge.clock import QUANTUM, InternalClock
from cdgmvae.bridge.generator_process import GeneratorProcess
from cdgmvae.bridge.midi_out import MidiOut, open_output
from cdgmvae.bridge.osc_server import LiveState
from cdgmvae.bridge.scheduler import Scheduler, Settings
from cdgmvae.bridge.sources import LiveControls
from cdgmvae.engine import vocab as V
from cdgmvae.engine.notes import TRACK_CHANNEL, GridNote
from live_harness import KICK, jack_port

from tests.midi_check import left_sounding

BPM = 240.0
BEAT = 60.0 / BPM
BAR = QUANTUM * BEAT
# Timing margins are fractions of the note values they judge: an event may be off by a 64th note (a sixteenth of
# a beat: 15.6 ms at 240 BPM), well above the test server's 5.3 ms JACK period and the sender's spin; the mean
# bar length by a quarter of that.
MARGIN = BEAT / 16


def test_bars_arrive_on_time_on_their_channels_and_stop_clean(live_factory, recorder, test_clip, tmp_path):
    record = tmp_path / "out.mid"
    live = live_factory("--bpm", str(BPM), "--source", "clip", "--clip", test_clip, "--record", str(record))
    live.connect(recorder)
    live.wait_for(r"bar 6 ", timeout=30)
    assert live.interrupt(signal.SIGINT) == 0

    kicks = [t for t, _ in recorder.note_ons(channel=9, note=KICK)]
    assert len(kicks) >= 5, live.output()
    intervals = [b - a for a, b in zip(kicks, kicks[1:])]
    assert statistics.median(intervals) == pytest.approx(BAR, abs=MARGIN / 4)
    assert max(abs(i - BAR) for i in intervals) < MARGIN, intervals

    channels = {m.channel for _, m in recorder.note_ons()}
    assert channels == set(TRACK_CHANNEL)
    programs = {m.channel: m.program for _, m in recorder.snapshot() if m.type == "program_change"}
    assert programs == {0: 0, 1: 25, 2: 33, 3: 48}

    messages = recorder.final()
    assert left_sounding(messages) == 0, "notes left sounding after SIGINT"
    assert any(m.type == "control_change" and m.control == 123 for _, m in messages[-10:])
    assert not [b for b in live.bars() if b["late"]], live.output()

    recorded = [m for m in mido.MidiFile(record).tracks[0] if not m.is_meta]
    arrived = [m for _, m in messages]
    assert [m.bytes() for m in recorded] == [m.bytes() for m in arrived]


def test_sigterm_also_silences(live_factory, recorder, test_clip):
    live = live_factory("--bpm", str(BPM), "--source", "clip", "--clip", test_clip)
    live.connect(recorder)
    live.wait_for(r"bar 1 ", timeout=30)
    assert live.interrupt(signal.SIGTERM) == 0
    assert recorder.note_ons()
    assert left_sounding(recorder.final()) == 0


def test_slow_generator_never_stalls_the_clock(live_factory, recorder, test_clip):
    # Each bar takes 1.5 bar lengths to make: at least every other bar must be the fallback.
    live = live_factory("--bpm", str(BPM), "--source", "slow", "--slow-ms", str(1500 * BAR),
                        "--clip", test_clip)
    live.connect(recorder)
    live.wait_for(r"bar 7 ", timeout=40)
    assert live.interrupt() == 0

    bars = live.bars()
    missed = [b for b in bars if b["late"]]
    assert len(missed) >= 3, live.output()
    counts = [int(b["missed"]) for b in missed]
    assert counts == list(range(1, len(missed) + 1))

    # The fallback repeats the last bar, so a kick lands on every bar line after the first real bar.
    kicks = [t for t, _ in recorder.note_ons(channel=9, note=KICK)]
    intervals = [b - a for a, b in zip(kicks, kicks[1:])]
    assert len(intervals) >= 4, live.output()
    assert max(abs(i - BAR) for i in intervals) < MARGIN, intervals
    assert left_sounding(recorder.final()) == 0


def test_the_default_model_plays_at_the_port(live_factory, recorder):
    """The bundled model, the default source, plays bars at a real JACK port, every note ended. Whether it
    keeps up is a matter of the CPU: bench/live_timing.py measures it (a test asserts no wall-clock time)."""
    live = live_factory("--bpm", "180", "--seed", "0")  # the default source: the bundled model
    live.connect(recorder)
    live.wait_for(r"bar 3 ", timeout=90)
    assert live.interrupt() == 0
    assert "source    model" in live.output()
    assert len(live.bars()) >= 4
    messages = recorder.final()
    assert [m for _, m in messages if m.type == "note_on"], live.output()
    assert left_sounding(messages) == 0


# A kick on the bar line and a piano note on beat 2 (a quarter into the bar), every bar.
PHASE_BAR = [GridNote(V.DRUMS, KICK, 110, 0, 1), GridNote(V.PIANO, 72, 90, 4, 2)]
PHASE_BARS = 6


@pytest.mark.parametrize("latency_beats", [0.0, 0.5])
def test_each_bar_starts_on_the_clocks_bar_line_less_the_latency(jack_server, recorder, request, latency_beats):
    """Phase, not only intervals: each kick arrives at a bar line of the clock's beat grid (beat 0 when the clock
    starts, a bar every QUANTUM beats), and the note on beat 2 a beat later; with a latency, every event arrives
    that much earlier (Settings.latency, --latency-ms: sent ahead of its beat to make up for the latency after
    the port). Judged by what arrives at a real JACK port, against bar lines the test computes itself."""
    name = f"phase-{abs(hash(request.node.name)) % 10**6}"
    port, _ = open_output(name, "jack")
    out = MidiOut(port)
    generator = GeneratorProcess(functools.partial(RepeatBar, PHASE_BAR))
    latency = latency_beats * BEAT
    try:
        generator.wait_ready(30)
        recorder.connect_from(jack_port(name))
        clock = InternalClock(BPM)
        start = clock.now()  # the clock's beat 0: its first bar line
        scheduler = Scheduler(clock, out, generator, LiveState(LiveControls()),
                              settings=Settings(latency=latency, max_bars=PHASE_BARS))
        scheduler.run()
    finally:
        generator.close()
        out.close()

    def beats_after_start(t: float) -> float:
        """Beats from the clock's start to the beat an event arriving at `t` is meant for."""
        return (t + latency - start) / BEAT

    kicks = [beats_after_start(t) for t, _ in recorder.note_ons(channel=9, note=KICK)]
    piano = [beats_after_start(t) for t, _ in recorder.note_ons(channel=0, note=72)]
    assert len(kicks) == len(piano) == PHASE_BARS, (kicks, piano)
    bars = [round(b / QUANTUM) for b in kicks]
    assert bars == list(range(bars[0], bars[0] + PHASE_BARS)) and bars[0] >= 1, kicks  # one kick a bar, none lost
    assert all(abs(b - QUANTUM * bar) < MARGIN / BEAT for b, bar in zip(kicks, bars)), kicks
    assert all(abs(b - (QUANTUM * bar + 1)) < MARGIN / BEAT for b, bar in zip(piano, bars)), piano
