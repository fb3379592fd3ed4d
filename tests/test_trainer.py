"""`cdgmvae train`: runs, data errors, label hiding, resume after SIGKILL, torchrun with two processes."""
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from cdgmvae.engine.checkpoint import load_model
from cdgmvae.training.dataset import SegmentSampler, hide_labels, load_prepared, split_holdout
from helpers_model import TINY, one_thread, write_config, write_fake_dataset
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from cdgmvae import cli

_one_thread = pytest.fixture(autouse=True)(one_thread)
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EMOPIA = REPO / "data" / "emopia" / "midis"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_fake_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return write_config(tmp_path_factory.mktemp("config") / "tiny.json")


def _train_args(data, config, out, steps, *extra):
    return ["train", "--data", str(data), "--config", config, "--out", str(out), "--steps", str(steps),
            "--batch", "4", "--threads", "1", "--rho", "0.5", "--log-every", "1", *map(str, extra)]


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def _subprocess_env():
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def test_train_writes_logs_checkpoints_and_a_loadable_model(tmp_path, data, config):
    out = tmp_path / "run"
    assert cli.main(_train_args(data, config, out, 8, "--val-every", 4, "--ckpt-every", 4)) == 0
    log = _log(out)
    assert [entry["step"] for entry in log] == list(range(1, 9))
    for entry in log:
        for term in ("loss", "rec", "kl_z_r", "kl_z_k", "kl_y_a", "kl_y_v", "cls_a", "cls_v", "dis", "dis_adv",
                     "mean_distance_r", "mean_distance_k"):
            assert math.isfinite(entry[term]), (term, entry)
        # every batch mixes labelled and unlabelled segments
        assert 0 < entry["labelled_fraction"] < 1 and entry["cls_a"] > 0
    assert json.loads((out / "ckpt" / "last.json").read_text())["step"] == 8
    best = json.loads((out / "ckpt" / "best.json").read_text())
    assert set(best["val"]) == {"acc_arousal", "acc_valence", "acc_quadrant"}
    model, cfg = load_model(out)
    assert cfg == TINY and not model.training
    assert list((out / "tb").glob("events.out.tfevents.*"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 1 and summary["ranks_in_sync"]
    # a second run into the same folder must ask for --resume
    assert cli.main(_train_args(data, config, out, 8)) == 2


def test_data_errors_say_what_to_do(tmp_path, config, capsys):
    assert cli.main(_train_args(tmp_path / "nowhere", config, tmp_path / "run", 2)) == 2
    assert "cdgmvae prepare" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{")
    assert cli.main(_train_args(tmp_path / "bad", config, tmp_path / "run", 2)) == 2
    err = capsys.readouterr().err
    assert "not valid JSON" in err and err.count("\n") == 1
    assert cli.main(_train_args(tmp_path, config, tmp_path / "run", 2)) == 2
    assert "no manifest.json" in capsys.readouterr().err


def test_rho_hides_labels_deterministically_and_batches_mix(data):
    train, _ = load_prepared(data, TINY.bar_len)
    n_labelled = sum(p.labelled for p in train)
    assert 0 < n_labelled < len(train)
    hidden = hide_labels(train, 0.25, seed=1)
    assert sum(p.labelled for p in hidden) == round(0.25 * len(train))
    assert hidden == hide_labels(train, 0.25, seed=1)
    assert {p.id for p in hidden if p.labelled} != {p.id for p in hide_labels(train, 0.25, seed=2) if p.labelled}
    sampler = SegmentSampler(hidden, TINY.n_bars, 6, seed=0)
    for step in range(5):
        batch = sampler[step]
        known = batch.arousal >= 0
        assert 0 < int(known.sum()) < 6
        again = sampler[step].tensors()
        assert all(torch.equal(t, again[k]) for k, t in batch.tensors().items())
        assert batch.bar_mask[:, 0].all()
    assert not torch.equal(sampler[0].tokens, sampler[1].tokens)


def test_label_hiding_and_holdout_pick_the_same_files_wherever_the_data_was_prepared(tmp_path):
    # the same 16 EMOPIA clips (4 per quadrant), copied into two folders and prepared there: the piece ids
    # differ (they hash the absolute path), the pieces --rho keeps labelled and --holdout holds out must not
    clips = [path for quadrant in ("Q1", "Q2", "Q3", "Q4") for path in sorted(EMOPIA.glob(f"{quadrant}_*.mid"))[:4]]
    picks = []
    for folder in (tmp_path / "here" / "midis", tmp_path / "elsewhere" / "deeper" / "midis"):
        folder.mkdir(parents=True)
        for clip in clips:
            shutil.copy(clip, folder / clip.name)
        assert cli.main(["prepare", str(folder), "--out", str(folder.parent / "prepared"), "--workers", "1"]) == 0
        train, _ = load_prepared(folder.parent / "prepared", 128)
        kept, held = split_holdout(train, 0.25, seed=3)
        names = {p.id: Path(json_source).name for p, json_source in _sources(folder.parent / "prepared", train)}
        labelled = {names[p.id] for p in hide_labels(train, 0.5, seed=3) if p.labelled}
        picks.append(({p.id for p in train}, {names[p.id] for p in held}, labelled))
    (ids_here, held_here, labelled_here), (ids_there, held_there, labelled_there) = picks
    assert not ids_here & ids_there
    assert len(held_here) == 4 and held_here == held_there
    assert len(labelled_here) == 8 and labelled_here == labelled_there


def _sources(prepared: Path, pieces):
    """(piece, the source path its manifest entry names), read from the manifest independently of Piece."""
    source = {entry["id"]: entry["source"] for entry in json.loads((prepared / "manifest.json").read_text())["pieces"]}
    return [(p, source[p.id]) for p in pieces]


def test_holdout_is_stratified_disjoint_and_picks_the_selected_model(tmp_path, data, config):
    train, _ = load_prepared(data, TINY.bar_len)
    kept, held = split_holdout(train, 0.34, seed=0)
    assert len(held) == 4 and len(kept) + len(held) == len(train)
    assert {(p.arousal, p.valence) for p in held} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert not {p.id for p in held} & {p.id for p in kept}
    assert split_holdout(train, 0.34, seed=0) == (kept, held)
    assert {p.id for p in split_holdout(train, 0.34, seed=5)[1]} != {p.id for p in held}

    out = tmp_path / "run"
    # lr and steps chosen so that the held-out score rises after the first evaluation, ties later, and
    # peaks elsewhere on the validation split: a "best" never updated, updated on ties, taken from the
    # last evaluation or chosen on the validation split each picks another step
    assert cli.main(_train_args(data, config, out, 8, "--val-every", 2, "--holdout", 0.34, "--lr", "3e-3",
                                "--warmup", 1)) == 0
    held_scores, val_scores = _tb_mean_accuracy(out, "holdout"), _tb_mean_accuracy(out, "val")
    assert sorted(held_scores) == sorted(val_scores) == [2, 4, 6, 8]
    best_step = _first_best(held_scores)
    assert best_step != 2 and best_step != _last_best(held_scores), f"the fixture no longer tells: {held_scores}"
    assert _first_best(val_scores) != best_step, f"the fixture no longer tells: {val_scores}"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["selected"]["step"] == best_step
    assert summary["best_val"] == held_scores[best_step]
    assert json.loads((out / "selected" / "model.json").read_text())["step"] == best_step
    selected, _ = load_model(out / "selected")
    best, _ = load_model(out / "ckpt" / "best.json")
    assert all(torch.equal(a, b) for a, b in zip(selected.state_dict().values(), best.state_dict().values()))
    assert cli.main(_train_args(data, config, tmp_path / "bad", 2, "--holdout", 1.0)) == 2


def _tb_mean_accuracy(run: Path, group: str) -> dict[int, float]:
    """{step: mean of arousal and valence accuracy} as TensorBoard holds them for `group` (val or holdout)."""
    scores: dict[int, list[float]] = {}
    for event in (run / "tb").glob("events.out.tfevents.*"):
        acc = EventAccumulator(str(event))
        acc.Reload()
        for kind in ("acc_arousal", "acc_valence"):
            for e in acc.Scalars(f"{group}/{kind}"):
                scores.setdefault(e.step, []).append(e.value)
    assert all(len(pair) == 2 for pair in scores.values()), scores
    return {step: sum(pair) / 2 for step, pair in scores.items()}


def _first_best(scores: dict[int, float]) -> int:
    return min(step for step, score in scores.items() if score == max(scores.values()))


def _last_best(scores: dict[int, float]) -> int:
    return max(step for step, score in scores.items() if score == max(scores.values()))


def test_sigkill_then_resume_repeats_the_losses_of_an_uninterrupted_run(tmp_path, data, config):
    steps = 40
    def args(out):
        return [sys.executable, "-m", "cdgmvae", *_train_args(data, config, out, steps, "--ckpt-every", 5,
                                                              "--val-every", 10)]
    reference = tmp_path / "reference"
    subprocess.run(args(reference), check=True, env=_subprocess_env(), capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(args(killed), env=_subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / "ckpt" / "last.json"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    checkpoint_step = json.loads(last.read_text())["step"]
    assert checkpoint_step < steps
    with (killed / "log.jsonl").open("a") as log:
        log.write('{"step": 3')  # a line cut short by the kill
    before = (killed / "log.jsonl").read_text().splitlines()[:checkpoint_step]

    resumed = subprocess.run(args(killed) + ["--resume"], env=_subprocess_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    # the lines up to the checkpoint are kept as written (their tokens_per_s too): the run went on from there
    assert (killed / "log.jsonl").read_text().splitlines()[:checkpoint_step] == before
    drop = {"tokens_per_s"}
    want = [{k: v for k, v in e.items() if k not in drop} for e in _log(reference)]
    got = [{k: v for k, v in e.items() if k not in drop} for e in _log(killed)]
    assert [e["step"] for e in got] == list(range(1, steps + 1))
    assert got[checkpoint_step:] == want[checkpoint_step:]
    assert got == want
    assert load_model(killed)[0].state_dict().keys() == load_model(reference)[0].state_dict().keys()
    for (name, a), b in zip(load_model(killed)[0].state_dict().items(), load_model(reference)[0].state_dict().values()):
        assert torch.equal(a, b), name


def test_torchrun_two_cpu_processes_end_with_identical_weights(tmp_path, data, config):
    out = tmp_path / "ddp"
    cmd = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", "-m", "cdgmvae",
           *_train_args(data, config, out, 4, "--val-every", 100, "--ckpt-every", 100)]
    result = subprocess.run(cmd, env=_subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert len(summary["weights_sha256"]) == 2
    assert summary["weights_sha256"][0] == summary["weights_sha256"][1]
    assert summary["ranks_in_sync"]


@pytest.mark.skipif(not EMOPIA.is_dir(), reason="the bundled EMOPIA clips are missing")
def test_loss_falls_on_a_handful_of_emopia_clips(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    for path in sorted(EMOPIA.glob("Q*.mid"))[::150][:6]:
        shutil.copy(path, clips / path.name)
    assert cli.main(["prepare", str(clips), "--out", str(tmp_path / "data"), "--workers", "1", "--quiet"]) == 0
    config = write_config(tmp_path / "tiny.json", replace(TINY, bar_len=128, d_model=64, d_ff=128))
    out = tmp_path / "run"
    assert cli.main(["train", "--data", str(tmp_path / "data"), "--config", config, "--out", str(out),
                     "--steps", "60", "--batch", "4", "--lr", "3e-3", "--warmup", "5", "--threads", "1",
                     "--val-every", "1000", "--ckpt-every", "1000", "--log-every", "1"]) == 0
    rec = [entry["rec"] for entry in _log(out)]
    first, last = sum(rec[:5]) / 5, sum(rec[-5:]) / 5
    assert last < 0.7 * first, (first, last)


def test_posterior_learns_arousal_from_note_density(tmp_path):
    """End to end: in the fake data high-arousal bars are denser, so q(y|x) must learn arousal (valence
    is unrelated to the tokens there, so it is not asserted)."""
    data = write_fake_dataset(tmp_path / "data", n_train=40, n_val=20, n_unlabelled=0, seed=3)
    config = write_config(tmp_path / "tiny.json")
    out = tmp_path / "run"
    assert cli.main(["train", "--data", str(data), "--config", config, "--out", str(out), "--steps", "120",
                     "--batch", "8", "--lr", "2e-3", "--threads", "1", "--val-every", "120",
                     "--ckpt-every", "1000"]) == 0
    val = json.loads((out / "summary.json").read_text())["val"]
    assert val["acc_arousal"] >= 0.8, val


def _state(path: Path) -> dict:
    from safetensors.torch import load_file
    return load_file(str(path))


def test_init_from_loads_the_weights_with_a_fresh_optimizer_and_refuses_a_mismatch(tmp_path, data, config,
                                                                                   capsys):
    source = tmp_path / "source"
    assert cli.main(_train_args(data, config, source, 4, "--lr", "1e-3", "--warmup", "1")) == 0
    source_adam = json.loads((source / "ckpt" / "last.json").read_text())["optimizer"]["scalars"]
    assert {entry["step"] for entry in source_adam.values()} == {4.0}

    # from the source's model folder, at lr 0: the weights come out exactly as they went in
    still = tmp_path / "still"
    assert cli.main(_train_args(data, config, still, 1, "--lr", "0", "--init-from", source)) == 0
    before, after = _state(source / "model.safetensors"), _state(still / "model.safetensors")
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    summary = json.loads((still / "summary.json").read_text())
    assert summary["init_from"]["path"] == str(source / "model.json") and summary["init_from"]["step"] == 4
    assert "weights from" in capsys.readouterr().out

    # from a training checkpoint: its weights, but the optimizer and the lr warm-up start afresh
    moved = tmp_path / "moved"
    assert cli.main(_train_args(data, config, moved, 2, "--lr", "1e-3", "--warmup", "2",
                                "--init-from", source / "ckpt" / "last.json")) == 0
    header = json.loads((moved / "ckpt" / "last.json").read_text())
    assert {entry["step"] for entry in header["optimizer"]["scalars"].values()} == {2.0}
    assert header["init_from"]["step"] == 4
    assert _log(moved)[0]["lr"] == pytest.approx(1e-3 / 2)
    assert not torch.equal(_state(moved / "model.safetensors")["tok_emb.weight"], before["tok_emb.weight"])

    # another config, another vocabulary: one line each, nothing written
    capsys.readouterr()
    other = write_config(tmp_path / "other.json", replace(TINY, d_latent=4))
    assert cli.main(_train_args(data, other, tmp_path / "bad1", 1, "--init-from", source)) == 2
    err = capsys.readouterr().err
    assert "another model config" in err and "d_latent" in err and err.count("\n") == 1
    foreign = tmp_path / "foreign"
    shutil.copytree(source, foreign, ignore=shutil.ignore_patterns("ckpt", "tb", "selected"))
    header = json.loads((foreign / "model.json").read_text())
    (foreign / "model.json").write_text(json.dumps({**header, "vocab_fingerprint": "0000000000000000"}))
    assert cli.main(_train_args(data, config, tmp_path / "bad2", 1, "--init-from", foreign)) == 2
    err = capsys.readouterr().err
    assert "another vocabulary" in err and err.count("\n") == 1
    assert not (tmp_path / "bad1" / "ckpt").exists() and not (tmp_path / "bad2" / "ckpt").exists()


TERMS = ("loss", "rec", "kl_z_r", "kl_z_k", "kl_y_a", "kl_y_v", "cls_a", "cls_v", "dis", "dis_adv", "grad_norm",
         "labelled_fraction")


def _tb_steps(run: Path, tag: str) -> list[int]:
    steps = []
    for event in (run / "tb").glob("events.out.tfevents.*"):
        acc = EventAccumulator(str(event))
        acc.Reload()
        steps += [e.step for e in acc.Scalars(tag)] if tag in acc.Tags()["scalars"] else []
    return sorted(steps)


def test_log_every_writes_the_mean_of_each_interval_and_ends_an_interval_at_each_checkpoint(tmp_path, data, config):
    every = tmp_path / "every"
    assert cli.main(_train_args(data, config, every, 8, "--ckpt-every", 100, "--val-every", 100)) == 0
    per_step = {e["step"]: e for e in _log(every)}
    spaced = tmp_path / "spaced"
    assert cli.main(_train_args(data, config, spaced, 8, "--ckpt-every", 4, "--val-every", 100,
                                "--log-every", 3)) == 0
    log = _log(spaced)
    assert [e["step"] for e in log] == [3, 4, 6, 8]       # multiples of 3, checkpoints at 4 and 8, the last step
    assert _tb_steps(spaced, "train/loss") == [3, 4, 6, 8]
    assert set(log[0]) == set(per_step[1])                # the same fields as a line per step
    for entry, interval in zip(log, [(1, 2, 3), (4,), (5, 6), (7, 8)]):
        for term in TERMS:
            want = sum(per_step[s][term] for s in interval) / len(interval)
            assert entry[term] == pytest.approx(want, rel=1e-9, abs=1e-12), (entry["step"], term)
        for at_step in ("lr", "beta", "mean_distance_r", "mean_distance_k"):
            assert entry[at_step] == per_step[entry["step"]][at_step], (entry["step"], at_step)
    summary = json.loads((spaced / "summary.json").read_text())
    assert summary["final"]["loss"] == pytest.approx((per_step[7]["loss"] + per_step[8]["loss"]) / 2, rel=1e-9)


def test_time_budget_stops_cleanly_at_a_log_step_and_resume_finishes_the_same_run(tmp_path, data, config, capsys):
    options = ("--ckpt-every", 100, "--val-every", 100, "--log-every", 2)
    reference = tmp_path / "reference"
    assert cli.main(_train_args(data, config, reference, 6, *options)) == 0

    budget = tmp_path / "budget"
    assert cli.main(_train_args(data, config, budget, 6, *options, "--time-budget-s", 1e-6)) == 0
    out = capsys.readouterr().out
    assert "step 2 of 6" in out and "stopped by the time budget" in out
    summary = json.loads((budget / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["steps_planned"] == 6 and summary["stopped_by_time_budget"]
    assert json.loads((budget / "model.json").read_text())["step"] == 2
    assert json.loads((budget / "ckpt" / "last.json").read_text())["step"] == 2
    assert set(summary["val"]) == {"acc_arousal", "acc_valence", "acc_quadrant"}   # validated at its last step
    assert [e["step"] for e in _log(budget)] == [2]

    assert cli.main(_train_args(data, config, budget, 6, *options, "--resume")) == 0
    assert not json.loads((budget / "summary.json").read_text())["stopped_by_time_budget"]
    drop = {"tokens_per_s"}
    assert ([{k: v for k, v in e.items() if k not in drop} for e in _log(budget)]
            == [{k: v for k, v in e.items() if k not in drop} for e in _log(reference)])
    got, want = load_model(budget)[0].state_dict(), load_model(reference)[0].state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)


def _last_checkpoint(run: Path) -> tuple[dict, dict]:
    """(the header of ckpt/last.json, its tensors: the weights under model.*, Adam's moments under optim.*)."""
    header = json.loads((run / "ckpt" / "last.json").read_text())
    return header, _state(run / "ckpt" / header["weights"])


def test_resume_continues_from_its_checkpoint_and_never_repeats_a_logged_step(tmp_path, data, config):
    """A resumed run starts at the step after its checkpoint, with the checkpoint's weights, Adam state,
    schedules and RNG: it keeps the lines logged before, writes no step twice, and its last training
    checkpoint (weights, moments and Adam's step counts) is the uninterrupted run's."""
    options = ("--ckpt-every", 100, "--val-every", 100, "--log-every", 3)
    reference = tmp_path / "reference"
    assert cli.main(_train_args(data, config, reference, 6, *options)) == 0
    run = tmp_path / "run"
    assert cli.main(_train_args(data, config, run, 6, *options, "--time-budget-s", 1e-6)) == 0
    assert _last_checkpoint(run)[0]["step"] == 3
    # mark the line logged before the checkpoint: a resume keeps it as it is, a restart would write it again
    (line,) = _log(run)
    (run / "log.jsonl").write_text(json.dumps({**line, "tokens_per_s": -1.0}) + "\n")

    assert cli.main(_train_args(data, config, run, 6, *options, "--resume")) == 0
    log, want = _log(run), _log(reference)
    assert [e["step"] for e in log] == [3, 6] and log[0]["tokens_per_s"] == -1.0
    assert _tb_steps(run, "train/loss") == [3, 6]     # both processes' event files together: each step once
    assert {**log[1], "tokens_per_s": 0} == {**want[1], "tokens_per_s": 0}   # lr, beta, losses at step 6
    (got_header, got), (want_header, expected) = _last_checkpoint(run), _last_checkpoint(reference)
    assert got_header["step"] == 6
    assert got_header["optimizer"]["scalars"] == want_header["optimizer"]["scalars"]   # Adam's step: 6 each
    assert {entry["step"] for entry in got_header["optimizer"]["scalars"].values()} == {6.0}
    assert got.keys() == expected.keys() and any(k.startswith("optim.") for k in got)
    for name, tensor in expected.items():
        assert torch.equal(got[name], tensor), name


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_bf16_without_cuda_is_refused_in_one_line(tmp_path, data, config, capsys):
    assert cli.main(_train_args(data, config, tmp_path / "run", 2, "--precision", "bf16")) == 2
    err = capsys.readouterr().err
    assert "--precision bf16 needs a CUDA GPU" in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
