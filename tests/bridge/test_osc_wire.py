"""The OSC server's reading of datagrams (OSC 1.0), judged against other implementations: liblo's oscsend
writes the messages, python-osc's builder the bundles, liblo's own matcher decides address patterns (part by
part, as OSC 1.0 matches), and the cases from the field in tests/cases/osc/."""
from __future__ import annotations

import ctypes
import ctypes.util
import datetime
import math
import shutil
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cdgmvae.bridge.osc_server import (
    IMMEDIATELY,
    Invalid,
    LiveState,
    OscServer,
    matching,
    parse_message,
    parse_networks,
    split_packet,
    time_tag_seconds,
)
from cdgmvae.bridge.osc_spec import BY_ADDRESS, CONTROLS, FEEDBACK
from cdgmvae.bridge.sources import LiveControls
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

CASES = Path(__file__).resolve().parents[1] / "cases" / "osc"
needs_oscsend = pytest.mark.skipif(shutil.which("oscsend") is None,
                                   reason="liblo-tools is not installed (Debian: apt-get install liblo-tools)")


def liblo(address: str, types: str, *values) -> bytes:
    """The datagram liblo's oscsend sends (`oscsend -` writes it to stdout)."""
    return subprocess.run(["oscsend", "-", address, types, *map(str, values)], capture_output=True,
                          check=True).stdout


def ntp(unix_seconds: float) -> int:
    """An OSC time tag, from the definition: seconds since 1900-01-01 in the high 32 bits, fraction below."""
    since_1900 = unix_seconds + (datetime.datetime(1970, 1, 1) - datetime.datetime(1900, 1, 1)).total_seconds()
    return int(since_1900) << 32 | int((since_1900 % 1) * 2**32)


def bundle(tag: int, *messages: bytes) -> bytes:
    """A bundle written by hand from OSC 1.0: '#bundle', the time tag, then size-prefixed elements."""
    return b"#bundle\0" + struct.pack(">Q", tag) + b"".join(struct.pack(">i", len(m)) + m for m in messages)


@pytest.fixture
def server():
    """The server's own handling of a datagram, without its thread: handle() is what the thread calls."""
    osc = OscServer("127.0.0.1", 0, [], [], LiveState(LiveControls(lam=0.5)))
    yield osc
    osc.close()


# -- messages ----------------------------------------------------------------------------------------

@needs_oscsend
@pytest.mark.parametrize("types, values, expected", [
    ("f", [0.25], [0.25]),
    ("i", [-7], [-7]),
    ("h", [2**40], [2**40]),
    ("d", [0.1], [0.1]),
    ("s", ["sad"], ["sad"]),
    ("S", ["calm"], ["calm"]),
    ("c", ["x"], ["x"]),
    ("TFNI", [], [True, False, None, math.inf]),
    ("ifsd", [3, 0.5, "abcd", 2.5], [3, 0.5, "abcd", 2.5]),
    ("", [], []),
])
def test_messages_written_by_liblo_read_as_written(types, values, expected):
    assert parse_message(liblo("/cdgmvae/x", types, *values)) == ("/cdgmvae/x", expected)


def test_the_truncated_case_is_refused():
    with pytest.raises(Invalid, match="truncated"):
        parse_message((CASES / "truncated_float_arg_missing_lambda.osc").read_bytes())


@needs_oscsend
@pytest.mark.parametrize("types, values", [("f", [0.9]), ("i", [1]), ("s", ["sad"]), ("h", [1]), ("d", [0.9])])
def test_data_shorter_or_longer_than_the_type_tags_is_ignored_and_counted(server, types, values):
    """Every cut of a sound message, and the message with more data after it, is ignored and counted once,
    and changes nothing, whatever its address would have done."""
    for address in ("/cdgmvae/lambda", "/cdgmvae/play", "/cdgmvae/emotion"):
        sound = liblo(address, types, *values)
        address_end = sound.index(b",")
        broken = [sound[:n] for n in range(1, len(sound)) if n != address_end]
        broken += [sound + bytes(4), sound + b"\0\0\0\x01", sound + b"\0"]
        for data in broken:
            before = server.state.ignored
            server.handle(data, ("127.0.0.1", 5555))
            assert server.state.ignored == before + 1, (address, data)
            controls, play, _ = server.state.take()
            assert controls == LiveControls(lam=0.5) and play is None, (address, data)


def test_the_truncated_case_is_ignored_counted_and_changes_nothing(server):
    server.handle((CASES / "truncated_float_arg_missing_lambda.osc").read_bytes(), ("127.0.0.1", 5555))
    assert server.state.ignored == 1 and server.state.controls.lam == 0.5


