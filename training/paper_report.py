"""Run the paper's experiments (training/experiments.py) and write their figures, JSON and REPORT.md.

Layout of the output folder (`out`, committed as reports/paper/ by `make paper`):

    out/REPORT.md                       every part: command, scale, machine, wall time, tables, figures
    out/PART/PART.json                  a part's numbers, with its command, scale, machine and wall time
    out/PART/*.png                      its figures

What is not to be committed goes to `work`: the prepared data (prepared from `sources` when `data` has no
manifest), the supervision runs, the MIDI files of the generation experiment.
"""
from __future__ import annotations

import json
import os
import platform
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.generator import DEFAULT_MODEL, Generator
from cdgmvae.training import experiments as E
from cdgmvae.training import figures as F
from cdgmvae.training.prepare import prepare

PARTS = ("supervision-rate", "mode-collapse", "feature-swap", "emotion-transfer", "latent-space",
         "generation-quality")
TITLES = {"supervision-rate": "Supervision rate (the semi-supervised comparison, Figs 5-6)",
          "mode-collapse": "Mode collapse (section 4.4.2, Figs 7-8)",
          "feature-swap": "Feature swap (Eq 22, Figs 10-11)",
          "emotion-transfer": "Emotion transfer (Eq 23 at λ = 1, Table 4)",
          "latent-space": "Latent space (t-SNE, Fig 9)",
          "generation-quality": "Generation quality (as in the EMOPIA paper)"}


@dataclass
class Context:
    """What every part needs. `data`: a prepared folder (default work/data, prepared from `sources` when it
    has no manifest); `checkpoint`: the model of the model experiments (None: the bundled one)."""
    scale: E.Scale
    out: Path = Path("reports/paper")
    work: Path = Path("out/paper")
    data: Path | None = None
    sources: list[Path] = field(default_factory=lambda: [Path("data/emopia")])
    checkpoint: Path | None = None
    device: str | None = None          # None: the scale's
    seed: int = 0
    temperature: float = 1.0
    key_strength: float = 0.0
    backend: str = "eager"
    show: bool = True
    argv: list[str] = field(default_factory=list)  # the shared options, for the report's commands
    _generator: Generator | None = None

    @property
    def data_dir(self) -> Path:
        return self.data or self.work / "data"

    def ensure_data(self) -> Path:
        """The prepared data, prepared here from `sources` the first time (a fresh clone has none)."""
        folder = self.data_dir
        if not (folder / "manifest.json").is_file():
            if self.data is not None:
                raise UserError(f"{folder} has no manifest.json; prepare it with `cdgmvae prepare SRC --out {folder}` "
                                "or leave out --data to prepare --sources into the work folder")
            if self.show:
                print(f"evaluate: preparing {', '.join(map(str, self.sources))} into {folder}", flush=True)
            prepare(list(self.sources), folder, workers=max(1, os.cpu_count() or 1), progress=self.show)
        return folder

    def generator(self) -> Generator:
        if self._generator is None:
            self._generator = E.make_generator(self.checkpoint, self.device or self.scale.device, self.seed,
                                               self.temperature, self.key_strength, self.backend)
        return self._generator

    def command(self, part: str) -> str:
        return "cdgmvae evaluate " + part + "".join(" " + shlex.quote(a) for a in self.argv)

    def model_name(self) -> str:
        return str(self.checkpoint) if self.checkpoint else f"the bundled model ({DEFAULT_MODEL.name})"


def machine(device: str) -> str:
    """The machine in words: OS, CPU model and count, torch, the device, the load average."""
    cpu = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else None
    load = load_average()
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores ({cpu}), torch {torch.__version__}, "
            f"{'GPU ' + gpu if gpu else 'CPU only'}; load average {load} at the start")


# --- the parts: each returns its numbers; FIGURES draws them ---------------------------------------------
def _supervision(ctx: Context) -> list[dict]:
    return E.supervision_runs(ctx.ensure_data(), ctx.work / "runs", ctx.scale, ctx.show)


def _val(ctx: Context) -> list:
    return E.validation_pieces(ctx.ensure_data(), ctx.generator().model.cfg.bar_len)


