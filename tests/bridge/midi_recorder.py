"""A JACK MIDI recorder in a process of its own: `python midi_recorder.py PORT_NAME`.

rtmidi calls the Python callback from JACK's process thread, which must take the GIL: in a busy process
(pytest, say) that wait can outlast a JACK period, and JACK then drops the cycle's events. Here the
main thread only blocks on stdin, so the callback never waits.

Protocol on stdin/stdout: it prints "ready"; each "dump" line is answered by one JSON line
[[monotonic_seconds, [bytes...]], ...] of everything so far; "quit" or end of input ends it.
"""
from __future__ import annotations

import json
import sys
import time

import mido


def main(name: str) -> None:
    received: list = []
    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
    port = backend.open_input(name, virtual=True, client_name=f"rec-{name}",
                              callback=lambda msg: received.append((time.monotonic(), msg.bytes())))
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "dump":
            print(json.dumps(list(received)), flush=True)
        elif line.strip() == "quit":
            break
    port.close()


if __name__ == "__main__":
    main(sys.argv[1])
