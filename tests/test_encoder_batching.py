"""The encoders run layer by layer over many bars at once (TransformerXL.forward_bars): the same numbers
as the Transformer-XL recurrence bar by bar, each bar's per-layer inputs being the next bar's memory
(Dai et al. 2019), written out here with the one-bar TransformerXL.forward."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from cdgmvae.engine import codec
from cdgmvae.engine import vocab as V
from cdgmvae.engine.config import ModelConfig
from cdgmvae.engine.generator import Generator
from cdgmvae.engine.model import CDGMVAE, onset_summary

CASES = Path(__file__).parent / "cases" / "midi"
CFG = ModelConfig(n_layers=1, n_enc_layers=3, n_heads=2, d_model=32, d_ff=64, d_latent=8, n_bars=4, bar_len=24,
                  dropout=0.0)


def recurrence(encoder, emb, tokens, summary):
    """E_r or E_k bar by bar: mu, sigma [B, T, l]."""
    pooled, memory, memory_mask = [], None, None
    for t in range(tokens.shape[1]):
        valid = tokens[:, t] != V.PAD
        out, memory = encoder.xl(emb[:, t], memory, memory_mask, key_mask=valid)
        memory_mask = valid
        weights = valid.unsqueeze(-1).to(out.dtype)
        pooled.append((out * weights).sum(1) / weights.sum(1).clamp(min=1.0))
    h = torch.stack(pooled, dim=1) + encoder.summary_proj(summary)
    return encoder.to_mu(h), F.softplus(encoder.to_sigma(h)) + 1e-5


def random_tokens(seed: int, B: int = 2, T: int = 5) -> torch.Tensor:
    """Bars of different lengths (Bar Tempo notes... EOS, PAD after); the last bar of segment 1 is filler."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.full((B, T, CFG.bar_len), V.PAD, dtype=torch.long)
    for b in range(B):
        for t in range(T - b):
            n = int(torch.randint(4, CFG.bar_len - 4, (1,), generator=g))
            tokens[b, t, :n] = torch.randint(V.TRACK_BASE, V.VOCAB_SIZE, (n,), generator=g)
            tokens[b, t, 0], tokens[b, t, n - 1] = V.BAR, V.EOS
    return tokens


def test_batched_encoders_equal_the_bar_by_bar_recurrence_with_the_same_gradients():
    torch.manual_seed(0)
    model = CDGMVAE(CFG)
    tokens = random_tokens(1)
    summary = onset_summary(tokens, model.token_position, model.token_is_pitch)
    emb = model.embed(tokens)
    mu, sigma, _ = model.enc_r(emb, tokens, summary)
    ref_mu, ref_sigma = recurrence(model.enc_r, emb, tokens, summary)
    assert torch.allclose(mu, ref_mu, atol=1e-5) and torch.allclose(sigma, ref_sigma, atol=1e-5)
    # memory is detached in both: the gradients agree too
    params = list(model.enc_r.parameters())
    weights = torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
    grads = torch.autograd.grad((mu * weights + sigma).sum(), params, retain_graph=True)
    ref_grads = torch.autograd.grad((ref_mu * weights + ref_sigma).sum(), params)
    for grad, ref in zip(grads, ref_grads):
        assert torch.allclose(grad, ref, atol=1e-4)


def test_chunks_with_the_carried_memory_equal_one_pass():
    torch.manual_seed(1)
    model = CDGMVAE(CFG).eval()
    tokens = random_tokens(2, B=1, T=7)
    with torch.no_grad():
        whole = model.encode(tokens)
        memory, parts = None, []
        for start, stop in ((0, 1), (1, 4), (4, 7)):
            part = model.encode(tokens[:, start:stop], memory)
            memory = part.memory
            parts.append(part)
    for name in ("mu_r", "mu_k", "sigma_r", "sigma_k"):
        joined = torch.cat([getattr(p, name) for p in parts], dim=1)
        assert torch.allclose(joined, getattr(whole, name), atol=1e-5), name


def test_classifying_a_long_piece_in_batches_gives_the_unbatched_numbers():
    generator = Generator.load()
    bars = codec.encode(CASES / "21b_long_750_bars.mid").bars[:12]
    mu_r, mu_k, p_a, p_v = generator.encode_piece(bars, chunk=1)
    for chunk in (5, None):
        r, k, a, v = generator.encode_piece(bars, chunk=chunk)
        assert torch.allclose(r, mu_r, atol=1e-5) and torch.allclose(k, mu_k, atol=1e-5)
        assert abs(float(a - p_a)) < 1e-5 and abs(float(v - p_v)) < 1e-5
