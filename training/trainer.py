"""The training loop: one CPU, one GPU, or many processes under torchrun (DistributedDataParallel).

Reproducibility: batch `step` is a pure function of (seed, rank, step) (training/dataset.py) and the torch
RNG (dropout, z sampling) is reseeded from (seed, rank, step) before every update, so the sampler's and the
RNG's whole state is the step number, and --resume repeats exactly the losses of an uninterrupted run.

Logging: the loss terms stay on the device and are summed there; every --log-every steps (and at every
checkpoint and the last step) one copy to the host gives their means since the previous line, so the steps in
between never wait for the device. A checkpoint step always ends a log interval, so a resumed run writes the
same lines as an uninterrupted one.

Time budget: with --time-budget-s the run stops at the first log step from which the next interval, a
validation and a checkpoint would no longer fit, and ends there as at its last step (validation, checkpoint,
final weights, summary); --resume continues it.

Run folder:  log.jsonl (one line of loss terms per log step), tb/ (TensorBoard), ckpt/ (last and best
training checkpoints), model.safetensors + model.json (final weights), summary.json. With --holdout, "best"
is chosen on pieces held out of the training split (never on the validation split) and its weights are
also written as selected/model.safetensors + selected/model.json. With --max-file-mb every weights file is
at most that size (sharded, engine/checkpoint.py).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from cdgmvae.engine.checkpoint import (
    check_file_limit,
    file_entries,
    load_checkpoint,
    load_model,
    load_weights,
    read_header,
    save_checkpoint,
    save_model,
    weights_files,
    write_json,
)
from cdgmvae.engine.config import ModelConfig, preset
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.model import CDGMVAE
from cdgmvae.engine.vocab import PAD
from cdgmvae.training.batch import Batch
from cdgmvae.training.dataset import (
    Piece,
    SegmentSampler,
    hide_labels,
    load_prepared,
    split_holdout,
    whole_piece_batches,
)
from cdgmvae.training.losses import LossSettings, beta_at, total_loss
from cdgmvae.training.schedule import default_warmup, lr_at
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from cdgmvae import engine as engine_package

# Options that must match for --resume to continue the same run.
RESUME_MUST_MATCH = ("config", "seed", "batch", "rho", "holdout", "init_from")
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class TrainOptions:
    data: str
    out: str
    config: str = "small"
    steps: int = 2000
    batch: int = 16
    rho: float | None = None
    holdout: float = 0.0
    alpha: float = 0.2
    mi: bool = True
    resume: bool = False
    init_from: str | None = None    # start from these weights, with a fresh optimizer and schedules
    seed: int = 0
    lr: float = 1e-4
    warmup: int | None = None
    beta_max: float = 1.0
    beta_warmup: int | None = None
    gamma: float = 1.0
    delta: float = 1.0
    adversary: float = 0.1
    token_dropout: float = 0.0
    grad_clip: float = 1.0
    val_every: int = 200
    ckpt_every: int = 200
    log_every: int = 10
    precision: str = "auto"         # auto: bf16 autocast on CUDA, fp32 on the CPU
    time_budget_s: float | None = None
    max_file_mb: float | None = None
    workers: int = 0
    threads: int | None = None

    def loss_settings(self) -> LossSettings:
        beta_warmup = self.beta_warmup if self.beta_warmup is not None else self.steps // 4
        return LossSettings(beta_max=self.beta_max, beta_warmup=beta_warmup, gamma=self.gamma,
                            delta=self.delta, alpha=self.alpha, mi=self.mi)

    def max_file_bytes(self) -> int | None:
        return None if self.max_file_mb is None else int(self.max_file_mb * 2**20)


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Dist:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; gloo on CPU, nccl on GPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if world > 1:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(int(os.environ.get("RANK", "0")), world, local_rank, device)


def step_seed(seed: int, rank: int, step: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{rank}:{step}".encode()).digest()[:8], "big") >> 1


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of --precision on `device` (None: fp32). bf16 needs CUDA: CPU autocast would be
    slower than fp32 on most CPUs, and a GPU recipe that quietly runs on the CPU would waste its budget."""
    if precision not in PRECISIONS:
        raise UserError(f"--precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "bf16" and device.type != "cuda":
        raise UserError(f"--precision bf16 needs a CUDA GPU, and this process runs on {device.type} "
                        f"(torch {torch.__version__} sees none); use --precision fp32 there")
    return torch.bfloat16 if precision == "bf16" or (precision == "auto" and device.type == "cuda") else None


@torch.no_grad()
def validate(model: CDGMVAE, batches: list[Batch], device: torch.device) -> dict[str, float]:
    """Accuracy of arousal, valence and quadrant from q(y|x) (z = mu) over whole pieces."""
    was_training = model.training
    model.eval()
    hits = {"arousal": 0, "valence": 0, "quadrant": 0}
    counts = dict.fromkeys(hits, 0)
    for batch in batches:
        batch = batch.to(device)
        log_q_a, log_q_v = model.infer_emotion(batch.tokens, batch.bar_mask)
        right = {}
        for name, log_q, labels in (("arousal", log_q_a, batch.arousal), ("valence", log_q_v, batch.valence)):
            known = labels >= 0
            right[name] = (log_q.argmax(-1) == labels) & known
            hits[name] += int(right[name].sum())
            counts[name] += int(known.sum())
        hits["quadrant"] += int((right["arousal"] & right["valence"]).sum())
        counts["quadrant"] += int(((batch.arousal >= 0) & (batch.valence >= 0)).sum())
    model.train(was_training)
    return {f"acc_{k}": hits[k] / counts[k] for k in hits if counts[k]}


def weights_digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for _, p in sorted(model.state_dict().items()):
        h.update(p.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def code_digest() -> str:
    """sha256 of the source that decides what a run trains: every .py file of cdgmvae.engine and
    cdgmvae.training, by path and content. A run recorded under another digest was trained by other code,
    so `cdgmvae evaluate` trains it again instead of reusing it."""
    h = hashlib.sha256()
    for package in (Path(engine_package.__file__).parent, Path(__file__).parent):
        for path in sorted(package.glob("*.py")):
            h.update(f"{package.name}/{path.name}\0".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def gather_digests(model: torch.nn.Module, ctx: Dist) -> list[str]:
    """Every rank's weights digest (after DDP they must all be equal)."""
    digest = weights_digest(model)
    if ctx.world == 1:
        return [digest]
    mine = torch.tensor(list(bytes.fromhex(digest)), dtype=torch.uint8, device=ctx.device)
    everyone = [torch.empty_like(mine) for _ in range(ctx.world)]
    dist.all_gather(everyone, mine)
    return [bytes(t.cpu().tolist()).hex() for t in everyone]


class RunLog:
    """Rank 0's JSONL (one line per log step) and TensorBoard scalars."""

    def __init__(self, out: Path, start_step: int):
        self.path = out / "log.jsonl"
        if self.path.exists():  # a resumed run rewrites the steps after its checkpoint
            kept = [line for line in self.path.read_text().splitlines() if self._step(line) <= start_step]
            self.path.write_text("".join(line + "\n" for line in kept))
        self.file = self.path.open("a")
        from torch.utils.tensorboard import SummaryWriter  # heavy import, rank 0 only
        self.tb = SummaryWriter(str(out / "tb"), purge_step=start_step + 1 if start_step else None)

    @staticmethod
    def _step(line: str) -> float:
        """A line's step; a line cut short by a kill counts as after any checkpoint."""
        try:
            return json.loads(line)["step"]
        except (json.JSONDecodeError, KeyError, TypeError):
            return float("inf")

    def write(self, step: int, scalars: dict[str, float], group: str) -> None:
        for name, value in scalars.items():
            self.tb.add_scalar(f"{group}/{name}", value, step)
        if group == "train":
            self.file.write(json.dumps({"step": step, **scalars}) + "\n")
            self.file.flush()

    def close(self) -> None:
        self.file.close()
        self.tb.close()


class TermMeter:
    """Running sums of a step's loss terms and gradient norm, on the device, between two log lines.

    `add` queues a few device operations and never waits for the device; `means` copies the sums to the host
    once (the interval's only device-to-host sync) and starts a new interval. Float64 sums, so a one-step
    interval gives the float32 term exactly."""

    def __init__(self):
        self.names: list[str] = []
        self.sums: Tensor | None = None
        self.labelled = 0.0    # host-side: the fraction comes from the batch before it goes to the device
        self.count = 0

    def add(self, terms: dict[str, Tensor], grad_norm: Tensor, labelled_fraction: float) -> None:
        self.names = list(terms)
        values = torch.stack([*terms.values(), grad_norm.to(torch.float32)]).double()
        self.sums = values if self.sums is None else self.sums + values
        self.labelled += labelled_fraction
        self.count += 1

    def means(self) -> tuple[dict[str, float], float, float]:
        """(mean loss terms, mean gradient norm, mean labelled fraction) since the last call."""
        *terms, grad_norm = (self.sums / self.count).tolist()
        result = dict(zip(self.names, terms)), grad_norm, self.labelled / self.count
        self.sums, self.labelled, self.count = None, 0.0, 0
        return result


class TimeBudget:
    """Stop while the rest still fits: at a check, stop if the next interval of steps plus the measured cost
    of the run's end (a validation and a checkpoint) would pass the budget. Rank 0 decides for all ranks."""

    def __init__(self, seconds: float | None, ctx: Dist):
        self.seconds, self.ctx = seconds, ctx
        self.started = self.last_check = time.monotonic()
        self.finish_s = 0.0    # the longest validation + checkpoint seen so far

    def note_finish_cost(self, seconds: float) -> None:
        self.finish_s = max(self.finish_s, seconds)

    def spent(self) -> bool:
        if self.seconds is None:
            return False
        now = time.monotonic()
        interval, self.last_check = now - self.last_check, now
        stop = now - self.started + interval + self.finish_s >= self.seconds
        if self.ctx.world == 1:
            return stop
        flag = torch.tensor([int(stop)], dtype=torch.int32, device=self.ctx.device)
        dist.broadcast(flag, 0)
        return bool(flag.item())


def _check_resume(header: dict, opts: TrainOptions) -> None:
    saved = header.get("train_options", {})
    changed = [f"{k} (checkpoint {saved.get(k)!r}, now {getattr(opts, k)!r})"
               for k in RESUME_MUST_MATCH if k in saved and saved[k] != getattr(opts, k)]
    if changed:
        raise UserError(f"--resume with different {', '.join(changed)}; use the same options or a new --out")


def _check_options(opts: TrainOptions) -> None:
    if opts.steps < 1 or opts.batch < 1:
        raise UserError("--steps and --batch must be at least 1")
    if min(opts.log_every, opts.val_every, opts.ckpt_every) < 1:
        raise UserError("--log-every, --val-every and --ckpt-every must be at least 1")
    if not 0.0 <= opts.token_dropout < 1.0:
        raise UserError(f"--token-dropout must be in [0, 1), got {opts.token_dropout}")
    if opts.time_budget_s is not None and opts.time_budget_s <= 0:
        raise UserError(f"--time-budget-s must be positive, got {opts.time_budget_s}")
    if opts.max_file_mb is not None and opts.max_file_mb <= 0:
        raise UserError(f"--max-file-mb must be positive, got {opts.max_file_mb}")


def _accuracies_text(accuracies: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.3f}" for name, value in accuracies.items())


def _save_selected(ckpt_dir: Path, out: Path, max_file_bytes: int | None) -> dict:
    """The checkpoint chosen on the held-out pieces, as inference weights in out/selected/."""
    header = read_header(ckpt_dir / "best.json")
    model, _ = load_model(ckpt_dir / "best.json")
    save_model(model, out / "selected", header["step"], max_file_bytes=max_file_bytes)
    return {"step": header["step"], "holdout": header.get("holdout", {}), "val": header.get("val", {})}


@dataclass
class Data:
    train: list[Piece]
    val: list[Piece]      # the validation split's labelled pieces
    held: list[Piece]     # labelled training pieces held out to pick the best checkpoint (--holdout)


def load_data(opts: TrainOptions, cfg: ModelConfig) -> Data:
    train_pieces, val_pieces = load_prepared(opts.data, cfg.bar_len)
    val_pieces = [p for p in val_pieces if p.labelled]  # validation measures q(y|x): unlabelled songs count nothing
    train_pieces, held_pieces = split_holdout(train_pieces, opts.holdout, opts.seed)
    return Data(hide_labels(train_pieces, opts.rho, opts.seed), val_pieces, held_pieces)


@dataclass
class State:
    """What a run starts from: a fresh model, --init-from weights, or a --resume checkpoint."""
    model: CDGMVAE
    optimizer: torch.optim.Optimizer
    start_step: int = 0
    best: float | None = None     # the best validation score so far (mean of arousal and valence accuracy)
    init: dict | None = None      # where --init-from took the weights


def build_state(opts: TrainOptions, cfg: ModelConfig, ctx: Dist, ckpt_dir: Path) -> State:
    torch.manual_seed(opts.seed)
    model = CDGMVAE(cfg).to(ctx.device)
    state = State(model, torch.optim.Adam(model.parameters(), lr=opts.lr))
    if opts.resume:
        if not (ckpt_dir / "last.json").is_file():
            raise UserError(f"--resume: {ckpt_dir}/last.json does not exist; start without --resume")
        header = load_checkpoint(ckpt_dir / "last.json", model, state.optimizer, cfg)
        _check_resume(header, opts)
        state.start_step, state.best, state.init = header["step"], header.get("best_val"), header.get("init_from")
    elif (ckpt_dir / "last.json").exists():
        raise UserError(f"{ckpt_dir.parent} already holds a run; pass --resume to continue it or choose a new --out")
    elif opts.init_from:
        # weights only: the optimizer above stays fresh and the lr and beta schedules start at step 0
        source, header = load_weights(opts.init_from, model, cfg)
        digests = [entry["weights_sha256"] for entry in file_entries(header)]
        state.init = {"path": str(source), "step": header["step"],
                      "weights_sha256": digests[0] if len(digests) == 1 else digests}
    # a checkpoint's largest tensors are the parameters and Adam's moments of the same shape
    check_file_limit({f"optim.{k}.exp_avg_sq": v for k, v in model.state_dict().items()}, opts.max_file_bytes())
    if state.start_step >= opts.steps:
        raise UserError(f"the checkpoint is at step {state.start_step}; pass --steps larger than that to train on")
    return state


def evaluate(model: CDGMVAE, val_batches: list[Batch], held_batches: list[Batch],
             device: torch.device) -> tuple[dict, dict, float]:
    """(validation accuracies, held-out accuracies, the score a checkpoint is chosen on): the mean of arousal
    and valence accuracy on the held-out pieces, or on the validation split without --holdout."""
    val = validate(model, val_batches, device)
    held = validate(model, held_batches, device)
    chosen_on = held if held_batches else val
    return val, held, (chosen_on.get("acc_arousal", 0.0) + chosen_on.get("acc_valence", 0.0)) / 2


def checkpoint(ckpt_dir: Path, tags: list[str], state: State, step: int, opts: TrainOptions, val: dict,
               held: dict) -> None:
    save_checkpoint(ckpt_dir, tags, state.model, state.optimizer, step,
                    {"train_options": asdict(opts), "best_val": state.best, "val": val, "holdout": held,
                     "init_from": state.init, "sampler": {"kind": "per-step", "next_step": step},
                     "rng": {"kind": "per-step", "seed": opts.seed}},
                    max_file_bytes=opts.max_file_bytes())


def train(opts: TrainOptions) -> dict:
    """Train CDGMVAE on the prepared dataset opts.data into the run folder opts.out (layout at the top of
    this module), on the CPU, one GPU, or every process of a torchrun launch (DistributedDataParallel).
    opts.steps counts optimizer updates of opts.batch segments (per process); the loss is training/losses.py's
    (docs/ARCHITECTURE.md, *The loss*). Returns the summary written to summary.json (steps, world size,
    each rank's weight digest); {} on ranks other than 0. Raises UserError in one line for a missing or
    stale dataset, an --out that already holds a run (without resume), a resume whose options differ, a
    mismatched --init-from, or bf16 without CUDA.
    """
    ctx = setup_distributed()
    try:
        return _train(opts, ctx)
    finally:
        if ctx.world > 1:
            dist.destroy_process_group()


def _train(opts: TrainOptions, ctx: Dist) -> dict:
    if ctx.device.type == "cpu":
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        torch.set_num_threads(opts.threads or max(1, (os.cpu_count() or 1) // local_world))
    _check_options(opts)
    budget = TimeBudget(opts.time_budget_s, ctx)
    amp_dtype = autocast_dtype(opts.precision, ctx.device)
    cfg = preset(opts.config)
    data = load_data(opts, cfg)
    settings = opts.loss_settings()
    warmup = opts.warmup if opts.warmup is not None else default_warmup(opts.steps)
    out, ckpt_dir = Path(opts.out), Path(opts.out) / "ckpt"
    state = build_state(opts, cfg, ctx, ckpt_dir)
    model, optimizer = state.model, state.optimizer

    ddp = DistributedDataParallel(model, broadcast_buffers=False) if ctx.world > 1 else model
    sampler = SegmentSampler(data.train, cfg.n_bars, opts.batch, opts.seed, ctx.rank)
    loader = torch.utils.data.DataLoader(sampler, batch_size=None, sampler=range(state.start_step, opts.steps),
                                         num_workers=opts.workers, pin_memory=ctx.device.type == "cuda")
    val_batches = whole_piece_batches(data.val, opts.batch) if ctx.main else []
    held_batches = whole_piece_batches(data.held, opts.batch) if ctx.main else []
    log = None
    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)
        log = RunLog(out, state.start_step)
        _print_start(opts, ctx, model, data, state, amp_dtype)

    autocast = torch.autocast(ctx.device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
    progress = tqdm(total=opts.steps, initial=state.start_step, disable=not ctx.main, dynamic_ncols=True)
    meter, started, tokens_seen, logged = TermMeter(), time.time(), 0, {}
    val, held, step = {}, {}, state.start_step
    for index, batch in zip(range(state.start_step, opts.steps), loader):
        step = index + 1
        torch.manual_seed(step_seed(opts.seed, ctx.rank, step))
        lr, beta = lr_at(index, opts.steps, warmup, opts.lr), beta_at(index, settings)
        for group in optimizer.param_groups:
            group["lr"] = lr
        tokens_seen += int((batch.tokens != PAD).sum())   # counted on the host copy: no device sync
        labelled_fraction = float(batch.labelled().float().mean())
        batch = batch.to(ctx.device, non_blocking=True)
        with autocast:
            output = ddp(batch.tokens, batch.bar_mask, opts.adversary, opts.token_dropout)
            loss, terms = total_loss(output, batch, model.prior_r, model.prior_k, beta, settings)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), opts.grad_clip)
        optimizer.step()
        meter.add(terms, grad_norm, labelled_fraction)
        progress.update(1)

        last = step == opts.steps or (step % opts.log_every == 0 and budget.spent())
        save_last = step % opts.ckpt_every == 0 or last
        val_due = bool(val_batches or held_batches) and (step % opts.val_every == 0 or last)
        if ctx.main and (step % opts.log_every == 0 or save_last):
            logged = _log_step(log, meter, model, step, lr, beta, tokens_seen * ctx.world / (time.time() - started))
            progress.set_postfix(loss=f"{logged['loss']:.3f}", rec=f"{logged['rec']:.3f}", refresh=False)
        if ctx.main and (val_due or save_last):
            finish_started, tags = time.monotonic(), ["last"] if save_last else []
            if val_due:
                val, held, score = evaluate(model, val_batches, held_batches, ctx.device)
                log.write(step, val, "val")
                log.write(step, held, "holdout")
                progress.write(f"step {step}: {_accuracies_text(val)}"
                               + (f"; held out: {_accuracies_text(held)}" if held else ""))
                if state.best is None or score > state.best:
                    state.best = score
                    tags.append("best")
            if tags:
                checkpoint(ckpt_dir, tags, state, step, opts, val, held)
            budget.note_finish_cost(time.monotonic() - finish_started)
        if last:
            break
    progress.close()
    return _finish(opts, ctx, state, out, log, step, started, logged, val, bool(held_batches))


def _print_start(opts: TrainOptions, ctx: Dist, model: CDGMVAE, data: Data, state: State,
                 amp_dtype: torch.dtype | None) -> None:
    n_labelled = sum(p.labelled for p in data.train)
    print(f"cdgmvae train: {opts.config} config ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M "
          f"parameters), {len(data.train)} training pieces ({n_labelled} labelled), {len(data.val)} validation, "
          f"{len(data.held)} held out, {ctx.world} process(es) on {ctx.device}"
          f"{' with bf16 autocast' if amp_dtype else ''}, steps {state.start_step}..{opts.steps}")
    if state.init:
        print(f"cdgmvae train: weights from {state.init['path']} (its step {state.init['step']}); fresh optimizer, "
              f"lr and beta schedules from step 0")


def _log_step(log: RunLog, meter: TermMeter, model: CDGMVAE, step: int, lr: float, beta: float,
              tokens_per_s: float) -> dict[str, float]:
    """Write one log line: the interval's mean loss terms, gradient norm and labelled fraction; lr, beta and
    the prior's component distances at this step. Returns the mean loss terms."""
    terms, grad_norm, labelled_fraction = meter.means()
    with torch.no_grad():
        distances = torch.stack([model.prior_r.mean_distance(), model.prior_k.mean_distance()]).tolist()
    log.write(step, {**terms, "lr": lr, "beta": beta, "grad_norm": grad_norm, "labelled_fraction": labelled_fraction,
                     "mean_distance_r": distances[0], "mean_distance_k": distances[1], "tokens_per_s": tokens_per_s},
              "train")
    return terms


def _finish(opts: TrainOptions, ctx: Dist, state: State, out: Path, log: RunLog | None, step: int, started: float,
            final_terms: dict, val: dict, selecting: bool) -> dict:
    """Final weights (and the selected ones), summary.json and the closing lines."""
    digests = gather_digests(state.model, ctx)
    if not ctx.main:
        return {}
    log.close()
    model_json = save_model(state.model, out, step, max_file_bytes=opts.max_file_bytes())
    selected = _save_selected(out / "ckpt", out, opts.max_file_bytes()) if selecting else None
    summary = {"steps": step, "steps_planned": opts.steps, "world_size": ctx.world, "weights_sha256": digests,
               "stopped_by_time_budget": step < opts.steps,
               "ranks_in_sync": len(set(digests)) == 1, "wall_s": time.time() - started,
               "final": final_terms, "val": val, "best_val": state.best,
               "selected": selected, "init_from": state.init, "options": asdict(opts),
               "code_sha256": code_digest()}
    write_json(out / "summary.json", summary)
    if not summary["ranks_in_sync"]:
        print("cdgmvae train: warning: the processes ended with different weights")
    _print_summary(summary, out, model_json)
    return summary


def _print_summary(summary: dict, out: Path, model_json: Path) -> None:
    stop = " (stopped by the time budget)" if summary["stopped_by_time_budget"] else ""
    print(f"cdgmvae train: step {summary['steps']} of {summary['steps_planned']} in {summary['wall_s']:.0f} s{stop}; "
          f"loss {summary['final'].get('loss', float('nan')):.4f} over the last log interval")
    if summary["val"]:
        print(f"cdgmvae train: validation at the end: {_accuracies_text(summary['val'])}")
    for label, json_path in [("final weights", model_json)] + (
            [(f"selected weights (step {summary['selected']['step']})", out / "selected" / "model.json")]
            if summary["selected"] else []):
        files = weights_files(json_path)
        print(f"cdgmvae train: {label}: {json_path} ({len(files)} file(s), largest "
              f"{max(f.stat().st_size for f in files) / 2**20:.2f} MiB)")
