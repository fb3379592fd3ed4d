"""OSC control of `cdgmvae live` with independent tools: liblo's oscsend and oscdump, and raw UDP."""
from __future__ import annotations

import math
import random
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cdgmvae.bridge.osc_spec import CONTROLS, FEEDBACK, feedback_name
from cdgmvae.engine import codec
from cdgmvae.engine.features import PITCH_NAMES, clip_profile, key_scores
from live_harness import free_udp_port, wait_until
from live_harness import send_until as send_every
from pythonosc.osc_message_builder import OscMessageBuilder

from tests.midi_check import left_sounding

BPM = "240"
BAR = 4 * 60 / float(BPM)  # seconds
CASES = Path(__file__).resolve().parents[1] / "cases" / "osc"
NTP_UNIX_OFFSET = 2208988800  # OSC time tags count from 1900, Unix time from 1970

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

    def timed(self, address: str) -> list[tuple[float, str]]:
        """(Unix time at which liblo received it, value) of each message to `address`: oscdump starts each
        line with that time as an OSC time tag in hex."""
        out = []
        for line in list(self.lines):
            if f" {address} " in f" {line} ":
                seconds, fraction = line.split()[0].split(".")
                received = int(seconds, 16) - NTP_UNIX_OFFSET + int(fraction, 16) / 2**32
                out.append((received, line.split()[-1].strip('"')))
        return out

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


def first_bar(live, **fields) -> int | None:
    """The number of the first bar logged with these field values (None: none yet)."""
    return next((b["bar"] for b in live.bars() if all(b.get(k) == v for k, v in fields.items())), None)


def test_emotion_and_lambda_apply_from_the_next_bar(live_factory, oscdump, test_clip):
    live = live_factory("--bpm", BPM, "--source", "clip", "--clip", test_clip, "--emotion", "happy",
                        "--lambda", "0.5", "--feedback", f"127.0.0.1:{oscdump.port}")
    live.wait_for(r"bar 2 ", timeout=30)
    send_until(lambda: oscsend(live.osc_port, "/cdgmvae/emotion", "s", "sad"),
               lambda: first_bar(live, target="sad") is not None, 6, "target sad")
    sad = first_bar(live, target="sad")
    live.wait_for(fr"bar {sad + 1} ", timeout=10)  # made before λ changes: λ 0.5 still
    send_until(lambda: oscsend(live.osc_port, "/cdgmvae/lambda", "f", 1.0),
               lambda: first_bar(live, **{"lambda": "1.00"}) is not None, 6, "lambda 1")
    jump = first_bar(live, **{"lambda": "1.00"})
    live.wait_for(fr"bar {jump + 1} ", timeout=10)
    assert live.interrupt() == 0

    assert sad >= 3
    for n in range(sad):
        assert bar(live, n)["target"] == "happy" and bar(live, n)["valence"] == "1.00"
    # lambda 0.5: half way to sad in the first bar made for it, three quarters in the next, and so on; lambda 1:
    # all the way in the first bar made with it
    assert (bar(live, sad)["target"], bar(live, sad)["valence"], bar(live, sad)["arousal"]) == ("sad", "0.50", "0.50")
    assert (bar(live, sad + 1)["valence"], bar(live, sad + 1)["lambda"], bar(live, sad + 1)["emotion"]) == (
        "0.25", "0.50", "sad")
    for n in range(sad, jump):
        assert bar(live, n)["valence"] == f"{0.5 ** (n - sad + 1):.2f}", n
    assert (bar(live, jump)["valence"], bar(live, jump)["lambda"]) == ("0.00", "1.00")

    wait_until(lambda: "sad" in oscdump.values("/cdgmvae/fb/emotion"), 3, "feedback emotion sad")
    emotions = oscdump.values("/cdgmvae/fb/emotion")
    assert emotions[0] == "happy" and emotions[-1] == "sad"
    assert float(oscdump.values("/cdgmvae/fb/lambda")[-1]) == 1.0
    # each bar's number as it starts, in order; a datagram may be lost, and the last bar logged may not have
    # started when the run stopped
    bars = [int(v) for v in oscdump.values("/cdgmvae/fb/bar")]
    logged = [b["bar"] for b in live.bars()]
    assert bars == sorted(set(bars)) and set(bars) <= set(logged) and len(bars) >= len(logged) - 2, (bars, logged)
    assert float(oscdump.values("/cdgmvae/fb/tempo")[0]) == pytest.approx(240.0)
    assert oscdump.values("/cdgmvae/fb/tonic") == []  # a clip has no key guidance