def part_feature_swap(ctx: Context) -> dict:
    pairs = E.swap_pairs(_val(ctx), ctx.scale.swap_pairs, ctx.scale.swap_bars)
    return E.feature_swap(ctx.generator(), pairs, ctx.scale.swap_bars, ctx.seed, ctx.show)


def part_emotion_transfer(ctx: Context) -> dict:
    clips = E.spread_over_quadrants(_val(ctx), ctx.scale.transfer_clips)
    return E.emotion_transfer(ctx.generator(), clips, ctx.scale.transfer_bars, 1.0, ctx.seed, ctx.show)


RUNNERS: dict[str, Callable[[Context], dict]] = {
    "supervision-rate": lambda ctx: E.supervision_rate(_supervision(ctx)),
    "mode-collapse": lambda ctx: E.mode_collapse(_supervision(ctx), ctx.ensure_data()),
    "feature-swap": part_feature_swap,
    "emotion-transfer": part_emotion_transfer,
    "latent-space": lambda ctx: E.latent_space(ctx.generator().model, _val(ctx), ctx.scale.latent_bars, ctx.seed,
                                               ctx.show),
    "generation-quality": lambda ctx: E.generation_quality(ctx.generator(), _val(ctx), ctx.work / "generation",
                                                           ctx.scale.quality_pieces, ctx.scale.quality_bars,
                                                           ctx.show)}
# part -> draw(result, folder) -> the PNG files written
FIGURES: dict[str, Callable[[dict, Path], list[Path]]] = {
    "supervision-rate": lambda r, f: [F.supervision_plot(r, f / "supervision-rate.png")],
    "mode-collapse": lambda r, f: [F.mode_collapse_plot(r, f / "mode-collapse.png")],
    "feature-swap": lambda r, f: [F.feature_swap_plot(r, f / "feature-swap.png")],
    "emotion-transfer": lambda r, f: [F.emotion_transfer_plot(r, f / "emotion-transfer.png")],
    "latent-space": lambda r, f: [F.latent_plot(r, "z_r", "arousal", f / "latent-z_r-arousal.png"),
                                  F.latent_plot(r, "z_k", "valence", f / "latent-z_k-valence.png")],
    "generation-quality": lambda r, f: [F.generation_plot(r, f / "generation-quality.png")]}
MODEL_PARTS = ("feature-swap", "emotion-transfer", "latent-space", "generation-quality")


def run_part(ctx: Context, part: str) -> dict:
    """Run one part; write out/PART/PART.json (numbers, command, scale, machine, wall time) and its PNGs."""
    folder = ctx.out / part
    folder.mkdir(parents=True, exist_ok=True)
    device = ctx.device or ctx.scale.device
    where = machine(device)
    started = time.monotonic()
    result = RUNNERS[part](ctx)
    figures = FIGURES[part](result, folder)
    record = {"part": part, "command": ctx.command(part), "scale": asdict(ctx.scale),
              "scale_text": ctx.scale.describe(), "machine": where, "device": device,
              "model": ctx.model_name() if part in MODEL_PARTS else "trained here (the supervision runs)",
              "settings": {"seed": ctx.seed, "temperature": ctx.temperature, "key_strength": ctx.key_strength,
                           "backend": ctx.backend},
              "wall_s": round(time.monotonic() - started, 1),
              "figures": [p.name for p in figures], "result": result}
    (folder / f"{part}.json").write_text(json.dumps(record, indent=1, allow_nan=True) + "\n")
    if ctx.show:
        print(f"evaluate {part}: {record['wall_s']:.0f} s; wrote {folder / (part + '.json')} and "
              f"{', '.join(p.name for p in figures)}", flush=True)
    return record


def load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def run_all(ctx: Context, parts: tuple[str, ...] = PARTS) -> Path:
    """Every part in turn, then REPORT.md; returns its path. OUT/all.json keeps the command, the wall time
    and the load average (1, 5, 15 minutes) at the start and the end."""
    started, load_at_start = time.monotonic(), load_average()
    for part in parts:
        run_part(ctx, part)
    ctx.out.mkdir(parents=True, exist_ok=True)
    (ctx.out / "all.json").write_text(json.dumps({
        "command": ctx.command("all"), "wall_s": round(time.monotonic() - started, 1), "load_at_start": load_at_start,
        "load_at_end": load_average()}, indent=1) + "\n")
    return write_report(ctx.out)


