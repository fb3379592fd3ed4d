"""`cdgmvae baseline --data DIR --out FILE.json`: fit the reference classifier on the training split."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from cdgmvae.engine.errors import UserError
from cdgmvae.training.baseline import LogisticRegression, accuracies, load_split


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="a folder written by `cdgmvae prepare`")
    parser.add_argument("--out", type=Path, default=Path("training/baseline.json"),
                        help="where to write the weights (default training/baseline.json)")


def run(args: argparse.Namespace) -> int:
    if not (args.data / "manifest.json").is_file():
        raise UserError(f"{args.data} has no manifest.json: run `cdgmvae prepare SRC --out {args.data}` first")
    x_train, y_train = load_split(args.data, "train")
    x_val, y_val = load_split(args.data, "val")
    if not len(x_train) or not len(x_val):
        raise UserError(f"{args.data} needs labelled pieces in both the train and val splits")
    model = LogisticRegression.fit(x_train, y_train)
    model.save(args.out)
    report = {"train": accuracies(model.probabilities(x_train), y_train),
              "val": accuracies(model.probabilities(x_val), y_val)}
    print(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0
