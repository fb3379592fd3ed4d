"""The distribution: one import package, `cdgmvae`, that a wheel installs and that runs on its own.

A wheel is built from a clean copy of the tracked tree (as `pip wheel` does on a user's machine), its
top-level entries are read from the archive itself, and it is installed into a fresh virtual
environment that sees the dependencies but not this checkout, where `cdgmvae generate` must write a
piece with the bundled model.
"""
from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import mido
import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    tree = tmp / "tree"
    # a clean tree: only what git tracks (plus the working tree's edits), no .venv, no build leftovers
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            dst = tree / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
    out = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(tree)], check=True)
    (found,) = out.glob("cdgmvae-*.whl")
    return found


def test_wheel_has_one_top_level_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"cdgmvae"}, top
    for needed in ("cdgmvae/engine/default_model/model.safetensors", "cdgmvae/engine/default_model/model.json",
                   "cdgmvae/engine/default_model/prior.safetensors", "cdgmvae/engine/default_model/prior.json",
                   "cdgmvae/max4live/cdgmvae.amxd", "cdgmvae/training/baseline.json",
                   "cdgmvae/commands/generate.py"):
        assert needed in names, needed


def test_fresh_environment_generates_with_the_bundled_model(wheel, tmp_path):
    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    env_python = env_dir / "bin" / "python"
    env_site = Path(subprocess.run([str(env_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   check=True, capture_output=True, text=True).stdout.strip())
    # The dependencies come from this interpreter's site-packages as plain paths: a .pth line adds a folder
    # to sys.path without running the .pth files inside it, so this checkout's editable install stays unseen.
    (env_site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(env_site), str(wheel)],
                   check=True)
    out = tmp_path / "piece.mid"
    result = subprocess.run([str(env_dir / "bin" / "python"), "-m", "cdgmvae", "generate", "--emotion", "calm",
                             "--bars", "2", "--out", str(out)], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "latent prior" not in result.stderr and "mixture" not in result.stderr, result.stderr  # the bundled prior
    where = subprocess.run([str(env_python), "-c", "import cdgmvae.engine as e; print(e.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(env_site)), where
    notes = [m for m in mido.MidiFile(out) if m.type == "note_on" and m.velocity > 0]
    assert notes, "the piece has no notes"
