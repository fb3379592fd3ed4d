"""The triton backend's kernels: on the CPU through Triton's interpreter, in a process of its own."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.backends import make_decoder
from engine.errors import UserError
from engine.generator import Generator
from engine.grammar import is_valid_bar

ROOT = Path(__file__).parent.parent


def interpreted(check: str) -> dict:
    pytest.importorskip("triton", reason="Triton is not installed (pip install -e '.[dev]' brings it on Linux)")
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "tests/triton_interpreted.py"), check], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_kernels_give_the_eager_steps_logits_and_fill_the_same_cache():
    """Batch 2, a first bar and then one over its memory: logits within 1e-4, and the keys, values, states
    and tokens the next bar reads are the eager step's."""
    result = interpreted("step")
    assert result["logit_scale"] > 1.0  # real logits, not zeros on both sides
    assert result["logit_diff"] < 1e-4
    assert set(result["buffer_diff"]) >= {"keys0", "values1", "states1", "tokens"}
    assert max(result["buffer_diff"].values()) < 1e-5, result["buffer_diff"]


def test_triton_backend_samples_the_bars_eager_samples():
    bars = interpreted("generator")
    assert bars["triton"] == bars["eager"]
    assert all(len(bar) > 8 and is_valid_bar(bar, 128) for bar in bars["triton"])
    assert bars["triton"][0] != bars["triton"][1]


def test_triton_says_why_it_cannot_run_on_the_cpu_and_what_to_use():
    if torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("triton can run here")
    with pytest.raises(UserError, match="NVIDIA GPU.*--backend compiled or --backend eager"):
        make_decoder("triton", Generator.load(seed=0).cache)
