"""The triton backend's kernels: on the CPU through Triton's interpreter, in a process of its own."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cdgmvae.engine.backends import make_decoder
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.generator import Generator
from cdgmvae.engine.grammar import is_valid_bar

ROOT = Path(__file__).parent.parent


def interpreted(check: str) -> dict:
    pytest.importorskip("triton", reason="Triton is not installed (pip install -e '.[dev]' brings it on Linux)")
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "tests/triton_interpreted.py"), check], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("check", ["step", "step-gpu-tiling", "step-bf16"])
def test_kernels_give_the_eager_steps_logits_and_fill_the_same_cache(check):
    """Batch 2, a first bar and then one over its memory: logits within 1e-4, and the keys, values, states
    and tokens the next bar reads are the eager step's. The interpreter is quickest with one program per
    kernel; step-gpu-tiling splits the work as a GPU does, into many programs and parts; step-bf16 keeps the
    weight matrices in bf16 (against eager on the same weights rounded to bf16)."""
    result = interpreted(check)
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


WEIGHT_POINTERS = ("w_ptr", "out_w_t_ptr", "w1_ptr", "w2_t_ptr")  # the matrices TritonStep may hold in bf16


def compile_for_h100(kernel, constexprs: dict, num_warps: int = 4, weights: str = "fp32") -> str:
    """The kernel compiled by Triton for an H100 (sm_90) with no GPU present: `ptxas -v`'s report."""
    triton = pytest.importorskip("triton")
    try:
        from triton.backends.compiler import GPUTarget
        from triton.backends.nvidia.compiler import get_ptxas
        from triton.compiler import ASTSource
    except ImportError as err:
        pytest.skip(f"this Triton ({triton.__version__}) compiles differently: {err}")
    pointer_types = {"index_ptr": "*i64", "token_ptr": "*i64", "tokens_ptr": "*i64", "rel_idx_ptr": "*i64",
                     "allowed_ptr": "*i1"}
    signature = {}
    for param in kernel.params:
        if param.is_constexpr:
            signature[param.name] = "constexpr"
        elif param.name.endswith("_ptr"):
            default = f"*{weights}" if param.name in WEIGHT_POINTERS else "*fp32"
            signature[param.name] = pointer_types.get(param.name, default)
        else:
            signature[param.name] = "fp32" if param.name in ("eps", "scale") else "i32"
    try:
        source = ASTSource(fn=kernel, signature=signature, constexprs=constexprs)
    except TypeError as err:
        pytest.skip(f"this Triton ({triton.__version__}) describes kernels differently: {err}")
    compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"num_warps": num_warps})
    ptx = Path(os.environ.get("TMPDIR", "/tmp")) / f"cdgmvae-{kernel.__name__}-{os.getpid()}.ptx"
    ptx.write_text(compiled.asm["ptx"])
    try:
        report = subprocess.run([get_ptxas(90).path, "-v", "--gpu-name", "sm_90a", str(ptx), "-o", os.devnull],
                                capture_output=True, text=True, check=True)
    finally:
        ptx.unlink()
    return report.stderr


@pytest.mark.parametrize("config, weights", [("paper", "fp32"), ("small", "fp32"), ("paper", "bf16")])
def test_kernels_compile_for_an_h100_without_spilling_registers(monkeypatch, config, weights):
    """What the interpreter cannot tell: that the GPU compiler takes every kernel with the settings
    TritonStep launches it with for `paper` and for `small` (the bundled model), with fp32 or bf16 weight
    matrices, and that no kernel spills registers to memory (an attention program of `paper` holds three
    256 x 64 tiles)."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    pytest.importorskip("triton")
    from cdgmvae.engine import triton_step as ts
    from cdgmvae.engine.config import preset
    from cdgmvae.engine.incremental import BarCache
    from cdgmvae.engine.model import CDGMVAE

    with torch.device("meta"):  # shapes only: no memory, no time for the weights
        step = ts.TritonStep(BarCache(CDGMVAE(preset(config)), 1))
    kernels = {"qkv": ts._qkv, "attention": ts._attention, "feed_forward": ts._feed_forward, "head": ts._head}
    reports = {}
    for name, kernel in kernels.items():
        settings = dict(step.settings[name])
        warps = settings.pop("num_warps", 4)
        for embed in ((True, False) if name == "qkv" else (None,)):
            flags = {} if embed is None else {"EMBED": embed}
            reports[f"{name} {flags}"] = compile_for_h100(kernel, {**settings, **flags}, warps, weights)
    for name, report in reports.items():
        assert "Used" in report and "registers" in report, (name, report)
        assert " 0 bytes spill stores" in report, (name, report)
