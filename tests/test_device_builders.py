"""The device builders' commands and the .amxd container, judged by bytes laid out by hand.

The .amxd layout is the one Ableton's maxdevtools (maxdiff/amxd_textconv.py) reads: chunks of a 4-byte tag,
a little-endian uint32 length and that many bytes; 'ampf' first. Each expected file below is written out
byte by byte here, never by max4live/build.py.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import pytest
from cdgmvae.max4live import build, make_patch, make_tosc

ROOT = Path(__file__).resolve().parents[1]
MAXPAT = ROOT / "max4live" / "cdgmvae.maxpat"


def expected_amxd(patcher: bytes, device: bytes = b"mmmm") -> bytes:
    ptch = patcher + b"\x00"
    n = len(ptch)
    return (b"ampf" + b"\x04\x00\x00\x00" + device
            + b"meta" + b"\x04\x00\x00\x00" + b"\x00\x00\x00\x00"
            + b"ptch" + bytes([n & 0xFF, (n >> 8) & 0xFF, (n >> 16) & 0xFF, n >> 24]) + ptch)


def test_build_writes_the_amxd_into_a_new_nested_folder_and_says_where(tmp_path, capsys):
    out = tmp_path / "a" / "b"
    assert build.main(["--out", str(out)]) == 0
    written = out / "cdgmvae.amxd"
    assert written.read_bytes() == expected_amxd(MAXPAT.read_bytes())
    assert capsys.readouterr().out == f"wrote {written} ({written.stat().st_size} bytes)\n"
    assert build.main(["--out", str(out)]) == 0  # again into the same folder
    assert written.read_bytes() == expected_amxd(MAXPAT.read_bytes())


def test_build_of_a_large_patcher_writes_its_length_little_endian():
    patcher = b"{" + b"x" * 0x12345 + b"}"
    assert build.build(patcher, b"aaaa") == expected_amxd(patcher, b"aaaa")


def test_build_check_says_up_to_date_or_stale(tmp_path, monkeypatch, capsys):
    assert build.main(["--check"]) == 0
    assert capsys.readouterr().out == "cdgmvae.amxd: up to date\n"
    stale = tmp_path / "cdgmvae.amxd"
    stale.write_bytes(expected_amxd(MAXPAT.read_bytes() + b" "))
    monkeypatch.setattr(build, "AMXD", stale)
    assert build.main(["--check"]) == 1
    assert capsys.readouterr().out == "cdgmvae.amxd: stale, run python -m cdgmvae.max4live.build\n"
    monkeypatch.setattr(build, "AMXD", tmp_path / "missing" / "cdgmvae.amxd")
    assert build.main(["--check"]) == 1


def test_chunks_reads_every_chunk_by_its_own_length():
    amxd = (b"ampf" + b"\x04\x00\x00\x00" + b"iiii" + b"abcd" + b"\x00\x00\x00\x00"
            + b"ptch" + b"\x03\x03\x00\x00" + bytes(range(256)) * 3 + b"xyz")  # 771 bytes
    assert build.chunks(amxd) == {b"ampf": b"iiii", b"abcd": b"", b"ptch": bytes(range(256)) * 3 + b"xyz"}
    assert build.chunks(b"ampf\x00\x00\x00\x00") == {b"ampf": b""}  # a header that ends the file exactly


@pytest.mark.parametrize("amxd, message", [
    (b"ampf\x04\x00\x00\x00mmmm" + b"meta\x04\x00", "truncated chunk header at byte 12"),
    (b"ampf\x04\x00\x00\x00mm", "chunk b'ampf' runs past the end of the file"),
    (b"ampf\x04\x00\x00\x00mmmm" + b"ptch\xff\xff\xff\xff{}", "chunk b'ptch' runs past the end of the file"),
    (b"meta\x04\x00\x00\x00\x00\x00\x00\x00ampf\x04\x00\x00\x00mmmm", "not an .amxd: it does not start with 'ampf'"),
    (b"", "not an .amxd: it does not start with 'ampf'"),
])
def test_chunks_names_what_is_wrong_with_a_malformed_file(amxd, message):
    with pytest.raises(ValueError) as error:
        build.chunks(amxd)
    assert str(error.value) == message


def test_patcher_of_returns_the_patcher_without_its_null():
    patcher = MAXPAT.read_bytes()
    assert build.patcher_of(expected_amxd(patcher)) == patcher
    unterminated = b"ampf\x04\x00\x00\x00mmmm" + b"ptch\x02\x00\x00\x00{}"
    with pytest.raises(ValueError) as error:
        build.patcher_of(unterminated)
    assert str(error.value) == "the 'ptch' chunk is not null-terminated"


def test_make_patch_check_says_up_to_date_or_stale(tmp_path, monkeypatch, capsys):
    assert make_patch.main(["--check"]) == 0
    assert capsys.readouterr().out == "cdgmvae.maxpat: up to date\n"
    stale = tmp_path / "cdgmvae.maxpat"
    stale.write_bytes(MAXPAT.read_bytes() + b" ")
    monkeypatch.setattr(make_patch, "MAXPAT", stale)
    assert make_patch.main(["--check"]) == 1
    assert capsys.readouterr().out == "cdgmvae.maxpat: stale, run python -m cdgmvae.max4live.make_patch\n"
    monkeypatch.setattr(make_patch, "MAXPAT", tmp_path / "missing" / "cdgmvae.maxpat")
    assert make_patch.main(["--check"]) == 1


def test_make_tosc_check_says_up_to_date_or_stale_when_missing(tmp_path, monkeypatch, capsys):
    assert make_tosc.main(["--check"]) == 0
    assert capsys.readouterr().out == "cdgmvae.tosc: up to date\n"
    monkeypatch.setattr(make_tosc, "TOSC", tmp_path / "missing" / "cdgmvae.tosc")
    assert make_tosc.main(["--check"]) == 1
    assert capsys.readouterr().out == "cdgmvae.tosc: stale, run python -m cdgmvae.max4live.make_tosc\n"


def test_make_patch_writes_the_committed_maxpat(tmp_path, monkeypatch, capsys):
    target = tmp_path / "cdgmvae.maxpat"
    monkeypatch.setattr(make_patch, "MAXPAT", target)
    assert make_patch.main([]) == 0
    assert target.read_bytes() == MAXPAT.read_bytes()
    assert capsys.readouterr().out == f"wrote {target}\n"


def test_make_tosc_writes_the_committed_layout_into_a_new_folder(tmp_path, monkeypatch, capsys):
    target = tmp_path / "touchosc" / "cdgmvae.tosc"
    monkeypatch.setattr(make_tosc, "TOSC", target)
    assert make_tosc.main([]) == 0
    committed = zlib.decompress((ROOT / "max4live" / "touchosc" / "cdgmvae.tosc").read_bytes())
    assert zlib.decompress(target.read_bytes()) == committed
    assert capsys.readouterr().out == f"wrote {target}\n"


@pytest.mark.parametrize("value_range", [(0.0, 1.0), (1.0, 3.0), (2.0, 13.0)])
def test_a_sent_value_is_scaled_so_its_range_covers_the_osc_tables(value_range):
    """TouchOSC sends scaleMin + v * (scaleMax - scaleMin): at the ends of the control's value range the
    message must carry the table's low and high (temperature: 0.1 .. 2.0)."""
    from xml.etree import ElementTree as ET
    node = ET.Element("node")
    make_tosc.osc(node, "/cdgmvae/temperature", "x", value_range=value_range)
    partial = node.find("messages/osc/arguments/partial")
    assert (partial.findtext("type"), partial.findtext("conversion"), partial.findtext("value")) == (
        "VALUE", "FLOAT", "x")
    low, high = float(partial.findtext("scaleMin")), float(partial.findtext("scaleMax"))
    lo, hi = value_range
    assert low + lo * (high - low) == pytest.approx(0.1, abs=1e-5)
    assert low + hi * (high - low) == pytest.approx(2.0, abs=1e-5)


