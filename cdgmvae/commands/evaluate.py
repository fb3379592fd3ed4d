"""`cdgmvae evaluate PART [options]`: the paper's experiments, each writing PNG figures and JSON numbers.

`cdgmvae evaluate all` (what `make paper`) runs them all and writes OUT/REPORT.md (training/paper_report.py;
the experiments are training/experiments.py).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from cdgmvae.engine.backends import BACKENDS

PARTS_HELP = {
    "supervision-rate": "accuracy of q(y|x) on the validation split for each supervision rate rho, CDGMVAE (alpha 0.2, "
                        "MI term) against plain GMVAE (alpha 1, no MI), small models trained here (paper Figs 5-6)",
    "mode-collapse": "distance between the mixture components' means over training and the share of clips in one "
                     "component, from the supervision runs (trained here if missing; paper 4.4.2)",
    "feature-swap": "cosine similarity (Eq 22) of the rhythm and key features after swapping z_r or z_k between "
                    "pairs of validation clips (paper Figs 10-11)",
    "emotion-transfer": "every chosen validation clip moved to each quadrant at lambda 1 (Eq 23); what the reference "
                        "classifier and q(y|x) hear (paper Table 4)",
    "latent-space": "t-SNE of the validation bars' z_r and z_k, coloured by arousal and valence (paper Fig 9)",
    "generation-quality": "H1, H4, GS and emotion accuracy per quadrant of generated pieces beside the real clips "
                          "(EMOPIA's table)",
    "all": "every part above, then REPORT.md (`make paper`)",
    "report": "draw the figures and write REPORT.md again from the parts' JSON files in --out (no experiment runs)",
}


def _add_shared(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", default="reduced", metavar="NAME_OR_JSON",
                        help="reduced (the default: a tiny model trained for minutes and a subset of the validation "
                             "split, within an hour on a 2-core CPU), full (the paper's size: paper config, all of "
                             "the split, --device cuda), or a JSON file of the scale's fields over reduced "
                             "(training/experiments.py, Scale; \"base\": \"full\" starts from full)")
    parser.add_argument("--out", type=Path, default=Path("reports/paper"),
                        help="figures, JSON and REPORT.md (default %(default)s)")
    parser.add_argument("--work", type=Path, default=Path("out/paper"),
                        help="prepared data, training runs, generated MIDI: what is not committed "
                             "(default %(default)s)")
    parser.add_argument("--data", type=Path,
                        help="a folder written by `cdgmvae prepare` (default: WORK/data, prepared from --sources "
                             "the first time)")
    parser.add_argument("--sources", type=Path, nargs="+", default=[Path("data/emopia")], metavar="SRC",
                        help="what to prepare into WORK/data when --data is not given (default data/emopia)")
    parser.add_argument("--checkpoint", type=Path,
                        help="model of the feature-swap, emotion-transfer, latent-space and generation-quality "
                             "parts: a model folder or .json (default: the bundled model)")
    parser.add_argument("--device", help="cpu or cuda for that model (default: the scale's)")
    parser.add_argument("--backend", choices=BACKENDS, default="eager", help="decoder backend (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="decoding seed of every piece (default %(default)s)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default %(default)s)")
    parser.add_argument("--key-strength", type=float, default=0.0, metavar="S",
                        help="key guidance while decoding; 0, the default, lets the latents alone decide, as in the "
                             "paper")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads of the model experiments (default: the scale's, else torch's choice)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = ("each part writes OUT/PART/PART.json and its PNG figures and brings OUT/REPORT.md up to date; "
                     "`make paper` runs `cdgmvae evaluate all` at the reduced scale")
    parts = parser.add_subparsers(dest="part", metavar="PART", required=True)
    for name, text in PARTS_HELP.items():
        _add_shared(parts.add_parser(name, help=text, description=text))


def _shared_argv(args: argparse.Namespace) -> list[str]:
    """The options given, as a command line (for the report's commands)."""
    argv = ["--scale", args.scale, "--out", str(args.out), "--work", str(args.work)]
    for flag, value, default in (("--data", args.data, None), ("--checkpoint", args.checkpoint, None),
                                 ("--device", args.device, None), ("--backend", args.backend, "eager"),
                                 ("--seed", args.seed, 0), ("--temperature", args.temperature, 1.0),
                                 ("--key-strength", args.key_strength, 0.0), ("--threads", args.threads, 0)):
        if value != default:
            argv += [flag, str(value)]
    if args.data is None and args.sources != [Path("data/emopia")]:
        argv += ["--sources", *map(str, args.sources)]
    return argv


def run(args: argparse.Namespace) -> int:
    import torch
    from cdgmvae.engine.errors import UserError
    from cdgmvae.training import paper_report
    from cdgmvae.training.experiments import load_scale
    scale = load_scale(args.scale)
    if args.threads or scale.threads:
        torch.set_num_threads(args.threads or scale.threads)
    if args.temperature <= 0 or args.key_strength < 0:
        raise UserError("--temperature must be positive and --key-strength at least 0")
    if args.checkpoint is not None and args.part != "report":
        from cdgmvae.engine.checkpoint import resolve
        resolve(args.checkpoint)  # a wrong path fails now, not after the data is prepared
    if args.part == "report":
        paper_report.redraw(args.out)
        print(f"wrote {paper_report.write_report(args.out)}")
        return 0
    ctx = paper_report.Context(scale=scale, out=args.out, work=args.work, data=args.data,
                               sources=args.sources, checkpoint=args.checkpoint, device=args.device, seed=args.seed,
                               temperature=args.temperature, key_strength=args.key_strength, backend=args.backend,
                               show=not args.quiet, argv=_shared_argv(args))
    if args.part == "all":
        print(f"wrote {paper_report.run_all(ctx)}")
    else:
        paper_report.run_part(ctx, args.part)
        print(f"wrote {paper_report.write_report(args.out)}")
    return 0
