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
from cdgmvae.engine.prior import LatentPrior, PriorState, fit_prior, key_chain
from cdgmvae.training.dataset import UNKNOWN, load_prepared
from cdgmvae.training.latent_prior import encode_pieces
from helpers_model import TINY, one_thread, write_fake_dataset

_one_thread = pytest.fixture(autouse=True)(one_thread)
ROOT = Path(__file__).parent.parent
QUADRANTS = [(1.0, 1.0), (0.0, 1.0), (0.0, 0.0), (1.0, 0.0)]  # (valence, arousal)


def draws(prior: LatentPrior, controls, n: int, bars: int, seed: int = 0, tonic: int = 0,
          keys: list | None = None) -> np.ndarray:
    """[n, bars, 2l]: n chains of bars under fixed controls (`keys`: each bar's key is appended to it)."""
    rng = torch.Generator().manual_seed(seed)
    two_l = 2 * prior.d_latent
    states = [None] * n
    chain = []
    for _ in range(bars):
        drawn = []
        for i in range(n):
            z, key = prior.draw(torch.randn(1, two_l, generator=rng), controls, states[i], rng=rng, tonic=tonic)
            states[i] = PriorState(z[0], controls, key)
            drawn.append(z[0])
            if keys is not None:
                keys.append(key)
        chain.append(torch.stack(drawn))
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
    prior = fit_prior(sequences, controls, kind="ar1")
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
    assert torch.count_nonzero(prior.tensors["z_transition"]) == 0
    drawn = draws(prior, (1.0, 1.0), 400, 4)
    d = drawn - drawn.mean((0, 1))
    assert abs(np.sum(d[:, 1:] * d[:, :-1]) / np.sum(d * d)) < 0.05


def test_the_key_chain_counts_key_changes_the_same_for_every_tonic():
    # C major twice then G major (stay, up a fifth); C minor twice (stay); one more of each kind (Laplace)
    chain = key_chain([np.array([0, 0, 7]), np.array([12, 12])])
    assert chain[0, 0] == pytest.approx(2 / 26) and chain[0, 7] == pytest.approx(2 / 26)
    assert chain[0, 12] == pytest.approx(1 / 26) and chain[0, 5] == pytest.approx(1 / 26)
    assert chain[2, 9] == pytest.approx(2 / 26)  # D major up a fifth to A major: the same as C to G
    assert chain[12, 12] == pytest.approx(2 / 25) and chain[12, 0] == pytest.approx(1 / 25)
    assert np.allclose(chain.sum(1), 1)


def keyed_fixture(rng: np.random.Generator, axis_k: np.ndarray | None = None, d: int = 8, pieces: int = 96):
    """Pieces in one key each (major when valence is high), z_k around its key's mean, z_r around its
    quadrant's; with `axis_k` [2, l], major keys' means sit near axis_k[1] and minor keys' near axis_k[0]."""
    key_means = rng.normal(size=(24, d)) * 0.3
    if axis_k is not None:
        key_means[:12] += axis_k[1]
        key_means[12:] += axis_k[0]
    sequences, controls, keys = [], [], []
    for i in range(pieces):
        v, a = QUADRANTS[i % 4]
        key = int(rng.integers(12)) + (0 if v else 12)
        n = int(rng.integers(6, 12))
        z_r = rng.normal(size=(n, d)) * 0.3 + a
        z_k = key_means[key] + rng.normal(size=(n, d)) * 0.2
        sequences.append(np.concatenate([z_r, z_k], 1))
        controls.append((v, a))
        keys.append(np.full(n, key))
    return fit_prior(sequences, np.array(controls), "keyed", keys), key_means