# --- the report -----------------------------------------------------------------------------------------
def _fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None or (isinstance(value, float) and value != value) else format(value, spec)


def _header(record: dict) -> list[str]:
    settings = record["settings"]
    decoding = (f"; decoding seed {settings['seed']}, temperature {settings['temperature']:g}, key guidance "
                f"{settings['key_strength']:g}, {settings['backend']} backend" if record["part"] in MODEL_PARTS else "")
    return [f"- command: `{record['command']}`", f"- scale: {record['scale_text']}",
            f"- model: {record['model']}{decoding}",
            f"- machine: {record['machine']}", f"- wall time: {record['wall_s'] / 60:.1f} min", ""]


def _figures(record: dict) -> list[str]:
    return [f"![{name}]({record['part']}/{name})" for name in record["figures"]] + [""]


def _setting_gap(runs: list[dict], value) -> float | None:
    """The largest |CDGMVAE - GMVAE| of `value(run)` between runs of the same rho and seed."""
    by_key: dict[tuple, dict] = {}
    for run in runs:
        by_key.setdefault((run["rho"], run["seed"]), {})[run["setting"]] = value(run)
    gaps = [abs(v["CDGMVAE"] - v["GMVAE"]) for v in by_key.values()
            if v.get("CDGMVAE") is not None and v.get("GMVAE") is not None]
    return max(gaps, default=None)


def _supervision_md(r: dict) -> list[str]:
    rhos = sorted({rho for table in r["table"].values() for rho in table}, key=float)
    settings = list(r["table"])
    head = "| ρ | " + " | ".join(f"{s} {f}" for s in settings for f in ("arousal", "valence")) + " |"
    lines = [head, "|---|" + "---|" * (2 * len(settings))]
    for rho in rhos:
        cells = []
        for s in settings:
            for f in ("arousal", "valence"):
                c = r["table"][s][rho][f]
                spread = f" ({_fmt(c['min'])}-{_fmt(c['max'])})" if c["n"] > 1 else ""
                cells.append(_fmt(c["mean"]) + spread)
        lines.append(f"| {rho} | " + " | ".join(cells) + " |")
    seeds = len({run["seed"] for run in r["runs"]})
    return lines + ["", f"Accuracy of q(y|x) on the validation split's labelled clips at the last step, the mean over "
                        f"{seeds} seed(s) (lowest-highest in brackets); "
                    + "; ".join(f"{s}: α = {v['alpha']:g}, MI term {'on' if v['mi'] else 'off'}"
                                for s, v in r["settings"].items())
                    + ". Both act only on unlabelled segments, so where every training piece is labelled "
                      "(ρ = 1 on EMOPIA alone) the two objectives are the same. The largest difference between the "
                      "two settings' accuracies at the same ρ and seed: arousal "
                    + _fmt(_setting_gap(r["runs"], lambda run: run["acc_arousal"])) + ", valence "
                    + _fmt(_setting_gap(r["runs"], lambda run: run["acc_valence"])) + ".", ""]


def _mode_collapse_md(r: dict) -> list[str]:
    lines = ["| setting | ρ | seed | ‖μ_high − μ_low‖ z_r: first → last | z_k: first → last | clips in one "
             "component z_r | z_k |", "|---|---|---|---|---|---|---|"]
    for run in r["runs"]:
        lines.append(f"| {run['setting']} | {run['rho']:g} | {run['seed']} | "
                     f"{_fmt(run['distance_r'][0])} → {_fmt(run['final_distance']['r'])} | "
                     f"{_fmt(run['distance_k'][0])} → {_fmt(run['final_distance']['k'])} | "
                     f"{_fmt(run['one_component_share']['r'], '.2f')} | "
                     f"{_fmt(run['one_component_share']['k'], '.2f')} |")
    larger = r["larger_label_share"]
    return lines + ["", f"Distances at the first log step and at the end (0: the components have collapsed onto one "
                        f"mean). The share of the {r['clips']} validation clips q(y|x) puts in the more popular "
                        f"component: 1 is collapse; a classifier that is right gives the larger label's share "
                        f"({_fmt(larger['r'], '.2f')} for arousal, {_fmt(larger['k'], '.2f')} for valence). The "
                        "largest difference between the two settings' final distances at the same ρ and seed: z_r "
                        f"{_fmt(_setting_gap(r['runs'], lambda run: run['final_distance']['r']), '.4f')}, z_k "
                        f"{_fmt(_setting_gap(r['runs'], lambda run: run['final_distance']['k']), '.4f')}.", ""]


