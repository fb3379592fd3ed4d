"""Weights in files of a bounded size: safetensors shards named by the model JSON, with sizes and checksums."""
import json

import pytest
import torch
from cdgmvae.engine.checkpoint import load_checkpoint, load_model, load_weights, save_checkpoint, save_model
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.model import CDGMVAE
from helpers_model import TINY
from safetensors.torch import load_file

LIMIT = 150_000  # bytes: TINY's weights (about 0.4 MB, its largest tensor 0.12 MB) need several files


def _model(seed=0) -> CDGMVAE:
    torch.manual_seed(seed)
    return CDGMVAE(TINY)


def test_sharded_weights_stay_under_the_limit_and_load_as_one_model(tmp_path):
    model = _model()
    save_model(model, tmp_path, step=3, max_file_bytes=LIMIT)
    files = sorted(tmp_path.glob("*.safetensors"))
    assert len(files) >= 3 and not (tmp_path / "model.safetensors").exists()
    n = len(files)
    assert [f.name for f in files] == [f"model-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)]
    assert all(f.stat().st_size <= LIMIT for f in files)
    # the shards, read with safetensors alone, hold every tensor exactly once
    pieces = [load_file(str(f)) for f in files]
    assert sum(len(p) for p in pieces) == len(model.state_dict())
    union = {k: v for p in pieces for k, v in p.items()}
    assert all(torch.equal(union[k], v) for k, v in model.state_dict().items())

    loaded, config = load_model(tmp_path)
    assert config == TINY
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    assert load_model(files[1])[1] == TINY          # a shard's path finds its model JSON
    target = _model(seed=1)
    load_weights(tmp_path, target, TINY)
    assert all(torch.equal(a, b) for a, b in zip(target.state_dict().values(), model.state_dict().values()))


def test_a_damaged_or_missing_shard_is_named(tmp_path):
    save_model(_model(), tmp_path, step=3, max_file_bytes=LIMIT)
    shard = sorted(tmp_path.glob("model-00002-of-*.safetensors"))[0]
    data = shard.read_bytes()
    shard.write_bytes(data[:-8] + b"\0" * 8)
    with pytest.raises(UserError, match=f"{shard.name} is damaged"):
        load_model(tmp_path)
    shard.unlink()
    with pytest.raises(UserError, match=f"{shard.name} named by .* is missing"):
        load_model(tmp_path)


def test_saving_again_removes_the_files_the_new_json_does_not_name(tmp_path):
    save_model(_model(), tmp_path, step=3, max_file_bytes=LIMIT)
    save_model(_model(), tmp_path, step=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.safetensors"]
    save_model(_model(), tmp_path, step=5, max_file_bytes=LIMIT)
    assert not (tmp_path / "model.safetensors").exists()
    header = json.loads((tmp_path / "model.json").read_text())
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == [s["weights"] for s in header["shards"]]
    # a limit the weights fit under keeps the one-file form
    save_model(_model(), tmp_path, step=6, max_file_bytes=2**24)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.safetensors"]


def test_a_tensor_larger_than_the_limit_is_refused_in_one_line(tmp_path):
    with pytest.raises(UserError, match=r"tensor tok_emb\.weight \(\d+ bytes\) does not fit"):
        save_model(_model(), tmp_path, step=1, max_file_bytes=100_000)


def test_sharded_training_checkpoint_restores_and_replaces_its_shards(tmp_path):
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randint(3, 100, (2, TINY.n_bars, TINY.bar_len)), torch.ones(2, TINY.n_bars, dtype=torch.bool)
          ).logits.sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path, ["last"], model, optimizer, 1, {}, max_file_bytes=LIMIT)
    first = sorted(p.name for p in tmp_path.glob("step-*"))
    assert len(first) > 1 and all(n.startswith("step-00000001-") for n in first)
    assert all((tmp_path / n).stat().st_size <= LIMIT for n in first)
    assert len(optimizer.state) > 0
    restored = _model(seed=2)
    restored_opt = torch.optim.Adam(restored.parameters(), lr=1e-3)
    load_checkpoint(tmp_path / "last.json", restored, restored_opt, TINY)
    for (name, p), q in zip(model.named_parameters(), restored.parameters()):
        assert torch.equal(p, q), name
        for key in optimizer.state.get(p, {}):
            assert torch.equal(optimizer.state[p][key], restored_opt.state[q][key]), (name, key)
    save_checkpoint(tmp_path, ["last"], model, optimizer, 2, {}, max_file_bytes=LIMIT)
    assert all(p.name.startswith("step-00000002-") for p in tmp_path.glob("step-*"))
