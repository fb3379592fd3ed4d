"""The generator's controls and Eq 23 on a tiny model whose mixture means are set by hand.

With each factor's low component at 0 and high component at 1 in every dimension (rhythm z_r for arousal,
key z_k for valence), a latent's position on the low->high line is its value, so every expectation below
is a number worked out by hand: the target at (v, a) is (a, v) for (z_r, z_k); each bar moves by λ toward
it (Eq 23 per bar); transfer moves the source by λ (target mean - source class mean), the class from q(y|x).
"""
from __future__ import annotations

import math

import pytest
import torch
from cdgmvae.engine.controls import Controls
from cdgmvae.engine.emotion import emotion_va, nearest_emotion, quadrant
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.generator import Generator
from cdgmvae.engine.model import CDGMVAE

from tests.helpers_model import TINY, fake_bar, one_thread

L = TINY.d_latent


@pytest.fixture(autouse=True)
def _one_thread():
    yield from one_thread()


def hand_set_model(seed: int = 0) -> CDGMVAE:
    torch.manual_seed(seed)
    model = CDGMVAE(TINY)
    with torch.no_grad():
        for prior in (model.prior_r, model.prior_k):
            prior.means.copy_(torch.stack([torch.zeros(L), torch.ones(L)]))
    return model


def constant(value: float) -> torch.Tensor:
    return torch.full((L,), float(value))


def test_target_puts_arousal_on_rhythm_and_valence_on_key():
    generator = Generator(hand_set_model(), seed=0)
    z_r, z_k = generator.target(valence=0.25, arousal=0.75)
    assert torch.allclose(z_r, constant(0.75)) and torch.allclose(z_k, constant(0.25))


def test_each_bar_moves_by_lambda_toward_the_target_and_reports_where_it_is():
    generator = Generator(hand_set_model(), seed=0, controls=Controls(valence=1.0, arousal=0.0, lam=0.3,
                                                                       variety=0.0))
    first = generator.next_bar()
    assert torch.allclose(generator.z_r, constant(0.0)) and torch.allclose(generator.z_k, constant(1.0))
    assert (first.valence, first.arousal) == pytest.approx((1.0, 0.0))
    generator.set_controls(valence=0.0, arousal=1.0)
    expected_r, expected_k = 0.0, 1.0
    for _ in range(3):
        bar = generator.next_bar()
        expected_r += 0.3 * (1.0 - expected_r)
        expected_k += 0.3 * (0.0 - expected_k)
        assert torch.allclose(generator.z_r, constant(expected_r), atol=1e-6)
        assert torch.allclose(generator.z_k, constant(expected_k), atol=1e-6)
        assert (bar.valence, bar.arousal) == pytest.approx((expected_k, expected_r), abs=1e-6)
    assert expected_r == pytest.approx(1 - 0.7 ** 3)


def test_set_controls_checks_and_keeps_the_rest():
    generator = Generator(hand_set_model(), seed=0, controls=Controls(valence=0.2, temperature=0.7))
    generator.set_controls(arousal=0.9)
    assert (generator.controls.valence, generator.controls.arousal, generator.controls.temperature) == (0.2, 0.9, 0.7)
    with pytest.raises(ValueError, match="lam must be in"):
        generator.set_controls(lam=1.5)


def test_spread_is_variety_times_the_interpolated_prior_deviation():
    model = hand_set_model()
    with torch.no_grad():
        model.prior_r.log_vars.copy_(torch.stack([constant(math.log(0.25)), constant(math.log(4.0))]))
    generator = Generator(model, seed=3, candidates=4000, controls=Controls(variety=0.5))
    z = constant(0.4)
    spread = generator._spread(z, model.prior_r.log_vars, 0.5)
    assert spread.shape == (4000, L)
    # log-variance halfway between log 0.25 and log 4 is log 1: standard deviation 1, times variety 0.5
    assert float((spread - z).mean()) == pytest.approx(0.0, abs=0.02)
    assert float((spread - z).std()) == pytest.approx(0.5, rel=0.03)
    low = generator._spread(z, model.prior_r.log_vars, 0.0)
    assert float((low - z).std()) == pytest.approx(0.25, rel=0.03)   # sqrt(0.25) * 0.5


