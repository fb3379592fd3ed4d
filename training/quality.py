"""Objective measures of symbolic music, read from MIDI files independently of the project's codec.

A MIDI file is read with mido (raw note events, all tracks merged, so that a channel is a channel as a
synthesizer hears it), on the file's own quarter-note grid: four quarters a bar, 16ths as the unit, the
first bar holding a note as bar 0. The measures:

- H1, H4: pitch-class histogram entropy over windows of 1 and 4 bars, in bits (12 equal classes: log2 12
  = 3.58). Every window of n consecutive bars (stride 1) gets the histogram of its notes' pitch classes,
  one count per note; windows without notes are skipped; the piece's value is the mean over its windows,
  and a piece shorter than n bars is one window. Wu & Yang 2020 (MusDr), used by Hsiao et al. 2021
  (Compound Word Transformer) and Hung et al. 2021 (EMOPIA).
- GS: grooving pattern similarity. A bar's grooving pattern is the binary vector of the Q = 16 positions
  where a note starts; GS of two bars is 1 - |g_a XOR g_b| / Q, and the piece's value is the mean over
  all pairs of its bars (MusDr samples at most 1,000 pairs; here all pairs are used). Same sources.
- Key fit: the best Krumhansl-Kessler correlation of the whole piece's duration-weighted pitch-class
  profile (engine.features.key_scores); the next bar in the same key: how often two consecutive bars
  with pitched notes have the same best key.
- Notes per bar, velocity, polyphony (muspy's definition: the mean number of pitches sounding at a 16th
  step, over the steps where any sounds), empty bars (bars without an onset), stacked notes (a note-on of
  a pitch already sounding on the same channel: a synthesizer cuts or doubles it).
- Rebuild scores of a piece against its source: note F1 (same pitch, onsets at most one 16th apart,
  each note matched once) and pitch-class F1 of each bar (the bars' pitch-class sets, counts summed over
  the bars).
- Novelty (`NoveltyIndex`): the largest share of a 4-bar span's notes (pitch and onset on the 16th grid)
  found, under one transposition, in a 4-bar span of a training piece (issue 14's measure). Both ways: the
  shared notes over the larger of the two spans, so that a sparse span inside a dense training span (which
  holds many figures by chance) does not count as recalled, and a replayed span still does.

Drums (MIDI channel 10) have no pitch class: they count for onsets (GS, notes per bar, empty bars,
stacked notes) and nowhere else.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mido
import numpy as np
from cdgmvae.engine import vocab as V
from cdgmvae.engine.features import clip_profile, key_scores, major_minus_minor, pitch_class_profile
from cdgmvae.engine.notes import GridNote

POSITIONS = 16        # 16ths in a 4/4 bar: the grid of GS and of the bars
DRUM_CHANNEL = 9      # 0-based: General MIDI's channel 10
SPAN_BARS = 4         # novelty compares 4-bar spans


@dataclass(frozen=True, order=True)
class Note:
    onset: float      # 16ths from the first bar line holding a note
    duration: float   # 16ths
    pitch: int
    velocity: int
    channel: int      # 0-based

    @property
    def drum(self) -> bool:
        return self.channel == DRUM_CHANNEL

    @property
    def step(self) -> int:
        """The onset on the 16th grid (nearest 16th, as a quantiser puts it)."""
        return int(np.floor(self.onset + 0.5))


@dataclass
class MidiPiece:
    name: str
    notes: list[Note]     # sorted by onset
    stacked: int = 0      # note-ons of a pitch already sounding on the same channel

    @property
    def n_bars(self) -> int:
        return max((n.step for n in self.notes), default=-1) // POSITIONS + 1

    def bars(self) -> list[list[GridNote]]:
        """The notes of each bar on the 16th grid, as the engine's GridNote (track Drums or Piano), so that
        engine.features' key profiles read them."""
        bars: list[list[GridNote]] = [[] for _ in range(self.n_bars)]
        for n in self.notes:
            duration = int(min(max(round(n.duration), 1), POSITIONS))
            bars[n.step // POSITIONS].append(GridNote(V.DRUMS if n.drum else V.PIANO, n.pitch, n.velocity,
                                                      n.step % POSITIONS, duration))
        return bars

    def pitched(self) -> list[Note]:
        return [n for n in self.notes if not n.drum]

    def first_bars(self, n: int) -> MidiPiece:
        """The piece's first `n` bars (notes whose onset is on the grid before bar n)."""
        return MidiPiece(self.name, [note for note in self.notes if note.step < n * POSITIONS], self.stacked)


