"""The paper's experiments (Ning, Han and Pan 2024, section 4.4), each a function that returns its numbers.

- `supervision_runs` / `supervision_rate`: the semi-supervised comparison (Figs 5-6): for each supervision
  rate rho and seed, CDGMVAE (alpha = 0.2 with the MI term) and plain GMVAE (alpha = 1, plain KL_y) trained
  with the same steps, batches and seeds (training/trainer.py), scored by the accuracy of q(y|x) (Eq 6)
  on the validation split's labelled pieces.
- `mode_collapse`: from the same runs (section 4.4.2), the distance between the two components' means of
  each factor over the training steps (the trainer logs it), and the share of the validation clips a run's
  q(y|x) assigns to one component (1 when the components have collapsed into one).
- `feature_swap` (Eq 22, Figs 10-11): pairs (A, B) of validation clips; a rhythm swap decodes B's z_r with
  A's z_k, a key swap A's z_r with B's z_k; the cosine similarity of the swapped piece's rhythm and key
  features with A's and with B's.
- `emotion_transfer` (Eq 23 at lambda = 1, Table 4): every chosen validation clip moved to each quadrant;
  what the reference classifier (training/baseline.py) and q(y|x) hear in the result.
- `latent_space` (Fig 9): the validation bars' posterior means z_r and z_k, embedded by t-SNE.
- `generation_quality` (EMOPIA's table: Hung et al. 2021): H1, H4 and GS (training/quality.py) and the
  emotion accuracy of pieces generated for each quadrant, beside the validation clips of that quadrant.

`Scale` says how large each experiment is: `reduced` fits a 2-core CPU in well under an hour, `full` is
the paper's size for GPUs. Figures are drawn by training/figures.py, the report by training/paper_report.py.
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
from cdgmvae.engine import codec
from cdgmvae.engine import vocab as V
from cdgmvae.engine.checkpoint import load_model
from cdgmvae.engine.config import ModelConfig
from cdgmvae.engine.controls import Controls
from cdgmvae.engine.emotion import EMOTIONS, QUADRANTS, emotion_va, quadrant
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.features import N_KEYS, piece_features
from cdgmvae.engine.generator import Generator
from cdgmvae.engine.key_guidance import tonic_of
from cdgmvae.engine.model import CDGMVAE
from cdgmvae.engine.notes import GridNote
from cdgmvae.training.baseline import LogisticRegression, clip_features
from cdgmvae.training.control import BASELINE, Judges
from cdgmvae.training.dataset import Piece, load_prepared
from cdgmvae.training.latent_prior import encode_pieces
from cdgmvae.training.quality import measure_piece, read_folder, summarise
from cdgmvae.training.trainer import TrainOptions, code_digest, train
from tqdm import tqdm

# the two settings of the semi-supervised comparison: (alpha, MI term)
SETTINGS = {"CDGMVAE": (0.2, True), "GMVAE": (1.0, False)}
QUADRANT_NAMES = tuple(QUADRANTS[e] for e in EMOTIONS)  # Q1..Q4, EMOTIONS' order
SWAPS = ("rhythm", "key")


@dataclass(frozen=True)
class Scale:
    """How large the experiments are. None for a count means all of them; for bars, the whole clip.

    Supervision runs: `config` (a preset name, a JSON file, or a dict of ModelConfig fields), `steps`,
    `batch`, `lr`, `seeds`, `rhos`, a log line every `log_every` steps. Feature swap: `swap_pairs` pairs
    of validation clips, their first `swap_bars` bars. Emotion transfer: `transfer_clips` validation clips
    (as many of each quadrant as can be), their first `transfer_bars` bars. Latent space: at most
    `latent_bars` bars for t-SNE. Generation quality: `quality_pieces` pieces of `quality_bars` bars per
    quadrant. `device` runs the bundled or given model (the trainer takes a GPU whenever torch sees one);
    `threads`: torch CPU threads of the runs and the model (None: torch's choice; on a loaded 2-core machine
    one thread is 2-3 times faster per step than two).
    """
    name: str = "reduced"
    config: str | dict = "small"
    steps: int = 150
    batch: int = 8
    lr: float = 1e-3
    seeds: tuple[int, ...] = (0,)
    rhos: tuple[float, ...] = (0.05, 0.1, 0.3, 1.0)
    log_every: int = 10
    swap_pairs: int | None = 10
    swap_bars: int | None = 4
    transfer_clips: int | None = 12
    transfer_bars: int | None = 4
    latent_bars: int | None = 1500
    quality_pieces: int = 4
    quality_bars: int = 8
    device: str = "cpu"
    threads: int | None = None

    def describe(self) -> str:
        config = self.config if isinstance(self.config, str) else "tiny (" + ", ".join(
            f"{k} {v}" for k, v in self.config.items() if k in ("n_layers", "d_model", "d_latent", "n_bars")) + ")"
        def count(value, what):
            return f"all {what}" if value is None else f"{value} {what}"
        return (f"`{self.name}`: supervision runs {config} config, {self.steps} steps of batch {self.batch}, "
                f"lr {self.lr:g}, seeds {list(self.seeds)}, rho {list(self.rhos)}; feature swap "
                f"{count(self.swap_pairs, 'pairs')} x {count(self.swap_bars, 'bars')}; emotion transfer "
                f"{count(self.transfer_clips, 'clips')} x {count(self.transfer_bars, 'bars')}; t-SNE of "
                f"{count(self.latent_bars, 'bars')}; generation {self.quality_pieces} pieces x "
                f"{self.quality_bars} bars per quadrant; device {self.device}"
                + (f", {self.threads} CPU thread(s)" if self.threads else ""))


# A tiny model trained from scratch in minutes on a loaded 2-core CPU (0.4 s a step of 8 x 2 bars).
TINY_CONFIG = {"n_layers": 1, "n_enc_layers": 1, "n_heads": 2, "d_model": 32, "d_ff": 64, "d_latent": 16,
               "n_bars": 2, "bar_len": 128, "init_std_log": 0.0}
SCALES = {
    "reduced": Scale(name="reduced", config=TINY_CONFIG, steps=120, seeds=(0, 1), threads=1),
    # the paper's model size and all of the validation split; a trained paper-size model is passed to the
    # model experiments with --checkpoint
    "full": Scale(name="full", config="paper", steps=20000, batch=16, lr=1e-4, seeds=(0, 1, 2), log_every=200,
                  swap_pairs=None, swap_bars=None, transfer_clips=None, transfer_bars=None, latent_bars=None,
                  quality_pieces=16, quality_bars=16, device="cuda"),
}


def load_scale(spec: str) -> Scale:
    """A preset name (reduced, full) or a JSON file of Scale fields over `reduced` (`"base": "full"` starts
    from another preset). UserError for an unknown name, an unreadable file or an unknown field."""
    if spec in SCALES:
        return SCALES[spec]
    path = Path(spec)
    if path.suffix != ".json":
        raise UserError(f"unknown scale {spec!r}; choose one of {', '.join(SCALES)} or a .json file of its fields")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"cannot read scale {path}: {err}") from None
    base = SCALES.get(data.pop("base", "reduced"))
    known = {f.name for f in fields(Scale)}
    if base is None or set(data) - known:
        raise UserError(f"{path}: unknown base or fields {sorted(set(data) - known)}; fields are {sorted(known)}")
    for name in ("seeds", "rhos"):
        if name in data:
            data[name] = tuple(data[name])
    return replace(base, name=data.pop("name", path.stem), **data)


# --- shared ---------------------------------------------------------------------------------------------
def token_bars(piece: Piece, limit: int | None = None) -> list[list[int]]:
    """A prepared piece's bars as token lists without PAD, at most `limit` of them."""
    rows = piece.tokens if limit is None else piece.tokens[:limit]
    return [[int(t) for t in row if t != V.PAD] for row in rows]


