"""The engine's cached decoder against the model's full teacher-forced pass."""
from pathlib import Path

import pytest
import torch
from cdgmvae.engine import codec
from cdgmvae.engine.config import ModelConfig
from cdgmvae.engine.incremental import BarCache
from cdgmvae.engine.model import CDGMVAE

CLIP = Path(__file__).parent.parent / "data/emopia/midis/Q4_--2B4d4lQhs_3.mid"


def tiny_model(seed=0) -> CDGMVAE:
    torch.manual_seed(seed)
    return CDGMVAE(ModelConfig(n_layers=2, n_enc_layers=1, n_heads=2, d_model=32, d_ff=64, d_latent=8)).eval()


def test_cached_decoding_gives_the_logits_of_full_recomputation():
    model = tiny_model()
    tokens = torch.tensor(codec.encode(CLIP).token_array(128)[:3].astype("int64"))[None]  # [1, 3, 128]
    z_r, z_k = torch.randn(1, 3, 8), torch.randn(1, 3, 8)
    trimmed = tokens[..., : int((tokens != 0).sum(-1).max()) + 1]  # padding trimmed, as training does
    with torch.no_grad():
        full = model.decode(trimmed, z_r, z_k)
    cache, memory, checked = BarCache(model, 1), None, 0
    for t in range(3):
        cache.start_bar(model.z_injection(z_r[:, t], z_k[:, t]), memory)
        length = int((tokens[0, t] != 0).sum())
        for i in range(min(length, 127)):
            logits = cache.step(tokens[:, t, i], torch.tensor(i))
            torch.testing.assert_close(logits, full[:, t, i], atol=1e-4, rtol=0)
            checked += 1
        memory = cache.memory()
    assert checked > 60


def test_memory_changes_the_next_bar():
    model = tiny_model()
    tokens = torch.tensor(codec.encode(CLIP).token_array(128)[:2].astype("int64"))
    z = model.z_injection(torch.zeros(1, 8), torch.zeros(1, 8))
    cache = BarCache(model, 1)
    cache.start_bar(z, None)
    for i in range(20):
        cache.step(tokens[0:1, i], torch.tensor(i))
    memory = cache.memory()
    cache.start_bar(z, None)
    without = cache.step(tokens[1:2, 0], torch.tensor(0))
    cache.start_bar(z, memory)
    with_memory = cache.step(tokens[1:2, 0], torch.tensor(0))
    assert (without - with_memory).abs().max() > 1e-3


def test_the_step_exports_with_its_cache_updates_and_matches_eager():
    """The export path the tensorrt backend starts from, tested up to the TensorRT call."""
    from cdgmvae.engine.decoding import export_step
    model = tiny_model()
    eager, exported_cache = BarCache(model, 2), BarCache(model, 2)
    program = export_step(exported_cache)
    step = program.module()
    for cache in (eager, exported_cache):
        cache.start_bar(torch.randn(2, 32, generator=torch.Generator().manual_seed(1)), None)
    for i, token in enumerate([2, 20, 3, 100, 300]):
        tokens = torch.tensor([token, token + 1])
        torch.testing.assert_close(step(tokens, torch.tensor(i)), eager.step(tokens, torch.tensor(i)),
                                   atol=1e-5, rtol=0)


@pytest.mark.parametrize("backend", ["compiled", "int8"])
def test_the_compiled_token_step_chooses_what_eager_does(backend):
    """compiled (and int8, compiled around its int8 Linear layers) takes step, grammar mask and draw into
    one graph: fed its own choices, it writes the bar eager writes with the same model and clocks
    (sampled at top-p 0.9, and greedy)."""
    from cdgmvae.engine.backends import decoding_model, make_decoder
    from cdgmvae.engine.sampling import race_clocks
    from cdgmvae.engine.vocab import BAR, VOCAB_SIZE
    model = decoding_model(backend, tiny_model())
    eager, compiled_cache = BarCache(model, 2), BarCache(model, 2)
    compiled = make_decoder(backend, compiled_cache)
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(2))
    for temperature in (1.0, 0.0):
        clocks = race_clocks(eager.M, 2, VOCAB_SIZE, torch.Generator().manual_seed(3))
        settings = torch.tensor(temperature), torch.tensor(0.9), torch.tensor(41)  # EOS held back
        bars = []
        for cache, next_token in ((eager, eager.next_token), (compiled_cache, compiled)):
            cache.start_bar(z, None)
            token, bar = torch.full((2,), BAR), []
            for i in range(40):
                token = next_token(token, torch.tensor(i), clocks, *settings).clone()
                bar.append(token.tolist())
            bars.append(bar)
        assert bars[0] == bars[1]
        if temperature:  # a drawn bar, not one note over and over (greedy may repeat one)
            assert len({tuple(t) for t in bars[0]}) > 10