def read_midi(path: str | Path) -> MidiPiece:
    """A MIDI file's notes on its quarter-note grid (see the module docstring). Raises ValueError for a
    file mido cannot read or one without notes."""
    path = Path(path)
    try:
        midi = mido.MidiFile(str(path))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as err:
        raise ValueError(f"{path} is not a readable MIDI file ({type(err).__name__}: {err})") from None
    sixteenth = midi.ticks_per_beat / 4.0
    events: dict[int, list[tuple[bool, int, int, int]]] = {}  # tick -> [(is_on, channel, pitch, velocity)]
    tick = 0
    for message in mido.merge_tracks(midi.tracks):
        tick += message.time
        if message.type in ("note_on", "note_off"):
            is_on = message.type == "note_on" and message.velocity > 0
            events.setdefault(tick, []).append((is_on, message.channel, message.note, message.velocity))
    sounding: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (channel, pitch) -> [(start tick, velocity)]
    raw, stacked = [], 0

    def close(key, at):
        start, velocity = sounding[key].pop(0)  # first on, first off
        raw.append((start, at, key[1], velocity, key[0]))

    for at in sorted(events):
        # at one tick, notes that end end before notes that start start (a repeated note is not stacked);
        # an off that finds nothing sounding yet closes a note that starts at this same tick
        late_offs = []
        for is_on, channel, pitch, _ in events[at]:
            if not is_on:
                if sounding.get((channel, pitch)):
                    close((channel, pitch), at)
                else:
                    late_offs.append((channel, pitch))
        for is_on, channel, pitch, velocity in events[at]:
            if is_on:
                stacked += bool(sounding.get((channel, pitch)))
                sounding.setdefault((channel, pitch), []).append((at, velocity))
        for key in late_offs:
            if sounding.get(key):
                close(key, at)
    for key, starts in sounding.items():  # never switched off: they last to the last event
        while starts:
            close(key, tick)
    if not raw:
        raise ValueError(f"{path} has no notes")
    first_bar = min(int(np.floor(start / sixteenth + 0.5)) for start, *_ in raw) // POSITIONS
    origin = first_bar * POSITIONS
    notes = sorted(Note(start / sixteenth - origin, (end - start) / sixteenth, pitch, velocity, channel)
                   for start, end, pitch, velocity, channel in raw)
    return MidiPiece(path.name, notes, stacked)


