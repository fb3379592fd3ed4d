"""What the latent prior adds to a bar: milliseconds per bar with and without it, measured in one run.

    python bench/prior_speed.py [--config small|paper] [--backend compiled] [--bars 20] [--threads 1] [--json]

- mixture:   a bar with the paper's mixture draws (no prior), the baseline;
- prior:     a bar with the latent prior (the draw, the decode, and for an `ar1` prior the key encoder
             over the bar played and the one before);
- draw:      the prior's draw alone;
- re-encode: the key encoder over two bars alone (what an `ar1` prior adds to each bar).
`small` is the bundled model with its prior (or, without one, a keyed prior fitted on random latents);
`paper` has random weights and a keyed prior fitted on random latents: the timings do not depend on the
values.
Bars of 128 tokens (EOS held back), medians over --bars bars, the two generators alternating.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from cdgmvae.engine.config import preset
from cdgmvae.engine.generator import DEFAULT_MODEL, Controls, Generator, find_prior, tokens_tensor
from cdgmvae.engine.model import CDGMVAE
from cdgmvae.engine.prior import PriorState, fit_prior

TOKENS = 128


def random_prior(d_latent: int):
    rng = np.random.default_rng(0)
    return fit_prior([rng.normal(size=(64, 2 * d_latent)) for _ in range(8)], rng.uniform(size=(8, 2)), "keyed",
                     [rng.integers(24, size=64) for _ in range(8)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=("small", "paper"), default="small")
    parser.add_argument("--backend", default="compiled")
    parser.add_argument("--bars", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.config == "small":
        model = Generator.load(use_prior=False).model
        prior = find_prior(DEFAULT_MODEL)[0] or random_prior(model.cfg.d_latent)
    else:
        torch.manual_seed(0)
        model = CDGMVAE(preset("paper")).eval()
        prior = random_prior(model.cfg.d_latent)
    controls = Controls(valence=1.0, arousal=1.0)
    plain = Generator(model, seed=0, backend=args.backend, min_tokens=TOKENS, controls=controls)
    with_prior = Generator(model, seed=0, backend=args.backend, min_tokens=TOKENS, controls=controls, prior=prior)
    times = {"mixture": [], "prior": [], "draw": [], "re-encode": []}
    for generator in (plain, with_prior):
        generator.next_bar()  # warm-up and compilation
    for _ in range(args.bars):
        for name, generator in (("mixture", plain), ("prior", with_prior)):
            start = time.perf_counter()
            bar = generator.next_bar()
            times[name].append((time.perf_counter() - start) * 1000 * TOKENS / max(len(bar.tokens), 1))
        noise = torch.randn(1, 2 * model.cfg.d_latent)
        state = PriorState(torch.cat([with_prior.z_r, with_prior.z_k]), (1.0, 1.0), with_prior.key)
        start = time.perf_counter()
        prior.draw(noise, (1.0, 1.0), state, rng=with_prior.rng, tonic=with_prior.tonic)
        times["draw"].append((time.perf_counter() - start) * 1000)
        tokens = tokens_tensor(with_prior.played, model.cfg.bar_len, "cpu")
        start = time.perf_counter()
        with torch.no_grad():
            model.encode_key(tokens)
        times["re-encode"].append((time.perf_counter() - start) * 1000)
    medians = {name: statistics.median(values) for name, values in times.items()}
    report = {"config": args.config, "kind": prior.kind, "backend": args.backend, "threads": args.threads,
              "bars": args.bars,
              "ms": medians, "prior_over_mixture": medians["prior"] / medians["mixture"]}
    if args.json:
        print(json.dumps(report))
        return
    print(f"{args.config}, {prior.kind} prior, {args.backend}, {args.threads} thread(s), medians over {args.bars} bars "
          f"of {TOKENS} tokens:")
    print(" | ".join(f"{name} {value:.2f} ms" for name, value in medians.items()) +
          f" | prior/mixture {report['prior_over_mixture']:.2f}")


if __name__ == "__main__":
    main()
