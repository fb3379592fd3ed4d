"""The engine's generator with the bundled default model."""
from pathlib import Path

import pretty_midi
import pytest
import torch
from cdgmvae.engine import codec
from cdgmvae.engine.backends import make_decoder, unavailable_reason
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.generator import Controls, Generator
from cdgmvae.engine.grammar import is_valid_bar
from cdgmvae.training.quality import tonality

ROOT = Path(__file__).parent.parent
CLIPS = sorted((ROOT / "data/emopia/midis").glob("Q3_*.mid"))[:3]


@pytest.fixture(scope="module")
def generator() -> Generator:
    torch.set_num_threads(2)
    return Generator.load(seed=0)


def test_bars_sampled_hot_are_all_valid_remi_and_valid_midi(generator, tmp_path):
    """500 bars at temperature 2 without nucleus cut, decoded 25 at a time as candidates."""
    hot = Generator(generator.model, seed=0, candidates=25,
                    controls=Controls(valence=0.5, arousal=0.5, temperature=2.0, top_p=1.0))
    pieces = [[] for _ in range(25)]
    for _ in range(20):
        bar = hot.next_bar()
        for piece, tokens in zip(pieces, [bar.tokens] + bar.alternatives):
            piece.append(tokens)
    assert sum(len(p) for p in pieces) == 500
    assert all(is_valid_bar(tokens, hot.model.cfg.bar_len) for piece in pieces for tokens in piece)
    for i, piece in enumerate(pieces):
        path = tmp_path / f"{i}.mid"
        codec.midi_file(piece).save(str(path))
        back = pretty_midi.PrettyMIDI(str(path))
        notes = [n for inst in back.instruments for n in inst.notes]
        assert len(notes) == sum(len(codec.bar_notes(tokens)) for tokens in piece)
        assert all(0 <= n.pitch < 128 and 0 < n.velocity < 128 and n.end > n.start for n in notes)


def test_same_seed_same_notes_and_another_seed_differs(generator):
    generator.controls = Controls.for_emotion("tense")
    runs = []
    for seed in (7, 7, 8):
        generator.reset(seed)
        runs.append([b.tokens for b in generator.generate(3)])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


@pytest.fixture(scope="module")
def mixture(generator) -> Generator:
    """The paper's draws around a path of latents between the mixture components (no latent prior)."""
    return Generator(generator.model, seed=0)


def test_a_change_of_emotion_takes_effect_at_the_next_bar(mixture):
    generator = mixture
    generator.controls = Controls.for_emotion("sad", lam=1.0)
    generator.reset(3)
    steady = [b.tokens for b in generator.generate(4)]
    generator.reset(3)
    first = [b.tokens for b in generator.generate(2)]
    generator.set_controls(valence=1.0, arousal=1.0)
    target_r, target_k = generator.target(1.0, 1.0)
    changed = generator.next_bar()
    assert first == steady[:2]                       # nothing changed before the bar line
    assert torch.allclose(generator.z_r, target_r) and torch.allclose(generator.z_k, target_k)
    assert changed.valence > 0.9 and changed.arousal > 0.9


def test_small_lambda_moves_part_of_the_way(mixture):
    generator = mixture
    generator.controls = Controls.for_emotion("sad", lam=0.25)
    generator.reset(0)
    generator.next_bar()
    start_r = generator.z_r.clone()
    generator.set_controls(valence=1.0, arousal=1.0)
    generator.next_bar()
    target_r, _ = generator.target(1.0, 1.0)
    assert torch.allclose(generator.z_r, start_r + 0.25 * (target_r - start_r), atol=1e-6)


def test_transfer_lambda_zero_keeps_the_source_latents(generator):
    bars = codec.encode(CLIPS[0]).bars
    mu_r, mu_k, _, _ = generator.encode_piece(bars)
    z_r, z_k = generator.transferred_latents(bars, valence=1.0, arousal=1.0, lam=0.0)
    assert torch.equal(z_r, mu_r) and torch.equal(z_k, mu_k)


def test_transfer_to_happy_moves_the_inferred_emotion_toward_it(generator):
    before, after = [], []
    for path in CLIPS:
        bars = codec.encode(path).bars[:8]
        _, _, p_a, p_v = generator.encode_piece(bars)
        moved = generator.transfer(bars, valence=1.0, arousal=1.0, lam=1.0)
        _, _, q_a, q_v = generator.encode_piece([b.tokens for b in moved])
        before.append(float(p_a + p_v))
        after.append(float(q_a + q_v))
    assert sum(after) > sum(before)


