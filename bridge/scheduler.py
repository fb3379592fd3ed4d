"""The live loop of the sender process: it waits, sends each event at its time, and never waits on the
generator. Bar n+1 is requested while bar n plays; a bar not ready by its deadline is replaced by the
fallback, and the clock goes on.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass

from cdgmvae.bridge.clock import QUANTUM
from cdgmvae.bridge.generator_process import GeneratorProcess, Result
from cdgmvae.bridge.midi_out import MidiOut
from cdgmvae.bridge.osc_server import LiveState, OscServer, in_force
from cdgmvae.bridge.osc_spec import PITCH_NAMES, nearest_emotion
from cdgmvae.bridge.sources import LiveControls
from cdgmvae.engine.notes import BarNotes
from cdgmvae.engine.playback import Player

log = logging.getLogger("cdgmvae.live")
JUMP_BEATS = 0.05  # more than tempo changes between two steps can move the beat


@dataclass
class Settings:
    latency: float = 0.0          # seconds each event goes out before its beat (downstream latency)
    fallback: str = "repeat"      # what a late bar is replaced by: "repeat" the last bar, or "rest"
    guard: float = 0.005          # a bar is due this long before its bar line
    max_bars: int | None = None
    max_sleep: float = 0.005      # re-read the clock at least this often (tempo changes, OSC)
    spin: float = 0.0005          # busy-wait this last stretch before an event


def log_fields(mark: dict[str, object]) -> str:
    """A bar's feedback values as the bar log's key=value fields (the tonic by name)."""
    def text(name: str, value) -> str:
        if name == "tonic":
            return PITCH_NAMES[value]
        if name == "tempo":
            return f"{value:.1f}"
        return f"{value:.2f}" if isinstance(value, float) else str(value)
    return " ".join(f"{name}={text(name, value)}" for name, value in mark.items() if name != "bar")


class Scheduler:
    """The sender's live loop (`run` until `stop` is set or settings.max_bars have played).

    clock: a LinkClock or InternalClock (bridge/clock.py; beats, tempo in BPM, times in seconds); out: the
    MIDI port and recorder; generator: the GeneratorProcess that makes the bars; state: what OSC changes
    (LiveControls, play, panic), read once per step; osc: feedback out (None: no feedback); midi_in: the
    performer's bars for live transfer (None: off); settings: latency and guard in seconds, the fallback;
    event_log: when a list, every event's (scheduled, sent monotonic seconds, MIDI bytes) is appended.
    A bar not ready by its deadline (its bar line, less settings.latency and settings.guard) is replaced by
    the fallback and counted in `missed`. Raises GeneratorError or UserError when the generator process
    fails; `run` always ends with all notes off.
    """

    def __init__(self, clock, out: MidiOut, generator: GeneratorProcess, state: LiveState,
                 osc: OscServer | None = None, midi_in=None, settings: Settings = Settings(),
                 event_log: list | None = None) -> None:
        self.clock, self.out, self.generator, self.state = clock, out, generator, state
        self.osc, self.midi_in, self.settings, self.event_log = osc, midi_in, settings, event_log
        self.player = Player()
        self.stop = threading.Event()
        self.playing = False
        self.programs_sent = False
        self.next_bar = 0             # bar of the session timeline queued next
        self.bars_played = 0
        self.missed = 0
        self.ready: Result | None = None
        self.ready_at = 0.0
        self.last_notes: BarNotes = []
        self.mood = (state.controls.valence, state.controls.arousal)
        self.bar_controls = state.controls  # the controls the last bar was made with
        self.tonic: int | None = None  # key guidance's tonic of the last bar, where the source has one
        self.gen_times: deque[float] = deque(maxlen=16)
        self.to_monotonic = clock.monotonic_offset()
        self.previous = None          # the timeline of the last step, to see Link move the timeline

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.step()
        finally:
            self.silence()

    def step(self) -> None:
        now = self.clock.now()
        timeline = self.clock.snapshot()
        if self.playing and timeline.playing:
            self.follow_jump(timeline, now)
            self.send_due(timeline, now)  # what this step woke for comes first, the bookkeeping after
        controls, play_request, panic = self.state.take()
        if play_request is not None:
            self.clock.set_playing(play_request)
        if panic:
            self.send_now(self.player.release_sounding(), timeline, now, all_off=True)
        self.collect(now)
        if timeline.playing != self.playing:
            self.transport(timeline, now)
        if not self.playing:
            self.previous = timeline
            self.maybe_request(controls, timeline, now, deadline=now)  # keep a bar ready for the start
            time.sleep(self.settings.max_sleep)
            return

        s = self.settings
        beat_now = timeline.beat_at(now + s.latency)
        bar_beat = self.next_bar * QUANTUM
        if beat_now > bar_beat + 1 or bar_beat - beat_now > QUANTUM + 1:
            log.info(f"the session timeline jumped (beat {beat_now:.2f}): restarting at the next bar line")
            self.send_now(self.player.release_all(), timeline, now)
            self.next_bar = self.first_bar(timeline, now)
            return
        deadline = timeline.time_at(bar_beat) - s.latency - s.guard
        request_at = self.maybe_request(controls, timeline, now, deadline)
        if now >= deadline:
            self.queue_bar(timeline, deadline, controls)
        self.send_due(timeline, self.clock.now())

        wake = min(deadline, request_at, now + s.max_sleep)
        event_at = math.inf if self.player.next_beat() is None else \
            timeline.time_at(self.player.next_beat()) - s.latency
        self.wait(min(wake, event_at), spin=event_at <= wake)

    def wait(self, until: float, spin: bool) -> None:
        """Sleep until `until`; before an event, sleep short of it and spin the rest (sleep overshoots
        by a few tenths of a millisecond)."""
        pause = until - self.clock.now()
        if not spin:
            if pause > 0:
                time.sleep(pause)
            return
        if pause > self.settings.spin:
            time.sleep(pause - self.settings.spin)
        while self.clock.now() < until:
            pass

    # -- the generator ---------------------------------------------------------------------------

    def collect(self, now: float) -> None:
        result = self.generator.poll()
        if result is not None:
            self.ready, self.ready_at = result, now
            self.gen_times.append(result.seconds)

    def budget(self, timeline) -> float:
        """How long before a bar's deadline to ask for it: as late as is safe, so that control changes
        reach the very next bar, but never less than the slowest recent bar took."""
        bar_seconds = QUANTUM * 60.0 / timeline.tempo
        if not self.gen_times:
            return 0.9 * bar_seconds
        # at least a quarter bar: one slow bar (a long one, a first-time allocation) must not miss
        return min(0.9 * bar_seconds, max(2.0 * max(self.gen_times) + 0.05, 0.25 * bar_seconds))

    def maybe_request(self, controls: LiveControls, timeline, now: float, deadline: float) -> float:
        """Ask for the next bar when it is time; returns when that time is (inf if nothing to ask)."""
        if self.generator.busy or self.ready is not None:
            return math.inf
        request_at = deadline - self.budget(timeline)
        if now >= request_at:
            heard = None
            if controls.transfer and self.midi_in is not None:
                heard = self.midi_in.bars(timeline, self.next_bar - 1)
            self.generator.request(controls, heard)
            return math.inf
        return request_at

    # -- bars and events -------------------------------------------------------------------------

    def queue_bar(self, timeline, deadline: float, controls: LiveControls) -> None:
        if self.settings.max_bars is not None and self.bars_played >= self.settings.max_bars:
            self.stop.set()
            return
        if not self.programs_sent:
            # with the first bar rather than at start-up, so a listener that connects after the port
            # appears (a DAW, a test's recorder) still gets them
            self.out.program_changes(self.next_bar * QUANTUM, timeline.tempo)
            self.programs_sent = True
        result, self.ready = self.ready, None
        number = self.bars_played
        if result is not None:
            self.last_notes, self.mood, self.bar_controls = result.notes, result.mood, result.controls
            self.tonic = result.tonic
        else:
            self.missed += 1
            if self.settings.fallback == "rest":
                self.last_notes = []
        mark = self.bar_feedback(number, timeline.tempo)
        if result is not None:
            target = nearest_emotion(result.controls.valence, result.controls.arousal)
            log.info(f"bar {number} target={target} {log_fields(mark)} gen_ms={result.seconds * 1e3:.1f} "
                     f"slack_ms={(deadline - self.ready_at) * 1e3:.0f} notes={len(result.notes)}")
        else:
            log.warning(f"bar {number} MISSED: the generator was not ready by the deadline; fallback "
                        f"{self.settings.fallback} ({len(self.last_notes)} notes) {log_fields(mark)}")
        self.player.add_bar(self.next_bar * QUANTUM, self.last_notes, mark)
        self.next_bar += 1
        self.bars_played += 1

    def bar_feedback(self, number: int, tempo: float) -> dict[str, object]:
        """The feedback of a bar (every /cdgmvae/fb/ value), as the bar was made: logged when it is queued,
        sent when it starts (with the values in force then)."""
        mark = {"bar": number, "emotion": nearest_emotion(*self.mood), "valence": float(self.mood[0]),
                "arousal": float(self.mood[1]), **in_force(self.bar_controls), "playing": 1,
                "missed": self.missed, "tempo": float(tempo)}
        if self.tonic is not None:
            mark["tonic"] = self.tonic
        return mark

    def send_due(self, timeline, now: float) -> None:
        for beat, item in self.player.due(timeline.beat_at(now + self.settings.latency)):
            if isinstance(item, dict):
                if self.osc is not None:
                    # the values in force, not the bar's: a surface must not flick back to a value
                    # it changed while the bar was being made
                    self.osc.feedback({**item, "tempo": float(timeline.tempo)}, controls_in_force=True)
                continue
            self.out.send(item, beat, timeline.tempo)
            if self.event_log is not None:
                scheduled = timeline.time_at(beat) - self.settings.latency + self.to_monotonic
                self.event_log.append((scheduled, time.monotonic(), item.bytes()))

    def send_now(self, messages: list, timeline, now: float, all_off: bool = False) -> None:
        beat = timeline.beat_at(now)
        for msg in messages:
            self.out.send(msg, beat, timeline.tempo)
        if all_off:
            self.out.all_notes_off(beat, timeline.tempo)

    def follow_jump(self, timeline, now: float) -> None:
        """When Link sessions merge, the beat timeline moves: keep the queued notes on their bars of the
        new timeline (shifted by whole bars) instead of dropping them."""
        previous, self.previous = self.previous, timeline
        if previous is None:
            return
        delta = timeline.beat_at(now) - previous.beat_at(now)
        if abs(delta) < JUMP_BEATS:
            return
        bars = round(delta / QUANTUM)
        self.player.shift(bars * QUANTUM)
        self.next_bar += bars
        log.info(f"the session timeline moved by {delta:+.2f} beats (a Link peer joined?): following it")

    # -- transport -------------------------------------------------------------------------------

    def first_bar(self, timeline, now: float) -> int:
        s = self.settings
        return math.ceil(timeline.beat_at(now + s.latency + s.guard + 0.001) / QUANTUM)

    def transport(self, timeline, now: float) -> None:
        self.playing, self.previous = timeline.playing, timeline
        if self.playing:
            self.programs_sent = False  # sent again with the first bar of every start
            self.next_bar = self.first_bar(timeline, now)
            log.info(f"playing from the next bar line ({timeline.tempo:.1f} BPM)")
        else:
            self.send_now(self.player.release_all(), timeline, now, all_off=True)
            log.info("stopped: all notes off")
        if self.osc is not None:
            self.osc.feedback({"playing": int(self.playing), "tempo": float(timeline.tempo)})

    def silence(self) -> None:
        """Every sounding note off, then all-notes-off on every channel: on stop, Ctrl-C and errors."""
        now = self.clock.now()
        timeline = self.clock.snapshot()
        self.send_now(self.player.release_all(), timeline, now, all_off=True)
        if self.osc is not None:
            self.osc.feedback({"playing": 0})
