"""The beat clocks: a timeline's beats and seconds worked out by hand, and a real Ableton Link clock judged by
what a session promises (one beat every 60 / tempo seconds, time_at the inverse of beat_at, the app's own
transport without start/stop sync). Other Link apps on this machine may join the session and set its
tempo, so the Link checks read the tempo from the session rather than assume the one asked for.
"""
from __future__ import annotations

import time

import pytest
from cdgmvae.bridge.clock import QUANTUM, InternalClock, LinkClock, Timeline


def test_timeline_maps_beats_and_seconds_at_its_tempo():
    timeline = Timeline(t0=10.0, beat0=3.0, tempo=90.0, playing=True)
    assert timeline.beat_at(10.0) == 3.0
    assert timeline.beat_at(12.0) == pytest.approx(6.0)        # 2 s at 90 BPM: 3 beats
    assert timeline.beat_at(9.0) == pytest.approx(1.5)
    assert timeline.time_at(6.0) == pytest.approx(12.0) and timeline.time_at(0.0) == pytest.approx(8.0)
    assert QUANTUM == 4


def test_internal_clock_is_the_monotonic_clock_at_a_fixed_tempo():
    before = time.monotonic()
    clock = InternalClock(150.0)
    after = time.monotonic()
    timeline = clock.snapshot()
    assert before <= timeline.t0 <= after and timeline.beat0 == 0.0 and timeline.tempo == 150.0
    assert timeline.playing is True
    assert before <= clock.now() and clock.now() <= time.monotonic()
    assert clock.peers() == 0 and clock.monotonic_offset() == 0.0
    assert clock.describe() == "internal clock at 150 BPM (Ableton Link off)"
    clock.set_playing(False)
    assert clock.snapshot().playing is False
    clock.set_playing(True)
    assert clock.snapshot().playing is True
    clock.close()


@pytest.fixture
def link_clock():
    clock = LinkClock(100.0, join_timeout=0.05)
    yield clock
    clock.close()
    assert clock.link.enabled is False


def test_link_clock_gives_one_beat_per_beat_length_of_the_session_tempo(link_clock):
    timeline = link_clock.snapshot()
    if link_clock.peers() == 0:
        assert timeline.tempo == pytest.approx(100.0)
    now = link_clock.now()
    beat = timeline.beat_at(now)
    assert timeline.beat_at(now + 60.0 / timeline.tempo) == pytest.approx(beat + 1.0, abs=1e-3)
    assert timeline.beat_at(now + 6.0) - beat == pytest.approx(timeline.tempo / 10.0, abs=1e-3)
    assert timeline.time_at(beat + 4.0) == pytest.approx(now + 240.0 / timeline.tempo, abs=1e-4)
    assert timeline.time_at(timeline.beat_at(now + 1.5)) == pytest.approx(now + 1.5, abs=1e-4)


def test_link_clock_time_is_the_monotonic_clock_plus_its_offset(link_clock):
    offset = link_clock.monotonic_offset()
    assert link_clock.now() + offset == pytest.approx(time.monotonic(), abs=0.02)
    first = link_clock.now()
    time.sleep(0.05)
    assert 0.04 < link_clock.now() - first < 1.0    # seconds, not microseconds or milliseconds


def test_link_clock_keeps_a_transport_of_its_own_without_start_stop_sync(link_clock):
    assert link_clock.snapshot().playing is True
    text = link_clock.describe()
    assert text.startswith(f"Ableton Link on: {link_clock.peers()} peer(s), session tempo "
                           f"{link_clock.snapshot().tempo:.1f} BPM; start/stop of its own: plays from the next bar")
    assert "(quantum 4)" in text
    link_clock.set_playing(False)
    assert link_clock.snapshot().playing is False
    link_clock.set_playing(True)
    assert link_clock.snapshot().playing is True


def test_link_clock_with_start_stop_sync_and_no_peers_starts_playing():
    clock = LinkClock(100.0, start_stop_sync=True, join_timeout=0.05)
    try:
        assert clock.link.startStopSyncEnabled is True
        if clock.peers() == 0:   # with peers there, their transport decides
            assert clock.snapshot().playing is True
            assert "start/stop sync on: follows the session's transport, now playing (quantum 4)" in clock.describe()
        clock.set_playing(False)
        assert "now stopped" in clock.describe()
    finally:
        clock.close()