def test_generated_music_follows_arousal_by_degrees(generator):
    """Over several seeds, more arousal gives more notes per bar and louder ones, halfway as well as at the
    ends (the bundled model with its latent prior)."""
    assert generator.prior is not None
    density, loudness = {}, {}
    for arousal in (0.0, 0.5, 1.0):
        generator.controls = Controls(valence=0.5, arousal=arousal)
        notes = []
        for seed in range(4):
            generator.reset(seed)
            notes += [n for b in generator.generate(6) for n in b.notes]
        density[arousal] = len(notes) / 24
        loudness[arousal] = sum(n.velocity for n in notes) / len(notes)
    assert density[0.0] < density[0.5] < density[1.0]
    assert loudness[0.0] < loudness[0.5] < loudness[1.0]


def test_without_key_guidance_the_latent_prior_holds_a_key_better_than_mixture_draws(generator, mixture):
    """Whole-piece Krumhansl-Kessler key fit (training/quality.py) of pieces written with the model alone."""
    fits = {}
    for name, source in (("prior", generator), ("mixture", mixture)):
        fits[name] = []
        for seed, emotion in enumerate(("happy", "tense", "sad", "calm")):
            source.controls = Controls.for_emotion(emotion, key_strength=0.0)
            source.reset(100 + seed)
            fits[name].append(tonality([b.notes for b in source.generate(8)])["key_fit"])
    assert sum(fits["prior"]) / 4 > sum(fits["mixture"]) / 4 + 0.05


def test_candidates_pick_one_bar_and_keep_going(generator):
    many = Generator(generator.model, seed=0, candidates=3, controls=Controls.for_emotion("happy"))
    bars = many.generate(3)
    assert len(bars) == 3 and all(is_valid_bar(b.tokens, many.model.cfg.bar_len) for b in bars)
    assert many.memory.mask.shape[0] == 1


