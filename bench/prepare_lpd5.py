"""Seconds per LPD-5 pianoroll for `cdgmvae prepare --lpd5`, against the MIDI path on the same songs.

    python bench/prepare_lpd5.py [--files 8] [--bars 100] [--repeats 3]

Writes `--files` synthetic five-track songs of `--bars` 4/4 bars (24 steps a beat, bool rolls as in
lpd_5_cleansed) with pypianoroll, and the same songs as MIDI files (pypianoroll.write); prepares each set
into a fresh folder with one worker; prints the median of the repeats, and the LPD-5 time as a ratio of
the MIDI time measured in the same run. Needs the extra cdgmvae[lpd5].
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_common import cpu_machine, print_result
from cdgmvae.training.lpd5 import require_pypianoroll
from cdgmvae.training.prepare import prepare

RESOLUTION = 24
# (track, is drum, chance of an onset on each 16th)
TRACKS = [("Drums", True, 0.5), ("Piano", False, 0.5), ("Guitar", False, 0.25), ("Bass", False, 0.25),
          ("Strings", False, 0.25)]


def write_songs(folder: Path, n: int, bars: int, seed: int = 0) -> tuple[Path, Path]:
    """n songs as LPD-5 .npz files under folder/lpd5 and as MIDI files under folder/midi."""
    pypianoroll = require_pypianoroll()
    rng = np.random.default_rng(seed)
    steps, sixteenth = bars * 4 * RESOLUTION, RESOLUTION // 4
    (folder / "lpd5").mkdir(parents=True)
    (folder / "midi").mkdir()
    for i in range(n):
        tracks = []
        for name, is_drum, density in TRACKS:
            roll = np.zeros((steps, 128), dtype=bool)
            for onset in range(0, steps, sixteenth):
                if rng.random() < density:
                    length = 1 if is_drum else sixteenth * int(rng.integers(1, 5))
                    for pitch in rng.integers(*((36, 50) if is_drum else (40, 84)), size=1 if is_drum else 2):
                        roll[onset:onset + length, pitch] = True
            tracks.append(pypianoroll.BinaryTrack(name=name, program=0, is_drum=is_drum, pianoroll=roll))
        downbeat = np.zeros(steps, dtype=bool)
        downbeat[::4 * RESOLUTION] = True
        song = pypianoroll.Multitrack(resolution=RESOLUTION, tempo=np.full(steps, 120.0), downbeat=downbeat,
                                      tracks=tracks)
        song.save(str(folder / "lpd5" / f"song{i:03d}.npz"))
        pypianoroll.write(str(folder / "midi" / f"song{i:03d}.mid"), song)
    return folder / "lpd5", folder / "midi"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--bars", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lpd5_dir, midi_dir = write_songs(Path(tmp) / "songs", args.files, args.bars)
        seconds: dict[str, list[float]] = {"lpd5": [], "midi": []}
        for _ in range(args.repeats):
            for kind in ("midi", "lpd5"):
                with tempfile.TemporaryDirectory() as out:
                    start = time.perf_counter()
                    if kind == "lpd5":
                        manifest = prepare([], Path(out), lpd5_sources=[lpd5_dir], progress=False)
                    else:
                        manifest = prepare([midi_dir], Path(out), progress=False)
                    seconds[kind].append(time.perf_counter() - start)
                    notes = manifest["counts"]["notes"]
    lpd5_s, midi_s = (statistics.median(seconds[k]) / args.files for k in ("lpd5", "midi"))
    result = {"machine": cpu_machine(),
              "files": args.files, "bars_per_file": args.bars, "notes_per_file": notes // args.files,
              "s_per_file_lpd5": round(lpd5_s, 3), "s_per_file_midi": round(midi_s, 3),
              "lpd5_vs_midi": round(lpd5_s / midi_s, 2)}
    print_result(result, args.json)


if __name__ == "__main__":
    main()
