"""The Max for Live device: its patcher against the bridge's OSC table, its .amxd, and end to end.

The patcher is read as a graph (boxes and patch cords), independently of max4live/make_patch.py:
what reaches [udpsend] is what the device sends, what leaves [udpreceive] is what it shows.
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cdgmvae.bridge.osc_spec import CONTROLS, EMOTIONS, FEEDBACK, PITCH_NAMES
from cdgmvae.max4live import build, make_patch

ROOT = Path(__file__).resolve().parents[1]
MAXPAT = ROOT / "max4live" / "cdgmvae.maxpat"
AMXD = ROOT / "max4live" / "cdgmvae.amxd"
CONTROL = {m.address: m for m in CONTROLS}
DISPLAYS = {"i": {"number", "live.menu"}, "f": {"flonum"}, "s": {"message", "comment"}}  # a menu shows its item
# Controls of the OSC table the device does not send, and why.
NOT_SENT = {"/cdgmvae/hello": "[udpsend] cannot receive the reply (make_patch.py)"}


class Graph:
    def __init__(self, patcher: dict):
        self.patcher = patcher
        self.boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
        self.lines = [(l["patchline"]["source"], l["patchline"]["destination"]) for l in patcher["lines"]]

    def objects(self, head: str) -> list[dict]:
        """The [newobj] boxes whose text starts with `head`."""
        return [b for b in self.boxes.values()
                if b["maxclass"] == "newobj" and b["text"].split()[0] == head]

    def into(self, box: dict, inlet: int = 0) -> list[dict]:
        return [self.boxes[s[0]] for s, d in self.lines if d == [box["id"], inlet]]

    def out_of(self, box: dict, outlet: int = 0) -> list[dict]:
        return [self.boxes[d[0]] for s, d in self.lines if s == [box["id"], outlet]]


def atom_type(token: str) -> str:
    for kind, cast in (("i", int), ("f", float)):
        try:
            cast(token)
            return kind
        except ValueError:
            pass
    return "s"


def parameter_value(box: dict) -> tuple[str, float, float]:
    """OSC type and range of what a live.* object outputs."""
    valueof = box["saved_attribute_attributes"]["valueof"]
    if valueof["parameter_type"] == 0:
        return "f", valueof["parameter_mmin"], valueof["parameter_mmax"]
    if valueof["parameter_type"] == 2:
        return "i", 0, len(valueof["parameter_enum"]) - 1
    return "i", valueof["parameter_mmin"], valueof["parameter_mmax"]


def osc_sends(graph: Graph) -> list[dict]:
    """Every OSC message the device can send: address, type tags, and the values or the range."""
    sends = []
    for udpsend in graph.objects("udpsend"):
        for source in graph.into(udpsend):
            words = source.get("text", "").split()
            if source["maxclass"] == "message":
                sends.append({"address": words[0], "types": "".join(map(atom_type, words[1:])),
                              "values": words[1:], "box": source["id"]})
            elif words[0] == "prepend" and words[1].startswith("/"):
                for control in graph.into(source):
                    assert control["maxclass"].startswith("live."), f"{control['id']} feeds {words[1]}"
                    kind, low, high = parameter_value(control)
                    sends.append({"address": words[1], "types": kind, "low": low, "high": high,
                                  "box": control["id"]})
            else:
                assert words[:2] in (["prepend", "host"], ["prepend", "port"]), f"unexpected {words}"
    return sends


def problems(patcher: dict) -> list[str]:
    """What in the patch disagrees with the OSC table's CONTROLS."""
    found = []
    for send in osc_sends(Graph(patcher)):
        spec = CONTROL.get(send["address"])
        if spec is None:
            found.append(f"{send['address']} is not in the OSC table")
        elif send["types"] != spec.types:
            found.append(f"{send['address']} sends '{send['types']}', the table says '{spec.types}'")
        elif "low" in send and not spec.low <= send["low"] <= send["high"] <= spec.high:
            found.append(f"{send['address']} range {send['low']}..{send['high']} "
                         f"outside {spec.low}..{spec.high}")
        elif spec.choices and not set(send["values"]) <= set(spec.choices):
            found.append(f"{send['address']} sends {send['values']}, not one of {spec.choices}")
    return found


