"""Ableton Link: a second peer in another process changes the session tempo; the bars follow."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from live_harness import KICK

pytest.importorskip("link", reason="LinkPython-extern (module link) is not installed")

# A Link peer that joins, sets the tempo or starts and stops when told ("tempo 160", "stop", "start"),
# and leaves the way Link needs (enabled = False, then os._exit: a plain exit can abort in Link's
# destructor).
PEER = textwrap.dedent("""
    import os, sys, time, link
    peer = link.Link(float(sys.argv[1]))
    peer.startStopSyncEnabled = True
    peer.enabled = True
    deadline = time.monotonic() + 10
    while peer.numPeers() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    print("peers", peer.numPeers(), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        command, *value = line.split()
        state = peer.captureAppSessionState()
        if command == "tempo":
            state.setTempo(float(value[0]), peer.clock().micros())
        else:
            state.setIsPlaying(command == "start", peer.clock().micros())
        peer.commitAppSessionState(state)
        print(command, state.tempo(), state.isPlaying(), flush=True)
    peer.enabled = False
    os._exit(0)
""")


def start_peer(tempo: str = "240") -> subprocess.Popen:
    peer = subprocess.Popen([sys.executable, "-c", PEER, tempo], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert peer.stdout.readline().split()[:1] == ["peers"]
    return peer


def tell(peer: subprocess.Popen, command: str) -> list[str]:
    peer.stdin.write(command + "\n")
    peer.stdin.flush()
    return peer.stdout.readline().split()


def kick_intervals(recorder, after: float = 0.0) -> list[float]:
    kicks = [t for t, _ in recorder.note_ons(channel=9, note=KICK) if t >= after]
    return [b - a for a, b in zip(kicks, kicks[1:])]


def test_a_peer_changes_the_tempo_and_the_bar_length_follows(live_factory, recorder, test_clip):
    live = live_factory("--link", "--bpm", "240", "--source", "clip", "--clip", test_clip)
    live.connect(recorder)
    live.wait_for(r"bar 3 ", timeout=30)
    assert "0 peer(s)" in live.output()  # alone at the start: the bridge's tempo is the session's
    before = kick_intervals(recorder)  # the join itself may nudge the timeline while Link measures

    peer = start_peer()
    try:
        live.wait_for(r"bar 5 ", timeout=10)
        assert tell(peer, "tempo 160")[0] == "tempo"
        live.wait_for(r"bar \d+ .*tempo=160\.0", timeout=10)
        change_seen = min(t for t, line in live.lines if "tempo=160.0" in line)
        live.wait_for(r"bar 9 ", timeout=15)
    finally:
        tell(peer, "quit")
        peer.wait(5)
    assert live.interrupt() == 0
    print(live.output())  # shown when an assertion fails
    print([(round(t, 3), m) for t, m in recorder.note_ons(channel=9, note=KICK)])

    assert before and all(abs(i - 1.0) < 0.010 for i in before), before     # 240 BPM: 1 s bars
    after = kick_intervals(recorder, after=change_seen)
    assert len(after) >= 2 and all(abs(i - 1.5) < 0.010 for i in after), after    # 160 BPM: 1.5 s bars
    bars = live.bars()
    assert bars[-1]["tempo"] == "160.0" and not [b for b in bars if b["late"]]


def test_start_and_stop_of_the_session_are_followed(live_factory, recorder, test_clip):
    live = live_factory("--link", "--bpm", "240", "--source", "clip", "--clip", test_clip)
    live.connect(recorder)
    live.wait_for(r"bar 1 ", timeout=30)
    peer = start_peer()
    try:
        assert tell(peer, "stop")[-1] == "False"
        live.wait_for(r"stopped: all notes off", timeout=5)
        time.sleep(0.3)
        silent_from = len(recorder.note_ons())
        time.sleep(1.2)
        assert len(recorder.note_ons()) == silent_from  # nothing starts while the session is stopped
        assert tell(peer, "start")[-1] == "True"
        live.wait_for(r"playing from the next bar line", timeout=5, count=2)
        bars = len(live.bars())
        live.wait_for(fr"bar {bars + 1} ", timeout=10)
    finally:
        tell(peer, "quit")
        peer.wait(5)
    assert live.interrupt() == 0
    assert len(recorder.note_ons()) > silent_from
    sounding = sum((m.type == "note_on" and m.velocity > 0) - (m.type == "note_off") for _, m in recorder.final())
    assert sounding == 0
