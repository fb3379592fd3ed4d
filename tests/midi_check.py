"""What a MIDI player makes of a stream of messages: notes per (channel, key), and the faults that stack or
cut notes. Written from the MIDI 1.0 note messages alone (mido), independent of the project's codec."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import mido

# The channels (0-based) and ranges the project promises (notes.TRACK_CHANNEL, notes.TRACK_RANGE), written
# out again from their definitions: Piano 1, Guitar 2, Bass 3, Strings 4, Drums 10; General MIDI 1's
# percussion map, 88 keys, guitar E2..C6, bass E1..G4, strings E1..E7.
CHANNEL = {"Drums": 9, "Piano": 0, "Guitar": 1, "Bass": 2, "Strings": 3}
RANGE = {9: (35, 81), 0: (21, 108), 1: (40, 84), 2: (28, 67), 3: (28, 100)}  # by channel


class Note(NamedTuple):
    channel: int
    pitch: int
    start: float  # ticks in a file, seconds at a port
    end: float


def is_on(msg) -> bool:
    return msg.type == "note_on" and msg.velocity > 0


def is_off(msg) -> bool:
    return msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0)


def play(events: Iterable[tuple[float, mido.Message]], flam: float = 0) -> tuple[list[Note], Counter]:
    """(time, message) in order -> the notes heard and a count of faults: `stacked` (a note-on of a key
    already sounding on its channel), `stray_off` (a note-off of a silent key), `zero_length` (a note no
    longer than `flam`: in a file, its note-off at its note-on's tick; at a port, where messages sent at
    one instant arrive microseconds apart, a little more), `unended` (a key still sounding at the end)."""
    sounding: dict[tuple[int, int], float] = {}
    notes: list[Note] = []
    faults: Counter = Counter()
    for t, msg in events:
        if not (is_on(msg) or is_off(msg)):
            continue
        key = (msg.channel, msg.note)
        if is_on(msg):
            if key in sounding:
                faults["stacked"] += 1
                notes.append(Note(*key, sounding[key], t))
            sounding[key] = t
        elif key not in sounding:
            faults["stray_off"] += 1
        else:
            start = sounding.pop(key)
            faults["zero_length"] += t - start <= flam
            notes.append(Note(*key, start, t))
    faults["unended"] += len(sounding)
    return sorted(notes), +faults


def left_sounding(events: Iterable[tuple[float, mido.Message]]) -> int:
    """How many keys are still sounding after `events` (`play`'s `unended`); a note-off of a key that is not
    sounding, such as one whose note-on came before a recorder was connected, leaves nothing sounding."""
    return play(events)[1]["unended"]


def file_events(path: Path) -> list[tuple[int, mido.Message]]:
    """Every message of a MIDI file at its absolute tick, all tracks merged in file order."""
    events = []
    for track in mido.MidiFile(path).tracks:
        now = 0
        for order, msg in enumerate(track):
            now += msg.time
            events.append((now, order, msg))
    # one key's messages are all in one track, so a stable sort by tick keeps their order
    return [(tick, msg) for tick, _, msg in sorted(events, key=lambda e: e[0])]


def file_notes(path: Path) -> tuple[list[Note], Counter]:
    return play(file_events(path))
