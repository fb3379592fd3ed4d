"""`cdgmvae osc-spec [--json]`: the OSC address space of `cdgmvae live`."""
from __future__ import annotations

import argparse
import json

from cdgmvae.bridge.osc_spec import TABLE, markdown_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the table as JSON")


def run(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps([m.as_dict() for m in TABLE], indent=2))
    else:
        print(markdown_table())
    return 0