def test_tonic_applies_from_the_next_bar_and_is_fed_back(live_factory, oscdump, tmp_path):
    """The model's bars: /cdgmvae/tonic 9 puts the next bars in A (major: happy) instead of E flat, bad
    tonics are ignored and logged, and /cdgmvae/fb/tonic shows the tonic of each bar as it plays."""
    record = tmp_path / "live.mid"
    live = live_factory("--bpm", BPM, "--source", "model", "--seed", "3", "--emotion", "happy", "--tonic", "Eb",
                        "--record", str(record), "--feedback", f"127.0.0.1:{oscdump.port}")
    live.wait_for(r"bar 1 ", timeout=120)

    def bad_tonics() -> None:
        for types, bad in (("i", 12), ("i", -1), ("f", 9.5), ("s", "A")):
            oscsend(live.osc_port, "/cdgmvae/tonic", types, bad)
    bad_sends = send_until(bad_tonics, lambda: "OSC: ignored: /cdgmvae/tonic: " in live.output(), 4, "refused")
    seen = len(live.bars())
    live.wait_for(fr"bar {seen} ", timeout=10)  # just past a bar's deadline: the next bar is seen+1
    logged_at_send = []

    def tonic_a() -> None:
        logged_at_send.append(len(live.bars()))
        oscsend(live.osc_port, "/cdgmvae/tonic", "i", 9)
    send_until(tonic_a, lambda: first_bar(live, tonic="A") is not None, 6, "tonic A")
    changed = first_bar(live, tonic="A")
    live.wait_for(fr"bar {changed + 7} ", timeout=15)
    assert live.interrupt() == 0

    # from the next bar asked for: on a loaded machine the message can land a bar late, after the next bar was
    # already asked for (UDP may drop a send: it is sent again each half bar until a bar shows it)
    assert logged_at_send[0] <= changed <= logged_at_send[-1] + 1, (logged_at_send, changed)
    # a late bar before the model's first has no tonic yet (a fallback of silence)
    tonics = [b["tonic"] for b in live.bars() if "tonic" in b]
    assert all(b.get("tonic") is None for b in live.bars()[:len(live.bars()) - len(tonics)])
    first = len(live.bars()) - len(tonics)
    assert tonics[:changed - first] == ["Eb"] * (changed - first) and set(tonics[changed - first:]) == {"A"}
    # each bad tonic sent is ignored and counted (a datagram may be lost on the way: at most all sent)
    assert 1 <= ignored(live) <= 4 * bad_sends, live.output()[-1500:]

    # the feedback of each bar, sent as the bar starts, in order: all but perhaps the last bar logged and a
    # datagram lost
    wait_until(lambda: len(oscdump.values("/cdgmvae/fb/tonic")) >= len(tonics) - 1, 3, "feedback of every bar")
    shown = [PITCH_NAMES[int(v)] for v in oscdump.values("/cdgmvae/fb/tonic")]
    assert shown == ["Eb"] * shown.count("Eb") + ["A"] * shown.count("A") and "A" in shown, shown
    assert shown.count("Eb") >= tonics.count("Eb") - 1 and len(shown) >= len(tonics) - 2, (shown, tonics)

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
        sock.settimeout(BAR / 2)
        replies = []

        def hello() -> None:
            sock.sendto(OscMessageBuilder("/cdgmvae/hello").build().dgram, ("127.0.0.1", live.osc_port))
            try:
                replies.append(sock.recvfrom(1024))  # at once: the current state
            except TimeoutError:
                pass
        send_until(hello, lambda: replies, 4, "an answer to hello")
        data, sender = replies[0]
        assert data.startswith(b"/cdgmvae/fb/") and sender[1] == live.osc_port
        live.wait_for(r"bar 1 ", timeout=5)
        sock.settimeout(3 * BAR)
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
        send_until(lambda: sock.sendto(message("/cdgmvae/emotion", "sad"), ("127.0.0.1", live.osc_port)),
                   lambda: first_bar(live, target="sad") is not None, 6, "target sad after the flood")
    sad = first_bar(live, target="sad")
    live.wait_for(fr"bar {sad + 1} ", timeout=10)
    assert live.interrupt() == 0

    bars = live.bars()
    assert not [b for b in bars if b["late"]]
    # no number from the flood got through: every control's value in the bar log within the OSC table's range
    for control in (c for c in CONTROLS if c.types == "f"):
        assert all(control.low <= float(b[feedback_name(control.feedback)]) <= control.high for b in bars), control
    assert [b["target"] for b in bars] == ["happy"] * sad + ["sad"] * (len(bars) - sad)
    # Every malformed packet that arrives is ignored and counted. UDP may drop some of a flood; a tenth lost
    # would be far more than loopback loses, and fewer than one kind of the eight (125 each) made valid.
    assert 900 <= ignored(live) <= 1000, live.output()[-1500:]
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

    send_until(lambda: send_from("127.0.0.2"), lambda: "not in --osc-allow" in live.output(), 4, "refused")
    live.wait_for(fr"bar {len(live.bars()) + 2} ", timeout=10)
    assert all(b["target"] == "happy" for b in live.bars())
    send_until(lambda: send_from("127.0.0.3"), lambda: first_bar(live, target="sad") is not None, 6, "obeyed")
    assert live.interrupt() == 0


