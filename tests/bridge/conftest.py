"""Fixtures for the bridge tests, with real components: a JACK server (dummy driver) per test session,
`cdgmvae live` as a subprocess, a second JACK client recording what arrives, a multi-track test clip."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from live_harness import KICK, Live, MidiRecorder, die_with_parent, realtime_allowed, wait_until


@pytest.fixture(scope="session")
def jack_server(tmp_path_factory):
    """A JACK server with the dummy driver (48 kHz, 256-frame period: 5.3 ms), unique to this test session.
    Realtime where allowed: without it, on a loaded machine, JACK drops cycles (and their events). The period is
    a common live setting; at 64 frames (1.3 ms) a loaded 2-core VM missed cycles often enough that a sender's
    queued events left in one burst, while the timing checks allow a 64th note (15.6 ms at 240 BPM)."""
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (Debian: apt-get install jackd2)")
    name = f"cdgmvae-test-{os.getpid()}"
    env_before = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_START_SERVER"] = "1"
    log_path = tmp_path_factory.mktemp("jackd") / "jackd.log"
    log_file = open(log_path, "w")  # a file, not a pipe: a full pipe would block jackd, and every client
    realtime = "-R" if realtime_allowed() else "-r"
    proc = subprocess.Popen(["jackd", "-n", name, realtime, "-d", "dummy", "-r", "48000", "-p", "256"],
                            stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    try:
        wait_until(lambda: subprocess.run(["jack_lsp"], capture_output=True).returncode == 0
                   or proc.poll() is not None, 10, "jackd to start")
        if proc.poll() is not None:
            pytest.fail(f"jackd exited: {log_path.read_text()[-500:]}")
        yield name
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        log_file.close()
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def recorder(jack_server, request):
    rec = MidiRecorder(f"rec{abs(hash(request.node.name)) % 10**6}")
    yield rec
    rec.close()


@pytest.fixture
def live_factory(jack_server, request):
    started = []

    def start(*args: str) -> Live:
        live = Live(*args, port_name=f"out{len(started)}-{abs(hash(request.node.name)) % 10**6}")
        started.append(live)
        return live

    yield start
    for live in started:
        live.kill()


@pytest.fixture(scope="session")
def test_clip(tmp_path_factory) -> str:
    """Two bars, all five tracks: kick on each bar line, snare on 2 and 4, bass, piano, guitar, strings."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    sixteenth = 0.125  # at 120 BPM
    parts = {
        "drums": pretty_midi.Instrument(0, is_drum=True),
        "piano": pretty_midi.Instrument(0),
        "guitar": pretty_midi.Instrument(25),
        "bass": pretty_midi.Instrument(33),
        "strings": pretty_midi.Instrument(48),
    }

    def note(part, pitch, position, length, velocity=90):
        start = position * sixteenth
        parts[part].notes.append(pretty_midi.Note(velocity, pitch, start, start + length * sixteenth))

    for bar in range(2):
        base = bar * 16
        note("drums", KICK, base, 1, 110)
        for p in (4, 12):
            note("drums", 38, base + p, 1)
        for p in (0, 8):
            note("bass", 36 + 5 * bar, base + p, 4)
        note("piano", 60 + bar, base + 0, 8)
        note("piano", 64 + bar, base + 8, 8)
        note("guitar", 55, base + 2, 2)
        note("strings", 72 - bar, base, 16)   # holds to the bar line: its off meets the next on
    pm.instruments.extend(parts.values())
    path = tmp_path_factory.mktemp("clip") / "five_tracks.mid"
    pm.write(str(path))
    return str(path)
