"""MIDI in: what the performer plays, put on the 16th grid bar by bar, for live transfer."""
from __future__ import annotations

import threading
from collections import deque

from cdgmvae.bridge.midi_out import CLIENT_NAME, backend, resolve_api
from cdgmvae.engine import vocab as V
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.notes import CHANNEL_TRACK, BarNotes, GridNote

KEEP_BARS = 4  # the longest phrase handed to the source


class MidiIn:
    """Opens the existing output port called `name` if there is one, else a virtual input port; with `name`
    None no port at all, and messages reach it through `receive` alone."""

    def __init__(self, name: str | None, api: str, clock) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.events: deque = deque(maxlen=4096)  # (clock time, message)
        self.port, self.label = None, "no port"
        if name is None:
            return
        be = backend(resolve_api(api))
        try:
            if name in be.get_input_names():
                self.port, self.label = be.open_input(name, callback=self.receive), f"port '{name}'"
            else:
                self.port = be.open_input(name, virtual=True, client_name=CLIENT_NAME, callback=self.receive)
                self.label = f"virtual port '{name}'"
        except OSError as err:
            raise UserError(f"cannot open MIDI input '{name}': {err}") from None

    def receive(self, msg) -> None:
        if msg.type in ("note_on", "note_off"):
            with self.lock:
                self.events.append((self.clock.now(), msg))

    def bars(self, timeline, playing_bar: int) -> list[BarNotes]:
        with self.lock:
            events = list(self.events)
        return grid_bars(events, timeline, playing_bar, self.clock.now())

    def close(self) -> None:
        if self.port is not None:
            self.port.close()


def grid_bars(events: list, timeline, playing_bar: int, now: float) -> list[BarNotes]:
    """The performer's last phrase: up to KEEP_BARS whole bars before `playing_bar` (the bar under way),
    ending with the last bar that has notes, oldest first, leading empty bars dropped ([]: nothing
    played). From (time, note_on/note_off message) events; a note still held ends now."""
    notes: dict[int, BarNotes] = {}  # session bar -> its notes
    held: dict[tuple[int, int], tuple[float, int]] = {}  # (channel, pitch) -> (onset beat, velocity)

    def close(key, end_beat):
        start, velocity = held.pop(key)
        sixteenth = round(start * 4)
        bar = sixteenth // V.POSITIONS_PER_BAR
        if bar < playing_bar:
            duration = min(V.MAX_DURATION, max(1, round((end_beat - start) * 4)))
            notes.setdefault(bar, []).append(GridNote(CHANNEL_TRACK.get(key[0], V.PIANO), key[1], velocity,
                                                      sixteenth % V.POSITIONS_PER_BAR, duration))

    for t, msg in events:
        beat = timeline.beat_at(t)
        key = (msg.channel, msg.note)
        if key in held:
            close(key, beat)
        if msg.type == "note_on" and msg.velocity > 0:
            held[key] = (beat, msg.velocity)
    for key in list(held):
        close(key, timeline.beat_at(now))
    if not notes:
        return []
    last = max(notes)
    first = min(b for b in notes if b > last - KEEP_BARS)
    return [notes.get(b, []) for b in range(first, last + 1)]
