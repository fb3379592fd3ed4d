"""The beat clock: Ableton Link (quantum 4) or an internal clock at a fixed tempo.

Both give a `Timeline` snapshot mapping beats to times (seconds on the clock's own monotonic time base);
the scheduler takes a fresh snapshot before every wait, so tempo changes from Link peers apply from the
next event on.
"""
from __future__ import annotations

import time

QUANTUM = 4  # beats per bar: Link's phase unit


class Timeline:
    """A fixed beat grid: `beat = beat0 + (t - t0) * tempo / 60`."""

    def __init__(self, t0: float, beat0: float, tempo: float, playing: bool) -> None:
        self.t0, self.beat0, self.tempo, self.playing = t0, beat0, tempo, playing

    def beat_at(self, t: float) -> float:
        return self.beat0 + (t - self.t0) * self.tempo / 60.0

    def time_at(self, beat: float) -> float:
        return self.t0 + (beat - self.beat0) * 60.0 / self.tempo


class InternalClock:
    name = "internal"

    def __init__(self, bpm: float) -> None:
        self.timeline = Timeline(time.monotonic(), 0.0, bpm, True)

    def now(self) -> float:
        return time.monotonic()

    def snapshot(self) -> Timeline:
        return self.timeline

    def set_playing(self, playing: bool) -> None:
        self.timeline.playing = playing

    def peers(self) -> int:
        return 0

    def monotonic_offset(self) -> float:
        return 0.0

    def describe(self) -> str:
        return f"internal clock at {self.timeline.tempo:g} BPM (Ableton Link off)"

    def close(self) -> None:
        pass


class LinkTimeline:
    """A Link session state seen as a Timeline."""

    def __init__(self, state) -> None:
        self.state = state
        self.tempo = state.tempo()
        self.playing = state.isPlaying()

    def beat_at(self, t: float) -> float:
        return self.state.beatAtTime(int(t * 1e6), QUANTUM)

    def time_at(self, beat: float) -> float:
        return self.state.timeAtBeat(beat, QUANTUM) / 1e6


class LinkClock:
    """Ableton Link. Tempo and start/stop come from the session, whoever set them."""

    name = "link"

    def __init__(self, bpm: float, join_timeout: float = 1.0) -> None:
        import link

        self.link = link.Link(bpm)
        self.link.startStopSyncEnabled = True
        self.link.enabled = True
        # Peers answer within about a second: wait for them briefly so the first bar is already on
        # the session's timeline and tempo rather than ours.
        deadline = time.monotonic() + join_timeout
        while self.link.numPeers() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)

    def now(self) -> float:
        return self.link.clock().micros() / 1e6

    def snapshot(self) -> LinkTimeline:
        return LinkTimeline(self.link.captureAppSessionState())

    def set_playing(self, playing: bool) -> None:
        state = self.link.captureAppSessionState()
        state.setIsPlaying(playing, self.link.clock().micros())
        self.link.commitAppSessionState(state)

    def peers(self) -> int:
        return self.link.numPeers()

    def monotonic_offset(self) -> float:
        """Add to a clock time to get `time.monotonic()`."""
        return time.monotonic() - self.now()

    def describe(self) -> str:
        timeline = self.snapshot()
        return (f"Ableton Link on: {self.peers()} peer(s), session tempo {timeline.tempo:.1f} BPM, "
                f"{'playing' if timeline.playing else 'stopped'} (start/stop sync on, quantum {QUANTUM})")

    def close(self) -> None:
        self.link.enabled = False
