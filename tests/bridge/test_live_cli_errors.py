"""`cdgmvae osc-spec` and the one-line errors of `cdgmvae live`."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cdgmvae.bridge.osc_spec import TABLE, markdown_table
from live_harness import REPO


def cdgmvae(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cdgmvae", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def test_osc_spec_prints_the_table():
    out = cdgmvae("osc-spec")
    assert out.returncode == 0
    for message in TABLE:
        assert f"`{message.address}`" in out.stdout
    table = json.loads(cdgmvae("osc-spec", "--json").stdout)
    assert [row["address"] for row in table] == [m.address for m in TABLE]
    assert table[0]["low"] == 0.0 and table[0]["high"] == 1.0 and table[0]["types"] == "f"


def test_the_readme_shows_the_osc_table():
    assert markdown_table() in (REPO / "README.md").read_text(encoding="utf-8"), \
        "stale: paste `cdgmvae osc-spec` into README.md"


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("cdgmvae live: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.skipif(os.path.exists("/dev/snd/seq"), reason="this machine has an ALSA sequencer")
def test_no_alsa_sequencer_names_the_alternatives():
    line = one_line_error(cdgmvae("live", "--midi-api", "alsa", "--no-link"))
    assert "/dev/snd/seq" in line
    for alternative in ("--midi-api jack", "loopMIDI", "--record"):
        assert alternative in line


def test_no_jack_server_says_so():
    line = one_line_error(cdgmvae("live", "--midi-api", "jack", "--no-link",
                                  env={"JACK_DEFAULT_SERVER": f"absent-{os.getpid()}"}))
    assert "no JACK server is running" in line and "--record" in line


@pytest.mark.parametrize("args, words", [
    (["--feedback", "localhost"], "HOST:PORT"),
    (["--feedback", "no-such-host.invalid:9001"], "cannot resolve 'no-such-host.invalid'"),
    (["--start-stop-sync"], "needs --link"),
    (["--osc-allow", "my-tablet"], "--osc-allow"),
    (["--lambda", "2"], "--lambda"),
    (["--clip", "/nonexistent.mid", "--source", "clip"], "clip not found"),
])
def test_bad_options_are_one_line_errors(args, words):
    assert words in one_line_error(cdgmvae("live", "--no-link", *args))


def test_record_alone_works_without_a_midi_port(tmp_path):
    import mido

    path = tmp_path / "take.mid"
    result = cdgmvae("live", "--no-link", "--midi-api", "jack", "--source", "clip", "--bpm", "480",
                     "--bars", "2", "--record", str(path), "--osc-port", "0",
                     env={"JACK_DEFAULT_SERVER": f"absent-{os.getpid()}"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "recording to" in result.stdout
    notes = [m for m in mido.MidiFile(path).tracks[0] if m.type == "note_on" and m.velocity > 0]
    assert notes
