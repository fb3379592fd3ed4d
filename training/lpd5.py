"""LPD-5 (the Lakh Pianoroll Dataset's five-track version; Dong, Hsiao, Yang and Yang, AAAI 2018): multitrack
pianorolls -> REMI bars.

An LPD-5 file is a `.npz` written by pypianoroll (read here with `pypianoroll.load`, the optional extra
`cdgmvae[lpd5]`): per track a pianoroll [time steps, 128] of velocities (uint8) or on/off (bool), the tracks
named Drums, Piano, Guitar, Bass and Strings; the file's `resolution` (time steps per quarter-note beat),
`tempo` (quarter-note BPM at each step) and `downbeat` (True on the first step of each bar). In
lpd_5_cleansed the file sits in a folder named after its Million Song Dataset track id
(`.../A/A/A/TRAAAGR128F425B14B/<LMD md5>.npz`), the id a labels CSV is keyed by (`track_id`).

- Notes: `pypianoroll.to_pretty_midi` turns each roll into notes (a run of nonzero steps on one pitch is one
  note, its velocity the mean of the run's values; a bool roll's notes get pypianoroll's 64). Drum hits are
  taken as they are (LPD writes them one step long, the codec makes that a 16th).
- Tracks: each LPD-5 track by its name onto the project's track of that name (its own MIDI channel,
  notes.TRACK_CHANNEL); a track with another name keeps the codec's program mapping and is counted
  (`tracks_unnamed`).
- Grid: a beat is `resolution` steps and four 16ths; a bar begins at each downbeat (spans of other than 4
  beats as in codec.encode_beats: `bars_irregular`). A downbeat off a beat goes to the nearest beat
  (`downbeats_off_beat`); a file without a downbeat is read in 4/4 from its first step, MIDI's default
  metre (`downbeats_assumed`). Bar tempos come from the file's tempo array; a file without a usable one is
  read at 120 BPM (`tempo_assumed`).
Malformed files (not a pypianoroll file, a resolution that is not a positive integer, a roll that is not
[steps, 128]) are skipped with the reason, as are files without notes.
"""
from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import numpy as np
from cdgmvae.engine import codec
from cdgmvae.engine import vocab as V
from cdgmvae.engine.errors import UserError
from cdgmvae.training.pop909 import SongSkipped

SUFFIX = ".npz"
MSD_ID = re.compile(r"^TR[A-Z0-9]{16}$")
TRACK_BY_NAME = {name.lower(): track for track, name in enumerate(V.TRACKS)}
DEFAULT_BPM = 120.0
INSTALL_HINT = "reading LPD-5 pianorolls needs pypianoroll: pip install 'cdgmvae[lpd5]'"


def require_pypianoroll():
    """The pypianoroll module. Raises UserError (with how to install it) when it is missing."""
    try:
        import pypianoroll
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return pypianoroll


def files(source: Path, exclude: Path | None = None) -> list[Path]:
    """The .npz files of an LPD-5 folder (searched recursively, leaving out anything under `exclude`), or
    the file itself. Raises UserError for a path that does not exist or holds none."""
    if not source.exists():
        raise UserError(f"{source} does not exist")
    if source.is_file():
        return [source]
    exclude = exclude.resolve() if exclude else None
    found = sorted(p for p in source.rglob(f"*{SUFFIX}")
                   if p.is_file() and not (exclude and exclude in p.resolve().parents))
    if not found:
        raise UserError(f"no LPD-5 pianorolls ({SUFFIX}) found in {source}")
    return found


def track_id(path: Path) -> str:
    """The id a labels CSV knows the piece by: the Million Song Dataset track id of the folder it sits in
    (lpd_5_cleansed's layout), else the file's stem (a file named by its MSD id, or LPD's MD5 id)."""
    return path.parent.name if MSD_ID.match(path.parent.name) else path.stem


def label_keys(path: Path) -> list[str]:
    """The ids under which a labels CSV may list the file: its folder's MSD id, then its stem."""
    return list(dict.fromkeys([track_id(path), path.stem]))


