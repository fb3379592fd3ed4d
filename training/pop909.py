"""POP909 (Wang, Chen, Jiang, Zhang, Xia et al., ISMIR 2020; MIT licence): songs -> REMI bars.

A POP909 folder holds midis/NNN.mid and annotations/NNN/beat_midi.txt (data/pop909/README.md).

Bar lines come from the beat annotations, not from the MIDI file's time signature, which is nominal
(many files say 2/4 or 1/4): beat_midi.txt has one line per beat, `seconds mark2 mark4`, where mark4 = 1
is the first beat of a 4-beat group, the bar line of the song counted in 4/4. The notes are placed on the
codec's 16th grid by the annotated beat times (engine.codec.encode_beats), so tempo changes and rubato
follow the annotations. A line that is not three numbers, has marks other than 0/1, or a time that does
not increase is skipped and counted (`beat_lines_malformed`).

The three role tracks, all program 0 in the files, stay apart on the LPD-5 tracks, so that the melody
comes out on its own track and MIDI channel (ROLE_TRACK):
- PIANO (the accompaniment, bass included) -> Piano, channel 1: it is piano, as EMOPIA's clips are.
- MELODY (the vocal line) -> Strings, channel 4: LPD-5's Strings track is where lead and sustained
  lines live (strings, brass, reeds, synth leads), so a single-voice melody belongs there.
- BRIDGE (secondary melody, fills) -> Guitar, channel 2: the remaining melodic track; Bass stays free
  for bass lines, which POP909 keeps inside PIANO.
A track with another name keeps the codec's program mapping and is counted (`tracks_unnamed`).
"""
from __future__ import annotations

import math
from pathlib import Path

from cdgmvae.engine import codec
from cdgmvae.engine import vocab as V
from cdgmvae.engine.midi_reader import read_midi

ROLE_TRACK = {"MELODY": V.STRINGS, "BRIDGE": V.GUITAR, "PIANO": V.PIANO}
TRACK_ROLE = {track: role.lower() for role, track in ROLE_TRACK.items()}
BEAT_FILE = "beat_midi.txt"
VAL_SONGS = "val_songs.txt"


class SongSkipped(ValueError):
    """A song that cannot be prepared: `reason` is the manifest's skip reason, `detail` says more."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def is_pop909_folder(folder: Path) -> bool:
    """A POP909 folder: midis/ with annotations/ beside it."""
    return (folder / "midis").is_dir() and (folder / "annotations").is_dir()


def beat_file(midi_path: Path) -> Path:
    """annotations/NNN/beat_midi.txt of midis/NNN.mid."""
    return midi_path.parent.parent / "annotations" / midi_path.stem / BEAT_FILE


def val_songs(folder: Path) -> set[str]:
    """Song numbers listed in the folder's val_songs.txt (one a line, '#' starts a comment); none if absent."""
    path = folder / VAL_SONGS
    if not path.is_file():
        return set()
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {line for line in lines if line}


def read_beats(path: Path) -> tuple[list[float], list[int], int]:
    """(beat times in seconds, indices of the 4-beat downbeats among them, malformed lines skipped)."""
    times: list[float] = []
    downbeats: list[int] = []
    malformed = 0
    for line in path.read_text().splitlines():
        fields = line.split()
        if not fields:
            continue
        try:
            seconds, mark2, mark4 = (float(f) for f in fields) if len(fields) == 3 else (math.nan,) * 3
        except ValueError:
            seconds, mark2, mark4 = (math.nan,) * 3
        if (not math.isfinite(seconds) or mark2 not in (0.0, 1.0) or mark4 not in (0.0, 1.0)
                or (times and seconds <= times[-1])):
            malformed += 1
            continue
        if mark4 == 1.0:
            downbeats.append(len(times))
        times.append(seconds)
    return times, downbeats, malformed


def timed_notes(source) -> tuple[list[codec.TimedNote], int]:
    """The notes of a MIDI file (a path or its bytes, read as every command reads MIDI: midi_reader), in
    seconds, each on its role's track; (notes, tracks whose name is not a POP909 role)."""
    score = read_midi(source).score.to("second")
    notes, unnamed = [], 0
    for inst in score.tracks:
        track = ROLE_TRACK.get(inst.name.strip().upper())
        if track is None:
            unnamed += 1
            track = codec.program_to_track(inst.program, inst.is_drum)
        notes += [codec.TimedNote(track, n.pitch, n.velocity, n.time, n.time + n.duration) for n in inst.notes]
    return notes, unnamed


def encode_song(source, beats_path: Path, bar_len: int) -> tuple[codec.EncodedPiece, dict]:
    """One song -> (EncodedPiece, POP909 counts). Raises SongSkipped: "no_beats" (no beat file, fewer
    than 2 usable beat lines or no downbeat) or "empty" (no notes)."""
    if not beats_path.is_file():
        raise SongSkipped("no_beats", f"{beats_path} not found")
    times, downbeats, malformed = read_beats(beats_path)
    if len(times) < 2 or not downbeats:
        raise SongSkipped("no_beats", f"{len(times)} usable beats, {len(downbeats)} downbeats in {beats_path}")
    notes, unnamed = timed_notes(source)
    if not notes:
        raise SongSkipped("empty", "no notes")
    piece = codec.encode_beats(notes, times, downbeats, bar_len)
    counts = {"beat_lines_malformed": malformed, "tracks_unnamed": unnamed,
              "bars_irregular": piece.report.bars_irregular}
    for role in ROLE_TRACK:
        counts[f"notes_{role.lower()}"] = 0
    counts["notes_other"] = 0
    for bar in piece.notes:
        for note in bar:
            role = TRACK_ROLE.get(note.track)
            counts[f"notes_{role}" if role else "notes_other"] += 1
    return piece, counts


def song_split(midi_path: Path, val: set[str]) -> str | None:
    return "val" if midi_path.stem in val else "train"
