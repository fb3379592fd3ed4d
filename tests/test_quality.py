"""The quality measures (training/quality.py) on hand-built MIDI files, against values worked out by hand,
and bench/quality.py's table on folders of them."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from cdgmvae.training.quality import (
    NoveltyIndex,
    grooving_similarity,
    list_names,
    measure_piece,
    note_f1,
    pitch_class_entropy,
    pitch_class_f1,
    polyphony,
    read_midi,
    summarise,
)

from tests.midi_builders import TPQ, write_midi

ROOT = Path(__file__).parent.parent
SCALE = [60, 62, 64, 65, 67, 69, 71, 72]  # C major scale up to the octave: C twice, six classes once


def piano(tmp_path, name, notes, **kwargs) -> Path:
    """notes: (start_16th, length_16ths, pitch[, velocity])."""
    notes = [(*n, 80) if len(n) == 3 else n for n in notes]
    return write_midi(tmp_path / name, [{"program": 0, "notes": notes}], **kwargs)


def test_a_c_major_scale_bar_has_the_entropy_of_its_pitch_class_counts(tmp_path):
    # C: 2 of 8 notes, six classes 1 of 8: -(1/4 log2 1/4 + 6/8 log2 1/8) = 0.5 + 2.25 = 2.75 bits
    piece = read_midi(piano(tmp_path, "scale.mid", [(2 * i, 2, p) for i, p in enumerate(SCALE)]))
    assert pitch_class_entropy(piece, 1) == pytest.approx(2.75)
    assert pitch_class_entropy(piece, 4) == pytest.approx(2.75)  # shorter than 4 bars: one window


def test_h4_counts_the_classes_of_four_bar_windows(tmp_path):
    # one class per bar (C D E F G): H1 = 0; both 4-bar windows hold four classes once: H4 = 2 bits
    piece = read_midi(piano(tmp_path, "steps.mid", [(16 * i, 4, p) for i, p in enumerate([60, 62, 64, 65, 67])]))
    assert pitch_class_entropy(piece, 1) == 0.0
    assert pitch_class_entropy(piece, 4) == pytest.approx(2.0)


def test_drums_have_no_pitch_class(tmp_path):
    path = write_midi(tmp_path / "drums.mid", [{"program": 0, "notes": [(0, 4, 60, 80)]},
                                                {"drum": True, "notes": [(0, 1, 37, 90), (4, 1, 42, 90)]}])
    piece = read_midi(path)
    assert pitch_class_entropy(piece, 1) == 0.0
    assert measure_piece(piece)["notes_per_bar"] == 3


def test_bars_with_one_grooving_pattern_have_gs_one_and_others_the_share_of_positions_in_common(tmp_path):
    same = read_midi(piano(tmp_path, "same.mid", [(16 * b + p, 1, 60) for b in range(3) for p in (0, 4, 8, 12)]))
    assert grooving_similarity(same) == 1.0
    # bars {0,4,8,12}, {0,8}, {2}: XORs 2, 5, 3 of 16 positions -> 1 - 10/48
    onsets = [0, 4, 8, 12, 16, 24, 34]
    mixed = read_midi(piano(tmp_path, "mixed.mid", [(o, 1, 62) for o in onsets]))
    assert grooving_similarity(mixed) == pytest.approx(38 / 48)
    assert math.isnan(grooving_similarity(read_midi(piano(tmp_path, "one.mid", [(0, 4, 60)]))))


def test_a_doubled_note_is_stacked_and_a_repeated_note_is_not(tmp_path):
    # E4 starts again at 16th 2 while its first note (0-8) still sounds, on the same channel
    doubled = read_midi(piano(tmp_path, "doubled.mid", [(0, 8, 64), (2, 2, 64), (0, 4, 60)]))
    assert doubled.stacked == 1 and measure_piece(doubled)["stacked"] == 1
    repeated = read_midi(piano(tmp_path, "repeated.mid", [(0, 4, 64), (4, 4, 64)]))
    assert repeated.stacked == 0 and len(repeated.notes) == 2
    two_channels = write_midi(tmp_path / "two.mid", [{"program": 0, "notes": [(0, 8, 64, 80)]},
                                                      {"program": 0, "notes": [(2, 2, 64, 80)]}])
    assert read_midi(two_channels).stacked == 0


def test_notes_per_bar_empty_bars_polyphony_velocity(tmp_path):
    # bar 1 a three-note chord for 4 16ths then one note for 4; bar 2 empty; bar 3 one note
    path = piano(tmp_path, "bars.mid", [(0, 4, 60, 90), (0, 4, 64, 90), (0, 4, 67, 90), (4, 4, 72, 30),
                                        (32, 4, 60, 30)])
    m = measure_piece(read_midi(path))
    assert m["bars"] == 3 and m["notes_per_bar"] == pytest.approx(5 / 3)
    assert m["empty_bars"] == pytest.approx(1 / 3)
    assert m["velocity"] == pytest.approx((3 * 90 + 2 * 30) / 5)
    assert polyphony(read_midi(path)) == pytest.approx((3 * 4 + 1 * 4 + 1 * 4) / 12)


def test_the_reader_follows_the_quarter_note_grid_and_drops_leading_empty_bars(tmp_path):
    a = read_midi(piano(tmp_path, "a.mid", [(16, 4, 60), (21, 2, 64)]))            # starts in the second bar
    b = read_midi(write_midi(tmp_path / "b.mid", [{"program": 0, "notes": [(0, 4, 60, 80), (5, 2, 64, 80)]}],
                             tempos=((0, 73.0), (TPQ, 180.0))))                  # tempo does not move the grid
    assert [(n.onset, n.duration, n.pitch) for n in a.notes] == [(0, 4, 60), (5, 2, 64)]
    assert [(n.onset, n.duration, n.pitch) for n in b.notes] == [(0, 4, 60), (5, 2, 64)]


def test_next_bar_in_the_same_key(tmp_path):
    scale = [(2 * i, 2, p) for i, p in enumerate(SCALE)]
    f_sharp = [(16 + 2 * i, 2, p + 6) for i, p in enumerate(SCALE)]
    again = [(32 + 2 * i, 2, p + 6) for i, p in enumerate(SCALE)]
    m = measure_piece(read_midi(piano(tmp_path, "keys.mid", scale + f_sharp + again)))
    assert (m["same_key_pairs"], m["key_pairs"]) == (1, 2)  # C major -> F# major -> F# major
    assert summarise([m, m])["next_bar_same_key"] == 0.5


def test_rebuild_f1_pairs_notes_of_one_pitch_within_a_sixteenth(tmp_path):
    reference = read_midi(piano(tmp_path, "ref.mid", [(0, 4, 60), (4, 4, 64), (8, 4, 67), (12, 4, 71)]))
    # 60 one 16th late (kept), 64 two 16ths late (lost), 67 as 66 (lost), 71 exact (kept), one extra note
    rebuilt = read_midi(piano(tmp_path, "out.mid", [(1, 4, 60), (6, 4, 64), (8, 4, 66), (12, 4, 71), (14, 2, 48)]))
    assert note_f1(reference, rebuilt) == pytest.approx(2 * 2 / (4 + 5))
    # the bar's pitch classes {C E G B} against {C E F# B}: 3 in common
    assert pitch_class_f1(reference, rebuilt) == pytest.approx(2 * 3 / (4 + 4))
    assert note_f1(reference, reference) == 1.0 and pitch_class_f1(reference, reference) == 1.0


def span(offset_16ths, shift=0):
    """Four bars of a figure (the test's training material), starting at offset."""
    figure = [(0, 60), (2, 64), (4, 67), (8, 72), (18, 62), (20, 65), (26, 69), (33, 59), (40, 67), (50, 64),
              (56, 60), (60, 55)]
    return [(offset_16ths + o, 2, p + shift) for o, p in figure]


@pytest.fixture
def training(tmp_path):
    noise = [(16 * b + 3, 1, 50 + b) for b in range(8)]
    return NoveltyIndex([read_midi(piano(tmp_path, "train.mid", noise + span(32)))])


def test_a_span_copied_from_a_training_piece_overlaps_it_fully_even_transposed(tmp_path, training):
    copied = read_midi(piano(tmp_path, "copy.mid", [(0, 4, 40)] + span(16)))
    overlap = training.largest_overlap(copied, min_notes=8)
    assert overlap.share == 1.0 and (overlap.bar, overlap.source_bar, overlap.transposition) == (1, 2, 0)
    moved = read_midi(piano(tmp_path, "moved.mid", span(0, shift=5)))
    overlap = training.largest_overlap(moved, min_notes=8)
    assert overlap.share == 1.0 and overlap.transposition == -5  # training pitch = generated - 5


def test_a_partly_copied_span_overlaps_by_its_copied_share(tmp_path, training):
    half = span(0)[:6] + [(o, 2, 90) for o in (36, 44, 52, 58, 62, 63)]  # 6 of 12 notes copied
    overlap = training.largest_overlap(read_midi(piano(tmp_path, "half.mid", half)), min_notes=8)
    assert overlap.share == pytest.approx(0.5)
    assert training.largest_overlap(read_midi(piano(tmp_path, "few.mid", span(0)[:4])), min_notes=8).share == 0.0


def test_both_ways_a_sparse_span_inside_a_dense_one_is_not_recalled_but_a_copy_is(tmp_path):
    # a training span that plays every 16th of four bars on three pitches holds any sparse figure on them
    dense = [(o, 1, p) for o in range(64) for p in (60, 64, 67)]
    index = NoveltyIndex([read_midi(piano(tmp_path, "dense.mid", dense))])
    sparse = read_midi(piano(tmp_path, "sparse.mid", [(4 * i, 1, (60, 64, 67)[i % 3]) for i in range(12)]))
    one_way = index.largest_overlap(sparse, min_notes=8)
    assert one_way.share == 1.0 and one_way.source_notes == 192
    both_ways = index.largest_overlap(sparse, min_notes=8, both_ways=True)
    assert both_ways.share == pytest.approx(12 / 192) and both_ways.notes == 12
    replay = read_midi(piano(tmp_path, "replay.mid", dense))
    assert index.largest_overlap(replay, min_notes=8, both_ways=True).share == 1.0
    # and the other way round: a dense span played over a sparse training span
    sparse_index = NoveltyIndex([sparse])
    assert sparse_index.largest_overlap(replay, min_notes=8, both_ways=True).share == pytest.approx(12 / 192)


def test_bench_table_on_folders_of_hand_built_pieces(tmp_path):
    """bench/quality.py without a model: the real and a generated folder, measured and printed as JSON."""
    real, generated, train = (tmp_path / name for name in ("real", "generated", "train"))
    for folder in (real, generated, train):
        folder.mkdir()
    piano(real, "scale.mid", [(2 * i, 2, p) for i, p in enumerate(SCALE)])
    piano(generated, "copy.mid", span(0))
    piano(train, "train.mid", span(16, shift=2))
    result = subprocess.run([sys.executable, str(ROOT / "bench/quality.py"), "--real", str(real), "--real-list", "all",
                             "--train", str(train), "--train-list", "all", "--generated", str(generated),
                             "--priors", "--rebuild", "0", "--json"], capture_output=True, text=True, check=True)
    rows = json.loads(result.stdout)["rows"]
    real_row, generated_row = rows["real: real (all)"], rows[f"generated: {generated}"]
    assert real_row["h1"] == pytest.approx(2.75) and real_row["pieces"] == 1
    assert generated_row["novelty"] == 1.0 and generated_row["novelty_where"]["transposition"] == 2
    assert generated_row["novelty_both_ways"] == 1.0 and generated_row["novelty_both_ways_where"]["source_notes"] == 12


class PerfectRebuild:
    """Stands in for the generator in bench/quality.py's rebuild: gives back exactly the bars it is handed, so
    that every score below 1 is the bench's own misalignment of source and rebuild."""

    class model:  # noqa: N801 - the attribute path the bench reads
        class cfg:  # noqa: N801
            bar_len = 128

    def __init__(self):
        from cdgmvae.engine.generator import Controls
        self.controls = Controls()

    def transfer(self, bars, valence, arousal, lam):
        from types import SimpleNamespace
        return [SimpleNamespace(tokens=list(bar)) for bar in bars]


@pytest.mark.parametrize("bars", [None, 2, 3])
def test_a_perfect_rebuild_of_the_first_bars_scores_one(tmp_path, bars):
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_quality", ROOT / "bench" / "quality.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # bar 0 silent, then four bars of a chromatic line in quarters
    source = piano(tmp_path, "source.mid", [(16 + 4 * i, 4, 60 + i) for i in range(16)])
    scores = bench.rebuild(PerfectRebuild(), [source], tmp_path / "out", bars)
    assert scores["note_f1"] == 1.0 and scores["pitch_class_f1"] == 1.0
    rebuilt = read_midi(tmp_path / "out" / "source.mid")
    assert len(rebuilt.notes) == (16 if bars is None else 4 * bars)


def test_a_list_of_names_skips_comments_even_with_commas_and_reads_csv_columns(tmp_path):
    songs = tmp_path / "val_songs.txt"
    songs.write_text("# validation songs: every 20th (40 of the 859, 4.7 %)\n020\n\n040\n")
    assert list_names(songs) == ["020", "040"]
    clips = tmp_path / "val_clip.csv"
    clips.write_text(",clip_name\n0,Q1_a_0.mid\n1,Q2_b_1.mid\n")
    assert list_names(clips) == ["Q1_a_0.mid", "Q2_b_1.mid"]


def test_bench_says_in_one_line_which_list_it_cannot_read(tmp_path):
    bad = tmp_path / "clips.csv"
    bad.write_text("id,quadrant\n1,Q1\n")
    result = subprocess.run([sys.executable, str(ROOT / "bench/quality.py"), "--real-list", str(bad), "--priors",
                             "--rebuild", "0", "--no-novelty"], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == f"bench/quality.py: {bad}: the header names no clip_name, file or name column"
