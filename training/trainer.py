"""The training loop: one CPU, one GPU, or many processes under torchrun (DistributedDataParallel).

Reproducibility: batch `step` is a pure function of (seed, rank, step) (training/dataset.py) and the torch
RNG (dropout, z sampling) is reseeded from (seed, rank, step) before every update, so the sampler's and the
RNG's whole state is the step number, and --resume repeats exactly the losses of an uninterrupted run.

Run folder:  log.jsonl (one line of loss terms per step), tb/ (TensorBoard), ckpt/ (last and best
training checkpoints), model.safetensors + model.json (final weights), summary.json. With --holdout, "best"
is chosen on pieces held out of the training split (never on the validation split) and its weights are
also written as selected/model.safetensors + selected/model.json.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from cdgmvae.engine.checkpoint import (load_checkpoint, load_model, load_weights, read_header, save_checkpoint,
                                       save_model, write_json)
from cdgmvae.engine.config import preset
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.model import CDGMVAE
from cdgmvae.training.dataset import SegmentSampler, hide_labels, load_prepared, split_holdout, whole_piece_batches
from cdgmvae.training.losses import LossSettings, beta_at, total_loss
from cdgmvae.training.schedule import default_warmup, lr_at

# Options that must match for --resume to continue the same run.
RESUME_MUST_MATCH = ("config", "seed", "batch", "rho", "holdout", "init_from")


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
    workers: int = 0
    threads: int | None = None

    def loss_settings(self) -> LossSettings:
        beta_warmup = self.beta_warmup if self.beta_warmup is not None else self.steps // 4
        return LossSettings(beta_max=self.beta_max, beta_warmup=beta_warmup, gamma=self.gamma,
                            delta=self.delta, alpha=self.alpha, mi=self.mi)


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


@torch.no_grad()
def validate(model: CDGMVAE, batches: list[dict], device: torch.device) -> dict[str, float]:
    """Accuracy of arousal, valence and quadrant from q(y|x) (z = mu) over whole pieces."""
    was_training = model.training
    model.eval()
    hits = {"arousal": 0, "valence": 0, "quadrant": 0}
    counts = dict.fromkeys(hits, 0)
    for batch in batches:
        log_q_a, log_q_v = model.infer_emotion(batch["tokens"].to(device), batch["bar_mask"].to(device))
        right = {}
        for name, log_q in (("arousal", log_q_a), ("valence", log_q_v)):
            labels = batch[name].to(device)
            known = labels >= 0
            right[name] = (log_q.argmax(-1) == labels) & known
            hits[name] += int(right[name].sum())
            counts[name] += int(known.sum())
        both = (batch["arousal"] >= 0) & (batch["valence"] >= 0)
        hits["quadrant"] += int((right["arousal"] & right["valence"]).sum())
        counts["quadrant"] += int(both.sum())
    model.train(was_training)
    return {f"acc_{k}": hits[k] / counts[k] for k in hits if counts[k]}


def weights_digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for _, p in sorted(model.state_dict().items()):
        h.update(p.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
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
    """Rank 0's per-step JSONL and TensorBoard scalars."""

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


def _check_resume(header: dict, opts: TrainOptions) -> None:
    saved = header.get("train_options", {})
    changed = [f"{k} (checkpoint {saved.get(k)!r}, now {getattr(opts, k)!r})"
               for k in RESUME_MUST_MATCH if k in saved and saved[k] != getattr(opts, k)]
    if changed:
        raise UserError(f"--resume with different {', '.join(changed)}; use the same options or a new --out")


def _accuracies_text(accuracies: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.3f}" for name, value in accuracies.items())


def _save_selected(ckpt_dir: Path, out: Path) -> dict:
    """The checkpoint chosen on the held-out pieces, as inference weights in out/selected/."""
    header = read_header(ckpt_dir / "best.json")
    model, _ = load_model(ckpt_dir / "best.json")
    save_model(model, out / "selected", header["step"])
    return {"step": header["step"], "holdout": header.get("holdout", {}), "val": header.get("val", {})}


