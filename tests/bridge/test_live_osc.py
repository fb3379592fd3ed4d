"""OSC control of `cdgmvae live` with independent tools: liblo's oscsend and oscdump, and raw UDP."""
from __future__ import annotations

import math
import random
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder

from cdgmvae.engine import codec
from cdgmvae.engine.features import PITCH_NAMES, clip_profile, key_scores
from live_harness import free_udp_port, wait_until

BPM = "240"

pytestmark = pytest.mark.skipif(shutil.which("oscsend") is None or shutil.which("oscdump") is None,
                                reason="liblo-tools is not installed (Debian: apt-get install liblo-tools)")


class OscDump:
    """oscdump on a free port; its lines as they come."""

    def __init__(self) -> None:
        self.port = free_udp_port()
        self.proc = subprocess.Popen(["oscdump", "-L", str(self.port)], stdout=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(line.strip() for line in self.proc.stdout),
                         daemon=True).start()

    def values(self, address: str) -> list[str]:
        return [line.split()[-1].strip('"') for line in list(self.lines) if f" {address} " in f" {line} "]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


@pytest.fixture
def oscdump():
    dump = OscDump()
    yield dump
    dump.close()


def oscsend(port: int, address: str, types: str, *values) -> None:
    subprocess.run(["oscsend", "localhost", str(port), address, types, *map(str, values)], check=True)


def bar(live, number: int) -> dict:
    return next(b for b in live.bars() if b["bar"] == number)


def test_emotion_and_lambda_apply_from_the_next_bar(live_factory, oscdump, test_clip):
    live = live_factory("--bpm", BPM, "--source", "clip", "--clip", test_clip, "--emotion", "happy",
                        "--lambda", "0.5", "--feedback", f"127.0.0.1:{oscdump.port}")
    live.wait_for(r"bar 2 ", timeout=30)
    oscsend(live.osc_port, "/cdgmvae/emotion", "s", "sad")
    live.wait_for(r"bar 4 ", timeout=10)
    oscsend(live.osc_port, "/cdgmvae/lambda", "f", 1.0)
    live.wait_for(r"bar 6 ", timeout=10)
    assert live.interrupt() == 0

    for n in (0, 1, 2):
        assert bar(live, n)["target"] == "happy" and bar(live, n)["valence"] == "1.00"
    # lambda 0.5: half way to sad in bar 3, three quarters in bar 4; lambda 1: all the way in bar 5.
    assert (bar(live, 3)["target"], bar(live, 3)["valence"], bar(live, 3)["arousal"]) == ("sad", "0.50", "0.50")
    assert (bar(live, 4)["valence"], bar(live, 4)["lambda"], bar(live, 4)["emotion"]) == ("0.25", "0.50", "sad")
    assert (bar(live, 5)["valence"], bar(live, 5)["lambda"]) == ("0.00", "1.00")

    wait_until(lambda: "sad" in oscdump.values("/cdgmvae/fb/emotion"), 3, "feedback emotion sad")
    emotions = oscdump.values("/cdgmvae/fb/emotion")
    assert emotions[0] == "happy" and emotions[-1] == "sad"
    assert float(oscdump.values("/cdgmvae/fb/lambda")[-1]) == 1.0
    bars = [int(v) for v in oscdump.values("/cdgmvae/fb/bar")]
    assert bars[:6] == list(range(6))
    assert float(oscdump.values("/cdgmvae/fb/tempo")[0]) == pytest.approx(240.0)
    assert oscdump.values("/cdgmvae/fb/tonic") == []  # a clip has no key guidance


