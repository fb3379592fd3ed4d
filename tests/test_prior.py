"""The latent prior over bar latents (engine/prior.py), `cdgmvae fit-prior`, and the generator with and
without one."""
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from cdgmvae.engine.checkpoint import save_model
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.generator import Controls, Generator
from cdgmvae.engine.grammar import is_valid_bar
from cdgmvae.engine.model import CDGMVAE
from cdgmvae.engine.prior import LatentPrior, fit_prior
from cdgmvae.training.dataset import UNKNOWN, load_prepared
from cdgmvae.training.latent_prior import encode_pieces
from helpers_model import TINY, one_thread, write_fake_dataset

_one_thread = pytest.fixture(autouse=True)(one_thread)
ROOT = Path(__file__).parent.parent
QUADRANTS = [(1.0, 1.0), (0.0, 1.0), (0.0, 0.0), (1.0, 0.0)]  # (valence, arousal)


def draws(prior: LatentPrior, controls, n: int, bars: int, seed: int = 0) -> np.ndarray:
    """[n, bars, 2l]: n chains of bars under fixed controls."""
    rng = torch.Generator().manual_seed(seed)
    z = prior.draw(torch.randn(n, prior.mean_weights.shape[1], generator=rng), controls)
    chain = [z]
    for _ in range(bars - 1):
        z = torch.stack([prior.draw(torch.randn(1, z.shape[1], generator=rng), controls, row, controls)[0]
                         for row in z])
        chain.append(z)
    return torch.stack(chain, dim=1).numpy()


def synthetic(rng: np.random.Generator, pieces: int = 200, d: int = 6, persistence: float = 0.8):
    """Pieces whose latents follow a known AR(1) around a mean that depends on the quadrant."""
    means = {c: rng.normal(size=d) * 2 for c in QUADRANTS}
    mixing = rng.normal(size=(d, d)) * 0.5
    sequences, controls = [], []
    for i in range(pieces):
        c = QUADRANTS[i % 4]
        deviation = rng.normal(size=d) @ mixing / np.sqrt(1 - persistence ** 2)
        bars = []
        for _ in range(int(rng.integers(8, 24))):
            bars.append(means[c] + deviation)
            deviation = persistence * deviation + rng.normal(size=d) @ mixing
        sequences.append(np.array(bars))
        controls.append(c)
    return sequences, np.array(controls), means


def lag_one_correlation(chains) -> float:
    """Correlation of each bar's deviation with the previous bar's, pooled over chains [bars, d]."""
    later = np.concatenate([c[1:] for c in chains])
    earlier = np.concatenate([c[:-1] for c in chains])
    return float(np.sum(later * earlier) / np.sqrt(np.sum(later ** 2) * np.sum(earlier ** 2)))


def test_draws_match_the_mean_covariance_and_persistence_of_the_fitted_sequences():
    sequences, controls, _ = synthetic(np.random.default_rng(0))
    prior = fit_prior(sequences, controls)
    data, drawn = [], []
    for c in QUADRANTS:
        ours = [s for s, k in zip(sequences, controls) if tuple(k) == c]
        mean = np.concatenate(ours).mean(0)
        chains = draws(prior, c, 400, 6, seed=1)
        assert np.abs(chains.reshape(-1, 6).mean(0) - mean).max() < 0.25, c
        data += [s - mean for s in ours]
        drawn += list(chains - chains.reshape(-1, 6).mean(0))
    cov_data, cov_drawn = np.cov(np.concatenate(data).T), np.cov(np.concatenate(drawn).T)
    assert np.abs(cov_drawn - cov_data).max() < 0.15 * np.abs(cov_data).max()
    # bar to bar, the draws persist as the data do (0.8), where independent draws would not (0)
    assert lag_one_correlation(data) > 0.7
    assert abs(lag_one_correlation(drawn) - lag_one_correlation(data)) < 0.08


def test_gauss_kind_draws_bars_independently():
    sequences, controls, _ = synthetic(np.random.default_rng(0))
    prior = fit_prior(sequences, controls, kind="gauss")
    assert torch.count_nonzero(prior.transition) == 0
    drawn = draws(prior, (1.0, 1.0), 400, 4)
    d = drawn - drawn.mean((0, 1))
    assert abs(np.sum(d[:, 1:] * d[:, :-1]) / np.sum(d * d)) < 0.05


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return CDGMVAE(TINY).eval()


def along_axes(model, z_r, z_k):
    """Positions of latents on the arousal and valence axes (0: low component mean, 1: high)."""
    def along(z, means):
        means = means.detach()
        axis = means[1] - means[0]
        return ((z - means[0]) @ axis / axis.dot(axis)).numpy()
    return along(z_r, model.prior_r.means), along(z_k, model.prior_k.means)


