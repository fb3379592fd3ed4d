"""The Link clock beside a real Ableton Link peer in another process (tests/bridge/link_peer.py): it joins
the session before it returns, so its first bar is on the session's tempo; without start/stop sync it
plays whatever the session's transport; with it, the session's transport decides; closed, it leaves the
session. Other Link apps on this machine would join the same session, so each check allows more peers."""
from __future__ import annotations

import time

import pytest
from cdgmvae.bridge.clock import LinkClock
from link_peer import quit_peer, start_peer, tell
from live_harness import wait_until

pytest.importorskip("link", reason="LinkPython-extern (module link) is not installed")

# Link peers find each other within about a second; a clock that waited for its whole join timeout with a
# peer there would take this long, which no test here comes near
JOIN_TIMEOUT = 30.0
SETTLE = 1.0
LINK_NEWS = 10.0  # Link tells its peers of a join or a leave within about a second


@pytest.fixture
def peer():
    """A peer at 133 BPM that shares start/stop and has stopped its transport, alone when it starts."""
    peer = start_peer("133", sync=True, wait=0)
    assert tell(peer, "stop")[-1] == "False"
    # a session a moment old, as a running app's is: a peer that joins it takes its timeline (two sessions
    # started in the same instant may merge onto either's)
    time.sleep(SETTLE)
    yield peer
    quit_peer(peer)


def session(peer) -> tuple[float, bool]:
    _, tempo, playing = tell(peer, "state")
    return float(tempo), playing == "True"


def test_the_clock_joins_the_session_before_it_returns_and_leaves_it_when_closed(peer):
    started = time.monotonic()
    clock = LinkClock(100.0, join_timeout=JOIN_TIMEOUT)
    try:
        joined_in = time.monotonic() - started
        assert clock.peers() >= 1
        assert joined_in < JOIN_TIMEOUT / 2  # it returns when a peer answers, not at the timeout
        # the session's tempo from the first bar on: the peer's, not the 100 BPM asked for
        assert clock.snapshot().tempo == pytest.approx(133.0, rel=1e-4)
        assert session(peer)[0] == pytest.approx(133.0, rel=1e-4)
        wait_until(lambda: peers_seen(peer) >= 1, LINK_NEWS, "the peer to see the clock in its session")
    finally:
        clock.close()
    wait_until(lambda: peers_seen(peer) == 0, LINK_NEWS, "the peer to see the clock leave")


def peers_seen(peer) -> int:
    return int(tell(peer, "peers")[1])


def test_without_start_stop_sync_the_clock_plays_beside_a_stopped_session(peer):
    clock = LinkClock(100.0, start_stop_sync=False, join_timeout=JOIN_TIMEOUT)
    try:
        assert clock.peers() >= 1
        assert clock.snapshot().playing is True  # its own transport: it starts at once
        assert session(peer)[1] is False         # and the session's stays stopped
    finally:
        clock.close()


def test_with_start_stop_sync_the_session_transport_decides(peer):
    clock = LinkClock(100.0, start_stop_sync=True, join_timeout=JOIN_TIMEOUT)
    try:
        assert clock.peers() >= 1
        time.sleep(0.2)
        assert clock.snapshot().playing is False  # the session is stopped: it waits
        assert "now stopped" in clock.describe()
        assert tell(peer, "start")[-1] == "True"
        wait_until(lambda: clock.snapshot().playing is True, 5, "the clock to follow the session's start")
    finally:
        clock.close()
