"""The one place that reads MIDI files: every command (inspect, classify, transfer, swap, prepare, the demo,
`live --clip`) reaches it through `codec.encode`.

Standard MIDI Files are parsed by symusic (the reader MidiTok uses), in ticks. What it does with the kinds
of input that break readers (each checked in tests/test_midi_reader.py):
- any ticks per beat from 1 to 32,767 (pretty_midi refused high resolutions);
- tempo, time-signature and key-signature events on any track count, as players merge all tracks;
- a note-on and note-off on one tick is a note of length 0 (a drum hit, a grace note), not dropped;
- meta events with values no player could follow (a key signature of 18 flats, a tempo of 0 microseconds
  a beat, a time signature of 0 beats) are skipped and counted, never fatal: the notes are what matters;
- MIDI type 2 (independent patterns): the tracks are played one after the other, each starting at the
  first 4/4 bar line after the previous one's last event (the file does not say how long a pattern
  lasts beyond its events; the codec's bars are 4/4);
- a RIFF RMID wrapper around a Standard MIDI File is unwrapped; a header that miscounts its tracks is
  corrected to the track chunks present (symusic would drop the tracks beyond the count).
Anything else refuses the file with `MidiReadError`, a one-line `UserError` naming the real cause (SMPTE
time division, a file cut short inside a track, a damaged event, text that is not MIDI, ...).
"""
from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import symusic
from cdgmvae.engine.errors import UserError

MidiSource = str | Path | bytes | Any  # a path, the file's bytes, or an object with save(file=)/write(file)
HEADER = b"MThd"
TRACK = b"MTrk"


class MidiReadError(UserError):
    """A file that cannot be read as MIDI; `reason` says why, without the file's name."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


class NoNotesError(MidiReadError):
    """A readable MIDI file without a single note."""


@dataclass
class MidiRead:
    """A file as the codec needs it: `score` in ticks (symusic), and what reading skipped or changed."""
    score: symusic.Score
    name: str                      # the path, or what the caller named the data: for messages
    events_skipped: int = 0        # meta events with impossible values, dropped
    patterns_in_sequence: int = 0  # type 2 tracks laid one after the other (0 for types 0 and 1)


def read_midi(source: MidiSource, name: str | None = None) -> MidiRead:
    """Read a Standard MIDI File. `source`: a path, the file's bytes, or an in-memory MIDI object with
    `save(file=...)` (mido) or `write(file)` (pretty_midi). Raises MidiReadError (a UserError) naming
    `name` (default: the path) and the cause."""
    data, name = midi_bytes(source, name)
    data = unwrap_rmid(data)
    data, file_format, division = read_header(data, name)
    data = check_tracks(data, name)
    if file_format == 2:
        score, patterns = read_patterns(data, division, name)
    else:
        score, patterns = parse(data, name), 0
    return MidiRead(score, name, drop_impossible_events(score), patterns)


def midi_bytes(source: MidiSource, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = name or str(path)
        if not path.exists():
            raise MidiReadError(name, "no such file")
        if not path.is_file():
            raise MidiReadError(name, "not a file")
        try:
            return path.read_bytes(), name
        except OSError as err:
            raise MidiReadError(name, f"cannot be read ({err.strerror or err})") from None
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), name or "MIDI data"
    buffer = io.BytesIO()
    if hasattr(source, "save"):        # mido.MidiFile
        source.save(file=buffer)
    elif hasattr(source, "write"):     # pretty_midi.PrettyMIDI
        source.write(buffer)
    else:
        raise TypeError(f"cannot read MIDI from a {type(source).__name__}")
    return buffer.getvalue(), name or type(source).__name__


def unwrap_rmid(data: bytes) -> bytes:
    """A RIFF RMID file (Windows) holds a Standard MIDI File in its "data" chunk."""
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":
        start = data.find(HEADER, 12)
        if start >= 0:
            return data[start:]
    return data


def read_header(data: bytes, name: str) -> tuple[bytes, int, int]:
    """(data, format, ticks per beat) from the MThd chunk. Refuses SMPTE time, and what symusic would refuse
    with a less helpful message. A header longer than 6 bytes is allowed by the spec (readers skip the
    rest): it is cut to 6 for symusic."""
    if not data:
        raise MidiReadError(name, "empty file (0 bytes)")
    if data[:4] != HEADER:
        raise MidiReadError(name, "not a MIDI file (it does not start with the MThd header)")
    if len(data) < 14:
        raise MidiReadError(name, f"damaged MIDI file: the header is cut short ({len(data)} bytes)")
    length, file_format, _, division = struct.unpack(">IHHH", data[4:14])
    if file_format > 2:
        raise MidiReadError(name, f"unknown MIDI file format {file_format} (0, 1 and 2 exist)")
    if division & 0x8000:
        raise MidiReadError(name, "timed in SMPTE frames, not ticks per beat; save it with a beat-based "
                                  "resolution (any sequencer's default)")
    if division == 0:
        raise MidiReadError(name, "damaged MIDI file: 0 ticks per beat")
    if length < 6:
        raise MidiReadError(name, f"damaged MIDI file: a header of {length} bytes (6 expected)")
    if length > 6:
        data = data[:4] + struct.pack(">I", 6) + data[8:14] + data[8 + length:]
    return data, file_format, division


def parse(data: bytes, name: str) -> symusic.Score:
    try:
        return symusic.Score.from_midi(data)
    except RuntimeError as err:
        raise MidiReadError(name, f"damaged MIDI file ({symusic_reason(err)})") from None


def symusic_reason(err: Exception) -> str:
    """symusic's parser message without its "MiniMidi:" prefix and stream suffix."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = text.removeprefix("MiniMidi:").strip()
    return text.removesuffix(": iostream error").strip()