def test_keyed_valence_chooses_the_mode_and_the_first_bar_is_on_the_tonic():
    prior, _ = keyed_fixture(np.random.default_rng(0))
    rng = torch.Generator().manual_seed(0)
    z = torch.zeros(16)
    for valence, minor in ((1.0, False), (0.0, True)):
        for key in range(24):
            state = PriorState(z, (0.5, 0.5), key)
            assert all((prior.next_key(state, valence, 0, rng) >= 12) == minor for _ in range(20))
    # the first bar: on the tonic, major from valence 0.5 (A = 9, A minor = 21, E major = 4, F# minor = 18)
    assert {prior.next_key(None, 0.5, 9, rng) for _ in range(20)} == {9}
    assert {prior.next_key(None, 0.49, 9, rng) for _ in range(20)} == {21}
    assert {prior.next_key(None, 1.0, 4, rng) for _ in range(20)} == {4}
    assert {prior.next_key(None, 0.0, 18, rng) for _ in range(20)} == {18}


def test_keyed_a_key_given_by_the_caller_is_the_bar_key():
    """Key guidance's scale lock fixes the key: the draw sits at that key's mean whatever the chain says."""
    prior, key_means = keyed_fixture(np.random.default_rng(0))
    rng = torch.Generator().manual_seed(0)
    d = key_means.shape[1]
    fitted_means = prior.tensors["z_k_mean"]
    # the last bar at key 3's mean: no deviation carries on, so at variety 0 the bar sits at its key's mean
    state = PriorState(torch.cat([torch.zeros(d), fitted_means[3]]), (0.5, 0.5), 3)
    for key in (0, 7, 14, 23):
        z, drawn_key = prior.draw(torch.zeros(1, 2 * d), (0.0, 0.5), state, 0.0, rng, tonic=5, key=key)
        assert drawn_key == key
        torch.testing.assert_close(z[0, d:], fitted_means[key])
        # and the fitted means are the fixture's (each key's bars were drawn around them)
        assert np.abs(fitted_means[key].numpy() - key_means[key]).max() < 0.15


def test_keyed_draws_sit_at_their_keys_mean():
    prior, key_means = keyed_fixture(np.random.default_rng(1))
    keys = []
    drawn = draws(prior, (0.0, 1.0), 50, 6, keys=keys, tonic=2)
    z_k = drawn[..., 8:].transpose(1, 0, 2).reshape(-1, 8)  # bar by bar, as the keys were appended
    assert keys[:50] == [14] * 50  # D minor first
    assert np.abs(z_k - key_means[keys]).mean() < 0.35


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
    return fit_prior(sequences, np.array(controls), kind="ar1")


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


def test_keyed_draws_fall_on_their_side_of_the_valence_axis(model):
    axis_k = model.prior_k.means.detach().numpy()
    prior, _ = keyed_fixture(np.random.default_rng(2), axis_k)
    for valence, high in ((1.0, True), (0.0, False)):
        z = torch.as_tensor(draws(prior, (valence, 0.5), 60, 4, tonic=5).reshape(-1, 2 * TINY.d_latent))
        position = along_axes(model, *prior.split(z))[1]
        assert ((position > 0.5) == high).mean() > 0.9


def test_a_new_tonic_moves_the_key_of_a_keyed_prior_with_it(model):
    prior, _ = keyed_fixture(np.random.default_rng(3))
    prior.tensors["key_chain"] = torch.eye(24)  # a chain that never leaves its key
    generator = Generator(model, seed=0, prior=prior, controls=Controls(valence=0.0, arousal=0.5))
    generator.tonic = 2
    generator.next_bar()
    assert generator.key == 14  # D minor
    generator.tonic = 7
    generator.next_bar()
    assert generator.key == 19  # G minor: the same mode on the new tonic
    # valence 1 asks for a major key, but this chain has no way out of G minor: it stays there
    assert prior.next_key(PriorState(torch.zeros(16), (1.0, 0.5), 19), 1.0, 7) == 19
    generator.reset(0)
    played = [b.tokens for b in Generator(model, seed=1).generate(2)]
    generator.continue_from(played)
    assert generator.key is None or generator.key % 12 == generator.tonic


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



def played_bars(pattern: list[tuple[int, int, int]], bars: int = 4) -> list[list[int]]:
    """Bars of piano tokens, each holding `pattern` ((pitch, onset in 16ths, length in 16ths))."""
    from cdgmvae.engine import codec
    from cdgmvae.engine.notes import GridNote
    notes = [GridNote(0, pitch, 80, onset, length) for pitch, onset, length in pattern]
    return [codec.bar_tokens(notes, 8)[0] for _ in range(bars)]


