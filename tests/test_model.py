"""Model structure: segment memory, gradient stopping, overfitting one segment, checkpoints."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from cdgmvae.engine import vocab
from cdgmvae.engine.checkpoint import load_checkpoint, load_model, save_checkpoint, save_model
from cdgmvae.engine.config import PRESETS, ModelConfig
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.model import CDGMVAE
from cdgmvae.training.batch import Batch
from cdgmvae.training.losses import LossSettings, total_loss
from helpers_model import TINY, fake_bar, one_thread

_one_thread = pytest.fixture(autouse=True)(one_thread)


def _segment(batch=2, config=TINY, seed=0):
    rng = np.random.default_rng(seed)
    tokens = np.stack([np.stack([fake_bar(rng, config.bar_len, high=bool(b % 2)) for _ in range(config.n_bars)])
                       for b in range(batch)])
    return torch.from_numpy(tokens.astype(np.int64))


def test_presets():
    paper = PRESETS["paper"]
    assert (paper.n_layers, paper.n_heads, paper.d_model, paper.d_latent, paper.n_bars, paper.bar_len) == \
        (12, 8, 512, 128, 20, 128)
    assert ModelConfig.from_dict(PRESETS["small"].to_dict()) == PRESETS["small"]
    with pytest.raises(UserError, match="unknown model config keys"):
        ModelConfig.from_dict({**TINY.to_dict(), "n_experts": 4})


def test_forward_shapes_and_eval_uses_the_mean():
    torch.manual_seed(0)
    model = CDGMVAE(TINY).eval()
    tokens = _segment()
    bar_mask = torch.ones(2, TINY.n_bars, dtype=torch.bool)
    out = model(tokens, bar_mask)
    assert out.logits.shape == (2, TINY.n_bars, TINY.bar_len - 1, vocab.VOCAB_SIZE)
    assert out.z_r.shape == out.latents.mu_r.shape == (2, TINY.n_bars, TINY.d_latent)
    assert out.log_q_arousal.shape == out.log_q_valence.shape == (2, 2)
    assert out.rhythm_pred.shape == (2, TINY.n_bars, 16) and out.key_logits_adv.shape == (2, TINY.n_bars, 24)
    assert torch.equal(out.z_r, out.latents.mu_r)
    log_q_a, _ = model.infer_emotion(tokens, bar_mask, n_samples=8)
    torch.testing.assert_close(log_q_a.exp().sum(-1), torch.ones(2))


def test_decoder_memory_equals_one_pass_over_both_bars():
    """Bar 2 decoded with bar 1 as memory = one causal pass over both bars whose bar-2 queries see bar 1's
    real tokens (the memory mask), with the same relative distances."""
    torch.manual_seed(1)
    model = CDGMVAE(TINY).double().eval()  # float64: the two paths sum in different orders
    tokens = _segment(config=TINY)[:, :2, :-1]  # [B, 2, n] decoder inputs of two bars
    B, _, n = tokens.shape
    assert (tokens[:, 0] == vocab.PAD).any(), "bar 1 should have padding for the memory mask to matter"
    z_r, z_k = torch.randn(B, 2, TINY.d_latent).double(), torch.randn(B, 2, TINY.d_latent).double()

    logits1, memory = model.decode_bar(tokens[:, 0], z_r[:, 0], z_k[:, 0])
    logits2, _ = model.decode_bar(tokens[:, 1], z_r[:, 1], z_k[:, 1], memory)

    xl = model.decoder
    both = tokens.reshape(B, 2 * n)
    inject = model.z_injection(z_r, z_k).repeat_interleave(n, dim=1)  # bar τ's z on each of its tokens
    # memory token j sits at j - L relative to the next bar, so in one pass bar 2 starts at position L
    pos = torch.cat([torch.arange(n), TINY.bar_len + torch.arange(n)])
    in_bar1 = torch.arange(2 * n) < n
    real = both != vocab.PAD
    allowed = (pos[:, None] >= pos[None, :]) & (in_bar1[None, None, :].logical_not() | in_bar1[None, :, None]
                                                | real[:, None, :])
    out, _ = xl.run(model.embed(both), None, xl.rel_index(pos, pos), allowed, inject)
    joint = model.head(out)
    torch.testing.assert_close(logits1, joint[:, :n], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(logits2, joint[:, n:], rtol=1e-10, atol=1e-10)
    # the memory matters: without it bar 2 comes out different
    alone, _ = model.decode_bar(tokens[:, 1], z_r[:, 1], z_k[:, 1])
    assert (alone - logits2).abs().max() > 1e-3


def test_token_dropout_hides_the_decoders_input_tokens_in_training_only():
    torch.manual_seed(0)
    model = CDGMVAE(TINY)
    tokens = _segment(batch=1)[:, 0, :-1]
    other = tokens.clone()
    other[:, 1:] = vocab.EOS  # the same Bar token, every later token different
    z = torch.randn(1, TINY.d_latent)

    def logits(x, p):
        torch.manual_seed(1)
        return model.decode_bar(x, z, z, token_dropout=p)[0]

    # all but the Bar token hidden: the logits no longer depend on the input tokens
    torch.testing.assert_close(logits(tokens, 0.999999), logits(other, 0.999999))
    assert not torch.allclose(logits(tokens, 0.0), logits(other, 0.0))
    model.eval()  # at generation time nothing is hidden
    assert not torch.allclose(logits(tokens, 0.999999), logits(other, 0.999999))
    torch.testing.assert_close(logits(tokens, 0.999999), logits(tokens, 0.0))


def test_memory_stops_the_gradient():
    torch.manual_seed(2)
    model = CDGMVAE(TINY)
    tokens = _segment()[:, :2, :-1]
    x1 = model.embed(tokens[:, 0]).detach().requires_grad_()
    _, memory = model.decoder(x1, causal=True)
    out, _ = model.decoder(model.embed(tokens[:, 1]), memory, tokens[:, 0] != vocab.PAD, causal=True)
    out.sum().backward()
    assert x1.grad is None
    assert all(not m.requires_grad for m in memory)


def test_tiny_model_overfits_one_segment():
    torch.manual_seed(3)
    config = replace(TINY, d_model=64, d_ff=128)
    model = CDGMVAE(config)
    tokens = _segment(batch=2, config=config, seed=4)
    batch = Batch(tokens=tokens, bar_mask=torch.ones(2, config.n_bars, dtype=torch.bool),
                  rhythm=torch.rand(2, config.n_bars, 16), key=torch.tensor([[0] * config.n_bars, [5] * config.n_bars]),
                  arousal=torch.tensor([1, 0]), valence=torch.tensor([0, 1]))
    settings = LossSettings(beta_max=0.01, beta_warmup=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(200):
        loss, terms = total_loss(model(tokens, batch.bar_mask), batch, model.prior_r, model.prior_k, 0.01, settings)
        first = first if first is not None else terms["rec"].item()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    model.eval()
    _, terms = total_loss(model(tokens, batch.bar_mask), batch, model.prior_r, model.prior_k, 0.01, settings)
    assert first > 5.0
    assert terms["rec"].item() < 0.05, terms


def test_checkpoint_round_trip_and_clear_errors(tmp_path):
    torch.manual_seed(5)
    model = CDGMVAE(TINY).eval()
    save_model(model, tmp_path, step=7)
    loaded, config = load_model(tmp_path)
    assert config == TINY and not loaded.training
    tokens = _segment()
    bar_mask = torch.ones(2, TINY.n_bars, dtype=torch.bool)
    torch.testing.assert_close(loaded(tokens, bar_mask).logits, model(tokens, bar_mask).logits, rtol=0, atol=0)
    assert load_model(tmp_path / "model.safetensors")[1] == TINY
    (tmp_path / "plain.txt").write_text("")  # written files get the mode any new file gets, not 0600
    plain_mode = (tmp_path / "plain.txt").stat().st_mode & 0o777
    assert {(tmp_path / f).stat().st_mode & 0o777 for f in ("model.json", "model.safetensors")} == {plain_mode}

    weights = tmp_path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated"):
        load_model(tmp_path)
    weights.write_bytes(data[:-10] + b"\0" * 10)  # same size, damaged inside
    with pytest.raises(UserError, match="damaged|fit"):
        load_model(tmp_path)
    weights.write_bytes(data)

    header_path = tmp_path / "model.json"
    header = json.loads(header_path.read_text())
    header_path.write_text(json.dumps({**header, "vocab_fingerprint": "0123456789abcdef"}))
    with pytest.raises(UserError, match="another vocabulary"):
        load_model(tmp_path)
    header_path.write_text(json.dumps({**header, "config": {**header["config"], "d_latent": 16}}))
    with pytest.raises(UserError, match=r"wrong shapes: enc_r\.to_mu\.weight \(8, 32\) != \(16, 32\)"):
        load_model(tmp_path)
    header_path.write_text(json.dumps({**header, "config": {**header["config"], "n_layers": 2}}))
    with pytest.raises(UserError, match=r"missing keys: decoder\.blocks\.1"):
        load_model(tmp_path)
    header_path.write_text(json.dumps(header)[:40])
    with pytest.raises(UserError, match="not valid JSON"):
        load_model(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        load_model(tmp_path / "nothing.json")


def test_training_checkpoint_restores_optimizer_and_refuses_another_config(tmp_path):
    torch.manual_seed(6)
    model = CDGMVAE(TINY)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    tokens = _segment()
    model(tokens, torch.ones(2, TINY.n_bars, dtype=torch.bool)).logits.sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path, ["last"], model, optimizer, 1, {"note": "x"})
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))

    restored = CDGMVAE(TINY)
    restored_opt = torch.optim.Adam(restored.parameters(), lr=1e-3)
    header = load_checkpoint(tmp_path / "last.json", restored, restored_opt, TINY)
    assert header["step"] == 1 and header["note"] == "x"
    assert len(restored_opt.state) == len(optimizer.state) > 0
    for (name, p), q in zip(model.named_parameters(), restored.parameters()):
        assert torch.equal(p, q), name
        for key in optimizer.state.get(p, {}):
            assert torch.equal(optimizer.state[p][key], restored_opt.state[q][key]), (name, key)
    with pytest.raises(UserError, match="another model config"):
        load_checkpoint(tmp_path / "last.json", CDGMVAE(replace(TINY, dropout=0.1)), restored_opt,
                        replace(TINY, dropout=0.1))
    save_checkpoint(tmp_path, ["last"], model, optimizer, 2, {})
    assert [p.name for p in tmp_path.glob("step-*")] == ["step-00000002.safetensors"]
