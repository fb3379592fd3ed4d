"""OSC in and feedback out. Every datagram is parsed and checked here, against the OSC 1.0 specification
(https://opensoundcontrol.stanford.edu/spec-1_0.html) and the table in bridge/osc_spec.py, before it
touches state.

A plain UDP socket and a strict parser of our own: python-osc's parser is lenient where a live rig must
not be (it pads a missing float with zeros, so a truncated `/cdgmvae/lambda ,f` would set λ to 0), and
its dispatcher neither holds bundles until their time tag nor matches OSC 1.0 patterns. Every bad packet,
whatever is wrong with it, is seen, counted and ignored here. python-osc builds the feedback messages.
"""
from __future__ import annotations

import datetime
import heapq
import ipaddress
import itertools
import logging
import math
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from cdgmvae.bridge.osc_spec import BY_ADDRESS, CONTROLS, EMOTION_VA, OscMessage, feedback_name
from cdgmvae.bridge.sources import LiveControls
from cdgmvae.engine.errors import UserError
from pythonosc.osc_message_builder import OscMessageBuilder

MAX_PACKET = 1024          # the longest valid message is under 100 bytes; a bundle holds a few
MAX_HELLO_TARGETS = 16
MAX_HELD = 64              # bundles waiting for their time tag; more are refused
MAX_BUNDLE_DEPTH = 8
NTP_UNIX_OFFSET = 2208988800  # seconds from 1900-01-01 (OSC time tags, as NTP) to 1970-01-01 (Unix time)
IMMEDIATELY = 1               # the time tag that means "now" (OSC 1.0)
POLL = 0.2                    # the server thread wakes at least this often (to stop, and to apply held bundles)
LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))
RECEIVABLE = tuple(m for m in CONTROLS if m.direction == "in")

log = logging.getLogger("cdgmvae.live")


class Invalid(ValueError):
    pass


# -- the OSC 1.0 wire format -------------------------------------------------------------------------

FIXED = {"i": ">i", "f": ">f", "h": ">q", "d": ">d", "t": ">Q", "c": ">I", "r": ">I", "m": ">4s"}
EMPTY = {"T": True, "F": False, "N": None, "I": math.inf}


def read_string(data: bytes, pos: int, what: str) -> tuple[str, int]:
    """An OSC-string at `pos`: text, a zero, zeros up to a multiple of 4 bytes. Returns it and its end."""
    end = data.find(b"\0", pos)
    if end < 0:
        raise Invalid(f"not OSC: the {what} has no terminating zero (truncated?)")
    padded = (end + 4) & ~3
    if padded > len(data):
        raise Invalid(f"not OSC: the {what} is not padded to 4 bytes (truncated?)")
    if data[end:padded].strip(b"\0"):
        raise Invalid(f"not OSC: the {what} is padded with something other than zeros")
    try:
        return data[pos:end].decode("utf-8"), padded
    except UnicodeDecodeError:
        raise Invalid(f"not OSC: the {what} is not text") from None


def read_arguments(data: bytes, pos: int, tags: str, address: str) -> tuple[list, int]:
    """The arguments that the type tags (without their comma) promise. Raises Invalid when the data is
    shorter than they say, or a tag is unknown. Arrays ([ ]) come back as lists. Returns them and the
    position after them."""
    def short() -> Invalid:
        return Invalid(f"{address[:60]}: its type tags ,{tags[:20]} need more data than the message holds "
                       f"(truncated)")

    args: list = []
    stack: list[list] = []
    for tag in tags:
        if tag in FIXED:
            size = struct.calcsize(FIXED[tag])
            if pos + size > len(data):
                raise short()
            value = struct.unpack_from(FIXED[tag], data, pos)[0]
            args.append(chr(value) if tag == "c" and value < 0x110000 else value)
            pos += size
        elif tag in "sS":
            if pos >= len(data):
                raise short()
            value, pos = read_string(data, pos, f"string argument of {address[:60]}")
            args.append(value)
        elif tag == "b":
            if pos + 4 > len(data):
                raise short()
            size = struct.unpack_from(">i", data, pos)[0]
            end = pos + 4 + size
            if size < 0 or (end + 3) & ~3 > len(data):
                raise short()
            args.append(bytes(data[pos + 4:end]))
            pos = (end + 3) & ~3
        elif tag in EMPTY:
            args.append(EMPTY[tag])
        elif tag == "[":
            stack.append(args)
            args = []
        elif tag == "]" and stack:
            inner, args = args, stack.pop()
            args.append(inner)
        else:
            raise Invalid(f"{address[:60]}: unknown type tag {tag!r}")
    if stack:
        raise Invalid(f"{address[:60]}: an array ([) in its type tags is not closed")
    return args, pos