def test_play_panic_and_stop_over_osc(live_factory, recorder, test_clip):
    live = live_factory("--bpm", BPM, "--source", "clip", "--clip", test_clip)
    live.connect(recorder)
    live.wait_for(r"bar 1 ", timeout=30)

    def all_notes_off() -> int:
        return len([m for _, m in recorder.snapshot() if m.type == "control_change" and m.control == 123])
    send_until(lambda: oscsend(live.osc_port, "/cdgmvae/panic", ""), lambda: all_notes_off() >= 5, 4, "panic")
    send_until(lambda: oscsend(live.osc_port, "/cdgmvae/play", "i", 0),
               lambda: "stopped: all notes off" in live.output(), 4, "stop")
    time.sleep(BAR / 4)  # what was sent as it stopped has arrived
    silent_from = len(recorder.note_ons())
    time.sleep(1.5 * BAR)  # more than a bar: nothing may start while stopped
    assert len(recorder.note_ons()) == silent_from
    send_until(lambda: oscsend(live.osc_port, "/cdgmvae/play", "i", 1),
               lambda: live.output().count("playing from the next bar line") >= 2, 4, "play")
    live.wait_for(r"bar 3 ", timeout=10)
    assert live.interrupt() == 0

    messages = recorder.final()
    assert len([m for _, m in messages if m.type == "note_on"]) > silent_from
    resets = [m for _, m in messages if m.type == "control_change" and m.control == 123]
    assert len(resets) >= 3 * 5  # panic, stop and exit: all-notes-off on each of the five channels
    assert left_sounding(messages) == 0


# -- inputs from the field: OSC 1.0 as senders really send it -----------------------------------------

def udp(port: int, data: bytes, source: str = "127.0.0.1") -> None:
    """Send the bytes as they are, from `source` (IPv4 or IPv6)."""
    family = socket.AF_INET6 if ":" in source else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.sendto(data, ("::1" if family == socket.AF_INET6 else "127.0.0.1", port))


def send_until(send, done, bars: float, what: str) -> int:
    """Send, and again every half bar, until `done()` within `bars` bars (UDP may drop a datagram); returns the
    sends."""
    return send_every(send, done, bars * BAR, BAR / 2, what)


def ignored(live) -> int:
    return int(re.search(r"(\d+) OSC messages ignored", live.output()).group(1))


def test_a_truncated_or_overlong_message_is_ignored_and_counted(live_factory, oscdump, test_clip):
    """The truncated case (/cdgmvae/lambda ,f and no float) once set λ to 0 uncounted."""
    live = live_factory("--bpm", BPM, "--source", "clip", "--clip", test_clip, "--lambda", "0.5",
                        "--feedback", f"127.0.0.1:{oscdump.port}")
    live.wait_for(r"bar 1 ", timeout=30)
    truncated = (CASES / "truncated_float_arg_missing_lambda.osc").read_bytes()
    overlong = message("/cdgmvae/lambda", 0.0, types="f") + bytes(4)
    sends = 0
    for data, said in ((truncated, "/cdgmvae/lambda: its type tags ,f need more data"),
                       (overlong, "/cdgmvae/lambda: 4 bytes beyond what its type tags ,f hold")):
        sends += send_until(lambda data=data: udp(live.osc_port, data), lambda said=said: said in live.output(), 4,
                            said)
    live.wait_for(fr"bar {len(live.bars()) + 1} ", timeout=10)
    assert live.interrupt() == 0

    assert {b["lambda"] for b in live.bars()} == {"0.50"}
    assert set(oscdump.values("/cdgmvae/fb/lambda")) == {"0.500000"}
    assert 2 <= ignored(live) <= sends


def with_time_tag(bundle: bytes, unix: float) -> bytes:
    """The bundle with its time tag (bytes 8..16, OSC 1.0) set to a Unix time."""
    since_1900 = unix + NTP_UNIX_OFFSET
    return bundle[:8] + struct.pack(">II", int(since_1900), int(since_1900 % 1 * 2**32)) + bundle[16:]


