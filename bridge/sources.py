"""Where the bars come from: the `BarSource` protocol, the registry of sources, and the sources that need
no model (the model's own, the default, is bridge/model_source.py).

A source lives in the generator process (see generator.py). The scheduler builds it there by calling a
picklable zero-argument factory, so a model is loaded once, in the process that runs it. Each bar the
scheduler calls `set_controls(controls)` (and `hear(bars)` with what the performer played), then
`next_bar()`.

To add a source, register a function ``(args: argparse.Namespace) -> factory`` in `SOURCES`; `cdgmvae
live --source NAME` picks it. The factory must be picklable (a module-level class or function, or a
`functools.partial` of one) and build the source when called.
"""
from __future__ import annotations

import argparse
import functools
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

from cdgmvae.engine.emotion import DEFAULT_KEY_STRENGTH
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.notes import GridNote

Bar = list[GridNote]
SourceFactory = Callable[[], "BarSource"]

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "emopia" / "midis"
DEFAULT_CLIP = "Q1_0vLPYiPN7qY_0.mid"


@dataclass(frozen=True)
class Controls:
    """What the performer asks for; in force for the next bar generated."""
    valence: float = 1.0        # target valence 0..1
    arousal: float = 1.0        # target arousal 0..1
    lam: float = 0.5            # transition amount: how far each bar moves toward the target
    temperature: float = 1.0
    key_strength: float = DEFAULT_KEY_STRENGTH  # key guidance (engine/key_guidance.py)
    tonic: Optional[int] = None  # key guidance's tonic chosen over OSC; None keeps the piece's own
    transfer: bool = False      # continue from the bars heard on --midi-in, moved toward the target

    def with_(self, **changes) -> "Controls":
        return replace(self, **changes)


class BarSource:
    """Base of every source. Subclasses implement `next_bar`; the rest has sensible defaults."""

    def __init__(self) -> None:
        self.controls = Controls()
        self.heard: list[Bar] = []

    def set_controls(self, controls: Controls) -> None:
        self.controls = controls

    def hear(self, bars: list[Bar]) -> None:
        """The last bars the performer played on --midi-in (oldest first), for transfer."""
        self.heard = bars

    def next_bar(self) -> Bar:
        raise NotImplementedError

    def mood(self) -> tuple[float, float]:
        """(valence, arousal) of the bar `next_bar` last returned; shown to controllers as feedback."""
        return self.controls.valence, self.controls.arousal

    def tonic(self) -> Optional[int]:
        """Key guidance's tonic of the bar `next_bar` last returned (feedback); None for sources without."""
        return None


def step_toward(current: float, target: float, lam: float) -> float:
    return current + lam * (target - current)


class ClipSource(BarSource):
    """Loops the bars of a MIDI file; needs no model.

    The mood moves toward the target by lambda each bar, and arousal scales the velocities, so the
    controls are audible. With transfer on and bars heard, it loops those bars instead.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.bars = load_clip(path)
        self.index = 0
        self.valence, self.arousal = self.controls.valence, self.controls.arousal
        self.moved = False

    def set_controls(self, controls: Controls) -> None:
        if not self.moved:  # the first bar starts at the target, as the engine does
            self.valence, self.arousal, self.moved = controls.valence, controls.arousal, True
        super().set_controls(controls)

    def next_bar(self) -> Bar:
        c = self.controls
        self.valence = step_toward(self.valence, c.valence, c.lam)
        self.arousal = step_toward(self.arousal, c.arousal, c.lam)
        bars = self.heard if c.transfer and self.heard else self.bars
        bar = bars[self.index % len(bars)]
        self.index += 1
        gain = 0.6 + 0.6 * self.arousal
        return [n._replace(velocity=max(1, min(127, round(n.velocity * gain)))) for n in bar]

    def mood(self) -> tuple[float, float]:
        return self.valence, self.arousal


class SlowSource(ClipSource):
    """A ClipSource that takes `delay_s` per bar: shows what happens when the generator is late."""

    def __init__(self, path: str, delay_s: float) -> None:
        super().__init__(path)
        self.delay_s = delay_s

    def next_bar(self) -> Bar:
        time.sleep(self.delay_s)
        return super().next_bar()


def load_clip(path: str) -> list[Bar]:
    """The clip's notes per bar, read as every command reads MIDI files (codec.encode)."""
    from cdgmvae.engine.codec import encode  # pretty_midi is slow to import: only in the generator process

    try:
        return encode(path).notes
    except UserError as err:
        raise UserError(f"cannot use the clip: {err}; give a MIDI file with notes (--clip FILE)") from None


def clip_path(args: argparse.Namespace) -> str:
    path = Path(args.clip) if args.clip else DATA_DIR / DEFAULT_CLIP
    if not path.is_file():
        raise UserError(f"clip not found: {path}; give a MIDI file with --clip FILE")
    return str(path)


def clip_factory(args: argparse.Namespace) -> SourceFactory:
    return functools.partial(ClipSource, clip_path(args))


def slow_factory(args: argparse.Namespace) -> SourceFactory:
    return functools.partial(SlowSource, clip_path(args), args.slow_ms / 1000.0)


def model_factory(args: argparse.Namespace) -> SourceFactory:
    from cdgmvae.bridge.model_source import model_factory as make  # imports this module: import it late

    return make(args)


# name -> (args -> picklable factory). The first, "model", is the default.
SOURCES: dict[str, Callable[[argparse.Namespace], SourceFactory]] = {
    "model": model_factory,
    "clip": clip_factory,
    "slow": slow_factory,
}


def default_source() -> str:
    return "model" if "model" in SOURCES else "clip"
