"""Which model size this machine can use: for a ladder of sizes, the live cost of a bar on one thread with
each CPU backend (the best one counts) and the training speed, each as a ratio to `small` measured in the
same run. The largest size whose best backend writes a bar in under --budget-ms (150, issue 14's live
bound) is the largest the live engine can play; how many training steps an hour gives each size says
what a CPU training stage can afford.

    python bench/model_size.py [--sizes small d192 d256 d256-l4 d384] [--bars 8] [--budget-ms 150]
                               [--train-steps 2] [--train-threads 2] [--json]

Weights are random (speed does not depend on them). A bar is 128 tokens (bench/decode.py's engine_ms);
a training step is batch 16 of 8 bars, the stage commands' batch (bench/train.py's fake batch).
"""
from __future__ import annotations

import argparse

import torch
from bench_common import cpu_machine, print_result
from cdgmvae.engine.config import PRESETS, ModelConfig
from cdgmvae.engine.model import CDGMVAE
from decode import engine_ms
from train import step_seconds

SMALL = PRESETS["small"]
SIZES: dict[str, ModelConfig] = {
    "small": SMALL,
    "d192": ModelConfig(d_model=192, d_ff=768, n_heads=4, init_std_log=0.0),
    "d256": ModelConfig(d_model=256, d_ff=1024, n_heads=4, init_std_log=0.0),
    "d256-l4": ModelConfig(d_model=256, d_ff=1024, n_heads=4, n_layers=4, n_enc_layers=4, init_std_log=0.0),
    "d384": ModelConfig(d_model=384, d_ff=1536, n_heads=6, init_std_log=0.0),
    "d512-l4": ModelConfig(d_model=512, d_ff=2048, n_heads=8, n_layers=4, n_enc_layers=4, init_std_log=0.0),
}
BACKENDS = ("eager", "compiled", "int8")
BATCH = 16


def measure(cfg: ModelConfig, bars: int, train_steps: int, train_threads: int) -> dict:
    torch._dynamo.reset()  # each size compiles afresh: the step's cache would hit its recompile limit
    torch.manual_seed(0)
    model = CDGMVAE(cfg).eval()
    row = {"parameters": sum(p.numel() for p in model.parameters())}
    torch.set_num_threads(1)
    for backend in BACKENDS:
        row[f"{backend}_ms"] = round(engine_ms(model, backend, bars), 2)
    row["best_backend"] = min(BACKENDS, key=lambda b: row[f"{b}_ms"])
    row["best_ms"] = row[f"{row['best_backend']}_ms"]
    torch.set_num_threads(train_threads)
    row["train_s_per_step"] = round(step_seconds(cfg, BATCH, train_steps, "cpu")[0], 2)
    row["train_steps_per_hour"] = int(3600 / row["train_s_per_step"])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--bars", type=int, default=8, help="bars timed per backend (median; default 8)")
    parser.add_argument("--budget-ms", type=float, default=150.0, help="live bound on a bar (default 150)")
    parser.add_argument("--train-steps", type=int, default=2, help="training steps timed (median; default 2)")
    parser.add_argument("--train-threads", type=int, default=2, help="torch threads for training (default 2)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = ["small"] + [s for s in args.sizes if s != "small"]  # the baseline, always measured
    result: dict[str, object] = {"machine": cpu_machine(), "budget_ms": args.budget_ms}
    rows = {}
    for name in sizes:
        rows[name] = measure(SIZES[name], args.bars, args.train_steps, args.train_threads)
        row = rows[name]
        row["best_ms_over_small"] = round(row["best_ms"] / rows["small"]["best_ms"], 3)
        row["train_step_over_small"] = round(row["train_s_per_step"] / rows["small"]["train_s_per_step"], 3)
        for key, value in row.items():
            result[f"{name}_{key}"] = value
    fitting = [name for name in sizes if rows[name]["best_ms"] < args.budget_ms]
    result["largest_within_budget"] = max(fitting, key=lambda n: rows[n]["parameters"]) if fitting else "none"
    print_result(result, args.json, ".3f")


if __name__ == "__main__":
    main()