def test_position_of_projects_onto_each_line_and_clamps():
    generator = Generator(hand_set_model(), seed=0)
    assert generator.position_of(constant(0.2), constant(0.9)) == pytest.approx((0.9, 0.2))
    assert generator.position_of(constant(-3.0), constant(7.0)) == pytest.approx((1.0, 0.0))
    tilted = constant(0.0)
    tilted[0] = float(L)   # projection: z . axis / axis . axis = L / L
    assert generator.position_of(tilted, constant(0.5)) == pytest.approx((0.5, 1.0))


@pytest.mark.parametrize("p_a, p_v, source", [(0.7, 0.2, (1.0, 0.0)), (0.5, 0.5, (1.0, 1.0)),
                                              (0.49, 0.51, (0.0, 1.0))])
def test_transfer_moves_each_latent_by_lambda_times_target_minus_source_class(p_a, p_v, source):
    generator = Generator(hand_set_model(), seed=0)
    mu_r, mu_k = torch.full((3, L), 0.1), torch.full((3, L), -0.2)
    mu_r[1] = 0.6
    encoded = (mu_r, mu_k, torch.tensor(p_a), torch.tensor(p_v))
    source_a, source_v = source
    for lam in (0.0, 0.35, 1.0):
        z_r, z_k = generator.transferred_latents(None, valence=0.8, arousal=0.1, lam=lam, encoded=encoded)
        assert torch.allclose(z_r, mu_r + lam * (0.1 - source_a), atol=1e-6)
        assert torch.allclose(z_k, mu_k + lam * (0.8 - source_v), atol=1e-6)


def bars_of(seed: int, n: int) -> list[list[int]]:
    import numpy as np
    rng = np.random.default_rng(seed)
    from cdgmvae.engine import vocab as V
    return [[t for t in fake_bar(rng, TINY.bar_len, high=True).tolist() if t != V.PAD] for _ in range(n)]


def test_transfer_decodes_one_bar_per_source_bar_from_the_moved_latents():
    generator = Generator(hand_set_model(), seed=0)
    bars = bars_of(1, 3)
    encoded = generator.encode_piece(bars)
    out = generator.transfer(bars, valence=1.0, arousal=0.0, lam=0.5, encoded=encoded)
    assert len(out) == 3
    z_r, z_k = generator.transferred_latents(bars, 1.0, 0.0, 0.5, encoded)
    for bar, r, k in zip(out, z_r, z_k):   # each bar reports where its latents lie
        assert bar.arousal == pytest.approx(float(r.mean().clamp(0, 1)), abs=1e-5)
        assert bar.valence == pytest.approx(float(k.mean().clamp(0, 1)), abs=1e-5)


def test_continue_from_takes_the_last_bar_latents_and_the_heard_emotion():
    generator = Generator(hand_set_model(), seed=0)
    bars = bars_of(2, 3)
    mu_r, mu_k, p_a, p_v = generator.encode_piece(bars)
    generator.continue_from(bars)
    assert torch.allclose(generator.z_r, mu_r[-1]) and torch.allclose(generator.z_k, mu_k[-1])
    assert generator.path == pytest.approx((float(p_v), float(p_a)))
    assert generator.played == bars[-2:]
    assert generator.memory is not None
    generator.set_controls(lam=0.5, variety=0.0, valence=1.0, arousal=1.0)
    generator.next_bar()
    assert torch.allclose(generator.z_r, mu_r[-1] + 0.5 * (1.0 - mu_r[-1]), atol=1e-6)


