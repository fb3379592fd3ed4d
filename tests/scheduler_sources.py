"""Bar sources for the scheduler tests, in a module the spawned generator process can import."""
from __future__ import annotations

import time

from cdgmvae.bridge.sources import BarSource
from cdgmvae.engine.notes import BarNotes


class SlowRepeatBar(BarSource):
    """The same hand-made bar every bar, each `delay_s` seconds late: the generator misses deadlines."""

    def __init__(self, bar: BarNotes, delay_s: float) -> None:
        super().__init__()
        self.bar, self.delay_s = list(bar), delay_s

    def next_bar(self) -> BarNotes:
        time.sleep(self.delay_s)
        return list(self.bar)
