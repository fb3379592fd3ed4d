"""Pieces per second for `cdgmvae prepare` on the bundled EMOPIA clips, with 1 and 2 workers.

    python bench/prepare.py [--repeats 3]

Each run prepares into a fresh folder (nothing already done); prints the median of the repeats and
the 2-worker speed as a ratio of the 1-worker speed measured in the same run.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench_common import cpu_machine, print_result
from cdgmvae.training.prepare import prepare

EMOPIA = Path(__file__).resolve().parent.parent / "data" / "emopia"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    rates = {}
    for workers in (1, 2):
        seconds = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                manifest = prepare([EMOPIA], Path(out), workers=workers, progress=False)
                seconds.append(time.perf_counter() - start)
        rates[workers] = manifest["counts"]["pieces_prepared"] / statistics.median(seconds)
    result = {"machine": cpu_machine(),
              "pieces": manifest["counts"]["pieces_prepared"], "pieces_per_s_1_worker": round(rates[1], 1),
              "pieces_per_s_2_workers": round(rates[2], 1), "speedup_2_vs_1": round(rates[2] / rates[1], 2)}
    print_result(result, args.json)


if __name__ == "__main__":
    main()