def test_tonic_applies_from_the_next_bar_and_is_fed_back(live_factory, oscdump, tmp_path):
    """The model's bars: /cdgmvae/tonic 9 puts the next bars in A (major: happy) instead of E flat, bad
    tonics are ignored and logged, and /cdgmvae/fb/tonic shows the tonic of each bar as it plays."""
    record = tmp_path / "live.mid"
    live = live_factory("--bpm", BPM, "--source", "model", "--seed", "3", "--emotion", "happy", "--tonic", "Eb",
                        "--record", str(record), "--feedback", f"127.0.0.1:{oscdump.port}")
    live.wait_for(r"bar 1 ", timeout=120)
    for types, bad in (("i", 12), ("i", -1), ("f", 9.5), ("s", "A")):
        oscsend(live.osc_port, "/cdgmvae/tonic", types, bad)
    live.wait_for(r"OSC: ignored: /cdgmvae/tonic: 12 is outside 0\.\.11", timeout=5)
    seen = len(live.bars())
    live.wait_for(fr"bar {seen} ", timeout=10)  # just past a bar's deadline: the next bar is seen+1
    oscsend(live.osc_port, "/cdgmvae/tonic", "i", 9)
    changed = int(live.wait_for(r"bar (\d+) .*tonic=A")[0].group(1))
    live.wait_for(fr"bar {changed + 7} ", timeout=15)
    assert live.interrupt() == 0

    # on a loaded machine the message can land a bar late, after the next bar was already asked for
    assert changed in (seen + 1, seen + 2)
    tonics = [b.get("tonic") for b in live.bars()]
    assert tonics[:changed] == ["Eb"] * changed and set(tonics[changed:]) == {"A"}
    assert re.search(r"\b4 OSC messages ignored", live.output()), live.output()[-1500:]

    # the feedback of each bar, sent as the bar starts: all but perhaps the last bar logged
    wait_until(lambda: len(oscdump.values("/cdgmvae/fb/tonic")) >= len(tonics) - 1, 3, "feedback of every bar")
    shown = [PITCH_NAMES[int(v)] for v in oscdump.values("/cdgmvae/fb/tonic")]
    assert shown == tonics[:len(shown)]

    piece = codec.encode(record)
    bars = [[]] * piece.report.leading_bars_dropped + piece.notes  # bar n of the file is bar n played
    before, after = (key_scores(clip_profile(b)) for b in (bars[:changed], bars[changed: changed + 6]))
    a_major = PITCH_NAMES.index("A")
    assert int(after.argmax()) % 12 == a_major and after[a_major] > 0.5 > before[a_major]


def test_hello_registers_the_sender_for_feedback(live_factory, test_clip):
    live = live_factory("--bpm", BPM, "--source", "clip", "--clip", test_clip)
    live.wait_for(r"bar 0 ", timeout=30)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(3)
        sock.sendto(OscMessageBuilder("/cdgmvae/hello").build().dgram, ("127.0.0.1", live.osc_port))
        data, sender = sock.recvfrom(1024)  # at once: the current state
        assert data.startswith(b"/cdgmvae/fb/") and sender[1] == live.osc_port
        live.wait_for(r"bar 1 ", timeout=5)
        addresses: list = []
        while b"/cdgmvae/fb/bar" not in addresses or addresses[-1] != b"/cdgmvae/fb/tempo":
            addresses.append(sock.recvfrom(1024)[0].split(b"\0")[0])  # a bar's feedback ends with tempo
    assert {b"/cdgmvae/fb/emotion", b"/cdgmvae/fb/tempo", b"/cdgmvae/fb/missed"} <= set(addresses)
    live.interrupt()


def message(address: str, *args, types: str = "") -> bytes:
    builder = OscMessageBuilder(address)
    for i, arg in enumerate(args):
        builder.add_arg(arg, types[i] if types else None)
    return builder.build().dgram


def malformed(rng: random.Random, i: int) -> bytes:
    kind = i % 8
    floats = ["/cdgmvae/valence", "/cdgmvae/arousal", "/cdgmvae/lambda", "/cdgmvae/temperature"]
    if kind == 0:
        return rng.randbytes(rng.randint(1, 200))
    if kind == 1:
        return message(rng.choice(floats), "loud")                                # wrong type
    if kind == 2:
        return message(rng.choice(floats), rng.choice([math.nan, math.inf, -math.inf]), types="f")
    if kind == 3:
        return message(rng.choice(floats), rng.choice([-0.5, 2.5, 1e9, -1e30, 5.0]), types="f")
    if kind == 4:
        return message(f"/cdgmvae/{rng.choice(['volume', 'fb/bar', 'valence/x', ''])}", 0.5)  # unknown
    if kind == 5:
        return message("/cdgmvae/valence", 0.1 * rng.random(), rng.random() * 0.01)  # too many arguments
    if kind == 6:
        return message("/cdgmvae/emotion", rng.choice(["angry", "", "happy!", 3]))   # not a choice
    return message("/cdgmvae/valence", b"x" * 5000)                               # oversized


