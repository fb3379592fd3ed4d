"""Live transfer: what a performer plays into --midi-in comes back in the bars after /cdgmvae/transfer 1."""
from __future__ import annotations

import math
import socket
import statistics
import subprocess
import threading
import time

import mido
from cdgmvae.bridge.clock import QUANTUM
from live_harness import jack_port, send_until, wait_until
from pythonosc.osc_message_builder import OscMessageBuilder

BPM = 240.0
SIXTEENTH = 60.0 / BPM / 4
PLAYED = (91, 94, 98)  # pitches the test clip does not have


def send_osc(port: int, address: str, *args) -> None:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(builder.build().dgram, ("127.0.0.1", port))


def transferring(live) -> bool:
    return any(b.get("transfer") == "1" for b in live.bars())


def open_keyboard():
    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
    return backend.open_output("keys", virtual=True, client_name="performer")


def test_transfer_continues_from_what_the_performer_played(live_factory, recorder, test_clip):
    live = live_factory("--bpm", str(BPM), "--source", "clip", "--clip", test_clip, "--midi-in", "perf-in")
    live.connect(recorder)
    keyboard = open_keyboard()
    try:
        subprocess.run(["jack_connect", jack_port("keys"), jack_port("perf-in")], check=True)
        live.wait_for(r"bar 1 ", timeout=30)
        for pitch in PLAYED * 2:  # about two bars of quarter notes, whatever the phase
            keyboard.send(mido.Message("note_on", channel=0, note=pitch, velocity=100))
            time.sleep(4 * SIXTEENTH)
            keyboard.send(mido.Message("note_off", channel=0, note=pitch))
            time.sleep(4 * SIXTEENTH)
        assert not {m.note for _, m in recorder.note_ons()} & set(PLAYED)
        seen = len(live.bars())
        live.wait_for(fr"bar {seen} ", timeout=10)
        # sending 1 again changes nothing
        send_until(lambda: send_osc(live.osc_port, "/cdgmvae/transfer", 1), lambda: transferring(live),
                   8 * 16 * SIXTEENTH, 16 * SIXTEENTH, "a bar made with transfer on")
        first = next(b["bar"] for b in live.bars() if b.get("transfer") == "1")
        # the clip source loops the (up to four) bars heard from where its loop stands: four bars hold them all
        live.wait_for(fr"bar {first + 4} ", timeout=15)
        assert live.interrupt() == 0
    finally:
        keyboard.close()

    piano = {m.note for _, m in recorder.final() if m.type == "note_on" and m.channel == 0}
    assert set(PLAYED) <= piano, piano


# --- The model's live transfer: what is played in determines what comes out --------------------------------

MODEL_BPM = 120.0
MODEL_BEAT = 60.0 / MODEL_BPM
MODEL_BAR = QUANTUM * MODEL_BEAT
# Two performances, both in C major on the piano: a run of sixteenths (16 onsets a bar) and one held note a bar.
SCALE = (60, 62, 64, 65, 67, 69, 71, 72)
DENSE = [(SCALE[i % len(SCALE)], i * MODEL_BEAT / 4, MODEL_BEAT / 8) for i in range(16)]
SPARSE = [(SCALE[0], 0.0, 2 * MODEL_BEAT)]
OUTPUT_BARS = 4  # bars made with transfer on, counted at the port


def perform(keyboard, pattern: list[tuple[int, float, float]], stop: threading.Event) -> None:
    """Play `pattern` ((pitch, onset s, length s) in one bar) bar after bar until `stop`, as a performer
    would: on time by their own clock, whatever the bridge's phase."""
    start = time.monotonic()
    bar = 0
    while not stop.is_set():
        events = sorted([(on, "note_on", p) for p, on, _ in pattern] + [(on + length, "note_off", p)
                                                                        for p, on, length in pattern])
        for at, kind, pitch in events:
            pause = start + bar * MODEL_BAR + at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            keyboard.send(mido.Message(kind, channel=0, note=pitch, velocity=96 if kind == "note_on" else 0))
        bar += 1
        pause = start + bar * MODEL_BAR - time.monotonic()
        if pause > 0:
            time.sleep(pause)