def check_tracks(data: bytes, name: str) -> bytes:
    """Name the usual damage, a file cut short inside a track, as such (symusic's message misleads). A
    header that counts the tracks wrong is corrected to the MTrk chunks present, so every track is read."""
    chunks = 0
    offset = 14
    while offset + 8 <= len(data):
        kind, length = data[offset: offset + 4], struct.unpack(">I", data[offset + 4: offset + 8])[0]
        if kind == TRACK:
            chunks += 1
            if offset + 8 + length > len(data):
                raise MidiReadError(name, f"damaged MIDI file: cut short (track {chunks} needs {length} bytes, "
                                          f"{len(data) - offset - 8} remain)")
        offset += 8 + length
    declared = struct.unpack(">H", data[10:12])[0]
    if chunks < declared and 0 < len(data) - offset < 8:
        raise MidiReadError(name, f"damaged MIDI file: cut short ({chunks} of {declared} tracks present)")
    if chunks != declared:
        data = data[:10] + struct.pack(">H", chunks) + data[12:]
    return data


def track_chunks(data: bytes) -> list[bytes]:
    """The MTrk chunks after the header, in file order (other chunk types are skipped, as the spec says)."""
    chunks, offset = [], 14
    while offset + 8 <= len(data):
        kind, length = data[offset: offset + 4], struct.unpack(">I", data[offset + 4: offset + 8])[0]
        if kind == TRACK:
            chunks.append(data[offset: offset + 8 + length])
        offset += 8 + length
    return chunks


def read_patterns(data: bytes, division: int, name: str) -> tuple[symusic.Score, int]:
    """Type 2: each track is a pattern of its own; play them in file order, each from a 4/4 bar line."""
    chunks = track_chunks(data)
    bar = 4 * division
    joined = symusic.Score(division)
    start = 0
    for chunk in chunks:
        pattern = parse(HEADER + struct.pack(">IHHH", 6, 0, 1, division) + chunk, name)
        if start:
            pattern = pattern.shift_time(start)
        joined.tracks.extend(pattern.tracks)
        joined.tempos.extend(pattern.tempos)
        joined.time_signatures.extend(pattern.time_signatures)
        joined.key_signatures.extend(pattern.key_signatures)
        start = max(start + bar, -(-pattern.end() // bar) * bar)  # the next bar line after its last event
    return joined, len(chunks)


def drop_impossible_events(score: symusic.Score) -> int:
    """Remove meta events no player could follow; returns how many. Key signatures the codec ignores; a
    zero tempo (0 microseconds a beat) and a time signature of 0 beats would break the bar grid."""
    dropped = 0
    tempos = [t for t in score.tempos if t.mspq > 0]
    signatures = [t for t in score.time_signatures if t.numerator > 0 and t.denominator > 0]
    keys = [k for k in score.key_signatures if -7 <= k.key <= 7 and k.tonality in (0, 1)]
    for events, kept in ((score.tempos, tempos), (score.time_signatures, signatures),
                         (score.key_signatures, keys)):
        if len(kept) < len(events):
            dropped += len(events) - len(kept)
            events.clear()
            events.extend(kept)
    return dropped