def parse_message(data: bytes) -> tuple[str, list]:
    """(address pattern, arguments) of one OSC message, or Invalid when anything in it is malformed,
    including data shorter or longer than its type tags say."""
    address, pos = read_string(data, 0, "address")
    if not address.startswith("/"):
        raise Invalid(f"not OSC: the address {address[:60]!r} does not start with '/'")
    if pos == len(data):
        return address, []  # no type tag string: OSC 1.0 asks to accept this from older senders
    tags, pos = read_string(data, pos, f"type tags of {address[:60]}")
    if not tags.startswith(","):
        raise Invalid(f"{address[:60]}: no type tag string (it must start with ',')")
    args, pos = read_arguments(data, pos, tags[1:], address)
    if pos != len(data):
        raise Invalid(f"{address[:60]}: {len(data) - pos} bytes beyond what its type tags {tags[:20]} hold")
    return address, args


def split_packet(data: bytes, enclosing: int = IMMEDIATELY, depth: int = 0) -> list[tuple[int, list[bytes]]]:
    """The messages of an OSC packet, grouped by bundle: [(time tag, [message bytes, ...]), ...], in order.
    A message on its own comes back with time tag 1 (immediately). Raises Invalid when the packet's
    framing is broken (sizes that do not add up, a length that is not a multiple of 4)."""
    if len(data) % 4:
        raise Invalid(f"not OSC: a packet of {len(data)} bytes (OSC packets are a multiple of 4)")
    if not data.startswith(b"#bundle\0"):
        if not data.startswith(b"/"):
            raise Invalid("not OSC: neither a message (starts with '/') nor a bundle")
        return [(enclosing, [data])]
    if depth >= MAX_BUNDLE_DEPTH:
        raise Invalid(f"bundles nested more than {MAX_BUNDLE_DEPTH} deep")
    if len(data) < 16:
        raise Invalid("not OSC: a bundle without its time tag")
    # A bundle inside another may not come earlier than it (OSC 1.0); where it would, it comes with it.
    (tag,) = struct.unpack_from(">Q", data, 8)
    tag = max(tag, enclosing)
    own: list[bytes] = []
    groups = [(tag, own)]
    pos = 16
    while pos < len(data):
        if pos + 4 > len(data):
            raise Invalid("not OSC: a bundle element without its size")
        (size,) = struct.unpack_from(">i", data, pos)
        if size <= 0 or size % 4 or pos + 4 + size > len(data):
            raise Invalid(f"not OSC: a bundle element of size {size} in {len(data) - pos - 4} remaining bytes")
        element = data[pos + 4:pos + 4 + size]
        if element.startswith(b"#bundle\0"):
            groups.extend(split_packet(element, tag, depth + 1))
        else:
            own.append(element)
        pos += 4 + size
    return [group for group in groups if group[1]]


def time_tag_seconds(tag: int) -> float:
    """An OSC time tag (64-bit NTP: seconds since 1900 and a binary fraction) as Unix time in seconds."""
    return (tag >> 32) - NTP_UNIX_OFFSET + (tag & 0xFFFFFFFF) / 2**32