def _swap_md(r: dict) -> list[str]:
    lines = ["| swap | against | rhythm with A | rhythm with B | key with A | key with B | swapped: B − A | "
             "kept: A − B |", "|---|---|---|---|---|---|---|---|"]
    for swap in ("rhythm", "key"):
        for basis in ("original", "reconstruction"):
            v, score = r["similarity"][swap][basis], r["score"][swap][basis]
            lines.append(f"| {swap} | {basis} | {_fmt(v['rhythm']['A'])} | {_fmt(v['rhythm']['B'])} | "
                         f"{_fmt(v['key']['A'])} | {_fmt(v['key']['B'])} | {_fmt(score['swapped'], '+.3f')} | "
                         f"{_fmt(score['kept'], '+.3f')} |")
    return lines + ["", f"Mean cosine similarity (Eq 22) over {r['pairs']} pairs. Rhythm swap: B's z_r with A's z_k; "
                        "key swap: A's z_r with B's z_k. Rhythm feature: onsets at each 16th of each bar; key "
                        "feature: each bar's key (one-hot of 24), so its cosine is the share of bars in the same key. "
                        "`original`: against the clips; `reconstruction`: against the model's own decoding of A's "
                        "and B's latents with the same seed. A disentangled model moves the swapped feature to B "
                        "and keeps the other at A: `swapped` (the swapped feature's similarity with B minus with A) "
                        "and `kept` (the other feature's with A minus with B) both positive.", ""]