def test_tensorrt_says_why_it_cannot_run_here_and_what_to_use(generator):
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: the GPU test covers the tensorrt backend")
    with pytest.raises(UserError, match="--backend compiled or --backend eager"):
        make_decoder("tensorrt", generator.cache)
    assert "GPU" in unavailable_reason("tensorrt", torch.device("cpu"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_cached_and_compiled_decoding_match_the_cpu(generator):
    """Greedy decoding without latent noise: the GPU backends give the CPU's first bar."""
    model = Generator.load(device="cuda").model
    greedy = Controls(valence=1.0, arousal=1.0, temperature=0.0, variety=0.0)
    expected = Generator(generator.model, seed=0, controls=greedy).next_bar().tokens
    for backend in ("eager", "compiled"):
        gpu = Generator(model, seed=0, backend=backend, controls=greedy)
        assert gpu.next_bar().tokens[:32] == expected[:32], backend


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["compiled", "triton"])
def test_gpu_whole_bar_graph_replays_later_bars_as_eager_decodes_them(backend):
    """compiled and triton on a GPU capture the first bar as one CUDA graph and replay it for every bar
    after, with new memory, latents, draws and settings: the bars are the ones eager decoding samples,
    one bar at a time and with three candidates per bar."""
    reason = unavailable_reason(backend, torch.device("cuda")) if torch.cuda.is_available() else "needs a CUDA GPU"
    if reason:
        pytest.skip(reason)
    model = Generator.load(device="cuda").model
    for candidates in (1, 3):
        pieces = {}
        for name in ("eager", backend):
            gpu = Generator(model, seed=3, backend=name, candidates=candidates,
                            controls=Controls(valence=0.0, arousal=1.0, top_p=0.9))
            bars = gpu.generate(2)
            gpu.set_controls(valence=1.0, arousal=0.0, temperature=0.7)
            pieces[name] = [bar.tokens for bar in bars + gpu.generate(2)]
        assert pieces[backend] == pieces["eager"], candidates
        assert all(is_valid_bar(bar, model.cfg.bar_len) for bar in pieces[backend])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_transfer_keeps_the_cpus_latents_and_decodes_as_eager(generator):
    """Transfer on a GPU: the moved latents are the CPU's, and the bars decoded from them (the reseed drawn
    on the GPU's generator) are valid and the same for eager and the fastest GPU backend."""
    bars = codec.encode(CLIPS[0]).bars[:4]
    expected = generator.transferred_latents(bars, valence=1.0, arousal=1.0, lam=0.7)
    model = Generator.load(device="cuda").model
    fast = "triton" if unavailable_reason("triton", torch.device("cuda")) is None else "compiled"
    pieces = {}
    for backend in ("eager", fast):
        gpu = Generator(model, seed=2, backend=backend)
        for cpu, moved in zip(expected, gpu.transferred_latents(bars, valence=1.0, arousal=1.0, lam=0.7)):
            torch.testing.assert_close(moved.cpu(), cpu, atol=1e-4, rtol=1e-4)
        pieces[backend] = [bar.tokens for bar in gpu.transfer(bars, valence=1.0, arousal=1.0, lam=0.7)]
    assert pieces[fast] == pieces["eager"]
    assert len(pieces[fast]) == 4 and all(is_valid_bar(bar, model.cfg.bar_len) for bar in pieces[fast])


@pytest.mark.gpu
@pytest.mark.skipif(unavailable_reason("tensorrt", torch.device("cuda")) is not None,
                    reason="needs a CUDA GPU and torch-tensorrt")
def test_tensorrt_backend_decodes_valid_bars():
    gpu = Generator.load(device="cuda", seed=0, backend="tensorrt", controls=Controls.for_emotion("calm"))
    assert all(is_valid_bar(b.tokens, gpu.model.cfg.bar_len) for b in gpu.generate(2))


def test_int8_decoding_follows_the_fp32_logits_and_gives_valid_bars(generator):
    """Teacher-forced through the first two bars of three real clips, the int8 step predicts what fp32
    does: the same most likely token at 90 % of the steps, distributions close to fp32's, and where the
    most likely tokens differ, fp32 finds the two nearly equally likely (a near tie that rounding flips)."""
    from cdgmvae.engine.backends import decoding_model
    from cdgmvae.engine.incremental import BarCache
    model = generator.model
    quantized = decoding_model("int8", model)
    assert decoding_model("eager", model) is model
    inject = model.z_injection(*generator.target(0.5, 0.5)).unsqueeze(0)
    steps, agree, kl, gap, spread, error = 0, 0, 0.0, 0.0, 0.0, 0.0
    for clip in CLIPS:
        for bar in codec.encode(clip).token_array(model.cfg.bar_len)[1:3]:
            tokens = torch.tensor(bar.astype("int64"))
            full, small = BarCache(model, 1), BarCache(quantized, 1)
            for cache in (full, small):
                cache.start_bar(inject, None)
            for i in range(int((tokens != 0).sum()) - 1):
                a = full.step(tokens[i: i + 1], torch.tensor(i))
                b = small.step(tokens[i: i + 1], torch.tensor(i))
                log_a, log_b = a.log_softmax(-1), b.log_softmax(-1)
                steps += 1
                agree += int(a.argmax() == b.argmax())
                kl += float((log_a.exp() * (log_a - log_b)).sum())
                gap = max(gap, float(log_a.max() - log_a[0, b.argmax()]))  # fp32's doubt about int8's choice
                spread, error = max(spread, float(a.std())), max(error, float((a - b).abs().max()))
    assert steps > 100 and agree >= 0.9 * steps
    assert kl / steps < 0.05  # mean KL(fp32 || int8) per token, in nats
    assert gap < 1.0  # int8's first choice is at least e^-1 as likely to fp32 as fp32's own
    assert error < spread  # the largest int8 error is below one standard deviation of the logits
    int8 = Generator(model, seed=4, backend="int8", controls=Controls.for_emotion("happy"))
    bars = int8.generate(3)
    assert all(is_valid_bar(b.tokens, model.cfg.bar_len) for b in bars)
    int8.reset(4)
    assert [b.tokens for b in int8.generate(3)] == [b.tokens for b in bars]


def test_int8_says_it_is_for_the_cpu(generator):
    from cdgmvae.engine.backends import decoding_model
    from cdgmvae.engine.model import CDGMVAE
    elsewhere = CDGMVAE(generator.model.cfg).to("meta")  # any device but the CPU
    with pytest.raises(UserError, match="runs on the CPU.*--backend compiled"):
        decoding_model("int8", elsewhere)
