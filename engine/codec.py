"""REMI codec: MIDI <-> bars of tokens on the 16th-note grid of a 4/4 bar.

Files are read by midi_reader.read_midi (symusic), the one reading path of every command.
Policies (each counted in `EncodeReport`, never silent):
- Time is read in MIDI ticks, so the grid follows the file's own beats whatever its tempo; an onset goes
  to the nearest 16th, which may be the next bar's first position.
- Time signatures other than 4/4 are re-barred as 4/4 (four quarter notes a bar): `rebarred`.
- Each bar carries the tempo in force at its bar line; tempo changes inside a bar take effect at the
  next bar line: `tempo_changes_moved`.
- Drums (any drum-channel instrument) become the Drums track; other General MIDI programs map onto the
  LPD-5 tracks Piano, Guitar, Bass, Strings by program family.
- Durations are whole 16ths from 1 to 16; a longer note is shortened to one bar: `notes_shortened`; a
  zero-length note (note-on and note-off on one tick) lasts one 16th: `notes_zero_length`.
- Tempos outside the tempo bins' range (30-220 BPM) take the nearest end bin: `bars_tempo_clamped`.
- Tempo and time-signature events count on any track, as players merge them.
- Leading empty bars are dropped (`leading_bars_dropped`); a bar with more than L tokens is cut after
  the last whole note that fits, and still ends with EOS: `bars_cut`, `notes_cut`.

Writing (`midi_file`): each track on its own channel (notes.TRACK_CHANNEL), whichever tracks are present,
and no key sounding twice on a channel (playback.Player, the live bridge's player).
"""
from __future__ import annotations

import bisect
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import mido
import numpy as np
import pretty_midi
from cdgmvae.engine import vocab as V
from cdgmvae.engine.midi_reader import MidiSource, NoNotesError, read_midi
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
    notes_zero_length: int = 0     # note-on and note-off on one tick, kept at the shortest duration
    bars_tempo_clamped: int = 0    # bars whose tempo lies outside the tempo bins, given the nearest end bin
    events_skipped: int = 0        # meta events with impossible values (midi_reader), not used
    patterns_in_sequence: int = 0  # MIDI type 2 patterns played one after the other
    rebarred: bool = False
    leading_bars_dropped: int = 0
    bars_irregular: int = 0     # encode_beats: spans between downbeats of other than 4 beats

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


def encode(source: MidiSource, bar_len: int = DEFAULT_BAR_LEN) -> EncodedPiece:
    """MIDI -> bars of REMI tokens. `source`: a path, the file's bytes, or an in-memory MIDI object (see
    midi_reader.read_midi, through which every command reads files). Raises MidiReadError (a UserError)
    for a file that cannot be read, NoNotesError (one too) for a file without notes."""
    midi = read_midi(source)
    score = midi.score
    report = EncodeReport(events_skipped=midi.events_skipped, patterns_in_sequence=midi.patterns_in_sequence)
    sixteenth = score.ticks_per_quarter / 4.0
    ticks_per_bar = score.ticks_per_quarter * V.BEATS_PER_BAR
    report.rebarred = any((ts.numerator, ts.denominator) != (4, 4) for ts in score.time_signatures)

    raw = []  # (absolute 16th, track, pitch, length in 16ths, velocity)
    for inst in score.tracks:
        track = program_to_track(inst.program, inst.is_drum)
        notes = inst.notes.numpy()
        onset = notes["time"].astype(np.int64)
        offset = onset + notes["duration"]
        report.notes_zero_length += int((notes["duration"] == 0).sum())
        start = np.rint(onset / sixteenth).astype(np.int64)
        length = np.rint(offset / sixteenth).astype(np.int64) - start
        raw += zip(start.tolist(), [track] * len(start), notes["pitch"].tolist(), length.tolist(),
                   notes["velocity"].tolist())
    change_ticks, change_bpms = tempo_changes(score)
    report.tempo_changes_moved = sum(1 for t in change_ticks if t % ticks_per_bar)

    def bar_of(start: int) -> tuple[int, int]:
        return start // V.POSITIONS_PER_BAR, start % V.POSITIONS_PER_BAR

    def tempo_of(bar: int) -> float:
        return tempo_at(change_ticks, change_bpms, bar * ticks_per_bar)

    return encode_placed(raw, bar_of, tempo_of, report, bar_len, midi.name)


