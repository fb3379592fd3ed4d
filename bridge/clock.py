"""The beat clock: Ableton Link (quantum 4) or an internal clock at a fixed tempo.

Both give a `Timeline` snapshot mapping beats to times (seconds on the clock's own monotonic time base);
the scheduler takes a fresh snapshot before every wait, so tempo changes from Link peers apply from the
next event on.

Start and stop with Link follow what Link apps do. Start Stop Sync is an option (in Live: Preferences >
Link, Tempo & MIDI) that many sets leave off, and a peer without it never shares its transport. So by
default the bridge keeps a transport of its own: it plays at once, from the next bar line of the
session's shared beat grid (quantum 4), and /cdgmvae/play starts and stops it. With start/stop sync on
(LinkPython-extern's `startStopSyncEnabled`), it follows the session's `isPlaying` instead.
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
    """Ableton Link. Tempo and the beat grid come from the session, whoever set them; start/stop from the
    session only with `start_stop_sync` (see the module docstring)."""

    name = "link"

    def __init__(self, bpm: float, start_stop_sync: bool = False, join_timeout: float = 1.0) -> None:
        import link

        self.start_stop_sync = start_stop_sync
        self.link = link.Link(bpm)
        self.link.startStopSyncEnabled = start_stop_sync
        self.link.enabled = True
        # Peers answer within about a second: wait for them briefly so the first bar is already on
        # the session's timeline and tempo rather than ours.
        deadline = time.monotonic() + join_timeout
        while self.link.numPeers() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        if not start_stop_sync or self.peers() == 0:
            self.set_playing(True)  # with sync on and peers there, their transport decides

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
        session = f"Ableton Link on: {self.peers()} peer(s), session tempo {timeline.tempo:.1f} BPM"
        if not self.start_stop_sync:
            return (f"{session}; start/stop of its own: plays from the next bar line of the session's beat grid "
                    f"(quantum {QUANTUM}), /cdgmvae/play 0 or 1 stops or starts it (--start-stop-sync follows the "
                    f"session's transport instead)")
        return (f"{session}; start/stop sync on: follows the session's transport, now "
                f"{'playing' if timeline.playing else 'stopped'} (quantum {QUANTUM}); start it from a Link peer "
                f"that has Start Stop Sync on, or send /cdgmvae/play 1")

    def close(self) -> None:
        self.link.enabled = False
