"""The TouchOSC layout against the bridge's OSC table.

The .tosc is read as TouchOSC reads it (zlib, then XML), independently of max4live/make_tosc.py.
"""
from __future__ import annotations

import re
import zlib
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from cdgmvae.bridge.osc_spec import CONTROLS, EMOTIONS, PITCH_NAMES, TABLE
from cdgmvae.max4live import make_tosc

TOSC = Path(__file__).resolve().parents[1] / "max4live" / "touchosc" / "cdgmvae.tosc"
CONTROL = {m.address: m for m in CONTROLS}
TYPE = {"FLOAT": "f", "INTEGER": "i", "STRING": "s"}


def load() -> ET.Element:
    return ET.fromstring(zlib.decompress(TOSC.read_bytes()))


def values_of(node: ET.Element) -> set[str]:
    return {v.findtext("key") for v in node.findall("values/value")}


def prop(node: ET.Element, key: str):
    return next((p for p in node.findall("properties/property") if p.findtext("key") == key), None)


def frame(node: ET.Element) -> list[float]:
    return [float(prop(node, "frame").findtext(f"value/{k}")) for k in "xywh"]


def messages(root: ET.Element, sending: bool) -> list[dict]:
    """The OSC messages of every node, sent or received: the node, its address, arguments and triggers."""
    found = []
    for node in root.iter("node"):
        for osc in node.findall("messages/osc"):
            if osc.findtext("enabled") != "1" or (osc.findtext("send" if sending else "receive") != "1"):
                continue
            path = osc.findall("path/partial")
            assert all(p.findtext("type") == "CONSTANT" for p in path), "addresses are constants"
            arguments = [{"kind": p.findtext("type"), "conversion": p.findtext("conversion"),
                          "type": TYPE[p.findtext("conversion")], "value": p.findtext("value"),
                          "low": float(p.findtext("scaleMin")), "high": float(p.findtext("scaleMax"))}
                         for p in osc.findall("arguments/partial")]
            found.append({"node": node, "address": "".join(p.findtext("value") for p in path),
                          "arguments": arguments,
                          "triggers": [(t.findtext("var"), t.findtext("condition")) for t in osc.iter("trigger")]})
    return found


# --- TouchOSC's documented rule, written from hexler's manual (Control Reference; Editor > Messages > OSC),
# not from make_tosc.py: what a user can set each control's values to, and what a message then sends.

TRAVEL = [i / 20 for i in range(21)]  # a fader or a pad moved over its whole travel, both ends included


def user_values(node: ET.Element, key: str) -> list | None:
    """The values a user can give the value `key` of a control: a fader's x and an XY pad's x and y
    run over 0..1, a button's x is 0 (released, off) or 1 (pressed, on), a radio's x is the index of
    the chosen step, 0 .. steps-1. None: a value no finger moves."""
    kind = node.get("type")
    if (kind, key) in (("FADER", "x"), ("XY", "x"), ("XY", "y")):
        return TRAVEL
    if (kind, key) == ("BUTTON", "x"):
        return [0.0, 1.0]
    if (kind, key) == ("RADIO", "x"):
        return list(range(int(prop(node, "steps").findtext("value"))))
    return None


def fires(condition: str, old, new) -> bool:
    return {"ANY": new != old, "RISE": new > old, "FALL": new < old}[condition]


def argument_sent(argument: dict, values: dict):
    """What one argument partial sends: a constant as it stands, a value v as scaleMin + v*(scaleMax - scaleMin),
    converted. A non-whole number converted to INTEGER is an error here: how TouchOSC rounds is undocumented."""
    if argument["kind"] == "CONSTANT":
        raw = argument["value"]
    else:
        v = values[argument["value"]]
        raw = argument["low"] + v * (argument["high"] - argument["low"])
    if argument["conversion"] == "STRING":
        return str(raw)
    number = float(raw)
    if argument["conversion"] == "INTEGER":
        if abs(number - round(number)) > 1e-9:
            raise ValueError(f"{number:g} is not a whole number")
        return round(number)
    return number


def simulate(root: ET.Element) -> list[dict]:
    """Every message the layout sends when a user moves any control from any value to any other."""
    sent = []
    for message in messages(root, sending=True):
        node = message["node"]
        defaults = {v.findtext("key"): v.findtext("default") for v in node.findall("values/value")}
        for key, condition in message["triggers"]:
            domain = user_values(node, key)
            if domain is None:
                sent.append({"address": message["address"], "error": f"triggered by '{key}', which no user moves"})
                continue
            for old in domain:
                for new in domain:
                    if not fires(condition, old, new):
                        continue
                    values = {k: float(v) for k, v in defaults.items() if k in ("x", "y")}
                    values[key] = new
                    entry = {"address": message["address"], "node": node,
                             "types": "".join(a["type"] for a in message["arguments"])}
                    try:
                        entry["args"] = [argument_sent(a, values) for a in message["arguments"]]
                    except (KeyError, ValueError) as err:
                        entry["error"] = f"{message['address']} from {key}={new:g}: {err}"
                    sent.append(entry)
    return sent