@pytest.mark.parametrize("module, options", [
    (build, {"--check": "exit 1 if the committed .amxd is stale", "--out OUT": "folder to write cdgmvae.amxd to"}),
    (make_patch, {"--check": "exit 1 if the committed .maxpat is stale"}),
    (make_tosc, {"--check": "exit 1 if the committed .tosc is stale"}),
])
def test_each_builder_explains_itself_in_help(module, options, capsys):
    with pytest.raises(SystemExit) as done:
        module.main(["--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())   # argparse wraps lines
    name = module.__name__.rsplit(".", 1)[1]
    assert text.startswith(f"usage: python -m cdgmvae.max4live.{name} [-h] [--check]")
    assert " ".join(module.__doc__.split("\n")[0].split()) in text
    for option, explained in options.items():
        assert f"{option} {explained}" in text


def test_build_writes_next_to_the_patcher_by_default(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "HERE", tmp_path)
    assert build.main([]) == 0
    assert (tmp_path / "cdgmvae.amxd").read_bytes() == expected_amxd(MAXPAT.read_bytes())


def test_make_tosc_writes_again_over_its_own_folder(tmp_path, monkeypatch):
    target = tmp_path / "touchosc" / "cdgmvae.tosc"
    monkeypatch.setattr(make_tosc, "TOSC", target)
    assert make_tosc.main([]) == 0 and make_tosc.main([]) == 0
    assert target.is_file()
