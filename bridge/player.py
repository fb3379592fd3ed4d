"""Bars of grid notes -> MIDI events at absolute beats, with every note-on paired to its note-off."""
from __future__ import annotations

import heapq
from typing import Iterator, Optional

import mido

from cdgmvae.engine.notes import TRACK_CHANNEL, GridNote

# Order of events at the same beat: a note ends before the next one on the same key starts.
OFF, MARK, ON = 0, 1, 2
SIXTEENTHS_PER_BEAT = 4


class Player:
    def __init__(self) -> None:
        self.heap: list[tuple[float, int, int, object]] = []  # (beat, order, serial, payload)
        self.serial = 0
        self.sounding: dict[tuple[int, int], int] = {}  # (channel, pitch) -> serial of its note-on

    def push(self, beat: float, order: int, payload) -> int:
        self.serial += 1
        heapq.heappush(self.heap, (beat, order, self.serial, payload))
        return self.serial

    def add_bar(self, first_beat: float, notes: list[GridNote], mark=None) -> None:
        """Queue a bar starting at `first_beat`; `mark` comes back from `due` at the bar line."""
        if mark is not None:
            self.push(first_beat, MARK, mark)
        for note in notes:
            channel = TRACK_CHANNEL[note.track]
            pitch = min(127, max(0, note.pitch))
            velocity = min(127, max(1, note.velocity))
            start = first_beat + note.position / SIXTEENTHS_PER_BEAT
            end = start + max(1, note.duration) / SIXTEENTHS_PER_BEAT
            on = mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)
            self.push(start, ON, (on, end))

    def shift(self, beats: float) -> None:
        self.heap = [(beat + beats, order, serial, payload) for beat, order, serial, payload in self.heap]
        heapq.heapify(self.heap)

    def next_beat(self) -> Optional[float]:
        return self.heap[0][0] if self.heap else None

    def due(self, beat: float) -> Iterator[tuple[float, object]]:
        """Pop everything at or before `beat`: (beat, mido.Message) for MIDI, (beat, mark) for marks."""
        while self.heap and self.heap[0][0] <= beat:
            at, order, serial, payload = heapq.heappop(self.heap)
            if order == MARK:
                yield at, payload
            elif order == ON:
                on, end = payload
                key = (on.channel, on.note)
                if key in self.sounding:  # the same key again before its end: end the old note first
                    yield at, note_off(key)
                self.sounding[key] = self.push(end, OFF, key)  # the serial of its note-off
                yield at, on
            else:
                key = payload
                if self.sounding.get(key) == serial:  # not superseded by a later note-on of this key
                    del self.sounding[key]
                    yield at, note_off(key)

    def release_all(self) -> list[mido.Message]:
        """Note-offs for every sounding note, and forget everything queued."""
        offs = [note_off(key) for key in sorted(self.sounding)]
        self.sounding.clear()
        self.heap.clear()
        return offs

    def release_sounding(self) -> list[mido.Message]:
        """Note-offs for every sounding note; queued notes still play."""
        offs = [note_off(key) for key in sorted(self.sounding)]
        self.sounding.clear()
        return offs


def note_off(key: tuple[int, int]) -> mido.Message:
    return mido.Message("note_off", channel=key[0], note=key[1])
