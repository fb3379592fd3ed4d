"""The transfer and swap laws on the bundled model, at the latents a piece is decoded from.

Eq 23 (docs/ARCHITECTURE.md, *Generation*, Transfer): for each factor i (rhythm z_r ~ arousal, key z_k ~ valence),
z_i' = z_i + λ (μ_i,target − μ_i,source), with μ the mixture component means (index 0 low, 1 high), the
source class from q(y|x) and z_i the encoder's posterior means. Eq 22's feature swap: the piece decoded from
A's z_k and B's z_r (rhythm), or A's z_r and B's z_k (key). The expected latents are computed here from
the model's component means; what is decoded must be them, at intermediate λ, for each source class.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from cdgmvae.engine import codec
from cdgmvae.engine.controls import Controls
from cdgmvae.engine.generator import Generator, tokens_tensor
from cdgmvae.engine.key_guidance import tonic_of
from helpers_model import one_thread

from cdgmvae import cli

_one_thread = pytest.fixture(autouse=True)(one_thread)
EMOPIA = Path(__file__).resolve().parents[1] / "data" / "emopia" / "midis"
N_BARS = 4              # bars of each source piece: enough to tell, short to decode
EMOTION = {"happy": (1, 1), "tense": (0, 1), "sad": (0, 0), "calm": (1, 0)}   # (valence, arousal) classes
LAMBDAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def generator(seed: int = 0) -> Generator:
    """As the commands make it with their defaults (seed 0, one candidate)."""
    return Generator.load(seed=seed)


@pytest.fixture(scope="module")
def sources() -> dict[tuple[int, int], list[list[int]]]:
    """One bundled clip's first bars for each source class (valence, arousal) as q(y|x) of the bundled model
    hears them, each at least 0.1 from the 0.5 threshold."""
    torch.set_num_threads(1)
    found, probe = {}, generator()
    for path in sorted(EMOPIA.glob("Q*.mid")):
        bars = codec.encode(path, probe.model.cfg.bar_len).bars[:N_BARS]
        _, _, p_a, p_v = probe.encode_piece(bars)
        if len(bars) == N_BARS and min(abs(float(p_a) - 0.5), abs(float(p_v) - 0.5)) >= 0.1:
            found.setdefault((int(p_v >= 0.5), int(p_a >= 0.5)), bars)
        if len(found) == 4:
            return found
    pytest.fail(f"the bundled clips hold only the source classes {sorted(found)}")


def law(model, bars, target: tuple[int, int], source: tuple[int, int], lam: float, encoded) -> tuple:
    """Eq 23 written out: (z_r', z_k') [n, l]."""
    mu_r, mu_k = encoded[:2]
    means_r, means_k = model.prior_r.means.detach(), model.prior_k.means.detach()
    (v_t, a_t), (v_s, a_s) = target, source
    return mu_r + lam * (means_r[a_t] - means_r[a_s]), mu_k + lam * (means_k[v_t] - means_k[v_s])


def close(got, want) -> bool:
    return torch.allclose(got, want, rtol=0, atol=1e-5)


def test_eq23_moves_both_latents_linearly_in_lambda_from_each_source_class(sources):
    probe = generator()
    distance = [float((m[1] - m[0]).detach().norm()) for m in (probe.model.prior_r.means, probe.model.prior_k.means)]
    assert min(distance) > 0.1, distance   # else a wrong λ would move the latents too little to see
    for source, bars in sources.items():
        encoded = probe.encode_piece(bars)
        for emotion, target in EMOTION.items():
            for lam in LAMBDAS:
                want = law(probe.model, bars, target, source, lam, encoded)
                got = probe.transferred_latents(bars, *map(float, target), lam)
                for name, g, w in zip(("z_r", "z_k"), got, want):
                    assert close(g, w), (source, emotion, lam, name, float((g - w).abs().max()))


@pytest.mark.parametrize("lam", [0.25, 0.75])
def test_transfer_decodes_the_eq23_latents(sources, lam):
    """transfer() decodes exactly the piece that the law's latents decode to, for a source whose valence and
    arousal classes differ (so a swap of the two moves the latents elsewhere)."""
    source = (1, 0) if lam == 0.25 else (0, 1)
    bars, target = sources[source], EMOTION["happy" if lam == 0.25 else "sad"]
    probe = generator()
    want_r, want_k = law(probe.model, bars, target, source, lam, probe.encode_piece(bars))
    moved = generator().transfer(bars, *map(float, target), lam)
    expected = generator().decode_latents(want_r, want_k, tonic_of(bars))
    assert [b.tokens for b in moved] == [b.tokens for b in expected]
    half_way = generator().decode_latents(*law(probe.model, bars, target, source, lam ** 2, probe.encode_piece(bars)),
                                          tonic_of(bars))
    assert [b.tokens for b in half_way] != [b.tokens for b in expected]   # the decoding tells λ from λ²


def write_piece(bars, path: Path) -> Path:
    codec.midi_file(bars).save(str(path))
    assert codec.encode(path, 128).bars == bars   # the command reads back exactly these bars
    return path


def decoded_file(bars_out, path: Path) -> bytes:
    codec.midi_file([b.tokens for b in bars_out]).save(str(path))
    return path.read_bytes()


def test_the_transfer_command_writes_the_eq23_piece(sources, tmp_path, capsys):
    source = (0, 1)
    bars = sources[source]
    piece = write_piece(bars, tmp_path / "source.mid")
    out = tmp_path / "calm.mid"
    assert cli.main(["transfer", str(piece), "--to", "calm", "--lambda", "0.5", "--out", str(out),
                     "--threads", "1"]) == 0
    assert '"source_quadrant": "Q2"' in capsys.readouterr().out
    probe = generator()
    want = law(probe.model, bars, EMOTION["calm"], source, 0.5, probe.encode_piece(bars))
    assert out.read_bytes() == decoded_file(generator().decode_latents(*want, tonic_of(bars)), tmp_path / "want.mid")


@pytest.mark.parametrize("feature", ["rhythm", "key"])
def test_swap_decodes_one_pieces_latent_with_the_others(sources, tmp_path, capsys, feature):
    a, b = sources[(0, 1)], sources[(1, 0)]       # tense and calm: both latents differ, and so do the keys
    assert tonic_of(a) != tonic_of(b)
    path_a, path_b = write_piece(a, tmp_path / "a.mid"), write_piece(b, tmp_path / "b.mid")
    out = tmp_path / "swapped.mid"
    assert cli.main(["swap", str(path_a), str(path_b), "--feature", feature, "--out", str(out),
                     "--threads", "1"]) == 0
    probe = generator()
    (a_r, a_k, _, _), (b_r, b_k, _, _) = probe.encode_piece(a), probe.encode_piece(b)
    want = (b_r, a_k, tonic_of(a)) if feature == "rhythm" else (a_r, b_k, tonic_of(b))
    assert out.read_bytes() == decoded_file(generator().decode_latents(*want), tmp_path / "want.mid")
    # and neither the piece that swaps nothing nor the one in the other piece's key
    unswapped = decoded_file(generator().decode_latents(a_r, a_k, want[2]), tmp_path / "a_again.mid")
    other_key = tonic_of(b) if feature == "rhythm" else tonic_of(a)
    in_other_key = decoded_file(generator().decode_latents(*want[:2], other_key), tmp_path / "other_key.mid")
    assert out.read_bytes() != unswapped
    assert out.read_bytes() != in_other_key


def test_each_bar_moves_toward_the_target_by_lambda():
    """Eq 23 per bar, as the live engine glides: from tense (V0 A1) toward calm (V1 A0) at λ = 0.25, bar n
    sits at valence 1 − 0.75^n and arousal 0.75^n on the line between the components."""
    glide = Generator.load(seed=0, use_prior=False, controls=Controls(valence=0.0, arousal=1.0))
    first = glide.next_bar()
    assert (first.valence, first.arousal) == pytest.approx((0.0, 1.0), abs=1e-5)
    glide.set_controls(valence=1.0, arousal=0.0, lam=0.25)
    for n in (1, 2, 3):
        bar = glide.next_bar()
        assert (bar.valence, bar.arousal) == pytest.approx((1 - 0.75 ** n, 0.75 ** n), abs=1e-5), n


def test_candidates_keep_the_bar_whose_encoding_is_nearest_its_latents(sources):
    """With K candidates, decoding given latents keeps in each bar the candidate whose posterior means, encoded
    after the bars kept before it, lie nearest that bar's latents (analysis by synthesis). Checked by
    encoding each candidate's whole piece so far in one call, not with the generator's carried memory."""
    bars = sources[(0, 1)]
    probe = generator()
    z_r, z_k, _, _ = probe.encode_piece(bars)
    out = Generator.load(seed=0, candidates=4).decode_latents(z_r, z_k, tonic_of(bars))
    margins = []
    for i, bar in enumerate(out):
        kept = [b.tokens for b in out[:i]]
        assert len(bar.alternatives) == 3
        distances = []
        for candidate in [bar.tokens] + bar.alternatives:
            with torch.no_grad():
                latents = probe.model.encode(tokens_tensor(kept + [candidate], probe.model.cfg.bar_len, "cpu"))
            distances.append(float((latents.mu_r[0, -1] - z_r[i]).pow(2).sum()
                                   + (latents.mu_k[0, -1] - z_k[i]).pow(2).sum()))
        assert distances[0] <= min(distances[1:]) + 1e-4, (i, distances)
        margins.append(min(distances[1:]) - distances[0])
    assert max(margins) > 1e-2, margins   # the candidates differ, so the choice was a real one
