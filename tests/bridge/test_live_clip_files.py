"""`cdgmvae live --clip` reads clips as every command reads MIDI files (issue 15, item 15): a file
`inspect` reads plays, one it refuses is refused in one line, never with a traceback."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import mido

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "tests" / "cases" / "midi"


def live(*args: str) -> subprocess.CompletedProcess:
    # no JACK server: with --record, live plays into the file alone
    return subprocess.run([sys.executable, "-m", "cdgmvae", "live", "--no-link", "--midi-api", "jack",
                           "--source", "clip", "--bpm", "480", "--osc-port", "0", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "JACK_DEFAULT_SERVER": f"absent-{os.getpid()}"})


def pitches(midi: mido.MidiFile) -> list[int]:
    out = []
    for track in midi.tracks:
        now = 0
        for msg in track:
            now += msg.time
            if msg.type == "note_on" and msg.velocity:
                out.append((now, msg.note))
    return [p for _, p in sorted(out)]


def test_a_clip_with_an_impossible_key_signature_plays(tmp_path):
    clip = CASES / "12_keysig_minus18_flats.mid"
    data = clip.read_bytes()
    key_event = data.index(b"\xff\x59\x02")  # mido refuses the file; it reads it with a possible key
    expected = pitches(mido.MidiFile(file=io.BytesIO(data[:key_event + 3] + b"\x00\x00" + data[key_event + 5:])))
    take = tmp_path / "take.mid"
    result = live("--clip", str(clip), "--bars", "4", "--record", str(take))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert pitches(mido.MidiFile(str(take))) == expected


def test_a_damaged_clip_is_refused_in_one_line(tmp_path):
    data = (CASES / "11_tempo_on_nonzero_track_72bpm.mid").read_bytes()
    clip = tmp_path / "cut.mid"
    clip.write_bytes(data[:-40])
    result = live("--clip", str(clip), "--bars", "1", "--record", str(tmp_path / "take.mid"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("cdgmvae live: error:")]
    assert len(lines) == 1 and "cannot use the clip" in lines[0] and "cut short" in lines[0], result.stderr