def test_a_thousand_malformed_packets_are_ignored(live_factory, recorder, test_clip):
    live = live_factory("--bpm", BPM, "--source", "clip", "--clip", test_clip)
    live.connect(recorder)
    live.wait_for(r"bar 1 ", timeout=30)
    rng = random.Random(5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(1000):
            sock.sendto(malformed(rng, i), ("127.0.0.1", live.osc_port))
            if i % 25 == 24:
                time.sleep(0.002)  # pace the flood so the receive buffer drops none
        seen = len(live.bars())
        live.wait_for(fr"bar {seen} ", timeout=10)  # just past a bar's deadline: the next bar is seen+1
        sock.sendto(message("/cdgmvae/emotion", "sad"), ("127.0.0.1", live.osc_port))
    live.wait_for(fr"bar {seen + 2} ", timeout=10)
    assert live.interrupt() == 0

    bars = live.bars()
    assert not [b for b in bars if b["late"]]
    for b in bars:
        assert 0 <= float(b["valence"]) <= 1 and 0 <= float(b["arousal"]) <= 1 and 0 <= float(b["lambda"]) <= 1
    assert bar(live, seen)["target"] == "happy" and bar(live, seen + 1)["target"] == "sad"
    assert re.search(r"1000 OSC messages ignored", live.output()), live.output()[-1500:]
    assert "Traceback" not in live.output()
    assert len(recorder.note_ons(channel=9, note=36)) >= len(bars) - 1


def test_sender_outside_the_allow_list_changes_nothing(live_factory, test_clip):
    live = live_factory("--bpm", BPM, "--source", "clip", "--clip", test_clip, "--osc-host", "0.0.0.0",
                        "--osc-allow", "127.0.0.3")
    live.wait_for(r"bar 0 ", timeout=30)

    def send_from(ip: str) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((ip, 0))
            sock.sendto(message("/cdgmvae/emotion", "sad"), ("127.0.0.1", live.osc_port))

    send_from("127.0.0.2")
    live.wait_for(r"not in --osc-allow", timeout=5)
    live.wait_for(r"bar 3 ", timeout=10)
    assert all(b["target"] == "happy" for b in live.bars())
    send_from("127.0.0.3")
    live.wait_for(r"bar 5 ", timeout=10)
    assert live.interrupt() == 0
    assert bar(live, 5)["target"] == "sad"


def test_play_panic_and_stop_over_osc(live_factory, recorder, test_clip):
    live = live_factory("--bpm", BPM, "--source", "clip", "--clip", test_clip)
    live.connect(recorder)
    live.wait_for(r"bar 1 ", timeout=30)
    oscsend(live.osc_port, "/cdgmvae/panic", "")
    oscsend(live.osc_port, "/cdgmvae/play", "i", 0)
    live.wait_for(r"stopped: all notes off", timeout=5)
    time.sleep(0.3)
    silent_from = len(recorder.note_ons())
    time.sleep(1.2)  # more than a bar: nothing may start while stopped
    assert len(recorder.note_ons()) == silent_from
    oscsend(live.osc_port, "/cdgmvae/play", "i", 1)
    live.wait_for(r"playing from the next bar line", timeout=5, count=2)
    live.wait_for(r"bar 3 ", timeout=10)
    assert live.interrupt() == 0

    messages = recorder.final()
    assert len([m for _, m in messages if m.type == "note_on"]) > silent_from
    resets = [m for _, m in messages if m.type == "control_change" and m.control == 123]
    assert len(resets) >= 3 * 5  # panic, stop and exit: all-notes-off on each of the five channels
    sounding = 0
    for _, m in messages:
        sounding += (m.type == "note_on" and m.velocity > 0) - (m.type == "note_off")
    assert sounding == 0
