"""How generated pieces compare with real ones: one table of the measures of training/quality.py.

    python bench/quality.py [--priors mixture default] [--guidance 0 3] [--pieces 8] [--bars 16]
                            [--rebuild 32 [--rebuild-every K] [--rebuild-bars N] [--rebuild-candidates K]]
                            [--generated DIR ...] [--real DIR --real-list FILE]
                            [--train DIR --train-list FILE] [--checkpoint C] [--out DIR] [--json]

Rows:
- real: the reference pieces (default: EMOPIA's validation clips), whole;
- each --generated folder of MIDI files, as it is;
- generated here: for each latent prior (`mixture`: the paper's independent mixture draws; `default`: the
  prior beside the model; or a prior's JSON file; `@drawn` or `@bars` after either: the prior's state is
  the drawn latents or the key encoder's reading of the bar played) and key-guidance strength (0: off),
  --pieces pieces of --bars bars per quadrant, seeds --seed.., written as MIDI files and read back;
- with --arousal-levels: per prior, --pieces pieces at valence 0.5 and each arousal level;
- rebuild: --rebuild reference pieces through `transfer --lambda 0` at temperature 0.3, per guidance
  strength, scored against their sources (note F1, per-bar pitch-class F1); with --rebuild-candidates K,
  `transfer --candidates K` (each bar the one of K whose encoding lies nearest its latents).

Every piece is read from its MIDI file with mido (training/quality.py), not with the project's codec. The
judge columns are the reference classifier (training/baseline.json) on the pieces read back: how often
it hears the valence and the arousal asked for. Novelty: the largest share of a 4-bar span's notes (with
at least --min-span-notes notes) found under one transposition in a 4-bar span of a training piece
(default: EMOPIA's training clips); the real row shows what unseen human music scores. Novelty both ways:
the notes in common over the larger of the two spans, so that a replayed span scores high and a sparse span
lying inside a dense training span does not.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from cdgmvae.engine import codec
from cdgmvae.engine.generator import Controls, Generator, find_prior
from cdgmvae.engine.prior import LatentPrior
from cdgmvae.training.experiments import generate_set, judge
from cdgmvae.training.quality import (
    NoveltyIndex,
    list_names,
    measure_piece,
    midi_files,
    note_f1,
    pitch_class_f1,
    read_folder,
    read_midi,
    summarise,
)

ROOT = Path(__file__).resolve().parent.parent
EMOPIA = ROOT / "data" / "emopia"
REBUILD_TEMPERATURE = 0.3
COLUMNS = (("h1", "H1", ".2f"), ("h4", "H4", ".2f"), ("gs", "GS", ".3f"), ("key_fit", "key fit", ".3f"),
           ("next_bar_same_key", "next bar same key", ".3f"), ("notes_per_bar", "notes/bar", ".1f"),
           ("velocity", "velocity", ".0f"), ("polyphony", "polyphony", ".2f"), ("empty_bars", "empty bars", ".3f"),
           ("stacked", "stacked", ".4f"), ("judge_valence", "judge valence", ".2f"),
           ("judge_arousal", "judge arousal", ".2f"), ("novelty", "novelty (max overlap)", ".2f"),
           ("novelty_both_ways", "novelty both ways", ".2f"),
           ("note_f1", "rebuild note F1", ".3f"), ("pitch_class_f1", "rebuild pitch-class F1", ".3f"))


def files_of(folder: Path, names_file: Path | None) -> list[Path]:
    return midi_files(folder, list_names(names_file) if names_file else None)


def novelty(index: NoveltyIndex, pieces, min_notes: int) -> dict:
    """The largest overlap of a generated span with a training span (issue 14's measure), where it is, and the
    same both ways (over the larger of the two spans' notes: a replayed span scores high, a sparse one inside a
    dense training span does not)."""
    row = {}
    found = [index.largest_overlaps(p, min_notes) for p in pieces]
    for suffix, overlaps in zip(("", "_both_ways"), zip(*found)):
        worst = max(overlaps, key=lambda o: o.share)
        row |= {f"novelty{suffix}": worst.share, f"novelty{suffix}_where": asdict(worst),
                f"novelty{suffix}_mean": float(np.mean([o.share for o in overlaps]))}
    return row


def measure_set(pieces, index: NoveltyIndex | None, min_notes: int) -> dict:
    row = summarise([measure_piece(p) for p in pieces])
    if index is not None:
        row |= novelty(index, pieces, min_notes)
    return row


def generate_levels(generator: Generator, folder: Path, pieces: int, bars: int, arousal: float,
                    first_seed: int = 0) -> list[Path]:
    """--pieces pieces at valence 0.5 and one arousal, as MIDI files."""
    folder.mkdir(parents=True, exist_ok=True)
    base = generator.controls
    generator.controls = replace(base, valence=0.5, arousal=arousal, lam=1.0)
    files = []
    for seed in range(first_seed, first_seed + pieces):
        generator.reset(seed)
        files.append(folder / f"arousal{arousal:g}_{seed:03d}.mid")
        codec.decode([b.tokens for b in generator.generate(bars)]).write(str(files[-1]))
    generator.controls = base
    return files


def rebuild(generator: Generator, sources: list[Path], folder: Path, bars: int | None = None) -> dict:
    """transfer --lambda 0 at temperature 0.3 of each source (its first `bars` bars; None: all), written, read
    back and scored against the source's notes (those bars of it)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = generator.controls
    generator.controls = replace(base, temperature=REBUILD_TEMPERATURE)
    notes, classes = [], []
    for source in sources:
        encoded = codec.encode(source, generator.model.cfg.bar_len).bars[:bars]
        rebuilt = generator.transfer(encoded, valence=1.0, arousal=1.0, lam=0.0)
        path = folder / source.name
        codec.decode([b.tokens for b in rebuilt]).write(str(path))
        reference, back = read_midi(source), read_midi(path)
        if bars is not None:  # the codec drops leading empty bars as the reader does: both count from the first note
            reference = reference.first_bars(bars)
        notes.append(note_f1(reference, back))
        classes.append(pitch_class_f1(reference, back))
    generator.controls = base
    return {"pieces": len(sources), "note_f1": float(np.mean(notes)), "pitch_class_f1": float(np.mean(classes))}


def use_prior(generator: Generator, spec: str, checkpoint) -> str:
    """Give the generator the prior of a --priors entry (`mixture`, `default` or a JSON path, each with
    `@drawn` or `@bars` for a prior whose state is the drawn latents or the encoded bars; without, the
    generator's choice for the kind); returns the row's label."""
    name, _, state = spec.partition("@")
    generator.state_from_bars = {"drawn": False, "bars": True}.get(state)
    if name == "mixture":
        generator.prior = None
        return "mixture (paper)"
    if name == "default":
        generator.prior, note = find_prior(checkpoint or (ROOT / "engine" / "default_model"))
        if generator.prior is None:
            raise SystemExit(f"bench/quality.py: {note}")
    else:
        generator.prior = LatentPrior.load(name)
    where = "" if name == "default" else f" {Path(name).parent.name}"
    state = "from the bars" if generator.state_follows_bars() else "drawn"
    return f"prior {generator.prior.kind}{where}, state {state}"


def markdown(rows: dict) -> str:
    used = [c for c in COLUMNS if any(c[0] in r for r in rows.values())]
    lines = ["| pieces | n | " + " | ".join(c[1] for c in used) + " |", "|---|---|" + "---|" * len(used)]
    for name, r in rows.items():
        cells = []
        for key, _, fmt in used:
            value = r.get(key)
            cells.append("-" if value is None or (isinstance(value, float) and math.isnan(value)) else
                         format(value, fmt))
        lines.append(f"| {name} | {r.get('pieces', '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=Path, default=EMOPIA / "midis", help="folder of reference MIDI files")
    parser.add_argument("--real-list", type=Path, default=EMOPIA / "val_clip.csv",
                        help="which of them (one name a line, or a CSV with a clip_name column); 'all' for all")
    parser.add_argument("--train", type=Path, default=EMOPIA / "midis", help="folder of training MIDI files")
    parser.add_argument("--train-list", type=Path, default=EMOPIA / "train_clip.csv",
                        help="which of them are training pieces (as --real-list); 'all' for all")
    parser.add_argument("--generated", type=Path, nargs="*", default=[], help="folders of generated MIDI files")
    parser.add_argument("--checkpoint", type=Path, help="model folder (default: the bundled model)")
    parser.add_argument("--priors", nargs="*", default=["mixture", "default"],
                        help="mixture, default (the prior beside the model) or prior JSON files; with @drawn or "
                             "@bars, the prior's state is the drawn latents or the bars played")
    parser.add_argument("--variety", type=float, default=Controls.variety, help="the generator's variety")
    parser.add_argument("--guidance", type=float, nargs="*", default=[0.0, 3.0], help="key-guidance strengths")
    parser.add_argument("--pieces", type=int, default=8, help="generated pieces per quadrant (default 8)")
    parser.add_argument("--bars", type=int, default=16, help="bars per generated piece (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="the first piece's seed (default 0)")
    parser.add_argument("--arousal-levels", type=float, nargs="*", default=[],
                        help="also --pieces pieces at valence 0.5 and each of these arousals, per prior, at the "
                             "first --guidance strength: is arousal graded?")
    parser.add_argument("--rebuild", type=int, default=32, help="reference pieces to rebuild (0: none; default 32)")
    parser.add_argument("--rebuild-every", type=int, default=1, metavar="K",
                        help="rebuild every K-th reference piece, so that a few span the list (default 1)")
    parser.add_argument("--rebuild-bars", type=int, metavar="N",
                        help="rebuild only the first N bars of each (default: whole pieces)")
    parser.add_argument("--rebuild-candidates", type=int, default=1, metavar="K",
                        help="rebuild as `transfer --candidates K` does (default 1)")
    parser.add_argument("--min-span-notes", type=int, default=8,
                        help="novelty looks at 4-bar spans of at least this many notes (default 8)")
    parser.add_argument("--no-novelty", action="store_true", help="skip the novelty search")
    parser.add_argument("--out", type=Path, help="keep the generated MIDI files here (default: a temporary folder)")
    parser.add_argument("--backend", default="compiled")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    def listed(value: Path):
        return None if str(value) == "all" else value
    real_files = files_of(args.real, listed(args.real_list))
    real, skipped = read_folder(real_files)
    index = None
    if not args.no_novelty:
        train, train_skipped = read_folder(files_of(args.train, listed(args.train_list)))
        skipped += train_skipped
        index = NoveltyIndex(train)
    rows = {f"real: {args.real.name} ({args.real_list.name if listed(args.real_list) else 'all'})":
            measure_set(real, index, args.min_span_notes)}
    for folder in args.generated:
        pieces, more = read_folder(midi_files(folder))
        skipped += more
        rows[f"generated: {folder}"] = measure_set(pieces, index, args.min_span_notes)

    out = args.out or Path(tempfile.mkdtemp(prefix="cdgmvae-quality-"))
    generator = None
    if args.priors or args.rebuild:
        generator = Generator.load(args.checkpoint, backend=args.backend, seed=0, use_prior=False)
    for spec in args.priors:
        label = use_prior(generator, spec, args.checkpoint)
        for strength in args.guidance:
            generator.controls = Controls(key_strength=strength, variety=args.variety)
            folder = out / f"{label.split()[0]}-{len(rows)}-key{strength:g}"
            files, targets = generate_set(generator, folder, args.pieces, args.bars, args.seed)
            pieces, _ = read_folder(files)
            rows[f"{label}, key guidance {strength:g}"] = measure_set(pieces, index, args.min_span_notes) | \
                judge(pieces, targets)
        generator.controls = Controls(key_strength=args.guidance[0] if args.guidance else 0.0, variety=args.variety)
        for arousal in args.arousal_levels:
            files = generate_levels(generator, out / f"{label.split()[0]}-{len(rows)}-arousal{arousal:g}",
                                    args.pieces, args.bars, arousal, args.seed)
            rows[f"{label}, valence 0.5, arousal {arousal:g}"] = measure_set(read_folder(files)[0], None, 0)
    if args.rebuild:
        if args.rebuild_candidates != generator.candidates:  # the decoder's cache is built for K rows
            generator = Generator(generator.model, seed=0, backend=args.backend, candidates=args.rebuild_candidates)
        generator.prior = None  # rebuilding decodes the sources' own latents
    chosen = f", {args.rebuild_candidates} candidates" if args.rebuild_candidates > 1 else ""
    for strength in args.guidance if args.rebuild else []:
        generator.controls = Controls(key_strength=strength)
        rows[f"rebuild (lambda 0, T {REBUILD_TEMPERATURE}{chosen}), key guidance {strength:g}"] = rebuild(
            generator, real_files[:: args.rebuild_every][: args.rebuild], out / f"rebuild-key{strength:g}",
            args.rebuild_bars)
    report = {"rows": rows, "skipped": skipped, "seconds": round(time.perf_counter() - started, 1),
              "settings": {k: str(v) for k, v in vars(args).items()}}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(markdown(rows))
    for name, r in rows.items():
        for what, key in (("largest overlap", "novelty_where"), ("both ways", "novelty_both_ways_where")):
            where = r.get(key)
            if where and where["share"]:
                print(f"{name}: {what} {where['share']:.2f}, {where['notes']} notes of {where['piece']} bar "
                      f"{where['bar'] + 1} ~ {where['source_notes']} notes of {where['source']} bar "
                      f"{where['source_bar'] + 1}, transposed {where['transposition']:+d}")
    if skipped:
        print(f"skipped {len(skipped)} files: " + "; ".join(skipped[:5]), file=sys.stderr)
    print(f"{report['seconds']:.0f} s; generated files in {out}")


if __name__ == "__main__":
    try:
        main()
    except ValueError as err:  # a list or a reference file that cannot be read: one line, not a traceback
        sys.exit(f"bench/quality.py: {err}")
