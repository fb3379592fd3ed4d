"""Bars per second for `cdgmvae classify` on a long file, batched encoders against the unbatched path.

    python bench/classify.py [--file F.mid] [--repeats 3] [--baseline-bars 96] [--threads N] [--json]

- batched:   what `classify` does: read the file (codec.encode), run both encoders over many bars per
             batch (Generator.encode_piece), q(y|x)
- unbatched: the same with one bar per encoder step (chunk=1), as the encoders ran before batching
             (with the same trimming of padding); on
             the first --baseline-bars bars only, since it is slow (its time per bar does not depend on
             the piece's length)
Medians over --repeats runs, both measured in this one run, and their ratio. The default file is
tests/cases/midi/21b_long_750_bars.mid (750 bars). The model is the bundled one, loaded once.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
from bench_common import cpu_machine, print_result
from cdgmvae.engine import codec
from cdgmvae.engine.generator import DEFAULT_MODEL, Generator

LONG_FILE = Path(__file__).resolve().parent.parent / "tests" / "cases" / "midi" / "21b_long_750_bars.mid"


def bars_per_second(generator: Generator, path: Path, repeats: int, chunk: int | None = None,
                    bars: int | None = None) -> tuple[float, int]:
    """Median bars per second of read + encode + q(y|x), and the number of bars."""
    seconds, n = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        piece = codec.encode(path, generator.model.cfg.bar_len).bars[:bars]
        generator.encode_piece(piece, chunk=chunk)
        seconds.append(time.perf_counter() - start)
        n = len(piece)
    return n / statistics.median(seconds), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=LONG_FILE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-bars", type=int, default=96, metavar="N")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    generator = Generator.load(DEFAULT_MODEL)
    bars_per_second(generator, args.file, 1, bars=16)  # warm-up
    batched, n = bars_per_second(generator, args.file, args.repeats)
    unbatched, n_base = bars_per_second(generator, args.file, args.repeats, chunk=1, bars=args.baseline_bars)
    result = {"machine": f"{cpu_machine(torch.get_num_threads())}, load {os.getloadavg()[0]:.1f}",
              "file": args.file.name, "bars": n, "batched_bars_per_s": round(batched, 1),
              "unbatched_bars_per_s": round(unbatched, 1), "unbatched_bars": n_base,
              "speedup": round(batched / unbatched, 1)}
    print_result(result, args.json)


if __name__ == "__main__":
    main()
