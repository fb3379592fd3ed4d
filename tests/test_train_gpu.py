"""`make train-gpu`, the GPU recipe, end to end: on the CPU with a tiny config in fp32 (the data prepared inside
the recipe, weights in shards under a tiny limit), and on a GPU with the default model in bf16."""
import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from cdgmvae.engine.checkpoint import load_model, save_model
from cdgmvae.engine.model import CDGMVAE

from tests.helpers_model import TINY, write_config
from tests.test_pop909 import fixture_folder
from tests.test_prepare import small_emopia

REPO = Path(__file__).resolve().parents[1]


def _recipe(tmp_path: Path, **variables) -> tuple[subprocess.CompletedProcess, dict[str, Path]]:
    """Run `make train-gpu` on 8 EMOPIA clips and two POP909 fixture songs, with these Makefile variables."""
    paths = {name: tmp_path / name for name in ("data", "run", "out")}
    sources = f"{small_emopia(tmp_path, n=8)} {fixture_folder(tmp_path)}"
    variables = {"PY": sys.executable, "GPU_SOURCES": sources, "GPU_DATA": paths["data"], "GPU_RUN": paths["run"],
                 "GPU_OUT": paths["out"], "GPU_HOLDOUT": 0.5, **variables}
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(["make", "--no-print-directory", "train-gpu", *(f"{k}={v}" for k, v in variables.items())],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result, paths


def _all_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _check_brought_back(paths: dict[str, Path], limit_bytes: int, config, init: Path, steps: int) -> dict:
    out = paths["out"]
    assert (paths["data"] / "manifest.json").is_file()       # prepared by the recipe
    manifest = json.loads((paths["data"] / "manifest.json").read_text())
    assert manifest["counts"]["labelled"] == 8 and manifest["counts"]["unlabelled"] == 2
    names = {p.relative_to(out).as_posix() for p in _all_files(out)}
    assert {"model.json", "summary.json", "log.jsonl", "selected/model.json"} <= names
    assert all(p.stat().st_size <= limit_bytes for p in _all_files(out) + _all_files(paths["run"] / "ckpt"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == steps
    assert (REPO / summary["init_from"]["path"]).resolve() == (init / "model.json").resolve()
    assert all(math.isfinite(v) for v in summary["final"].values())
    start, _ = load_model(init)
    for folder in (out, out / "selected"):
        model, loaded_config = load_model(folder)
        assert loaded_config == config
        assert model.state_dict().keys() == start.state_dict().keys()
    final = load_model(out)[0].state_dict()
    assert any(not torch.equal(final[k], v) for k, v in start.state_dict().items())   # it trained
    return summary


def test_the_recipe_on_the_cpu_with_a_tiny_config_writes_weights_in_shards_under_the_limit(tmp_path):
    config = replace(TINY, bar_len=128)
    torch.manual_seed(0)
    init = tmp_path / "init"
    save_model(CDGMVAE(config), init, step=0)
    limit_mb = 0.15   # TINY's largest tensors are 0.11 MiB: its weights need several files
    result, paths = _recipe(tmp_path, GPU_CONFIG=write_config(tmp_path / "tiny.json", config), GPU_INIT=init,
                            GPU_STEPS=3, GPU_BATCH=4, GPU_LOADERS=0, GPU_PRECISION="fp32", GPU_MAX_FILE_MB=limit_mb)
    summary = _check_brought_back(paths, int(limit_mb * 2**20), config, init, steps=3)
    assert len(json.loads((paths["out"] / "model.json").read_text())["shards"]) > 1
    assert len(json.loads((paths["out"] / "selected" / "model.json").read_text())["shards"]) > 1
    assert summary["options"]["precision"] == "fp32" and summary["options"]["time_budget_s"] > 0
    assert "train-gpu:" in result.stdout and "final weights" in result.stdout


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_recipe_on_a_gpu_continues_the_default_model_in_bf16(tmp_path):
    result, paths = _recipe(tmp_path, GPU_STEPS=5, GPU_BATCH=8, GPU_LOADERS=2)
    init = REPO / "engine" / "default_model"
    _, config = load_model(init)
    summary = _check_brought_back(paths, 16 * 2**20, config, init, steps=5)
    assert summary["options"]["precision"] == "bf16"
    assert "with bf16 autocast" in result.stdout and "on cuda" in result.stdout
