"""MIDI out: one virtual port (mido over python-rtmidi), and a MIDI-file sink recording the same stream."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import mido
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.notes import TRACK_CHANNEL, TRACK_PROGRAM

CLIENT_NAME = "cdgmvae"
RTMIDI_APIS = {"jack": "UNIX_JACK", "alsa": "LINUX_ALSA", "coremidi": "MACOSX_CORE", "windows": "WINDOWS_MM"}
ALTERNATIVES = ("--midi-api jack (with a JACK server running), the name of an existing port such as a "
                "loopMIDI port (Windows), or --record FILE.mid alone to write the stream to a file")
RECORD_PPQ = 480
DRAIN_SECONDS = 0.05  # JACK sends what we wrote at its next period: let the last note-offs leave


def resolve_api(api: str) -> str:
    if api != "auto":
        return api
    if sys.platform == "darwin":
        return "coremidi"
    if sys.platform.startswith("win"):
        return "windows"
    return "alsa" if os.path.exists("/dev/snd/seq") else "jack"


def backend(api: str) -> mido.Backend:
    if api == "jack":
        os.environ.setdefault("JACK_NO_START_SERVER", "1")  # find the user's server, never start one
    return mido.Backend(f"mido.backends.rtmidi/{RTMIDI_APIS[api]}", load=True)


def open_output(name: str, api: str):
    """A virtual output port called `name`; on Windows, which has none, the existing port of that name."""
    asked, api = api, resolve_api(api)
    be = backend(api)
    try:
        if api == "windows":
            names = be.get_output_names()
            if name not in names:
                raise UserError(f"Windows has no virtual MIDI ports: create a loopMIDI port named '{name}' "
                                f"or give an existing one with --midi-port (found: {', '.join(names) or 'none'}); "
                                f"or use --record FILE.mid")
            return be.open_output(name), f"existing port '{name}'"
        port = be.open_output(name, virtual=True, client_name=CLIENT_NAME)
    except OSError as err:  # rtmidi's errors
        why = {"alsa": "the ALSA sequencer (/dev/snd/seq) is missing",
               "jack": "no JACK server is running"}.get(api, str(err))
        if asked == "auto" and api == "jack":
            why = "there is no ALSA sequencer (/dev/snd/seq) and " + why
        raise UserError(f"cannot create the virtual MIDI port '{name}' with {api}: {why} ({err}). "
                        f"Use {ALTERNATIVES}") from None
    label = f"{CLIENT_NAME}:{name}" if api == "jack" else name
    return port, f"virtual {api} port '{label}'"


class MidiFileRecorder:
    """Records messages at their beat on the session timeline, with the tempo in force."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.events: list[tuple[float, int, mido.Message]] = []  # (beat, order, message)
        self.tempo: float | None = None
        self.first_beat: float | None = None

    def add(self, msg: mido.Message, beat: float, tempo: float) -> None:
        if self.first_beat is None:
            self.first_beat = beat
        if tempo != self.tempo:
            self.tempo = tempo
            self.events.append((beat, len(self.events), mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo))))
        self.events.append((beat, len(self.events), msg))

    def save(self) -> None:
        track = mido.MidiTrack()
        last = 0
        for beat, _, msg in sorted(self.events, key=lambda e: (e[0], e[1])):
            tick = max(last, round((beat - self.first_beat) * RECORD_PPQ))
            track.append(msg.copy(time=tick - last))
            last = tick
        mid = mido.MidiFile(type=0, ticks_per_beat=RECORD_PPQ)
        mid.tracks.append(track)
        mid.save(self.path)


class MidiOut:
    """The port plus the optional recorder; knows the track channels and programs."""

    def __init__(self, port, recorder: MidiFileRecorder | None = None) -> None:
        self.port = port
        self.recorder = recorder

    def send(self, msg: mido.Message, beat: float = 0.0, tempo: float = 120.0) -> None:
        if self.port is not None:
            self.port.send(msg)
        if self.recorder is not None:
            self.recorder.add(msg, beat, tempo)

    def program_changes(self, beat: float, tempo: float) -> None:
        for channel, program in zip(TRACK_CHANNEL, TRACK_PROGRAM):
            if channel != 9:  # drums: the channel chooses the kit
                self.send(mido.Message("program_change", channel=channel, program=program), beat, tempo)

    def all_notes_off(self, beat: float, tempo: float) -> None:
        for channel in TRACK_CHANNEL:
            self.send(mido.Message("control_change", channel=channel, control=123, value=0), beat, tempo)

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.save()
        if self.port is not None:
            time.sleep(DRAIN_SECONDS)
            self.port.close()
