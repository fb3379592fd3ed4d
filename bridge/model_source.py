"""The bar source backed by the model: the engine's Generator, running in the generator process."""
from __future__ import annotations

import functools
from dataclasses import asdict

from cdgmvae.bridge.generator_process import decoder_threads
from cdgmvae.bridge.sources import BarSource, LiveControls, SourceFactory
from cdgmvae.engine.notes import BarNotes


class ModelSource(BarSource):
    """Each bar from the CDGMVAE generator; controls map onto its targets, lambda, temperature and key
    guidance (strength and tonic).
    Turning transfer on continues from the bars heard on --midi-in, moved toward the target by lambda, in
    the key of what was played."""

    def __init__(self, checkpoint: str | None, backend: str, seed: int | None, threads: int,
                 tonic: int | None = None) -> None:
        super().__init__()
        import torch
        from cdgmvae.engine.generator import Generator
        torch.set_num_threads(threads)
        self.generator = Generator.load(checkpoint, backend=backend, seed=seed)
        self.generator.next_bar()  # warm-up: first-call allocations (and compilation) before the clock runs
        self.generator.reset(seed)
        if tonic is not None:
            self.generator.tonic = tonic
        self.last = None
        self.transferring = False

    def set_controls(self, controls: LiveControls) -> None:
        super().set_controls(controls)
        self.generator.set_controls(**asdict(controls.generation()))

    def next_bar(self) -> BarNotes:
        from cdgmvae.engine import codec
        from cdgmvae.engine import vocab as V
        if self.controls.transfer and self.heard and not self.transferring:
            tempo_bin = V.tempo_to_bin(self.last.tempo if self.last else 120.0)
            played = [codec.bar_tokens(sorted(bar, key=codec.note_order), tempo_bin)[0] for bar in self.heard]
            self.generator.continue_from(played)
        self.transferring = self.controls.transfer
        if self.controls.tonic is not None:  # after the transfer: a tonic chosen since wins
            self.generator.tonic = self.controls.tonic
        self.last = self.generator.next_bar()
        return self.last.notes

    def mood(self) -> tuple[float, float]:
        return (self.last.valence, self.last.arousal) if self.last else super().mood()

    def tonic(self) -> int | None:
        return self.generator.tonic


def model_source(checkpoint: str | None = None, backend: str = "eager", seed: int | None = None,
                 tonic: int | None = None) -> SourceFactory:
    """The factory of a ModelSource: the model at `checkpoint` (a folder or .json; None: the bundled model),
    decoded by `backend` (engine/backends.py), reproducible with `seed` (None: a new piece each run), in the
    key of `tonic` (0 = C .. 11 = B; None: drawn from the seed)."""
    return functools.partial(ModelSource, checkpoint, backend, seed, decoder_threads(), tonic)
