"""REMI codec: MIDI <-> bars of tokens on the 16th-note grid of a 4/4 bar.

Policies (each counted in `EncodeReport`, never silent):
- Time is read in MIDI ticks, so the grid follows the file's own beats whatever its tempo; an onset goes
  to the nearest 16th, which may be the next bar's first position.
- Time signatures other than 4/4 are re-barred as 4/4 (four quarter notes a bar): `rebarred`.
- Each bar carries the tempo in force at its bar line; tempo changes inside a bar take effect at the
  next bar line: `tempo_changes_moved`.
- Drums (any drum-channel instrument) become the Drums track; other General MIDI programs map onto the
  LPD-5 tracks Piano, Guitar, Bass, Strings by program family.
- Durations are whole 16ths from 1 to 16; a longer note is shortened to one bar: `notes_shortened`.
- Leading empty bars are dropped (`leading_bars_dropped`); a bar with more than L tokens is cut after
  the last whole note that fits, and still ends with EOS: `bars_cut`, `notes_cut`.

Writing (`midi_file`): each track on its own channel (notes.TRACK_CHANNEL), whichever tracks are present,
and no key sounding twice on a channel (playback.Player, the live bridge's player).
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

import mido
import numpy as np
import pretty_midi

from cdgmvae.engine import vocab as V
from cdgmvae.engine.notes import CHANNEL_TRACK, TRACK_CHANNEL, TRACK_PROGRAM, GridNote
from cdgmvae.engine.playback import Player

DEFAULT_BAR_LEN = 128
DECODE_TICKS_PER_QUARTER = 480


def program_to_track(program: int, is_drum: bool) -> int:
    """General MIDI program family -> LPD-5 track."""
    if is_drum:
        return V.DRUMS
    if 24 <= program <= 31:
        return V.GUITAR
    if 32 <= program <= 39:
        return V.BASS
    if program <= 23:
        return V.PIANO  # pianos, chromatic percussion, organs
    return V.STRINGS    # strings, ensembles, brass, reeds, pipes, synths and the rest, as in LPD-5


@dataclass
class EncodeReport:
    notes: int = 0
    notes_shortened: int = 0
    notes_overlap_shortened: int = 0
    notes_duplicate_dropped: int = 0
    notes_cut: int = 0
    bars_cut: int = 0
    drum_notes: int = 0
    tempo_changes_moved: int = 0
    rebarred: bool = False
    leading_bars_dropped: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class EncodedPiece:
    bars: list[list[int]]                 # token ids per bar: Bar Tempo ... EOS
    notes: list[list[GridNote]]           # the notes each bar's tokens hold
    tempos: list[float]                   # BPM at each bar line (before binning)
    report: EncodeReport = field(default_factory=EncodeReport)

    def token_array(self, bar_len: int = DEFAULT_BAR_LEN) -> np.ndarray:
        """[n_bars, bar_len] int16, PAD-padded."""
        out = np.full((len(self.bars), bar_len), V.PAD, dtype=np.int16)
        for i, bar in enumerate(self.bars):
            out[i, : len(bar)] = bar
        return out


def load_midi(source: Union[str, Path, pretty_midi.PrettyMIDI]) -> pretty_midi.PrettyMIDI:
    if isinstance(source, pretty_midi.PrettyMIDI):
        return source
    return pretty_midi.PrettyMIDI(str(source))


def encode(source: Union[str, Path, pretty_midi.PrettyMIDI], bar_len: int = DEFAULT_BAR_LEN) -> EncodedPiece:
    """MIDI -> bars of REMI tokens. Raises ValueError for a file without notes."""
    pm = load_midi(source)
    report = EncodeReport()
    sixteenth = pm.resolution / 4.0
    ticks_per_bar = pm.resolution * V.BEATS_PER_BAR
    report.rebarred = any((ts.numerator, ts.denominator) != (4, 4) for ts in pm.time_signature_changes)

    raw = []  # (absolute 16th, track, pitch, length in 16ths, velocity)
    for inst in pm.instruments:
        track = program_to_track(inst.program, inst.is_drum)
        for note in inst.notes:
            start = int(round(pm.time_to_tick(note.start) / sixteenth))
            length = int(round(pm.time_to_tick(note.end) / sixteenth)) - start
            raw.append((start, track, note.pitch, length, note.velocity))
    grid_notes = []  # (absolute 16th, note)
    for start, track, pitch, length, velocity in resolve_overlaps(raw, report):
        if length > V.MAX_DURATION:
            report.notes_shortened += 1
        length = min(max(length, 1), V.MAX_DURATION)
        velocity = V.velocity_bin_value(V.velocity_to_bin(velocity))
        grid_notes.append((start, GridNote(track, pitch, velocity, start % V.POSITIONS_PER_BAR, length)))
        report.drum_notes += track == V.DRUMS
    if not grid_notes:
        raise ValueError("no notes")
    report.notes = len(grid_notes)

    first_bar = min(s for s, _ in grid_notes) // V.POSITIONS_PER_BAR
    last_bar = max(s for s, _ in grid_notes) // V.POSITIONS_PER_BAR
    report.leading_bars_dropped = first_bar
    per_bar: list[list[GridNote]] = [[] for _ in range(last_bar - first_bar + 1)]
    for start, note in grid_notes:
        per_bar[start // V.POSITIONS_PER_BAR - first_bar].append(note)

    change_times, change_bpms = pm.get_tempo_changes()
    change_bars = [pm.time_to_tick(t) / ticks_per_bar for t in change_times]
    report.tempo_changes_moved = sum(1 for b in change_bars if abs(b - round(b)) > 1e-6)

    bars, kept_notes, tempos = [], [], []
    for i, notes in enumerate(per_bar):
        bar_tick = (first_bar + i) * ticks_per_bar
        bpm = tempo_at(change_times, change_bpms, pm.tick_to_time(bar_tick))
        tokens, kept = bar_tokens(sorted(notes, key=note_order), V.tempo_to_bin(bpm), bar_len)
        if len(kept) < len(notes):
            report.bars_cut += 1
            report.notes_cut += len(notes) - len(kept)
        bars.append(tokens)
        kept_notes.append(kept)
        tempos.append(bpm)
    return EncodedPiece(bars, kept_notes, tempos, report)


def resolve_overlaps(raw: list, report: EncodeReport) -> list:
    """MIDI cannot hold two sounding notes of one pitch on one channel: a note still sounding when the
    same pitch starts again on its track ends there, and a second onset at the same 16th is dropped."""
    by_key: dict[tuple, list] = {}
    for note in sorted(raw):
        by_key.setdefault((note[1], note[2]), []).append(note)
    out = []
    for notes in by_key.values():
        for i, (start, track, pitch, length, velocity) in enumerate(notes):
            if i and notes[i - 1][0] == start:
                report.notes_duplicate_dropped += 1
                continue
            following = next((n[0] for n in notes[i + 1:] if n[0] > start), None)
            if following is not None and start + length > following:
                length = following - start
                report.notes_overlap_shortened += 1
            out.append((start, track, pitch, length, velocity))
    return sorted(out)


def tempo_at(change_times: np.ndarray, change_bpms: np.ndarray, time: float) -> float:
    if not len(change_bpms):
        return 120.0
    return float(change_bpms[max(np.searchsorted(change_times, time + 1e-9) - 1, 0)])


def note_order(note: GridNote) -> tuple:
    return (note.position, note.track, note.pitch, note.duration, note.velocity)


def bar_tokens(notes: Sequence[GridNote], tempo_bin: int, bar_len: int = DEFAULT_BAR_LEN
               ) -> tuple[list[int], list[GridNote]]:
    """One bar's tokens (Bar Tempo (Position (Pitch Velocity Duration)+)* EOS) and the notes that fit."""
    tokens = [V.BAR, V.tempo_token(tempo_bin)]
    kept: list[GridNote] = []
    position = -1
    for note in notes:
        note_tokens = [] if note.position == position else [V.position_token(note.position)]
        note_tokens += [V.pitch_token(note.track, note.pitch),
                        V.velocity_token(note.track, V.velocity_to_bin(note.velocity)),
                        V.duration_token(note.track, note.duration)]
        if len(tokens) + len(note_tokens) + 1 > bar_len:
            break
        tokens += note_tokens
        kept.append(note)
        position = note.position
    tokens.append(V.EOS)
    return tokens, kept


