"""The pitch summary (`pitch_summary`, preset `small-notes`): E_k reads each bar's set of MIDI pitches, and
`train --init-from` grows a model without it into one with it that encodes exactly as before."""
from dataclasses import replace

import pretty_midi
import pytest
import torch
from cdgmvae.engine import codec, vocab
from cdgmvae.engine.config import preset
from cdgmvae.engine.model import CDGMVAE, key_summary
from helpers_model import TINY, grown_by_init_from, one_thread

_one_thread = pytest.fixture(autouse=True)(one_thread)
NOTES = replace(TINY, pitch_summary=True, bar_len=64)
# two bars of C major triads, the second an octave higher: the same pitch classes and rhythm
TRIADS = ((60, 64, 67), (72, 76, 79))


def _triad_bars(tmp_path) -> tuple[torch.Tensor, list[set[int]]]:
    """tokens [1, 2, 64] of a MIDI file written with pretty_midi, and each bar's pitches as pretty_midi reads
    them back from that file (the independent definition of a bar's pitch set)."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    for bar, triad in enumerate(TRIADS):
        for i, pitch in enumerate(triad):
            start = 2.0 * bar + 0.5 * i
            piano.notes.append(pretty_midi.Note(80, pitch, start, start + 0.25))
    midi.instruments.append(piano)
    path = tmp_path / "triads.mid"
    midi.write(str(path))
    read = pretty_midi.PrettyMIDI(str(path))
    sets = [{n.pitch for n in read.instruments[0].notes if 2.0 * bar <= n.start < 2.0 * (bar + 1)}
            for bar in range(len(TRIADS))]
    bars = codec.encode(path, 64).bars
    tokens = torch.tensor([[bar + [vocab.PAD] * (64 - len(bar)) for bar in bars]])
    return tokens, sets


def test_the_key_encoder_reads_each_bars_pitch_set(tmp_path):
    torch.manual_seed(0)
    model = CDGMVAE(NOTES).eval()
    with torch.no_grad():  # a trained-looking output layer instead of the zeros a fresh one starts with
        torch.nn.init.normal_(model.enc_k.notes_proj[-1].weight, std=1.0)
    tokens, sets = _triad_bars(tmp_path)
    mu_k = model.encode(tokens).mu_k

    def enc_k_with(notes: torch.Tensor) -> torch.Tensor:
        summary = key_summary(tokens, model.token_pitch_class, model.key_profiles)
        return model.enc_k(model.embed(tokens), tokens, summary, None, notes)[0]

    multi_hot = torch.zeros(1, len(sets), 128)
    for bar, pitches in enumerate(sets):
        multi_hot[0, bar, sorted(pitches)] = 1.0
    assert torch.allclose(mu_k, enc_k_with(multi_hot), atol=1e-6)
    # the pitch set moves z_k: the bars' key summaries are the same, and without the sets z_k would differ less
    without = enc_k_with(torch.zeros_like(multi_hot))
    assert not torch.allclose(mu_k, without, atol=1e-3)
    assert torch.allclose(model.encode_key(tokens)[0], mu_k, atol=1e-6)
    assert (mu_k[0, 0] - mu_k[0, 1]).norm() > 2 * (without[0, 0] - without[0, 1]).norm()


def test_init_from_grows_the_pitch_summary_encoding_as_before_and_refuses_the_way_back(tmp_path, capsys):
    grown = grown_by_init_from(tmp_path, replace(NOTES, pitch_summary=False), NOTES)
    assert sorted(set(grown.after) - set(grown.before)) == [f"enc_k.notes_proj.{i}.{p}" for i in (0, 2)
                                                            for p in ("bias", "weight")]
    source, model = CDGMVAE(replace(NOTES, pitch_summary=False)).eval(), CDGMVAE(NOTES).eval()
    source.load_state_dict(grown.before)
    model.load_state_dict(grown.after)
    tokens, _ = _triad_bars(tmp_path)
    assert torch.equal(source.encode(tokens).mu_k, model.encode(tokens).mu_k)  # grown: z_k as before
    grown.assert_the_way_back_is_refused(capsys, "pitch_summary")


def test_small_notes_is_small_bag_whose_key_encoder_reads_the_pitch_set():
    assert preset("small-notes") == replace(preset("small-bag"), pitch_summary=True)
