"""Ableton Link: peers in other processes change the session tempo, start and stop it, or do not share
start/stop at all; the bars follow, on the session's bar lines."""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from cdgmvae.bridge.clock import QUANTUM
from link_peer import phases, quit_peer, start_peer, tell
from live_harness import KICK, send_until

from tests.midi_check import left_sounding

pytest.importorskip("link", reason="LinkPython-extern (module link) is not installed")


def off_the_bar_line(phase: float, early: float = 0.0) -> float:
    """Beats from the nearest bar line of the session's grid, less `early` beats (an event sent that much ahead
    of its bar line: --latency-ms)."""
    phase = (phase + early) % QUANTUM
    return min(phase, QUANTUM - phase)


# The first event of a bar (the clip's kick) must land on the session's bar line within a 64th of a bar:
# well above JACK's period and the scheduler's spin, and a sixteenth of a beat.
MARGIN_BEATS = QUANTUM / 64


def beats_seconds(beats: float, bpm: float) -> float:
    return beats * 60.0 / bpm


def bar_seconds(bpm: float) -> float:
    return beats_seconds(QUANTUM, bpm)


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
        quit_peer(peer)
    assert live.interrupt() == 0
    print(live.output())  # shown when an assertion fails
    print([(round(t, 3), m) for t, m in recorder.note_ons(channel=9, note=KICK)])

    # 240 BPM: 1 s bars, 160 BPM: 1.5 s bars; each within a 64th note at its tempo
    assert before and all(abs(i - bar_seconds(240)) < beats_seconds(MARGIN_BEATS, 240) for i in before), before
    after = kick_intervals(recorder, after=change_seen)
    assert len(after) >= 2, after
    assert all(abs(i - bar_seconds(160)) < beats_seconds(MARGIN_BEATS, 160) for i in after), after
    bars = live.bars()
    assert bars[-1]["tempo"] == "160.0" and not [b for b in bars if b["late"]]


def test_start_and_stop_of_the_session_are_followed(live_factory, recorder, test_clip):
    live = live_factory("--link", "--start-stop-sync", "--bpm", "240", "--source", "clip", "--clip", test_clip)
    live.connect(recorder)
    live.wait_for(r"bar 1 ", timeout=30)
    peer = start_peer()
    try:
        assert tell(peer, "stop")[-1] == "False"
        live.wait_for(r"stopped: all notes off", timeout=5)
        time.sleep(bar_seconds(240) / 4)  # what was sent as it stopped has arrived
        silent_from = len(recorder.note_ons())
        time.sleep(1.5 * bar_seconds(240))
        assert len(recorder.note_ons()) == silent_from  # nothing starts while the session is stopped
        assert tell(peer, "start")[-1] == "True"
        live.wait_for(r"playing from the next bar line", timeout=5, count=2)
        bars = len(live.bars())
        live.wait_for(fr"bar {bars + 1} ", timeout=10)
    finally:
        quit_peer(peer)
    assert live.interrupt() == 0
    assert len(recorder.note_ons()) > silent_from
    assert left_sounding(recorder.final()) == 0


def kick_phases(recorder, peer) -> tuple[list[float], list[float]]:
    """(the arrival times of the kicks so far, the session's beat phase the peer reports at each)."""
    kicks = [t for t, _ in recorder.note_ons(channel=9, note=KICK)]
    return kicks, phases(peer, kicks)


def link_banner(live) -> str:
    return next(line for _, line in live.lines if "Ableton Link on" in line)


def bars_beside_a_peer(live_factory, recorder, peer_bpm: str, *live_args: str):
    """`cdgmvae live --link *live_args` in a session a peer without start/stop sync made at `peer_bpm`, played
    until bar 5 and interrupted: (the live process, the kicks heard, their phases in the session)."""
    peer = start_peer(peer_bpm, sync=False)
    try:
        live = live_factory("--link", *live_args)
        live.connect(recorder)
        live.wait_for(r"bar 5 ", timeout=30)
        kicks, session = kick_phases(recorder, peer)
    finally:
        quit_peer(peer)
    assert live.interrupt() == 0
    return live, kicks, session


def test_a_peer_without_start_stop_sync_gets_music_on_its_bar_lines(live_factory, recorder, test_clip):
    """Live with Start Stop Sync off never shares a transport: the bridge plays anyway, from the next bar line
    of the session's grid, and says so."""
    # the session (at 180 BPM) is there before the bridge joins it
    live, kicks, session = bars_beside_a_peer(live_factory, recorder, "180", "--bpm", "240", "--source", "clip",
                                              "--clip", test_clip)
    print(live.output())
    banner = link_banner(live)
    assert "1 peer(s)" in banner and "start/stop of its own" in banner and "--start-stop-sync" in banner
    assert "/cdgmvae/play" in banner
    assert len(kicks) >= 4
    assert all(off_the_bar_line(p) < MARGIN_BEATS for p in session), session


@pytest.mark.skipif(shutil.which("oscsend") is None, reason="liblo-tools is not installed")
def test_with_start_stop_sync_a_peer_that_does_not_share_it_waits_for_play(live_factory, recorder, test_clip):
    """--start-stop-sync follows the session's transport: with a peer that shares none it stays stopped, its
    banner says so and how to start, and /cdgmvae/play 1 starts it on the session's bar lines."""
    peer = start_peer("240", sync=False)
    try:
        live = live_factory("--link", "--start-stop-sync", "--bpm", "240", "--source", "clip", "--clip", test_clip)
        live.connect(recorder)
        live.wait_for(r"Ctrl-C stops", timeout=30)
        bar = bar_seconds(240)
        time.sleep(2 * bar)
        assert recorder.note_ons() == [] and not live.bars()
        send_until(lambda: subprocess.run(["oscsend", "127.0.0.1", str(live.osc_port), "/cdgmvae/play", "i", "1"],
                                          check=True),
                   lambda: "playing from the next bar line" in live.output(), 4 * bar, bar / 2, "play")
        live.wait_for(r"bar 3 ", timeout=10)
        kicks, session = kick_phases(recorder, peer)
    finally:
        quit_peer(peer)
    assert live.interrupt() == 0
    banner = link_banner(live)
    assert "start/stop sync on" in banner and "now stopped" in banner and "/cdgmvae/play 1" in banner
    assert len(kicks) >= 3
    assert all(off_the_bar_line(p) < MARGIN_BEATS for p in session), session


def test_latency_ms_sends_each_bar_that_much_before_the_sessions_bar_line(live_factory, recorder, test_clip):
    """--latency-ms: each event goes out that much ahead of its beat, to make up for the latency after the
    port: the first event of every bar arrives half a beat (125 ms at 240 BPM) before the session's bar line."""
    early_beats = 0.5
    live, kicks, session = bars_beside_a_peer(live_factory, recorder, "240", "--bpm", "240", "--source", "clip",
                                              "--clip", test_clip,
                                              "--latency-ms", f"{beats_seconds(early_beats, 240) * 1000:g}")
    print(live.output())
    assert len(kicks) >= 4
    assert all(off_the_bar_line(p, early=early_beats) < MARGIN_BEATS for p in session), session
