"""Write max4live/touchosc/cdgmvae.tosc, the TouchOSC layout, from the bridge's OSC table.

A .tosc (TouchOSC, the 2020s app) is zlib-compressed XML: <lexml version='3'> holding one root
<node>; a node has a type (GROUP, XY, FADER, BUTTON, LABEL, ...), <properties> (name, frame, color,
...), <values> (x, y, touch, text), <messages> (<osc> with triggers, a path and arguments, each
made of partials: a CONSTANT, or the VALUE of one of the node's values) and <children>.

What a control sends (hexler's TouchOSC manual, Control Reference and Editor > Messages > OSC): a VALUE
partial sends scaleMin + v * (scaleMax - scaleMin) for the value v, converted to its type. v is what
the control holds: 0..1 for a fader or an XY pad's x and y, 0 or 1 for a button, and for a radio the
index of the chosen step, 0 .. steps-1 (so scale 0..1 sends the index itself). Orientation is one of
NORTH 0, EAST 1, SOUTH 2, WEST 3: the direction in which the value grows (a horizontal radio is EAST).

The layout: an XY pad (valence x arousal), faders for lambda, temperature and key strength, a radio of
the 12 tonics (C .. B) under them, the four emotion buttons, play (toggle), panic, hello (registers the
tablet for feedback; also sent on start), transfer (toggle: continue from what was played on the
bridge's --midi-in), and one label per feedback address, which shows the bridge's messages.

`python -m cdgmvae.max4live.make_tosc` regenerates it; `--check` exits 1 when the committed layout differs.
"""
from __future__ import annotations

import argparse
import sys
import uuid
import zlib
from pathlib import Path
from xml.etree import ElementTree as ET

from cdgmvae.bridge.osc_spec import BY_ADDRESS, EMOTIONS, PITCH_NAMES, PREFIX, TABLE
from cdgmvae.engine.emotion import DEFAULT_KEY_STRENGTH

TOSC = Path(__file__).parent / "touchosc" / "cdgmvae.tosc"
WIDTH, HEIGHT = 1024, 768
SLIDERS = 480  # height of the XY pad and the faders
GREY, WHITE, RED, BLUE = (0.25, 0.25, 0.25, 1.0), (1.0, 1.0, 1.0, 1.0), (0.8, 0.15, 0.1, 1.0), (0.2, 0.45, 0.8, 1.0)
EMOTION_COLORS = {"happy": (0.95, 0.75, 0.1, 1.0), "tense": (0.85, 0.3, 0.2, 1.0),
                  "sad": (0.3, 0.4, 0.8, 1.0), "calm": (0.3, 0.7, 0.5, 1.0)}
CONVERSION = {"f": "FLOAT", "i": "INTEGER", "s": "STRING"}
NORTH, EAST = 0, 1  # TouchOSC's Orientation: the value grows upward (vertical faders), rightward


def sub(parent: ET.Element, tag: str, text=None, **attrib) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = str(text)
    return element


def prop(props: ET.Element, key: str, value):
    """A typed property: s string, b bool, i int, f float, r frame (x y w h), c color (r g b a)."""
    if isinstance(value, str):
        kind = "s"
    elif isinstance(value, bool):
        kind, value = "b", int(value)
    elif isinstance(value, int):
        kind = "i"
    elif isinstance(value, float):
        kind = "f"
    else:
        kind = "r" if key == "frame" else "c"
    element = sub(props, "property", type=kind)
    sub(element, "key", key)
    if kind in "rc":
        holder = sub(element, "value")
        for name, v in zip("xywh" if kind == "r" else "rgba", value):
            sub(holder, name, f"{v:g}")
    else:
        sub(element, "value", value)


def partial(parent: ET.Element, kind: str, conversion: str, value, low: float = 0.0, high: float = 1.0):
    element = sub(parent, "partial")
    for tag, text in (("type", kind), ("conversion", conversion), ("value", value),
                      ("scaleMin", f"{low:g}"), ("scaleMax", f"{high:g}")):
        sub(element, tag, text)