def test_live_transfer_with_the_bundled_prior_goes_on_as_played_at_lambda_0_and_leaves_it_at_1():
    """Eq 23 with the prior: at lambda 0 the bars after a live transfer keep the played bars' density (sixteenths
    against one whole note a bar); at lambda 1 they move to the target at once, so the two performances give
    nearly the same density (same seed, same target; only the decoder's memory of the played bar differs)."""
    one_thread()
    dense = played_bars([(60 + (i % 8), i, 1) for i in range(16)])
    sparse = played_bars([(60, 0, 16)])
    generator = Generator.load(seed=0)
    assert generator.prior is not None
    counts = {}
    for lam in (0.0, 1.0):
        for name, bars in (("dense", dense), ("sparse", sparse)):
            generator.controls = Controls(valence=0.5, arousal=0.5, lam=lam, key_strength=0.0)
            generator.reset(1)
            generator.continue_from(bars)
            made = [generator.next_bar() for _ in range(4)]
            counts[lam, name] = np.mean([len(b.notes) for b in made])
    assert counts[0.0, "dense"] > 4 > counts[0.0, "sparse"], counts  # 4: the geometric mean of 16 and 1
    assert abs(counts[1.0, "dense"] - counts[1.0, "sparse"]) < 0.5 * (counts[0.0, "dense"] - counts[0.0, "sparse"])

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
    """The statistics of the encoder's own posterior means, computed here from the model, against draws of
    the keyed prior: z_r per quadrant, z_k per key (the fake data's pieces are in C major when their
    valence is high and in A minor when it is low)."""
    train, _ = load_prepared(data, TINY.bar_len)
    assert (fitted["pieces"], fitted["labelled_pieces"], fitted["kind"]) == (len(train), 16, "keyed")
    prior = LatentPrior.load(checkpoint / "prior.json")
    n_latent = TINY.d_latent
    z_r, z_k, labels, keys = [], [], [], []
    with torch.no_grad():
        for piece in train:
            encoded = model.encode(torch.as_tensor(piece.tokens, dtype=torch.long)[None])
            z_r.append(encoded.mu_r[0].numpy())
            z_k.append(encoded.mu_k[0].numpy())
            labels += [(piece.valence, piece.arousal)] * piece.n_bars
            keys += list(piece.key)
    z_r, z_k, labels, keys = np.concatenate(z_r), np.concatenate(z_k), np.array(labels), np.array(keys)
    r_dev, k_dev = z_r.copy(), z_k.copy()
    for c in [(1, 1), (0, 1), (0, 0), (1, 0)]:
        r_dev[(labels == c).all(1)] -= z_r[(labels == c).all(1)].mean(0)
    for key in (0, 21):
        k_dev[keys == key] -= z_k[keys == key].mean(0)
    for (v, a), tonic, key in [((1, 1), 0, 0), ((0, 0), 9, 21)]:  # C major, A minor
        first = []
        drawn = draws(prior, (v, a), 400, 1, tonic=tonic, keys=first).reshape(-1, 2 * n_latent)
        assert set(first) == {key}
        ours_r, ours_k = z_r[(labels == (v, a)).all(1)], z_k[keys == key]
        assert np.abs(drawn[:, :n_latent].mean(0) - ours_r.mean(0)).max() < 0.35 * ours_r.std(0).mean(), (v, a)
        assert np.abs(drawn[:, n_latent:].mean(0) - ours_k.mean(0)).max() < 0.35 * ours_k.std(0).mean(), key
    drawn = draws(prior, (1, 1), 2000, 1).reshape(-1, 2 * n_latent)
    for ours, theirs in ((r_dev, drawn[:, :n_latent]), (k_dev, drawn[:, n_latent:])):
        cov = np.cov(ours.T)
        assert np.abs(np.cov(theirs.T) - cov).max() < 0.15 * np.abs(cov).max()


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
        assert generator.prior is not None and generator.prior.kind == "keyed"
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
