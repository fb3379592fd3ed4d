"""OSC in and feedback out. Every message is checked against bridge/osc_spec.py before it touches state.

A plain UDP socket and python-osc's parser (not its dispatcher), so that every bad packet, whatever is
wrong with it, is seen, counted and ignored here.
"""
from __future__ import annotations

import ipaddress
import logging
import math
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from cdgmvae.bridge.osc_spec import BY_ADDRESS, EMOTION_VA, OscMessage
from cdgmvae.bridge.sources import LiveControls
from cdgmvae.engine.errors import UserError

MAX_PACKET = 1024          # the longest valid message is under 100 bytes
MAX_HELLO_TARGETS = 16
LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))

log = logging.getLogger("cdgmvae.live")


class Invalid(ValueError):
    pass


def check_value(spec: OscMessage, kind: str, value):
    if kind == "s":
        if not isinstance(value, str) or value.lower() not in spec.choices:
            raise Invalid(f"{spec.address} takes one of {'|'.join(spec.choices)}, got {value!r}")
        return value.lower()
    if isinstance(value, bool) and kind == "i":
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(f"{spec.address} takes a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise Invalid(f"{spec.address}: {value} is not a finite number")
    if kind == "i":
        if value != int(value):
            raise Invalid(f"{spec.address} takes a whole number, got {value}")
        value = int(value)
    else:
        value = float(value)
    if spec.low is not None and not spec.low <= value <= spec.high:
        raise Invalid(f"{spec.address}: {value} is outside {spec.low:g}..{spec.high:g}")
    return value


def validate(address: str, params: list) -> tuple[OscMessage, list]:
    """The table entry and the checked arguments of an incoming message, or Invalid."""
    spec = BY_ADDRESS.get(address)
    if spec is None or spec.direction != "in":
        raise Invalid(f"unknown address {address[:60]!r}")
    if len(params) != len(spec.types):
        raise Invalid(f"{address} takes {len(spec.types)} argument(s) ({spec.types or 'none'}), got {len(params)}")
    return spec, [check_value(spec, kind, value) for kind, value in zip(spec.types, params)]


class RateLimited:
    """At most one warning a second; says how many it swallowed."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval, self.next_time, self.suppressed = interval, 0.0, 0

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        if now < self.next_time:
            self.suppressed += 1
            return
        more = f" (and {self.suppressed} more ignored before this)" if self.suppressed else ""
        log.warning(f"OSC: ignored: {text}{more}")
        self.suppressed, self.next_time = 0, now + self.interval


@dataclass
class LiveState:
    """What OSC changes and the scheduler reads. One lock; the scheduler takes snapshots."""
    controls: LiveControls
    lock: threading.Lock = field(default_factory=threading.Lock)
    play_request: Optional[bool] = None
    panic: bool = False
    ignored: int = 0

    def apply(self, spec: OscMessage, args: list) -> None:
        name = spec.address.rsplit("/", 1)[1]
        with self.lock:
            c = self.controls
            if name in ("valence", "arousal", "temperature", "key_strength", "tonic"):
                self.controls = c.with_(**{name: args[0]})
            elif name == "lambda":
                self.controls = c.with_(lam=args[0])
            elif name == "emotion":
                valence, arousal = EMOTION_VA[args[0]]
                self.controls = c.with_(valence=valence, arousal=arousal)
            elif name == "transfer":
                # a transfer takes the tonic of what was played, in place of one chosen before it
                self.controls = c.with_(transfer=bool(args[0]), tonic=None if args[0] else c.tonic)
            elif name == "play":
                self.play_request = bool(args[0])
            elif name == "panic":
                self.panic = True

    def take(self) -> tuple[LiveControls, Optional[bool], bool]:
        with self.lock:
            out = (self.controls, self.play_request, self.panic)
            self.play_request, self.panic = None, False
            return out


def parse_networks(addresses: list[str]) -> list:
    nets = []
    for text in addresses:
        try:
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise UserError(f"--osc-allow takes IP addresses or networks (like 192.168.1.20 or "
                            f"192.168.1.0/24), not {text!r}")
    return nets


def parse_host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--feedback takes HOST:PORT, like 127.0.0.1:9001, not {text!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1")


class OscServer:
    """Receives on a thread; `feedback()` sends from the same socket (so replies come from our port)."""

    def __init__(self, host: str, port: int, allow: list[str], feedback: list[str], state: LiveState) -> None:
        self.state = state
        self.allow = None if is_loopback(host) else parse_networks(allow) + list(LOOPBACK)
        self.targets = [parse_host_port(f) for f in feedback]
        self.hello_targets: list[tuple[str, int]] = []
        self.last: dict[str, object] = {}  # the latest value of each feedback message
        self.warn = RateLimited()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError as err:
            raise UserError(f"cannot listen for OSC on {host}:{port}: {err.strerror}; "
                            f"choose another --osc-port or --osc-host")
        self.address = self.sock.getsockname()[:2]
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self.serve, name="cdgmvae-osc", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def allowed(self, ip: str) -> bool:
        if self.allow is None:
            return True
        try:
            addr = ipaddress.ip_address(ip.split("%")[0])
        except ValueError:
            return False
        return any(addr.version == net.version and addr in net for net in self.allow)

    def serve(self) -> None:
        while self.running:
            try:
                data, sender = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                if self.running:
                    continue
                return
            try:
                self.handle(data, sender)
            except Exception as err:  # whatever a packet holds, the server keeps serving
                self.reject(f"{type(err).__name__}: {err}")

    def reject(self, why: str) -> None:
        self.state.ignored += 1
        self.warn(why)

    def handle(self, data: bytes, sender) -> None:
        if not self.allowed(sender[0]):
            return self.reject(f"sender {sender[0]} is not in --osc-allow")
        if len(data) > MAX_PACKET:
            return self.reject(f"packet of {len(data)} bytes (the limit is {MAX_PACKET})")
        try:
            messages = [timed.message for timed in OscPacket(data).messages]
        except Exception as err:  # python-osc raises ParseError, and others on some garbage
            return self.reject(f"not OSC ({type(err).__name__})")
        for msg in messages:
            try:
                spec, args = validate(msg.address, list(msg.params))
            except Invalid as err:
                self.reject(str(err))
                continue
            if spec.address.endswith("/hello"):
                self.add_hello(sender[:2])
            else:
                self.state.apply(spec, args)

    def add_hello(self, target: tuple[str, int]) -> None:
        if target not in self.hello_targets:
            self.hello_targets = (self.hello_targets + [target])[-MAX_HELLO_TARGETS:]
            log.info(f"OSC: feedback now also goes to {target[0]}:{target[1]}")
        self.send(dict(self.last), [target])  # the controller shows the state at once

    def feedback(self, values: dict[str, object]) -> None:
        """Send /cdgmvae/fb/<name> value for each item to every feedback target."""
        self.last.update(values)
        self.send(values, self.targets + self.hello_targets)

    def send(self, values: dict[str, object], targets: list[tuple[str, int]]) -> None:
        packets = []
        for name, value in values.items():
            builder = OscMessageBuilder(f"/cdgmvae/fb/{name}")
            builder.add_arg(value)
            packets.append(builder.build().dgram)
        for target in targets:
            for packet in packets:
                try:
                    self.sock.sendto(packet, target)
                except OSError:
                    pass  # a controller that went away must not stop the music

    def close(self) -> None:
        self.running = False
        if self.thread.is_alive():  # close() also runs when start-up failed before start()
            self.thread.join(timeout=1)
        self.sock.close()
