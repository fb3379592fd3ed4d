"""`cdgmvae`: one console script, a thin dispatcher over the subcommands.

Each subcommand lives in its own module, which exposes ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their subcommand runs, so `cdgmvae --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from engine.errors import UserError

# name -> (module, one-line help)
SUBCOMMANDS = {
    "prepare": ("training.prepare_cli", "turn MIDI folders into a training dataset (tokens, features, labels)"),
    "inspect": ("training.inspect_cli", "show a MIDI file's bars, tokens, rhythm and key; optionally round-trip it"),
    "train": ("training.train_cli", "train CDGMVAE semi-supervised (CPU, GPU, or many GPUs via torchrun)"),
    "classify": ("training.classify_cli", "the emotion the model infers of MIDI files"),
    "baseline": ("training.baseline_cli", "train and evaluate the logistic-regression reference classifier"),
    "generate": ("engine.generate_cli", "generate a piece for an emotion"),
    "transfer": ("engine.transfer_cli", "move a MIDI piece toward another emotion"),
    "swap": ("engine.swap_cli", "swap the rhythm or key latents of two pieces"),
    "export": ("engine.export_cli", "build and cache what a fast backend needs"),
    "evaluate-control": ("training.control_cli", "measure how well generated music follows the requested emotion"),
    "live": ("bridge.live_cli", "play live: bars on a virtual MIDI port, Ableton Link, OSC control"),
    "osc-spec": ("bridge.osc_spec_cli", "print the OSC address space"),
    "demo": ("cdgmvae.demo", "the bundled model at work: a piece per emotion and a transfer, as MIDI and PNG"),
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
