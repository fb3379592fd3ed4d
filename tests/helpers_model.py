"""Shared by the model, loss and trainer tests: a tiny config and a fake prepared dataset."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from cdgmvae.engine import vocab
from cdgmvae.engine.config import ModelConfig

TINY = ModelConfig(n_layers=1, n_enc_layers=1, n_heads=2, d_model=32, d_ff=64, d_latent=8, n_bars=3,
                   bar_len=24, dropout=0.0)


def fake_bar(rng: np.random.Generator, bar_len: int, high: bool) -> np.ndarray:
    """Bar Tempo (Position Pitch Velocity Duration)* EOS, PAD after; 'high' bars are denser."""
    tokens = [vocab.BAR, vocab.tempo_token(int(rng.integers(0, 24)))]
    n_notes = int(rng.integers(3, 5) if high else rng.integers(1, 3))
    for position in sorted(rng.choice(16, size=n_notes, replace=False)):
        tokens += [vocab.position_token(int(position)), vocab.pitch_token(1, int(rng.integers(48, 84))),
                   vocab.velocity_token(1, int(rng.integers(0, 32))), vocab.duration_token(1, int(rng.integers(1, 9)))]
    tokens = tokens[:bar_len - 1] + [vocab.EOS]
    return np.array(tokens + [vocab.PAD] * (bar_len - len(tokens)), dtype=np.int16)


def write_fake_dataset(root: Path, n_train: int = 12, n_val: int = 4, n_unlabelled: int = 4, bar_len: int = 24,
                       seed: int = 0) -> Path:
    """A folder in `cdgmvae prepare`'s format with random REMI-shaped bars and quadrant labels."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "pieces").mkdir(parents=True, exist_ok=True)
    entries = []
    splits = ["train"] * n_train + ["val"] * n_val + [None] * n_unlabelled
    for i, split in enumerate(splits):
        arousal, valence = i % 2, (i // 2) % 2
        n_bars = int(rng.integers(2, 6))
        tokens = np.stack([fake_bar(rng, bar_len, high=bool(arousal)) for _ in range(n_bars)])
        rhythm = rng.integers(0, 3, size=(n_bars, 16)).astype(np.float32)
        key = np.full(n_bars, 0 if valence else 21, dtype=np.int64)
        piece_id = f"piece{i:03d}"
        np.savez(root / "pieces" / f"{piece_id}.npz", tokens=tokens, rhythm=rhythm, key=key)
        labelled = split is not None
        # the source's file name is the id: --rho and --holdout hash it, and the trainer tests' steps and lr are
        # chosen for the pieces that hash picks
        entries.append({"id": piece_id, "source": f"fake/{piece_id}", "file": f"pieces/{piece_id}.npz",
                        "bars": n_bars, "arousal": arousal if labelled else None,
                        "valence": valence if labelled else None, "split": split})
    manifest = {"version": 1, "vocab_fingerprint": vocab.fingerprint(), "bar_len": bar_len, "pieces": entries,
                "counts": {"pieces": len(entries)}, "skipped": []}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def write_config(path: Path, config: ModelConfig = TINY) -> str:
    path.write_text(json.dumps(config.to_dict()))
    return str(path)


class Grown(NamedTuple):
    before: dict   # the source model's weights
    after: dict    # the grown model's weights
    folder: Path   # where the source and the grown run are
    plain: str     # the source's config file
    train: Callable[..., int]  # train(config, out, *args): `cdgmvae train` for one step on the fake dataset

    def assert_the_way_back_is_refused(self, capsys, field: str) -> None:
        """`train --init-from` the grown model with the source's config: exit 2 and one line naming `field`."""
        capsys.readouterr()
        assert self.train(self.plain, self.folder / "back", "--init-from", self.folder / "grown") == 2
        err = capsys.readouterr().err
        assert "another model config" in err and field in err and err.count("\n") == 1


def grown_by_init_from(tmp_path: Path, plain: ModelConfig, grown: ModelConfig) -> Grown:
    """`cdgmvae train --init-from` growing a model: one step of `plain` on a fake dataset, then one step of
    `grown` at lr 0 started from it; every weight of the source must come through unchanged."""
    import torch
    from safetensors.torch import load_file

    from cdgmvae import cli
    data = write_fake_dataset(tmp_path / "data", bar_len=plain.bar_len)
    plain_path = write_config(tmp_path / "plain.json", plain)
    grown_path = write_config(tmp_path / "grown.json", grown)

    def train(config, out, *extra):
        return cli.main(["train", "--data", str(data), "--config", config, "--out", str(out), "--steps", "1",
                         "--batch", "4", "--threads", "1", "--log-every", "1", *map(str, extra)])

    assert train(plain_path, tmp_path / "source", "--lr", "1e-3", "--warmup", "1") == 0
    assert train(grown_path, tmp_path / "grown", "--lr", "0", "--init-from", tmp_path / "source") == 0
    before, after = (load_file(str(tmp_path / run / "model.safetensors")) for run in ("source", "grown"))
    assert all(torch.equal(before[k], after[k]) for k in before)
    return Grown(before, after, tmp_path, plain_path, train)


def one_thread():
    """Generator body for an autouse fixture: tiny models run fastest (and steadiest on a busy 2-core
    machine) on one thread; the previous setting is restored afterwards."""
    import torch
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
