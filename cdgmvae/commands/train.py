"""`cdgmvae train`: semi-supervised CDGMVAE training on a prepared dataset (see training/trainer.py)."""
from __future__ import annotations

import argparse

from cdgmvae.engine.config import PRESETS
from cdgmvae.training.trainer import PRECISIONS, TrainOptions, train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainOptions(data="", out="")
    parser.add_argument("--data", required=True, help="a folder made by `cdgmvae prepare`")
    parser.add_argument("--out", required=True, help="run folder: checkpoints, logs, final model")
    parser.add_argument("--config", default=d.config,
                        help=f"model size: {' or '.join(sorted(PRESETS))} or a JSON file of config fields "
                             "(default %(default)s)")
    parser.add_argument("--steps", type=int, default=d.steps, help="optimizer steps (default %(default)s)")
    parser.add_argument("--batch", type=int, default=d.batch,
                        help="segments per step and process (default %(default)s)")
    parser.add_argument("--rho", type=float, default=d.rho,
                        help="supervision rate: keep labels on this fraction of the training pieces (default: all)")
    parser.add_argument("--holdout", type=float, default=d.holdout,
                        help="hold this fraction of each quadrant's training pieces out of training and pick the "
                             "best checkpoint on them, written to RUN/selected/ (default %(default)s: best on "
                             "the validation split)")
    parser.add_argument("--alpha", type=float, default=d.alpha,
                        help="variance penalty on the spread of component means; 1 turns it off (default %(default)s)")
    parser.add_argument("--no-mi", dest="mi", action="store_false",
                        help="plain KL_y instead of the mutual-information-enhanced term (ablation)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--init-from", metavar="MODEL",
                        help="start from the weights of a trained model: a model folder (engine/default_model, "
                             "RUN/selected), a run folder, a model .json or a checkpoint .json. The optimizer, "
                             "the lr warm-up and the beta ramp start afresh (unlike --resume, which continues a "
                             "run exactly); --config must match the model's")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=d.warmup,
                        help="warm-up steps (default: the paper's 10k/230k of --steps)")
    parser.add_argument("--beta-max", type=float, default=d.beta_max, help="final KL weight (default %(default)s)")
    parser.add_argument("--beta-warmup", type=int, default=d.beta_warmup,
                        help="steps of the KL weight's linear ramp from 0 (default: a quarter of --steps)")
    parser.add_argument("--gamma", type=float, default=d.gamma, help="classification weight (default %(default)s)")
    parser.add_argument("--delta", type=float, default=d.delta, help="disentanglement weight (default %(default)s)")
    parser.add_argument("--adversary", type=float, default=d.adversary,
                        help="scale of the reversed gradient the encoders get from the adversarial decoders "
                             "(DANN's lambda; default %(default)s)")
    parser.add_argument("--token-dropout", type=float, default=d.token_dropout,
                        help="hide this share of the decoder's input tokens in training (word dropout), so that "
                             "it takes more of each bar from the latents (default %(default)s)")
    parser.add_argument("--grad-clip", type=float, default=d.grad_clip)
    parser.add_argument("--val-every", type=int, default=d.val_every,
                        help="validate every N steps (default %(default)s)")
    parser.add_argument("--ckpt-every", type=int, default=d.ckpt_every,
                        help="checkpoint every N steps (default %(default)s)")
    parser.add_argument("--log-every", type=int, default=d.log_every,
                        help="write the mean loss terms since the last line every N steps (and at each checkpoint); "
                             "the steps between never wait for the GPU (default %(default)s)")
    parser.add_argument("--precision", choices=PRECISIONS, default=d.precision,
                        help="bf16: autocast to bfloat16 (needs CUDA); fp32: none; auto: bf16 on CUDA, fp32 on the "
                             "CPU (default %(default)s)")
    parser.add_argument("--time-budget-s", type=float, default=d.time_budget_s, metavar="SECONDS",
                        help="stop early so that the run, its last validation and its final weights fit in this "
                             "many seconds from the start; the summary says where it stopped and --resume "
                             "continues it (default: no limit)")
    parser.add_argument("--max-file-mb", type=float, default=d.max_file_mb, metavar="MIB",
                        help="write weights and checkpoints in safetensors files of at most this many MiB, "
                             "sharded when larger (default: one file each)")
    parser.add_argument("--workers", type=int, default=d.workers,
                        help="data-loading worker processes (default %(default)s)")
    parser.add_argument("--threads", type=int, default=d.threads,
                        help="torch CPU threads per process (default: cores / processes on this node)")


def run(args: argparse.Namespace) -> int:
    fields = TrainOptions.__dataclass_fields__
    train(TrainOptions(**{name: getattr(args, name) for name in fields}))
    return 0
