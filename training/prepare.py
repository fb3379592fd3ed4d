"""Dataset preparation: MIDI sources and LPD-5 pianorolls -> token arrays, per-bar features, labels and a manifest.

Output folder:
    manifest.json           counts, skipped files with reasons, and one entry per piece
    pieces/<id>.npz         tokens int16 [bars, L], rhythm float32 [bars, 16], key int64 [bars], meta (JSON)

A piece's id is derived from its source, so a re-run finds the pieces already done and skips them.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from cdgmvae.engine import codec
from cdgmvae.engine import vocab as V
from cdgmvae.engine.emotion import emotion_va, quadrant
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.features import piece_features
from cdgmvae.engine.midi_reader import MidiReadError, NoNotesError
from cdgmvae.training import lpd5, pop909
from tqdm import tqdm

MANIFEST_VERSION = 1  # of manifest.json's layout; training/dataset.py reads this version only
MIDI_SUFFIXES = {".mid", ".midi"}
SPLIT_FILES = {"train": "train_clip.csv", "val": "val_clip.csv"}
EMOPIA_NAME = re.compile(r"^(Q[1-4])_")
ID_COLUMNS = ("file", "path", "name", "id", "filename")  # looked for when no id column is named


@dataclass
class Job:
    """One piece to prepare: where it comes from and what is known of it."""
    id: str
    source: str                      # a path, or "music21:<corpus path>"
    valence: int | None = None
    arousal: int | None = None
    split: str | None = None
    beats: str | None = None      # POP909: the song's beat_midi.txt (bar lines from the annotations)
    kind: str = "midi"            # "midi", "pop909", "music21" or "lpd5"
    label_row: str | None = None  # the id of the labels CSV's row that labelled it


def piece_id(source: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(source).stem)[:60]
    return f"{stem}-{hashlib.sha1(source.encode()).hexdigest()[:8]}"


def emopia_labels(name: str) -> tuple[int | None, int | None]:
    match = EMOPIA_NAME.match(name)
    if not match:
        return None, None
    valence, arousal = emotion_va(match.group(1))  # the quadrant's corner, engine/emotion.py
    return int(valence), int(arousal)


@dataclass(frozen=True)
class LabelColumns:
    """Which columns of a labels CSV to read, and where each is split into low (0) and high (1)."""
    id: str | None = None            # None: the first of ID_COLUMNS the header has
    valence: str = "valence"
    arousal: str = "arousal"         # Lakh-Spotify features files call it "energy"
    valence_threshold: float = 0.5   # values >= the threshold are high
    arousal_threshold: float = 0.5


@dataclass
class LabelTable:
    """A labels CSV read: one (valence, arousal) per row id, each row also found under its id's file name and
    stem; rows that are not two numbers and an id are skipped and counted, as are repeated ids (the first
    row of an id wins)."""
    path: Path
    rows: dict[str, tuple[int, int]]
    aliases: dict[str, str] = field(default_factory=dict)  # a key a piece may be looked up by -> row id
    malformed: int = 0
    first_malformed: str | None = None
    duplicate: int = 0

    def find(self, keys: Iterable[str]) -> tuple[str, tuple[int, int]] | None:
        """(row id, (valence, arousal)) of the first key the table knows, or None."""
        for key in keys:
            row = self.aliases.get(key)
            if row is not None:
                return row, self.rows[row]
        return None


def find_column(path: Path, header: list[str], name: str, option: str) -> str:
    """The header's column called `name` (exactly, else ignoring case and spaces). Raises UserError naming it."""
    if name in header:
        return name
    folded = {column.strip().lower(): column for column in header}
    if name.strip().lower() in folded:
        return folded[name.strip().lower()]
    raise UserError(f"{path}: no column {name!r} ({option}); its columns are {', '.join(header)}")