@pytest.mark.parametrize("candidates, seed", [(6, 5), (2, 0)])
def test_choose_keeps_the_candidate_whose_inferred_emotion_is_nearest(candidates, seed):
    # the bundled model: a random tiny one is sure of every bar's class, so its candidates would tie
    generator = Generator.load(use_prior=False, seed=seed, candidates=candidates,
                               controls=Controls(valence=0.3, arousal=0.6))
    model = generator.model
    bar = generator.next_bar()
    from cdgmvae.engine import vocab as V
    candidates = [bar.tokens] + bar.alternatives
    padded = torch.full((len(candidates), 1, model.cfg.bar_len), V.PAD, dtype=torch.long)
    for i, tokens in enumerate(candidates):
        padded[i, 0, : len(tokens)] = torch.tensor(tokens)
    with torch.no_grad():
        log_q_a, log_q_v = model.infer_emotion(padded, torch.ones(len(candidates), 1, dtype=torch.bool))
    distance = (log_q_a[:, 1].exp() - 0.6).abs() + (log_q_v[:, 1].exp() - 0.3).abs()
    assert float(distance[0]) == pytest.approx(float(distance.min()), abs=1e-6)
    assert float(distance.max()) > float(distance.min())   # the candidates differ, so choosing matters


@pytest.mark.parametrize("name, va", [("happy", (1.0, 1.0)), (" Tense ", (0.0, 1.0)), ("SAD", (0.0, 0.0)),
                                      ("calm", (1.0, 0.0)), ("q1", (1.0, 1.0)), ("Q2", (0.0, 1.0)),
                                      ("Q3", (0.0, 0.0)), ("q4", (1.0, 0.0))])
def test_emotion_names_and_quadrants_map_to_their_corners(name, va):
    assert emotion_va(name) == va
    assert Controls.for_emotion(name, lam=0.25) == Controls(valence=va[0], arousal=va[1], lam=0.25)


def test_unknown_emotion_names_the_choices():
    with pytest.raises(UserError) as error:
        emotion_va("angry")
    assert str(error.value) == "unknown emotion 'angry'; choose one of happy, tense, sad, calm (or Q1..Q4)"


@pytest.mark.parametrize("valence, arousal, name, q", [(0.5, 0.5, "happy", "Q1"), (0.49, 0.5, "tense", "Q2"),
                                                       (0.49, 0.49, "sad", "Q3"), (0.5, 0.49, "calm", "Q4"),
                                                       (1.0, 0.0, "calm", "Q4")])
def test_nearest_emotion_splits_each_axis_at_one_half(valence, arousal, name, q):
    assert nearest_emotion(valence, arousal) == name and quadrant(valence, arousal) == q


@pytest.mark.parametrize("changes, message", [
    ({"valence": -0.01}, "valence must be in [0, 1], got -0.01"), ({"arousal": 1.01}, "arousal must be in"),
    ({"lam": -0.1}, "lam must be in [0, 1], got -0.1"), ({"top_p": 0.0}, "top_p must be in (0, 1], got 0.0"),
    ({"top_p": 1.2}, "top_p must be in"), ({"key_strength": -0.5}, "key_strength must be at least 0, got -0.5")])
def test_controls_refuse_values_outside_their_ranges(changes, message):
    with pytest.raises(ValueError) as error:
        Controls(**changes)
    assert str(error.value).startswith(message)


def test_controls_accept_the_ends_of_their_ranges():
    Controls(valence=0.0, arousal=1.0, lam=0.0, top_p=1.0, key_strength=0.0)
    Controls(valence=1.0, arousal=0.0, lam=1.0, top_p=1e-6)


def model_with_means(low: float, high: float, seed: int = 0) -> CDGMVAE:
    torch.manual_seed(seed)
    model = CDGMVAE(TINY)
    with torch.no_grad():
        for prior in (model.prior_r, model.prior_k):
            prior.means.copy_(torch.stack([constant(low), constant(high)]))
    return model


