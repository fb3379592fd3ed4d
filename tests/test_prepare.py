import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cdgmvae.engine import vocab as V
from cdgmvae.training.prepare import prepare

from tests.midi_builders import write_midi

ROOT = Path(__file__).parent.parent
EMOPIA = ROOT / "data" / "emopia"


def small_emopia(tmp_path, n=12) -> Path:
    """A copy of n EMOPIA clips (3 per quadrant) with the official split files."""
    folder = tmp_path / "emopia"
    (folder / "midis").mkdir(parents=True)
    for q in "1234":
        for path in sorted((EMOPIA / "midis").glob(f"Q{q}_*.mid"))[: n // 4]:
            shutil.copy(path, folder / "midis")
    for name in ("train_clip.csv", "val_clip.csv"):
        shutil.copy(EMOPIA / name, folder)
    return folder


def test_manifest_counts_match_the_files(tmp_path):
    src = small_emopia(tmp_path)
    out = tmp_path / "prepared"
    manifest = prepare([src], out, workers=2, progress=False)
    files = sorted((src / "midis").glob("*.mid"))
    counts = manifest["counts"]
    assert counts["pieces_read"] == counts["pieces_prepared"] == len(files) == 12
    assert counts["quadrants"] == {"Q1": 3, "Q2": 3, "Q3": 3, "Q4": 3}
    assert manifest["vocab_fingerprint"] == V.fingerprint()
    total_bars = 0
    for entry in manifest["pieces"]:
        quadrant = int(Path(entry["source"]).name[1])
        assert (entry["valence"], entry["arousal"]) == {1: (1, 1), 2: (0, 1), 3: (0, 0), 4: (1, 0)}[quadrant]
        split = "val" if Path(entry["source"]).name in (EMOPIA / "val_clip.csv").read_text() else "train"
        assert entry["split"] == split
        with np.load(out / entry["file"], allow_pickle=False) as arrays:
            tokens, rhythm, key = arrays["tokens"], arrays["rhythm"], arrays["key"]
        assert tokens.shape == (entry["bars"], 128) and rhythm.shape == (entry["bars"], 16)
        assert key.shape == (entry["bars"],) and key.min() >= 0 and key.max() < 24
        assert (tokens[:, 0] == V.BAR).all()
        # the rhythm vector counts the Pitch tokens: one per note onset
        pitch_tokens = (V.TOKEN_KIND[tokens.astype(np.int64)] == V.KIND_PITCH).sum()
        assert rhythm.sum() == pitch_tokens
        total_bars += entry["bars"]
    assert counts["bars"] == total_bars


def test_bad_files_are_skipped_with_reasons_and_a_rerun_is_a_no_op(tmp_path):
    src = tmp_path / "mixed"
    src.mkdir()
    good = write_midi(src / "good.mid", [{"program": 0, "notes": [(i * 4, 4, 60 + i, 80) for i in range(12)]}])
    (src / "sub").mkdir()
    write_midi(src / "sub" / "good2.midi", [{"program": 33, "notes": [(0, 8, 40, 90), (20, 8, 43, 90)]}])
    data = good.read_bytes()
    (src / "truncated.mid").write_bytes(data[: len(data) // 2])
    (src / "notes.mid").write_text("this is a text file, not MIDI\n")
    (src / "empty.mid").write_bytes(b"")
    write_midi(src / "silent.mid", [{"program": 0, "notes": []}])
    write_midi(src / "short.mid", [{"program": 0, "notes": [(0, 4, 60, 80)]}])
    out = tmp_path / "prepared"

    manifest = prepare([src], out, workers=2, progress=False)
    reasons = {Path(s["source"]).name: s["reason"] for s in manifest["skipped"]}
    assert reasons == {"truncated.mid": "unreadable", "notes.mid": "unreadable", "empty.mid": "empty",
                       "silent.mid": "empty", "short.mid": "too_short"}
    counts = manifest["counts"]
    assert counts["pieces_read"] == 7 and counts["pieces_prepared"] == 2
    assert counts["skipped"] == {"unreadable": 2, "empty": 2, "too_short": 1}
    assert counts["unlabelled"] == 2 and counts["labelled"] == 0

    stamps = {p: p.stat().st_mtime_ns for p in (out / "pieces").iterdir()}
    again = prepare([src], out, workers=1, progress=False)
    assert again["counts"]["pieces_new"] == 0 and again["counts"]["pieces_already_done"] == 2
    assert {p: p.stat().st_mtime_ns for p in (out / "pieces").iterdir()} == stamps
    assert again["pieces"] == manifest["pieces"] and again["skipped"] == manifest["skipped"]


def test_labels_csv_overrides_and_thresholds(tmp_path):
    src = tmp_path / "songs"
    src.mkdir()
    for name in ("a", "b"):
        write_midi(src / f"{name}.mid", [{"program": 0, "notes": [(i * 4, 4, 60 + i, 80) for i in range(12)]}])
    labels = tmp_path / "labels.csv"
    labels.write_text("file,valence,arousal\na.mid,0.8,0.2\nsongs/b.mid,0,1\n")
    manifest = prepare([src], tmp_path / "out", labels_csv=labels, workers=1, progress=False)
    got = {Path(p["source"]).name: (p["valence"], p["arousal"]) for p in manifest["pieces"]}
    assert got == {"a.mid": (1, 0), "b.mid": (0, 1)}


def test_music21_corpus_adds_unlabelled_pieces(tmp_path):
    pytest.importorskip("music21")
    manifest = prepare([], tmp_path / "out", music21="bach", music21_limit=2, workers=1, progress=False)
    assert manifest["counts"]["pieces_prepared"] == 2 and manifest["counts"]["unlabelled"] == 2
    assert all(p["source"].startswith("music21:") and p["bars"] >= 2 for p in manifest["pieces"])


def test_prepare_cli_reports_all_990_bundled_clips(tmp_path):
    result = subprocess.run([sys.executable, "-m", "cdgmvae", "prepare", str(EMOPIA), "--out", str(tmp_path / "x"),
                             "--quiet"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "x" / "manifest.json").read_text())
    assert manifest["counts"]["pieces_prepared"] == 990 and manifest["counts"]["labelled"] == 990
    assert manifest["counts"]["splits"] == {"train": 876, "val": 114}
    assert '"pieces_prepared": 990' in result.stdout
