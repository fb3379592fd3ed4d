"""`cdgmvae fit-prior --checkpoint DIR --data PREPARED_DIR`: fit the latent prior beside a model."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from cdgmvae.engine.prior import KINDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, help="model folder or .json (default: the bundled model)")
    parser.add_argument("--data", type=Path, required=True, metavar="PREPARED_DIR",
                        help="a folder written by `cdgmvae prepare`; its training pieces (split not val) are encoded")
    parser.add_argument("--kind", choices=KINDS, default="keyed",
                        help="keyed: z_k around the mean of each bar's key, the key on a Markov chain whose mode "
                             "follows valence, and z_r from its previous bar; ar1: all latents from the previous "
                             "bar's; gauss: independent draws from the encoded bars' distribution (default keyed)")
    parser.add_argument("--out", type=Path, help="write prior.json/.safetensors here instead of beside the model "
                        "(generation only uses a prior beside its model)")
    parser.add_argument("--batch", type=int, default=16, help="pieces encoded at once (default 16)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import torch
    from cdgmvae.engine.errors import UserError
    from cdgmvae.engine.generator import DEFAULT_MODEL
    from cdgmvae.training.latent_prior import fit_on_dataset
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu")
    if args.batch < 1:
        raise UserError("--batch must be at least 1")
    prior, path = fit_on_dataset(args.checkpoint or DEFAULT_MODEL, args.data, args.kind, args.out, args.batch,
                                 args.device, progress=not args.quiet)
    print(json.dumps({"prior": str(path), "kind": prior.kind, "pieces": prior.info["pieces"],
                      "bars": prior.info["bars"], "labelled_pieces": prior.info["labelled_pieces"]}))
    return 0
