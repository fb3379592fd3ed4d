"""Live transfer: what a performer plays into --midi-in comes back in the bars after /cdgmvae/transfer 1."""
from __future__ import annotations

import socket
import subprocess
import time

import mido
from live_harness import jack_port
from pythonosc.osc_message_builder import OscMessageBuilder

BPM = 240.0
SIXTEENTH = 60.0 / BPM / 4
PLAYED = (91, 94, 98)  # pitches the test clip does not have


def test_transfer_continues_from_what_the_performer_played(live_factory, recorder, test_clip):
    live = live_factory("--bpm", str(BPM), "--source", "clip", "--clip", test_clip, "--midi-in", "perf-in")
    live.connect(recorder)
    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
    keyboard = backend.open_output("keys", virtual=True, client_name="performer")
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
        builder = OscMessageBuilder("/cdgmvae/transfer")
        builder.add_arg(1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(builder.build().dgram, ("127.0.0.1", live.osc_port))
        # two bars hold all three pitches; on a loaded machine the message can land a bar late, after
        # the next bar was already asked for, so wait for five
        live.wait_for(fr"bar {seen + 5} ", timeout=15)
        assert live.interrupt() == 0
    finally:
        keyboard.close()

    piano = {m.note for _, m in recorder.final() if m.type == "note_on" and m.channel == 0}
    assert set(PLAYED) <= piano, piano
