"""The TouchOSC layout against the bridge's OSC table.

The .tosc is read as TouchOSC reads it (zlib, then XML), independently of max4live/make_tosc.py.
"""
from __future__ import annotations

import re
import zlib
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from cdgmvae.bridge.osc_spec import CONTROLS, EMOTIONS, FEEDBACK, PITCH_NAMES
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
    """The OSC messages of every node, sent or received: the node, its address and arguments."""
    found = []
    for node in root.iter("node"):
        for osc in node.findall("messages/osc"):
            if osc.findtext("enabled") != "1" or (osc.findtext("send" if sending else "receive") != "1"):
                continue
            path = osc.findall("path/partial")
            assert all(p.findtext("type") == "CONSTANT" for p in path), "addresses are constants"
            arguments = [{"kind": p.findtext("type"), "type": TYPE[p.findtext("conversion")],
                          "value": p.findtext("value"), "low": float(p.findtext("scaleMin")),
                          "high": float(p.findtext("scaleMax"))} for p in osc.findall("arguments/partial")]
            found.append({"node": node, "address": "".join(p.findtext("value") for p in path),
                          "arguments": arguments, "triggers": [t.findtext("var") for t in osc.iter("trigger")]})
    return found


def problems(root: ET.Element) -> list[str]:
    found = []
    for message in messages(root, sending=True):
        address, arguments = message["address"], message["arguments"]
        spec = CONTROL.get(address)
        if spec is None:
            found.append(f"{address} is not in the OSC table")
            continue
        if "".join(a["type"] for a in arguments) != spec.types:
            found.append(f"{address} sends '{''.join(a['type'] for a in arguments)}', the table says '{spec.types}'")
        for argument in arguments:
            if argument["kind"] == "VALUE":
                if argument["value"] not in values_of(message["node"]):
                    found.append(f"{address} sends a value '{argument['value']}' its control lacks")
                if spec.choices or not spec.low <= argument["low"] <= argument["high"] <= spec.high:
                    found.append(f"{address} range {argument['low']:g}..{argument['high']:g} "
                                 f"outside {spec.low}..{spec.high}")
            elif spec.choices and argument["value"] not in spec.choices:
                found.append(f"{address} sends {argument['value']}, not one of {spec.choices}")
            elif not spec.choices:
                found.append(f"{address} sends a constant where the table wants a value")
    return found


@pytest.fixture(scope="module")
def root() -> ET.Element:
    return load()


def test_the_tosc_is_zlib_compressed_lexml(root):
    assert root.tag == "lexml" and root.get("version") == "3"
    (top,) = root.findall("node")
    assert top.get("type") == "GROUP"
    ids = [n.get("ID") for n in root.iter("node")]
    assert len(ids) == len(set(ids)), "node IDs are unique"


def test_the_layout_sends_only_what_the_osc_table_allows(root):
    assert problems(root) == []


def test_the_check_catches_a_range_or_address_the_table_does_not_allow(root):
    def mutated(address: str, element: str, new: str) -> str:
        """The problems found once `element` of the message sent to `address` reads `new`."""
        broken = load()
        for osc in broken.iter("osc"):
            if osc.findtext("path/partial/value") == address:
                osc.find(element).text = new
        return " ".join(problems(broken))

    assert "range 0.1..5" in mutated("/cdgmvae/temperature", "arguments/partial/scaleMax", "5")
    assert "sends 'i'" in mutated("/cdgmvae/lambda", "arguments/partial/conversion", "INTEGER")
    assert "/cdgmvae/panik is not" in mutated("/cdgmvae/panic", "path/partial/value", "/cdgmvae/panik")


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
    assert [(a["value"], a["type"], a["low"], a["high"]) for a in tonic["arguments"]] == [("x", "i", 0, 11)]


def test_the_layout_sends_every_control_of_the_osc_table(root):
    sent = {m["address"] for m in messages(root, sending=True)}
    assert {m.address for m in CONTROLS} - sent == set()


def test_the_tonic_radio_is_captioned_c_to_b(root):
    """Step i of the radio sends tonic i: its captions, left to right, read C .. B, one on each step."""
    def text(node: ET.Element) -> str:
        return next(v.findtext("default") for v in node.findall("values/value") if v.findtext("key") == "text")

    (radio,) = [n for n in root.iter("node") if n.get("type") == "RADIO"]
    x, y, w, h = frame(radio)
    captions = sorted((frame(n)[0], text(n)) for n in root.iter("node")
                      if n.get("type") == "LABEL" and frame(n)[1] == y and x <= frame(n)[0] < x + w)
    assert captions == [(x + i * w / len(PITCH_NAMES), name) for i, name in enumerate(PITCH_NAMES)]


def test_the_layout_says_hello_on_start(root):
    script = prop(root.find("node"), "script").findtext("value")
    (address,) = re.findall(r"sendOSC\('([^']+)'\)", script)
    assert address in CONTROL and CONTROL[address].types == ""


def test_every_feedback_address_is_shown_by_a_label(root):
    received = {m["address"]: m for m in messages(root, sending=False)}
    for message in FEEDBACK:
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
