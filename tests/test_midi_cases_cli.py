"""Issue 15's MIDI input cases (tests/cases/midi/) through the commands, judged by what a user sees: the
lines a command prints, and the notes of the files it writes read back with mido."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import mido
import pytest

from tests.midi_builders import onsets

ROOT = Path(__file__).parent.parent
CASES = Path(__file__).parent / "cases" / "midi"
HIGH_PPQ = CASES / "02_high_ppq32767_80bars_legit.mid"
DRUM_HITS = CASES / "04_zero_length_drum_hits_ch10.mid"
TEMPO_72 = CASES / "11_tempo_on_nonzero_track_72bpm.mid"
BAD_KEY = CASES / "12_keysig_minus18_flats.mid"
TYPE_2 = CASES / "16_type2_sequential_patterns.mid"
LONG = CASES / "21b_long_750_bars.mid"


def cdgmvae(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cdgmvae", *args], capture_output=True, text=True, cwd=ROOT)


def inspect(path: Path, *options) -> tuple[str, dict, list[float]]:
    """(first line, report counts, BPM of each bar) of `cdgmvae inspect`."""
    result = cdgmvae("inspect", str(path), "--no-tokens", *options)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    report = dict(item.split("=") for item in lines[1].removeprefix("report: ").split(", "))
    bpms = [float(m.group(1)) for m in re.finditer(r"tokens\s+([\d.]+) BPM", result.stdout)]
    return lines[0], report, bpms


def truncated(tmp_path: Path) -> Path:
    data = TEMPO_72.read_bytes()
    path = tmp_path / "truncated.mid"
    path.write_bytes(data[: len(data) - 40])
    return path


def test_inspect_reads_the_32767_ppq_piece_whole():
    notes = len(onsets(mido.MidiFile(str(HIGH_PPQ))))
    first, report, bpms = inspect(HIGH_PPQ)
    assert first.endswith(f": 80 bars, {notes} notes") and bpms == [120.0] * 80


def test_inspect_keeps_zero_length_drum_hits_and_the_round_trip_plays_them(tmp_path):
    hits = onsets(mido.MidiFile(str(DRUM_HITS)))
    out = tmp_path / "rt.mid"
    first, report, _ = inspect(DRUM_HITS, "--roundtrip", str(out))
    assert report["notes_zero_length"] == report["drum_notes"] == report["notes"] == str(len(hits))
    written = mido.MidiFile(str(out))
    scale = written.ticks_per_beat / mido.MidiFile(str(DRUM_HITS)).ticks_per_beat
    played = onsets(written)
    assert [(round(t / scale), c, p) for t, c, p, _ in played] == [(t, c, p) for t, c, p, _ in hits]
    # every hit sounds: its note-off comes after its note-on
    for track in written.tracks:
        now, sounding, lengths = 0, {}, []
        for msg in track:
            now += msg.time
            if msg.type == "note_on" and msg.velocity:
                sounding[msg.note] = now
            elif msg.type in ("note_off", "note_on") and msg.note in sounding:
                lengths.append(now - sounding.pop(msg.note))
        assert all(length > 0 for length in lengths)


def test_inspect_reads_the_tempo_of_the_note_track_and_writes_it_back(tmp_path):
    out = tmp_path / "rt.mid"
    _, _, bpms = inspect(TEMPO_72, "--roundtrip", str(out))
    assert bpms == [72.0, 72.0]
    tempos = [mido.tempo2bpm(m.tempo) for t in mido.MidiFile(str(out)).tracks for m in t if m.type == "set_tempo"]
    assert tempos and all(abs(bpm / 72 - 1) < 0.05 for bpm in tempos)  # 72 BPM, to the tempo bin's step


def test_inspect_skips_the_impossible_key_signature_and_counts_it():
    first, report, _ = inspect(BAD_KEY)
    assert first.endswith(": 4 bars, 16 notes") and report["events_skipped"] == "1"


def test_inspect_plays_type_2_patterns_in_order(tmp_path):
    out = tmp_path / "rt.mid"
    first, report, _ = inspect(TYPE_2, "--roundtrip", str(out))
    assert report["patterns_in_sequence"] == "2" and first.endswith(": 2 bars, 12 notes")
    patterns = [[p for _, _, p, _ in onsets(mido.MidiFile(tracks=[track]))]
                for track in mido.MidiFile(str(TYPE_2)).tracks]
    written = mido.MidiFile(str(out))
    bar = 4 * written.ticks_per_beat
    played = onsets(written)
    assert [p for t, _, p, _ in played if t < bar] == patterns[0]
    assert [p for t, _, p, _ in played if bar <= t < 2 * bar] == patterns[1]


def test_classify_reads_every_case_names_the_cause_of_bad_files_and_shows_progress_on_long_ones(tmp_path):
    good = sorted(CASES.glob("*.mid"))
    bad = truncated(tmp_path)
    text = tmp_path / "notes.mid"
    text.write_text("not MIDI")
    result = cdgmvae("classify", *map(str, good), str(bad), str(text))
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    for path in good:
        assert re.match(r"Q[1-4] \(arousal (high|low) p=", lines[str(path)]), lines[str(path)]
    assert lines[str(bad)].startswith("error: damaged MIDI file: cut short")
    assert lines[str(text)].startswith("error: not a MIDI file")
    # progress on stderr for the 750 bars, and only for them
    assert "750/750" in result.stderr and "encoding" in result.stderr
    assert "/80 " not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [
    ("transfer", "{}", "--to", "sad", "--out", "{out}"),
    ("swap", "{}", str(TEMPO_72), "--feature", "key", "--out", "{out}"),
    ("inspect", "{}"),
])
def test_transfer_swap_and_inspect_refuse_a_damaged_file_naming_the_cause(tmp_path, command):
    bad = truncated(tmp_path)
    args = [a.format(bad, out=tmp_path / "o.mid") for a in command]
    result = cdgmvae(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cdgmvae {command[0]}: error: {bad}: damaged MIDI file: "
                                                   f"cut short (track 2 needs ")
    assert not (tmp_path / "o.mid").exists()


def test_transfer_and_swap_read_the_cases(tmp_path):
    moved = tmp_path / "moved.mid"
    result = cdgmvae("transfer", str(BAD_KEY), "--to", "sad", "--lambda", "0.5", "--out", str(moved),
                     "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["bars"] == 4 and onsets(mido.MidiFile(str(moved)))
    swapped = tmp_path / "swapped.mid"
    result = cdgmvae("swap", str(TYPE_2), str(DRUM_HITS), "--feature", "rhythm", "--out", str(swapped),
                     "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["bars"] == 2 and onsets(mido.MidiFile(str(swapped)))


def test_prepare_reads_every_case_and_counts_what_it_changed(tmp_path):
    out = tmp_path / "prepared"
    result = cdgmvae("prepare", str(CASES), "--out", str(out), "--workers", "1", "--quiet")
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert counts["pieces_prepared"] == len(list(CASES.glob("*.mid"))) and counts["skipped"] == {}
    assert counts["notes_zero_length"] == len(onsets(mido.MidiFile(str(DRUM_HITS))))
    assert counts["events_skipped"] == 1 and counts["patterns_in_sequence"] == 2
    assert counts["bars_tempo_clamped"] == 0


def test_prepare_names_the_cause_of_a_damaged_file(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    truncated(src)
    manifest_out = tmp_path / "prepared"
    result = cdgmvae("prepare", str(src), "--out", str(manifest_out), "--workers", "1", "--quiet")
    assert result.returncode == 0, result.stderr
    skipped = json.loads((manifest_out / "manifest.json").read_text())["skipped"]
    assert [s["reason"] for s in skipped] == ["unreadable"]
    assert skipped[0]["detail"].startswith("damaged MIDI file: cut short (track 2 needs ")