def osc(node: ET.Element, address: str, argument=None, var: str = "x", condition: str = "ANY",
        send: bool = True, value_range: tuple = (0.0, 1.0)):
    """One OSC message of a node, sent when its value `var` changes (condition ANY, RISE or FALL).

    argument: None, one of the address's string choices, or the name of the node's value to send,
    scaled so that the value's range (value_range: 0..1 for faders, XY pads and buttons, 0..steps-1
    for a radio) covers the table's range. A received message (send=False) sets the value `var`
    instead, as a string: labels show feedback this way.
    """
    messages = node.find("messages")
    if messages is None:
        messages = sub(node, "messages")
    element = sub(messages, "osc")
    for tag, on in (("enabled", True), ("send", send), ("receive", not send), ("feedback", False)):
        sub(element, tag, int(on))
    sub(element, "connections", "00001")  # a bit per connection: connection 1 only
    trigger = sub(sub(element, "triggers"), "trigger")
    sub(trigger, "var", var)
    sub(trigger, "condition", condition)
    partial(sub(element, "path"), "CONSTANT", "STRING", address)
    arguments = sub(element, "arguments")
    spec = BY_ADDRESS[address]
    if not send:
        partial(arguments, "VALUE", "STRING", var)
    elif argument in spec.choices:
        partial(arguments, "CONSTANT", "STRING", argument)
    elif argument is not None:
        # sent = scaleMin + v * (scaleMax - scaleMin) must run from spec.low at v = lo to spec.high at v = hi
        lo, hi = value_range
        slope = (spec.high - spec.low) / (hi - lo)
        partial(arguments, "VALUE", CONVERSION[spec.types], argument, spec.low - lo * slope,
                spec.low + (1 - lo) * slope)


class Layout:
    def __init__(self):
        self.root = self.node(None, "GROUP", "cdgmvae", (0, 0, WIDTH, HEIGHT), (0.0, 0.0, 0.0, 1.0),
                              values={"touch": "false"})
        prop(self.root.find("properties"), "script",
             f"function init()\n  sendOSC('{PREFIX}/hello')\nend\n")

    def node(self, parent, kind: str, name: str, frame: tuple, color: tuple, values: dict,
             **props) -> ET.Element:
        # IDs derive from the name so that every build writes the same layout.
        node_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"cdgmvae/touchosc/{name}"))
        element = ET.Element("node", ID=node_id, type=kind) if parent is None else sub(
            parent.find("children"), "node", ID=node_id, type=kind)
        properties = sub(element, "properties")
        base = {"name": name, "frame": frame, "color": color, "background": True, "outline": True,
                "interactive": kind not in ("LABEL", "GROUP"), "locked": False, "visible": True,
                "cornerRadius": 4.0, "orientation": NORTH, **props}
        for key in sorted(base):
            prop(properties, key, base[key])
        holder = sub(element, "values")
        for key, default in values.items():
            value = sub(holder, "value")
            for tag, text in (("key", key), ("locked", 0), ("lockedDefaultCurrent", 0),
                              ("default", default), ("defaultPull", 0)):
                sub(value, tag, text)
        if kind == "GROUP":
            sub(element, "children")
        return element

    def control(self, kind: str, name: str, frame: tuple, color: tuple, values: dict, **props):
        return self.node(self.root, kind, name, frame, color, {"touch": "false", **values}, **props)

    def label(self, name: str, text: str, frame: tuple, size: int = 20) -> ET.Element:
        return self.control("LABEL", name, frame, WHITE, {"text": text}, background=False,
                            outline=False, textSize=size, textColor=WHITE, textAlignH=2)

    def button(self, name: str, frame: tuple, color: tuple, toggle: bool = False) -> ET.Element:
        # buttonType 0 momentary, 2 toggle on press; the caption is a label drawn on top.
        button = self.control("BUTTON", name, frame, color, {"x": 0}, buttonType=2 if toggle else 0)
        self.label(f"{name}_caption", name, frame, size=24)
        return button


