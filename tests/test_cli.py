import json
import subprocess
import sys
from pathlib import Path

import pytest

from cdgmvae.cli import SUBCOMMANDS

ROOT = Path(__file__).parent.parent


def cdgmvae(*args):
    return subprocess.run([sys.executable, "-m", "cdgmvae", *args], capture_output=True, text=True, cwd=ROOT)


def test_top_level_help_lists_every_subcommand():
    result = cdgmvae("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_subcommand_has_help(name):
    result = cdgmvae(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: cdgmvae " + name)


@pytest.mark.parametrize("args", [
    ["inspect", "no/such/file.mid"],
    ["prepare", "no/such/folder", "--out", "/tmp/cdgmvae-never-written"],
])
def test_missing_path_gives_one_line_error_and_nonzero_exit(args):
    result = cdgmvae(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no/such" in lines[0] and "Traceback" not in result.stderr


def test_inspect_roundtrip_writes_the_same_notes(tmp_path):
    from cdgmvae.engine import codec
    clip = ROOT / "data/emopia/midis/Q2_ItGNJM6skM4_1.mid"
    out = tmp_path / "rt.mid"
    result = cdgmvae("inspect", str(clip), "--roundtrip", str(out))
    assert result.returncode == 0, result.stderr
    assert "key" in result.stdout and "Bar Tempo_120" in result.stdout
    assert codec.encode(out).notes == codec.encode(clip).notes


CLIP_SAD = ROOT / "data/emopia/midis/Q3_Ie5koh4qvJc_5.mid"
CLIP_HAPPY = ROOT / "data/emopia/midis/Q1_0vLPYiPN7qY_0.mid"


def test_generate_writes_the_bars_asked_for_and_is_reproducible(tmp_path):
    from cdgmvae.engine import codec
    outs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.mid"
        result = cdgmvae("generate", "--emotion", "calm", "--bars", "3", "--seed", "5", "--out", str(out),
                         "--threads", "1", "--tonic", "Eb")
        assert result.returncode == 0, result.stderr
        assert '"bars": 3' in result.stdout
        assert json.loads(result.stdout)["tonic"] == "Eb"  # the key guidance's tonic, in the report
        outs.append(codec.encode(out).notes)
    assert outs[0] == outs[1] and sum(len(b) for b in outs[0]) > 0


def test_generate_refuses_conflicting_or_missing_targets():
    both = cdgmvae("generate", "--emotion", "sad", "--valence", "0.2", "--arousal", "0.1", "--out", "/tmp/x.mid")
    neither = cdgmvae("generate", "--out", "/tmp/x.mid")
    bad_tonic = cdgmvae("generate", "--emotion", "sad", "--tonic", "H", "--out", "/tmp/x.mid")
    assert "use a note name" in bad_tonic.stderr
    for result in (both, neither, bad_tonic):
        assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [("generate", "--emotion", "sad", "--out", "/tmp/never.mid"), ("live",)])
@pytest.mark.parametrize("option, expected", [(("--key-strength", "-1"), "key"), (("--tonic", "H"), "note name")])
def test_a_bad_key_strength_or_tonic_is_refused_in_one_line(command, option, expected):
    result = cdgmvae(*command, *option)
    assert result.returncode == 2 and expected in result.stderr and "Traceback" not in result.stderr


def test_transfer_and_swap_write_midi(tmp_path):
    from cdgmvae.engine import codec
    moved = tmp_path / "moved.mid"
    result = cdgmvae("transfer", str(CLIP_SAD), "--to", "happy", "--lambda", "0.8", "--out", str(moved),
                     "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert len(codec.encode(moved).bars) >= len(codec.encode(CLIP_SAD).bars) - 1
    swapped = tmp_path / "swapped.mid"
    result = cdgmvae("swap", str(CLIP_SAD), str(CLIP_HAPPY), "--feature", "rhythm", "--out", str(swapped),
                     "--threads", "1")
    assert result.returncode == 0, result.stderr
    n = min(len(codec.encode(CLIP_SAD).bars), len(codec.encode(CLIP_HAPPY).bars))
    assert len(codec.encode(swapped).bars) <= n


def test_classify_json_has_one_entry_per_file_and_errors_for_bad_ones(tmp_path):
    import json
    bad = tmp_path / "bad.mid"
    bad.write_text("not midi")
    result = cdgmvae("classify", str(CLIP_SAD), str(bad), "--json")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert [e["path"] for e in entries] == [str(CLIP_SAD), str(bad)]
    good, broken = entries
    assert set(good) == {"path", "arousal", "valence", "quadrant", "p_arousal_high", "p_valence_high"}
    assert good["arousal"] in ("high", "low") and good["quadrant"] in ("Q1", "Q2", "Q3", "Q4")
    assert (good["p_arousal_high"] >= 0.5) == (good["arousal"] == "high")
    assert "error" in broken


def test_demo_writes_a_piece_per_emotion_and_a_transfer(tmp_path):
    result = cdgmvae("demo", "--out", str(tmp_path), "--bars", "2")
    assert result.returncode == 0, result.stderr
    for stem in ("happy", "tense", "sad", "calm", "transfer-source", "transfer-to-happy"):
        assert (tmp_path / f"{stem}.mid").stat().st_size > 0
        assert (tmp_path / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
    assert result.stdout.count("model infers") == 6


def test_export_tensorrt_says_why_without_a_gpu_and_what_to_use():
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = cdgmvae("export", "--backend", "tensorrt")
    assert result.returncode == 2 and "--backend compiled" in result.stderr


def test_live_with_a_damaged_checkpoint_says_what_is_wrong(tmp_path):
    import shutil
    damaged = tmp_path / "model"
    shutil.copytree(ROOT / "engine/default_model", damaged)
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    result = cdgmvae("live", "--checkpoint", str(damaged), "--record", str(tmp_path / "x.mid"), "--no-link",
                     "--bars", "1", "--midi-api", "jack")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "model.safetensors" in result.stderr.strip().splitlines()[-1]


MODEL_COMMANDS = ("generate", "transfer", "swap", "evaluate-control", "live")


@pytest.mark.parametrize("name", MODEL_COMMANDS)
def test_every_model_command_offers_and_describes_every_backend(name):
    from cdgmvae.engine.backends import BACKENDS
    usage = cdgmvae(name, "--backend", "no-such-backend")
    assert usage.returncode == 2 and "invalid choice: 'no-such-backend'" in usage.stderr
    for backend in BACKENDS:
        assert f"'{backend}'" in usage.stderr  # argparse lists the choices
    help_text = " ".join(cdgmvae(name, "--help").stdout.split())
    for backend in BACKENDS:
        assert f"{backend} (" in help_text, (name, backend)


def test_the_readme_shows_the_backend_table():
    from cdgmvae.engine.backends import markdown_table
    assert markdown_table() in (ROOT / "README.md").read_text(encoding="utf-8"), \
        "stale: paste engine.backends.markdown_table() into README.md"
