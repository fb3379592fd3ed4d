"""`cdgmvae live`: bars on a virtual MIDI port, on the beat of Ableton Link, steered over OSC."""
from __future__ import annotations

import argparse
import csv
import logging
import os
import signal
import sys
from collections.abc import Callable
from contextlib import ExitStack

from cdgmvae.bridge.clock import InternalClock, LinkClock
from cdgmvae.bridge.generator_process import GeneratorProcess
from cdgmvae.bridge.midi_out import MidiFileRecorder, MidiOut, open_output
from cdgmvae.bridge.model_source import model_source
from cdgmvae.bridge.osc_server import LiveState, OscServer, parse_host_port, parse_networks, resolve
from cdgmvae.bridge.osc_spec import EMOTION_VA, EMOTIONS
from cdgmvae.bridge.scheduler import Scheduler, Settings
from cdgmvae.bridge.sources import LiveControls, SourceFactory, clip_source, slow_source
from cdgmvae.engine.emotion import DEFAULT_KEY_STRENGTH, MAX_KEY_STRENGTH
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.features import parse_tonic

from cdgmvae.commands.common import add_backend_argument, add_checkpoint_argument

log = logging.getLogger("cdgmvae.live")
GENERATOR_START_TIMEOUT = 300.0  # loading a model from a slow disk

