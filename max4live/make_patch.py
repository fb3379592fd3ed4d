"""Write max4live/cdgmvae.maxpat, the Max for Live device, from the bridge's OSC table.

`python -m cdgmvae.max4live.make_patch` regenerates the patcher, so the device never drifts from
bridge/osc_spec.py; the .maxpat it writes is committed and is the source that diffs and reviews.
`--check` exits 1 when the committed file differs from what the table gives.

The device (a MIDI effect: MIDI passes through untouched):
  live.dial valence, arousal, lambda, temperature, key strength -> [prepend /cdgmvae/...] -> [udpsend 127.0.0.1 9000]
  live.tab emotion -> [sel 0 1 2 3] -> messages "/cdgmvae/emotion happy" ...
  live.text play and transfer (toggles) -> [prepend /cdgmvae/play], [prepend /cdgmvae/transfer];
  live.text panic (button) -> "/cdgmvae/panic"
  live.menu tonic (C .. B) -> [prepend /cdgmvae/tonic]
  [udpreceive 9001] -> [route /cdgmvae/fb/...] -> one display per feedback address; /cdgmvae/fb/tonic
    -> [prepend set] -> the tonic menu, which so shows the tonic playing without sending it back
  host and port fields -> "host ..." / "port ..." to udpsend, "port ..." to udpreceive

No /cdgmvae/hello: the bridge answers a hello at the port it came from, and [udpsend] sends from a
port of its own, not the one [udpreceive] listens on. The bridge is given `--feedback 127.0.0.1:9001`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cdgmvae.bridge.osc_spec import BY_ADDRESS, EMOTIONS, FEEDBACK, PITCH_NAMES, PREFIX
from cdgmvae.engine.emotion import DEFAULT_KEY_STRENGTH

MAXPAT = Path(__file__).with_name("cdgmvae.maxpat")
BRIDGE_HOST, BRIDGE_PORT, FEEDBACK_PORT = "127.0.0.1", 9000, 9001

# (address suffix, parameter name, initial value) of each dial; ranges come from the table.
DIALS = (("valence", "Valence", 0.5), ("arousal", "Arousal", 0.5), ("lambda", "Lambda", 0.5),
         ("temperature", "Temp", 1.0), ("key_strength", "Key", DEFAULT_KEY_STRENGTH))
DIAL_STEP = 52.0
FEEDBACK_X, FEEDBACK_COLUMN = 16 + DIAL_STEP * len(DIALS), 124.0  # the feedback displays, right of the dials
DEVICE_WIDTH = FEEDBACK_X + FEEDBACK_COLUMN * 2 - 2

# inlets, outlets and outlet types of the objects the device uses, as Max saves them.
SHAPES = {
    "live.dial": (1, 2, ["", "float"]),
    "live.tab": (1, 3, ["", "", "float"]),
    "live.menu": (1, 3, ["", "", "float"]),
    "live.text": (1, 2, ["", ""]),
    "message": (2, 1, [""]),
    "comment": (1, 0, []),
    "number": (1, 2, ["", "bang"]),
    "flonum": (1, 2, ["", "bang"]),
    "textedit": (1, 4, ["", "int", "", ""]),
    "prepend": (1, 1, [""]),
    "udpsend": (1, 0, []),
    "udpreceive": (1, 1, [""]),
    "loadbang": (1, 1, ["bang"]),
    "midiin": (1, 1, ["int"]),
    "midiout": (1, 0, []),
    "t": (1, 1, ["bang"]),
}
# A display for each OSC argument type of the feedback.
DISPLAY = {"i": "number", "f": "flonum", "s": "message"}


class Patcher:
    """Boxes and patch cords, with ids in creation order so the output is stable."""

    def __init__(self):
        self.boxes, self.lines, self.parameters = [], [], {}
        self._row = 0

    def add(self, maxclass: str, text: str | None = None, at: tuple | None = None, **attrs) -> str:
        box_id = f"obj-{len(self.boxes) + 1}"
        head = text.split()[0] if maxclass == "newobj" else maxclass
        if maxclass == "newobj" and head in ("route", "sel"):
            n = len(text.split()) - 1
            shape = (2, n + 1, ["" if head == "route" else "bang"] * n + [""])
        else:
            shape = SHAPES[head]
        box = {"id": box_id, "maxclass": maxclass, "numinlets": shape[0], "numoutlets": shape[1],
               "outlettype": shape[2], "patching_rect": [20.0 + 160.0 * (self._row % 6),
                                                          20.0 + 40.0 * (self._row // 6), 150.0, 22.0]}
        self._row += 1
        if text is not None:
            box["text"] = text
        if at is not None:
            box["presentation"] = 1
            box["presentation_rect"] = [float(v) for v in at]
        box.update(attrs)
        self.boxes.append({"box": dict(sorted(box.items()))})
        return box_id

    def connect(self, source: str, destination: str, outlet: int = 0, inlet: int = 0):
        self.lines.append({"patchline": {"destination": [destination, inlet], "source": [source, outlet]}})

    def parameter(self, maxclass: str, at: tuple, longname: str, shortname: str, ptype: int,
                  text: str | None = None, **attrs) -> str:
        """A live.* object: a Live parameter that can be automated and MIDI-mapped.

        Keyword arguments named parameter_* describe the parameter; the others are box attributes.
        """
        valueof = {"parameter_longname": longname, "parameter_shortname": shortname, "parameter_type": ptype}
        valueof.update((k, v) for k, v in attrs.items() if k.startswith("parameter_"))
        box_attrs = {k: v for k, v in attrs.items() if not k.startswith("parameter_")}
        box_id = self.add(maxclass, text, at=at, parameter_enable=1, varname=longname, **box_attrs,
                          saved_attribute_attributes={"valueof": dict(sorted(valueof.items()))})
        self.parameters[box_id] = [longname, shortname, 0]
        return box_id

    def label(self, text: str, at: tuple):
        self.add("comment", text, at=at)

    def to_json(self) -> dict:
        return {"patcher": {
            "fileversion": 1,
            "appversion": {"major": 8, "minor": 6, "revision": 0, "architecture": "x64", "modernui": 1},
            "classnamespace": "box",
            "rect": [100.0, 100.0, 1000.0, 600.0],
            "openinpresentation": 1,
            "devicewidth": DEVICE_WIDTH,
            "default_fontsize": 10.0,
            "default_fontname": "Arial Bold",
            "gridsize": [8.0, 8.0],
            "description": "cdgmvae: steer the live emotion-driven generator (OSC to `cdgmvae live`)",
            "boxes": self.boxes,
            "lines": self.lines,
            "parameters": {**self.parameters, "inherited_shortname": 1},
            "dependency_cache": [],
            "autosave": 0,
        }}


def osc_range(suffix: str) -> dict:
    message = BY_ADDRESS[f"{PREFIX}/{suffix}"]
    return {"parameter_mmin": float(message.low), "parameter_mmax": float(message.high)}


def send_value(p: Patcher, control: str, suffix: str, send: str):
    """control -> [prepend /cdgmvae/<suffix>] -> [udpsend]"""
    prepend = p.add("newobj", f"prepend {PREFIX}/{suffix}")
    p.connect(control, prepend)
    p.connect(prepend, send)


def toggle(p: Patcher, suffix: str, at: tuple, text: str, texton: str, send: str):
    """A live.text toggle, a Live parameter named like its address: on sends 1, off 0."""
    box = p.parameter("live.text", at, suffix, text, 2, mode=1, text=text, texton=texton,
                      parameter_enum=["off", "on"], parameter_mmax=1)
    send_value(p, box, suffix, send)


def show_default(p: Patcher, loadbang: str, value, field: str):
    """At load, show the default in an entry field without sending it (udpsend/udpreceive have it)."""
    message = p.add("message", f"set {value}")
    p.connect(loadbang, message)
    p.connect(message, field)


def build() -> dict:
    p = Patcher()
    thru = p.add("newobj", "midiin")
    p.connect(thru, p.add("newobj", "midiout"))

    send = p.add("newobj", f"udpsend {BRIDGE_HOST} {BRIDGE_PORT}")

    for i, (suffix, shortname, initial) in enumerate(DIALS):
        dial = p.parameter("live.dial", (8 + DIAL_STEP * i, 4, 44, 48), suffix, shortname, 0,
                           parameter_initial=[initial], parameter_initial_enable=1,
                           parameter_unitstyle=1, **osc_range(suffix))
        send_value(p, dial, suffix, send)

    tab = p.parameter("live.tab", (8, 58, 204, 20), "emotion", "Emotion", 2, num_lines_patching=1,
                      num_lines_presentation=1, parameter_enum=list(EMOTIONS), parameter_mmax=len(EMOTIONS) - 1)
    select = p.add("newobj", "sel " + " ".join(str(i) for i in range(len(EMOTIONS))))
    p.connect(tab, select)
    for i, emotion in enumerate(EMOTIONS):
        message = p.add("message", f"{PREFIX}/emotion {emotion}")
        p.connect(select, message, outlet=i)
        p.connect(message, send)

    toggle(p, "play", (8, 84, 64, 20), "Play", "Playing", send)
    # Right of the emotions: continue from what the musician played into `cdgmvae live --midi-in`.
    toggle(p, "transfer", (216, 58, 52, 20), "Transfer", "Transfer", send)

    # Panic is momentary, so it is not stored with the set (parameter_invisible: not automatable).
    panic = p.parameter("live.text", (80, 84, 64, 20), "panic", "Panic", 2, mode=0, text="Panic",
                        texton="Panic", parameter_enum=["off", "on"], parameter_mmax=1, parameter_invisible=1)
    panic_bang = p.add("newobj", "t b")
    panic_message = p.add("message", f"{PREFIX}/panic")
    p.connect(panic, panic_bang)
    p.connect(panic_bang, panic_message)
    p.connect(panic_message, send)

    loadbang = p.add("newobj", "loadbang")

    receive = p.add("newobj", f"udpreceive {FEEDBACK_PORT}")
    p.label("host", (8, 112, 40, 18))
    host = p.add("textedit", at=(8, 128, 84, 20), lines=1, tabmode=0, keymode=1, wordwrap=0)
    show_default(p, loadbang, BRIDGE_HOST, host)
    host_text, host_prepend = p.add("newobj", "route text"), p.add("newobj", "prepend host")
    p.connect(host, host_text)  # textedit outputs "text <what was typed>" on Enter
    p.connect(host_text, host_prepend)
    p.connect(host_prepend, send)
    for x, label, port, target in ((96, "port", BRIDGE_PORT, send),
                                   (152, "feedback", FEEDBACK_PORT, receive)):
        p.label(label, (x, 112, 56, 18))
        number = p.add("number", at=(x, 128, 52, 20), minimum=1, maximum=65535,
                       parameter_enable=0, varname=f"{label}_port")
        show_default(p, loadbang, port, number)
        port_prepend = p.add("newobj", "prepend port")
        p.connect(number, port_prepend)
        p.connect(port_prepend, target)

    # No initial value: until one is chosen the piece keeps its own tonic, which the menu then shows.
    p.label("tonic", (152, 86, 34, 18))
    tonic = p.parameter("live.menu", (186, 84, 56, 20), "tonic", "Tonic", 2, parameter_enum=list(PITCH_NAMES),
                        parameter_mmax=len(PITCH_NAMES) - 1)
    send_value(p, tonic, "tonic", send)

    router = p.add("newobj", "route " + " ".join(m.address for m in FEEDBACK))
    p.connect(receive, router)
    shown_by_control = {f"{PREFIX}/fb/tonic": tonic}  # through "set", so that showing it does not send it
    in_columns = [m for m in FEEDBACK if m.address not in shown_by_control]
    for i, message in enumerate(FEEDBACK):
        display = shown_by_control.get(message.address)
        if display is None:
            column, row = divmod(in_columns.index(message), 4)
            x, y = FEEDBACK_X + FEEDBACK_COLUMN * column, 4 + 26 * row
            name = message.address.rsplit("/", 1)[1]
            p.label(name, (x, y, 54, 18))
            display = p.add(DISPLAY[message.types], "" if message.types == "s" else None, at=(x + 56, y, 64, 20),
                            varname=f"fb_{name}", **({"format": 6} if message.types == "f" else {}))
        if message.types == "s" or message.address in shown_by_control:
            set_text = p.add("newobj", "prepend set")
            p.connect(router, set_text, outlet=i)
            p.connect(set_text, display)
        else:
            p.connect(router, display, outlet=i)
    return p.to_json()


def render() -> str:
    return json.dumps(build(), indent="\t") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cdgmvae.max4live.make_patch", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed .maxpat is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        fresh = MAXPAT.exists() and MAXPAT.read_text(encoding="utf-8") == text
        print(f"{MAXPAT.name}: {'up to date' if fresh else 'stale, run python -m cdgmvae.max4live.make_patch'}")
        return 0 if fresh else 1
    MAXPAT.write_text(text, encoding="utf-8")
    print(f"wrote {MAXPAT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