@pytest.fixture(scope="module")
def patcher() -> dict:
    return json.loads(MAXPAT.read_text(encoding="utf-8"))["patcher"]


def test_the_patch_sends_only_what_the_osc_table_allows(patcher):
    assert problems(patcher) == []


def test_the_check_catches_a_range_type_or_address_the_table_does_not_allow(patcher):
    def mutated(address_end: str, change) -> str:
        """The problems found once `change` is applied to the box that sends to `address_end`."""
        broken = copy.deepcopy(patcher)
        graph = Graph(broken)
        change(graph.boxes[next(s["box"] for s in osc_sends(graph) if s["address"].endswith(address_end))])
        return " ".join(problems(broken))

    def valueof(**attributes):
        return lambda box: box["saved_attribute_attributes"]["valueof"].update(attributes)

    def text(new: str):
        return lambda box: box.update(text=new)

    assert "range 0.1..5.0" in mutated("temperature", valueof(parameter_mmax=5.0))
    assert "sends 'f'" in mutated("play", valueof(parameter_type=0, parameter_mmin=0.0, parameter_mmax=1.0))
    assert "angry" in mutated("emotion", text("/cdgmvae/emotion angry"))
    assert "/cdgmvae/stop is not in the OSC table" in mutated("panic", text("/cdgmvae/stop"))


def test_the_device_has_every_control_of_the_issue(patcher):
    sends = osc_sends(Graph(patcher))
    by_address = {}
    for send in sends:
        by_address.setdefault(send["address"].rsplit("/", 1)[1], []).append(send)
    for name in ("valence", "arousal", "lambda", "temperature", "key_strength", "play", "transfer"):
        assert by_address[name][0]["box"] in Graph(patcher).boxes
    assert sorted(v for s in by_address["emotion"] for v in s["values"]) == sorted(EMOTIONS)
    assert by_address["panic"]
    boxes = Graph(patcher).boxes
    assert {boxes[s["box"]]["maxclass"] for n in ("valence", "arousal", "lambda", "temperature", "key_strength")
            for s in by_address[n]} == {"live.dial"}
    for toggle in ("play", "transfer"):
        (send,) = by_address[toggle]
        assert boxes[send["box"]]["mode"] == 1 and (send["types"], send["low"], send["high"]) == ("i", 0, 1)
    assert {boxes[s["box"]]["maxclass"] for s in by_address["panic"]} == {"message"}


def test_the_device_sends_every_control_of_the_osc_table(patcher):
    sent = {send["address"] for send in osc_sends(Graph(patcher))}
    assert {m.address for m in CONTROLS} - sent == set(NOT_SENT)


def test_the_tonic_menu_chooses_among_the_twelve_tonics_and_shows_the_one_playing(patcher):
    graph = Graph(patcher)
    (send,) = [s for s in osc_sends(graph) if s["address"] == "/cdgmvae/tonic"]
    menu = graph.boxes[send["box"]]
    assert menu["maxclass"] == "live.menu"
    assert menu["saved_attribute_attributes"]["valueof"]["parameter_enum"] == list(PITCH_NAMES)  # index = tonic
    assert (send["low"], send["high"]) == (0, 11)
    (route,) = [b for b in graph.objects("route") if "/cdgmvae/fb/tonic" in b["text"]]
    shown = graph.out_of(route, route["text"].split()[1:].index("/cdgmvae/fb/tonic"))
    # through "set": shown without being sent back to the bridge
    assert [b["text"] for b in shown] == ["prepend set"] and graph.out_of(shown[0]) == [menu]


def test_every_feedback_address_is_shown(patcher):
    graph = Graph(patcher)
    (receive,) = graph.objects("udpreceive")
    routes = [b for b in graph.out_of(receive) if b["text"].startswith("route ")]
    assert len(routes) == 1
    addresses = routes[0]["text"].split()[1:]
    for message in FEEDBACK:
        assert message.address in addresses, f"{message.address} is not routed"
        shown = graph.out_of(routes[0], addresses.index(message.address))
        shown += [d for b in shown if b.get("text") == "prepend set" for d in graph.out_of(b)]
        displays = [b for b in shown if b.get("presentation") == 1]
        assert displays, f"{message.address} reaches no display"
        assert {b["maxclass"] for b in displays} <= DISPLAYS[message.types], message.address