def test_target_and_position_on_a_line_that_starts_away_from_zero():
    # low component at 0.5, high at 0.75 in every dimension: the target at a is 0.5 + 0.25 a, and a latent's
    # position is (z - 0.5) / 0.25 (the line's squared length, 8 * 0.0625 = 0.5, divides the projection)
    generator = Generator(model_with_means(0.5, 0.75), seed=0)
    z_r, z_k = generator.target(valence=0.2, arousal=0.6)
    assert torch.allclose(z_r, constant(0.65)) and torch.allclose(z_k, constant(0.55))
    assert generator.position_of(constant(0.65), constant(0.55)) == pytest.approx((0.2, 0.6))
    assert generator.position_of(constant(0.5), constant(0.75)) == pytest.approx((1.0, 0.0))


def test_the_same_seed_gives_the_same_spread_whatever_else_drew_random_numbers():
    model = hand_set_model()
    first = Generator(model, seed=11, candidates=3)._spread(constant(0.5), model.prior_r.log_vars, 0.5)
    torch.manual_seed(12345)
    torch.randn(100)
    again = Generator(model, seed=11, candidates=3)._spread(constant(0.5), model.prior_r.log_vars, 0.5)
    assert torch.equal(first, again)
    assert not torch.equal(first, Generator(model, seed=12, candidates=3)._spread(constant(0.5),
                                                                                model.prior_r.log_vars, 0.5))


def d_major_bars() -> list[list[int]]:
    """Three bars of D major (D, F#, A, with D on the strong beats), written as tokens."""
    from cdgmvae.engine import vocab as V
    bars = []
    for pitches in ((62, 66, 69, 74), (62, 69, 66, 71), (74, 69, 66, 62)):
        tokens = [V.BAR, V.tempo_token(16)]
        for i, pitch in enumerate(pitches):
            tokens += [V.position_token(4 * i), V.pitch_token(1, pitch), V.velocity_token(1, 20),
                       V.duration_token(1, 4)]
        bars.append(tokens + [V.EOS])
    return bars


def test_transfer_keeps_the_key_of_the_source_and_encodes_it_when_not_given():
    from cdgmvae.engine.key_guidance import tonic_of
    bars = d_major_bars()
    assert tonic_of(bars) == 2      # D: the source's key, found by key guidance
    given = Generator(hand_set_model(), seed=4)
    out = given.transfer(bars, valence=0.0, arousal=1.0, lam=0.5, encoded=given.encode_piece(bars))
    assert given.tonic == 2
    alone = Generator(hand_set_model(), seed=4)
    assert [b.tokens for b in alone.transfer(bars, valence=0.0, arousal=1.0, lam=0.5)] == [b.tokens for b in out]
    assert alone.tonic == 2
    z_r, z_k = Generator(hand_set_model(), seed=4).transferred_latents(bars, 0.0, 1.0, 0.5)
    assert z_r.shape == (3, L) and z_k.shape == (3, L)


def test_continue_from_remembers_the_last_bar_as_the_decoder_read_it():
    model = hand_set_model()
    generator = Generator(model, seed=0)
    bars = d_major_bars()
    mu_r, mu_k, _, _ = generator.encode_piece(bars)
    generator.continue_from(bars)
    last = bars[-1]
    tokens = torch.tensor([last + [0] * (TINY.bar_len - len(last))])[:, :-1]   # PAD-padded, less the last slot
    with torch.no_grad():
        _, memory = model.decode_bar(tokens, mu_r[-1:], mu_k[-1:])
    assert torch.equal(generator.memory.mask, memory.mask)
    assert all(torch.allclose(a, b) for a, b in zip(generator.memory.states, memory.states))
    assert generator.tonic == 2


def test_progress_is_shown_on_long_pieces_only_when_asked(capsys):
    from cdgmvae.engine.generator import PROGRESS_BARS
    generator = Generator(hand_set_model(), seed=0)
    bars = (d_major_bars() * PROGRESS_BARS)[:PROGRESS_BARS]
    encoded = generator.encode_piece(bars)
    capsys.readouterr()
    generator.transfer(bars, 0.5, 0.5, 0.5, encoded=encoded)
    assert capsys.readouterr().err == ""
    generator.transfer(bars, 0.5, 0.5, 0.5, encoded=encoded, progress=True)
    assert "generating" in capsys.readouterr().err