def bar_notes(bars: Sequence[Sequence[int]]) -> list[list[GridNote]]:
    return [codec.bar_notes(bar) for bar in bars]


def validation_pieces(data: str | Path, bar_len: int) -> list[Piece]:
    """The validation split's pieces labelled in both factors, by id. UserError when there are none."""
    _, val = load_prepared(data, bar_len)
    pieces = sorted((p for p in val if p.arousal >= 0 and p.valence >= 0), key=lambda p: p.id)
    if not pieces:
        raise UserError(f"{data} has no labelled validation pieces (split 'val'); the experiments score on them")
    return pieces


def piece_quadrant(piece: Piece) -> str:
    return quadrant(piece.valence, piece.arousal)


def spread_over_quadrants(pieces: Sequence[Piece], count: int | None, min_bars: int = 1) -> list[Piece]:
    """`count` pieces of at least `min_bars` bars (None: all), taken in turn from each quadrant, so that the
    quadrants are as equally represented as the data allows; deterministic (pieces in id order)."""
    by_quadrant = {q: [p for p in pieces if piece_quadrant(p) == q and p.n_bars >= min_bars] for q in QUADRANT_NAMES}
    chosen: list[Piece] = []
    while any(by_quadrant.values()) and (count is None or len(chosen) < count):
        for q in QUADRANT_NAMES:
            if by_quadrant[q] and (count is None or len(chosen) < count):
                chosen.append(by_quadrant[q].pop(0))
    return chosen