@pytest.fixture(scope="module")
def steered_prior(model):
    """Fitted on latents whose z_k lies toward the valence component of each piece's label and z_r toward
    its arousal component, with piece-to-piece spread and persistent deviations."""
    rng = np.random.default_rng(1)
    d_latent = TINY.d_latent
    means_r, means_k = model.prior_r.means.detach().numpy(), model.prior_k.means.detach().numpy()
    sequences, controls = [], []
    for i in range(160):
        v, a = QUADRANTS[i % 4]
        centre = np.concatenate([means_r[int(a)], means_k[int(v)]])
        deviation = rng.normal(size=2 * d_latent) * 0.3
        bars = []
        for _ in range(10):
            bars.append(centre + deviation)
            deviation = 0.7 * deviation + rng.normal(size=2 * d_latent) * 0.2
        sequences.append(np.array(bars))
        controls.append((v, a))
    return fit_prior(sequences, np.array(controls))


def test_high_and_low_valence_draws_fall_on_their_side_of_the_valence_axis(model, steered_prior):
    positions = {}
    for v in (0.0, 0.5, 1.0):
        for a in (0.0, 1.0):
            z = torch.as_tensor(draws(steered_prior, (v, a), 100, 4).reshape(-1, 2 * TINY.d_latent))
            positions[v, a] = along_axes(model, *steered_prior.split(z))
    for a in (0.0, 1.0):
        assert (positions[1.0, a][1] > 0.5).mean() > 0.9 and (positions[0.0, a][1] < 0.5).mean() > 0.9
        assert abs(np.median(positions[0.5, a][1]) - 0.5) < 0.1  # graded: halfway between
    for v in (0.0, 1.0):  # and arousal on its own axis
        assert (positions[v, 1.0][0] > 0.5).mean() > 0.9 and (positions[v, 0.0][0] < 0.5).mean() > 0.9


def test_the_generator_draws_from_the_prior_and_steers_bar_by_bar(model, steered_prior):
    generator = Generator(model, seed=0, prior=steered_prior, controls=Controls(valence=0.0, arousal=0.0, lam=1.0))
    generator.state_from_bars = False  # the drawn latents stay the state, so the test sees them
    valence = []
    for bar in range(8):
        if bar == 4:
            generator.set_controls(valence=1.0, lam=1.0)
        out = generator.next_bar()
        assert is_valid_bar(out.tokens, TINY.bar_len)
        valence.append(along_axes(model, generator.z_r, generator.z_k)[1])
        assert out.valence == (0.0 if bar < 4 else 1.0)
    assert max(valence[:4]) < 0.5 < min(valence[4:])  # the change lands at the next bar
    generator.set_controls(valence=0.0, lam=0.25)
    generator.next_bar()
    assert generator.path == (0.75, 0.0)  # lambda: a quarter of the way per bar


def test_the_state_is_the_key_the_encoder_hears_in_the_bar_played(model, steered_prior):
    generator = Generator(model, seed=0, prior=steered_prior)
    bars = [generator.next_bar().tokens]
    for _ in range(2):
        drawn_before = generator.z_r.clone()
        bars.append(generator.next_bar().tokens)
        assert not torch.equal(generator.z_r, drawn_before)
        padded = torch.zeros(1, 2, TINY.bar_len, dtype=torch.long)
        for i, tokens in enumerate(bars[-2:]):
            padded[0, i, : len(tokens)] = torch.as_tensor(tokens)
        with torch.no_grad():
            heard = model.encode(padded)  # both encoders, the bar before as memory
        assert torch.allclose(generator.z_k, heard.mu_k[0, -1], atol=1e-5)
        assert not torch.allclose(generator.z_r, heard.mu_r[0, -1], atol=1e-3)  # z_r: the drawn one


def test_the_same_seed_gives_the_same_draws_and_bars(model, steered_prior):
    runs = []
    for seed in (5, 5, 6):
        generator = Generator(model, seed=seed, prior=steered_prior, controls=Controls.for_emotion("calm"))
        bars, latents = [], []
        for _ in range(3):
            bars.append(generator.next_bar().tokens)
            latents.append(torch.cat([generator.z_r, generator.z_k]))
        runs.append((bars, torch.stack(latents)))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
    assert not torch.equal(runs[0][1], runs[2][1])


def test_live_transfer_continues_from_the_played_bars_latents_and_emotion(model, steered_prior):
    generator = Generator(model, seed=0, prior=steered_prior)
    played = generator.generate(3)
    generator.continue_from([b.tokens for b in played])
    mu_r, mu_k, p_a, p_v = generator.encode_piece([b.tokens for b in played])
    assert torch.equal(generator.z_r, mu_r[-1]) and generator.path == (float(p_v), float(p_a))
    assert is_valid_bar(generator.next_bar().tokens, TINY.bar_len)


# --- fit-prior, files, fallbacks ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, model):
    folder = tmp_path_factory.mktemp("model")
    save_model(model, folder, step=1)
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_fake_dataset(tmp_path_factory.mktemp("data"), n_train=16, n_unlabelled=0)


