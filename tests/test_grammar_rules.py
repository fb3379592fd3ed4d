"""The grammar masks against REMI's bar grammar written out here token by token, without the masks.

    Bar -> Tempo -> (Position -> (Pitch-t Velocity-t Duration-t)+)* -> EOS -> PAD...

positions rising strictly, a pitch once per track at a position, each track's documented range
(tests/midi_check.py), and a bar ending with room for EOS within L tokens: a new note needs 3 tokens and
EOS after it, a new position one more.
"""
from __future__ import annotations

import random

import pytest
import torch
from cdgmvae.engine import vocab as V
from cdgmvae.engine.grammar import Grammar, is_valid_bar, playable_pitches

from tests.midi_check import CHANNEL, RANGE

TRACK_RANGE = [RANGE[CHANNEL[name]] for name in V.TRACKS]


def reference_allowed(prefix: list[int], bar_len: int, min_length: int = 0) -> set[int]:
    """The tokens REMI allows as token number len(prefix) after `prefix` (which starts with Bar)."""
    info = [V.describe(t) for t in prefix]
    last = info[-1]
    room = bar_len - len(prefix)
    position, struck = -1, set()
    for i in info:
        if i.kind == V.KIND_POSITION:
            position, struck = i.value, set()
        elif i.kind == V.KIND_PITCH:
            struck.add((i.track, i.value))

    def pitches() -> set[int]:
        if room < 4:
            return set()
        return {V.pitch_token(t, p) for t, (low, high) in enumerate(TRACK_RANGE) for p in range(low, high + 1)
                if (t, p) not in struck}

    def positions() -> set[int]:
        return {V.position_token(p) for p in range(position + 1, 16)} if room >= 5 else set()

    if last.kind == V.KIND_BAR:
        allowed = {V.tempo_token(b) for b in range(V.N_TEMPO_BINS)}
    elif last.kind == V.KIND_TEMPO:
        allowed = positions() | {V.EOS}
    elif last.kind == V.KIND_POSITION:
        allowed = pitches()
    elif last.kind == V.KIND_PITCH:
        allowed = {V.velocity_token(last.track, b) for b in range(V.N_VELOCITY_BINS)}
    elif last.kind == V.KIND_VELOCITY:
        allowed = {V.duration_token(last.track, d) for d in range(1, V.MAX_DURATION + 1)}
    elif last.kind == V.KIND_DURATION:
        allowed = pitches() | positions() | {V.EOS}
    else:  # EOS, PAD
        allowed = {V.PAD}
    if len(prefix) < min_length and allowed - {V.EOS}:
        allowed -= {V.EOS}
    return allowed


def reference_valid(tokens: list[int], bar_len: int) -> bool:
    if not tokens or tokens[0] != V.BAR or len(tokens) > bar_len or tokens[-1] != V.EOS:
        return False
    return all(tokens[n] in reference_allowed(tokens[:n], bar_len) for n in range(1, len(tokens)))


def offered(mask_row: torch.Tensor) -> set[int]:
    return set(torch.nonzero(mask_row).flatten().tolist())


def walk(rng: random.Random, bar_len: int, min_length: int, batch: int = 4) -> list[list[int]]:
    """Bars drawn from the masks, each step's mask compared with the reference for every bar of the batch."""
    grammar = Grammar(batch, bar_len)
    bars = [[V.BAR] for _ in range(batch)]
    for length in range(1, bar_len):
        mask = grammar.mask(length, min_length)
        assert mask.shape == (batch, V.VOCAB_SIZE)
        tokens = []
        for row, bar in enumerate(bars):
            expected = reference_allowed(bar, bar_len, min_length)
            assert offered(mask[row]) == expected, ([V.token_name(t) for t in bar], length)
            choice = sorted(expected)
            # lean toward notes and late positions so bars fill up and the room rules are reached
            weights = [4.0 if V.describe(t).kind in (V.KIND_PITCH, V.KIND_POSITION) else 1.0 for t in choice]
            tokens.append(rng.choices(choice, weights)[0])
        grammar.update(torch.tensor(tokens))
        for bar, token in zip(bars, tokens):
            bar.append(token)
    return bars


@pytest.mark.parametrize("bar_len, min_length, seed", [(16, 0, 0), (24, 0, 1), (24, 20, 2), (40, 0, 3)])
def test_masks_allow_exactly_what_remi_allows_along_sampled_bars(bar_len, min_length, seed):
    rng = random.Random(seed)
    for _ in range(2):
        for bar in walk(rng, bar_len, min_length):
            ended = bar[: bar.index(V.EOS) + 1]
            assert is_valid_bar(ended, bar_len) and reference_valid(ended, bar_len)


