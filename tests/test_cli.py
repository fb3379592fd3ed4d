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
    from engine import codec
    clip = ROOT / "data/emopia/midis/Q2_ItGNJM6skM4_1.mid"
    out = tmp_path / "rt.mid"
    result = cdgmvae("inspect", str(clip), "--roundtrip", str(out))
    assert result.returncode == 0, result.stderr
    assert "key" in result.stdout and "Bar Tempo_120" in result.stdout
    assert codec.encode(out).notes == codec.encode(clip).notes
