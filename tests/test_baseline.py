import numpy as np
from cdgmvae.engine import vocab as V
from cdgmvae.engine.notes import GridNote
from cdgmvae.training.baseline import FEATURES, LogisticRegression, accuracies, clip_features


def test_clip_features_by_hand():
    bars = [[GridNote(V.PIANO, 60, 40, 0, 4), GridNote(V.PIANO, 64, 80, 4, 2)], [GridNote(V.DRUMS, 36, 120, 0, 1)]]
    f = dict(zip(FEATURES, clip_features(bars)))
    assert f["note_density"] == 1.5
    assert f["velocity_mean"] == 80 and np.isclose(f["velocity_spread"], np.std([40, 80, 120]))
    assert np.isclose(f["duration_mean"], 7 / 3)
    assert f["pitch_mean"] == 62 and f["pitch_spread"] == 2  # drums do not count for pitch
    minor = [[GridNote(V.PIANO, p, 80, i * 2, 2) for i, p in enumerate([57, 60, 64, 69, 57, 60, 64, 69])]]
    major = [[GridNote(V.PIANO, p, 80, i * 2, 2) for i, p in enumerate([60, 64, 67, 72, 60, 64, 67, 72])]]
    assert clip_features(major)[-1] > 0 > clip_features(minor)[-1]


def test_logistic_regression_learns_a_separable_rule_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(FEATURES)))
    y = np.stack([x[:, 0] > 0, x[:, 6] - x[:, 1] > 0], axis=1).astype(int)
    model = LogisticRegression.fit(x[:300], y[:300])
    acc = accuracies(model.probabilities(x[300:]), y[300:])
    assert acc["arousal"] > 0.9 and acc["valence"] > 0.9 and acc["n"] == 100
    model.save(tmp_path / "b.json")
    again = LogisticRegression.load(tmp_path / "b.json")
    assert np.allclose(again.probabilities(x[:5]), model.probabilities(x[:5]))