def test_a_struck_pitch_may_sound_again_on_another_track_or_at_a_later_position():
    grammar = Grammar(2, 64)
    prefix = [V.tempo_token(16), V.position_token(2), V.pitch_token(1, 60), V.velocity_token(1, 3),
              V.duration_token(1, 2)]
    other = [V.tempo_token(16), V.position_token(2), V.pitch_token(3, 40), V.velocity_token(3, 3),
             V.duration_token(3, 2)]
    for a, b in zip(prefix, other):
        grammar.update(torch.tensor([a, b]))
    mask = grammar.mask(6)
    assert not mask[0, V.pitch_token(1, 60)] and mask[0, V.pitch_token(3, 60)] and mask[0, V.pitch_token(1, 61)]
    assert mask[1, V.pitch_token(1, 60)] and not mask[1, V.pitch_token(3, 40)]   # the rows are independent
    assert not mask[0, V.position_token(2)] and not mask[0, V.position_token(1)] and mask[0, V.position_token(3)]
    grammar.update(torch.tensor([V.position_token(5), V.position_token(15)]))
    assert bool(grammar.mask(7)[0, V.pitch_token(1, 60)])
    grammar.reset()
    assert offered(grammar.mask(1)[0]) == reference_allowed([V.BAR], 64)
    grammar.update(torch.tensor([V.tempo_token(0), V.tempo_token(0)]))
    assert offered(grammar.mask(2)[1]) == reference_allowed([V.BAR, V.tempo_token(0)], 64)


def test_room_rules_at_the_end_of_a_bar():
    bar = [V.BAR, V.tempo_token(16), V.position_token(0), V.pitch_token(1, 60), V.velocity_token(1, 3),
           V.duration_token(1, 2)]
    grammar = Grammar(1, 10)
    for token in bar[1:]:
        grammar.update(torch.tensor([token]))
    kinds = {V.describe(t).kind for t in offered(grammar.mask(6)[0])}   # room 4: a note and EOS, no position
    assert kinds == {V.KIND_PITCH, V.KIND_EOS}
    kinds = {V.describe(t).kind for t in offered(grammar.mask(torch.tensor(5))[0])}   # room 5: a position too
    assert kinds == {V.KIND_PITCH, V.KIND_POSITION, V.KIND_EOS}
    assert offered(grammar.mask(7)[0]) == {V.EOS}   # room 3: only EOS
    assert offered(grammar.mask(7, min_length=9)[0]) == {V.EOS}   # held back only while something else fits
    assert V.EOS not in offered(grammar.mask(6, min_length=9)[0])
    assert V.EOS in offered(grammar.mask(6, min_length=6)[0])


def test_is_valid_bar_agrees_with_the_reference_on_damaged_bars():
    rng = random.Random(7)
    bars = [b[: b.index(V.EOS) + 1] for b in walk(rng, 32, 0, batch=6)]
    checked = 0
    for bar in bars:
        assert is_valid_bar(bar, 32)
        for _ in range(30):
            damaged = list(bar)
            at = rng.randrange(len(damaged))
            damaged[at] = rng.randrange(V.VOCAB_SIZE) if rng.random() < 0.5 else damaged[max(at - 1, 0)]
            assert is_valid_bar(damaged, 32) == reference_valid(damaged, 32), [V.token_name(t) for t in damaged]
            checked += 1
        assert not is_valid_bar(bar[:-1], 32) and not is_valid_bar(bar, len(bar) - 1)
        assert not is_valid_bar(bar[1:], 32)
    assert not is_valid_bar([], 32) and checked == 180


def test_playable_pitches_are_the_documented_ranges():
    playable = offered(playable_pitches())
    assert playable == {V.pitch_token(t, p) for t, (low, high) in enumerate(TRACK_RANGE) for p in range(low, high + 1)}


def test_eos_is_held_back_per_bar_not_across_the_batch():
    # bar 0 has room for EOS only; bar 1's last token is a Pitch, so a Velocity must follow: holding EOS back
    # in bar 0 because bar 1 has other tokens would leave bar 0 with nothing to write
    grammar = Grammar(2, 9)
    done = [V.tempo_token(16), V.position_token(0), V.pitch_token(1, 60), V.velocity_token(1, 3),
            V.duration_token(1, 2)]
    busy = [V.tempo_token(16)] * 4 + [V.pitch_token(1, 60)]
    for a, b in zip(done, busy):
        grammar.update(torch.tensor([a, b]))
    mask = grammar.mask(6, min_length=9)
    assert offered(mask[0]) == {V.EOS}
    assert offered(mask[1]) == {V.velocity_token(1, b) for b in range(V.N_VELOCITY_BINS)}