def bar_notes(tokens: Sequence[int]) -> list[GridNote]:
    """The notes of one bar's tokens. Incomplete note triples (a cut or ill-formed bar) are skipped."""
    notes = []
    position = 0
    pending: list = []  # [track, pitch] then velocity
    for token in tokens:
        kind, value, track = (int(V.TOKEN_KIND[token]), int(V.TOKEN_VALUE[token]), int(V.TOKEN_TRACK[token]))
        if kind == V.KIND_POSITION:
            position, pending = value, []
        elif kind == V.KIND_PITCH:
            pending = [track, value]
        elif kind == V.KIND_VELOCITY and len(pending) == 2 and pending[0] == track:
            pending.append(V.velocity_bin_value(value))
        elif kind == V.KIND_DURATION and len(pending) == 3 and pending[0] == track:
            notes.append(GridNote(track, pending[1], pending[2], position, value))
            pending = []
        elif kind == V.KIND_EOS:
            break
        else:
            pending = []
    return notes


def bar_tempo(tokens: Sequence[int], default: float = 120.0) -> float:
    for token in tokens:
        if V.TOKEN_KIND[token] == V.KIND_TEMPO:
            return V.tempo_bin_bpm(int(V.TOKEN_VALUE[token]))
    return default


def midi_file(bars: Sequence[Sequence[int]]) -> mido.MidiFile:
    """Bars of tokens -> the MIDI file to write (`.save(path)`): notes_to_midi of the bars' notes and tempos."""
    return notes_to_midi([bar_notes(b) for b in bars], [bar_tempo(b) for b in bars])


