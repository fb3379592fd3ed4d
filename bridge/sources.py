"""Where the bars come from: the `BarSource` protocol, the live controls it follows, and the sources that
need no model (the model's own, the default, is bridge/model_source.py, which builds on this module).

A source lives in the generator process (see generator_process.py). The scheduler builds it there by
calling a picklable zero-argument factory, so a model is loaded once, in the process that runs it. Each bar
the scheduler calls `set_controls(controls)` (and `hear(bars)` with what the performer played), then
`next_bar()`.

To add a source: subclass `BarSource`, write a function of typed arguments that returns its factory (a
`functools.partial` of a module-level class or function, so that it pickles), and name it in `SOURCES` of
cdgmvae/commands/live.py, which maps `cdgmvae live --source NAME` and its options onto those arguments.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from cdgmvae.engine.controls import Controls
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.notes import BarNotes

SourceFactory = Callable[[], "BarSource"]

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "emopia" / "midis"
DEFAULT_CLIP = "Q1_0vLPYiPN7qY_0.mid"


@dataclass(frozen=True)
class LiveControls(Controls):
    """What the performer asks for, in force for the next bar generated: the generator's controls
    (engine/controls.py, with their defaults and checks) and what only a live performance has."""
    tonic: int | None = None  # key guidance's tonic chosen over OSC; None keeps the piece's own
    transfer: bool = False      # continue from the bars heard on --midi-in, moved toward the target

    def with_(self, **changes) -> LiveControls:
        return replace(self, **changes)

    def generation(self) -> Controls:
        """The generator's share of these controls."""
        names = {f.name for f in fields(Controls)}
        return Controls(**{name: value for name, value in asdict(self).items() if name in names})


class BarSource:
    """Base of every source. Subclasses implement `next_bar`; the rest has sensible defaults."""

    def __init__(self) -> None:
        self.controls = LiveControls()
        self.heard: list[BarNotes] = []

    def set_controls(self, controls: LiveControls) -> None:
        self.controls = controls

    def hear(self, bars: list[BarNotes]) -> None:
        """The last bars the performer played on --midi-in (oldest first), for transfer."""
        self.heard = bars

    def next_bar(self) -> BarNotes:
        raise NotImplementedError

    def mood(self) -> tuple[float, float]:
        """(valence, arousal) of the bar `next_bar` last returned; shown to controllers as feedback."""
        return self.controls.valence, self.controls.arousal

    def tonic(self) -> int | None:
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

    def set_controls(self, controls: LiveControls) -> None:
        if not self.moved:  # the first bar starts at the target, as the engine does
            self.valence, self.arousal, self.moved = controls.valence, controls.arousal, True
        super().set_controls(controls)

    def next_bar(self) -> BarNotes:
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

    def next_bar(self) -> BarNotes:
        time.sleep(self.delay_s)
        return super().next_bar()


def load_clip(path: str) -> list[BarNotes]:
    """The clip's notes per bar, read as every command reads MIDI files (codec.encode)."""
    from cdgmvae.engine.codec import encode  # pretty_midi is slow to import: only in the generator process

    try:
        return encode(path).notes
    except UserError as err:
        raise UserError(f"cannot use the clip: {err}; give a MIDI file with notes (--clip FILE)") from None


def clip_path(clip: str | None = None) -> str:
    """The clip to loop: `clip`, or a bundled EMOPIA clip. UserError if the file is not there."""
    path = Path(clip) if clip else DATA_DIR / DEFAULT_CLIP
    if not path.is_file():
        raise UserError(f"clip not found: {path}; give a MIDI file with --clip FILE")
    return str(path)


def clip_source(clip: str | None = None) -> SourceFactory:
    """The factory of a ClipSource looping `clip` (default: a bundled EMOPIA clip)."""
    return functools.partial(ClipSource, clip_path(clip))


def slow_source(delay_s: float, clip: str | None = None) -> SourceFactory:
    """The factory of a SlowSource: `clip` looped, each bar `delay_s` seconds late."""
    return functools.partial(SlowSource, clip_path(clip), delay_s)
