"""The branch-free draw the decoder uses: grammar mask, temperature, nucleus, race clocks."""
import math

import torch
from cdgmvae.engine.sampling import race_clocks, sample

PROBS = torch.tensor([0.6, 0.3, 0.1, 0.0])  # the last token is disallowed below


def draw(n: int, temperature: float, top_p: float, allowed=None) -> torch.Tensor:
    logits = PROBS.clamp(min=1e-9).log().expand(n, -1)
    allowed = torch.tensor([True, True, True, False]).expand(n, -1) if allowed is None else allowed
    clocks = race_clocks(1, n, 4, torch.Generator().manual_seed(0))[0]
    return sample(logits, allowed, torch.tensor(temperature), torch.tensor(top_p), clocks)


def test_the_race_draws_tokens_as_often_as_their_probability():
    counts = torch.bincount(draw(20000, 1.0, 1.0), minlength=4) / 20000
    assert torch.allclose(counts[:3], PROBS[:3], atol=0.015)
    assert counts[3] == 0  # never a token the grammar forbids


def test_the_nucleus_keeps_the_most_likely_tokens_that_reach_top_p():
    assert set(draw(2000, 1.0, 0.5).tolist()) == {0}       # 0.6 alone reaches 0.5
    assert set(draw(2000, 1.0, 0.85).tolist()) == {0, 1}   # 0.6 + 0.3 reach 0.85
    assert set(draw(2000, 1.0, 1.0).tolist()) == {0, 1, 2}


def test_temperature_zero_takes_the_most_likely_allowed_token():
    assert set(draw(50, 0.0, 0.95).tolist()) == {0}
    only_later = torch.tensor([False, True, True, False]).expand(50, -1)
    assert set(draw(50, 0.0, 0.95, only_later).tolist()) == {1}


def test_a_low_temperature_sharpens_the_draw():
    hot, cold = (torch.bincount(draw(20000, t, 1.0), minlength=4)[0] / 20000 for t in (1.0, 0.5))
    expected_cold = 0.36 / (0.36 + 0.09 + 0.01)  # p^(1/T) renormalised
    assert math.isclose(float(cold), expected_cold, abs_tol=0.015) and cold > hot
