"""`cdgmvae prepare SRC... --out DIR`."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from cdgmvae.training.prepare import prepare


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="*", type=Path, metavar="SRC",
                        help="MIDI files or folders (searched recursively). EMOPIA names (Q1_...) give labels; "
                             "train_clip.csv / val_clip.csv beside the MIDI files give the split. A folder with "
                             "midis/ and annotations/ side by side is read as POP909 (see --pop909)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; a re-run skips done pieces)")
    parser.add_argument("--labels", type=Path, metavar="CSV",
                        help="CSV with a file column and valence, arousal (0/1 or 0..1, thresholded at 0.5)")
    parser.add_argument("--pop909", type=Path, action="append", default=[], metavar="DIR",
                        help="a POP909 folder (midis/NNN.mid, annotations/NNN/beat_midi.txt): unlabelled songs, bar "
                             "lines from the beat annotations (the files' time signatures are ignored), MELODY on "
                             "Strings (channel 4), BRIDGE on Guitar (2), PIANO on Piano (1); val_songs.txt there "
                             "names the validation songs. May be repeated")
    parser.add_argument("--music21", metavar="COMPOSER_OR_PATH",
                        help="add unlabelled pieces from the music21 corpus installed with the package, e.g. bach")
    parser.add_argument("--music21-limit", type=int, metavar="N", help="at most N music21 pieces")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)),
                        help="parallel processes (default: all cores)")
    parser.add_argument("--bar-len", type=int, default=128, metavar="L", help="tokens per bar at most (default 128)")
    parser.add_argument("--min-bars", type=int, default=2, help="skip pieces shorter than this (default 2)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from cdgmvae.engine.errors import UserError
    if not args.sources and not args.music21 and not args.pop909:
        raise UserError("name at least one MIDI file or folder, --pop909 DIR or --music21 COMPOSER")
    manifest = prepare(args.sources, args.out, args.labels, args.workers, args.music21, args.music21_limit,
                       args.bar_len, args.min_bars, progress=not args.quiet, pop909_dirs=args.pop909)
    counts = manifest["counts"]
    print(json.dumps(counts, indent=1))
    for skip in manifest["skipped"]:
        print(f"skipped {skip['source']}: {skip['reason']} ({skip['detail']})")
    print(f"wrote {args.out / 'manifest.json'}")
    return 0
