"""Bars of grid notes -> MIDI note events at absolute beats: what the live bridge sends, and what a written
file holds (codec.notes_to_midi plays a piece through the same Player).

MIDI cannot sound one key twice on one channel: a synth hears a second note-on of a sounding key as a
retrigger or as a second voice, and the earlier note's note-off then cuts the later note. So, per
(channel, key), every note-on is paired with one note-off, and
- a note that starts while an earlier note of its key sounds ends that note at its onset (note-off, then
  its own note-on);
- a note that starts at the very beat the sounding note started is merged into it: one note-on, held to
  the later of the two ends (never on, off, on at one instant, which a DAW records as a zero-length note);
- a note-off is sent only for the note it belongs to: an earlier note's off never ends a later note.
"""
from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import NamedTuple

import mido
from cdgmvae.engine.notes import TRACK_CHANNEL, GridNote

# Order of events at the same beat: a note ends before the next one on the same key starts.
OFF, MARK, ON = 0, 1, 2
SIXTEENTHS_PER_BEAT = 4


class Sounding(NamedTuple):
    start: float    # beat of its note-on
    end: float      # beat its note-off is queued for
    off: int        # serial of that note-off


class Player:
    def __init__(self) -> None:
        self.heap: list[tuple[float, int, int, object]] = []  # (beat, order, serial, payload)
        self.serial = 0
        self.sounding: dict[tuple[int, int], Sounding] = {}  # (channel, pitch) -> the note that sounds

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
        self.sounding = {key: held._replace(start=held.start + beats, end=held.end + beats)
                         for key, held in self.sounding.items()}

    def next_beat(self) -> float | None:
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
                held = self.sounding.get(key)
                if held is not None and held.start == at:  # struck twice at once: one note, the longer
                    if end > held.end:
                        self.sounding[key] = held._replace(end=end, off=self.push(end, OFF, key))
                    continue
                if held is not None:  # the key again before its end: the earlier note ends here
                    yield at, note_off(key)
                self.sounding[key] = Sounding(at, end, self.push(end, OFF, key))
                yield at, on
            else:
                key = payload
                held = self.sounding.get(key)
                if held is not None and held.off == serial:  # not ended or outlasted by a later note-on
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