def tempo_changes(score) -> tuple[list[int], list[float]]:
    """(ticks, quarter-note BPM) where the tempo changes, from the tempo events of every track, as players
    merge them: 120 BPM until the first, the last of several events on one tick wins, and an event that
    repeats the tempo in force is no change."""
    by_tick: dict[int, float] = {0: 120.0}
    for event in sorted(score.tempos, key=lambda e: e.time):  # stable: file order on one tick
        by_tick[int(event.time)] = float(event.qpm)
    ticks, bpms = [], []
    for tick in sorted(by_tick):
        if not bpms or by_tick[tick] != bpms[-1]:
            ticks.append(tick)
            bpms.append(by_tick[tick])
    return ticks, bpms


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


def tempo_at(change_ticks: list[int], change_bpms: list[float], tick: int) -> float:
    """The tempo in force at `tick` (the last change at or before it)."""
    return change_bpms[max(bisect.bisect_right(change_ticks, tick) - 1, 0)]


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


# --- bar lines given from outside (beat annotations, a beat tracker) ------------------------------------
class TimedNote(NamedTuple):
    """A note timed in seconds, already assigned to an LPD-5 track."""
    track: int       # index into vocab.TRACKS
    pitch: int       # MIDI pitch 0..127
    velocity: int    # MIDI velocity 1..127
    start: float     # onset, seconds
    end: float       # release, seconds


class BeatGrid:
    """Seconds <-> beats by piecewise-linear interpolation between annotated beat times, continued before
    the first beat and after the last one at the neighbouring beat's length.

    beats: beat times in seconds, strictly increasing, at least 2. Raises ValueError otherwise."""

    def __init__(self, beats: Sequence[float]):
        self.times = np.asarray(beats, dtype=np.float64)
        if len(self.times) < 2 or not (np.diff(self.times) > 0).all():
            raise ValueError("beat times must be at least two and strictly increasing")
        self.index = np.arange(len(self.times), dtype=np.float64)

    def beat_at(self, seconds) -> np.ndarray:
        """Fractional beat index of each time (0 = the first annotated beat)."""
        t, b = np.asarray(seconds, dtype=np.float64), self.times
        inside = np.interp(t, b, self.index)
        before = (t - b[0]) / (b[1] - b[0])
        after = len(b) - 1 + (t - b[-1]) / (b[-1] - b[-2])
        return np.where(t < b[0], before, np.where(t > b[-1], after, inside))

    def time_at(self, beat) -> np.ndarray:
        """Seconds at a (fractional) beat index: the inverse of beat_at."""
        u, b = np.asarray(beat, dtype=np.float64), self.times
        inside = np.interp(u, self.index, b)
        before = b[0] + u * (b[1] - b[0])
        after = b[-1] + (u - len(b) + 1) * (b[-1] - b[-2])
        return np.where(u < 0, before, np.where(u > len(b) - 1, after, inside))


def bar_start_beats(downbeats: Sequence[int], first_beat: float, last_beat: float) -> np.ndarray:
    """Beat indices where the grid's bars begin: every downbeat, and 4 beats after a bar start while the
    next downbeat is further away; before the first downbeat and after the last one, every 4 beats, so
    that the bars cover [first_beat, last_beat]."""
    downbeats = sorted(set(int(d) for d in downbeats))
    if not downbeats:
        raise ValueError("no downbeats")
    beats_per_bar = V.BEATS_PER_BAR
    starts = list(range(downbeats[0], int(np.floor(first_beat)) - beats_per_bar, -beats_per_bar))[:0:-1]
    for here, following in zip(downbeats, downbeats[1:] + [None]):
        stop = following if following is not None else max(here, int(np.ceil(last_beat))) + 1
        starts += range(here, stop, beats_per_bar)
    return np.array(starts, dtype=np.int64)


