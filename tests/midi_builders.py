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