def in_validation(piece: str, fraction: float) -> bool:
    """Whether an LPD-5 piece (its track_id) is in the validation split: the first 8 bytes of
    sha256("lpd5:" + id), read as a big-endian integer over 2^64, below `fraction`; so the split depends on
    the id alone, not on the folder or the machine."""
    digest = hashlib.sha256(f"lpd5:{piece}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def beat_times(tempo: np.ndarray | None, resolution: int, n_beats: int) -> tuple[np.ndarray, bool]:
    """(seconds at each of n_beats beats from step 0, whether 120 BPM was assumed). tempo: quarter-note
    BPM at each step, continued at its last value past its end; missing, empty or with a value that is not
    a positive number: 120 BPM throughout."""
    steps = n_beats * resolution
    tempo = None if tempo is None else np.asarray(tempo, dtype=np.float64).ravel()
    assumed = tempo is None or not len(tempo) or not (np.isfinite(tempo) & (tempo > 0)).all()
    if assumed:
        tempo = np.array([DEFAULT_BPM])
    tempo = np.concatenate([tempo[:steps], np.full(max(0, steps - len(tempo)), tempo[-1])])
    seconds = np.concatenate([[0.0], np.cumsum(60.0 / (tempo * resolution))])
    return seconds[::resolution][:n_beats], assumed


def read_notes(multitrack, pypianoroll) -> tuple[list[tuple[int, int, int, int, int]], int]:
    """([(track, pitch, velocity, onset step, release step)], tracks whose name is not an LPD-5 track)."""
    tempo = 60.0  # any constant: to_pretty_midi times the steps at it, and they are read back as steps
    step_seconds = 60.0 / tempo / multitrack.resolution
    # to_pretty_midi takes bool and uint8 rolls; another dtype is clipped to velocities 0..127 first. (A new
    # Multitrack, not multitrack.copy(): pypianoroll 1.0.4's copy turns every track into a plain Track.)
    tracks = [t if isinstance(t, (pypianoroll.BinaryTrack, pypianoroll.StandardTrack)) else t.standardize()
              for t in multitrack.tracks]
    midi = pypianoroll.to_pretty_midi(pypianoroll.Multitrack(resolution=multitrack.resolution, tracks=tracks),
                                      default_tempo=tempo)
    notes, unnamed = [], 0
    for instrument in midi.instruments:
        track = TRACK_BY_NAME.get(str(instrument.name).strip().lower())
        if track is None:
            unnamed += 1
            track = codec.program_to_track(instrument.program, instrument.is_drum)
        notes += [(track, int(n.pitch), int(n.velocity), round(n.start / step_seconds), round(n.end / step_seconds))
                  for n in instrument.notes]
    return notes, unnamed


def check(multitrack) -> None:
    """Raises SongSkipped("malformed", ...) for a resolution or a roll the grid cannot be built from."""
    resolution = multitrack.resolution
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 1:
        raise SongSkipped("malformed", f"resolution {resolution!r} is not a positive whole number of steps a beat")
    for track in multitrack.tracks:
        roll = np.asarray(track.pianoroll)
        if roll.ndim != 2 or roll.shape[1] != 128:
            raise SongSkipped("malformed", f"track {track.name!r} has a pianoroll of shape {roll.shape}, "
                                           "not [steps, 128]")


def encode_file(path: Path, bar_len: int) -> tuple[codec.EncodedPiece, dict]:
    """One LPD-5 file -> (EncodedPiece, LPD-5 counts). Raises SongSkipped: "unreadable" (pypianoroll cannot
    load it), "malformed" (see `check`) or "empty" (no notes); UserError when pypianoroll is not installed."""
    pypianoroll = require_pypianoroll()
    try:
        multitrack = pypianoroll.load(path)
    except Exception as err:  # numpy, zipfile, json and pypianoroll each raise their own kinds
        raise SongSkipped("unreadable", f"{type(err).__name__}: {err}"[:200]) from None
    check(multitrack)
    resolution = int(multitrack.resolution)
    notes, unnamed = read_notes(multitrack, pypianoroll)
    if not notes:
        raise SongSkipped("empty", "no notes")

    last_step = max(n[4] for n in notes)
    n_beats = max(2, math.ceil(last_step / resolution) + 2)
    times, tempo_assumed = beat_times(multitrack.tempo, resolution, n_beats)
    downbeat_steps = (np.flatnonzero(np.asarray(multitrack.downbeat).ravel())
                      if multitrack.downbeat is not None else np.array([], dtype=np.int64))
    downbeats = sorted(set(np.rint(downbeat_steps / resolution).astype(np.int64).tolist())) or [0]
    steps = np.array([(on, off) for *_, on, off in notes], dtype=np.float64)
    seconds = codec.BeatGrid(times).time_at(steps / resolution).tolist()
    timed = [codec.TimedNote(track, pitch, velocity, start, end)
             for (track, pitch, velocity, _, _), (start, end) in zip(notes, seconds)]
    piece = codec.encode_beats(timed, times, downbeats, bar_len)

    counts = {"tracks_unnamed": unnamed, "bars_irregular": piece.report.bars_irregular,
              "downbeats_assumed": int(not len(downbeat_steps)),
              "downbeats_off_beat": int((downbeat_steps % resolution != 0).sum()),
              "tempo_assumed": int(tempo_assumed)}
    per_track = np.bincount([note.track for bar in piece.notes for note in bar], minlength=len(V.TRACKS))
    counts.update({f"notes_{name.lower()}": int(n) for name, n in zip(V.TRACKS, per_track)})
    return piece, counts
