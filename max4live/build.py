"""Build max4live/cdgmvae.amxd, the file Live loads, from max4live/cdgmvae.maxpat.

`python -m cdgmvae.max4live.build` writes the .amxd; `--check` exits 1 when the committed .amxd is not
what the .maxpat builds. `--out DIR` writes elsewhere (the tests build into a temporary folder).

The .amxd container is a flat list of chunks, each a 4-byte tag, a little-endian uint32 length
and that many bytes (as Ableton's maxdevtools, maxdiff/amxd_textconv.py, reads them):
  ampf  4 bytes: the device type, 'mmmm' (MIDI effect; 'aaaa' audio effect, 'iiii' instrument)
  meta  4 bytes: a little-endian uint32 Ableton does not document. Unfrozen devices saved by Max hold
        0 or 1 there, frozen ones 4 or 7 (their 'ptch' is an 'mx@c' container, not the patcher);
        this device is not frozen (it has no dependencies to embed), so 0.
  ptch  the patcher JSON, null-terminated
The .maxpat's bytes go into 'ptch' unchanged, so the same source always gives the same bytes.
"""
from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

HERE = Path(__file__).parent
MAXPAT = HERE / "cdgmvae.maxpat"
AMXD = HERE / "cdgmvae.amxd"
DEVICE_TYPE = b"mmmm"
META = 0  # unfrozen: see above


def chunk(tag: bytes, data: bytes) -> bytes:
    return tag + struct.pack("<I", len(data)) + data


def build(patcher: bytes, device_type: bytes = DEVICE_TYPE) -> bytes:
    return (chunk(b"ampf", device_type) + chunk(b"meta", struct.pack("<I", META))
            + chunk(b"ptch", patcher + b"\0"))


def chunks(amxd: bytes) -> dict[bytes, bytes]:
    """The chunks of an .amxd by tag; raises ValueError on a malformed file."""
    found, at = {}, 0
    while at < len(amxd):
        if at + 8 > len(amxd):
            raise ValueError(f"truncated chunk header at byte {at}")
        tag, (size,) = amxd[at:at + 4], struct.unpack("<I", amxd[at + 4:at + 8])
        if at + 8 + size > len(amxd):
            raise ValueError(f"chunk {tag!r} runs past the end of the file")
        found[tag] = amxd[at + 8:at + 8 + size]
        at += 8 + size
    if next(iter(found), None) != b"ampf":
        raise ValueError("not an .amxd: it does not start with 'ampf'")
    return found


def patcher_of(amxd: bytes) -> bytes:
    """The patcher JSON an .amxd holds, without its terminating null."""
    ptch = chunks(amxd)[b"ptch"]
    if not ptch.endswith(b"\0"):
        raise ValueError("the 'ptch' chunk is not null-terminated")
    return ptch[:-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cdgmvae.max4live.build", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed .amxd is stale")
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write cdgmvae.amxd to")
    args = parser.parse_args(argv)
    amxd = build(MAXPAT.read_bytes())
    if args.check:
        fresh = AMXD.exists() and AMXD.read_bytes() == amxd
        print(f"{AMXD.name}: {'up to date' if fresh else 'stale, run python -m cdgmvae.max4live.build'}")
        return 0 if fresh else 1
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / AMXD.name
    target.write_bytes(amxd)
    print(f"wrote {target} ({len(amxd)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
