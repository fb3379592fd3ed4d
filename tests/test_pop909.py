"""`prepare` on POP909 songs: bar lines from the beat annotations, the three roles on their own tracks."""
import shutil
from pathlib import Path

import mido
import numpy as np
from cdgmvae.engine import codec
from cdgmvae.engine import vocab as V
from cdgmvae.engine.notes import TRACK_CHANNEL
from cdgmvae.training.prepare import prepare

from tests.test_prepare import small_emopia

ROOT = Path(__file__).parent.parent
POP909 = ROOT / "data" / "pop909"
TICKS_PER_SECOND = 960  # 480 ticks a quarter at the file's 120 BPM

# Rubato beat times (s): each beat a different length, nothing like the file's 120 BPM or 2/4 metre.
BEAT_LENGTHS = [0.61, 0.55, 0.70, 0.64, 0.58, 0.66, 0.72, 0.60, 0.57, 0.63, 0.69, 0.62, 0.59, 0.65, 0.71]
BEATS = np.concatenate([[0.4], 0.4 + np.cumsum(BEAT_LENGTHS)])  # 16 beats
# mark4 = 1 on beats 1, 5 and 11 (a 6-beat span: a full bar, then one of 2 beats), 13 (a 2-beat span).
DOWNBEATS = [1, 5, 11, 13]
# Expected grid bars as (first beat, beats in it): a pickup bar ending at beat 1, then the annotation's.
GRID_BARS = [(-3, 4), (1, 4), (5, 4), (9, 2), (11, 2), (13, 4)]
ROLES = {"MELODY": V.STRINGS, "BRIDGE": V.GUITAR, "PIANO": V.PIANO}
# (role, beat, 16th within the beat, pitch): onsets placed by the annotated beat times
NOTES = [("MELODY", 0, 2, 72), ("MELODY", 1, 0, 74), ("MELODY", 2, 3, 76), ("MELODY", 6, 1, 77),
         ("MELODY", 9, 2, 79), ("MELODY", 12, 0, 81), ("MELODY", 14, 1, 83),
         ("BRIDGE", 3, 2, 67), ("BRIDGE", 7, 0, 65), ("BRIDGE", 10, 1, 64),
         ("PIANO", 1, 0, 48), ("PIANO", 4, 0, 50), ("PIANO", 5, 0, 52), ("PIANO", 8, 2, 53), ("PIANO", 11, 0, 55),
         ("PIANO", 13, 1, 57)]


def at_beat(beat: float) -> float:
    """Seconds of a fractional beat, by straight lines between the annotated beats."""
    whole = int(beat)
    return BEATS[whole] + (beat - whole) * (BEATS[whole + 1] - BEATS[whole])


def expected_bar_position(beat: int, sixteenth: int) -> tuple[int, int]:
    bar = max(i for i, (first, _) in enumerate(GRID_BARS) if first <= beat)
    return bar, (beat - GRID_BARS[bar][0]) * 4 + sixteenth


def write_song(folder: Path, number: str, beat_lines: list[str]) -> None:
    """midis/NUMBER.mid (2/4, 120 BPM, tracks MELODY, BRIDGE, PIANO, program 0) and its beat_midi.txt."""
    midi = mido.MidiFile(ticks_per_beat=480)
    conductor = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=2, denominator=4, time=0),
                                mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0)])
    midi.tracks.append(conductor)
    for channel, role in enumerate(ROLES):
        events = []
        for name, beat, sixteenth, pitch in NOTES:
            if name == role:
                start = at_beat(beat + sixteenth / 4)
                end = at_beat(beat + sixteenth / 4 + 0.5)  # two 16ths long
                events += [(round(start * TICKS_PER_SECOND), 1, pitch), (round(end * TICKS_PER_SECOND), 0, pitch)]
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=role, time=0),
                                mido.Message("program_change", program=0, channel=channel, time=0)])
        now = 0
        for tick, on, pitch in sorted(events):
            kind = "note_on" if on else "note_off"
            track.append(mido.Message(kind, note=pitch, velocity=90 if on else 0, channel=channel, time=tick - now))
            now = tick
        midi.tracks.append(track)
    (folder / "midis").mkdir(parents=True, exist_ok=True)
    midi.save(str(folder / "midis" / f"{number}.mid"))
    (folder / "annotations" / number).mkdir(parents=True, exist_ok=True)
    (folder / "annotations" / number / "beat_midi.txt").write_text("\n".join(beat_lines) + "\n")


def fixture_beat_lines() -> list[str]:
    lines = [f"{float(t)!r} {float(i % 2 == 1)} {float(i in DOWNBEATS)}" for i, t in enumerate(BEATS)]
    lines.insert(4, "2.1 1.0")             # two fields
    lines.insert(9, "not a beat line")     # not numbers
    return lines


def fixture_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pop909"
    write_song(folder, "001", fixture_beat_lines())
    write_song(folder, "020", fixture_beat_lines())
    write_song(folder, "003", [])           # no usable beats: skipped
    (folder / "val_songs.txt").write_text("# multiples of 20\n020\n")
    return folder


def piece_tokens(out: Path, entry: dict) -> np.ndarray:
    with np.load(out / entry["file"], allow_pickle=False) as arrays:
        return arrays["tokens"]


