"""`cdgmvae prepare SRC... --out DIR`."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from cdgmvae.training.prepare import LabelColumns, prepare


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="*", type=Path, metavar="SRC",
                        help="MIDI files or folders (searched recursively). EMOPIA names (Q1_...) give labels; "
                             "train_clip.csv / val_clip.csv beside the MIDI files give the split. A folder with "
                             "midis/ and annotations/ side by side is read as POP909 (see --pop909)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; a re-run skips done pieces)")
    parser.add_argument("--labels", type=Path, metavar="CSV",
                        help="CSV with an id column and valence and arousal columns (0/1 or continuous, e.g. "
                             "Spotify's valence and energy in [0, 1], thresholded): labels MIDI files (by path, "
                             "name or stem) and LPD-5 pianorolls (by MSD track id). Rows without a piece and "
                             "pieces without a row (unlabelled) are counted")
    parser.add_argument("--id-column", metavar="C",
                        help="the CSV's id column (default: the first of file, path, name, id, filename)")
    parser.add_argument("--valence-column", default="valence", metavar="C", help="default %(default)s")
    parser.add_argument("--arousal-column", default="arousal", metavar="C",
                        help="default %(default)s; the Lakh-Spotify features files call it energy")
    parser.add_argument("--threshold", type=float, default=0.5, metavar="T",
                        help="a valence or arousal value >= T is high (1), below it low (0) (default %(default)s)")
    parser.add_argument("--valence-threshold", type=float, metavar="T", help="valence's own threshold")
    parser.add_argument("--arousal-threshold", type=float, metavar="T", help="arousal's own threshold")
    parser.add_argument("--lpd5", type=Path, action="append", default=[], metavar="DIR",
                        help="an LPD-5 folder (e.g. lpd_5_cleansed, .npz pianorolls written by pypianoroll, searched "
                             "recursively) or one .npz file: the Drums, Piano, Guitar, Bass and Strings tracks on the "
                             "tracks of those names, bar lines from the file's downbeats. Needs the extra "
                             "cdgmvae[lpd5]. May be repeated")
    parser.add_argument("--lpd5-val", type=float, default=0.1, metavar="F",
                        help="the fraction of LPD-5 pieces, chosen by a hash of their MSD id, in the validation split "
                             "(default %(default)s)")
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
    if not args.sources and not args.music21 and not args.pop909 and not args.lpd5:
        raise UserError("name at least one MIDI file or folder, --pop909 DIR, --lpd5 DIR or --music21 COMPOSER")
    named = [option for option, value in (("--id-column", args.id_column), ("--valence-threshold",
             args.valence_threshold), ("--arousal-threshold", args.arousal_threshold)) if value is not None]
    if named and args.labels is None:
        raise UserError(f"{named[0]} applies to a labels CSV: name it with --labels CSV")
    columns = LabelColumns(
        id=args.id_column, valence=args.valence_column, arousal=args.arousal_column,
        valence_threshold=args.threshold if args.valence_threshold is None else args.valence_threshold,
        arousal_threshold=args.threshold if args.arousal_threshold is None else args.arousal_threshold)
    manifest = prepare(args.sources, args.out, args.labels, args.workers, args.music21, args.music21_limit,
                       args.bar_len, args.min_bars, progress=not args.quiet, pop909_dirs=args.pop909,
                       lpd5_sources=args.lpd5, label_columns=columns, lpd5_val=args.lpd5_val)
    counts = manifest["counts"]
    print(json.dumps(counts, indent=1))
    for skip in manifest["skipped"]:
        print(f"skipped {skip['source']}: {skip['reason']} ({skip['detail']})")
    if "labels" in counts:
        labels = counts["labels"]
        print(f"labels: {labels['rows']} rows read, {labels['rows_without_piece']} without a piece, "
              f"{labels['rows_malformed']} malformed, {labels['rows_duplicate']} repeated ids; "
              f"{labels['pieces_with_row']} pieces labelled from the CSV, {labels['pieces_without_row']} "
              f"without a row (unlabelled, unless an EMOPIA name gives the quadrant)")
    print(f"wrote {args.out / 'manifest.json'}")
    return 0