def fit_command(*args):
    return subprocess.run([sys.executable, "-m", "cdgmvae", "fit-prior", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
                                                     "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def fitted(checkpoint, data):
    result = fit_command("--checkpoint", checkpoint, "--data", data, "--quiet")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_fit_prior_matches_the_encoded_latents_of_the_training_pieces(model, checkpoint, data, fitted):
    """The statistics of the encoder's own posterior means, computed here from the model, against draws."""
    train, _ = load_prepared(data, TINY.bar_len)
    assert (fitted["pieces"], fitted["labelled_pieces"]) == (len(train), 16)
    prior = LatentPrior.load(checkpoint / "prior.json")
    latents, labels = [], []
    with torch.no_grad():
        for piece in train:
            tokens = torch.as_tensor(piece.tokens, dtype=torch.long)[None]
            encoded = model.encode(tokens)
            latents.append(torch.cat([encoded.mu_r[0], encoded.mu_k[0]], -1).numpy())
            labels.append((piece.valence, piece.arousal))
    for c in [(1, 1), (0, 0)]:
        ours = np.concatenate([z for z, k in zip(latents, labels) if k == c])
        drawn = draws(prior, c, 300, 1).reshape(-1, ours.shape[1])
        spread = ours.std(0).mean()
        assert np.abs(drawn.mean(0) - ours.mean(0)).max() < 0.35 * spread, c
    deviations = [z - np.concatenate([x for x, k in zip(latents, labels) if k == lab]).mean(0)
                  for z, lab in zip(latents, labels)]
    cov = np.cov(np.concatenate(deviations).T)
    drawn = draws(prior, (1, 1), 2000, 1).reshape(-1, cov.shape[0])
    assert np.abs(np.cov(drawn.T) - cov).max() < 0.15 * np.abs(cov).max()


def test_unlabelled_pieces_are_conditioned_on_the_emotion_q_y_x_hears_in_them(tmp_path, model, checkpoint):
    data = write_fake_dataset(tmp_path / "data", n_train=0, n_val=0, n_unlabelled=3)
    train, _ = load_prepared(data, TINY.bar_len)
    generator = Generator(model)
    encoded_by_id = {e.id: e for e in encode_pieces(model, train, progress=False)}
    assert len(encoded_by_id) == 3
    for piece in train:
        encoded = encoded_by_id[piece.id]
        assert piece.valence == UNKNOWN and not encoded.labelled
        bars = [[int(t) for t in bar if t] for bar in piece.tokens]
        _, _, p_a, p_v = generator.encode_piece(bars)  # what `cdgmvae classify` reports
        assert encoded.controls == pytest.approx((float(p_v), float(p_a)), abs=1e-5)


def test_a_checkpoint_with_a_prior_generates_from_it_and_the_same_seed_repeats(checkpoint, fitted):
    bars = []
    for _ in range(2):
        generator = Generator.load(checkpoint, seed=3)
        assert generator.prior is not None and generator.prior.kind == "ar1"
        bars.append([b.tokens for b in generator.generate(3)])
    assert bars[0] == bars[1]


def test_a_checkpoint_without_a_prior_still_generates_with_a_note(tmp_path, model):
    save_model(model, tmp_path, step=1)
    generator = Generator.load(tmp_path, seed=0)
    assert generator.prior is None
    with pytest.warns(UserWarning, match="no latent prior"):
        bar = generator.next_bar()
    assert is_valid_bar(bar.tokens, TINY.bar_len)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        generator.next_bar()  # the note once, not every bar


def test_a_prior_fitted_on_other_weights_is_not_used(tmp_path, checkpoint, fitted, model):
    other = CDGMVAE(TINY).eval()
    save_model(other, tmp_path, step=1)
    for name in ("prior.json", "prior.safetensors"):
        (tmp_path / name).write_bytes((checkpoint / name).read_bytes())
    generator = Generator.load(tmp_path, seed=0)
    assert generator.prior is None
    with pytest.warns(UserWarning, match="fitted on other weights"):
        generator.next_bar()


def test_a_damaged_prior_is_refused_in_one_line(tmp_path, checkpoint, fitted, model):
    save_model(model, tmp_path, step=1)
    (tmp_path / "prior.json").write_bytes((checkpoint / "prior.json").read_bytes())
    (tmp_path / "prior.safetensors").write_bytes((checkpoint / "prior.safetensors").read_bytes()[:-10])
    with pytest.raises(UserError, match="prior.safetensors is truncated or damaged"):
        Generator.load(tmp_path)
    result = subprocess.run([sys.executable, "-m", "cdgmvae", "generate", "--checkpoint", str(tmp_path),
                             "--emotion", "happy", "--out", str(tmp_path / "x.mid")], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "prior.safetensors" in result.stderr


def test_fit_prior_says_what_is_wrong_with_its_input(tmp_path, checkpoint):
    result = fit_command("--checkpoint", checkpoint, "--data", tmp_path / "nothing")
    assert result.returncode == 2 and "does not exist" in result.stderr