def read_labels_csv(path: Path, columns: LabelColumns = LabelColumns()) -> LabelTable:
    """A CSV with a header naming an id column (`columns.id`, by default the first of file, path, name, id,
    filename) and valence and arousal columns, as 0/1 or continuous (e.g. Spotify's valence and energy in
    [0, 1]), each thresholded (value >= threshold is high). A row is found by its id, and by the id's file
    name and stem (so a path matches a file found anywhere). Raises UserError for a missing file or column."""
    if not path.is_file():
        raise UserError(f"labels file {path} not found")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        if columns.id is None:
            folded = {column.strip().lower(): column for column in header}
            id_col = next((folded[k] for k in ID_COLUMNS if k in folded), None)
            if id_col is None:
                raise UserError(f"{path}: the header must name an id column ({', '.join(ID_COLUMNS)}; or name "
                                f"it with --id-column); its columns are {', '.join(header) or 'none'}")
        else:
            id_col = find_column(path, header, columns.id, "--id-column")
        valence_col = find_column(path, header, columns.valence, "--valence-column")
        arousal_col = find_column(path, header, columns.arousal, "--arousal-column")
        table = LabelTable(path, {})
        for line, row in enumerate(reader, start=2):
            name = (row.get(id_col) or "").strip()
            try:
                valence, arousal = float(row.get(valence_col) or ""), float(row.get(arousal_col) or "")
            except ValueError:
                valence = arousal = math.nan
            if not name or not (math.isfinite(valence) and math.isfinite(arousal)):
                table.malformed += 1
                table.first_malformed = table.first_malformed or (
                    f"line {line}: " + ("no id" if not name else "valence and arousal must be numbers"))
                continue
            if name in table.rows:
                table.duplicate += 1
                continue
            table.rows[name] = (int(valence >= columns.valence_threshold), int(arousal >= columns.arousal_threshold))
            for key in (name, Path(name).name, Path(name).stem):
                table.aliases.setdefault(key, name)
    return table


def label_counts(table: LabelTable, jobs: list[Job]) -> dict:
    """How the labels CSV met the pieces: its rows (read, skipped as malformed or repeated, without a piece)
    and the pieces it could label (MIDI files and LPD-5 pianorolls) with and without a row; a piece without
    a row enters unlabelled (unless its EMOPIA name gives its quadrant)."""
    takes = [job for job in jobs if job.kind in ("midi", "lpd5")]
    used = {job.label_row for job in takes if job.label_row is not None}
    return {"file": str(table.path), "rows": len(table.rows), "rows_malformed": table.malformed,
            "first_malformed": table.first_malformed, "rows_duplicate": table.duplicate,
            "rows_without_piece": len(table.rows) - len(used),
            "pieces_with_row": sum(job.label_row is not None for job in takes),
            "pieces_without_row": sum(job.label_row is None for job in takes)}


def read_split_files(folder: Path) -> dict[str, str]:
    """EMOPIA-style split files beside the MIDI folder: file name -> "train" or "val"."""
    split = {}
    for name, filename in SPLIT_FILES.items():
        path = folder / filename
        if path.is_file():
            with path.open(newline="") as handle:
                for row in csv.reader(handle):
                    for cell in row:
                        if Path(cell).suffix.lower() in MIDI_SUFFIXES:
                            split[Path(cell).name] = name
    return split


