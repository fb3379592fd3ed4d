"""Helpers for the bridge tests: JACK ports, a MIDI recorder in its own process, `cdgmvae live` as a
subprocess. The fixtures that use them are in conftest.py."""
from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KICK = 36  # the test clip's kick, on every bar line and nowhere else


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the test process dies, even killed by a timeout, so no
    jackd or bridge outlives a test run."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def realtime_allowed() -> bool:
    try:
        return subprocess.run(["chrt", "-f", "10", "true"], capture_output=True).returncode == 0
    except OSError:
        return False


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def send_until(send, done, timeout: float, every: float, what: str) -> int:
    """Send, and again every `every` seconds, until `done()` (UDP may drop a datagram: a test must not depend
    on one arriving); returns the sends. Raises AssertionError when `done()` is not seen within `timeout`."""
    deadline = time.monotonic() + timeout
    sends = 0
    while time.monotonic() < deadline:
        send()
        sends += 1
        again = min(deadline, time.monotonic() + every)
        while time.monotonic() < again:
            if done():
                return sends
            time.sleep(0.01)
    raise AssertionError(f"{what}: not seen within {timeout:g} s ({sends} sends)")


def jack_ports() -> list[str]:
    return subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.split("\n")


def jack_port(suffix: str, timeout: float = 15) -> str:
    """The full name of the JACK port whose name ends with ':suffix'."""
    return wait_until(lambda: next((p for p in jack_ports() if p.endswith(":" + suffix)), None),
                      timeout, f"the JACK port {suffix}")


class MidiRecorder:
    """A second JACK client (midi_recorder.py, in its own process): what arrives, with time.monotonic()."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("midi_recorder.py")), name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     preexec_fn=die_with_parent)
        assert self.proc.stdout.readline().strip() == "ready", "the MIDI recorder did not start"

    def connect_from(self, source_port: str) -> None:
        subprocess.run(["jack_connect", source_port, jack_port(self.name)], check=True)

    def snapshot(self) -> list:
        import mido

        self.proc.stdin.write("dump\n")
        self.proc.stdin.flush()
        return [(t, mido.Message.from_bytes(data)) for t, data in json.loads(self.proc.stdout.readline())]

    def final(self, quiet: float = 0.3, timeout: float = 10.0) -> list:
        """Everything, once what was in flight when the sender exited has arrived: when nothing more has
        come for `quiet` seconds (a loaded machine may deliver the last messages late), or after `timeout`."""
        deadline = time.monotonic() + timeout
        seen = self.snapshot()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self.snapshot()
            if len(now) == len(seen):
                return now
            seen = now
        return seen

    def note_ons(self, channel=None, note=None) -> list:
        return [(t, m) for t, m in self.snapshot() if m.type == "note_on" and m.velocity > 0
                and (channel is None or m.channel == channel) and (note is None or m.note == note)]

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


class Live:
    """`cdgmvae live` in a subprocess, its stdout collected line by line with arrival times."""

    def __init__(self, *args: str, port_name: str) -> None:
        self.osc_port = free_udp_port()
        self.port_name = port_name
        self.lines: list[tuple[float, str]] = []
        cmd = [sys.executable, "-m", "cdgmvae", "live", "--midi-api", "jack", "--midi-port", port_name,
               "--osc-port", str(self.osc_port), *args]
        if "--link" not in args:
            cmd.append("--no-link")
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1, preexec_fn=die_with_parent,
                                     start_new_session=True)
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def wait_for(self, pattern: str, timeout: float = 20, count: int = 1) -> list[re.Match]:
        def found():
            matches = [m for _, line in list(self.lines) if (m := re.search(pattern, line))]
            if self.proc.poll() is not None and len(matches) < count:
                raise AssertionError(f"cdgmvae live exited ({self.proc.returncode}) before "
                                     f"{pattern!r}:\n{self.output()[-3000:]}")
            return matches if len(matches) >= count else None
        return wait_until(found, timeout, f"{count} line(s) matching {pattern!r} in:\n{self.output()[-2000:]}")

    def bars(self) -> list[dict]:
        """The per-bar log lines as dicts of their key=value fields; "late" marks a missed bar."""
        out = []
        for _, line in list(self.lines):
            m = re.search(r"bar (\d+) (MISSED)?", line)
            if m:
                fields = dict(re.findall(r"(\w+)=([\w.#]+)", line))
                out.append({**fields, "bar": int(m.group(1)), "late": bool(m.group(2))})
        return out

    def connect(self, recorder: MidiRecorder) -> None:
        recorder.connect_from(jack_port(self.port_name))

    def interrupt(self, sig=signal.SIGINT, timeout: float = 10) -> int:
        """Ctrl-C as a terminal sends it: to the whole process group (the generator process too)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        code = self.proc.wait(timeout)
        self.reader.join(2)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