def make_generator(checkpoint: str | Path | None, device: str, seed: int, temperature: float,
                   key_strength: float, backend: str = "eager") -> Generator:
    """The model without a latent prior (the paper's mixture draws), key guidance at `key_strength` (0: the
    latents alone decide, as in the paper)."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu")
    return Generator.load(checkpoint, device=device, use_prior=False, seed=seed, backend=backend,
                          controls=Controls(temperature=temperature, key_strength=key_strength))


def progress(total: int, what: str, show: bool) -> tqdm:
    """A progress bar on stderr, `total` pieces of work (shown only if `show`)."""
    return tqdm(total=total, desc=what, unit="piece", disable=not show, dynamic_ncols=True)


# --- supervision rate and mode collapse -----------------------------------------------------------------
def model_config(scale: Scale, folder: Path) -> str:
    """The trainer's --config for the scale: a preset name or a JSON file written into `folder`."""
    if isinstance(scale.config, str):
        return scale.config
    ModelConfig.from_dict(scale.config)  # a UserError for an unknown field, before any training
    path = folder / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(scale.config, indent=1, sort_keys=True))
    return str(path)


def run_options(data: str | Path, folder: Path, scale: Scale, setting: str, rho: float, seed: int) -> TrainOptions:
    alpha, mi = SETTINGS[setting]
    return TrainOptions(data=str(data), out=str(folder / f"{setting}-rho{rho:g}-seed{seed}"),
                        config=model_config(scale, folder), steps=scale.steps, batch=scale.batch, rho=rho,
                        alpha=alpha, mi=mi, seed=seed, lr=scale.lr, warmup=max(1, scale.steps // 20),
                        val_every=scale.steps, ckpt_every=scale.steps, log_every=min(scale.log_every, scale.steps),
                        threads=scale.threads)


def supervision_runs(data: str | Path, folder: Path, scale: Scale, show: bool = True) -> list[dict]:
    """Train every (setting, rho, seed) of the scale into folder/SETTING-rhoR-seedS/, or reuse a run whose
    summary.json has the same options (a half-written run is trained again). Returns one record per run:
    setting, rho, seed, run folder, validation accuracies of q(y|x) at the last step."""
    records = []
    grid = [(s, rho, seed) for rho in scale.rhos for s in SETTINGS for seed in scale.seeds]
    for index, (setting, rho, seed) in enumerate(grid, 1):
        opts = run_options(data, folder, scale, setting, rho, seed)
        out = Path(opts.out)
        summary = _finished_summary(out, opts)
        if summary is None:
            if show:
                print(f"evaluate: run {index}/{len(grid)}: {setting}, rho {rho:g}, seed {seed}", flush=True)
            shutil.rmtree(out, ignore_errors=True)
            with _quiet(not show):
                summary = train(opts)
        val = summary.get("val", {})
        records.append({"setting": setting, "rho": rho, "seed": seed, "run": str(out),
                        "acc_arousal": val.get("acc_arousal"), "acc_valence": val.get("acc_valence"),
                        "steps": summary["steps"], "wall_s": summary["wall_s"]})
    return records


@contextlib.contextmanager
def _quiet(quiet: bool):
    """The trainer's progress bar and lines dropped when `quiet` (evaluate --quiet); errors still raise."""
    if not quiet:
        yield
        return
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


def _finished_summary(out: Path, opts: TrainOptions) -> dict | None:
    try:
        summary = json.loads((out / "summary.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    same = summary.get("options") == asdict(opts) and summary.get("code_sha256") == code_digest()
    return summary if same and (out / "model.json").is_file() else None


def _mean_spread(values: Sequence[float]) -> dict:
    values = [v for v in values if v is not None]
    return {"mean": float(np.mean(values)) if values else None, "min": min(values, default=None),
            "max": max(values, default=None), "n": len(values)}


def supervision_rate(runs: Sequence[dict]) -> dict:
    """Per setting and rho, arousal and valence accuracy over the seeds (mean, min, max), and every run."""
    table = {}
    for setting in SETTINGS:
        for rho in sorted({r["rho"] for r in runs}):
            mine = [r for r in runs if r["setting"] == setting and r["rho"] == rho]
            table.setdefault(setting, {})[f"{rho:g}"] = {
                factor: _mean_spread([r[f"acc_{factor}"] for r in mine]) for factor in ("arousal", "valence")}
    return {"settings": {s: {"alpha": a, "mi": m} for s, (a, m) in SETTINGS.items()}, "table": table,
            "runs": list(runs)}


def component_distances(model: CDGMVAE) -> dict[str, float]:
    """Euclidean distance between the low and high component means of each factor's mixture (r: arousal,
    k: valence); 0 when the components have collapsed onto one mean."""
    with torch.no_grad():
        return {"r": float(model.prior_r.mean_distance()), "k": float(model.prior_k.mean_distance())}


@torch.no_grad()
def component_shares(model: CDGMVAE, pieces: Sequence[Piece]) -> dict[str, float]:
    """For each factor, the largest share of `pieces` that q(y|x) (z = mu, Eq 6) assigns to one component:
    1 when every piece lands in the same component, the share of the larger label when q(y|x) is right."""
    model.eval()
    encoded = encode_pieces(model, pieces, progress=False)
    prior = {"r": model.prior_r, "k": model.prior_k}
    d = model.cfg.d_latent
    shares = {}
    for factor, (lo, hi) in (("r", (0, d)), ("k", (d, 2 * d))):
        device = prior[factor].means.device
        chosen = [int(prior[factor].log_prob(torch.from_numpy(e.latents[:, lo:hi]).to(device)).mean(0).argmax())
                  for e in encoded]
        shares[factor] = float(np.bincount(chosen, minlength=2).max() / len(chosen))
    return shares


def read_log(run: str | Path) -> list[dict]:
    """The training lines of a run's log.jsonl."""
    return [json.loads(line) for line in (Path(run) / "log.jsonl").read_text().splitlines() if line.strip()]


def mode_collapse(runs: Sequence[dict], data: str | Path, bar_len: int | None = None) -> dict:
    """For each run: the component distances over training steps (from its log), at the end (from its
    weights), and the share of the validation clips q(y|x) assigns to one component; for reference, the
    share of the larger label among those clips."""
    out, pieces = [], None
    for record in runs:
        model, config = load_model(record["run"])
        if pieces is None:
            pieces = validation_pieces(data, bar_len or config.bar_len)
        log = read_log(record["run"])
        out.append({**{k: record[k] for k in ("setting", "rho", "seed", "run")},
                    "steps": [line["step"] for line in log],
                    "distance_r": [line["mean_distance_r"] for line in log],
                    "distance_k": [line["mean_distance_k"] for line in log],
                    "final_distance": component_distances(model),
                    "one_component_share": component_shares(model, pieces)})
    labels = {"r": [p.arousal for p in pieces or []], "k": [p.valence for p in pieces or []]}
    larger = {f: float(np.bincount(v, minlength=2).max() / len(v)) if v else None for f, v in labels.items()}
    return {"runs": out, "larger_label_share": larger, "clips": len(pieces or [])}


# --- feature swap ---------------------------------------------------------------------------------------
def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Eq 22: <a, b> / (|a| |b|); 1 for two zero vectors (the same, empty), 0 for one."""
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norms == 0.0:
        return 1.0 if not a.any() and not b.any() else 0.0
    return float(np.dot(a.ravel(), b.ravel()) / norms)


def swap_features(notes: Sequence[Sequence[GridNote]], n_bars: int) -> dict[str, np.ndarray]:
    """The project's per-bar features (engine/features.py) of a piece's first n_bars bars, each a vector
    over the piece: rhythm, the onset counts at the 16 positions of each bar [n*16]; key, the one-hot of
    each bar's key among 24 [n*24], so that the cosine of two keys is the share of bars in the same key."""
    notes = list(notes[:n_bars]) + [[] for _ in range(n_bars - len(notes[:n_bars]))]
    rhythm, keys = piece_features(notes)
    return {"rhythm": rhythm.ravel(), "key": np.eye(N_KEYS)[keys].ravel()}


def swap_pairs(pieces: Sequence[Piece], count: int | None, n_bars: int | None) -> list[tuple[Piece, Piece]]:
    """Pairs (A, B) of distinct clips of at least n_bars bars, quadrants spread (spread_over_quadrants), A and
    B next to each other in that order so that most pairs differ in emotion."""
    pool = spread_over_quadrants(pieces, None if count is None else 2 * count, n_bars or 1)
    return [(pool[i], pool[i + 1]) for i in range(0, len(pool) - 1, 2)]


def feature_swap(generator: Generator, pairs: Sequence[tuple[Piece, Piece]], n_bars: int | None, seed: int = 0,
                 show: bool = True) -> dict:
    """Eq 22 over the pairs: for the rhythm swap (B's z_r, A's z_k) and the key swap (A's z_r, B's z_k), the
    cosine similarity of the result's rhythm and key features with A's and with B's, against the clips
    themselves (`original`, as in the paper) and against the model's own rendering of A and B from their
    latents (`reconstruction`: the swap decoded the same way, so that what the decoder cannot rebuild
    does not count). Every decode starts from the same seed, so equal latents give equal notes.

    Returns the mean of each similarity over pairs and each pair's values: similarity[swap][basis][feature][side].
    """
    per_pair = []
    bar = progress(len(pairs), "feature swap", show)
    for a, b in pairs:
        n = min(a.n_bars, b.n_bars, n_bars or max(a.n_bars, b.n_bars))
        bars = {"A": token_bars(a, n), "B": token_bars(b, n)}
        latents = {side: generator.encode_piece(bars[side])[:2] for side in bars}
        decoded = {}
        for name, (r_from, k_from) in {"A": ("A", "A"), "B": ("B", "B"), "rhythm": ("B", "A"),
                                       "key": ("A", "B")}.items():
            generator.reset(seed)
            out = generator.decode_latents(latents[r_from][0], latents[k_from][1], tonic_of(bars[k_from]))
            decoded[name] = swap_features([o.notes for o in out], n)
        original = {side: swap_features(bar_notes(bars[side]), n) for side in bars}
        values = {swap: {basis: {feature: {side: cosine(decoded[swap][feature], reference[side][feature])
                                           for side in ("A", "B")} for feature in SWAPS}
                         for basis, reference in (("original", original), ("reconstruction", decoded))}
                  for swap in SWAPS}
        per_pair.append({"A": a.id, "B": b.id, "bars": n, "quadrants": [piece_quadrant(a), piece_quadrant(b)],
                         "similarity": values})
        bar.update()
    bar.close()
    mean = {swap: {basis: {feature: {side: float(np.mean([p["similarity"][swap][basis][feature][side]
                                                          for p in per_pair])) if per_pair else None
                                     for side in ("A", "B")} for feature in SWAPS}
                   for basis in ("original", "reconstruction")} for swap in SWAPS}
    score = {swap: {basis: swap_score(mean[swap][basis], swap) for basis in ("original", "reconstruction")}
             for swap in SWAPS}
    return {"pairs": len(per_pair), "similarity": mean, "score": score, "per_pair": per_pair}


def swap_score(similarity: dict, swap: str) -> dict[str, float | None]:
    """How well a swap did, from similarity[feature][side]: `swapped`, the swapped feature's similarity with
    B minus with A (it should have come from B); `kept`, the other feature's similarity with A minus with B
    (it should have stayed A's). Both near 1 for a disentangled model; `swapped` is at most 0 (against the
    reconstructions) for a model whose decoder ignores the swapped latent."""
    other = "key" if swap == "rhythm" else "rhythm"
    if similarity[swap]["A"] is None:
        return {"swapped": None, "kept": None}
    return {"swapped": similarity[swap]["B"] - similarity[swap]["A"],
            "kept": similarity[other]["A"] - similarity[other]["B"]}


def zero_rhythm_latent(model: CDGMVAE) -> CDGMVAE:
    """The model with the decoder's z_r inputs zeroed (its part of the z projection and, with the bag-of-notes
    path, the gain of D_r's onsets on the Position tokens): it decodes the same notes whatever z_r is (a model
    whose latents ignore the rhythm, for checking that the feature swap tells it apart)."""
    with torch.no_grad():
        model.z_proj.weight[:, : model.cfg.d_latent] = 0.0
        if model.cfg.note_bias:
            model.note_gain[1] = 0.0
    return model


# --- emotion transfer -----------------------------------------------------------------------------------
def emotion_transfer(generator: Generator, pieces: Sequence[Piece], n_bars: int | None, lam: float = 1.0,
                     seed: int = 0, show: bool = True) -> dict:
    """Eq 23 at `lam` for every piece and each quadrant (target), the result judged by the reference
    classifier and by q(y|x) (each factor high when P(high) >= 0.5).

    Returns confusion[judge][target][heard]: counts of results (each row sums to the number of pieces), and
    accuracy[judge][source][target]: the share of pieces of a source quadrant (their label) moved to a target
    quadrant that the judge hears in the target quadrant (the paper's Table 4), with per-factor accuracies.
    """
    judges = Judges(generator)
    confusion = {j: {t: dict.fromkeys(QUADRANT_NAMES, 0) for t in QUADRANT_NAMES} for j in ("reference", "model")}
    hits: dict[str, dict[tuple[str, str], list[tuple[bool, bool, bool]]]] = {"reference": {}, "model": {}}
    bar = progress(len(pieces) * len(EMOTIONS), "emotion transfer", show)
    for piece in pieces:
        bars = token_bars(piece, n_bars)
        encoded = generator.encode_piece(bars)
        for emotion in EMOTIONS:
            valence, arousal = emotion_va(emotion)
            target = QUADRANTS[emotion]
            generator.reset(seed)
            result = generator.transfer(bars, valence, arousal, lam, encoded)
            heard = {"reference": judges.reference([b.notes for b in result]),
                     "model": judges.model([b.tokens for b in result])}
            for judge, (p_arousal, p_valence) in heard.items():
                confusion[judge][target][quadrant(p_valence, p_arousal)] += 1
                right = ((p_arousal >= 0.5) == (arousal >= 0.5), (p_valence >= 0.5) == (valence >= 0.5))
                hits[judge].setdefault((piece_quadrant(piece), target), []).append((*right, all(right)))
            bar.update()
    bar.close()
    accuracy = {judge: {source: {target: dict(zip(("arousal", "valence", "quadrant", "n"),
                                                  [*np.mean(cell, axis=0).tolist(), len(cell)]))
                                 for (s, target), cell in sorted(found.items()) if s == source}
                        for source in QUADRANT_NAMES if any(s == source for s, _ in found)}
                for judge, found in hits.items()}
    overall = {judge: {k: float(np.mean([h[i] for cell in found.values() for h in cell])) if found else None
                       for i, k in enumerate(("arousal", "valence", "quadrant"))} for judge, found in hits.items()}
    return {"clips": len(pieces), "lambda": lam, "bars": n_bars, "confusion": confusion, "accuracy": accuracy,
            "overall": overall}


# --- latent space ---------------------------------------------------------------------------------------
def latent_space(model: CDGMVAE, pieces: Sequence[Piece], max_bars: int | None, seed: int = 0,
                 show: bool = True) -> dict:
    """The validation bars' posterior means z_r and z_k (each bar with the previous one as the encoders'
    memory), each with its piece's arousal and valence label, embedded in 2-D by t-SNE (scikit-learn;
    at most `max_bars` bars, a seeded random subset). Silhouette scores on the latents themselves say how
    well a label separates them (-1..1; near 0: not at all): z_r by arousal and z_k by valence are the
    factors' own, z_r by valence and z_k by arousal the other's. Returns the points and the scores."""
    from sklearn.manifold import TSNE
    from sklearn.metrics import silhouette_score
    model.eval()
    encoded = encode_pieces(model, pieces, progress=show)
    d = model.cfg.d_latent
    z = np.concatenate([e.latents for e in encoded])
    labels = np.concatenate([np.tile(np.array([[e.controls[1], e.controls[0]]]), (len(e.latents), 1))
                             for e in encoded]).astype(int)  # [bars, (arousal, valence)]
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(z), size=max_bars, replace=False)) if max_bars and len(z) > max_bars else \
        np.arange(len(z))
    z, labels = z[keep], labels[keep]
    out = {"bars": int(len(z)), "clips": len(encoded), "arousal": labels[:, 0].tolist(),
           "valence": labels[:, 1].tolist(), "silhouette": {}}
    for name, part in (("z_r", z[:, :d]), ("z_k", z[:, d:])):
        perplexity = float(min(30.0, max(2.0, (len(part) - 1) / 3)))
        out[name] = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
            part).round(3).tolist()
        for factor, column in (("arousal", 0), ("valence", 1)):
            both = len(set(labels[:, column].tolist())) == 2
            out["silhouette"][f"{name} by {factor}"] = float(silhouette_score(part, labels[:, column])) if both \
                else None
    return out