def test_a_bundle_for_later_is_held_until_its_time(live_factory, oscdump, test_clip):
    """The case's bundle (λ 0.66) an hour ahead is held, not applied; the same bundle two bars ahead applies
    when its time comes: not before, in the feedback and in the bars made after it."""
    live = live_factory("--bpm", BPM, "--source", "clip", "--clip", test_clip, "--lambda", "0.5",
                        "--feedback", f"127.0.0.1:{oscdump.port}")
    live.wait_for(r"bar 1 ", timeout=30)
    case = (CASES / "bundle_future_timetag_plus1h_lambda.osc").read_bytes()
    hour_ahead = with_time_tag(case, time.time() + 3600)
    send_until(lambda: udp(live.osc_port, hour_ahead), lambda: "OSC: bundle held until" in live.output(), 4,
               "the bundle an hour ahead held")
    live.wait_for(fr"bar {len(live.bars()) + 2} ", timeout=10)
    assert {b["lambda"] for b in live.bars()} == {"0.50"}

    due = time.time() + 2 * BAR
    due_monotonic = time.monotonic() + 2 * BAR
    soon = with_time_tag(case, due)
    send_until(lambda: udp(live.osc_port, soon), lambda: "0.660000" in oscdump.values("/cdgmvae/fb/lambda"), 6,
               "the bundle two bars ahead applied")
    live.wait_for(fr"bar {len(live.bars()) + 1} ", timeout=10)
    assert live.interrupt() == 0

    applied = min(t for t, value in oscdump.timed("/cdgmvae/fb/lambda") if value == "0.660000")
    assert applied >= due - 0.002, applied - due   # liblo's receive time of the feedback, not before the tag
    lambdas = [(t, line) for t, line in live.lines if re.search(r"bar \d+ .*lambda=0\.66", line)]
    assert lambdas and min(t for t, _ in lambdas) >= due_monotonic
    assert [b["lambda"] for b in live.bars()][-1] == "0.66" and ignored(live) == 0
    assert re.search(r"OSC: [1-9]\d* bundle\(s\) held for a later time were not applied", live.output())


def test_address_patterns_reach_every_control_they_match(live_factory, oscdump, test_clip):
    """The case /cdgmvae/lamb* sets λ; {valence,arousal} sets both; a pattern matching nothing is counted."""
    live = live_factory("--bpm", BPM, "--source", "clip", "--clip", test_clip, "--lambda", "0.5",
                        "--emotion", "happy", "--feedback", f"127.0.0.1:{oscdump.port}")
    live.wait_for(r"bar 1 ", timeout=30)
    wildcard = (CASES / "wildcard_star_lamb_star.osc").read_bytes()
    send_until(lambda: udp(live.osc_port, wildcard), lambda: "0.780000" in oscdump.values("/cdgmvae/fb/lambda"),
               4, "λ from /cdgmvae/lamb*")
    send_until(lambda: oscsend(live.osc_port, "/cdgmvae/{valence,arousal}", "f", 0),
               lambda: any(b["target"] == "sad" for b in live.bars()), 6, "target sad from {valence,arousal}")
    unknown = send_until(lambda: oscsend(live.osc_port, "/cdgmvae/vol*", "f", 1),
                         lambda: "the pattern '/cdgmvae/vol*' matches no control" in live.output(), 4, "unknown")
    live.wait_for(fr"bar {len(live.bars()) + 1} ", timeout=10)
    assert live.interrupt() == 0

    sad = [b for b in live.bars() if b["target"] == "sad"]
    assert sad[0]["lambda"] == "0.78" and sad[0]["valence"] == "0.22" and sad[0]["arousal"] == "0.22"
    assert 1 <= ignored(live) <= unknown


