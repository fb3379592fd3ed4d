"""`cdgmvae evaluate`: the paper's experiments on a tiny model and tiny data, each checked for what its
numbers mean (training/experiments.py, training/paper_report.py)."""
import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from cdgmvae.engine.checkpoint import load_model, save_model
from cdgmvae.engine.model import CDGMVAE
from cdgmvae.engine.notes import GridNote
from cdgmvae.training import experiments as E
from cdgmvae.training.dataset import load_prepared
from cdgmvae.training.paper_report import PARTS, TITLES
from cdgmvae.training.prepare import prepare
from helpers_model import TINY, one_thread, write_fake_dataset
from safetensors.numpy import load_file

from cdgmvae import cli

_one_thread = pytest.fixture(autouse=True)(one_thread)
REPO = Path(__file__).resolve().parents[1]
EMOPIA = REPO / "data" / "emopia" / "midis"
SCALE = {"name": "tiny", "config": TINY.to_dict(), "steps": 2, "batch": 4, "seeds": [0], "log_every": 1,
         "swap_pairs": 1, "swap_bars": 2, "transfer_clips": 2, "transfer_bars": 2, "latent_bars": None,
         "quality_pieces": 1, "quality_bars": 2}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A fake prepared dataset (6 labelled validation pieces), a tiny random model and the tiny scale."""
    root = tmp_path_factory.mktemp("tiny")
    write_fake_dataset(root / "data", n_train=12, n_val=6, n_unlabelled=4)
    torch.manual_seed(0)
    save_model(CDGMVAE(TINY), root / "model", step=0)
    (root / "scale.json").write_text(json.dumps(SCALE))
    return root


@pytest.fixture(scope="module")
def report(tiny):
    """`cdgmvae evaluate all` at the tiny scale: the output folder."""
    out = tiny / "report"
    assert cli.main(["evaluate", "all", "--scale", str(tiny / "scale.json"), "--data", str(tiny / "data"),
                     "--checkpoint", str(tiny / "model"), "--out", str(out), "--work", str(tiny / "work"),
                     "--quiet"]) == 0
    return out


def _part(out: Path, part: str) -> dict:
    return json.loads((out / part / f"{part}.json").read_text())


def _generator(checkpoint=None):
    return E.make_generator(checkpoint, "cpu", seed=0, temperature=1.0, key_strength=0.0)


# --- feature swap -----------------------------------------------------------------------------------
def test_eq22_on_hand_built_bars():
    # onsets: A one at each of 0, 4, 8, 12; B two at 0, one at 8 -> <a, b> = 3, |a| = 2, |b| = sqrt 5.
    # keys: A's notes C E G C are C major, B's A C E A minor -> different keys: key similarity 0
    a = [[GridNote(1, p, 64, pos, 4) for pos, p in zip((0, 4, 8, 12), (60, 64, 67, 72))]]
    b = [[GridNote(1, p, 64, pos, 8) for pos, p in zip((0, 8), (57, 60))] + [GridNote(1, 64, 64, 0, 8)]]
    fa, fb = E.swap_features(a, 1), E.swap_features(b, 1)
    assert E.cosine(fa["rhythm"], fb["rhythm"]) == pytest.approx(3 / (2 * math.sqrt(5)))
    assert E.cosine(fa["key"], fb["key"]) == 0.0
    assert E.cosine(fa["key"], fa["key"]) == pytest.approx(1.0)


def test_a_swap_of_identical_pieces_gives_similarity_1_on_both_sides(tiny):
    generator = _generator(tiny / "model")
    pieces = E.validation_pieces(tiny / "data", TINY.bar_len)[:2]
    result = E.feature_swap(generator, [(p, p) for p in pieces], 2, show=False)
    assert result["pairs"] == 2
    for swap in E.SWAPS:
        against_model = result["similarity"][swap]["reconstruction"]
        against_clip = result["similarity"][swap]["original"]
        for feature in E.SWAPS:
            # A = B: the swapped latents are A's own, decoded as A's reconstruction is
            assert against_model[feature]["A"] == pytest.approx(1.0)
            assert against_model[feature]["B"] == pytest.approx(1.0)
            assert against_clip[feature]["A"] == against_clip[feature]["B"]


@pytest.fixture(scope="module")
def emopia_pieces(tmp_path_factory):
    """Four EMOPIA clips, one per quadrant, prepared as `make paper` prepares them."""
    folder = tmp_path_factory.mktemp("emopia")
    for q in ("Q1", "Q2", "Q3", "Q4"):
        shutil.copy(sorted(EMOPIA.glob(f"{q}_*.mid"))[0], folder)
    prepare([folder], folder / "prepared", workers=1, progress=False)
    train, _ = load_prepared(folder / "prepared", 128)
    return sorted(train, key=lambda p: p.id)


def test_a_decoder_that_ignores_z_r_scores_lower_on_the_rhythm_swap(emopia_pieces):
    pairs = E.swap_pairs(emopia_pieces, 2, 2)
    trained = E.feature_swap(_generator(), pairs, 2, show=False)
    generator = _generator()
    E.zero_rhythm_latent(generator.model)
    ignoring = E.feature_swap(generator, pairs, 2, show=False)
    score = trained["score"]["rhythm"]["reconstruction"]["swapped"]
    # the decoder that ignores z_r decodes A's reconstruction: the rhythm cannot have come from B
    assert ignoring["similarity"]["rhythm"]["reconstruction"]["rhythm"]["A"] == pytest.approx(1.0)
    assert ignoring["score"]["rhythm"]["reconstruction"]["swapped"] <= 0.0 < score


# --- mode collapse ----------------------------------------------------------------------------------
def _run_folder(model: CDGMVAE, folder: Path) -> dict:
    save_model(model, folder, step=1)
    distances = E.component_distances(model)
    (folder / "log.jsonl").write_text(json.dumps({"step": 1, "mean_distance_r": distances["r"],
                                                  "mean_distance_k": distances["k"]}) + "\n")
    return {"setting": "CDGMVAE", "rho": 1.0, "seed": 0, "run": str(folder)}


def test_mode_collapse_distance_of_identical_component_means_is_zero(tiny, tmp_path):
    torch.manual_seed(1)
    model = CDGMVAE(TINY)
    apart = _run_folder(model, tmp_path / "apart")
    with torch.no_grad():
        for prior in (model.prior_r, model.prior_k):
            prior.means[1] = prior.means[0]
            prior.log_vars[1] = prior.log_vars[0]
    collapsed = _run_folder(model, tmp_path / "collapsed")
    result = E.mode_collapse([apart, collapsed], tiny / "data")
    # the distance of the weights as written, read without the model's code
    weights = load_file(str(tmp_path / "apart" / "model.safetensors"))
    expected = {f: float(np.linalg.norm(weights[f"prior_{f}.means"][1] - weights[f"prior_{f}.means"][0]))
                for f in ("r", "k")}
    first, second = result["runs"]
    assert first["final_distance"] == pytest.approx(expected)
    assert second["final_distance"] == {"r": 0.0, "k": 0.0}
    # identical components: q(y|x) is uniform, so every clip lands in one component
    assert second["one_component_share"] == {"r": 1.0, "k": 1.0}
    assert result["clips"] == 6


def test_mode_collapse_follows_the_runs_logs(report):
    result = _part(report, "mode-collapse")["result"]
    assert len(result["runs"]) == 2 * len(SCALE["seeds"]) * 4
    for run in result["runs"]:
        log = [json.loads(line) for line in (Path(run["run"]) / "log.jsonl").read_text().splitlines()]
        assert run["steps"] == [line["step"] for line in log] == [1, 2]
        assert run["distance_r"] == [line["mean_distance_r"] for line in log]
        model, _ = load_model(run["run"])
        assert run["final_distance"]["r"] == pytest.approx(
            float((model.prior_r.means[1] - model.prior_r.means[0]).detach().norm()))
        assert 0.5 <= run["one_component_share"]["r"] <= 1.0


# --- supervision rate -------------------------------------------------------------------------------
def test_supervision_runs_give_accuracies_for_every_rho_and_setting(report):
    result = _part(report, "supervision-rate")["result"]
    assert set(result["table"]) == {"CDGMVAE", "GMVAE"}
    for by_rho in result["table"].values():
        assert sorted(by_rho, key=float) == ["0.05", "0.1", "0.3", "1"]
        for cell in by_rho.values():
            for factor in ("arousal", "valence"):
                assert 0.0 <= cell[factor]["mean"] <= 1.0 and cell[factor]["n"] == 1
    for run in result["runs"]:
        options = json.loads((Path(run["run"]) / "summary.json").read_text())["options"]
        assert (options["alpha"], options["mi"]) == ((0.2, True) if run["setting"] == "CDGMVAE" else (1.0, False))
        assert options["rho"] == run["rho"] and options["steps"] == SCALE["steps"]


def test_identical_seeds_give_identical_runs(report, tiny, tmp_path):
    scale = replace(E.load_scale(str(tiny / "scale.json")), rhos=(0.05,))
    again = E.supervision_runs(tiny / "data", tmp_path / "runs", scale, show=False)
    first = {(r["setting"], r["rho"]): r for r in _part(report, "supervision-rate")["result"]["runs"]}
    for run in again:
        before = first[(run["setting"], run["rho"])]
        assert (run["acc_arousal"], run["acc_valence"]) == (before["acc_arousal"], before["acc_valence"])
        digests = [json.loads((Path(r["run"]) / "summary.json").read_text())["weights_sha256"] for r in (run, before)]
        assert digests[0] == digests[1]


def test_a_finished_run_is_reused_only_when_trained_by_the_same_code(tiny, tmp_path, capfd):
    scale = replace(E.load_scale(str(tiny / "scale.json")), rhos=(0.05,))
    first = E.supervision_runs(tiny / "data", tmp_path, scale, show=False)
    shown = capfd.readouterr()
    assert "cdgmvae train" not in shown.out + shown.err and "it/s" not in shown.err  # quiet: no trainer output
    summaries = [Path(r["run"]) / "summary.json" for r in first]
    written = [path.stat().st_mtime_ns for path in summaries]
    E.supervision_runs(tiny / "data", tmp_path, scale, show=False)
    assert [path.stat().st_mtime_ns for path in summaries] == written  # same options, same code: reused

    stale = json.loads(summaries[0].read_text())
    stale["code_sha256"] = "0" * 64  # as an earlier trainer would have left it
    summaries[0].write_text(json.dumps(stale))
    again = E.supervision_runs(tiny / "data", tmp_path, scale, show=False)
    assert json.loads(summaries[0].read_text())["code_sha256"] != "0" * 64  # trained again
    assert [path.stat().st_mtime_ns for path in summaries[1:]] == written[1:]
    without_time = [[{k: v for k, v in r.items() if k != "wall_s"} for r in runs] for runs in (again, first)]
    assert without_time[0] == without_time[1]  # the same seed trains the same run


# --- emotion transfer -------------------------------------------------------------------------------
def test_the_confusion_matrix_rows_sum_to_the_number_of_clips(report):
    result = _part(report, "emotion-transfer")["result"]
    assert result["clips"] == SCALE["transfer_clips"]
    for judge in ("reference", "model"):
        matrix = result["confusion"][judge]
        assert list(matrix) == ["Q1", "Q2", "Q3", "Q4"]
        for row in matrix.values():
            assert sum(row.values()) == SCALE["transfer_clips"]
        # Table 4's cells: each clip once per target, under its own label
        assert sum(cell["n"] for by_target in result["accuracy"][judge].values()
                   for cell in by_target.values()) == 4 * SCALE["transfer_clips"]
        heard_right = sum(matrix[q][q] for q in matrix) / (4 * SCALE["transfer_clips"])
        assert result["overall"][judge]["quadrant"] == pytest.approx(heard_right)


# --- latent space and generation quality ------------------------------------------------------------
def test_latent_points_carry_their_pieces_labels(report, tiny):
    result = _part(report, "latent-space")["result"]
    pieces = E.validation_pieces(tiny / "data", TINY.bar_len)
    assert result["bars"] == sum(p.n_bars for p in pieces) == len(result["z_r"]) == len(result["z_k"])
    assert sum(result["arousal"]) == sum(p.n_bars for p in pieces if p.arousal == 1)
    assert sum(result["valence"]) == sum(p.n_bars for p in pieces if p.valence == 1)
    assert all(len(point) == 2 for point in result["z_r"])


def test_generation_quality_sets_generated_pieces_beside_each_quadrants_clips(report, tiny):
    result = _part(report, "generation-quality")["result"]
    pieces = E.validation_pieces(tiny / "data", TINY.bar_len)
    for q in ("Q1", "Q2", "Q3", "Q4"):
        generated, real = result["rows"]["generated"][q], result["rows"]["real"][q]
        assert generated["pieces"] + generated["skipped"] == SCALE["quality_pieces"]
        assert real["pieces"] == sum(E.piece_quadrant(p) == q for p in pieces)
        for row in (generated, real):
            if row["pieces"]:
                assert 0.0 <= row["h1"] <= math.log2(12) and 0.0 <= row["gs"] <= 1.0
                assert 0.0 <= row["reference_quadrant"] <= min(row["reference_arousal"], row["reference_valence"])


# --- the report -------------------------------------------------------------------------------------
def test_the_report_lists_every_part_with_its_figures(report):
    text = (report / "REPORT.md").read_text()
    for part in PARTS:
        record = _part(report, part)
        assert TITLES[part] in text
        assert f"`cdgmvae evaluate {part} --scale" in text
        assert record["wall_s"] >= 0 and "CPU cores" in record["machine"]
        assert record["figures"]
        for name in record["figures"]:
            assert f"]({part}/{name})" in text
            assert (report / part / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_committed_report_shows_the_committed_figures():
    report = REPO / "reports" / "paper" / "REPORT.md"
    if not report.is_file():
        pytest.skip("reports/paper/REPORT.md is written by `make paper`")
    text = report.read_text()
    for part in PARTS:
        assert TITLES[part] in text
        for name in _part(report.parent, part)["figures"]:
            assert f"]({part}/{name})" in text and (report.parent / part / name).is_file()


def test_a_bad_scale_is_one_line_naming_it(tmp_path, capsys):
    assert cli.main(["evaluate", "feature-swap", "--scale", "huge", "--out", str(tmp_path)]) == 2
    assert "unknown scale 'huge'" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text(json.dumps({"stepz": 3}))
    assert cli.main(["evaluate", "feature-swap", "--scale", str(tmp_path / "bad.json"), "--out", str(tmp_path)]) == 2
    assert "stepz" in capsys.readouterr().err



def test_a_missing_checkpoint_is_one_line_before_any_data_is_prepared(tmp_path, capsys):
    work = tmp_path / "work"
    assert cli.main(["evaluate", "feature-swap", "--checkpoint", str(tmp_path / "nope"), "--out", str(tmp_path / "out"),
                     "--work", str(work)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope does not exist" in err[0]
    assert not work.exists()
