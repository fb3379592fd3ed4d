"""Valid REMI, written out from its specification and nothing of the engine's: the id layout and a bar's
order as docs/ARCHITECTURE.md (*Data*) and the paper (4.2) give them, and the notes a player can sound.
Generated bars are judged here, not with engine/grammar.py's masks that constrain the sampling.

    ids: PAD 0, EOS 1, Bar 2, Position_0..15, 24 Tempo bins, then for each track (Drums, Piano, Guitar, Bass,
         Strings) Pitch_0..127, 32 Velocity bins, Duration_1..16 (in 16ths)
    bar: Bar Tempo (Position (Pitch-t Velocity-t Duration-t)+)* EOS, at most L tokens, positions rising
"""
from __future__ import annotations

from typing import NamedTuple

from tests.midi_check import CHANNEL, RANGE

TRACKS = ("Drums", "Piano", "Guitar", "Bass", "Strings")
POSITIONS, TEMPOS, PITCHES, VELOCITIES, DURATIONS = 16, 24, 128, 32, 16
PAD, EOS, BAR = 0, 1, 2
FIRST_POSITION = 3
FIRST_TEMPO = FIRST_POSITION + POSITIONS
FIRST_TRACK = FIRST_TEMPO + TEMPOS
PER_TRACK = PITCHES + VELOCITIES + DURATIONS
VOCAB_SIZE = FIRST_TRACK + len(TRACKS) * PER_TRACK  # 923, as the paper counts
TRACK_RANGE = {name: RANGE[CHANNEL[name]] for name in TRACKS}


class Token(NamedTuple):
    kind: str         # PAD, EOS, Bar, Position, Tempo, Pitch, Velocity, Duration
    track: str | None
    value: int        # position (16ths), tempo bin, pitch, velocity bin or duration (16ths); 0 otherwise


class Note(NamedTuple):
    track: str
    pitch: int
    onset: int       # 16ths from the bar line
    duration: int    # 16ths
    velocity: int    # bin


def read_token(token: int) -> Token:
    if not 0 <= token < VOCAB_SIZE:
        return Token("outside the vocabulary", None, token)
    if token < FIRST_POSITION:
        return Token(("PAD", "EOS", "Bar")[token], None, 0)
    if token < FIRST_TEMPO:
        return Token("Position", None, token - FIRST_POSITION)
    if token < FIRST_TRACK:
        return Token("Tempo", None, token - FIRST_TEMPO)
    track, offset = divmod(token - FIRST_TRACK, PER_TRACK)
    if offset < PITCHES:
        return Token("Pitch", TRACKS[track], offset)
    if offset < PITCHES + VELOCITIES:
        return Token("Velocity", TRACKS[track], offset - PITCHES)
    return Token("Duration", TRACKS[track], offset - PITCHES - VELOCITIES + 1)


def token_id(kind: str, value: int = 0, track: str | None = None) -> int:
    """The id of a token by the layout above (for writing bars by hand)."""
    if kind in ("PAD", "EOS", "Bar"):
        return ("PAD", "EOS", "Bar").index(kind)
    if kind == "Position":
        return FIRST_POSITION + value
    if kind == "Tempo":
        return FIRST_TEMPO + value
    base = FIRST_TRACK + TRACKS.index(track) * PER_TRACK
    return base + {"Pitch": value, "Velocity": PITCHES + value, "Duration": PITCHES + VELOCITIES + value - 1}[kind]


def read_bar(tokens: list[int], bar_len: int) -> tuple[list[Note], list[str]]:
    """(the notes of one bar's tokens, what is wrong with the bar: [] for a valid one). Reading goes on after
    a fault, so every broken note is counted."""
    faults: list[str] = []
    parsed = [read_token(t) for t in tokens]
    if len(tokens) > bar_len:
        faults.append(f"{len(tokens)} tokens, more than L = {bar_len}")
    if not parsed or parsed[0].kind != "Bar":
        faults.append("does not start with Bar")
    if len(parsed) < 2 or parsed[1].kind != "Tempo":
        faults.append("Bar is not followed by a Tempo")
    if not parsed or parsed[-1].kind != "EOS":
        faults.append("does not end with EOS")
    body = parsed[2:-1] if parsed and parsed[-1].kind == "EOS" else parsed[2:]
    notes: list[Note] = []
    onset, notes_at_onset, i = None, 0, 0
    while i < len(body):
        token = body[i]
        if token.kind == "Position":
            if onset is not None and not notes_at_onset:
                faults.append(f"Position_{onset} holds no note")
            if onset is not None and token.value <= onset:
                faults.append(f"Position_{token.value} after Position_{onset}")
            onset, notes_at_onset, i = token.value, 0, i + 1
        elif token.kind == "Pitch" and onset is not None:
            triple = body[i: i + 3]
            if [t.kind for t in triple] != ["Pitch", "Velocity", "Duration"] or len({t.track for t in triple}) != 1:
                faults.append(f"broken note {[f'{t.kind}-{t.track}_{t.value}' for t in triple]}")
                i += 1
                continue
            notes.append(Note(token.track, token.value, onset, triple[2].value, triple[1].value))
            notes_at_onset, i = notes_at_onset + 1, i + 3
        else:
            faults.append(f"{token.kind} where a Position or a note must come")
            i += 1
    if onset is not None and not notes_at_onset:
        faults.append(f"Position_{onset} holds no note")
    faults += note_faults(notes)
    return notes, faults


def note_faults(notes: list[Note]) -> list[str]:
    """What a player could not sound: a pitch outside its track's instrument, a duration that is not a whole
    positive number of 16ths up to a bar, an onset outside the bar, a key struck twice at one onset."""
    faults, seen = [], set()
    for note in notes:
        low, high = TRACK_RANGE[note.track]
        if not low <= note.pitch <= high:
            faults.append(f"{note.track} pitch {note.pitch} outside {low}..{high}")
        if not 1 <= note.duration <= DURATIONS:
            faults.append(f"duration {note.duration}")
        if not 0 <= note.onset < POSITIONS:
            faults.append(f"onset {note.onset} outside the bar")
        key = (note.track, note.pitch, note.onset)
        if key in seen:
            faults.append(f"{note.track} pitch {note.pitch} struck twice at {note.onset}")
        seen.add(key)
    return faults
