"""`cdgmvae prepare --lpd5`: LPD-5 pianorolls written by pypianoroll, end to end through the command.

The files are made the way LPD was: MIDI fixtures read by pypianoroll (or rolls built with it), their tracks
named Drums, Piano, Guitar, Bass and Strings, saved with pypianoroll's own writer. Every expectation below is
worked out from the fixture's notes and metre, not by the code under test."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cdgmvae.engine import codec
from cdgmvae.engine import vocab as V

from cdgmvae import cli
from tests.midi_builders import write_midi

pypianoroll = pytest.importorskip("pypianoroll")

ROOT = Path(__file__).parent.parent
LPD5_NAMES = ("Drums", "Piano", "Guitar", "Bass", "Strings")
# The project's MIDI channels (1-based, as README and docs/ARCHITECTURE.md state them) for each track
CHANNEL_OF = {"Drums": 10, "Piano": 1, "Guitar": 2, "Bass": 3, "Strings": 4}

# A 3/4 song at 90 BPM: (LPD-5 track, onset in 16ths, length in 16ths, pitch, velocity)
SONG = [("Drums", 0, 1, 36, 100), ("Drums", 6, 1, 38, 70), ("Drums", 12, 1, 36, 110), ("Drums", 30, 1, 42, 50),
        ("Piano", 0, 4, 60, 80), ("Piano", 4, 4, 60, 100), ("Piano", 13, 3, 64, 40), ("Piano", 26, 2, 72, 120),
        ("Guitar", 2, 6, 55, 90), ("Guitar", 14, 2, 59, 64),
        ("Bass", 0, 12, 40, 96), ("Bass", 24, 8, 43, 30),
        ("Strings", 12, 20, 67, 75), ("Strings", 33, 1, 79, 85)]
SONG_BPM = 90.0
SONG_BEATS_PER_BAR = 3
# General MIDI programs of LPD-5's tracks (its merging puts each family on the track of that name)
PROGRAMS = {"Piano": 0, "Guitar": 25, "Bass": 33, "Strings": 48}


def song_npz(path: Path, midi_dir: Path) -> Path:
    """SONG as an LPD-5 file: the MIDI fixture read by pypianoroll (24 steps a beat), its tracks named as
    LPD-5 names them and its downbeats on every 3/4 bar line, saved with pypianoroll."""
    midi_dir.mkdir(parents=True, exist_ok=True)
    tracks = [{"drum": name == "Drums", "program": PROGRAMS.get(name, 0),
               "notes": [(start, length, pitch, velocity) for n, start, length, pitch, velocity in SONG if n == name]}
              for name in LPD5_NAMES]
    midi = write_midi(midi_dir / f"{path.stem}.mid", tracks, tempos=((0, SONG_BPM),), time_signature=(3, 4))
    multitrack = pypianoroll.read(midi)
    assert multitrack.resolution == 24 and len(multitrack.tracks) == 5
    for track, name in zip(multitrack.tracks, LPD5_NAMES):  # write_midi writes the tracks in LPD5_NAMES order
        track.name = name
    # pypianoroll.read marks only the first bar of a song's last time signature; LPD's files mark them all
    downbeat = np.zeros(multitrack.get_max_length(), dtype=bool)
    downbeat[::SONG_BEATS_PER_BAR * multitrack.resolution] = True
    multitrack.downbeat = downbeat
    path.parent.mkdir(parents=True, exist_ok=True)
    multitrack.save(str(path))
    return path


def run_prepare(*args: str, capsys=None) -> tuple[int, str]:
    code = cli.main(["prepare", *map(str, args), "--quiet", "--workers", "1"])
    return code, (capsys.readouterr().out if capsys else "")


def pieces_by_source(out: Path) -> dict[str, tuple[dict, np.ndarray]]:
    manifest = json.loads((out / "manifest.json").read_text())
    result = {}
    for entry in manifest["pieces"]:
        with np.load(out / entry["file"], allow_pickle=False) as arrays:
            result[Path(entry["source"]).parent.name + "/" + Path(entry["source"]).name] = (entry, arrays["tokens"])
    return result


def grid_notes(tokens: np.ndarray) -> list[tuple]:
    """(bar, position, track name, pitch, duration, velocity) of every note in the prepared tokens."""
    return sorted((bar, n.position, V.TRACKS[n.track], n.pitch, n.duration, n.velocity)
                  for bar, row in enumerate(tokens) for n in codec.bar_notes(row))


def binned(velocity: int) -> int:
    return V.velocity_bin_value(V.velocity_to_bin(velocity))


def test_a_3_4_song_keeps_its_notes_tracks_and_bars(tmp_path, capsys):
    lpd = tmp_path / "lpd_5_cleansed"
    song_npz(lpd / "A" / "B" / "C" / "TRABCDE123456789AB" / "0f3a9c.npz", tmp_path / "midi")
    out = tmp_path / "prepared"
    code, printed = run_prepare("--lpd5", lpd, "--out", out, capsys=capsys)
    assert code == 0

    (entry, tokens), = pieces_by_source(out).values()
    # bars of 3 beats (12 sixteenths) from the file's downbeats, not the codec's 4/4
    want = sorted((start // 12, start % 12, name, pitch, min(length, 16), binned(velocity))
                  for name, start, length, pitch, velocity in SONG)
    assert grid_notes(tokens) == want
    assert entry["bars"] == len(tokens) == max(start for _, start, *_ in SONG) // 12 + 1
    for row in tokens:
        assert codec.bar_tempo(row) == V.tempo_bin_bpm(V.tempo_to_bin(SONG_BPM))

    # each LPD-5 track plays on its own channel when the prepared bars are written as MIDI
    heard = {}
    for track in codec.midi_file(tokens).tracks:
        for msg in track:
            if msg.type == "note_on" and msg.velocity:
                heard.setdefault(msg.channel + 1, set()).add(msg.note)
    assert heard == {CHANNEL_OF[name]: {p for n, _, _, p, _ in SONG if n == name} for name in LPD5_NAMES}

    counts = json.loads(printed[:printed.index("\n}\n") + 3])
    lpd_counts = counts["lpd5"]
    assert lpd_counts["songs_read"] == lpd_counts["songs_prepared"] == 1
    for name in LPD5_NAMES:
        assert lpd_counts[f"notes_{name.lower()}"] == sum(n == name for n, *_ in SONG)
    assert lpd_counts["tracks_unnamed"] == lpd_counts["downbeats_assumed"] == lpd_counts["tempo_assumed"] == 0
    # every span between the file's downbeats is 3 beats, not the grid's 4
    downbeats = int(pypianoroll.load(next(lpd.rglob("*.npz"))).downbeat.sum())
    assert lpd_counts["bars_irregular"] == downbeats - 1 > 0
    assert counts["unlabelled"] == 1 and counts["labelled"] == 0


def roll(steps: int, notes: list[tuple], value) -> np.ndarray:
    """A [steps, 128] pianoroll with each (onset step, length in steps, pitch) set to `value`."""
    out = np.zeros((steps, 128), dtype=type(value) if not isinstance(value, bool) else bool)
    for onset, length, pitch in notes:
        out[onset:onset + length, pitch] = value
    return out


def test_binary_rolls_irregular_downbeats_and_names_over_programs(tmp_path, capsys):
    """Resolution 12 (a 16th is 3 steps), downbeats on beats 0, 4, 6 and 10 (bars of 4, 2, 4 and 4 beats),
    bool rolls as in LPD's binarised files (pypianoroll plays them at velocity 64), every track program 0:
    the track names, not the programs, say where the notes go."""
    resolution, steps = 12, 14 * 12
    # (track, beat, 16th in the beat, length in 16ths, pitch)
    notes = [("Piano", 0, 0, 4, 60), ("Guitar", 3, 2, 2, 64), ("Bass", 4, 0, 8, 36), ("Bass", 5, 3, 1, 38),
             ("Strings", 6, 1, 3, 72), ("Drums", 9, 3, 1, 42), ("Piano", 10, 0, 2, 67), ("Guitar", 13, 1, 2, 59)]
    bar_starts = [0, 4, 6, 10]
    tracks = []
    for name in LPD5_NAMES:
        mine = [((beat * 4 + sixteenth) * 3, length * 3, pitch) for n, beat, sixteenth, length, pitch in notes
                if n == name]
        tracks.append(pypianoroll.BinaryTrack(name=name, program=0, is_drum=name == "Drums",
                                              pianoroll=roll(steps, mine, True)))
    downbeat = np.zeros(steps, dtype=bool)
    downbeat[[b * resolution for b in bar_starts]] = True
    multitrack = pypianoroll.Multitrack(resolution=resolution, tempo=np.full(steps, 150.0), downbeat=downbeat,
                                        tracks=tracks)
    lpd = tmp_path / "lpd"
    lpd.mkdir()
    multitrack.save(str(lpd / "TRZZZZZ123456789AB.npz"))
    out = tmp_path / "prepared"
    code, printed = run_prepare("--lpd5", lpd, "--out", out, capsys=capsys)
    assert code == 0

    (entry, tokens), = pieces_by_source(out).values()
    want = []
    for name, beat, sixteenth, length, pitch in notes:
        bar = max(i for i, start in enumerate(bar_starts) if start <= beat)
        want.append((bar, (beat - bar_starts[bar]) * 4 + sixteenth, name, pitch, length, binned(64)))
    assert grid_notes(tokens) == sorted(want)
    for row in tokens:  # the 2-beat bar too: its tempo is its beats over its seconds
        assert codec.bar_tempo(row) == V.tempo_bin_bpm(V.tempo_to_bin(150.0))
    lpd_counts = json.loads((out / "manifest.json").read_text())["counts"]["lpd5"]
    assert lpd_counts["bars_irregular"] == 1  # the 2-beat span between beats 4 and 6
    assert lpd_counts["tracks_unnamed"] == 0


def test_no_downbeats_no_tempo_and_an_unnamed_track(tmp_path):
    """Without a downbeat array the song is read in 4/4 from its first step, MIDI's default metre; without a
    tempo array at 120 BPM; a track LPD-5 does not name (a bass program) goes by its program; each counted."""
    resolution, steps = 24, 12 * 24
    piano = pypianoroll.StandardTrack(name="Piano", program=0, pianoroll=roll(steps, [(0, 24, 60), (5 * 24, 12, 62)],
                                                                             np.uint8(90)))
    other = pypianoroll.StandardTrack(name="Fretless", program=35, pianoroll=roll(steps, [(9 * 24 + 6, 6, 40)],
                                                                                 np.uint8(50)))
    lpd = tmp_path / "lpd"
    lpd.mkdir()
    pypianoroll.Multitrack(resolution=resolution, tracks=[piano, other]).save(str(lpd / "plain.npz"))
    out = tmp_path / "prepared"
    assert run_prepare("--lpd5", lpd, "--out", out)[0] == 0
    (entry, tokens), = pieces_by_source(out).values()
    assert grid_notes(tokens) == [(0, 0, "Piano", 60, 4, binned(90)), (1, 4, "Piano", 62, 2, binned(90)),
                                  (2, 5, "Bass", 40, 1, binned(50))]
    assert all(codec.bar_tempo(row) == V.tempo_bin_bpm(V.tempo_to_bin(120.0)) for row in tokens)
    lpd_counts = json.loads((out / "manifest.json").read_text())["counts"]["lpd5"]
    assert lpd_counts["downbeats_assumed"] == 1 and lpd_counts["tempo_assumed"] == 1
    assert lpd_counts["tracks_unnamed"] == 1


def test_malformed_files_are_skipped_with_a_reason_and_counted(tmp_path, capsys):
    lpd = tmp_path / "lpd"
    good = song_npz(lpd / "good.npz", tmp_path / "midi")
    (lpd / "text.npz").write_text("not a pianoroll\n")
    (lpd / "cut.npz").write_bytes(good.read_bytes()[:200])
    np.savez(lpd / "plain_numpy.npz", x=np.arange(3))  # an npz, but not pypianoroll's (no info.json)
    silent = pypianoroll.StandardTrack(name="Piano", program=0, pianoroll=np.zeros((96, 128), np.uint8))
    pypianoroll.Multitrack(resolution=24, tracks=[silent]).save(str(lpd / "silent.npz"))
    loud = pypianoroll.StandardTrack(name="Piano", program=0, pianoroll=roll(96, [(0, 24, 60)], np.uint8(80)))
    pypianoroll.Multitrack(resolution=0, tracks=[loud]).save(str(lpd / "no_resolution.npz"))
    (lpd / "empty.npz").write_bytes(b"")
    out = tmp_path / "prepared"
    code, printed = run_prepare("--lpd5", lpd, "--out", out, capsys=capsys)
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    reasons = {Path(s["source"]).name: s["reason"] for s in manifest["skipped"]}
    assert reasons == {"text.npz": "unreadable", "cut.npz": "unreadable", "plain_numpy.npz": "unreadable",
                       "silent.npz": "empty", "no_resolution.npz": "malformed", "empty.npz": "empty"}
    assert manifest["counts"]["lpd5"]["songs_read"] == 7 and manifest["counts"]["lpd5"]["songs_prepared"] == 1
    assert manifest["counts"]["lpd5"]["skipped"] == {"unreadable": 3, "empty": 2, "malformed": 1}
    skip_lines = [line for line in printed.splitlines() if line.startswith("skipped ")]
    assert len(skip_lines) == 6 and all(len(line) < 300 for line in skip_lines)
    assert any("no_resolution.npz: malformed (resolution 0" in line for line in skip_lines)


LABELS_HEADER = "msd_id,spotify_id,title,valence,energy,tempo\n"


def labelled_lpd(tmp_path: Path) -> Path:
    """lpd_5_cleansed-style folders for four MSD ids, the same song in each."""
    lpd = tmp_path / "lpd_5_cleansed"
    for n, msd in enumerate(("TRAAAAA000000001AA", "TRAAAAA000000002AA", "TRAAAAA000000003AA", "TRAAAAA000000004AA")):
        song_npz(lpd / "A" / "A" / "A" / msd / f"{n:032x}.npz", tmp_path / "midi")
    return lpd


def labels_csv(tmp_path: Path) -> Path:
    path = tmp_path / "lakh_spotify.csv"
    path.write_text(LABELS_HEADER +
                    "TRAAAAA000000001AA,4uLU6hMCjMI75M1A2tKUQC,one,0.8,0.3,120\n"
                    "TRAAAAA000000002AA,7ouMYWpwJ422jRcDASZB7P,two,0.2,0.9,98\n"
                    "TRAAAAA000000003AA,2takcwOaAZWiXQijPHIx7B,three,0.5,0.5,101\n"
                    "TRAAAAA000000009AA,1ZKeE4KR8f8ufU9Y9Q6ytC,not on disk,0.9,0.9,77\n"
                    "TRAAAAA000000002AA,5ghIJDpPoe3CfHMGu71E6T,two again,0.9,0.1,98\n"
                    "TRAAAAA000000005AA,3n3Ppam7vgaVa1iaRUc9Lp,no features,,0.4,99\n")
    return path


def test_labels_from_a_spotify_features_csv(tmp_path, capsys):
    lpd = labelled_lpd(tmp_path)
    out = tmp_path / "prepared"
    code, printed = run_prepare("--lpd5", lpd, "--out", out, "--labels", labels_csv(tmp_path), "--id-column",
                                "msd_id", "--valence-column", "valence", "--arousal-column", "energy",
                                "--threshold", "0.5", capsys=capsys)
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    got = {Path(e["source"]).parent.name: (e["valence"], e["arousal"]) for e in manifest["pieces"]}
    # value >= threshold is high; the first row of a repeated id counts; no row: unlabelled
    assert got == {"TRAAAAA000000001AA": (1, 0), "TRAAAAA000000002AA": (0, 1), "TRAAAAA000000003AA": (1, 1),
                   "TRAAAAA000000004AA": (None, None)}
    counts = manifest["counts"]
    assert counts["quadrants"] == {"Q4": 1, "Q2": 1, "Q1": 1, "unlabelled": 1}
    assert counts["labelled"] == 3 and counts["unlabelled"] == 1
    labels = counts["labels"]
    assert labels["rows"] == 4                      # distinct ids with two numbers
    assert labels["rows_without_piece"] == 1        # TR...9
    assert labels["rows_malformed"] == 1 and labels["first_malformed"].startswith("line 7:")
    assert labels["rows_duplicate"] == 1
    assert labels["pieces_with_row"] == 3 and labels["pieces_without_row"] == 1
    assert "labels: 4 rows read, 1 without a piece, 1 malformed, 1 repeated ids; 3 pieces labelled from the CSV, " \
           "1 without a row" in printed


def test_separate_thresholds_and_a_rerun_relabels_without_encoding(tmp_path):
    lpd = labelled_lpd(tmp_path)
    out = tmp_path / "prepared"
    csv = labels_csv(tmp_path)
    assert run_prepare("--lpd5", lpd, "--out", out, "--labels", csv, "--id-column", "msd_id",
                       "--arousal-column", "energy")[0] == 0
    stamps = {p: p.stat().st_mtime_ns for p in (out / "pieces").iterdir()}
    assert run_prepare("--lpd5", lpd, "--out", out, "--labels", csv, "--id-column", "msd_id", "--arousal-column",
                       "energy", "--valence-threshold", "0.6", "--arousal-threshold", "0.25")[0] == 0
    manifest = json.loads((out / "manifest.json").read_text())
    got = {Path(e["source"]).parent.name: (e["valence"], e["arousal"]) for e in manifest["pieces"]}
    assert got == {"TRAAAAA000000001AA": (1, 1), "TRAAAAA000000002AA": (0, 1), "TRAAAAA000000003AA": (0, 1),
                   "TRAAAAA000000004AA": (None, None)}
    assert manifest["counts"]["pieces_already_done"] == 4
    assert {p: p.stat().st_mtime_ns for p in (out / "pieces").iterdir()} == stamps


def expected_split(msd_id: str, fraction: float) -> str:
    """The documented rule: sha256("lpd5:" + MSD id), first 8 bytes big-endian over 2^64, below the fraction."""
    value = int.from_bytes(hashlib.sha256(("lpd5:" + msd_id).encode()).digest()[:8], "big") / 2**64
    return "val" if value < fraction else "train"


@pytest.mark.parametrize("fraction", ["0", "0.35", "1"])
def test_validation_split_by_msd_id(tmp_path, fraction):
    lpd = labelled_lpd(tmp_path)
    out = tmp_path / "prepared"
    assert cli.main(["prepare", "--lpd5", str(lpd), "--out", str(out), "--quiet", "--workers", "2",
                     "--lpd5-val", fraction]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    got = {Path(e["source"]).parent.name: e["split"] for e in manifest["pieces"]}
    assert got == {msd: expected_split(msd, float(fraction)) for msd in got} and len(got) == 4
    if fraction == "0.35":  # these four ids fall on both sides of it
        assert sorted(got.values()) == ["train", "train", "val", "val"]


def run_cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cdgmvae", "prepare", *map(str, args), "--quiet"],
                          capture_output=True, text=True, cwd=ROOT, env=env)


def test_a_missing_column_is_a_one_line_error_naming_it(tmp_path):
    lpd = labelled_lpd(tmp_path)
    out = tmp_path / "prepared"
    result = run_cli("--lpd5", lpd, "--out", out, "--labels", labels_csv(tmp_path), "--id-column", "msd_id")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "no column 'arousal' (--arousal-column)" in result.stderr and "energy" in result.stderr
    result = run_cli("--lpd5", lpd, "--out", out, "--labels", labels_csv(tmp_path), "--id-column", "track_id",
                     "--arousal-column", "energy")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "no column 'track_id' (--id-column)" in result.stderr
    assert not out.exists()


def test_without_pypianoroll_a_one_line_error_says_how_to_install_it(tmp_path):
    blocker = tmp_path / "blocker" / "pypianoroll"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('pypianoroll is not installed')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker.parent), str(ROOT)])}
    lpd = tmp_path / "lpd"
    lpd.mkdir()
    (lpd / "x.npz").write_bytes(b"")
    result = run_cli("--lpd5", lpd, "--out", tmp_path / "prepared", env=env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "pip install 'cdgmvae[lpd5]'" in result.stderr



def test_training_takes_the_prepared_lpd5_pieces_labelled_and_not(tmp_path):
    """The trainer reads what --lpd5 prepared: the pieces without a row train as unlabelled segments beside the
    labelled ones, and the hash-chosen validation pieces are validated on."""
    from tests.helpers_model import TINY, write_config
    data = tmp_path / "prepared"
    assert run_prepare("--lpd5", labelled_lpd(tmp_path), "--out", data, "--labels", labels_csv(tmp_path),
                       "--id-column", "msd_id", "--arousal-column", "energy", "--lpd5-val", "0.35",
                       "--bar-len", TINY.bar_len)[0] == 0
    splits = {e["split"] for e in json.loads((data / "manifest.json").read_text())["pieces"]}
    assert splits == {"train", "val"}
    out = tmp_path / "run"
    assert cli.main(["train", "--data", str(data), "--config", write_config(tmp_path / "tiny.json"), "--out", str(out),
                     "--steps", "2", "--batch", "4", "--threads", "1", "--log-every", "1"]) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and all(0 < entry["labelled_fraction"] < 1 for entry in log)
    assert json.loads((out / "summary.json").read_text())["val"]