def test_listening_on_both_stacks(live_factory, oscdump, test_clip):
    """--osc-host :: obeys loopback (IPv4, IPv6, IPv4-mapped) and IPv4 senders in an IPv4 allow list, refuses
    others, feeds back to an IPv4 target and answers an IPv4 hello; a target it cannot reach is said once."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    live = live_factory("--bpm", BPM, "--source", "clip", "--clip", test_clip, "--osc-host", "::",
                        "--osc-allow", "192.0.2.0/24", "127.0.0.3", "--feedback", f"127.0.0.1:{oscdump.port}",
                        "--feedback", "255.255.255.255:9")
    live.wait_for(r"bar 0 ", timeout=30)
    wait_until(lambda: oscdump.values("/cdgmvae/fb/bar"), 3 * BAR, "feedback at the IPv4 target")

    send_until(lambda: udp(live.osc_port, message("/cdgmvae/emotion", "sad"), source="127.0.0.2"),
               lambda: "sender ::ffff:127.0.0.2 is not in --osc-allow" in live.output(), 4, "refused")
    for emotion, send in (("tense", lambda: oscsend(live.osc_port, "/cdgmvae/emotion", "s", "tense")),
                          ("calm", lambda: udp(live.osc_port, message("/cdgmvae/emotion", "calm"), "127.0.0.3")),
                          ("sad", lambda: udp(live.osc_port, message("/cdgmvae/emotion", "sad"), "::1"))):
        send_until(send, lambda emotion=emotion: any(b["target"] == emotion for b in live.bars()), 6,
                   f"{emotion} obeyed")

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(BAR / 2)
        replies = []

        def hello() -> None:
            sock.sendto(message("/cdgmvae/hello"), ("127.0.0.1", live.osc_port))
            try:
                replies.append(sock.recvfrom(1024))
            except TimeoutError:
                pass
        send_until(hello, lambda: replies, 4, "an answer to hello from IPv4")
    live.wait_for(fr"bar {len(live.bars()) + 1} ", timeout=10)
    assert live.interrupt() == 0

    targets = [b["target"] for b in live.bars()]
    assert [t for i, t in enumerate(targets) if i == 0 or t != targets[i - 1]] == ["happy", "tense", "calm", "sad"]
    assert replies[0][0].startswith(b"/cdgmvae/fb/") and replies[0][1][1] == live.osc_port
    assert len(re.findall(r"feedback to 255\.255\.255\.255:9 cannot be sent", live.output())) == 1


def shown(value: str, control) -> object:
    """A value as oscdump prints it, read as the control's type."""
    return value if control.types == "s" else float(value)


def set_and_confirm(live, oscdump, control) -> None:
    """Send the control the end of its range further from what its feedback shows (another choice, for a
    string), until its feedback and (but play, which stops the bars) the bar log show it; then, a bar later,
    the feedback has not gone back."""
    name = feedback_name(control.feedback)
    now = shown(wait_until(lambda: oscdump.values(control.feedback), 3 * BAR, control.feedback)[-1], control)
    if control.types == "s":
        value = next(choice for choice in control.choices if choice != now)
    else:
        value = control.low if now > (control.low + control.high) / 2 else control.high
        value = int(value) if control.types == "i" else value
    field = PITCH_NAMES[value] if name == "tonic" else f"{value:.2f}" if control.types == "f" else str(value)
    before = len(oscdump.values(control.feedback))

    def confirmed() -> bool:
        fed_back = any(shown(v, control) == pytest.approx(value, abs=1e-5)
                       for v in oscdump.values(control.feedback)[before:])
        return fed_back and (name == "playing" or any(b.get(name) == field for b in live.bars()[-2:]))
    send_until(lambda: oscsend(live.osc_port, control.address, control.types, value), confirmed, 8,
               f"{control.address} {value} confirmed on {control.feedback} and in the bar log")
    if name != "playing":
        live.wait_for(fr"bar {live.bars()[-1]['bar'] + 1} ", timeout=10)
        values = [shown(v, control) for v in oscdump.values(control.feedback)[before:]]
        first = next(i for i, v in enumerate(values) if v == pytest.approx(value, abs=1e-5))
        assert values[first:] == pytest.approx([value] * (len(values) - first), abs=1e-5), \
            f"{control.feedback} went back after showing {value}: {values[first:]}"


def test_every_control_is_confirmed_by_its_feedback_and_the_bar_log(live_factory, oscdump):
    """Walks the table: each control with a value, set to another value, comes back on its feedback address
    and in the bar log; every feedback value is a field of every bar line. λ and play go last (λ 1 lets
    valence and arousal reach their targets in a bar; play 0 ends the bars)."""
    live = live_factory("--bpm", BPM, "--source", "model", "--seed", "3", "--tonic", "Eb", "--lambda", "1",
                        "--feedback", f"127.0.0.1:{oscdump.port}")
    live.wait_for(r"bar 1 ", timeout=120)
    for control in sorted((c for c in CONTROLS if c.types), key=lambda c: c.address.endswith(("/lambda", "/play"))):
        set_and_confirm(live, oscdump, control)
    live.wait_for(r"stopped: all notes off", timeout=5)
    assert live.interrupt() == 0

    bars = [b for b in live.bars() if not b["late"]]
    assert bars
    for message_ in FEEDBACK:
        name = feedback_name(message_.address)
        if name != "bar":
            assert all(name in b for b in bars), f"{name} is not in the bar log"
