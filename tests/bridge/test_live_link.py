"""Ableton Link: a second peer in another process changes the session tempo; the bars follow."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from live_harness import KICK

pytest.importorskip("link", reason="LinkPython-extern (module link) is not installed")

# A Link peer that joins, sets the tempo when told, and leaves the way Link needs (enabled = False,
# then os._exit: a plain exit can abort in Link's destructor).
PEER = textwrap.dedent("""
    import os, sys, time, link
    peer = link.Link(float(sys.argv[1]))
    peer.enabled = True
    deadline = time.monotonic() + 10
    while peer.numPeers() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    print("peers", peer.numPeers(), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        state = peer.captureAppSessionState()
        state.setTempo(float(line), peer.clock().micros())
        peer.commitAppSessionState(state)
        print("tempo", state.tempo(), flush=True)
    peer.enabled = False
    os._exit(0)
""")


def kick_intervals(recorder, after: float = 0.0) -> list[float]:
    kicks = [t for t, _ in recorder.note_ons(channel=9, note=KICK) if t >= after]
    return [b - a for a, b in zip(kicks, kicks[1:])]


def test_a_peer_changes_the_tempo_and_the_bar_length_follows(live_factory, recorder, test_clip):
    live = live_factory("--link", "--bpm", "240", "--source", "clip", "--clip", test_clip)
    live.connect(recorder)
    live.wait_for(r"bar 3 ", timeout=30)
    assert "0 peer(s)" in live.output()  # alone at the start: the bridge's tempo is the session's
    before = kick_intervals(recorder)  # the join itself may nudge the timeline while Link measures

    peer = subprocess.Popen([sys.executable, "-c", PEER, "240"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert peer.stdout.readline().split() == ["peers", "1"], "the Link peers did not find each other"
        live.wait_for(r"bar 5 ", timeout=10)
        peer.stdin.write("160\n")
        peer.stdin.flush()
        assert peer.stdout.readline().split()[0] == "tempo"
        live.wait_for(r"bar \d+ .*tempo=160\.0", timeout=10)
        change_seen = min(t for t, line in live.lines if "tempo=160.0" in line)
        live.wait_for(r"bar 9 ", timeout=15)
    finally:
        peer.stdin.write("quit\n")
        peer.stdin.flush()
        peer.wait(5)
    assert live.interrupt() == 0
    print(live.output())  # shown when an assertion fails
    print([(round(t, 3), m) for t, m in recorder.note_ons(channel=9, note=KICK)])

    assert before and all(abs(i - 1.0) < 0.010 for i in before), before     # 240 BPM: 1 s bars
    after = kick_intervals(recorder, after=change_seen)
    assert len(after) >= 2 and all(abs(i - 1.5) < 0.010 for i in after), after    # 160 BPM: 1.5 s bars
    bars = live.bars()
    assert bars[-1]["tempo"] == "160.0" and not [b for b in bars if b["late"]]