# --- generation quality ---------------------------------------------------------------------------------
def generate_set(generator: Generator, folder: Path, pieces: int, bars: int, first_seed: int = 0,
                 on_piece: Callable[[], None] | None = None) -> tuple[list[Path], list[tuple[float, float]]]:
    """`pieces` pieces per quadrant (seeds first_seed.., lambda 1, the generator's other controls), each
    written as a MIDI file QN_emotion_SEED.mid in `folder`; returns the files and each one's (valence,
    arousal) target."""
    folder.mkdir(parents=True, exist_ok=True)
    base = generator.controls
    files, targets = [], []
    for emotion in EMOTIONS:
        valence, arousal = emotion_va(emotion)
        generator.controls = replace(base, valence=valence, arousal=arousal, lam=1.0)
        for seed in range(first_seed, first_seed + pieces):
            generator.reset(seed)
            path = folder / f"{QUADRANTS[emotion]}_{emotion}_{seed:03d}.mid"
            codec.decode([b.tokens for b in generator.generate(bars)]).write(str(path))
            files.append(path)
            targets.append((valence, arousal))
            if on_piece:
                on_piece()
    generator.controls = base
    return files, targets


def reference_hits(pieces, targets: Sequence[tuple[float, float]], baseline_path: Path = BASELINE) -> np.ndarray:
    """[n, 2] bool: whether the reference classifier hears each piece's (arousal, valence) target, the piece
    read from its MIDI file (training/quality.py's MidiPiece)."""
    baseline = LogisticRegression.load(baseline_path)
    return np.array([(baseline.probabilities(clip_features(p.bars()))[0] >= 0.5) == (np.array([a, v]) >= 0.5)
                     for p, (v, a) in zip(pieces, targets)]).reshape(-1, 2)


