"""A real Ableton Link peer in another process, for the tests of the Link clock and of `live --link`."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# A Link peer that joins (sharing start/stop or not, as Live's Start Stop Sync option), waits up to
# argv[3] seconds for another peer, sets the tempo or starts and stops when told ("tempo 160", "stop",
# "start"), answers "peers" with how many peers it sees and "state" with the session's tempo and transport,
# answers "phases T1 T2 ..." with the session's phase (beats into the bar, quantum 4) at each
# time.monotonic() T, and leaves the way Link needs (enabled = False, then os._exit: a plain exit can
# abort in Link's destructor).
PEER = textwrap.dedent("""
    import json, os, sys, time, link
    peer = link.Link(float(sys.argv[1]))
    peer.startStopSyncEnabled = sys.argv[2] == "sync"
    peer.enabled = True
    deadline = time.monotonic() + float(sys.argv[3])
    while peer.numPeers() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    print("peers", peer.numPeers(), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        command, *value = line.split()
        state = peer.captureAppSessionState()
        if command == "phases":
            # Link's clock against time.monotonic(): the reading taken in the shortest window
            samples = []
            for _ in range(200):
                before = time.monotonic()
                micros = peer.clock().micros()
                after = time.monotonic()
                samples.append((after - before, (before + after) / 2 - micros / 1e6))
            offset = min(samples)[1]
            print(json.dumps([state.phaseAtTime(int((float(t) - offset) * 1e6), 4.0) for t in value]), flush=True)
            continue
        if command == "peers":
            print("peers", peer.numPeers(), flush=True)
            continue
        if command == "tempo":
            state.setTempo(float(value[0]), peer.clock().micros())
        elif command in ("start", "stop"):
            state.setIsPlaying(command == "start", peer.clock().micros())
        if command != "state":
            peer.commitAppSessionState(state)
        print(command, state.tempo(), state.isPlaying(), flush=True)
    peer.enabled = False
    os._exit(0)
""")


def start_peer(tempo: str = "240", sync: bool = True, wait: float = 10.0) -> subprocess.Popen:
    """A peer at `tempo` BPM (sharing start/stop when `sync`), once it has seen another peer or waited
    `wait` seconds."""
    peer = subprocess.Popen([sys.executable, "-c", PEER, tempo, "sync" if sync else "no-sync", str(wait)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert peer.stdout.readline().split()[:1] == ["peers"]
    return peer


def ask(peer: subprocess.Popen, command: str) -> str:
    """Send the peer a command; its one-line answer."""
    peer.stdin.write(command + "\n")
    peer.stdin.flush()
    return peer.stdout.readline()


def tell(peer: subprocess.Popen, command: str) -> list[str]:
    """Send the peer a command; its one-line answer, split."""
    return ask(peer, command).split()


def phases(peer: subprocess.Popen, times: list[float]) -> list[float]:
    """The session's phase at each time.monotonic() time, as the peer's Link sees it."""
    return json.loads(ask(peer, "phases " + " ".join(f"{t:.6f}" for t in times)))


def quit_peer(peer: subprocess.Popen) -> None:
    """Tell the peer to leave the session, and wait for it to exit."""
    peer.stdin.write("quit\n")
    peer.stdin.flush()
    peer.wait(5)