@needs_oscsend
def test_a_message_without_type_tags_is_read_as_one_without_arguments(server):
    """OSC 1.0 asks receivers to accept messages from older senders that leave the type tags out."""
    assert parse_message(b"/cdgmvae/panic\0\0") == ("/cdgmvae/panic", [])
    server.handle(b"/cdgmvae/panic\0\0", ("127.0.0.1", 5555))
    assert server.state.take()[2] is True and server.state.ignored == 0


@pytest.mark.parametrize("data", [
    b"/cdgmvae/lambda\0,f\0\0?\x00\x00",     # not a multiple of 4
    b"/cdgmvae/lambda\0,f\0\0?\x00\x00\x00\x00",
    b"/cdgmvae/lambda\0,q\0\0?\x00\x00\x00",  # an unknown type tag
    b"/cdgmvae/lambda\0f\0\0\0?\x00\x00\x00",  # type tags without their comma
    b"/cdgmvae/lambda\0,f\0x?\x00\x00\x00",   # padding that is not zeros
    b"cdgmvae/lambda\0\0,f\0\0?\x00\x00\x00",  # an address without its slash
    b"/cdgmvae/emotion\0\0\0\0,s\0\0sad\0sad\0",
    b"/cdgmvae/lambda\0,[f\0?\x00\x00\x00",    # an array not closed
])
def test_malformed_messages_are_refused(data):
    with pytest.raises(Invalid):
        split_packet(data)
        parse_message(data)


# -- bundles and time tags ---------------------------------------------------------------------------

def test_time_tags_are_ntp_seconds():
    assert time_tag_seconds(ntp(0.0)) == 0.0
    assert time_tag_seconds(ntp(1796083200.5)) == pytest.approx(1796083200.5, abs=1e-6)
    assert time_tag_seconds(0xeeb88806c35bb800) == pytest.approx(1796082054.763, abs=1e-3)


def test_the_bundle_case_reads_as_its_time_tag_and_message():
    data = (CASES / "bundle_future_timetag_plus1h_lambda.osc").read_bytes()
    ((tag, messages),) = split_packet(data)
    assert tag == struct.unpack(">Q", data[8:16])[0]
    assert [parse_message(m) for m in messages] == [("/cdgmvae/lambda", [pytest.approx(0.66)])]


def test_nested_bundles_written_by_python_osc_keep_their_time_tags():
    inner = OscBundleBuilder(2_000_000_000.25)
    inner.add_content(OscMessageBuilder("/cdgmvae/valence").build())
    outer = OscBundleBuilder(1_900_000_000.5)
    message = OscMessageBuilder("/cdgmvae/lambda")
    message.add_arg(0.25)
    outer.add_content(message.build())
    outer.add_content(inner.build())
    groups = split_packet(outer.build().dgram)
    assert [(round(time_tag_seconds(tag), 2), [parse_message(m)[0] for m in ms]) for tag, ms in groups] == [
        (1_900_000_000.5, ["/cdgmvae/lambda"]), (2_000_000_000.25, ["/cdgmvae/valence"])]


@pytest.mark.parametrize("data", [
    bundle(IMMEDIATELY, b"/cdgmvae/panic\0\0,\0\0\0")[:-4],  # an element shorter than its size says
    bundle(IMMEDIATELY)[:12],                                 # no room for the time tag
    bundle(IMMEDIATELY, b"/cdgmvae/panic\0\0,\0\0\0") + b"\0\0",
    b"#bundle\0" + struct.pack(">Q", 1) + struct.pack(">i", 6) + b"/x\0\0,\0\0\0",  # a size not a multiple of 4
    b"#bundle\0" + struct.pack(">Q", 1) + struct.pack(">i", -8) + b"/x\0\0,\0\0\0",
])
def test_broken_bundles_are_refused(data):
    with pytest.raises(Invalid):
        split_packet(data)


def lam(value: float) -> bytes:
    builder = OscMessageBuilder("/cdgmvae/lambda")
    builder.add_arg(value, "f")
    return builder.build().dgram


def test_a_future_bundle_is_held_until_its_time_and_bundles_apply_in_time_tag_order():
    state = LiveState(LiveControls(lam=0.5))
    osc = OscServer("127.0.0.1", 0, [], [], state)
    osc.start()
    try:
        now = time.time()
        due = {0.75: now + 0.8, 0.25: now + 0.4}   # λ value: when it is due; sent latest first
        start = time.monotonic()
        osc.handle(bundle(ntp(due[0.75]), lam(0.75)), ("127.0.0.1", 5555))
        osc.handle(bundle(ntp(due[0.25]), lam(0.25)), ("127.0.0.1", 5555))
        osc.handle(bundle(ntp(now - 5), lam(0.5)), ("127.0.0.1", 5555))  # the past is now
        seen: list[tuple[float, float]] = []
        while time.monotonic() < start + 2 and (not seen or seen[-1][1] != 0.75):
            if not seen or state.controls.lam != seen[-1][1]:
                seen.append((time.time(), state.controls.lam))
            time.sleep(0.002)
    finally:
        osc.close()
    values = [value for _, value in seen]
    assert values == [0.5, 0.25, 0.75] and state.ignored == 0
    for at, value in seen[1:]:
        assert at >= due[value] - 0.002, (value, at - due[value])  # never before its time tag