# --- measures of one piece ------------------------------------------------------------------------------
def entropy_bits(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def pitch_class_entropy(piece: MidiPiece, window: int) -> float:
    """H_window (bits): the mean over windows of `window` consecutive bars of the entropy of their notes'
    pitch-class histogram (nan for a piece without pitched notes)."""
    n_bars = piece.n_bars
    per_bar = np.zeros((max(n_bars, 1), 12))
    for note in piece.pitched():
        per_bar[note.step // POSITIONS, note.pitch % 12] += 1
    window = min(window, n_bars)
    values = [entropy_bits(per_bar[start: start + window].sum(0)) for start in range(n_bars - window + 1)
              if per_bar[start: start + window].any()]
    return float(np.mean(values)) if values else float("nan")


def grooving_patterns(piece: MidiPiece) -> np.ndarray:
    """[bars, 16] bool: where in each bar a note starts."""
    patterns = np.zeros((piece.n_bars, POSITIONS), dtype=bool)
    for note in piece.notes:
        patterns[note.step // POSITIONS, note.step % POSITIONS] = True
    return patterns


def grooving_similarity(piece: MidiPiece) -> float:
    """GS: mean over all pairs of bars of 1 - |XOR of their grooving patterns| / 16 (nan for one bar)."""
    patterns = grooving_patterns(piece)
    if len(patterns) < 2:
        return float("nan")
    first, second = np.triu_indices(len(patterns), k=1)
    return float(1.0 - (patterns[first] ^ patterns[second]).sum(1).mean() / POSITIONS)


def bar_best_keys(bars: Sequence[Sequence[GridNote]]) -> tuple[list[float], list[int]]:
    """(best key correlation, best key) of each bar with pitched notes; bars without are left out."""
    fits, keys = [], []
    for bar in bars:
        profile = pitch_class_profile(bar)
        if profile.any():
            scores = key_scores(profile)
            fits.append(float(scores.max()))
            keys.append(int(scores.argmax()))
    return fits, keys


def tonality(bars: Sequence[Sequence[GridNote]]) -> dict:
    """Key fit of the whole piece, its major-minus-minor strength, the mean best fit of its bars, and the
    pairs of consecutive keyed bars (`same_key_pairs` of `key_pairs` in the same key)."""
    scores = key_scores(clip_profile(bars))
    fits, keys = bar_best_keys(bars)
    same = [a == b for a, b in zip(keys, keys[1:])]
    return {"key_fit": float(scores.max()), "major_minus_minor": major_minus_minor(scores),
            "bar_key_fit": float(np.mean(fits)) if fits else float("nan"),
            "same_key_pairs": int(sum(same)), "key_pairs": len(same)}


def polyphony(piece: MidiPiece) -> float:
    """The mean number of distinct pitches sounding at a 16th step, over steps where any pitch sounds."""
    sounding: dict[int, set] = {}
    for note in piece.pitched():
        for step in range(note.step, note.step + max(1, int(round(note.duration)))):
            sounding.setdefault(step, set()).add(note.pitch)
    return float(np.mean([len(p) for p in sounding.values()])) if sounding else float("nan")


def measure_piece(piece: MidiPiece) -> dict:
    """Every per-piece measure of the module docstring."""
    bars = piece.bars()
    n_bars = len(bars)
    return {"h1": pitch_class_entropy(piece, 1), "h4": pitch_class_entropy(piece, 4),
            "gs": grooving_similarity(piece), **tonality(bars),
            "notes_per_bar": len(piece.notes) / n_bars, "velocity": float(np.mean([n.velocity for n in piece.notes])),
            "polyphony": polyphony(piece), "empty_bars": sum(not bar for bar in bars) / n_bars,
            "stacked": piece.stacked, "notes": len(piece.notes), "bars": n_bars}


def summarise(measures: Sequence[dict]) -> dict:
    """One row for a set of pieces: means over pieces (nan-skipping); the next bar in the same key pooled
    over all pairs of consecutive keyed bars; stacked notes as a share of all notes."""
    def mean(key):
        values = [m[key] for m in measures if not np.isnan(m[key])]
        return float(np.mean(values)) if values else float("nan")
    pairs = sum(m["key_pairs"] for m in measures)
    notes = sum(m["notes"] for m in measures)
    return {"pieces": len(measures), **{k: mean(k) for k in ("h1", "h4", "gs", "key_fit", "major_minus_minor",
                                                             "bar_key_fit", "notes_per_bar", "velocity",
                                                             "polyphony", "empty_bars")},
            "next_bar_same_key": sum(m["same_key_pairs"] for m in measures) / pairs if pairs else float("nan"),
            "stacked": sum(m["stacked"] for m in measures) / notes if notes else float("nan")}


# --- rebuild --------------------------------------------------------------------------------------------
def f1(matched: int, reference: int, rebuilt: int) -> float:
    return 2.0 * matched / (reference + rebuilt) if reference + rebuilt else 1.0


def matched_notes(reference: Sequence[Note], rebuilt: Sequence[Note], tolerance: float = 1.0) -> int:
    """How many notes pair up one to one with the same pitch and onsets at most `tolerance` 16ths apart.
    Per pitch, taking both lists in time order and pairing greedily gives the largest matching (two sets
    of points on a line, each pair within a fixed distance)."""
    by_pitch: dict[int, tuple[list, list]] = {}
    for notes, side in ((reference, 0), (rebuilt, 1)):
        for note in notes:
            by_pitch.setdefault(note.pitch, ([], []))[side].append(note.onset)
    matched = 0
    for ours, theirs in by_pitch.values():
        ours.sort()
        theirs.sort()
        i = j = 0
        while i < len(ours) and j < len(theirs):
            if abs(ours[i] - theirs[j]) <= tolerance:
                matched, i, j = matched + 1, i + 1, j + 1
            elif ours[i] < theirs[j]:
                i += 1
            else:
                j += 1
    return matched


def note_f1(reference: MidiPiece, rebuilt: MidiPiece, tolerance: float = 1.0) -> float:
    """F1 of the rebuilt piece's pitched notes against the reference's (same pitch, onset within a 16th)."""
    ours, theirs = reference.pitched(), rebuilt.pitched()
    return f1(matched_notes(ours, theirs, tolerance), len(ours), len(theirs))


def pitch_class_f1(reference: MidiPiece, rebuilt: MidiPiece) -> float:
    """F1 of the pitch classes of each bar, counts summed over the bars of the longer piece."""
    def sets(piece):
        out: dict[int, set] = {}
        for note in piece.pitched():
            out.setdefault(note.step // POSITIONS, set()).add(note.pitch % 12)
        return out
    ours, theirs = sets(reference), sets(rebuilt)
    matched = sum(len(ours[b] & theirs.get(b, set())) for b in ours)
    return f1(matched, sum(map(len, ours.values())), sum(map(len, theirs.values())))


# --- novelty --------------------------------------------------------------------------------------------
def span_notes(piece: MidiPiece, start_bar: int, bars: int = SPAN_BARS) -> set[tuple[int, int]]:
    """(onset step from the span's start, pitch) of the pitched notes starting in the span."""
    low, high = start_bar * POSITIONS, (start_bar + bars) * POSITIONS
    return {(n.step - low, n.pitch) for n in piece.pitched() if low <= n.step < high}


@dataclass
class Overlap:
    share: float                  # of the span's notes found in the training span (both ways: over the larger)
    notes: int                    # notes in the generated span
    piece: str = ""               # the generated piece and its span's first bar
    bar: int = 0
    source: str = ""              # the training piece, its span's first bar, and the transposition
    source_bar: int = 0
    transposition: int = 0
    source_notes: int = 0         # notes in the training span


@dataclass
class NoveltyIndex:
    """Every 4-bar span of the training pieces (a span starting at each bar), indexed by onset step, so
    that a generated span is compared with all of them under all transpositions at once."""
    pieces: list[MidiPiece]
    bars: int = SPAN_BARS
    _by_step: dict = field(default_factory=dict, repr=False)
    _spans: list = field(default_factory=list, repr=False)
    _sizes: np.ndarray = field(default=None, repr=False)  # notes in each training span

    def __post_init__(self):
        rows, sizes = [], []  # (step in span, span id, pitch); notes per span
        for piece in self.pieces:
            for start in range(max(1, piece.n_bars - self.bars + 1)):
                span = len(self._spans)
                self._spans.append((piece.name, start))
                notes = span_notes(piece, start, self.bars)
                rows += [(step, span, pitch) for step, pitch in notes]
                sizes.append(len(notes))
        self._sizes = np.array(sizes, dtype=np.int64)
        table = np.array(rows, dtype=np.int64).reshape(-1, 3)
        for step in np.unique(table[:, 0]):
            chosen = table[table[:, 0] == step]
            self._by_step[int(step)] = (chosen[:, 1], chosen[:, 2])

    def span_overlaps(self, notes: set[tuple[int, int]]) -> tuple[tuple[float, int, int], tuple[float, int, int]]:
        """(largest share, training span id, transposition) for one span's notes, one way (the notes in common
        over this span's notes) and both ways (over the larger span's notes), from one count of the notes in
        common with every training span under every transposition."""
        if not notes or not self._spans:
            return (0.0, -1, 0), (0.0, -1, 0)
        keys = []
        for step, pitch in notes:
            if step in self._by_step:
                spans, pitches = self._by_step[step]
                keys.append(spans * 256 + (pitches - pitch + 128))  # 256 transpositions per span
        if not keys:
            return (0.0, -1, 0), (0.0, -1, 0)
        counts = np.bincount(np.concatenate(keys))
        found = []
        for sizes in (len(notes), np.maximum(len(notes), self._sizes[np.arange(len(counts)) // 256])):
            shares = counts / sizes
            best = int(shares.argmax())
            found.append((float(shares[best]), best // 256, best % 256 - 128))
        return found[0], found[1]

    def largest_overlaps(self, piece: MidiPiece, min_notes: int = 1) -> tuple[Overlap, Overlap]:
        """The span of `piece` (a span starting at each bar, with at least `min_notes` notes) whose notes are
        most found in one training span, one way and both ways (see `span_overlaps`); share 0 if no span has
        enough notes."""
        best = [Overlap(0.0, 0, piece.name), Overlap(0.0, 0, piece.name)]
        for start in range(max(1, piece.n_bars - self.bars + 1)):
            notes = span_notes(piece, start, self.bars)
            if len(notes) < min_notes:
                continue
            for way, (share, span, shift) in enumerate(self.span_overlaps(notes)):
                if share > best[way].share:
                    source, source_bar = self._spans[span]
                    best[way] = Overlap(share, len(notes), piece.name, start, source, source_bar, shift,
                                        int(self._sizes[span]))
        return best[0], best[1]

    def largest_overlap(self, piece: MidiPiece, min_notes: int = 1, both_ways: bool = False) -> Overlap:
        """One of `largest_overlaps`: both ways or one way."""
        return self.largest_overlaps(piece, min_notes)[both_ways]


# --- folders --------------------------------------------------------------------------------------------
def list_names(path: Path) -> list[str]:
    """File names from a list: one a line, or a CSV whose header names a clip_name, file or name column
    (EMOPIA's train_clip.csv and val_clip.csv); lines starting with # are comments (POP909's val_songs.txt)."""
    text = [line for line in Path(path).read_text().splitlines() if not line.startswith("#")]
    if text and "," in text[0]:
        rows = list(csv.DictReader(text))
        column = next((c for c in ("clip_name", "file", "name", "filename") if rows and c in rows[0]), None)
        if column is None:
            raise ValueError(f"{path}: the header names no clip_name, file or name column")
        return [row[column].strip() for row in rows if row[column].strip()]
    return [line.strip() for line in text if line.strip()]


def midi_files(folder: Path, names: Iterable[str] | None = None) -> list[Path]:
    """The .mid/.midi files under a folder (recursively), or only those whose file name or stem is listed."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    if names is None:
        return files
    wanted = set(names)
    return [p for p in files if p.name in wanted or p.stem in wanted]


def read_folder(files: Sequence[Path]) -> tuple[list[MidiPiece], list[str]]:
    """(pieces read, 'file: reason' for each one skipped)."""
    pieces, skipped = [], []
    for path in files:
        try:
            pieces.append(read_midi(path))
        except ValueError as err:
            skipped.append(str(err))
    return pieces, skipped

