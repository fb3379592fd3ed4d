"""The live player merges what MIDI cannot hold (issue 15, item 7): a hand-made bar that strikes keys twice,
played by the bridge's scheduler (generator process, player, MIDI out) to a real JACK port and judged by
what arrives there (tests/midi_check.py)."""
from __future__ import annotations

import functools
from collections import Counter

from bar_sources import RepeatBar
from cdgmvae.bridge.clock import InternalClock
from cdgmvae.bridge.generator_process import GeneratorProcess
from cdgmvae.bridge.midi_out import MidiOut, open_output
from cdgmvae.bridge.osc_server import LiveState
from cdgmvae.bridge.scheduler import Scheduler, Settings
from cdgmvae.bridge.sources import LiveControls
from cdgmvae.engine import vocab as V
from cdgmvae.engine.notes import GridNote
from live_harness import jack_port

from tests.midi_check import CHANNEL, play

BPM = 240.0
SIXTEENTH = 60.0 / BPM / 4
BARS = 4
# Piano 60 struck twice at once: one note, the longer. Piano 64 struck again while it sounds: the first
# ends there, and its note-off (at 8) must not end the second (at 12). Bass 40's long note runs into the
# next bar, which strikes it at 2: it ends there.
BAR = [
    GridNote(V.PIANO, 60, 100, 0, 8), GridNote(V.PIANO, 60, 70, 0, 4),
    GridNote(V.PIANO, 64, 100, 0, 8), GridNote(V.PIANO, 64, 90, 4, 8),
    GridNote(V.BASS, 40, 100, 2, 2), GridNote(V.BASS, 40, 100, 8, 16),
]


def test_a_bar_that_strikes_keys_twice_arrives_as_clean_notes(jack_server, recorder, request):
    name = f"merge-{abs(hash(request.node.name)) % 10**6}"
    port, _ = open_output(name, "jack")
    out = MidiOut(port)
    generator = GeneratorProcess(functools.partial(RepeatBar, BAR))
    try:
        generator.wait_ready(30)
        recorder.connect_from(jack_port(name))
        scheduler = Scheduler(InternalClock(BPM), out, generator, LiveState(LiveControls()),
                              settings=Settings(max_bars=BARS))
        scheduler.run()
    finally:
        generator.close()
        out.close()
    arrived = recorder.final()
    notes, faults = play(arrived, flam=SIXTEENTH / 4)
    assert faults == {}, faults

    lengths: dict[tuple[int, int], list[int]] = {}
    for note in notes:
        lengths.setdefault((note.channel, note.pitch), []).append(round((note.end - note.start) / SIXTEENTH))
    piano, bass = CHANNEL["Piano"], CHANNEL["Bass"]
    assert len(lengths[(piano, 60)]) == BARS  # one note-on a bar
    # the last note of each key may be cut short when the run stops
    expected = {(piano, 60): [8], (piano, 64): [4, 8], (bass, 40): [2, 10]}
    heard = {key: Counter(values[:-1]) for key, values in lengths.items()}
    assert {key: sorted(count) for key, count in heard.items()} == expected, lengths
    assert heard[(bass, 40)][10] == BARS - 1  # every long bass note ends where the next bar strikes it