def test_a_2_4_song_gets_its_bars_from_the_downbeats_and_each_role_its_track(tmp_path):
    out = tmp_path / "prepared"
    manifest = prepare([fixture_folder(tmp_path)], out, workers=1, progress=False)

    counts = manifest["counts"]["pop909"]
    assert counts["songs_read"] == 3 and counts["songs_prepared"] == 2
    assert counts["skipped"] == {"no_beats": 1}
    assert counts["beat_lines_malformed"] == 2 * 2
    assert counts["bars_irregular"] == 2 * 2
    for role in ROLES:
        assert counts[f"notes_{role.lower()}"] == 2 * sum(n[0] == role for n in NOTES)
    assert counts["bars"] == 2 * len(GRID_BARS)
    assert counts["splits"] == {"train": 1, "val": 1}
    assert manifest["counts"]["unlabelled"] == 2 and manifest["counts"]["labelled"] == 0

    entry = next(e for e in manifest["pieces"] if e["source"].endswith("001.mid"))
    tokens = piece_tokens(out, entry)
    assert len(tokens) == len(GRID_BARS)
    got = sorted((bar, note.position, note.track, note.pitch)
                 for bar, row in enumerate(tokens) for note in codec.bar_notes(row))
    want = sorted((*expected_bar_position(beat, sixteenth), ROLES[role], pitch)
                  for role, beat, sixteenth, pitch in NOTES)
    assert got == want
    # every bar's tempo token is the bin of that bar's annotated beat length (the pickup bar: its one beat)
    for bar, (first, n_beats) in enumerate(GRID_BARS[:-1]):  # the last bar runs past the annotation
        span = BEATS[first + n_beats] - BEATS[first] if first >= 0 else BEATS[1] - BEATS[0]
        bpm = 60 * n_beats / span if first >= 0 else 60 / span
        assert codec.bar_tempo(tokens[bar]) == V.tempo_bin_bpm(V.tempo_to_bin(bpm))

    # the melody is alone on Strings, which the player sends on MIDI channel 4
    assert {note.pitch for row in tokens for note in codec.bar_notes(row) if note.track == V.STRINGS} == \
        {pitch for role, _, _, pitch in NOTES if role == "MELODY"}
    assert TRACK_CHANNEL[V.STRINGS] == 3


def test_pop909_and_emopia_prepare_together_each_with_its_split(tmp_path):
    emopia = small_emopia(tmp_path, n=4)
    out = tmp_path / "prepared"
    manifest = prepare([emopia], out, workers=1, progress=False, pop909_dirs=[fixture_folder(tmp_path)])
    counts = manifest["counts"]
    assert counts["labelled"] == 4 and counts["unlabelled"] == 2
    val_names = (emopia / "val_clip.csv").read_text()
    for entry in manifest["pieces"]:
        name = Path(entry["source"]).name
        if name.startswith("Q"):
            assert entry["split"] == ("val" if name in val_names else "train")
        else:
            assert entry["split"] == ("val" if name == "020.mid" else "train") and entry["valence"] is None


def test_real_pop909_songs(tmp_path):
    """Three bundled songs; 001 is steady (90 BPM, downbeat on its first beat, every span 4 beats), so
    each note's place follows from its onset time and the beat length alone."""
    folder = tmp_path / "pop909"
    for number in ("001", "002", "102"):
        (folder / "midis").mkdir(parents=True, exist_ok=True)
        shutil.copy(POP909 / "midis" / f"{number}.mid", folder / "midis")
        shutil.copytree(POP909 / "annotations" / number, folder / "annotations" / number)
    out = tmp_path / "prepared"
    manifest = prepare([folder], out, workers=1, progress=False)
    counts = manifest["counts"]["pop909"]
    assert counts["songs_read"] == counts["songs_prepared"] == 3 and counts["beat_lines_malformed"] == 0

    lines = [line.split() for line in (folder / "annotations" / "001" / "beat_midi.txt").read_text().splitlines()]
    first_beat, beat_length = float(lines[0][0]), np.diff([float(line[0]) for line in lines]).mean()
    midi = mido.MidiFile(str(folder / "midis" / "001.mid"))
    tempo = next(m.tempo for t in midi.tracks for m in t if m.type == "set_tempo")
    want = []
    for track in midi.tracks:
        name = next((m.name for m in track if m.type == "track_name"), None)
        now = 0
        for msg in track:
            now += msg.time
            if msg.type == "note_on" and msg.velocity:
                seconds = mido.tick2second(now, midi.ticks_per_beat, tempo)
                sixteenth = round((seconds - first_beat) / beat_length * 4)
                want.append((sixteenth // 16, sixteenth % 16, ROLES[name], msg.note))
    entry = next(e for e in manifest["pieces"] if e["source"].endswith("001.mid"))
    tokens = piece_tokens(out, entry)
    got = [(bar, note.position, note.track, note.pitch)
           for bar, row in enumerate(tokens) for note in codec.bar_notes(row)]
    assert sorted(got) == sorted(want)
    assert entry["bars"] == max(w[0] for w in want) + 1


def test_training_on_emopia_and_pop909_mixes_both_in_every_batch(tmp_path):
    """EMOPIA labelled plus POP909 unlabelled: each batch holds both (rho < 1), so the unlabelled terms
    (the categorical KL_y with its MI form, the mixture KL with alpha) act at every step."""
    import json

    from cdgmvae import cli
    from tests.helpers_model import TINY, write_config
    data = tmp_path / "prepared"
    prepare([small_emopia(tmp_path, n=4)], data, workers=1, progress=False, bar_len=TINY.bar_len,
            pop909_dirs=[fixture_folder(tmp_path)])
    out = tmp_path / "run"
    assert cli.main(["train", "--data", str(data), "--config", write_config(tmp_path / "tiny.json"),
                     "--out", str(out), "--steps", "3", "--batch", "4", "--threads", "1", "--log-every", "1"]) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 3
    for entry in log:
        assert 0 < entry["labelled_fraction"] < 1
        assert entry["kl_y_a"] > 0 and entry["kl_y_v"] > 0