def test_ports_default_to_the_bridge_and_can_be_changed(patcher):
    graph = Graph(patcher)
    (send,) = graph.objects("udpsend")
    (receive,) = graph.objects("udpreceive")
    assert send["text"] == "udpsend 127.0.0.1 9000"
    assert receive["text"] == "udpreceive 9001"
    for target, commands in ((send, {"prepend host", "prepend port"}), (receive, {"prepend port"})):
        setters = [b for b in graph.into(target) if b.get("text") in commands]
        assert {b["text"] for b in setters} == commands
        for setter in setters:
            entry = [b for e in graph.into(setter)
                     for b in (graph.into(e) if e.get("text") == "route text" else [e])]
            assert entry and all(b.get("presentation") == 1 for b in entry), setter["text"]


def test_presentation_mode_with_live_parameters(patcher):
    assert patcher["openinpresentation"] == 1
    graph = Graph(patcher)
    live = [b for b in graph.boxes.values() if b["maxclass"].startswith("live.")]
    assert {b["maxclass"] for b in live} == {"live.dial", "live.tab", "live.text", "live.menu"}
    for box in live:
        assert box["presentation"] == 1 and box["parameter_enable"] == 1
        assert box["id"] in patcher["parameters"]
        x, y, w, h = box["presentation_rect"]
        assert x + w <= patcher["devicewidth"] and y + h <= 169  # Live's device height


def test_no_two_controls_or_displays_overlap(patcher):
    # labels (comments) are left out: their boxes are taller than their text and reach into the field below
    shown = [b for b in Graph(patcher).boxes.values() if b.get("presentation") == 1 and b["maxclass"] != "comment"]
    for i, a in enumerate(shown):
        ax, ay, aw, ah = a["presentation_rect"]
        for b in shown[i + 1:]:
            bx, by, bw, bh = b["presentation_rect"]
            assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay, \
                (a.get("varname", a["id"]), b.get("varname", b["id"]))


def test_midi_passes_through_the_device(patcher):
    graph = Graph(patcher)
    (midiin,) = graph.objects("midiin")
    assert [b["text"] for b in graph.out_of(midiin)] == ["midiout"]


def test_the_committed_patch_is_what_the_osc_table_gives():
    assert MAXPAT.read_text(encoding="utf-8") == make_patch.render(), \
        "stale: run python -m cdgmvae.max4live.make_patch"


def test_the_amxd_holds_exactly_the_maxpat():
    amxd = AMXD.read_bytes()
    chunks = build.chunks(amxd)
    assert list(chunks) == [b"ampf", b"meta", b"ptch"]
    assert chunks[b"ampf"] == b"mmmm"  # a MIDI effect
    assert build.patcher_of(amxd) == MAXPAT.read_bytes()
    assert json.loads(build.patcher_of(amxd)) == json.loads(MAXPAT.read_bytes())


def test_a_damaged_amxd_is_refused():
    amxd = AMXD.read_bytes()
    with pytest.raises(ValueError, match="past the end"):
        build.chunks(amxd[:-1])
    with pytest.raises(ValueError, match="ampf"):
        build.chunks(b"xxxx" + amxd[4:])


def test_rebuilding_gives_the_same_bytes(tmp_path):
    for out in (tmp_path / "a", tmp_path / "b"):
        subprocess.run([sys.executable, "-m", "cdgmvae.max4live.build", "--out", str(out)], check=True,
                       cwd=ROOT, capture_output=True)
    assert (tmp_path / "a" / AMXD.name).read_bytes() == AMXD.read_bytes()
    assert (tmp_path / "b" / AMXD.name).read_bytes() == AMXD.read_bytes()
    assert build.main(["--check"]) == 0


# --- End to end: the device's messages, sent with oscsend, steer a running `cdgmvae live` ---