def problems(root: ET.Element) -> list[str]:
    """What the layout sends that the OSC table does not accept, and what the table accepts that no control
    sends (a range only partly reachable, a choice no button makes)."""
    found, reached = [], {}
    for entry in simulate(root):
        address = entry["address"]
        spec = CONTROL.get(address)
        if "error" in entry:
            found.append(entry["error"])
        elif spec is None or spec.direction != "in":
            found.append(f"{address} is not in the OSC table")
        elif entry["types"] != spec.types:
            found.append(f"{address} sends '{entry['types']}', the table says '{spec.types}'")
        else:
            for arg in entry["args"]:
                if spec.choices and arg not in spec.choices:
                    found.append(f"{address} sends {arg}, not one of {spec.choices}")
                elif not spec.choices and not spec.low - 1e-9 <= arg <= spec.high + 1e-9:
                    found.append(f"{address} sends {arg:g}, outside {spec.low:g}..{spec.high:g}")
            reached.setdefault(address, set()).update(entry["args"] or [None])
    for address, values in reached.items():
        spec = CONTROL[address]
        if spec.choices:
            missing = set(spec.choices) - values
        elif spec.types == "i":
            missing = set(range(int(spec.low), int(spec.high) + 1)) - values
        elif spec.types == "f":
            missing = {end for end in (spec.low, spec.high) if min(abs(v - end) for v in values) > 1e-9}
        else:
            missing = set()
        if missing:
            found.append(f"{address} never sends {sorted(missing, key=str)}")
    return sorted(set(found))


@pytest.fixture(scope="module")
def root() -> ET.Element:
    return load()


def test_the_tosc_is_zlib_compressed_lexml(root):
    assert root.tag == "lexml" and root.get("version") == "3"
    (top,) = root.findall("node")
    assert top.get("type") == "GROUP"
    ids = [n.get("ID") for n in root.iter("node")]
    assert len(ids) == len(set(ids)), "node IDs are unique"


def test_every_control_sends_exactly_what_the_osc_table_accepts(root):
    """Every control, moved from any value to any other, by TouchOSC's documented rule."""
    assert problems(root) == []
    sent = {(e["address"], tuple(e["args"])) for e in simulate(root)}
    assert {args for address, args in sent if address == "/cdgmvae/tonic"} == {(i,) for i in range(12)}


def test_the_check_catches_a_range_or_address_the_table_does_not_allow(root):
    def mutated(address: str, element: str, new: str) -> str:
        """The problems found once `element` of the message sent to `address` reads `new`."""
        broken = load()
        for osc in broken.iter("osc"):
            if osc.findtext("path/partial/value") == address:
                osc.find(element).text = new
        return " ".join(problems(broken))

    assert "/cdgmvae/temperature sends 5, outside 0.1..2" in mutated(
        "/cdgmvae/temperature", "arguments/partial/scaleMax", "5")
    assert "/cdgmvae/temperature never sends [2.0]" in mutated(
        "/cdgmvae/temperature", "arguments/partial/scaleMax", "1.5")
    assert "not a whole number" in mutated("/cdgmvae/lambda", "arguments/partial/conversion", "INTEGER")
    assert "/cdgmvae/panik is not" in mutated("/cdgmvae/panic", "path/partial/value", "/cdgmvae/panik")
    # issue 15 (16): scale 0..11 on the radio sends step x as 11x
    assert "/cdgmvae/tonic sends 22, outside 0..11" in mutated("/cdgmvae/tonic", "arguments/partial/scaleMax", "11")
    assert "/cdgmvae/emotion never sends ['calm', 'happy', 'tense']" in mutated(
        "/cdgmvae/emotion", "arguments/partial/value", "sad")