def test_an_immediate_bundle_applies_at_once(server):
    server.handle(bundle(IMMEDIATELY, lam(0.25), OscMessageBuilder("/cdgmvae/panic").build().dgram),
                  ("127.0.0.1", 5555))
    controls, _, panic = server.state.take()
    assert controls.lam == 0.25 and panic and not server.held


# -- address patterns --------------------------------------------------------------------------------

def liblo_matches(pattern: str) -> list[str]:
    """The receivable addresses that liblo's own matcher accepts, part by part (OSC 1.0: as many parts, each
    part matching; liblo's matcher on whole strings would let * cross a slash)."""
    lib = ctypes.CDLL(ctypes.util.find_library("lo") or "liblo.so.7")
    lib.lo_pattern_match.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    parts = pattern.split("/")
    return [m.address for m in CONTROLS if len(names := m.address.split("/")) == len(parts)
            and all(lib.lo_pattern_match(n.encode(), p.encode()) for n, p in zip(names, parts))]


PATTERNS = ["/cdgmvae/lamb*", "/cdgmvae/*", "/cdgmvae/*a*a*", "/cdgmvae/?????", "/cdgmvae/t?n?c", "/*/tonic",
            "/cdgmvae/{valence,arousal}", "/cdgmvae/{valence,tonic,nothing}", "/cdgmvae/[a-m]*",
            "/cdgmvae/[!a-m]*", "/cdgmvae/[tp]*", "/cdgmvae/[!tp]*", "/cdgmvae/t*[!e]", "/cdgmvae/[-v]alence",
            "/cdgmvae/*_*", "/cdgmvae/{lam,key}*", "/c*/{play,panic}", "/cdgmvae/p[a-l]*",
            "/cdgmvae/*e", "/{cdgmvae,other}/hello", "/cdgmvae/[!a-z]*"]


@pytest.mark.skipif(ctypes.util.find_library("lo") is None and not Path("/usr/lib/x86_64-linux-gnu/liblo.so.7")
                    .exists(), reason="liblo is not installed (Debian: apt-get install liblo7)")
@pytest.mark.parametrize("pattern", PATTERNS)
def test_address_patterns_match_as_liblo_matches_them(pattern):
    expected = liblo_matches(pattern)
    if not expected:
        with pytest.raises(Invalid, match="matches no control"):
            matching(pattern)
    else:
        assert [m.address for m in matching(pattern)] == expected


def test_patterns_from_the_spec():
    def names(pattern: str) -> list[str]:
        return [m.address.rsplit("/", 1)[1] for m in matching(pattern)]
    assert names("/cdgmvae/lamb*") == ["lambda"]
    assert names("/cdgmvae/{valence,arousal}") == ["valence", "arousal"]     # several addresses, each gets it
    assert names("/cdgmvae/[s-u]?nic") == ["tonic"]
    assert names("/cdgmvae/[!a-s]*") == ["valence", "temperature", "tonic", "transfer"]
    assert names("/cdgmvae/tonic") == ["tonic"]
    # "a minus sign at the end of the string has no special meaning" (liblo 0.31 matches no 'v' here)
    assert names("/cdgmvae/[v-]alence") == ["valence"]
    for unknown in ("/*", "/cdgmvae/fb/*", "/cdgmvae/*/bar", "/cdgmvae/x*", "/cdgmvae/lamb"):
        with pytest.raises(Invalid):   # * stays within a part; feedback addresses are not for sending
            matching(unknown)
    for broken in ("/cdgmvae/[abc", "/cdgmvae/{a,b"):
        with pytest.raises(Invalid, match="not closed"):
            matching(broken)


def test_a_pattern_delivers_to_every_address_it_matches(server):
    builder = OscMessageBuilder("/cdgmvae/{valence,arousal,emotion}")
    builder.add_arg(0.25, "f")
    server.handle(builder.build().dgram, ("127.0.0.1", 5555))
    controls = server.state.controls
    assert (controls.valence, controls.arousal) == (0.25, 0.25)
    assert server.state.ignored == 1  # emotion takes a string: that delivery alone is refused


def test_the_wildcard_case_sets_lambda(server):
    server.handle((CASES / "wildcard_star_lamb_star.osc").read_bytes(), ("127.0.0.1", 5555))
    assert server.state.controls.lam == pytest.approx(0.78) and server.state.ignored == 0


