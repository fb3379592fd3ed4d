"""Training tokens per second (forward, backward and Adam step of the full loss) for the presets.

    python bench/train.py [--configs small paper] [--batch 4] [--steps 3] [--device cpu|cuda] [--json]

Batches are random REMI-shaped tokens (about 100 real tokens a bar, the rest PAD) with labels on half
the segments, so labelled and unlabelled loss terms both run. Prints the median over --steps steps
after one warm-up step, and paper's speed as a ratio of small's, both measured in this run.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from bench_common import cpu_machine, print_result
from cdgmvae.engine import vocab as V
from cdgmvae.engine.config import ModelConfig, preset
from cdgmvae.engine.model import CDGMVAE
from cdgmvae.training.batch import Batch
from cdgmvae.training.losses import LossSettings, total_loss


def fake_batch(batch: int, bars: int, bar_len: int, device: str) -> Batch:
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(V.TRACK_BASE, V.VOCAB_SIZE, (batch, bars, bar_len), generator=g)
    lengths = torch.randint(bar_len // 2, bar_len, (batch, bars), generator=g)
    tokens[torch.arange(bar_len) >= lengths[..., None]] = V.PAD
    tokens[..., 0] = V.BAR
    labels = torch.tensor([i % 2 if i < batch // 2 else -1 for i in range(batch)])
    return Batch(tokens=tokens, bar_mask=torch.ones(batch, bars, dtype=torch.bool),
                 rhythm=torch.rand(batch, bars, 16, generator=g) * 3,
                 key=torch.randint(0, 24, (batch, bars), generator=g),
                 arousal=labels, valence=labels.flip(0)).to(device)


def tokens_per_second(config: str | ModelConfig, batch: int, steps: int, device: str) -> float:
    """Real (non-PAD) tokens trained per second (`step_seconds`)."""
    seconds, tokens = step_seconds(config, batch, steps, device)
    return tokens / seconds


def step_seconds(config: str | ModelConfig, batch: int, steps: int, device: str) -> tuple[float, int]:
    """(median seconds of a training step over `steps` steps after one warm-up step, the real (non-PAD)
    tokens of a step). config: a preset name or a ModelConfig."""
    torch.manual_seed(0)
    cfg = preset(config) if isinstance(config, str) else config
    model = CDGMVAE(cfg).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    data = fake_batch(batch, cfg.n_bars, cfg.bar_len, device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda"))
    times = []
    for step in range(steps + 1):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast:
            out = model(data.tokens, data.bar_mask)
            loss, _ = total_loss(out, data, model.prior_r, model.prior_k, 1.0, LossSettings())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if step:  # the first step warms up
            times.append(time.perf_counter() - start)
    return statistics.median(times), int((data.tokens != V.PAD).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["small", "paper"])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else \
        cpu_machine(torch.get_num_threads())
    result = {"machine": where, "batch": args.batch}
    for config in args.configs:
        result[f"{config}_tokens_per_s"] = round(tokens_per_second(config, args.batch, args.steps, args.device), 1)
    if "small" in args.configs and "paper" in args.configs:
        result["paper_over_small"] = round(result["paper_tokens_per_s"] / result["small_tokens_per_s"], 4)
    print_result(result, args.json)


if __name__ == "__main__":
    main()
