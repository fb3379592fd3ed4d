"""`cdgmvae inspect FILE.mid [--roundtrip OUT.mid]`: what the codec and the feature code make of a file."""
from __future__ import annotations

import argparse
from pathlib import Path

from cdgmvae.engine import codec
from cdgmvae.engine import vocab as V
from cdgmvae.engine.features import KEY_NAMES, piece_features


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE.mid")
    parser.add_argument("--roundtrip", type=Path, metavar="OUT.mid", help="write decode(encode(FILE)) here")
    parser.add_argument("--bar-len", type=int, default=codec.DEFAULT_BAR_LEN, metavar="L",
                        help="tokens per bar at most (default 128)")
    parser.add_argument("--tokens", action=argparse.BooleanOptionalAction, default=True,
                        help="print every bar's tokens (default on)")


def run(args: argparse.Namespace) -> int:
    piece = codec.encode(args.file, args.bar_len)
    rhythm, keys = piece_features(piece.notes)
    print(f"{args.file}: {len(piece.bars)} bars, {piece.report.notes} notes")
    print("report: " + ", ".join(f"{k}={v}" for k, v in piece.report.as_dict().items()))
    for i, tokens in enumerate(piece.bars):
        onsets = " ".join(str(int(x)) for x in rhythm[i])
        print(f"bar {i:3d}  {len(tokens):3d} tokens  {piece.tempos[i]:6.1f} BPM  key {KEY_NAMES[keys[i]]:9s}  "
              f"onsets [{onsets}]")
        if args.tokens:
            print("    " + " ".join(V.token_name(t) for t in tokens))
    if args.roundtrip:
        args.roundtrip.parent.mkdir(parents=True, exist_ok=True)
        codec.midi_file(piece.bars).save(str(args.roundtrip))
        print(f"wrote {args.roundtrip} (decode of the tokens above)")
    return 0