def train(opts: TrainOptions) -> dict:
    """Train CDGMVAE on the prepared dataset opts.data into the run folder opts.out (layout at the top of
    this module), on the CPU, one GPU, or every process of a torchrun launch (DistributedDataParallel).
    opts.steps counts optimizer updates of opts.batch segments (per process); the loss is training/losses.py's
    (docs/ARCHITECTURE.md, *The loss*). Returns the summary written to summary.json (steps, world size,
    each rank's weight digest); empty on ranks other than 0. Raises UserError for a missing or stale
    dataset, an --out that already holds a run (without resume), or a resume whose options differ.
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
    if opts.steps < 1 or opts.batch < 1:
        raise UserError("--steps and --batch must be at least 1")
    if not 0.0 <= opts.token_dropout < 1.0:
        raise UserError(f"--token-dropout must be in [0, 1), got {opts.token_dropout}")
    cfg = preset(opts.config)
    train_pieces, val_pieces = load_prepared(opts.data, cfg.bar_len)
    val_pieces = [p for p in val_pieces if p.labelled]  # validation measures q(y|x): unlabelled songs count nothing
    train_pieces, held_pieces = split_holdout(train_pieces, opts.holdout, opts.seed)
    train_pieces = hide_labels(train_pieces, opts.rho, opts.seed)
    settings = opts.loss_settings()
    warmup = opts.warmup if opts.warmup is not None else default_warmup(opts.steps)
    out, ckpt_dir = Path(opts.out), Path(opts.out) / "ckpt"

    torch.manual_seed(opts.seed)
    model = CDGMVAE(cfg).to(ctx.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr)
    start_step, best, init = 0, None, None
    if opts.resume:
        if not (ckpt_dir / "last.json").is_file():
            raise UserError(f"--resume: {ckpt_dir}/last.json does not exist; start without --resume")
        header = load_checkpoint(ckpt_dir / "last.json", model, optimizer, cfg)
        _check_resume(header, opts)
        start_step, best, init = header["step"], header.get("best_val"), header.get("init_from")
    elif (ckpt_dir / "last.json").exists():
        raise UserError(f"{out} already holds a run; pass --resume to continue it or choose a new --out")
    elif opts.init_from:
        # weights only: the optimizer above stays fresh and the lr and beta schedules start at step 0
        source, header = load_weights(opts.init_from, model, cfg)
        init = {"path": str(source), "step": header["step"], "weights_sha256": header["weights_sha256"]}
    if start_step >= opts.steps:
        raise UserError(f"the checkpoint is at step {start_step}; pass --steps larger than that to train on")

    ddp = DistributedDataParallel(model, broadcast_buffers=False) if ctx.world > 1 else model
    sampler = SegmentSampler(train_pieces, cfg.n_bars, opts.batch, opts.seed, ctx.rank)
    loader = torch.utils.data.DataLoader(sampler, batch_size=None, sampler=range(start_step, opts.steps),
                                         num_workers=opts.workers)
    val_batches = whole_piece_batches(val_pieces, opts.batch) if ctx.main else []
    held_batches = whole_piece_batches(held_pieces, opts.batch) if ctx.main else []
    log = None
    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)
        log = RunLog(out, start_step)
    n_labelled = sum(p.labelled for p in train_pieces)
    if ctx.main:
        print(f"cdgmvae train: {opts.config} config ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M "
              f"parameters), {len(train_pieces)} training pieces ({n_labelled} labelled), {len(val_pieces)} "
              f"validation, {len(held_pieces)} held out, {ctx.world} process(es) on {ctx.device}, steps {start_step}..{opts.steps}")
        if init:
            print(f"cdgmvae train: weights from {init['path']} (its step {init['step']}); fresh optimizer, "
                  f"lr and beta schedules from step 0")

    autocast = torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=ctx.device.type == "cuda")
    progress = tqdm(total=opts.steps, initial=start_step, disable=not ctx.main, dynamic_ncols=True)
    started, tokens_seen, terms = time.time(), 0, {}
    val, held = {}, {}
    for index, batch in zip(range(start_step, opts.steps), loader):
        step = index + 1
        torch.manual_seed(step_seed(opts.seed, ctx.rank, step))
        lr = lr_at(index, opts.steps, warmup, opts.lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        beta = beta_at(index, settings)
        batch = {k: v.to(ctx.device, non_blocking=True) for k, v in batch.items()}
        with autocast:
            output = ddp(batch["tokens"], batch["bar_mask"], opts.adversary, opts.token_dropout)
            loss, terms = total_loss(output, batch, model.prior_r, model.prior_k, beta, settings)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), opts.grad_clip)
        optimizer.step()
        tokens_seen += int((batch["tokens"] != 0).sum())

        if not ctx.main:
            continue
        scalars = {k: float(v) for k, v in terms.items()}
        with torch.no_grad():
            distances = float(model.prior_r.mean_distance()), float(model.prior_k.mean_distance())
        labelled = ((batch["arousal"] >= 0) | (batch["valence"] >= 0)).float().mean()
        scalars.update(lr=lr, beta=beta, grad_norm=float(grad_norm), labelled_fraction=float(labelled),
                       mean_distance_r=distances[0], mean_distance_k=distances[1],
                       tokens_per_s=tokens_seen * ctx.world / max(1e-9, time.time() - started))
        log.write(step, scalars, "train")
        progress.update(1)
        progress.set_postfix(loss=f"{scalars['loss']:.3f}", rec=f"{scalars['rec']:.3f}", refresh=False)
        tags = []
        if (val_batches or held_batches) and (step % opts.val_every == 0 or step == opts.steps):
            val = validate(model, val_batches, ctx.device)
            held = validate(model, held_batches, ctx.device)
            log.write(step, val, "val")
            log.write(step, held, "holdout")
            chosen_on = held if held_batches else val
            score = (chosen_on.get("acc_arousal", 0.0) + chosen_on.get("acc_valence", 0.0)) / 2
            progress.write(f"step {step}: {_accuracies_text(val)}"
                           + (f"; held out: {_accuracies_text(held)}" if held else ""))
            if best is None or score > best:
                best = score
                tags.append("best")
        if step % opts.ckpt_every == 0 or step == opts.steps:
            tags.append("last")
        if tags:
            save_checkpoint(ckpt_dir, tags, model, optimizer, step,
                            {"train_options": asdict(opts), "best_val": best, "val": val, "holdout": held,
                             "init_from": init, "sampler": {"kind": "per-step", "next_step": step},
                             "rng": {"kind": "per-step", "seed": opts.seed}})
    progress.close()

    digests = gather_digests(model, ctx)
    summary = {}
    if ctx.main:
        log.close()
        save_model(model, out, opts.steps)
        selected = _save_selected(ckpt_dir, out) if held_batches else None
        summary = {"steps": opts.steps, "world_size": ctx.world, "weights_sha256": digests,
                   "ranks_in_sync": len(set(digests)) == 1, "wall_s": time.time() - started,
                   "final": {k: float(v) for k, v in terms.items()}, "val": val, "best_val": best,
                   "selected": selected, "init_from": init, "options": asdict(opts)}
        write_json(out / "summary.json", summary)
        if not summary["ranks_in_sync"]:
            print("cdgmvae train: warning: the processes ended with different weights")
    return summary
