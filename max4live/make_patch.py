"""Write max4live/cdgmvae.maxpat, the Max for Live device, from the bridge's OSC table.

`python -m cdgmvae.max4live.make_patch` regenerates the patcher, so the device never drifts from
bridge/osc_spec.py; the .maxpat it writes is committed and is the source that diffs and reviews.
`--check` exits 1 when the committed file differs from what the table gives.

The device (a MIDI effect: MIDI passes through untouched):
  live.dial valence, arousal, lambda, temperature, key strength -> [prepend /cdgmvae/...] -> [udpsend 127.0.0.1 9000]
  live.tab emotion -> [sel 0 1 2 3] -> messages "/cdgmvae/emotion happy" ...
  live.text play and transfer (toggles) -> [prepend /cdgmvae/play], [prepend /cdgmvae/transfer];
  live.text panic (button, Hidden) -> "/cdgmvae/panic"
  live.menu tonic (C .. B) -> [prepend /cdgmvae/tonic]
  [udpreceive 9001] -> [route /cdgmvae/fb/...] -> one display per "out" address of the table, none of
    them a stored parameter: number boxes, message boxes, and for the tonic a Hidden live.menu that
    shows its name (writing into an automated parameter would override its automation and fill Live's
    undo history: Ableton's Max for Live Production Guidelines, "Saving Parameters")
  host field -> [pattr] (Stored Only) -> "host ..." to udpsend; port and feedback port live.numbox
    (Stored Only) -> "port ..." to udpsend and udpreceive: all three are saved with the Live set

No /cdgmvae/hello: the bridge answers a hello at the port it came from, and [udpsend] sends from a
port of its own, not the one [udpreceive] listens on. The bridge is given `--feedback 127.0.0.1:9001`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cdgmvae.bridge.osc_spec import BY_ADDRESS, EMOTIONS, PITCH_NAMES, PREFIX, TABLE
from cdgmvae.engine.emotion import DEFAULT_KEY_STRENGTH

MAXPAT = Path(__file__).with_name("cdgmvae.maxpat")
BRIDGE_HOST, BRIDGE_PORT, FEEDBACK_PORT = "127.0.0.1", 9000, 9001

# (address suffix, parameter name, initial value) of each dial; ranges come from the table.
DIALS = (("valence", "Valence", 0.5), ("arousal", "Arousal", 0.5), ("lambda", "Lambda", 0.5),
         ("temperature", "Temp", 1.0), ("key_strength", "Key", DEFAULT_KEY_STRENGTH))
DIAL_STEP = 52.0
# The feedback displays, in columns right of the dials, as many rows as Live's device height holds.
FEEDBACK_X, FEEDBACK_COLUMN, FEEDBACK_ROW, DISPLAY_HEIGHT = 16 + DIAL_STEP * len(DIALS), 124.0, 26, 20
LIVE_DEVICE_HEIGHT = 169
FEEDBACK_ROWS = (LIVE_DEVICE_HEIGHT - 4 - DISPLAY_HEIGHT) // FEEDBACK_ROW + 1
# Parameter Visibility as Max saves it in valueof.parameter_invisible (0, the default, is left out).
AUTOMATED_AND_STORED, STORED_ONLY, HIDDEN = 0, 1, 2
# Integer addresses whose values name something: the tonic menu and the tonic display show the names.
NAMES = {"tonic": PITCH_NAMES}

# inlets, outlets and outlet types of the objects the device uses, as Max saves them.
SHAPES = {
    "live.dial": (1, 2, ["", "float"]),
    "live.tab": (1, 3, ["", "", "float"]),
    "live.menu": (1, 3, ["", "", "float"]),
    "live.text": (1, 2, ["", ""]),
    "live.numbox": (1, 2, ["", "float"]),
    "message": (2, 1, [""]),
    "comment": (1, 0, []),
    "number": (1, 2, ["", "bang"]),
    "flonum": (1, 2, ["", "bang"]),
    "textedit": (1, 4, ["", "int", "", ""]),
    "prepend": (1, 1, [""]),
    "udpsend": (1, 0, []),
    "udpreceive": (1, 1, [""]),
    "midiin": (1, 1, ["int"]),
    "midiout": (1, 0, []),
    "t": (1, 1, ["bang"]),
    "i": (2, 1, ["int"]),
    "pattr": (1, 3, ["", "", ""]),
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
        parameter_invisible: AUTOMATED_AND_STORED (the default), STORED_ONLY or HIDDEN.
        """
        valueof = {"parameter_longname": longname, "parameter_shortname": shortname, "parameter_type": ptype}
        valueof.update((k, v) for k, v in attrs.items() if k.startswith("parameter_"))
        box_attrs = {k: v for k, v in attrs.items() if not k.startswith("parameter_")}
        box_id = self.add(maxclass, text, at=at, parameter_enable=1, varname=longname, **box_attrs,
                          saved_attribute_attributes={"valueof": dict(sorted(valueof.items()))})
        self.parameters[box_id] = [longname, shortname, 0]
        return box_id

    def stored_value(self, name: str, initial: list) -> str:
        """[pattr] in parameter mode, Stored Only, holding `initial` until set: saved with the Live set.

        As Max saves one: a blob parameter (type 3) whose value is the pattr's "restore" list.
        """
        valueof = {"parameter_invisible": STORED_ONLY, "parameter_longname": name, "parameter_shortname": name,
                   "parameter_type": 3}
        box_id = self.add("newobj", "pattr @parameter_enable 1", restore=list(initial), varname=name,
                          saved_attribute_attributes={"valueof": valueof},
                          saved_object_attributes={"parameter_enable": 1, "parameter_mappable": 0})
        self.parameters[box_id] = [name, name, 0]
        return box_id

    def label(self, text: str, at: tuple):
        self.add("comment", text, at=at)

    def to_json(self, device_width: float) -> dict:
        return {"patcher": {
            "fileversion": 1,
            "appversion": {"major": 8, "minor": 6, "revision": 0, "architecture": "x64", "modernui": 1},
            "classnamespace": "box",
            "rect": [100.0, 100.0, 1000.0, 600.0],
            "openinpresentation": 1,
            "devicewidth": device_width,
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


def feedback_messages() -> tuple:
    """The table's "out" entries: what the bridge sends back, each shown on its own display."""
    return tuple(m for m in TABLE if m.direction == "out")


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


def port_field(p: Patcher, name: str, shortname: str, x: float, port: int, target: str):
    """A live.numbox for a UDP port, Stored Only (saved with the Live set, not automatable): its value,
    at load and when changed, goes to `target` as "port N". Float type with Int display, because Live's
    Int parameters end at 255."""
    p.label(shortname, (x, 112, 56, 18))
    number = p.parameter("live.numbox", (x, 128, 52, 20), name, shortname, 0, parameter_mmin=1.0,
                         parameter_mmax=65535.0, parameter_initial=[port], parameter_initial_enable=1,
                         parameter_unitstyle=0, parameter_invisible=STORED_ONLY)
    whole, prepend = p.add("newobj", "i"), p.add("newobj", "prepend port")
    p.connect(number, whole)
    p.connect(whole, prepend)
    p.connect(prepend, target)


def feedback_display(p: Patcher, message, at: tuple) -> tuple[str, bool]:
    """A display for one feedback address, never a stored parameter; (box, whether it takes "set")."""
    name = message.address.rsplit("/", 1)[1]
    if name in NAMES:  # shows the name; Hidden, so neither stored, automated nor in Live's undo history
        names = list(NAMES[name])
        return p.parameter("live.menu", at, f"fb_{name}", name, 2, ignoreclick=1, parameter_enum=names,
                           parameter_mmax=len(names) - 1, parameter_invisible=HIDDEN), True
    if message.types == "s":
        return p.add("message", "", at=at, varname=f"fb_{name}", ignoreclick=1), True
    extra = {"format": 6} if message.types == "f" else {}
    return p.add(DISPLAY[message.types], at=at, varname=f"fb_{name}", ignoreclick=1, **extra), False


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

    # Panic is momentary: Hidden, so it is neither automated nor saved with the set.
    panic = p.parameter("live.text", (80, 84, 64, 20), "panic", "Panic", 2, mode=0, text="Panic",
                        texton="Panic", parameter_enum=["off", "on"], parameter_mmax=1, parameter_invisible=HIDDEN)
    panic_bang = p.add("newobj", "t b")
    panic_message = p.add("message", f"{PREFIX}/panic")
    p.connect(panic, panic_bang)
    p.connect(panic_bang, panic_message)
    p.connect(panic_message, send)

    # No initial value: until one is chosen the piece keeps its own tonic (shown on the tonic display).
    p.label("tonic", (152, 86, 34, 18))
    tonic = p.parameter("live.menu", (186, 84, 56, 20), "tonic", "Tonic", 2, parameter_enum=list(NAMES["tonic"]),
                        parameter_mmax=len(NAMES["tonic"]) - 1)
    send_value(p, tonic, "tonic", send)

    # Where the bridge is: typed into the host field, kept in a Stored Only [pattr] that sends it at load
    # and shows it in the field.
    receive = p.add("newobj", f"udpreceive {FEEDBACK_PORT}")
    p.label("host", (8, 112, 40, 18))
    host = p.add("textedit", at=(8, 128, 84, 20), lines=1, tabmode=0, keymode=1, wordwrap=0, varname="host_field")
    host_text = p.add("newobj", "route text")  # textedit outputs "text <what was typed>" on Enter
    host_stored = p.stored_value("host", [BRIDGE_HOST])
    host_prepend, host_shown = p.add("newobj", "prepend host"), p.add("newobj", "prepend set")
    p.connect(host, host_text)
    p.connect(host_text, host_stored)
    p.connect(host_stored, host_prepend)
    p.connect(host_prepend, send)
    p.connect(host_stored, host_shown)
    p.connect(host_shown, host)
    port_field(p, "port", "port", 96, BRIDGE_PORT, send)
    port_field(p, "feedback_port", "feedback", 152, FEEDBACK_PORT, receive)

    feedback = feedback_messages()
    router = p.add("newobj", "route " + " ".join(m.address for m in feedback))
    p.connect(receive, router)
    for i, message in enumerate(feedback):
        column, row = divmod(i, FEEDBACK_ROWS)
        x, y = FEEDBACK_X + FEEDBACK_COLUMN * column, 4 + FEEDBACK_ROW * row
        p.label(message.address.rsplit("/", 1)[1], (x, y, 54, 18))
        display, takes_set = feedback_display(p, message, (x + 56, y, 64, DISPLAY_HEIGHT))
        if takes_set:  # shown without being output
            set_text = p.add("newobj", "prepend set")
            p.connect(router, set_text, outlet=i)
            p.connect(set_text, display)
        else:
            p.connect(router, display, outlet=i)
    columns = -(-len(feedback) // FEEDBACK_ROWS)
    return p.to_json(FEEDBACK_X + FEEDBACK_COLUMN * columns - 2)


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