# -- address patterns (OSC 1.0) ----------------------------------------------------------------------

STAR, ONE = "*", "?"
SPECIAL = set("*?[]{}")


def compile_part(part: str) -> list:
    """One part (between slashes) of an address pattern as a list of tokens: a character, STAR, ONE,
    ("set", ranges, negated) for [...] and ("alt", options) for {a,b}."""
    tokens: list = []
    i = 0
    while i < len(part):
        c = part[i]
        if c == "*":
            if not tokens or tokens[-1] is not STAR:  # ** is *: keeps matching linear
                tokens.append(STAR)
        elif c == "?":
            tokens.append(ONE)
        elif c == "[":
            end = part.find("]", i + 1)
            if end < 0:
                raise Invalid(f"address pattern {part[:60]!r}: '[' is not closed")
            body = part[i + 1:end]
            negated = body.startswith("!")
            body = body[1:] if negated else body
            ranges, j = [], 0
            while j < len(body):
                if j + 2 < len(body) and body[j + 1] == "-":  # a '-' at either end is itself
                    ranges.append((min(body[j], body[j + 2]), max(body[j], body[j + 2])))
                    j += 3
                else:
                    ranges.append((body[j], body[j]))
                    j += 1
            tokens.append(("set", tuple(ranges), negated))
            i = end
        elif c == "{":
            end = part.find("}", i + 1)
            if end < 0:
                raise Invalid(f"address pattern {part[:60]!r}: '{{' is not closed")
            tokens.append(("alt", tuple(part[i + 1:end].split(","))))
            i = end
        else:
            tokens.append(c)
        i += 1
    return tokens


def match_part(tokens: list, name: str) -> bool:
    """Whether one part of an address matches a compiled part of a pattern. Runs over the set of
    positions reachable so far, so that no pattern can take more than len(tokens) * len(name) steps."""
    positions = {0}
    for token in tokens:
        after: set[int] = set()
        if token is STAR:
            after = set(range(min(positions), len(name) + 1))
        elif isinstance(token, tuple) and token[0] == "alt":
            after = {p + len(o) for p in positions for o in token[1] if name.startswith(o, p)}
        else:
            for p in positions:
                if p >= len(name):
                    continue
                c = name[p]
                if token is ONE or token == c or (isinstance(token, tuple)
                                                   and any(lo <= c <= hi for lo, hi in token[1]) != token[2]):
                    after.add(p + 1)
        positions = after
        if not positions:
            return False
    return len(name) in positions


def matching(pattern: str) -> list[OscMessage]:
    """The controls an address pattern names, in table order (OSC 1.0: a pattern matches an address with
    as many parts, each part matching). Raises Invalid when it names none."""
    spec = BY_ADDRESS.get(pattern)
    if not SPECIAL.intersection(pattern):
        if spec is None or spec.direction != "in":
            raise Invalid(f"unknown address {pattern[:60]!r}")
        return [spec]
    parts = [compile_part(part) for part in pattern.split("/")]
    found = [m for m in RECEIVABLE if len(names := m.address.split("/")) == len(parts)
             and all(match_part(tokens, name) for tokens, name in zip(parts, names))]
    if not found:
        raise Invalid(f"unknown address: the pattern {pattern[:60]!r} matches no control")
    return found


# -- arguments ---------------------------------------------------------------------------------------

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


def check_arguments(spec: OscMessage, params: list) -> list:
    if len(params) != len(spec.types):
        raise Invalid(f"{spec.address} takes {len(spec.types)} argument(s) ({spec.types or 'none'}), "
                      f"got {len(params)}")
    return [check_value(spec, kind, value) for kind, value in zip(spec.types, params)]


def validate(address: str, params: list) -> tuple[OscMessage, list]:
    """The table entry and the checked arguments of an incoming message to one address, or Invalid."""
    spec = BY_ADDRESS.get(address)
    if spec is None or spec.direction != "in":
        raise Invalid(f"unknown address {address[:60]!r}")
    return spec, check_arguments(spec, params)