def _transfer_md(r: dict) -> list[str]:
    lines = []
    for judge, title in (("reference", "reference classifier"), ("model", "q(y|x)")):
        names = list(r["confusion"][judge])
        lines += [f"What the {title} hears (rows: target, columns: heard; counts):", "",
                  "| target | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        lines += [f"| {t} | " + " | ".join(str(r["confusion"][judge][t][h]) for h in names) + " |" for t in names]
        acc = r["accuracy"][judge]
        lines += ["", f"Share heard as the target quadrant, by source (the clip's label; rows) and target (columns), "
                      f"the {title} (Table 4's layout):", "",
                  "| source | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        lines += [f"| {s} | " + " | ".join(_fmt(acc[s].get(t, {}).get("quadrant"), ".2f") for t in names) + " |"
                  for s in acc]
        o = r["overall"][judge]
        lines += ["", f"Overall ({title}): arousal {_fmt(o['arousal'], '.2f')}, valence {_fmt(o['valence'], '.2f')}, "
                      f"quadrant {_fmt(o['quadrant'], '.2f')}.", ""]
    return lines


def _latent_md(r: dict) -> list[str]:
    s = r["silhouette"]
    return ["| latent | by arousal | by valence |", "|---|---|---|",
            f"| z_r | {_fmt(s.get('z_r by arousal'))} | {_fmt(s.get('z_r by valence'))} |",
            f"| z_k | {_fmt(s.get('z_k by arousal'))} | {_fmt(s.get('z_k by valence'))} |", "",
            f"Silhouette scores of the labels on the latents themselves ({r['bars']} bars of {r['clips']} clips; "
            "-1..1, 0: the label does not separate them). z_r by arousal and z_k by valence are each factor's own.", ""]


def _quality_md(r: dict) -> list[str]:
    lines = ["| quadrant | pieces | H1 | H4 | GS | notes/bar | reference: arousal | valence | quadrant | "
             "q(y|x): arousal | valence | quadrant |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for q in r["rows"]["real"]:
        for kind in ("generated", "real"):
            row = r["rows"][kind].get(q, {})
            lines.append(f"| {q} {kind} | {row.get('pieces', 0)} | {_fmt(row.get('h1'), '.2f')} | "
                         f"{_fmt(row.get('h4'), '.2f')} | {_fmt(row.get('gs'))} | "
                         f"{_fmt(row.get('notes_per_bar'), '.1f')} | "
                         + " | ".join(_fmt(row.get(f"{j}_{k}"), ".2f") for j in ("reference", "model")
                                      for k in ("arousal", "valence", "quadrant")) + " |")
    return lines + ["", f"{r['pieces_per_quadrant']} generated pieces of {r['bars']} bars per quadrant (λ = 1, "
                        "seeds 0..), drawn as the paper draws them (each bar's latents from the emotion's mixture "
                        "component; the bundled latent prior is left out, and key guidance is off), beside the "
                        "validation clips of that quadrant (their prepared tokens written as MIDI); MODEL.md has "
                        "the same measures with the bundled prior (`bench/quality.py`). H1, H4: "
                        "pitch-class entropy of 1- and 4-bar windows (bits); GS: grooving similarity "
                        "(training/quality.py, shared with bench/quality.py). Accuracy: the share of pieces in which "
                        "the judge hears the quadrant's arousal, valence, and both.", ""]


SECTIONS = {"supervision-rate": _supervision_md, "mode-collapse": _mode_collapse_md, "feature-swap": _swap_md,
            "emotion-transfer": _transfer_md, "latent-space": _latent_md, "generation-quality": _quality_md}


def redraw(out: Path) -> list[Path]:
    """Draw every part's figures again from its JSON file in `out` (after a change to training/figures.py)."""
    drawn = []
    for part in PARTS:
        path = out / part / f"{part}.json"
        if path.is_file():
            drawn += FIGURES[part](json.loads(path.read_text())["result"], out / part)
    return drawn


def write_report(out: Path) -> Path:
    """REPORT.md from the parts' JSON files in `out` (a part not run yet is listed as missing) and, after
    `evaluate all`, its all.json."""
    records = {}
    for part in PARTS:
        path = out / part / f"{part}.json"
        if path.is_file():
            records[part] = json.loads(path.read_text())
    scales = sorted({r["scale_text"] for r in records.values()})
    lines = ["# The paper's experiments", "",
             "Ning, Han and Pan, *Semi-supervised emotion-driven music generation model based on category-dispersed "
             "Gaussian Mixture Variational Autoencoders*, PLoS ONE 19(12): e0311541, 2024, section 4.4, "
             "reproduced with `cdgmvae evaluate` (written by `make paper`; the figures and the JSON beside each "
             "part are the ones this report shows).", ""]
    lines += [f"Scale: {s}." for s in scales] + [""]
    if any(r["scale"]["name"] != "full" for r in records.values()):
        lines += ["This is a reduced scale, sized to finish on a 2-core CPU within an hour: the supervision "
                  "runs train a tiny model for minutes, and the model experiments use the bundled model on a "
                  "subset of the validation split. Its numbers show that each experiment runs and what it "
                  "measures, not the paper's results; `make paper PAPER_SCALE=full` runs the paper's size on a GPU.",
                  ""]
    if (out / "all.json").is_file():
        run = json.loads((out / "all.json").read_text())
        lines += [f"All parts: `{run['command']}`, {run['wall_s'] / 60:.1f} min in all; load average (1, 5, 15 min) "
                  f"{run['load_at_start']} at the start, {run['load_at_end']} at the end.", ""]
    for number, part in enumerate(PARTS, 1):
        lines.append(f"## {number}. {TITLES[part]}")
        lines.append("")
        record = records.get(part)
        if record is None:
            lines += [f"Not run yet: `cdgmvae evaluate {part}`.", ""]
            continue
        lines += _header(record) + SECTIONS[part](record["result"]) + _figures(record)
    path = out / "REPORT.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path