def test_a_control_in_force_is_fed_back_as_soon_as_it_is_taken():
    """Without waiting for a bar: temperature, key strength, λ and transfer confirm at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as surface:
        surface.bind(("127.0.0.1", 0))
        surface.settimeout(0.5)
        osc = OscServer("127.0.0.1", 0, [], [f"127.0.0.1:{surface.getsockname()[1]}"], LiveState(LiveControls()))
        try:
            for address, value in (("/cdgmvae/temperature", 1.5), ("/cdgmvae/key_strength", 0.5),
                                   ("/cdgmvae/lambda", 0.25), ("/cdgmvae/transfer", 1)):
                builder = OscMessageBuilder(address)
                builder.add_arg(value)
                fed_back = None
                for _ in range(5):  # a datagram may be dropped: take the control again
                    osc.handle(builder.build().dgram, ("127.0.0.1", 5555))
                    try:
                        fed_back = parse_message(surface.recvfrom(1024)[0])
                        break
                    except TimeoutError:
                        continue
                assert fed_back == (BY_ADDRESS[address].feedback, [value])
        finally:
            osc.close()



def test_a_bars_feedback_read_before_a_change_does_not_go_out_after_its_confirmation():
    """A bar's feedback reads the controls in force and sends them while an OSC message may change one on
    the server's thread. Here the bar's read of the controls is held up (as a busy CPU can hold a thread);
    a change sent meanwhile must confirm after the bar's values, so that the surface is left showing the
    new value, not the old."""

    class SlowToRead(LiveState):
        """The controls, read by the bar's thread for the first time, come back late."""
        read, go_on, bar_thread = threading.Event(), threading.Event(), None

        @property
        def controls(self):
            if threading.current_thread() is self.bar_thread and not self.read.is_set():
                value = self._controls
                self.read.set()
                self.go_on.wait(2)
                return value
            return self._controls

        @controls.setter
        def controls(self, value):
            self._controls = value

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as surface:
        surface.bind(("127.0.0.1", 0))
        surface.settimeout(2)
        state = SlowToRead(LiveControls(key_strength=3.0))
        osc = OscServer("127.0.0.1", 0, [], [f"127.0.0.1:{surface.getsockname()[1]}"], state)
        builder = OscMessageBuilder("/cdgmvae/key_strength")
        builder.add_arg(0.0)
        try:
            state.bar_thread = threading.Thread(target=osc.feedback, args=({"bar": 1},),
                                                kwargs={"controls_in_force": True})
            state.bar_thread.start()
            assert state.read.wait(2)
            change = threading.Thread(target=osc.handle, args=(builder.build().dgram, ("127.0.0.1", 5555)))
            change.start()
            change.join(0.3)  # the change may take its turn now, or wait for the bar's feedback
            state.go_on.set()
            state.bar_thread.join(2)
            change.join(2)
            shown = []
            while len(shown) < 2:
                address, args = parse_message(surface.recvfrom(1024)[0])
                if address == "/cdgmvae/fb/key_strength":
                    shown.append(args[0])
        finally:
            osc.close()
    assert shown == [3.0, 0.0]

# -- senders -----------------------------------------------------------------------------------------

def test_ipv4_mapped_senders_are_the_ipv4_addresses_they_are():
    osc = OscServer("::", 0, ["192.0.2.0/24"], [], LiveState(LiveControls()))
    try:
        for sender, obeyed in (("::ffff:127.0.0.1", True), ("127.0.0.1", True), ("::1", True),
                               ("::ffff:192.0.2.7", True), ("192.0.2.7", True), ("::ffff:127.0.0.2", False),
                               ("::ffff:198.51.100.1", False), ("fd00::7", False), ("rubbish", False)):
            assert osc.allowed(sender) is obeyed, sender
    finally:
        osc.close()
    assert [str(n) for n in parse_networks(["::ffff:10.0.0.0/104", "::ffff:10.1.2.3"])] == ["10.0.0.0/8",
                                                                                               "10.1.2.3/32"]


# -- the table ---------------------------------------------------------------------------------------

def test_every_control_with_a_value_names_a_feedback_address_that_fits_it():
    """Walks the table: a control added without its feedback fails here."""
    feedback = {m.address: m for m in FEEDBACK}
    for control in CONTROLS:
        if not control.types:
            assert not control.feedback, control.address  # panic, hello: nothing to confirm
            continue
        assert control.feedback in feedback, f"{control.address} has no feedback address"
        shown = feedback[control.feedback]
        assert shown.direction == "out" and BY_ADDRESS[control.feedback] is shown
        assert (shown.types, shown.low, shown.high, shown.choices) == \
            (control.types, control.low, control.high, control.choices), control.address