def notes_per_bar_after_transfer(live_factory, recorder, keyboard, pattern, name: str) -> list[int]:
    """Run the bundled model live at lambda 0 (the played bars rebuilt, not moved toward a target), play
    `pattern` into --midi-in, turn transfer on, and count the note-ons that arrive at the output port in each
    of the first OUTPUT_BARS bars made with transfer on."""
    live = live_factory("--bpm", f"{MODEL_BPM:g}", "--seed", "0", "--lambda", "0", "--midi-in", name)
    live.connect(recorder)
    live.wait_for(r"bar 0 ", timeout=120)  # the input port opens once the model is loaded
    subprocess.run(["jack_connect", jack_port("keys"), jack_port(name)], check=True)
    stop = threading.Event()
    player = threading.Thread(target=perform, args=(keyboard, pattern, stop), daemon=True)
    player.start()
    try:
        # two whole bars played before transfer is asked for
        live.wait_for(r"bar \d+ ", count=len(live.bars()) + 3, timeout=10 * MODEL_BAR)
        send_until(lambda: send_osc(live.osc_port, "/cdgmvae/transfer", 1), lambda: transferring(live),
                   8 * MODEL_BAR, MODEL_BAR / 2, "a bar made with transfer on")
        # on a loaded machine a bar can be late: its fallback repeats the bar before, so it is not counted
        counted = wait_until(lambda: made_with_transfer(live), 3 * OUTPUT_BARS * MODEL_BAR,
                             f"{OUTPUT_BARS} bars made with transfer on:\n{live.output()[-3000:]}")
        live.wait_for(fr"bar {counted[-1] + 1} ", timeout=3 * MODEL_BAR)  # the last counted has played
    finally:
        stop.set()
        player.join(2 * MODEL_BAR)
    assert live.interrupt() == 0
    print(live.output())

    arrived = recorder.snapshot()
    # The program changes go out with bar 0, at its bar line; each bar's notes from its bar line on. A window
    # starts half a sixteenth before its bar line: a note on the bar line that arrives a little early still
    # counts in its bar, and none of the bar before's (the last is a sixteenth before the bar line) does.
    start = min(t for t, m in arrived if m.type == "program_change" and t >= live.lines[0][0])
    counts = []
    for bar in counted:
        opens = start + bar * MODEL_BAR - MODEL_BEAT / 8
        counts.append(sum(1 for t, m in arrived if m.type == "note_on" and m.velocity > 0
                          and opens <= t < opens + MODEL_BAR))
    return counts


def made_with_transfer(live) -> list[int] | None:
    """The first OUTPUT_BARS bars made by the model with transfer on (None: not so many yet)."""
    made = [b["bar"] for b in live.bars() if b.get("transfer") == "1" and not b["late"]]
    return made[:OUTPUT_BARS] if len(made) >= OUTPUT_BARS else None


def test_live_transfer_of_the_model_rebuilds_the_rhythm_that_was_played(live_factory, recorder):
    """At lambda 0 a transfer rebuilds what was played (Eq 23 with no move toward the target): a run of
    sixteenths gives busy bars, one held note a bar gives sparse ones. Each performance's output has notes per
    bar nearer (on a log scale) to its own input's than to the other's: a bridge or model that ignores the
    played bars (no transfer, an empty or constant bar encoded) gives the same density for both."""
    keyboard = open_keyboard()
    try:
        dense = notes_per_bar_after_transfer(live_factory, recorder, keyboard, DENSE, "perf-dense")
        sparse = notes_per_bar_after_transfer(live_factory, recorder, keyboard, SPARSE, "perf-sparse")
    finally:
        keyboard.close()
    print("notes per bar after the transfer: dense", dense, "sparse", sparse)
    between = math.sqrt(len(DENSE) * len(SPARSE))  # as far (log scale) from either input's notes per bar
    assert statistics.mean(dense) > between > statistics.mean(sparse), (dense, sparse)
