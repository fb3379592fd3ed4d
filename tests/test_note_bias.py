"""The bag-of-notes path (`note_bias`, preset `small-bag`): D_p's pitch targets, its bias reaching every CPU
decoding backend, and `train --init-from` growing a model without it into one with it."""
import json
from dataclasses import replace

import pretty_midi
import pytest
import torch
from cdgmvae.engine import codec, vocab
from cdgmvae.engine.config import preset
from cdgmvae.engine.generator import Controls, Generator
from cdgmvae.engine.model import CDGMVAE, NOTE_GAIN_SCALE, pitch_bag, token_bag_pitches
from cdgmvae.training.losses import pitch_bag_loss
from helpers_model import TINY, grown_by_init_from, one_thread

_one_thread = pytest.fixture(autouse=True)(one_thread)
BAG = replace(TINY, note_bias=True, bar_len=64)


def test_the_pitch_bag_is_the_set_of_pitches_each_bar_sounds_without_drums(tmp_path):
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    # bar 1 (0-2 s): C E G, C again; bar 2: D and a bass A; the drums' kick (36) and snare (38) are not pitches
    for pitch, start in ((60, 0.0), (64, 0.5), (67, 1.0), (60, 1.5), (62, 2.0)):
        piano.notes.append(pretty_midi.Note(80, pitch, start, start + 0.25))
    bass = pretty_midi.Instrument(program=33)
    bass.notes.append(pretty_midi.Note(80, 45, 2.5, 3.0))
    for start in (0.0, 1.0, 2.0):
        drums.notes.append(pretty_midi.Note(100, 36, start, start + 0.1))
        drums.notes.append(pretty_midi.Note(100, 38, start + 0.5, start + 0.6))
    midi.instruments += [piano, bass, drums]
    midi.write(str(tmp_path / "two-bars.mid"))
    bars = codec.encode(tmp_path / "two-bars.mid", 64).bars
    tokens = torch.tensor([bar + [vocab.PAD] * (64 - len(bar)) for bar in bars])
    bag = pitch_bag(tokens, token_bag_pitches())
    assert [sorted(row.nonzero().flatten().tolist()) for row in bag] == [[60, 64, 67], [45, 62]]


def test_the_bag_loss_is_low_when_d_p_names_the_bars_pitches_and_high_when_it_names_others():
    model = CDGMVAE(BAG).eval()
    tokens = torch.full((1, 1, 64), vocab.PAD, dtype=torch.long)
    bar = [vocab.BAR, vocab.position_token(0), vocab.pitch_token(1, 60), vocab.velocity_token(1, 20),
           vocab.duration_token(1, 4), vocab.position_token(4), vocab.pitch_token(1, 64),
           vocab.velocity_token(1, 20), vocab.duration_token(1, 4), vocab.EOS]
    tokens[0, 0, : len(bar)] = torch.tensor(bar)
    out = model(tokens, torch.ones(1, 1, dtype=torch.bool))
    right = torch.full((1, 1, 128), -20.0)
    right[..., [60, 64]] = 20.0
    wrong = torch.full((1, 1, 128), -20.0)
    wrong[..., [61, 65]] = 20.0
    mask = torch.ones(1, 1, dtype=torch.bool)
    assert pitch_bag_loss(replace(out, pitch_bag_logits=right), tokens, mask) < 1e-3
    assert pitch_bag_loss(replace(out, pitch_bag_logits=wrong), tokens, mask) > 79.0  # four pitches 20 nats off
    no_bag = CDGMVAE(replace(BAG, note_bias=False)).eval()(tokens, torch.ones(1, 1, dtype=torch.bool))
    assert no_bag.pitch_bag_logits is None and float(pitch_bag_loss(no_bag, tokens, mask)) == 0.0


def _bag_says(model: CDGMVAE, pitch: int, gain: float) -> None:
    """D_p gives `pitch` probability ~1 and every other pitch ~e^-30, whatever z_k."""
    with torch.no_grad():
        last = model.pitch_bag[-1]
        last.weight.zero_()
        last.bias.fill_(-30.0)
        last.bias[pitch] = 30.0
        model.note_gain.copy_(torch.tensor([gain / NOTE_GAIN_SCALE, 0.0]))


@pytest.mark.parametrize("backend", ["eager", "compiled", "int8"])
def test_the_bag_of_notes_bias_decides_the_pitches_on_every_cpu_backend(backend):
    torch.manual_seed(0)
    model = CDGMVAE(BAG).eval()
    _bag_says(model, 62, gain=1.0)
    generator = Generator(model, seed=0, backend=backend, controls=Controls(temperature=1.0, top_p=1.0),
                          min_tokens=20)
    pitched = [n.pitch for bar in generator.generate(6) for n in codec.bar_notes(bar.tokens) if n.track != 0]
    assert len(pitched) >= 6 and set(pitched) == {62}
    # without the gain the same model plays other pitches: the bias, not the decoder layers, chose 62
    _bag_says(model, 62, gain=0.0)
    generator = Generator(model, seed=0, backend=backend, controls=Controls(temperature=1.0, top_p=1.0),
                          min_tokens=20)
    pitched = [n.pitch for bar in generator.generate(6) for n in codec.bar_notes(bar.tokens) if n.track != 0]
    assert len(set(pitched)) > 3


def test_init_from_grows_a_model_into_the_bag_of_notes_path_and_refuses_the_way_back(tmp_path, capsys):
    grown = grown_by_init_from(tmp_path, replace(BAG, note_bias=False), BAG)
    assert sorted(set(grown.after) - set(grown.before)) == ["note_gain", "pitch_bag.0.bias", "pitch_bag.0.weight",
                                                            "pitch_bag.2.bias", "pitch_bag.2.weight"]
    assert torch.equal(grown.after["note_gain"], torch.zeros(2))  # a grown model decodes as its source did
    log = json.loads((tmp_path / "grown" / "log.jsonl").read_text().splitlines()[0])
    assert log["bag"] > 0
    grown.assert_the_way_back_is_refused(capsys, "note_bias")


def test_small_bag_is_small_with_the_bag_of_notes_path():
    assert preset("small-bag") == replace(preset("small"), note_bias=True)