def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OscDump:
    """`oscdump` on a port; a thread collects (bar, address, value), bar being the last fb/bar seen."""

    def __init__(self, port: int):
        self.proc = subprocess.Popen(["oscdump", "-L", str(port)], stdout=subprocess.PIPE, text=True)
        self.seen: list[tuple[int, str, str]] = []
        self.bar = -1
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.proc.stdout:  # "<timetag> <address> <types> <value>"
            words = line.split(maxsplit=3)
            if len(words) == 4:
                address, value = words[1], words[3].strip().strip('"')
                if address.endswith("/fb/bar"):
                    self.bar = int(value)
                self.seen.append((self.bar, address, value))

    def shown(self, name: str, value: str, since: int = 0):
        """The bar at which /cdgmvae/fb/<name> first showed `value` after the first `since` messages."""
        return next((bar for bar, address, shown in self.seen[since:]
                     if address.endswith(f"/fb/{name}") and shown == value), None)

    def wait(self, name: str, value: str, timeout: float, since: int = 0, then=None) -> int:
        """shown(), waiting up to `timeout` seconds; calls then() every half second while waiting."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (bar := self.shown(name, value, since)) is not None:
                return bar
            if then is not None:
                then()
            time.sleep(0.5)
        pytest.fail(f"/cdgmvae/fb/{name} did not show {value} in {timeout} s; last seen: {self.seen[-12:]}")

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=5)


def oscsend(port: int, send: dict, value=None):
    """Send one of the device's messages (from osc_sends); `value` for a dial's or toggle's."""
    values = send.get("values", [value] if send["types"] else [])
    subprocess.run(["oscsend", "127.0.0.1", str(port), send["address"], send["types"], *map(str, values)],
                   check=True, timeout=5)


@pytest.fixture
def jack_server():
    missing = [tool for tool in ("jackd", "jack_lsp", "oscsend", "oscdump") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install jackd2 liblo-tools)")
    name = f"cdgmvae-max4live-{os.getpid()}"  # not the bridge tests' server, which may still run
    proc = subprocess.Popen(["jackd", "-n", name, "-r", "-d", "dummy", "-r", "48000", "-p", "64"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}
    try:
        for _ in range(100):
            if proc.poll() is not None:
                pytest.fail(f"jackd exited with code {proc.returncode}")
            if subprocess.run(["jack_lsp"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "bridge" / "live_cli.py").exists(),
                    reason="the bridge's `cdgmvae live` (bridge/live_cli.py) is not written yet")
def test_end_to_end_the_device_steers_the_bridge_from_the_next_bar(patcher, jack_server):
    sends = {}
    for send in osc_sends(Graph(patcher)):
        sends.setdefault(send["address"].rsplit("/", 1)[1], []).append(send)
    emotion = {s["values"][0]: s for s in sends["emotion"]}
    osc_port, feedback_port = free_udp_port(), free_udp_port()
    dump = OscDump(feedback_port)
    bridge = subprocess.Popen(
        [str(Path(sys.executable).with_name("cdgmvae")), "live", "--source", "clip", "--midi-api", "jack",
         "--no-link", "--bpm", "240", "--osc-port", str(osc_port), "--feedback", f"127.0.0.1:{feedback_port}"],
        env=jack_server, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Ready when it answers: ask it to play until its feedback says it plays.
        dump.wait("playing", "1", timeout=60, then=lambda: oscsend(osc_port, sends["play"][0], 1))
        # Every message the device can send, numbers at both ends of their range: none is refused.
        since = len(dump.seen)
        for send in (s for name, group in sends.items() if name not in ("emotion", "play") for s in group):
            for value in (send["low"], send["high"]) if "low" in send else (None,):
                oscsend(osc_port, send, value)
        oscsend(osc_port, emotion["calm"])
        dump.wait("lambda", "1.000000", timeout=30, since=since)  # the dial's top: move at once
        dump.wait("emotion", "calm", timeout=30, since=since)

        sent_at, since = dump.bar, len(dump.seen)
        oscsend(osc_port, emotion["sad"])
        became_sad = dump.wait("emotion", "sad", timeout=30, since=since)
        assert sent_at < became_sad <= sent_at + 2, f"sent during bar {sent_at}, took effect at {became_sad}"

        since = len(dump.seen)
        oscsend(osc_port, sends["play"][0], 0)
        dump.wait("playing", "0", timeout=15, since=since)
        assert bridge.poll() is None, "the bridge keeps running after panic and stop"
        bridge.terminate()
        log = bridge.communicate(timeout=15)[0]
        assert re.search(r"\b0 OSC messages ignored", log), log[-2000:]
    finally:
        if bridge.poll() is None:
            bridge.terminate()
            bridge.communicate(timeout=15)
        dump.close()
