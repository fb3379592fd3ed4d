"""The generator process: builds the source from its factory and answers one bar request at a time.

The decoder runs here, away from the process that sends MIDI events: a decoder thread in the sender's
process costs milliseconds of jitter, a separate process does not (docs/ARCHITECTURE.md, *The bridge*).
`GeneratorProcess` is the sender's handle on it.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass

from cdgmvae.bridge.sources import LiveControls, SourceFactory
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.notes import BarNotes


@dataclass
class Request:
    serial: int
    controls: LiveControls
    heard: list[BarNotes] | None  # None: unchanged since the last request


@dataclass
class Result:
    serial: int
    controls: LiveControls
    notes: BarNotes
    mood: tuple[float, float]
    tonic: int | None  # None: the source has no key guidance
    seconds: float


def decoder_threads() -> int:
    """Torch threads for the decoder: every core but one, which is left to the sender."""
    return max(1, (os.cpu_count() or 2) - 1)


def worker(factory: SourceFactory, conn) -> None:
    # Ctrl-C reaches the whole process group: the sender decides when to stop, and closing the pipe
    # (or the sender's exit) ends this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threads = decoder_threads()
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        os.nice(5)  # the sender process comes first
    except OSError:
        pass
    try:
        source = factory()
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        conn.send(("ready", None))
        while True:
            request = conn.recv()
            if request is None:
                return
            start = time.perf_counter()
            if request.heard is not None:
                source.hear(request.heard)
            source.set_controls(request.controls)
            notes = source.next_bar()
            conn.send(("bar", Result(request.serial, request.controls, list(notes), source.mood(),
                                     source.tonic(), time.perf_counter() - start)))
    except (KeyboardInterrupt, EOFError, BrokenPipeError):
        return
    except UserError as err:
        conn.send(("user_error", str(err)))
    except Exception as err:  # reported to the sender process, which stops cleanly
        try:
            conn.send(("error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))
        except (OSError, BrokenPipeError):
            pass


class GeneratorProcess:
    """The sender's handle on the generator process: one request in flight at most."""

    def __init__(self, factory: SourceFactory) -> None:
        ctx = mp.get_context("spawn")  # never fork a process that holds MIDI, Link and OSC threads
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker, args=(factory, child), name="cdgmvae-generator",
                                   daemon=True)
        self.process.start()
        child.close()
        self.busy = False
        self.serial = 0

    def wait_ready(self, timeout: float) -> None:
        if not self.conn.poll(timeout):
            raise RuntimeError(f"the generator did not start within {timeout:.0f} s")
        self.receive()

    def request(self, controls: LiveControls, heard: list[BarNotes] | None) -> None:
        self.serial += 1
        self.conn.send(Request(self.serial, controls, heard))
        self.busy = True

    def poll(self) -> Result | None:
        """The finished bar, if one is there; never waits."""
        if not self.conn.poll():
            if not self.process.is_alive():
                raise GeneratorError(f"the generator process ended (exit code {self.process.exitcode})")
            return None
        result = self.receive()
        self.busy = False
        return result

    def receive(self):
        try:
            kind, payload = self.conn.recv()
        except EOFError:
            raise GeneratorError(f"the generator process ended (exit code {self.process.exitcode})") from None
        if kind == "user_error":
            raise UserError(payload)
        if kind == "error":
            raise GeneratorError(payload)
        return payload

    def close(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=2)


class GeneratorError(RuntimeError):
    pass