def decode(bars: Sequence[Sequence[int]]) -> pretty_midi.PrettyMIDI:
    """midi_file(bars) as pretty_midi reads it, for round trips through `encode`. Never `.write()` it:
    pretty_midi hands channels out by instrument order, not by track; save midi_file(bars) instead."""
    buffer = io.BytesIO()
    midi_file(bars).save(file=buffer)
    buffer.seek(0)
    return pretty_midi.PrettyMIDI(buffer)


def notes_to_midi(bars: Sequence[Sequence[GridNote]], tempos: Sequence[float]) -> mido.MidiFile:
    """Grid notes per bar and a tempo per bar -> a type 1 MIDI file: a conductor track with a tempo event
    at each bar line where the tempo changes, then one track per instrument, on its track's channel
    (notes.TRACK_CHANNEL, whichever tracks are present) with its General MIDI program.
    The notes are played through playback.Player, as the live bridge plays them, so no key sounds twice
    on a channel: a note ends where a later note of its pitch starts (across bar lines too), and notes
    struck together on one key are one note."""
    tpq = DECODE_TICKS_PER_QUARTER
    bar_ticks = tpq * V.BEATS_PER_BAR
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    tempo_events, last = [], None
    for i, bpm in enumerate(tempos):
        if bpm != last:
            tempo_events.append((i * bar_ticks, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))))
            last = bpm
    if not tempo_events:
        tempo_events.append((0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120.0))))
    append_absolute(conductor, tempo_events)

    player = Player()
    for i, notes in enumerate(bars):
        player.add_bar(float(i * V.BEATS_PER_BAR), list(notes))
    per_track: dict[int, list] = {}
    for beat, msg in player.due(math.inf):  # in time order; at one tick, note-offs before note-ons
        per_track.setdefault(CHANNEL_TRACK[msg.channel], []).append((round(beat * tpq), msg))
    midi = mido.MidiFile(type=1, ticks_per_beat=tpq)
    midi.tracks.append(conductor)
    for track in sorted(per_track):
        mtrack = mido.MidiTrack()
        mtrack.append(mido.MetaMessage("track_name", name=V.TRACKS[track], time=0))
        if track != V.DRUMS:
            mtrack.append(mido.Message("program_change", program=TRACK_PROGRAM[track],
                                       channel=TRACK_CHANNEL[track], time=0))
        append_absolute(mtrack, per_track[track])
        midi.tracks.append(mtrack)
    return midi


def append_absolute(track: mido.MidiTrack, events: list) -> None:
    """Append (absolute tick, message) pairs to a track as delta times."""
    now = 0
    for tick, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