def test_the_layout_has_every_control_of_the_issue(root):
    sent = messages(root, sending=True)
    by_address = {}
    for message in sent:
        by_address.setdefault(message["address"], []).append(message)
    (pad,) = [n for n in root.iter("node") if n.get("type") == "XY"]
    assert {(m["address"], m["arguments"][0]["value"]) for m in sent if m["node"] is pad} == {
        ("/cdgmvae/valence", "x"), ("/cdgmvae/arousal", "y")}
    assert by_address["/cdgmvae/lambda"][0]["node"].get("type") == "FADER"
    assert by_address["/cdgmvae/key_strength"][0]["node"].get("type") == "FADER"
    assert sorted(m["arguments"][0]["value"] for m in by_address["/cdgmvae/emotion"]) == sorted(EMOTIONS)
    assert all(m["node"].get("type") == "BUTTON" for m in by_address["/cdgmvae/emotion"])
    for toggle in ("/cdgmvae/play", "/cdgmvae/transfer"):
        (sent,) = by_address[toggle]
        assert prop(sent["node"], "buttonType").findtext("value") != "0"  # a toggle
        assert [(a["value"], a["type"], a["low"], a["high"]) for a in sent["arguments"]] == [("x", "i", 0, 1)]
    (panic,) = by_address["/cdgmvae/panic"]
    assert panic["arguments"] == [] and prop(panic["node"], "buttonType").findtext("value") == "0"
    (tonic,) = by_address["/cdgmvae/tonic"]
    assert tonic["node"].get("type") == "RADIO" and prop(tonic["node"], "steps").findtext("value") == "12"
    assert [(a["value"], a["type"]) for a in tonic["arguments"]] == [("x", "i")]


def test_the_layout_sends_every_control_of_the_osc_table(root):
    sent = {m["address"] for m in messages(root, sending=True)}
    assert {m.address for m in CONTROLS if m.direction == "in"} - sent == set()


def orientation(node: ET.Element) -> int:
    """TouchOSC's Orientation (NORTH 0, EAST 1, SOUTH 2, WEST 3: where the value grows); absent means NORTH."""
    found = prop(node, "orientation")
    return 0 if found is None else int(found.findtext("value"))


def test_the_tonic_radio_runs_left_to_right_and_each_step_sends_the_tonic_under_its_caption(root):
    """A horizontal radio is EAST (orientation 1), as in layouts saved by TouchOSC: step 0 at the left.
    The caption over step i's cell names the tonic that step sends."""
    def text(node: ET.Element) -> str:
        return next(v.findtext("default") for v in node.findall("values/value") if v.findtext("key") == "text")

    (radio,) = [n for n in root.iter("node") if n.get("type") == "RADIO"]
    x, y, w, h = frame(radio)
    assert w > h and orientation(radio) == 1
    steps = int(prop(radio, "steps").findtext("value"))
    captions = {round(frame(n)[0]): text(n) for n in root.iter("node")
                if n.get("type") == "LABEL" and frame(n)[1] == y and x <= frame(n)[0] < x + w}
    (message,) = [m for m in messages(root, sending=True) if m["node"] is radio]
    for step in range(steps):
        (sent,) = [argument_sent(a, {"x": step}) for a in message["arguments"]]
        assert captions[round(x + step * w / steps)] == PITCH_NAMES[sent], step


def test_faders_stand_upright_and_grow_upward(root):
    for fader in (n for n in root.iter("node") if n.get("type") == "FADER"):
        _, _, w, h = frame(fader)
        assert h > w and orientation(fader) == 0, prop(fader, "name").findtext("value")


def test_the_layout_says_hello_on_start(root):
    script = prop(root.find("node"), "script").findtext("value")
    (address,) = re.findall(r"sendOSC\('([^']+)'\)", script)
    assert address in CONTROL and CONTROL[address].types == ""


def test_every_feedback_address_is_shown_by_a_label(root):
    received = {m["address"]: m for m in messages(root, sending=False)}
    for message in (m for m in TABLE if m.direction == "out"):
        assert message.address in received, f"{message.address} is not shown"
        shown = received[message.address]
        assert shown["node"].get("type") == "LABEL"
        assert [a["value"] for a in shown["arguments"]] == ["text"]
        assert shown["arguments"][0]["kind"] == "VALUE" and "text" in values_of(shown["node"])


def test_controls_fit_the_layout(root):
    _, _, width, height = frame(root.find("node"))
    for node in root.find("node").iter("node"):
        x, y, w, h = frame(node)
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height, prop(node, "name").findtext("value")


def test_no_two_controls_overlap(root):
    """Labels are left out: captions are drawn on their controls."""
    controls = [n for n in root.find("node").iter("node") if n.get("type") not in ("GROUP", "LABEL")]
    for i, a in enumerate(controls):
        ax, ay, aw, ah = frame(a)
        for b in controls[i + 1:]:
            bx, by, bw, bh = frame(b)
            assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay, \
                (prop(a, "name").findtext("value"), prop(b, "name").findtext("value"))


def test_the_committed_layout_is_what_the_osc_table_gives():
    assert zlib.decompress(TOSC.read_bytes()) == make_tosc.render(), "stale: run python -m cdgmvae.max4live.make_tosc"
