import numpy as np
from cdgmvae.engine import vocab as V
from cdgmvae.engine.features import KEY_NAMES, bar_keys, piece_features, rhythm_vector
from cdgmvae.engine.notes import GridNote


def piano(pitches_positions, duration=4):
    return [GridNote(V.PIANO, p, 80, pos, duration) for p, pos in pitches_positions]


C_MAJOR_SCALE = piano([(60 + s, 2 * i) for i, s in enumerate([0, 2, 4, 5, 7, 9, 11, 12])], duration=2)
C_TRIADS = piano([(60, 0), (64, 0), (67, 0), (65, 8), (69, 8), (72, 8)], duration=8)
G7_TO_C = piano([(67, 0), (71, 0), (74, 0), (77, 0), (60, 8), (64, 8), (67, 8)], duration=8)
A_MINOR = piano([(57, 0), (60, 0), (64, 0), (69, 4), (71, 6), (72, 8), (68, 10), (69, 12), (64, 14)], duration=2) + \
    piano([(45, 0)], duration=16)


def test_c_major_scale_and_triads_give_c_major():
    keys = bar_keys([C_MAJOR_SCALE, C_TRIADS, G7_TO_C])
    assert [KEY_NAMES[k] for k in keys] == ["C major"] * 3


def test_a_minor_passage_gives_a_minor():
    keys = bar_keys([A_MINOR, A_MINOR])
    assert [KEY_NAMES[k] for k in keys] == ["A minor", "A minor"]


def test_empty_bar_takes_the_neighbours_key_through_smoothing_and_start_defaults_to_c():
    assert KEY_NAMES[bar_keys([A_MINOR, [], A_MINOR])[1]] == "A minor"
    assert list(bar_keys([[], []])) == [0, 0]


def test_drums_do_not_count_for_the_key():
    drums = [GridNote(V.DRUMS, 61, 100, p, 1) for p in range(16)]  # C# everywhere
    assert KEY_NAMES[bar_keys([A_MINOR + drums])[0]] == "A minor"


def test_rhythm_vector_counts_onsets_per_sixteenth():
    notes = piano([(60, 0), (64, 0), (67, 0), (62, 3), (65, 15)]) + [GridNote(V.DRUMS, 36, 100, 3, 1)]
    expected = np.zeros(16)
    expected[0], expected[3], expected[15] = 3, 2, 1
    assert np.array_equal(rhythm_vector(notes), expected)
    rhythm, keys = piece_features([notes, []])
    assert rhythm.shape == (2, 16) and rhythm[1].sum() == 0 and keys.shape == (2,)