def build() -> ET.Element:
    lay = Layout()
    pad = lay.control("XY", "valence_arousal", (16, 16, 440, SLIDERS), BLUE, {"x": 0.5, "y": 0.5})
    osc(pad, f"{PREFIX}/valence", "x", var="x")
    osc(pad, f"{PREFIX}/arousal", "y", var="y")
    lay.label("pad_caption", "valence (x)  /  arousal (y)", (16, SLIDERS + 20, 440, 32))

    for x, name, default in ((472, "lambda", 0.5), (592, "temperature", 1.0),
                             (712, "key_strength", DEFAULT_KEY_STRENGTH)):
        spec = BY_ADDRESS[f"{PREFIX}/{name}"]
        fader = lay.control("FADER", name, (x, 16, 104, SLIDERS), BLUE,
                            {"x": (default - spec.low) / (spec.high - spec.low)})
        osc(fader, spec.address, "x")
        lay.label(f"{name}_caption", name, (x - 8, SLIDERS + 20, 120, 32))

    # x is the index of the chosen step, left to right (EAST): 0 = C .. 11 = B, as the table wants
    cell = 66  # twelve steps under the pad and the faders
    tonic = lay.control("RADIO", "tonic", (16, SLIDERS + 60, cell * len(PITCH_NAMES), 56), BLUE, {"x": 0},
                        steps=len(PITCH_NAMES), orientation=EAST)
    osc(tonic, f"{PREFIX}/tonic", "x", value_range=(0, len(PITCH_NAMES) - 1))
    for i, name in enumerate(PITCH_NAMES):
        lay.label(f"tonic_{name}", name, (16 + cell * i, SLIDERS + 60, cell, 56))

    for i, emotion in enumerate(EMOTIONS):
        button = lay.button(emotion, (832, 16 + 92 * i, 176, 80), EMOTION_COLORS[emotion])
        osc(button, f"{PREFIX}/emotion", emotion, condition="RISE")
    osc(lay.button("play", (832, 384, 176, 80), BLUE, toggle=True), f"{PREFIX}/play", "x")
    osc(lay.button("panic", (832, 476, 84, 96), RED), f"{PREFIX}/panic", condition="RISE")
    osc(lay.button("hello", (924, 476, 84, 96), GREY), f"{PREFIX}/hello", condition="RISE")
    # under panic and hello, above the feedback: needs `cdgmvae live --midi-in` to hear the musician
    osc(lay.button("transfer", (832, 580, 176, 44), BLUE, toggle=True), f"{PREFIX}/transfer", "x")

    # One label per "out" address of the table, in a row along the bottom.
    feedback = [m for m in TABLE if m.direction == "out"]
    width = (WIDTH - 16) // len(feedback)
    for i, message in enumerate(feedback):
        name = message.address.rsplit("/", 1)[1]
        x = 16 + width * i
        lay.label(f"fb_{name}_caption", name, (x, 632, width - 8, 32), size=min(16, width // 6))
        shown = lay.label(f"fb_{name}", "-", (x, 668, width - 8, 64), size=min(28, width // 4))
        osc(shown, message.address, var="text", send=False)
    return lay.root


def render() -> bytes:
    """The layout's XML, as TouchOSC writes it (before compression)."""
    lexml = ET.Element("lexml", version="3")
    lexml.append(build())
    ET.indent(lexml, space=" ")
    return b"<?xml version='1.0' encoding='UTF-8'?>\n" + ET.tostring(lexml, encoding="utf-8")


def read(path: Path = TOSC) -> bytes:
    return zlib.decompress(path.read_bytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cdgmvae.max4live.make_tosc", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed .tosc is stale")
    args = parser.parse_args(argv)
    xml = render()
    if args.check:
        # Compare the XML, not the compressed bytes, which may differ between zlib versions.
        fresh = TOSC.exists() and read() == xml
        print(f"{TOSC.name}: {'up to date' if fresh else 'stale, run python -m cdgmvae.max4live.make_tosc'}")
        return 0 if fresh else 1
    TOSC.parent.mkdir(exist_ok=True)
    TOSC.write_bytes(zlib.compress(xml, 9))
    print(f"wrote {TOSC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
