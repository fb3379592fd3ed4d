"""MIDI files built for the tests, written with mido so that tempo changes land exactly where asked."""
from __future__ import annotations

from pathlib import Path

import mido

TPQ = 480
SIXTEENTH = TPQ // 4


def write_midi(path: Path, tracks: list[dict], tempos=((0, 120.0),), time_signature=(4, 4)) -> Path:
    """tracks: [{"program": p, "drum": bool, "notes": [(start_16th, length_16ths, pitch, velocity)]}];
    tempos: [(tick, bpm)]."""
    midi = mido.MidiFile(ticks_per_beat=TPQ)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("time_signature", numerator=time_signature[0],
                                      denominator=time_signature[1], time=0))
    now = 0
    for tick, bpm in tempos:
        conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=tick - now))
        now = tick
    midi.tracks.append(conductor)
    for number, spec in enumerate(tracks):
        channel = 9 if spec.get("drum") else number % 9
        events = []
        for start, length, pitch, velocity in spec["notes"]:
            events.append((start * SIXTEENTH, 1, mido.Message("note_on", note=pitch, velocity=velocity,
                                                              channel=channel)))
            events.append(((start + length) * SIXTEENTH, 0, mido.Message("note_off", note=pitch, channel=channel)))
        track = mido.MidiTrack()
        track.append(mido.Message("program_change", program=spec.get("program", 0), channel=channel, time=0))
        now = 0
        for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(msg.copy(time=tick - now))
            now = tick
        midi.tracks.append(track)
    midi.save(str(path))
    return path


def write_tracks(path: Path, tracks: list[list[tuple]], ticks_per_beat: int = TPQ, midi_type: int = 1) -> Path:
    """A MIDI file from tracks of (absolute tick, mido message) pairs, written as they are (events on one
    tick keep their order); no conductor track is added."""
    midi = mido.MidiFile(type=midi_type, ticks_per_beat=ticks_per_beat)
    for events in tracks:
        track = mido.MidiTrack()
        now = 0
        for tick, msg in sorted(events, key=lambda e: e[0]):  # stable: the order given on one tick
            track.append(msg.copy(time=tick - now))
            now = tick
        midi.tracks.append(track)
    midi.save(str(path))
    return path


def note_events(start: int, length: int, pitch: int, velocity: int = 90, channel: int = 0) -> list[tuple]:
    """A note as (tick, message) pairs: note-on, then note-off `length` ticks later (0: on the same tick)."""
    return [(start, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)),
            (start + length, mido.Message("note_off", note=pitch, velocity=0, channel=channel))]


def tempo(tick: int, bpm: float) -> tuple:
    return tick, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))


def onsets(midi: mido.MidiFile) -> list[tuple]:
    """(absolute tick, channel, pitch, velocity) of every note-on in a file read with mido, all tracks
    on one time line (types 0 and 1), sorted: an account of a file that does not use the codec."""
    out = []
    for track in midi.tracks:
        now = 0
        for msg in track:
            now += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                out.append((now, msg.channel, msg.note, msg.velocity))
    return sorted(out)


def sixteenths(ticks: int, ticks_per_beat: int) -> int:
    """A tick on the 16th-note grid (nearest, ties to even as the codec's rounding is documented to do)."""
    return round(ticks * 4 / ticks_per_beat)
