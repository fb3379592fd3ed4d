"""`cdgmvae swap A.mid B.mid --feature rhythm|key --out OUT.mid`: A with B's rhythm (or key) latents."""
from __future__ import annotations

import argparse
from pathlib import Path

from cdgmvae.engine.key_guidance import tonic_of

from cdgmvae.commands.common import add_model_arguments, generator_from_args, read_piece, write_bars


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", type=Path, metavar="A.mid", help="the piece that keeps its other latent")
    parser.add_argument("b", type=Path, metavar="B.mid", help="the piece that lends its --feature latent")
    parser.add_argument("--feature", choices=("rhythm", "key"), required=True,
                        help="rhythm: A's z_k with B's z_r; key: A's z_r with B's z_k")
    parser.add_argument("--out", type=Path, required=True, metavar="OUT.mid")
    add_model_arguments(parser)


def run(args: argparse.Namespace) -> int:
    generator = generator_from_args(args)
    bar_len = generator.model.cfg.bar_len
    a, b = read_piece(args.a, bar_len), read_piece(args.b, bar_len)
    a_r, a_k, _, _ = generator.encode_piece(a, progress=True)
    b_r, b_k, _, _ = generator.encode_piece(b, progress=True)
    n = min(len(a_r), len(b_r))
    z_r, z_k = (b_r[:n], a_k[:n]) if args.feature == "rhythm" else (a_r[:n], b_k[:n])
    key_from = a if args.feature == "rhythm" else b  # the piece whose key latent is used
    write_bars(generator.decode_latents(z_r, z_k, tonic_of(key_from), progress=True), args.out,
               {"feature": args.feature, "from": str(args.b)})
    return 0