def encode_beats(notes: Sequence[TimedNote], beats: Sequence[float], downbeats: Sequence[int],
                 bar_len: int = DEFAULT_BAR_LEN) -> EncodedPiece:
    """Notes timed in seconds -> bars of REMI tokens, with the bar lines and beats given explicitly (beat
    annotations) instead of read from the file's metre and tempo map.

    beats: beat times in seconds, strictly increasing (at least 2); downbeats: indices into `beats` of
    the beats that begin a bar. Each beat is four 16ths of the grid, spread evenly between one annotated
    beat and the next, so tempo changes and rubato follow the annotations. A bar begins at every
    downbeat. Between two downbeats more than 4 beats apart a new bar begins every 4 beats (a 6-beat span
    gives a full bar and a half-empty one); fewer than 4 beats leave the bar's last positions empty. Both
    kinds of span are counted in `EncodeReport.bars_irregular`. A bar's tempo is 60 / its mean beat
    length in seconds. Overlaps, long notes, cut bars and leading empty bars as in `encode`.
    Raises ValueError for no notes, fewer than 2 beats or no downbeat."""
    grid = BeatGrid(beats)
    if not notes:
        raise ValueError("no notes")
    report = EncodeReport()
    report.bars_irregular = sum(b - a != V.BEATS_PER_BAR for a, b in zip(downbeats, downbeats[1:]))
    starts = np.rint(4 * grid.beat_at([n.start for n in notes])).astype(np.int64)   # absolute 16ths
    ends = np.rint(4 * grid.beat_at([n.end for n in notes])).astype(np.int64)
    raw = [(int(s), n.track, n.pitch, int(e - s), n.velocity) for s, e, n in zip(starts, ends, notes)]
    bar_beats = bar_start_beats(downbeats, starts.min() / 4, starts.max() / 4)
    bar_sixteenths = bar_beats * 4

    def bar_of(start: int) -> tuple[int, int]:
        bar = int(np.searchsorted(bar_sixteenths, start, side="right")) - 1
        return bar, start - int(bar_sixteenths[bar])

    def tempo_of(bar: int) -> float:
        first = bar_beats[bar]
        last = min(first + V.BEATS_PER_BAR, bar_beats[bar + 1]) if bar + 1 < len(bar_beats) else first + 4
        return float(60.0 * (last - first) / (grid.time_at(last) - grid.time_at(first)))

    return encode_placed(raw, bar_of, tempo_of, report, bar_len)


def encode_placed(raw: list, bar_of, tempo_of, report: EncodeReport, bar_len: int,
                  name: str = "the piece") -> EncodedPiece:
    """Quantised notes -> EncodedPiece. raw: (absolute 16th, track, pitch, length in 16ths, velocity);
    bar_of(absolute 16th) -> (bar number, position 0..15); tempo_of(bar number) -> BPM. Zero-length notes
    (on and off on one tick: drum hits, grace notes) sound for the shortest duration; tempos outside the
    bins are clamped and counted. Raises NoNotesError (naming `name`) when there is no note."""
    placed = []  # (bar number, note)
    for start, track, pitch, length, velocity in resolve_overlaps(raw, report):
        if length > V.MAX_DURATION:
            report.notes_shortened += 1
        length = min(max(length, 1), V.MAX_DURATION)
        velocity = V.velocity_bin_value(V.velocity_to_bin(velocity))
        bar, position = bar_of(start)
        placed.append((bar, GridNote(track, pitch, velocity, position, length)))
        report.drum_notes += track == V.DRUMS
    if not placed:
        raise NoNotesError(name, "no notes (a valid MIDI file, but it holds none)")
    report.notes = len(placed)
    first_bar = min(bar for bar, _ in placed)
    report.leading_bars_dropped = first_bar
    per_bar: list[list[GridNote]] = [[] for _ in range(max(bar for bar, _ in placed) - first_bar + 1)]
    for bar, note in placed:
        per_bar[bar - first_bar].append(note)
    bars, kept_notes, tempos = [], [], []
    for i, notes in enumerate(per_bar):
        bpm = tempo_of(first_bar + i)
        report.bars_tempo_clamped += not V.tempo_in_range(bpm)
        tokens, kept = bar_tokens(sorted(notes, key=note_order), V.tempo_to_bin(bpm), bar_len)
        if len(kept) < len(notes):
            report.bars_cut += 1
            report.notes_cut += len(notes) - len(kept)
        bars.append(tokens)
        kept_notes.append(kept)
        tempos.append(bpm)
    return EncodedPiece(bars, kept_notes, tempos, report)