class RateLimited:
    """At most one line a second; says how many it swallowed."""

    def __init__(self, prefix: str = "OSC: ignored: ", level: int = logging.WARNING, interval: float = 1.0) -> None:
        self.prefix, self.level = prefix, level
        self.interval, self.next_time, self.suppressed = interval, 0.0, 0

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        if now < self.next_time:
            self.suppressed += 1
            return
        more = f" (and {self.suppressed} more before this)" if self.suppressed else ""
        log.log(self.level, f"{self.prefix}{text}{more}")
        self.suppressed, self.next_time = 0, now + self.interval


def in_force(controls: LiveControls) -> dict[str, object]:
    """The feedback values that show a control as it is now (osc_spec's module docstring): sent as soon
    as a control changes them, and with each bar."""
    return {"lambda": float(controls.lam), "temperature": float(controls.temperature),
            "key_strength": float(controls.key_strength), "transfer": int(controls.transfer)}


@dataclass
class LiveState:
    """What OSC changes and the scheduler reads. One lock; the scheduler takes snapshots."""
    controls: LiveControls
    lock: threading.Lock = field(default_factory=threading.Lock)
    play_request: bool | None = None
    panic: bool = False
    ignored: int = 0

    def apply(self, spec: OscMessage, args: list) -> dict[str, object]:
        return self.apply_all([(spec, args)])

    def apply_all(self, deliveries: list[tuple[OscMessage, list]]) -> dict[str, object]:
        """Apply checked messages together (a bundle is atomic, OSC 1.0). Returns the feedback to send
        now: the values in force of the controls that were set."""
        with self.lock:
            for spec, args in deliveries:
                self._apply(spec, args)
            now = in_force(self.controls)
        names = {feedback_name(spec.feedback) for spec, _ in deliveries if spec.feedback}
        return {name: value for name, value in now.items() if name in names}

    def _apply(self, spec: OscMessage, args: list) -> None:
        name = spec.address.rsplit("/", 1)[1]
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

    def take(self) -> tuple[LiveControls, bool | None, bool]:
        with self.lock:
            out = (self.controls, self.play_request, self.panic)
            self.play_request, self.panic = None, False
            return out


# -- addresses ---------------------------------------------------------------------------------------

def unmapped(addr):
    """An IPv4-mapped IPv6 address (::ffff:a.b.c.d, how a dual-stack socket sees IPv4 senders) as IPv4."""
    return addr.ipv4_mapped if addr.version == 6 and addr.ipv4_mapped is not None else addr


def parse_networks(addresses: list[str]) -> list:
    nets = []
    for text in addresses:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise UserError(f"--osc-allow takes IP addresses or networks (like 192.168.1.20 or "
                            f"192.168.1.0/24), not {text!r}") from None
        if net.version == 6 and net.prefixlen >= 96 and net.network_address.ipv4_mapped is not None:
            net = ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/{net.prefixlen - 96}")
        nets.append(net)
    return nets


