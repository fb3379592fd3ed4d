"""The OSC address space of the bridge, as one table.

Everything that speaks OSC to or from `cdgmvae live` (the server's validation, `cdgmvae osc-spec`,
the README table, the Max for Live device, the TouchOSC layout and their tests) reads this table.

Every control that takes a value names the feedback address that confirms it. Feedback goes out with
each bar (the bar log shows the same fields); the values in force (lambda, temperature, key strength,
transfer) also go out as soon as a control changes them, while valence, arousal, emotion and tonic show
the bar now playing, which reaches a new target bar by bar.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from cdgmvae.engine.emotion import DEFAULT_KEY_STRENGTH, EMOTION_VA, EMOTIONS, MAX_KEY_STRENGTH, nearest_emotion  # noqa: F401  (this table's API)
from cdgmvae.engine.features import PITCH_NAMES  # noqa: F401  (the names of the tonics 0..11)

PREFIX = "/cdgmvae"


@dataclass(frozen=True)
class OscMessage:
    address: str
    types: str                   # OSC type tags of the arguments: f float, i int, s string, "" none
    meaning: str
    low: float | None = None  # inclusive range of a numeric argument
    high: float | None = None
    choices: tuple = ()          # allowed values of a string argument
    direction: str = "in"        # "in": controller -> bridge; "out": bridge -> controller (feedback)
    feedback: str = ""           # of an "in" control with a value: the "out" address that confirms it

    def as_dict(self) -> dict:
        return asdict(self)


CONTROLS = (
    OscMessage(f"{PREFIX}/valence", "f", "target valence: 0 negative .. 1 positive", 0.0, 1.0,
               feedback=f"{PREFIX}/fb/valence"),
    OscMessage(f"{PREFIX}/arousal", "f", "target arousal: 0 calm .. 1 energetic", 0.0, 1.0,
               feedback=f"{PREFIX}/fb/arousal"),
    OscMessage(f"{PREFIX}/lambda", "f",
               "transition amount: how far each new bar moves toward the target (1 = at once)", 0.0, 1.0,
               feedback=f"{PREFIX}/fb/lambda"),
    OscMessage(f"{PREFIX}/emotion", "s", "set valence and arousal to a quadrant's corner",
               choices=EMOTIONS, feedback=f"{PREFIX}/fb/emotion"),
    OscMessage(f"{PREFIX}/temperature", "f", "sampling temperature (higher = more surprising)", 0.1, 2.0,
               feedback=f"{PREFIX}/fb/temperature"),
    OscMessage(f"{PREFIX}/key_strength", "f",
               "key guidance: how hard notes keep the piece's key, major for high valence and minor for low "
               f"(0 = the model's own notes; {DEFAULT_KEY_STRENGTH:g} at the start)", 0.0, MAX_KEY_STRENGTH,
               feedback=f"{PREFIX}/fb/key_strength"),
    OscMessage(f"{PREFIX}/tonic", "i",
               "key guidance's tonic, from the next bar on: 0 = C .. 11 = B (until a live transfer takes the "
               "tonic of what was played)", 0, 11,
               feedback=f"{PREFIX}/fb/tonic"),
    OscMessage(f"{PREFIX}/play", "i", "1 plays, 0 stops (all notes off)", 0, 1,
               feedback=f"{PREFIX}/fb/playing"),
    OscMessage(f"{PREFIX}/panic", "", "all notes off on every channel now"),
    OscMessage(f"{PREFIX}/transfer", "i",
               "1: continue from the last bars played on --midi-in, moved toward the target", 0, 1,
               feedback=f"{PREFIX}/fb/transfer"),
    OscMessage(f"{PREFIX}/hello", "", "register the sender for feedback messages (replies to its port)"),
)

FEEDBACK = (
    OscMessage(f"{PREFIX}/fb/bar", "i", "number of the bar now playing", 0, 2**31 - 1, direction="out"),
    OscMessage(f"{PREFIX}/fb/tempo", "f", "tempo in BPM", 20.0, 999.0, direction="out"),
    OscMessage(f"{PREFIX}/fb/emotion", "s", "quadrant nearest the current latents", choices=EMOTIONS,
               direction="out"),
    OscMessage(f"{PREFIX}/fb/valence", "f", "valence of the bar now playing", 0.0, 1.0, direction="out"),
    OscMessage(f"{PREFIX}/fb/arousal", "f", "arousal of the bar now playing", 0.0, 1.0, direction="out"),
    OscMessage(f"{PREFIX}/fb/lambda", "f", "transition amount in force (also sent as soon as it changes)", 0.0,
               1.0, direction="out"),
    OscMessage(f"{PREFIX}/fb/playing", "i", "1 while playing", 0, 1, direction="out"),
    OscMessage(f"{PREFIX}/fb/missed", "i", "bars that missed their deadline so far", 0, 2**31 - 1,
               direction="out"),
    OscMessage(f"{PREFIX}/fb/tonic", "i", "key guidance's tonic of the bar now playing, 0 = C .. 11 = B "
               "(the model's bars only)", 0, 11, direction="out"),
    OscMessage(f"{PREFIX}/fb/temperature", "f", "sampling temperature in force (also sent as soon as it changes)",
               0.1, 2.0, direction="out"),
    OscMessage(f"{PREFIX}/fb/key_strength", "f", "key guidance strength in force (also sent as soon as it "
               "changes)", 0.0, MAX_KEY_STRENGTH, direction="out"),
    OscMessage(f"{PREFIX}/fb/transfer", "i", "1 while live transfer is on (also sent as soon as it changes)", 0, 1,
               direction="out"),
)

TABLE = CONTROLS + FEEDBACK
BY_ADDRESS = {m.address: m for m in TABLE}


def feedback_name(address: str) -> str:
    """`/cdgmvae/fb/key_strength` -> `key_strength`: the key of a feedback value (and of the bar log's field)."""
    return address.rsplit("/", 1)[1]


def markdown_table() -> str:
    rows = ["| address | args | range | direction | feedback | meaning |", "|---|---|---|---|---|---|"]
    for m in TABLE:
        if m.choices:
            rng = " / ".join(m.choices)
        elif m.low is not None:
            rng = f"{m.low:g} .. {m.high:g}"
        else:
            rng = ""
        shown = f"`{m.feedback}`" if m.feedback else ""
        rows.append(f"| `{m.address}` | {m.types or '-'} | {rng} | {m.direction} | {shown} | {m.meaning} |")
    return "\n".join(rows)