def midi_jobs(sources: Iterable[Path], labels: LabelTable | None) -> Iterator[Job]:
    for source in sources:
        if not source.exists():
            raise UserError(f"{source} does not exist")
        if source.is_dir() and pop909.is_pop909_folder(source):
            yield from pop909_jobs(source)
            continue
        files = [source] if source.is_file() else sorted(
            p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
        split = read_split_files(source if source.is_dir() else source.parent)
        for path in files:
            valence, arousal = emopia_labels(path.name)
            found = labels.find((str(path), path.name, path.stem)) if labels else None
            row, (valence, arousal) = found if found else (None, (valence, arousal))
            yield Job(piece_id(str(path.resolve())), str(path), valence, arousal, split.get(path.name),
                      label_row=row)


def pop909_jobs(folder: Path) -> Iterator[Job]:
    """The songs of a POP909 folder (midis/ and annotations/): unlabelled, split by its val_songs.txt."""
    if not pop909.is_pop909_folder(folder):
        raise UserError(f"{folder} is not a POP909 folder: it needs midis/ and annotations/ side by side")
    val = pop909.val_songs(folder)
    for path in sorted(p for p in (folder / "midis").iterdir() if p.suffix.lower() in MIDI_SUFFIXES):
        yield Job(piece_id(str(path.resolve())), str(path), split=pop909.song_split(path, val),
                  beats=str(pop909.beat_file(path)), kind="pop909")


def lpd5_jobs(source: Path, labels: LabelTable | None, val_fraction: float, exclude: Path | None) -> Iterator[Job]:
    """The pianorolls of an LPD-5 folder (or one .npz file), labelled from the CSV by their MSD track id
    (lpd5.label_keys), a `val_fraction` of them in the validation split (lpd5.in_validation)."""
    lpd5.require_pypianoroll()
    for path in lpd5.files(source, exclude):
        found = labels.find(lpd5.label_keys(path)) if labels else None
        row, (valence, arousal) = found if found else (None, (None, None))
        split = "val" if lpd5.in_validation(lpd5.track_id(path), val_fraction) else "train"
        yield Job(piece_id(str(path.resolve())), str(path), valence, arousal, split, kind="lpd5", label_row=row)


def music21_jobs(what: str, limit: int | None) -> Iterator[Job]:
    """Pieces of the music21 corpus that ships with the installed package (nothing is downloaded)."""
    try:
        from music21 import corpus
    except ImportError:
        raise UserError("--music21 needs the music21 package: pip install 'cdgmvae[music21]'") from None
    paths = corpus.getComposer(what) or corpus.getWork(what)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise UserError(f"the music21 corpus has no composer or work named {what!r}")
    for path in sorted(str(p) for p in paths)[:limit]:
        yield Job(piece_id(f"music21:{path}"), f"music21:{path}", kind="music21")


def load_source(source: str) -> str | bytes:
    """What codec.encode reads: a file path, or for "music21:<path>" the MIDI bytes music21 converts the
    score to in memory."""
    if not source.startswith("music21:"):
        return source
    import music21
    score = music21.converter.parse(source[len("music21:"):])
    return music21.midi.translate.streamToMidiFile(score).writestr()


def prepare_one(args: tuple) -> dict:
    """Worker: encode one piece and write its arrays. Returns its manifest entry or a skip record."""
    job, out_dir, bar_len, min_bars = args
    result = _prepare_one(job, out_dir, bar_len, min_bars)
    return {**result, "dataset": job.kind} if job.kind in ("pop909", "lpd5") else result


def _prepare_one(job: Job, out_dir: Path, bar_len: int, min_bars: int) -> dict:
    target = out_dir / "pieces" / f"{job.id}.npz"
    if target.is_file():
        try:
            with np.load(target, allow_pickle=False) as done:
                meta = json.loads(str(done["meta"]))
            # labels and split come from this run, so a new labels CSV takes effect without re-encoding
            return {**meta, "status": "done", "valence": job.valence, "arousal": job.arousal,
                    "split": job.split}
        except Exception:
            pass  # a half-written or damaged file is prepared again
    if not job.source.startswith("music21:") and os.path.getsize(job.source) == 0:
        return {"status": "skipped", "source": job.source, "reason": "empty", "detail": "0 bytes"}
    try:
        midi = load_source(job.source) if job.kind != "lpd5" else None
    except Exception as err:  # music21 raises many kinds of errors for a score it cannot convert
        return {"status": "skipped", "source": job.source, "reason": "unreadable",
                "detail": f"{type(err).__name__}: {err}"[:200]}
    extra = {}
    try:
        if job.kind == "lpd5":
            piece, extra["lpd5"] = lpd5.encode_file(Path(job.source), bar_len)
        elif job.beats:
            piece, extra["pop909"] = pop909.encode_song(midi, Path(job.beats), bar_len)
        else:
            piece = codec.encode(midi, bar_len)
    except pop909.SongSkipped as skip:
        return {"status": "skipped", "source": job.source, "reason": skip.reason, "detail": skip.detail}
    except NoNotesError:
        return {"status": "skipped", "source": job.source, "reason": "empty", "detail": "no notes"}
    except MidiReadError as err:
        return {"status": "skipped", "source": job.source, "reason": "unreadable", "detail": err.reason[:200]}
    if len(piece.bars) < min_bars:
        return {"status": "skipped", "source": job.source, "reason": "too_short",
                "detail": f"{len(piece.bars)} bars, fewer than {min_bars}"}
    rhythm, key = piece_features(piece.notes)
    entry = {"id": job.id, "source": job.source, "file": f"pieces/{job.id}.npz", "bars": len(piece.bars),
             "valence": job.valence, "arousal": job.arousal, "split": job.split,
             "report": piece.report.as_dict(), **extra}
    write_piece(target, piece.token_array(bar_len), rhythm, key, entry)
    return {"status": "new", **entry}


def write_piece(target: Path, tokens, rhythm, key, entry: dict) -> None:
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as handle:
        np.savez_compressed(handle, tokens=tokens, rhythm=rhythm, key=key, meta=np.array(json.dumps(entry)))
    os.replace(partial, target)


def prepare(sources: list[Path], out_dir: Path, labels_csv: Path | None = None, workers: int = 1,
            music21: str | None = None, music21_limit: int | None = None, bar_len: int = 128,
            min_bars: int = 2, progress: bool = True, pop909_dirs: Iterable[Path] = (),
            lpd5_sources: Iterable[Path] = (), label_columns: LabelColumns = LabelColumns(),
            lpd5_val: float = 0.1) -> dict:
    """Prepare MIDI files and folders (`sources`; a folder with midis/ and annotations/ is read as
    POP909), the POP909 folders `pop909_dirs`, the LPD-5 folders or .npz files `lpd5_sources` (a `lpd5_val`
    fraction of them, by MSD id, for validation) and, optionally, music21 corpus pieces into out_dir.
    `labels_csv` labels MIDI files and LPD-5 pianorolls by id, reading `label_columns`."""
    if not 0.0 <= lpd5_val <= 1.0:
        raise UserError(f"the LPD-5 validation fraction must be between 0 and 1, not {lpd5_val}")
    labels = read_labels_csv(labels_csv, label_columns) if labels_csv else None
    jobs = list(midi_jobs(sources, labels))
    for folder in pop909_dirs:
        jobs += list(pop909_jobs(folder))
    for source in lpd5_sources:
        jobs += list(lpd5_jobs(source, labels, lpd5_val, exclude=out_dir))
    if music21:
        jobs += list(music21_jobs(music21, music21_limit))
    if not jobs:
        hint = " (LPD-5 pianorolls, .npz: --lpd5 DIR)" if any(
            s.is_dir() and next(s.rglob(f"*{lpd5.SUFFIX}"), None) for s in sources) else ""
        raise UserError("no MIDI files (.mid, .midi) found in " + ", ".join(map(str, sources)) + hint)
    jobs = list({job.id: job for job in jobs}.values())  # a file named twice is prepared once
    (out_dir / "pieces").mkdir(parents=True, exist_ok=True)

    tasks = [(job, out_dir, bar_len, min_bars) for job in jobs]
    bar = tqdm(total=len(tasks), desc="prepare", unit="piece", disable=not progress)
    if workers > 1:
        with Pool(workers) as pool:
            results = []
            for result in pool.imap_unordered(prepare_one, tasks, chunksize=4):
                results.append(result)
                bar.update()
    else:
        results = []
        for task in tasks:
            results.append(prepare_one(task))
            bar.update()
    bar.close()

    manifest = build_manifest(results, bar_len)
    if labels is not None:
        manifest["counts"]["labels"] = label_counts(labels, jobs)
    partial = out_dir / "manifest.json.partial"
    partial.write_text(json.dumps(manifest, indent=1))
    os.replace(partial, out_dir / "manifest.json")
    return manifest


def build_manifest(results: list[dict], bar_len: int) -> dict:
    pieces = sorted((r for r in results if r["status"] != "skipped"), key=lambda r: r["id"])
    skipped = sorted((r for r in results if r["status"] == "skipped"), key=lambda r: r["source"])
    totals = Counter()
    for piece in pieces:
        totals.update({k: int(v) for k, v in piece["report"].items()})
    quadrants = Counter(quadrant_name(p["valence"], p["arousal"]) for p in pieces)
    counts = {
        "pieces_read": len(results),
        "pieces_prepared": len(pieces),
        "pieces_new": sum(r["status"] == "new" for r in results),
        "pieces_already_done": sum(r["status"] == "done" for r in results),
        "skipped": dict(Counter(r["reason"] for r in skipped)),
        "bars": sum(p["bars"] for p in pieces),
        "bars_cut": totals["bars_cut"],
        "notes": totals["notes"],
        "notes_cut": totals["notes_cut"],
        "notes_shortened": totals["notes_shortened"],
        "notes_overlap_shortened": totals["notes_overlap_shortened"],
        "notes_duplicate_dropped": totals["notes_duplicate_dropped"],
        "drum_notes": totals["drum_notes"],
        "tempo_changes_moved": totals["tempo_changes_moved"],
        "notes_zero_length": totals["notes_zero_length"],
        "bars_tempo_clamped": totals["bars_tempo_clamped"],
        "events_skipped": totals["events_skipped"],
        "patterns_in_sequence": totals["patterns_in_sequence"],
        "pieces_rebarred": totals["rebarred"],
        "labelled": sum(p["valence"] is not None for p in pieces),
        "unlabelled": sum(p["valence"] is None for p in pieces),
        "quadrants": dict(sorted(quadrants.items())),
        "splits": dict(Counter(str(p["split"]) for p in pieces)),
    }
    for dataset in ("pop909", "lpd5"):
        songs = [r for r in results if r.get("dataset") == dataset]
        if songs:
            counts[dataset] = dataset_counts(songs, dataset)
    entries = [{k: p[k] for k in ("id", "source", "file", "bars", "valence", "arousal", "split")}
               for p in pieces]
    return {"version": MANIFEST_VERSION, "vocab_fingerprint": V.fingerprint(), "bar_len": bar_len,
            "counts": counts, "skipped": [{k: s[k] for k in ("source", "reason", "detail")} for s in skipped],
            "pieces": entries}


def dataset_counts(results: list[dict], dataset: str) -> dict:
    """POP909 or LPD-5 songs read, prepared, skipped by reason, bars, and the totals of the counts each
    prepared song carries under `dataset` (pop909.encode_song, lpd5.encode_file)."""
    prepared = [r for r in results if r["status"] != "skipped"]
    totals = Counter()
    for song in prepared:
        totals.update(song[dataset])
    return {"songs_read": len(results), "songs_prepared": len(prepared),
            "skipped": dict(Counter(r["reason"] for r in results if r["status"] == "skipped")),
            "bars": sum(r["bars"] for r in prepared), "splits": dict(Counter(str(r["split"]) for r in prepared)),
            **dict(sorted(totals.items()))}


def quadrant_name(valence: int | None, arousal: int | None) -> str:
    if valence is None or arousal is None:
        return "unlabelled"
    return quadrant(valence, arousal)
