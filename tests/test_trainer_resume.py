"""The trainer's resume and checkpoint selection, step by step on a tiny model: what a resumed run starts from
(step, best score, weights, Adam's moments), what the run log keeps, what a checkpoint records, and which
checkpoint becomes out/selected. Expectations are the values written in by hand, the weights as saved, and
file digests computed here with hashlib.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from cdgmvae.engine.checkpoint import load_model, save_model
from cdgmvae.engine.errors import UserError
from cdgmvae.training import trainer
from cdgmvae.training.dataset import load_prepared, whole_piece_batches

from tests.helpers_model import TINY, one_thread, write_fake_dataset


@pytest.fixture(autouse=True)
def _one_thread():
    yield from one_thread()


def options(tmp_path: Path, **changes) -> trainer.TrainOptions:
    return replace(trainer.TrainOptions(data=str(tmp_path / "data"), out=str(tmp_path / "run"), config="tiny",
                                        steps=10, batch=2, seed=3), **changes)


def marked_state(opts: trainer.TrainOptions, mark: float) -> trainer.State:
    """A fresh state whose weights are all shifted by `mark` and whose Adam has taken one step."""
    state = trainer.build_state(opts, TINY, trainer.Dist(), Path(opts.out) / "ckpt")
    with torch.no_grad():
        for p in state.model.parameters():
            p.add_(mark)
    loss = sum(p.float().pow(2).sum() for p in state.model.parameters())
    loss.backward()
    state.optimizer.step()
    return state


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_starts_from_the_checkpoint_step_weights_best_and_optimizer(tmp_path):
    opts = options(tmp_path)
    ckpt = Path(opts.out) / "ckpt"
    state = marked_state(opts, 0.5)
    state.best, state.init = 0.625, {"path": "elsewhere/model.json", "step": 7, "weights_sha256": "ab"}
    trainer.checkpoint(ckpt, ["last"], state, 4, opts, {"acc_arousal": 0.5}, {})
    saved_weights, saved_moments = weights(state.model), [s["exp_avg_sq"].clone()
                                                         for s in state.optimizer.state.values()]

    resumed = trainer.build_state(replace(opts, resume=True), TINY, trainer.Dist(), ckpt)
    assert (resumed.start_step, resumed.best, resumed.init) == (4, 0.625, state.init)
    assert same(weights(resumed.model), saved_weights)
    moments = [s["exp_avg_sq"] for s in resumed.optimizer.state.values()]
    assert len(moments) == len(saved_moments) and all(torch.equal(a, b) for a, b in zip(moments, saved_moments))
    fresh = trainer.build_state(options(tmp_path / "other"), TINY, trainer.Dist(), tmp_path / "other" / "ckpt")
    assert not same(weights(fresh.model), saved_weights) and fresh.start_step == 0 and fresh.best is None
    assert fresh.init is None and not fresh.optimizer.state
    # one step more than the checkpoint is enough to go on; as many or fewer is refused
    assert trainer.build_state(replace(opts, resume=True, steps=5), TINY, trainer.Dist(), ckpt).start_step == 4
    with pytest.raises(UserError) as error:
        trainer.build_state(replace(opts, resume=True, steps=4), TINY, trainer.Dist(), ckpt)
    assert str(error.value) == "the checkpoint is at step 4; pass --steps larger than that to train on"


def test_resume_without_a_checkpoint_and_a_restart_over_one_are_refused(tmp_path):
    opts = options(tmp_path)
    ckpt = Path(opts.out) / "ckpt"
    with pytest.raises(UserError) as error:
        trainer.build_state(replace(opts, resume=True), TINY, trainer.Dist(), ckpt)
    assert str(error.value) == f"--resume: {ckpt}/last.json does not exist; start without --resume"
    trainer.checkpoint(ckpt, ["last"], marked_state(opts, 0.1), 2, opts, {}, {})
    with pytest.raises(UserError) as error:
        trainer.build_state(opts, TINY, trainer.Dist(), ckpt)
    assert str(error.value) == (f"{ckpt.parent} already holds a run; pass --resume to continue it or choose a "
                                "new --out")


def test_resume_refuses_changed_options_and_names_each(tmp_path):
    header = {"train_options": {"config": "tiny", "seed": 3, "batch": 2, "rho": None, "holdout": 0.0,
                                "init_from": None, "lr": 1.0}}
    trainer._check_resume(header, options(tmp_path, lr=0.5, steps=99))   # lr and steps may change
    trainer._check_resume({}, options(tmp_path, seed=9))                  # nothing saved: nothing to compare
    with pytest.raises(UserError) as error:
        trainer._check_resume(header, options(tmp_path, seed=4, holdout=0.1))
    assert str(error.value) == ("--resume with different seed (checkpoint 3, now 4), holdout (checkpoint 0.0, "
                                "now 0.1); use the same options or a new --out")
    for name, value in (("config", "small"), ("batch", 3), ("rho", 0.5), ("init_from", "x")):
        with pytest.raises(UserError, match=f"--resume with different {name} "):
            trainer._check_resume(header, options(tmp_path, **{name: value}))
    opts = options(tmp_path)
    trainer.checkpoint(Path(opts.out) / "ckpt", ["last"], marked_state(opts, 0.1), 2, opts, {}, {})
    with pytest.raises(UserError, match="different batch"):
        trainer.build_state(replace(opts, resume=True, batch=8), TINY, trainer.Dist(), Path(opts.out) / "ckpt")


def test_init_from_takes_the_weights_records_their_digest_and_keeps_adam_fresh(tmp_path):
    source = marked_state(options(tmp_path), 0.25).model
    model_json = save_model(source, tmp_path / "init", step=42)
    digest = hashlib.sha256((tmp_path / "init" / "model.safetensors").read_bytes()).hexdigest()
    opts = options(tmp_path, init_from=str(tmp_path / "init"))
    state = trainer.build_state(opts, TINY, trainer.Dist(), Path(opts.out) / "ckpt")
    assert state.init == {"path": str(model_json), "step": 42, "weights_sha256": digest}
    assert same(weights(state.model), weights(source))
    assert state.start_step == 0 and state.best is None and not state.optimizer.state


def test_a_file_limit_too_small_for_one_tensor_is_refused_before_training(tmp_path):
    opts = options(tmp_path, max_file_mb=0.001)
    with pytest.raises(UserError):
        trainer.build_state(opts, TINY, trainer.Dist(), Path(opts.out) / "ckpt")
    trainer.build_state(options(tmp_path, max_file_mb=64), TINY, trainer.Dist(), Path(opts.out) / "ckpt")


def test_checkpoint_header_records_what_a_resume_needs(tmp_path):
    opts = options(tmp_path, holdout=0.2)
    state = marked_state(opts, 0.1)
    state.best, state.init = 0.75, None
    val, held = {"acc_arousal": 0.5, "acc_valence": 1.0}, {"acc_arousal": 0.25}
    ckpt = Path(opts.out) / "ckpt"
    trainer.checkpoint(ckpt, ["last", "best"], state, 6, opts, val, held)
    for tag in ("last", "best"):
        header = json.loads((ckpt / f"{tag}.json").read_text())
        assert header["step"] == 6 and header["train_options"] == json.loads(json.dumps(asdict(opts)))
        assert (header["best_val"], header["val"], header["holdout"], header["init_from"]) == (0.75, val, held, None)
        assert header["sampler"] == {"kind": "per-step", "next_step": 6}
        assert header["rng"] == {"kind": "per-step", "seed": 3}


def test_selected_is_the_best_checkpoint_not_the_last(tmp_path):
    opts = options(tmp_path)
    out, ckpt = Path(opts.out), Path(opts.out) / "ckpt"
    best = marked_state(opts, 0.3)
    trainer.checkpoint(ckpt, ["best", "last"], best, 5, opts, {"acc_valence": 0.5}, {"acc_arousal": 0.75})
    best_weights = weights(best.model)
    later = marked_state(options(tmp_path / "later"), -0.3)
    trainer.checkpoint(ckpt, ["last"], later, 9, opts, {}, {})
    summary = trainer._save_selected(ckpt, out, None)
    assert summary == {"step": 5, "holdout": {"acc_arousal": 0.75}, "val": {"acc_valence": 0.5}}
    model, _ = load_model(out / "selected")
    assert same(weights(model), best_weights)
    assert json.loads((out / "selected" / "model.json").read_text())["step"] == 5


def test_run_log_of_a_resume_keeps_the_lines_up_to_its_checkpoint(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    lines = [json.dumps({"step": s, "loss": s / 10}) for s in range(1, 7)]
    (out / "log.jsonl").write_text("\n".join(lines[:3] + ['{"loss": 1}', "[3]", '{"step": 4, "lo'] + lines[3:])
                                   + "\n")
    log = trainer.RunLog(out, start_step=3)
    log.write(4, {"loss": 0.5}, "train")
    log.write(4, {"acc_arousal": 1.0}, "val")
    log.close()
    assert (out / "log.jsonl").read_text().splitlines() == lines[:3] + ['{"step": 4, "loss": 0.5}']
    (tmp_path / "new").mkdir()
    fresh = trainer.RunLog(tmp_path / "new", start_step=0)
    fresh.write(1, {"loss": 2.0}, "train")
    fresh.close()
    assert (tmp_path / "new" / "log.jsonl").read_text() == '{"step": 1, "loss": 2.0}\n'


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    root = write_fake_dataset(tmp_path_factory.mktemp("data"), n_train=12, n_val=6, seed=1)
    train, val = load_prepared(root, TINY.bar_len)
    # held-out candidates: the pieces of one quadrant each; a model's score differs on at least one of them
    # from its score on the mixed validation split
    quadrants = [[p for p in train if (p.arousal, p.valence) == q] for q in ((0, 0), (0, 1), (1, 0), (1, 1))]
    assert all(quadrants)
    return whole_piece_batches([p for p in val if p.labelled], 4), [whole_piece_batches(q, 4) for q in quadrants]


def test_evaluate_chooses_on_the_held_out_pieces_when_there_are_some(batches):
    val_batches, candidates = batches
    torch.manual_seed(0)
    model = trainer.CDGMVAE(TINY)
    val = trainer.validate(model, val_batches, torch.device("cpu"))
    for held_batches in candidates:
        held = trainer.validate(model, held_batches, torch.device("cpu"))
        if (val["acc_arousal"] + val["acc_valence"]) != (held["acc_arousal"] + held["acc_valence"]):
            break
    else:
        raise AssertionError("every quadrant scores as the validation split does")
    got_val, got_held, score = trainer.evaluate(model, val_batches, held_batches, torch.device("cpu"))
    assert (got_val, got_held) == (val, held)
    assert score == pytest.approx((held["acc_arousal"] + held["acc_valence"]) / 2)
    got_val, got_held, score = trainer.evaluate(model, val_batches, [], torch.device("cpu"))
    assert got_held == {} and score == pytest.approx((val["acc_arousal"] + val["acc_valence"]) / 2)
    assert trainer.evaluate(model, [], [], torch.device("cpu"))[2] == 0.0


def test_a_file_limit_shards_checkpoints_selected_weights_and_records_each_init_digest(tmp_path):
    opts = options(tmp_path, max_file_mb=0.15)   # 157 kB: the tiny model takes several files
    out, ckpt = Path(opts.out), Path(opts.out) / "ckpt"
    state = marked_state(opts, 0.2)
    trainer.checkpoint(ckpt, ["best", "last"], state, 3, opts, {}, {})
    header = json.loads((ckpt / "last.json").read_text())
    assert len(header["shards"]) > 1
    assert all((ckpt / s["weights"]).stat().st_size <= 0.15 * 2**20 for s in header["shards"])
    trainer._save_selected(ckpt, out, opts.max_file_bytes())
    selected = json.loads((out / "selected" / "model.json").read_text())
    assert len(selected["shards"]) > 1
    digests = [hashlib.sha256((out / "selected" / s["weights"]).read_bytes()).hexdigest() for s in selected["shards"]]
    state = trainer.build_state(options(tmp_path / "next", init_from=str(out / "selected")), TINY, trainer.Dist(),
                                tmp_path / "next" / "ckpt")
    assert state.init["weights_sha256"] == digests


def tensorboard_steps(folder: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(folder))
    events.Reload()
    return [event.step for event in events.Scalars(tag)]


def test_tensorboard_of_a_resume_drops_the_steps_after_its_checkpoint(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    log = trainer.RunLog(out, start_step=0)
    for step in range(1, 7):
        log.write(step, {"loss": float(step)}, "train")
    log.close()
    time.sleep(1.1)   # TensorBoard names event files by the second: the resume's file must come after
    log = trainer.RunLog(out, start_step=3)
    log.write(4, {"loss": 40.0}, "train")
    log.close()
    assert tensorboard_steps(out / "tb", "train/loss") == [1, 2, 3, 4]