def judge(pieces, targets) -> dict:
    """How often the reference classifier hears the arousal and the valence asked for."""
    hits = reference_hits(pieces, targets)
    return {"judge_arousal": float(hits[:, 0].mean()), "judge_valence": float(hits[:, 1].mean())}


def _quality_row(midi_pieces, targets, model_hits: np.ndarray) -> dict:
    row = summarise([measure_piece(p) for p in midi_pieces])
    reference = reference_hits(midi_pieces, targets)
    return {k: row[k] for k in ("pieces", "h1", "h4", "gs", "notes_per_bar")} | {
        "reference_arousal": float(reference[:, 0].mean()), "reference_valence": float(reference[:, 1].mean()),
        "reference_quadrant": float(reference.all(1).mean()), "model_arousal": float(model_hits[:, 0].mean()),
        "model_valence": float(model_hits[:, 1].mean()), "model_quadrant": float(model_hits.all(1).mean())}


def generation_quality(generator: Generator, pieces: Sequence[Piece], folder: Path, n_pieces: int, n_bars: int,
                       show: bool = True) -> dict:
    """Per quadrant, H1, H4, GS and notes per bar of `n_pieces` generated pieces of `n_bars` bars and of the
    validation clips of that quadrant, and the emotion accuracy of each: the share of pieces in which the
    reference classifier, and q(y|x), hear the quadrant's arousal, valence, and both. Generated pieces and
    the clips (their prepared tokens, so that both went through the same grid) are written as MIDI in
    `folder` and measured from those files (training/quality.py)."""
    judges = Judges(generator)
    bar = progress(len(EMOTIONS) * n_pieces + len(pieces), "generation quality", show)
    files, targets = generate_set(generator, folder / "generated", n_pieces, n_bars, on_piece=bar.update)
    real_files, real_targets = [], []
    (folder / "real").mkdir(parents=True, exist_ok=True)
    for piece in pieces:
        path = folder / "real" / f"{piece_quadrant(piece)}_{piece.id}.mid"
        codec.decode(token_bars(piece)).write(str(path))
        real_files.append(path)
        real_targets.append((float(piece.valence), float(piece.arousal)))
        bar.update()
    bar.close()
    rows: dict[str, dict] = {"generated": {}, "real": {}}
    for kind, kind_files, kind_targets in (("generated", files, targets), ("real", real_files, real_targets)):
        for q in QUADRANT_NAMES:
            chosen = [(f, t) for f, t in zip(kind_files, kind_targets) if f.name.startswith(q + "_")]
            midi, skipped = read_folder([f for f, _ in chosen])
            # a piece without notes cannot be read (read_folder skips it): it is counted, not measured
            read = [(f, t) for f, t in chosen if f.name in {p.name for p in midi}]
            if not read:
                rows[kind][q] = {"pieces": 0, "skipped": len(skipped)}
                continue
            model_hits = np.array([[(p >= 0.5) == (want >= 0.5) for p, want in
                                    zip(judges.model(codec.encode(f, generator.model.cfg.bar_len).bars), (a, v))]
                                   for f, (v, a) in read])
            rows[kind][q] = _quality_row(midi, [t for _, t in read], model_hits) | {"skipped": len(skipped)}
    return {"pieces_per_quadrant": n_pieces, "bars": n_bars, "rows": rows}
