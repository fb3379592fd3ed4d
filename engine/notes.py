"""A note on the 16th-note grid of one 4/4 bar, and a bar as its notes: what the codec decodes and the bridge
plays."""
from __future__ import annotations

from typing import NamedTuple

# MIDI channels (0-based) and General MIDI programs for the five tracks (docs/ARCHITECTURE.md, *The bridge*):
# Drums on channel 10, Piano 1, Guitar 2, Bass 3, Strings 4.
TRACK_CHANNEL = (9, 0, 1, 2, 3)
TRACK_PROGRAM = (0, 0, 25, 33, 48)
CHANNEL_TRACK = {channel: track for track, channel in enumerate(TRACK_CHANNEL)}

# The MIDI pitches (inclusive) each track may play, as the instrument of its program sounds them:
# - Drums: 35..81, the percussion key map of General MIDI Level 1 (MMA, 1991); other keys are silent on a
#   GM kit.
# - Piano: 21..108, A0..C8, the 88 keys of a piano.
# - Guitar: 40..84, E2..C6, six strings in standard tuning with 20 frets (a steel-string acoustic, GM 25).
# - Bass: 28..67, E1..G4, four strings in standard tuning with 24 frets (an electric bass, GM 33).
# - Strings: 28..100, E1..E7, a string section from the double bass's low E to the violins' E7, the top
#   of common orchestral writing (the track also stands for every other program, as in LPD-5).
TRACK_RANGE = ((35, 81), (21, 108), (40, 84), (28, 67), (28, 100))


class GridNote(NamedTuple):
    track: int      # index into vocab.TRACKS
    pitch: int      # MIDI pitch 0..127
    velocity: int   # MIDI velocity 1..127
    position: int   # onset in 16ths from the bar line, 0..15
    duration: int   # length in 16ths, 1..16 (may run past the bar line)


# One bar as its notes on the grid, in no particular order: what a bar source returns, the bridge plays and
# MIDI in hears. (engine.generator.Bar is a generated bar: these notes and its tokens, tempo and mood.)
BarNotes = list[GridNote]
