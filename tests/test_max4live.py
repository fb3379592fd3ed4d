"""The Max for Live device: its patcher against the bridge's OSC table, its .amxd, and end to end.

The patcher is read as a graph (boxes and patch cords), independently of max4live/make_patch.py:
what reaches [udpsend] is what the device sends, what leaves [udpreceive] is what it shows. The .amxd
is read as Ableton's maxdevtools (maxdiff/amxd_textconv.py) reads one, not with max4live/build.py.
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cdgmvae.bridge.osc_spec import CONTROLS, EMOTIONS, PITCH_NAMES, TABLE
from cdgmvae.engine.emotion import DEFAULT_KEY_STRENGTH
from cdgmvae.max4live import build, make_patch

from tests.bridge.live_harness import free_udp_port

ROOT = Path(__file__).resolve().parents[1]
MAXPAT = ROOT / "max4live" / "cdgmvae.maxpat"
AMXD = ROOT / "max4live" / "cdgmvae.amxd"
README = ROOT / "max4live" / "README.md"
CONTROL = {m.address: m for m in CONTROLS}
FEEDBACK = [m for m in TABLE if m.direction == "out"]
# Parameter Visibility as Max saves it (valueof.parameter_invisible, absent = 0), seen in patchers saved by
# Max: 0 Automated and Stored, 1 Stored Only (what Max gives blob parameters such as [vst~] and [pattr]
# state), 2 Hidden (left out of Live's parameters, its automation and its undo history).
AUTOMATED_AND_STORED, STORED_ONLY, HIDDEN = 0, 1, 2
DISPLAYS = {"i": {"number", "live.menu"}, "f": {"flonum"}, "s": {"message", "comment"}}  # a menu shows its item
# Controls of the OSC table the device does not send, and why.
NOT_SENT = {"/cdgmvae/hello": "[udpsend] cannot receive the reply (make_patch.py)"}


class Graph:
    def __init__(self, patcher: dict):
        self.patcher = patcher
        self.boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
        self.lines = [(line["patchline"]["source"], line["patchline"]["destination"]) for line in patcher["lines"]]

    def objects(self, head: str) -> list[dict]:
        """The [newobj] boxes whose text starts with `head`."""
        return [b for b in self.boxes.values()
                if b["maxclass"] == "newobj" and b["text"].split()[0] == head]

    def into(self, box: dict, inlet: int = 0) -> list[dict]:
        return [self.boxes[s[0]] for s, d in self.lines if d == [box["id"], inlet]]

    def out_of(self, box: dict, outlet: int | None = 0) -> list[dict]:
        """The boxes cords lead to from `outlet` of `box` (None: from any outlet)."""
        return [self.boxes[d[0]] for s, d in self.lines if s[0] == box["id"] and outlet in (None, s[1])]

    def downstream(self, box: dict) -> list[dict]:
        """Every box a message leaving `box` can reach."""
        seen, todo = {}, [box]
        while todo:
            for found in self.out_of(todo.pop(), None):
                if found["id"] not in seen:
                    seen[found["id"]] = found
                    todo.append(found)
        return list(seen.values())

    def upstream(self, box: dict) -> list[dict]:
        """Every box whose messages can reach `box`."""
        seen, todo = {}, [box]
        while todo:
            current = todo.pop()
            for s, d in self.lines:
                if d[0] == current["id"] and s[0] not in seen:
                    seen[s[0]] = self.boxes[s[0]]
                    todo.append(self.boxes[s[0]])
        return list(seen.values())


def is_parameter(box: dict) -> bool:
    return (box.get("parameter_enable") or box.get("saved_object_attributes", {}).get("parameter_enable")) == 1


def visibility(box: dict) -> int:
    return box["saved_attribute_attributes"]["valueof"].get("parameter_invisible", AUTOMATED_AND_STORED)


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
        elif "low" in send and (send["low"], send["high"]) != (spec.low, spec.high):
            found.append(f"{send['address']} range {send['low']}..{send['high']}, "
                         f"the table's is {spec.low}..{spec.high}")
        elif spec.choices and not set(send["values"]) <= set(spec.choices):
            found.append(f"{send['address']} sends {send['values']}, not one of {spec.choices}")
    return found


@pytest.fixture(scope="module")
def patcher() -> dict:
    return json.loads(MAXPAT.read_text(encoding="utf-8"))["patcher"]


def test_the_patch_sends_exactly_what_the_osc_table_accepts(patcher):
    """Each control's whole range is the table's range: nothing refused, nothing out of reach."""
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
    assert "range 0.1..1.5" in mutated("temperature", valueof(parameter_mmax=1.5))
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


def test_the_tonic_menu_chooses_among_the_twelve_tonics(patcher):
    graph = Graph(patcher)
    (send,) = [s for s in osc_sends(graph) if s["address"] == "/cdgmvae/tonic"]
    menu = graph.boxes[send["box"]]
    assert menu["maxclass"] == "live.menu"
    assert menu["saved_attribute_attributes"]["valueof"]["parameter_enum"] == list(PITCH_NAMES)  # index = tonic
    assert (send["low"], send["high"]) == (0, 11)
    assert visibility(menu) == AUTOMATED_AND_STORED  # automatable, so it must not be fed from the bridge


def feedback_displays(graph: Graph) -> dict[str, list[dict]]:
    """For each routed feedback address, the shown boxes it reaches (through "prepend set" if so)."""
    (receive,) = graph.objects("udpreceive")
    (route,) = [b for b in graph.out_of(receive) if b["text"].startswith("route ")]
    addresses = route["text"].split()[1:]
    found = {}
    for i, address in enumerate(addresses):
        shown = graph.out_of(route, i)
        shown += [d for b in shown if b.get("text") == "prepend set" for d in graph.out_of(b)]
        found[address] = [b for b in shown if b.get("presentation") == 1]
    return found


def test_every_feedback_address_is_shown(patcher):
    displays = feedback_displays(Graph(patcher))
    for message in FEEDBACK:
        assert displays.get(message.address), f"{message.address} reaches no display"
        assert {b["maxclass"] for b in displays[message.address]} <= DISPLAYS[message.types], message.address
    # the tonic playing is shown by name
    (tonic,) = displays["/cdgmvae/fb/tonic"]
    assert tonic["saved_attribute_attributes"]["valueof"]["parameter_enum"] == list(PITCH_NAMES)


def test_feedback_reaches_no_stored_parameter_and_is_not_sent_back(patcher):
    """Feedback written into a stored (automatable) parameter overrides its automation and fills Live's undo
    history (Ableton's Max for Live Production Guidelines, Saving Parameters): whatever [udpreceive]
    reaches is a plain display or a Hidden parameter, and nothing of it goes back out of [udpsend]."""
    graph = Graph(patcher)
    (receive,) = graph.objects("udpreceive")
    reached = graph.downstream(receive)
    stored = [b.get("varname", b["id"]) for b in reached if is_parameter(b) and visibility(b) != HIDDEN]
    assert stored == []
    assert not [b for b in reached if b.get("text", "").startswith("udpsend")]
    assert all(b.get("ignoreclick") == 1 for b in reached if b.get("presentation") == 1)  # displays, not controls


def test_momentary_buttons_are_hidden_and_the_controls_automatable(patcher):
    """A button that only fires (panic) is Hidden: neither automated nor saved with the set. The controls
    that set the music (dials, emotion, toggles, tonic) are Automated and Stored."""
    graph = Graph(patcher)
    controls = {s["box"] for s in osc_sends(graph) if "low" in s}
    (panic,) = [b for b in graph.boxes.values() if b.get("varname") == "panic"]
    assert panic["maxclass"] == "live.text" and panic["mode"] == 0
    for box in (b for b in graph.boxes.values() if b["maxclass"].startswith("live.")):
        if box["maxclass"] == "live.text" and box["mode"] == 0:
            assert visibility(box) == HIDDEN, box["varname"]
        elif box["id"] in controls:
            assert visibility(box) == AUTOMATED_AND_STORED, box["varname"]


def stored_default(box: dict) -> list:
    """The value a stored parameter starts with in a new device: a [pattr]'s restore, a live.* initial value."""
    return box["restore"] if "restore" in box else box["saved_attribute_attributes"]["valueof"]["parameter_initial"]


def test_host_and_ports_are_saved_with_the_live_set_and_default_to_the_bridge(patcher):
    """Each of host, port and feedback port is typed into a field on the device and held by a Stored Only
    parameter (saved with the Live set, not automated) whose value reaches [udpsend] or [udpreceive]; a
    new device starts with what their arguments say."""
    graph = Graph(patcher)
    (send,) = graph.objects("udpsend")
    (receive,) = graph.objects("udpreceive")
    assert send["text"] == "udpsend 127.0.0.1 9000"
    assert receive["text"] == "udpreceive 9001"
    for target, command, default in ((send, "host", "127.0.0.1"), (send, "port", 9000), (receive, "port", 9001)):
        (setter,) = [b for b in graph.into(target) if b.get("text") == f"prepend {command}"]
        above = graph.upstream(setter)
        assert [b for b in above if b.get("presentation") == 1 and b["maxclass"] != "comment"], command
        (stored,) = [b for b in above if is_parameter(b)]
        assert visibility(stored) == STORED_ONLY, command
        assert stored_default(stored) == [default], command


def test_the_readme_gives_the_initial_values_the_dials_have(patcher):
    """max4live/README.md lists what a new device sends at load; the dials start there, and key strength
    at the engine's default."""
    (listed,) = re.findall(r"\(in a new device:\s+([^)]*)\)", README.read_text(encoding="utf-8"))
    said = {name: float(value) for name, value in re.findall(r"(\w+) (\d+(?:\.\d+)?)", listed)}
    dials = {b["saved_attribute_attributes"]["valueof"]["parameter_shortname"].lower():
             b["saved_attribute_attributes"]["valueof"]["parameter_initial"][0]
             for b in Graph(patcher).boxes.values() if b["maxclass"] == "live.dial"}
    assert said == {"valence": 0.5, "arousal": 0.5, "lambda": 0.5, "temp": 1.0, "key": DEFAULT_KEY_STRENGTH}
    assert said == dials


def test_presentation_mode_with_live_parameters(patcher):
    assert patcher["openinpresentation"] == 1
    graph = Graph(patcher)
    live = [b for b in graph.boxes.values() if b["maxclass"].startswith("live.")]
    assert {b["maxclass"] for b in live} == {"live.dial", "live.tab", "live.text", "live.menu", "live.numbox"}
    for box in (b for b in graph.boxes.values() if is_parameter(b)):
        assert box["id"] in patcher["parameters"]
    for box in live:
        assert box["presentation"] == 1 and box["parameter_enable"] == 1
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


# Facts from Ableton's maxdevtools (github.com/Ableton/maxdevtools, maxdiff/amxd_textconv.py), the reader Ableton
# publishes for .amxd files: a flat run of chunks, each a 4-byte ASCII tag, its size as a little-endian uint32
# (int.from_bytes(..., byteorder="little")) and that many bytes; the tags it knows are ampf, meta, ciph and ptch
# (any other is an error: "Unknown field"); ampf holds exactly 4 bytes, the device type (aaaa audio effect, mmmm
# MIDI effect, iiii instrument); ptch holds the patcher JSON, null-terminated or not, or an 'mx@c' container when
# the device is frozen.
KNOWN_CHUNKS = {b"ampf", b"meta", b"ciph", b"ptch"}


def read_amxd(data: bytes) -> list[tuple[bytes, bytes]]:
    """The chunks of an .amxd, walked as Ableton's maxdevtools (maxdiff/amxd_textconv.py) walks them: a 4-byte
    ASCII tag, a little-endian uint32 size, that many bytes, to the end of the file."""
    chunks, at = [], 0
    while at < len(data):
        size = int.from_bytes(data[at + 4:at + 8], "little")
        assert data[at:at + 4] in KNOWN_CHUNKS, f"unknown chunk {data[at:at + 4]!r} at byte {at}"
        assert at + 8 + size <= len(data), f"chunk {data[at:at + 4]!r} of {size} bytes runs past the end"
        chunks.append((data[at:at + 4], data[at + 8:at + 8 + size]))
        at += 8 + size
    return chunks


def test_the_amxd_is_an_unfrozen_midi_effect_as_max_saves_one():
    """ampf 'mmmm' (MIDI effect), meta, ptch: the patcher JSON itself, null-terminated. meta is 0 or 1 in
    every unfrozen device compared (issue 15: 21 devices); 4 and 7 only in frozen ones, whose ptch is an
    'mx@c' container."""
    data = AMXD.read_bytes()
    chunks = read_amxd(data)
    assert [tag for tag, _ in chunks] == [b"ampf", b"meta", b"ptch"]
    (_, ampf), (_, meta), (_, ptch) = chunks
    assert ampf == b"mmmm"
    assert len(meta) == 4 and int.from_bytes(meta, "little") in (0, 1)
    assert not ptch.startswith(b"mx@c")
    assert ptch.endswith(b"\0") and ptch[:-1] == MAXPAT.read_bytes()
    assert json.loads(ptch[:-1]) == json.loads(MAXPAT.read_bytes())
    # the 32-byte header that puts the JSON at byte 32, as public readers of .amxd files expect
    assert data[:32] == (b"ampf" + (4).to_bytes(4, "little") + b"mmmm" + b"meta" + (4).to_bytes(4, "little") + meta
                         + b"ptch" + len(ptch).to_bytes(4, "little"))


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
        # UDP may drop a datagram: what is waited for is sent again each half second until it shows
        (lam,) = sends["lambda"]
        dump.wait("lambda", "1.000000", timeout=30, since=since,  # the dial's top: move at once
                  then=lambda: oscsend(osc_port, lam, lam["high"]))
        dump.wait("emotion", "calm", timeout=30, since=since, then=lambda: oscsend(osc_port, emotion["calm"]))

        since = len(dump.seen)
        sent_at = []

        def sad() -> None:
            sent_at.append(dump.bar)
            oscsend(osc_port, emotion["sad"])
        sad()
        became_sad = dump.wait("emotion", "sad", timeout=30, since=since, then=sad)
        assert sent_at[0] < became_sad <= sent_at[-1] + 2, f"sent during bars {sent_at}, took effect at {became_sad}"

        since = len(dump.seen)
        oscsend(osc_port, sends["play"][0], 0)
        dump.wait("playing", "0", timeout=15, since=since, then=lambda: oscsend(osc_port, sends["play"][0], 0))
        assert bridge.poll() is None, "the bridge keeps running after panic and stop"
        bridge.terminate()
        log = bridge.communicate(timeout=15)[0]
        assert re.search(r"\b0 OSC messages ignored", log), log[-2000:]
    finally:
        if bridge.poll() is None:
            bridge.terminate()
            bridge.communicate(timeout=15)
        dump.close()
