"""`cdgmvae`: one console script, a thin dispatcher over the subcommands.

Each subcommand lives in its own module, which exposes ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their subcommand runs, so `cdgmvae --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from cdgmvae.engine.errors import UserError

# name -> (module, one-line help)
SUBCOMMANDS = {
    "prepare": ("cdgmvae.commands.prepare", "turn MIDI folders into a training dataset (tokens, features, labels)"),
    "inspect": ("cdgmvae.commands.inspect",
                "show a MIDI file's bars, tokens, rhythm and key; optionally round-trip it"),
    "train": ("cdgmvae.commands.train", "train CDGMVAE semi-supervised (CPU, GPU, or many GPUs via torchrun)"),
    "fit-prior": ("cdgmvae.commands.fit_prior", "fit the latent prior over bar latents beside a model"),
    "classify": ("cdgmvae.commands.classify", "the emotion the model infers of MIDI files"),
    "baseline": ("cdgmvae.commands.baseline", "train and evaluate the logistic-regression reference classifier"),
    "generate": ("cdgmvae.commands.generate", "generate a piece for an emotion"),
    "transfer": ("cdgmvae.commands.transfer", "move a MIDI piece toward another emotion"),
    "swap": ("cdgmvae.commands.swap", "swap the rhythm or key latents of two pieces"),
    "export": ("cdgmvae.commands.export", "build and cache what a fast backend needs"),
    "evaluate-control": ("cdgmvae.commands.control", "measure how well generated music follows the requested emotion"),
    "evaluate": ("cdgmvae.commands.evaluate",
                 "the paper's experiments: figures (PNG) and numbers (JSON) of each, and their report"),
    "live": ("cdgmvae.commands.live", "play live: bars on a virtual MIDI port, Ableton Link, OSC control"),
    "osc-spec": ("cdgmvae.commands.osc_spec", "print the OSC address space"),
    "demo": ("cdgmvae.commands.demo", "the bundled model at work: a piece per emotion and a transfer, as MIDI and PNG"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdgmvae",
        description="Emotion-driven music generation (CDGMVAE): train, generate, and play live.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:
            importlib.import_module(module_name).add_arguments(sp)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=command if command in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except UserError as err:
        print(f"cdgmvae {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"cdgmvae {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
