"""A note on the 16th-note grid of one 4/4 bar, and a bar as its notes: what the codec decodes and the bridge
plays."""
from __future__ import annotations

from typing import NamedTuple

# MIDI channels (0-based) and General MIDI programs for the five tracks (docs/ARCHITECTURE.md, *The bridge*):
# Drums on channel 10, Piano 1, Guitar 2, Bass 3, Strings 4.
TRACK_CHANNEL = (9, 0, 1, 2, 3)
TRACK_PROGRAM = (0, 0, 25, 33, 48)


class GridNote(NamedTuple):
    track: int      # index into vocab.TRACKS
    pitch: int      # MIDI pitch 0..127
    velocity: int   # MIDI velocity 1..127
    position: int   # onset in 16ths from the bar line, 0..15
    duration: int   # length in 16ths, 1..16 (may run past the bar line)


# One bar as its notes on the grid, in no particular order: what a bar source returns, the bridge plays and
# MIDI in hears. (engine.generator.Bar is a generated bar: these notes and its tokens, tempo and mood.)
BarNotes = list[GridNote]