def parse_host_port(text: str) -> tuple[str, int]:
    """HOST:PORT, where HOST may be a name, an IPv4 address, or an IPv6 address (bare or in brackets)."""
    host, _, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--feedback takes HOST:PORT, like 127.0.0.1:9001, not {text!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1")


def resolve(host: str, port: int, family: int = socket.AF_INET) -> tuple[int, tuple]:
    """(family, socket address) of a feedback target, preferring the listening socket's family. Raises
    UserError for a name that does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as err:
        raise UserError(f"--feedback {host}:{port}: cannot resolve {host!r} ({err.strerror})") from None
    infos.sort(key=lambda info: info[0] != family)
    return infos[0][0], infos[0][4]


@dataclass(order=True)
class Held:
    due: float                                   # time.monotonic() at which to apply it
    order: int                                   # arrival, for equal time tags
    tag: int = field(compare=False)
    deliveries: list = field(compare=False)
    sender: tuple = field(compare=False)


class OscServer:
    """Receives on a thread; `feedback()` sends from the same socket (so replies come from our port).

    Listening on an IPv6 address (`::`) is dual-stack where the OS allows: IPv4 senders arrive as
    ::ffff:a.b.c.d and are treated as the IPv4 addresses they are; feedback to IPv4 targets goes out
    as such. A target the socket cannot reach goes through a second socket of the other family."""

    def __init__(self, host: str, port: int, allow: list[str], feedback: list[str], state: LiveState) -> None:
        self.state = state
        self.allow = None if is_loopback(host) else parse_networks(allow) + list(LOOPBACK)
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.hello_targets: list[tuple[str, int]] = []
        self.last: dict[str, object] = in_force(state.controls)  # the latest value of each feedback message
        self.warn = RateLimited()
        self.note = RateLimited("OSC: ", logging.INFO)
        self.held: list[Held] = []
        self.arrivals = itertools.count()
        self.failed: set = set()  # feedback targets whose failure was logged
        # held while feedback is sent, and while a bar's feedback reads the controls: a value read before a
        # change must not go out after the change's confirmation (which is sent after the change is applied)
        self.feedback_lock = threading.Lock()
        self.sock = socket.socket(self.family, socket.SOCK_DGRAM)
        self.dual_stack = False
        self.other: socket.socket | None = None  # for targets of the other address family
        if self.family == socket.AF_INET6:
            try:
                self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                self.dual_stack = True
            except (OSError, AttributeError):
                pass  # IPv6 only: IPv4 feedback targets get the second socket
        try:
            self.sock.bind((host, port))
        except OSError as err:
            self.sock.close()
            raise UserError(f"cannot listen for OSC on {host}:{port}: {err.strerror}; "
                            f"choose another --osc-port or --osc-host") from None
        self.address = self.sock.getsockname()[:2]
        try:
            self.targets = [self.route(*parse_host_port(f)) for f in feedback]
        except UserError:
            self.sock.close()
            raise
        self.running = True
        self.thread = threading.Thread(target=self.serve, name="cdgmvae-osc", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def allowed(self, ip: str) -> bool:
        try:
            addr = unmapped(ipaddress.ip_address(ip.split("%")[0]))
        except ValueError:
            return False
        if self.allow is None:
            return True
        return any(addr.version == net.version and addr in net for net in self.allow)

    # -- receiving -------------------------------------------------------------------------------

    def serve(self) -> None:
        while self.running:
            self.release_due()
            wait = POLL if not self.held else min(POLL, max(self.held[0].due - time.monotonic(), 0.0005))
            try:
                self.sock.settimeout(wait)
                data, sender = self.sock.recvfrom(65536)
            except TimeoutError:  # the socket's timeout: time to look at held bundles
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
            groups = split_packet(data)
        except Invalid as err:
            return self.reject(str(err))
        for tag, messages in groups:
            deliveries = []
            for message in messages:
                try:
                    address, params = parse_message(message)
                    specs = matching(address)
                except Invalid as err:
                    self.reject(str(err))
                    continue
                for spec in specs:  # each control a pattern names gets the message (OSC 1.0)
                    try:
                        deliveries.append((spec, check_arguments(spec, params)))
                    except Invalid as err:
                        self.reject(str(err))
            if deliveries:
                self.schedule(tag, deliveries, sender[:2])

    def schedule(self, tag: int, deliveries: list, sender: tuple) -> None:
        """Apply now, or hold a bundle whose time tag is in the future until then (OSC 1.0; the sender's
        clock is taken to agree with ours, as the spec assumes). Held bundles apply in time-tag order."""
        ahead = 0.0 if tag == IMMEDIATELY else time_tag_seconds(tag) - time.time()
        if ahead <= 0:
            return self.dispatch(deliveries, sender)
        if len(self.held) >= MAX_HELD:
            return self.reject(f"bundle for {self.when(tag)}: {MAX_HELD} bundles are already held")
        heapq.heappush(self.held, Held(time.monotonic() + ahead, next(self.arrivals), tag, deliveries, sender))
        self.note(f"bundle held until {self.when(tag)} (in {ahead:.3f} s): "
                  f"{', '.join(spec.address for spec, _ in deliveries)}")

    @staticmethod
    def when(tag: int) -> str:
        moment = datetime.datetime.fromtimestamp(time_tag_seconds(tag), datetime.timezone.utc)
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"

    def release_due(self) -> None:
        now = time.monotonic()
        while self.held and self.held[0].due <= now:
            held = heapq.heappop(self.held)
            self.dispatch(held.deliveries, held.sender)

    def dispatch(self, deliveries: list, sender: tuple) -> None:
        hello = [d for d in deliveries if d[0].address.endswith("/hello")]
        changed = self.state.apply_all([d for d in deliveries if not d[0].address.endswith("/hello")])
        if changed:
            self.feedback(changed)  # a surface sees at once that the bridge took its value
        if hello:
            self.add_hello(sender)

    # -- feedback --------------------------------------------------------------------------------

    def route(self, host: str, port: int) -> tuple[str, tuple]:
        """(label, socket address) of a feedback target: the label for messages, the address for sendto
        from our socket or, for the other address family, the second socket."""
        family, address = resolve(host, port, self.family)
        if family == socket.AF_INET and self.family == socket.AF_INET6 and self.dual_stack:
            family, address = socket.AF_INET6, (f"::ffff:{address[0]}", address[1], 0, 0)
        return f"{host}:{port}", (family, address)

    def add_hello(self, sender: tuple) -> None:
        target = (f"{sender[0]}:{sender[1]}", (self.family, sender))
        if target not in self.hello_targets:
            self.hello_targets = (self.hello_targets + [target])[-MAX_HELLO_TARGETS:]
            log.info(f"OSC: feedback now also goes to {target[0]}")
        with self.feedback_lock:
            self.send(dict(self.last), [target])  # the controller shows the state at once

    def feedback(self, values: dict[str, object], controls_in_force: bool = False) -> None:
        """Send /cdgmvae/fb/<name> value for each item to every feedback target. controls_in_force: add
        the values in force of every control (`in_force`), read under the lock that feedback is sent
        under, so that feedback goes out in the order the values were taken."""
        with self.feedback_lock:
            if controls_in_force:
                values = {**values, **in_force(self.state.controls)}
            self.last.update(values)
            self.send(values, self.targets + self.hello_targets)

    def send(self, values: dict[str, object], targets: list[tuple[str, tuple]]) -> None:
        packets = []
        for name, value in values.items():
            builder = OscMessageBuilder(f"/cdgmvae/fb/{name}")
            builder.add_arg(value)
            packets.append(builder.build().dgram)
        for label, (family, address) in targets:
            try:
                sock = self.sock if family == self.family else self.other_socket(family)
                for packet in packets:
                    sock.sendto(packet, address)
            except OSError as err:
                # a controller that went away must not stop the music, but the user hears of it once
                if label not in self.failed:
                    self.failed.add(label)
                    log.warning(f"OSC: feedback to {label} cannot be sent: {err.strerror or err} (said once; "
                                f"it goes on being tried)")

    def other_socket(self, family: int) -> socket.socket:
        if self.other is None:
            self.other = socket.socket(family, socket.SOCK_DGRAM)
        return self.other

    def close(self) -> None:
        self.running = False
        if self.thread.is_alive():  # close() also runs when start-up failed before start()
            self.thread.join(timeout=1)
        if self.held:
            log.info(f"OSC: {len(self.held)} bundle(s) held for a later time were not applied")
        self.sock.close()
        if self.other is not None:
            self.other.close()
