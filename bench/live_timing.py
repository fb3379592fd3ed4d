"""Timing of `cdgmvae live` through a real JACK server: how late each MIDI event arrives.

    python bench/live_timing.py [--bpm 180] [--bars 64] [--period 64] [-- more `cdgmvae live` options]

Starts its own JACK server (dummy driver, 48 kHz, 64-frame period: realtime where allowed), runs
`cdgmvae live --midi-api jack --no-link --event-log` for --bars bars, records what arrives with a second
JACK client in its own process, and prints, over all note events, the error between each event's
scheduled time and its arrival (median, p99, max), how late the sender sent them, events lost, and the
bars that missed their deadline. Targets (issue 5): p99 at most 2 ms; no missed bar at 180 BPM.
"""
from __future__ import annotations

import argparse
import csv
import ctypes
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECORDER = REPO / "tests" / "bridge" / "midi_recorder.py"


def die_with_parent() -> None:
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def jack_port(suffix: str) -> str:
    def find():
        ports = subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.split("\n")
        return next((p for p in ports if p.endswith(":" + suffix)), None)
    return wait_for(find, 60, f"JACK port {suffix}")


def start_jack(name: str, period: int, log_path: Path) -> subprocess.Popen:
    realtime = subprocess.run(["chrt", "-f", "10", "true"], capture_output=True).returncode == 0
    proc = subprocess.Popen(["jackd", "-n", name, "-R" if realtime else "-r", "-d", "dummy", "-r", "48000",
                             "-p", str(period)], stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent)
    wait_for(lambda: subprocess.run(["jack_lsp"], capture_output=True).returncode == 0, 10, "jackd")
    print(f"jackd: dummy driver, 48000 Hz, {period}-frame period ({period / 48:.2f} ms), "
          f"{'realtime' if realtime else 'not realtime (not allowed here)'}")
    return proc


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(name: str, values_ms: list[float]) -> str:
    return (f"{name}: median {statistics.median(values_ms):.3f} ms, p99 {percentile(values_ms, 0.99):.3f} ms, "
            f"max {max(values_ms):.3f} ms, min {min(values_ms):.3f} ms")


def match(sent: list, arrived: list, window: int = 32) -> list:
    """Pair each sent event with the next arrival of the same bytes, so that a lost event costs one."""
    pairs, j = [], 0
    for event in sent:
        k = next((k for k in range(j, min(j + window, len(arrived))) if arrived[k][1] == event[2]), None)
        if k is not None:
            pairs.append((event, arrived[k]))
            j = k + 1
    return pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bpm", type=float, default=180.0)
    parser.add_argument("--bars", type=int, default=64)
    parser.add_argument("--period", type=int, default=64, help="JACK period in frames")
    parser.add_argument("live_args", nargs="*", help="more `cdgmvae live` options, after --")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="live_timing-"))
    server = f"live-timing-{os.getpid()}"
    os.environ.update(JACK_DEFAULT_SERVER=server, JACK_NO_START_SERVER="1")
    jack = start_jack(server, args.period, work / "jackd.log")
    procs = [jack]
    try:
        recorder = subprocess.Popen([sys.executable, str(RECORDER), "timing-in"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
        procs.append(recorder)
        assert recorder.stdout.readline().strip() == "ready"
        events_path = work / "events.csv"
        cmd = [sys.executable, "-m", "cdgmvae", "live", "--midi-api", "jack", "--midi-port", "timing-out",
               "--no-link", "--bpm", str(args.bpm), "--bars", str(args.bars), "--event-log", str(events_path),
               "--osc-port", "0", *args.live_args]
        print("running:", " ".join(cmd[2:]))
        live = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=die_with_parent)
        procs.append(live)
        subprocess.run(["jack_connect", jack_port("timing-out"), jack_port("timing-in")], check=True)
        output = live.communicate(timeout=args.bars * 240 / args.bpm + 300)[0]
        if live.returncode != 0:
            print(output[-3000:])
            return 1
        time.sleep(0.2)
        recorder.stdin.write("dump\n")
        recorder.stdin.flush()
        arrived = [(t, bytes(data)) for t, data in json.loads(recorder.stdout.readline())
                   if data[0] & 0xE0 == 0x80]  # note on and note off
        with open(events_path) as f:
            sent = [(float(r["scheduled_monotonic"]), float(r["sent_monotonic"]), bytes.fromhex(r["bytes"]))
                    for r in csv.DictReader(f)]
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)

    matched = match(sent, arrived)
    errors = [(a[0] - s[0]) * 1e3 for s, a in matched]
    lateness = [(sent_at - scheduled) * 1e3 for scheduled, sent_at, _ in sent]
    transport = [(a[0] - s[1]) * 1e3 for s, a in matched]
    missed = re.search(r"(\d+) missed", output)
    bars = len(re.findall(r"^\S+ bar \d+ ", output, re.M))
    print(f"{bars} bars at {args.bpm:g} BPM, {len(sent)} note events scheduled, {len(arrived)} arrived (with "
          f"the closing note-offs), {len(sent) - len(matched)} lost")
    print(summary("arrival error (arrival - scheduled)", errors))
    print(summary("send lateness (sent - scheduled)  ", lateness))
    print(summary("JACK transport (arrival - sent)   ", transport)
          + f"  [events wait for the next {args.period}-frame period]")
    print(f"missed bars: {missed.group(1) if missed else '?'}")
    for line in re.findall(r"^.*MISSED.*$", output, re.M):
        print("  " + line)
    (work / "live.log").write_text(output)
    print(f"files: {work}")
    gen = [float(x) for x in re.findall(r"gen_ms=([\d.]+)", output)]
    if gen:
        print(f"generation per bar: median {statistics.median(gen):.1f} ms, max {max(gen):.1f} ms "
              f"(bar length {4 * 60000 / args.bpm:.0f} ms)")
    print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
