"""Milliseconds per bar of 128 tokens: naive recomputation, this engine (eager and compiled),
the memory-bandwidth floor, and the cost of --candidates 4.

    python bench/decode.py [--config small|paper] [--checkpoint C] [--bars 20] [--device cpu|cuda] [--json]

- naive:    recompute the whole prefix for every token (how public Transformer-VAE music code generates)
- cached:   this engine, eager (K/V cache, memory projected once per bar, grammar mask, sampling)
- compiled: this engine with torch.compile of the fixed-shape step (C++ wrapper on the CPU)
- int8:     this engine, compiled, with int8 decoder weights (CPU only)
- triton:   this engine with hand-written Triton kernels for the step, a bar as one CUDA graph (GPU only)
- floor:    decoder weight bytes read per token / measured memory bandwidth, times 128
Medians over --bars bars (naive over --naive-bars, it is slow), all measured in this one run.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from bench_common import cpu_machine, print_result
from cdgmvae.engine.config import preset
from cdgmvae.engine.generator import Controls, Generator
from cdgmvae.engine.model import CDGMVAE

TOKENS = 128


def machine(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(0)
    return cpu_machine(torch.get_num_threads())


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def engine_ms(model: CDGMVAE, backend: str, bars: int, candidates: int = 1, device: str = "cpu") -> float:
    generator = Generator(model, seed=0, backend=backend, candidates=candidates, min_tokens=TOKENS,
                          controls=Controls(valence=1.0, arousal=1.0, top_p=0.95))
    generator.next_bar()  # warm-up (and compilation)
    times = []
    for _ in range(bars):
        sync(device)
        start = time.perf_counter()
        bar = generator.next_bar()
        sync(device)
        # the grammar may close a bar one or two tokens early (a note needs 3 tokens and EOS one):
        # time is scaled to exactly 128 tokens
        assert len(bar.tokens) >= TOKENS - 3, len(bar.tokens)
        times.append((time.perf_counter() - start) * 1000 * TOKENS / len(bar.tokens))
    return statistics.median(times)


@torch.no_grad()
def naive_ms(model: CDGMVAE, bars: int, device: str) -> float:
    """Greedy decoding that runs the decoder over the whole prefix for every new token."""
    z = torch.zeros(1, model.cfg.d_latent, device=device)
    prefix = torch.full((1, TOKENS - 1), 5, dtype=torch.long, device=device)
    memory = None
    _, memory = model.decode_bar(prefix, z, z, None)
    times = []
    for _ in range(bars):
        sync(device)
        start = time.perf_counter()
        for n in range(1, TOKENS):
            logits, _ = model.decode_bar(prefix[:, :n], z, z, memory)
            logits[:, -1].argmax(-1)
        sync(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bandwidth_gb_s(device: str) -> float:
    """Copy bandwidth (read + write) of a buffer much larger than the caches."""
    src = torch.empty(64 * 2**20, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(5):
        sync(device)
        start = time.perf_counter()
        dst.copy_(src)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * src.numel() * src.element_size() / best / 1e9


def floor_ms(model: CDGMVAE, device: str) -> float:
    """Bytes of decoder weights one token reads (its embedding row, every decoder layer, the head)."""
    decoder_bytes = sum(p.numel() * p.element_size() for p in model.decoder.parameters())
    head_bytes = sum(p.numel() * p.element_size() for p in model.head.parameters())
    per_token = decoder_bytes + head_bytes + model.cfg.d_model * 4
    return per_token / (bandwidth_gb_s(device) * 1e9) * TOKENS * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="small", help="preset to build with random weights (default small)")
    parser.add_argument("--checkpoint", help="measure a trained model instead of a preset")
    parser.add_argument("--bars", type=int, default=20)
    parser.add_argument("--naive-bars", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--skip", nargs="*", default=[], choices=("naive", "compiled", "int8", "triton", "candidates"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.checkpoint:
        from cdgmvae.engine.checkpoint import load_model
        model, _ = load_model(args.checkpoint, device=args.device)
    else:
        torch.manual_seed(0)
        model = CDGMVAE(preset(args.config)).to(args.device).eval()

    result = {"machine": machine(args.device), "model": args.checkpoint or args.config,
              "parameters": sum(p.numel() for p in model.parameters()), "tokens_per_bar": TOKENS}
    result["cached_ms"] = engine_ms(model, "eager", args.bars, device=args.device)
    if "naive" not in args.skip:
        result["naive_ms"] = naive_ms(model, args.naive_bars, args.device)
        result["cached_over_naive"] = result["cached_ms"] / result["naive_ms"]
    if "compiled" not in args.skip:
        result["compiled_ms"] = engine_ms(model, "compiled", args.bars, device=args.device)
        result["compiled_over_cached"] = result["compiled_ms"] / result["cached_ms"]
    if "int8" not in args.skip and args.device == "cpu":
        result["int8_ms"] = engine_ms(model, "int8", args.bars, device=args.device)
        result["int8_over_cached"] = result["int8_ms"] / result["cached_ms"]
    if "triton" not in args.skip and args.device.startswith("cuda"):
        result["triton_ms"] = engine_ms(model, "triton", args.bars, device=args.device)
        result["triton_over_cached"] = result["triton_ms"] / result["cached_ms"]
    result["floor_ms"] = floor_ms(model, args.device)
    if "candidates" not in args.skip:
        # on a GPU the fastest backend; the eager cost of 4 rows says little about it
        fastest, one = ("triton", result["triton_ms"]) if "triton_ms" in result else ("eager", result["cached_ms"])
        result["candidates4_backend"] = fastest
        result["candidates4_ms"] = engine_ms(model, fastest, max(5, args.bars // 4), candidates=4, device=args.device)
        result["candidates4_over_1"] = result["candidates4_ms"] / one
    print_result(result, args.json, ".3f")


if __name__ == "__main__":
    main()
