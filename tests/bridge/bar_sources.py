"""Bar sources made for the tests. The generator process builds a source from a pickled factory, so
they live in a module it can import (tests/bridge is on the path of pytest and of its spawned processes)."""
from __future__ import annotations

from cdgmvae.bridge.sources import BarSource
from cdgmvae.engine.notes import BarNotes


class RepeatBar(BarSource):
    """The same hand-made bar, every bar."""

    def __init__(self, bar: BarNotes) -> None:
        super().__init__()
        self.bar = list(bar)

    def next_bar(self) -> BarNotes:
        return list(self.bar)


class EchoHeard(BarSource):
    """The last bar the performer played (live transfer's input, `hear`), or a hand-made bar until one is
    heard: what comes out shows what the generator was handed."""

    def __init__(self, bar: BarNotes) -> None:
        super().__init__()
        self.bar = list(bar)

    def next_bar(self) -> BarNotes:
        return list(self.heard[-1]) if self.heard else list(self.bar)
