"""`cdgmvae classify FILE.mid... [--json] [--checkpoint C]`: the emotion q(y|x) infers of each file."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from cdgmvae.engine.emotion import quadrant
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.generator import DEFAULT_MODEL, Generator
from cdgmvae.engine.midi_reader import MidiReadError

from cdgmvae.commands.common import read_piece


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE.mid")
    parser.add_argument("--json", action="store_true", help="print one JSON array, an object per file")
    parser.add_argument("--checkpoint", type=Path, help="model folder or .json (default: the bundled model)")


def classify(generator: Generator, path: Path) -> dict:
    try:
        bars = read_piece(path, generator.model.cfg.bar_len)
    except MidiReadError as err:
        return {"path": str(path), "error": err.reason}
    except UserError as err:
        return {"path": str(path), "error": str(err)}
    _, _, p_a, p_v = generator.encode_piece(bars, progress=True)
    p_a, p_v = float(p_a), float(p_v)
    return {"path": str(path), "arousal": "high" if p_a >= 0.5 else "low",
            "valence": "high" if p_v >= 0.5 else "low", "quadrant": quadrant(p_v, p_a),
            "p_arousal_high": round(p_a, 4), "p_valence_high": round(p_v, 4)}


def run(args: argparse.Namespace) -> int:
    generator = Generator.load(args.checkpoint or DEFAULT_MODEL)
    results = [classify(generator, path) for path in args.files]
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for r in results:
            if "error" in r:
                print(f"{r['path']}: error: {r['error']}")
            else:
                print(f"{r['path']}: {r['quadrant']} (arousal {r['arousal']} p={r['p_arousal_high']:.2f}, "
                      f"valence {r['valence']} p={r['p_valence_high']:.2f})")
    return 1 if all("error" in r for r in results) else 0
