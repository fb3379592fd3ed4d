"""MIDI in: what the performer plays, put on the 16th grid bar by bar, for live transfer."""
from __future__ import annotations

import threading
from collections import deque

from bridge.midi_out import CLIENT_NAME, backend, resolve_api
from bridge.sources import Bar
from engine import vocab as V
from engine.errors import UserError
from engine.notes import TRACK_CHANNEL, GridNote

KEEP_BARS = 4
CHANNEL_TRACK = {channel: track for track, channel in enumerate(TRACK_CHANNEL)}  # others: Piano


class MidiIn:
    """Opens the existing output port called `name` if there is one, else a virtual input port."""

    def __init__(self, name: str, api: str, clock) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.events: deque = deque(maxlen=4096)  # (clock time, message)
        be = backend(resolve_api(api))
        try:
            if name in be.get_input_names():
                self.port, self.label = be.open_input(name, callback=self.receive), f"port '{name}'"
            else:
                self.port = be.open_input(name, virtual=True, client_name=CLIENT_NAME, callback=self.receive)
                self.label = f"virtual port '{name}'"
        except OSError as err:
            raise UserError(f"cannot open MIDI input '{name}': {err}")

    def receive(self, msg) -> None:
        if msg.type in ("note_on", "note_off"):
            with self.lock:
                self.events.append((self.clock.now(), msg))

    def bars(self, timeline, playing_bar: int) -> list[Bar]:
        """The notes of the last KEEP_BARS whole bars before `playing_bar` (the bar under way), oldest
        first; leading empty bars dropped, so an empty list means nothing was played."""
        with self.lock:
            events = list(self.events)
        oldest = playing_bar - KEEP_BARS
        now_beat = timeline.beat_at(self.clock.now())
        bars: list[Bar] = [[] for _ in range(KEEP_BARS)]
        held: dict[tuple[int, int], tuple[float, int]] = {}  # (channel, pitch) -> (onset beat, velocity)

        def close(key, end_beat):
            start, velocity = held.pop(key)
            sixteenth = round(start * 4)
            bar = sixteenth // V.POSITIONS_PER_BAR - oldest
            if 0 <= bar < KEEP_BARS:
                duration = min(V.MAX_DURATION, max(1, round((end_beat - start) * 4)))
                bars[bar].append(GridNote(CHANNEL_TRACK.get(key[0], V.PIANO), key[1], velocity,
                                          sixteenth % V.POSITIONS_PER_BAR, duration))

        for t, msg in events:
            beat = timeline.beat_at(t)
            key = (msg.channel, msg.note)
            if key in held:
                close(key, beat)
            if msg.type == "note_on" and msg.velocity > 0:
                held[key] = (beat, msg.velocity)
        for key in list(held):
            close(key, now_beat)
        while bars and not bars[0]:
            bars.pop(0)
        return bars

    def close(self) -> None:
        self.port.close()