# --source NAME -> its bars' picklable factory, from the options that source reads (bridge/sources.py);
# the first is the default
SOURCES: dict[str, Callable[[argparse.Namespace], SourceFactory]] = {
    "model": lambda args: model_source(str(args.checkpoint) if args.checkpoint else None, args.backend, args.seed,
                                       args.tonic_index),
    "clip": lambda args: clip_source(args.clip),
    "slow": lambda args: slow_source(args.slow_ms / 1000.0, args.clip),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("bars")
    src.add_argument("--source", choices=sorted(SOURCES), default=next(iter(SOURCES)),
                     help="where bars come from: the model, a looped MIDI clip, or 'slow' (a clip that is "
                          "deliberately late, to try the fallback) (default: %(default)s)")
    add_checkpoint_argument(src, note=" (--source model)")
    add_backend_argument(src, note=" (--source model)")
    src.add_argument("--seed", type=int, help="make the model's bars reproducible (--source model)")
    src.add_argument("--clip", metavar="FILE.mid", help="the MIDI clip to loop (--source clip/slow; "
                                                        "default: a bundled EMOPIA clip)")
    src.add_argument("--slow-ms", type=float, default=1000.0, help="time per bar of --source slow")
    src.add_argument("--emotion", choices=EMOTIONS, default="happy", help="emotion at the start")
    src.add_argument("--lambda", dest="lam", type=float, default=0.5,
                     help="transition amount at the start, 0..1 (default: %(default)s)")
    src.add_argument("--temperature", type=float, default=1.0, help="sampling temperature at the start")
    src.add_argument("--key-strength", type=float, default=DEFAULT_KEY_STRENGTH, metavar="S",
                     help=f"key guidance at the start (--source model): how hard notes keep the piece's key, "
                          f"0..{MAX_KEY_STRENGTH:g}; 0 leaves the model's own notes (default: %(default)s)")
    src.add_argument("--tonic", metavar="NOTE",
                     help="the key guidance's tonic at the start (--source model), a note name such as A or F#; "
                          "OSC /cdgmvae/tonic changes it, and a live transfer takes the tonic of what was played "
                          "(default: drawn from the seed)")
    src.add_argument("--fallback", choices=("repeat", "rest"), default="repeat",
                     help="what plays when a bar is late: the last bar again, or silence")

    midi = p.add_argument_group("MIDI")
    midi.add_argument("--midi-port", default="cdgmvae", metavar="NAME",
                      help="name of the virtual output port (default: %(default)s)")
    midi.add_argument("--midi-api", choices=("auto", "jack", "alsa", "coremidi"), default="auto",
                      help="auto: CoreMIDI on macOS; ALSA on Linux, or JACK where there is no ALSA "
                           "sequencer")
    midi.add_argument("--midi-in", metavar="NAME", help="record the performer from this port (for "
                                                        "/cdgmvae/transfer)")
    midi.add_argument("--record", metavar="FILE.mid", help="also write everything sent to a MIDI file")
    midi.add_argument("--latency-ms", type=float, default=0.0,
                      help="send events this much ahead of their beat, to make up for the latency after "
                           "the port (default: %(default)s)")

    clock = p.add_argument_group("clock")
    clock.add_argument("--bpm", type=float, default=120.0, help="tempo without Link, or the first tempo "
                                                                "of a new Link session")
    clock.add_argument("--link", action=argparse.BooleanOptionalAction, default=True,
                       help="follow the Ableton Link session (default: on)")
    clock.add_argument("--start-stop-sync", action="store_true",
                       help="with Link: start and stop with the session's transport, as Live does with Start "
                            "Stop Sync on (default: play at once, from the next bar line of the session's beat "
                            "grid; /cdgmvae/play starts and stops)")

    osc = p.add_argument_group("OSC (cdgmvae osc-spec lists the addresses)")
    osc.add_argument("--osc-host", default="127.0.0.1", help="address to listen on; :: listens on IPv6 and IPv4 "
                                                              "(default: loopback only)")
    osc.add_argument("--osc-port", type=int, default=9000)
    osc.add_argument("--osc-allow", nargs="+", default=[], metavar="ADDR",
                     help="with another --osc-host: the senders obeyed (addresses or networks; loopback "
                          "always)")
    osc.add_argument("--feedback", action="append", default=[], metavar="HOST:PORT",
                     help="send the feedback of every control, with each bar and as controls change, here "
                          "(IPv4 or IPv6; repeatable; default "
                          f"{DEFAULT_FEEDBACK}, where the Max for Live device and TouchOSC listen)")

    run_group = p.add_argument_group("runs")
    run_group.add_argument("--bars", type=int, help="stop after this many bars")
    run_group.add_argument("--event-log", metavar="FILE.csv",
                           help="write each event's scheduled and sent time (for bench/live_timing.py)")


# Max's udpsend sends from a port of its own, so /cdgmvae/hello cannot reach the device's udpreceive:
# feedback goes to the device's default port unless the user names other targets.
DEFAULT_FEEDBACK = "127.0.0.1:9001"


def check(args: argparse.Namespace) -> None:
    if not 20 <= args.bpm <= 999:
        raise UserError(f"--bpm must be between 20 and 999, not {args.bpm:g}")
    if not 0 <= args.lam <= 1:
        raise UserError(f"--lambda must be between 0 and 1, not {args.lam:g}")
    if not 0 <= args.key_strength <= MAX_KEY_STRENGTH:
        raise UserError(f"--key-strength must be between 0 and {MAX_KEY_STRENGTH:g}, not {args.key_strength:g}")
    args.tonic_index = None if args.tonic is None else parse_tonic(args.tonic)
    if not 0.1 <= args.temperature <= 2:
        raise UserError(f"--temperature must be between 0.1 and 2, not {args.temperature:g}")
    if args.start_stop_sync and not args.link:
        raise UserError("--start-stop-sync follows a Link session's transport: it needs --link")
    if args.bars is not None and args.bars < 1:
        raise UserError("--bars must be at least 1")
    args.feedback = args.feedback or [DEFAULT_FEEDBACK]
    for target in args.feedback:
        resolve(*parse_host_port(target))  # before any port opens: a target that cannot be, in one line
    parse_networks(args.osc_allow)


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(message)s", "%H:%M:%S"))
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


def raise_priority() -> str:
    """The sender process only waits and sends: let it preempt everything else where the OS allows
    (a low realtime priority, below JACK's), else a higher nice level."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(5))
        return "realtime (SCHED_FIFO 5)"
    except (OSError, AttributeError):
        pass
    try:
        os.nice(-10)
        return "nice -10"
    except (OSError, AttributeError):
        return "normal (not allowed to raise it)"


def run(args: argparse.Namespace) -> int:
    check(args)
    setup_logging()
    factory = SOURCES[args.source](args)
    valence, arousal = EMOTION_VA[args.emotion]
    state = LiveState(LiveControls(valence=valence, arousal=arousal, lam=args.lam, temperature=args.temperature,
                                   key_strength=args.key_strength))
    with ExitStack() as stack:
        try:
            port, port_label = open_output(args.midi_port, args.midi_api)
        except UserError as err:
            if not args.record:
                raise
            port, port_label = None, f"none, recording to {args.record} only ({err})"
        recorder = MidiFileRecorder(args.record) if args.record else None
        out = MidiOut(port, recorder)
        stack.callback(out.close)

        generator = GeneratorProcess(factory)
        stack.callback(generator.close)
        priority = raise_priority()
        osc = OscServer(args.osc_host, args.osc_port, args.osc_allow, args.feedback, state)
        stack.callback(osc.close)
        generator.wait_ready(GENERATOR_START_TIMEOUT)

        clock = LinkClock(args.bpm, args.start_stop_sync) if args.link else InternalClock(args.bpm)
        stack.callback(clock.close)
        midi_in = None
        if args.midi_in:
            from cdgmvae.bridge.midi_in import MidiIn
            midi_in = MidiIn(args.midi_in, args.midi_api, clock)
            stack.callback(midi_in.close)

        event_log = [] if args.event_log else None
        scheduler = Scheduler(clock, out, generator, state, osc, midi_in,
                              Settings(latency=args.latency_ms / 1000.0, fallback=args.fallback,
                                       max_bars=args.bars), event_log)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: scheduler.stop.set())
        osc.start()
        print_banner(args, port_label, osc, clock, midi_in, priority)
        scheduler.run()
        log.info(f"stopped after {scheduler.bars_played} bars, {scheduler.missed} missed, "
                 f"{state.ignored} OSC messages ignored")
        if event_log is not None:
            write_event_log(args.event_log, event_log)
    return 0


def print_banner(args, port_label: str, osc: OscServer, clock, midi_in, priority: str) -> None:
    host, port = osc.address
    lines = [
        "cdgmvae live",
        f"  MIDI out  {port_label}: channels Piano 1, Guitar 2, Bass 3, Strings 4, Drums 10",
        "            in Ableton Live: Preferences > Link/Tempo/MIDI, turn Track on for this input; set a "
        "MIDI track's input to it" + (" (JACK: jack_connect it to your synth or patchbay)"
                                       if args.midi_api == "jack" or "jack" in port_label else ""),
        f"  clock     {clock.describe()}" + ("; turn Link on in Live to follow its tempo" if args.link else ""),
        f"  OSC in    {host}:{port} (cdgmvae osc-spec lists the addresses; /cdgmvae/hello registers for "
        f"feedback)" + ("" if osc.allow is None else f"; obeying only {', '.join(map(str, osc.allow))}"),
        f"  feedback  {', '.join(args.feedback) or 'to senders of /cdgmvae/hello'}",
        f"  source    {args.source}" + (f" ({args.clip})" if args.clip else "")
        + f"; generator in its own process, sender priority {priority}",
    ]
    if midi_in is not None:
        lines.append(f"  MIDI in   {midi_in.label}: play into it, then send /cdgmvae/transfer 1")
    if args.record:
        lines.append(f"  record    {args.record}")
    lines.append("Ctrl-C stops (all notes off).")
    print("\n".join(lines), flush=True)


def write_event_log(path: str, events: list) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["scheduled_monotonic", "sent_monotonic", "bytes"])
        for scheduled, sent, data in events:
            writer.writerow([f"{scheduled:.6f}", f"{sent:.6f}", " ".join(f"{b:02x}" for b in data)])
