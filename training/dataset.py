"""A prepared dataset (written by `cdgmvae prepare`) and the deterministic segment sampler.

A batch is a pure function of (seed, rank, step), so a resumed run sees exactly the batches an
uninterrupted one would, and the sampler's whole state is the step number.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from cdgmvae.engine import vocab
from cdgmvae.engine.errors import UserError
from cdgmvae.training.batch import Batch
from cdgmvae.training.prepare import MANIFEST_VERSION

UNKNOWN = -1  # label value of an unlabelled factor
PREPARE_HINT = "make one with `cdgmvae prepare MIDI_DIR --out DIR`"


@dataclass(frozen=True)
class Piece:
    id: str
    tokens: np.ndarray   # int16 [bars, L]
    rhythm: np.ndarray   # float32 [bars, 16]
    key: np.ndarray      # int64 [bars]
    arousal: int         # 0, 1 or UNKNOWN
    valence: int
    split: str | None
    name: str = ""       # the source file's name: what label hiding and --holdout hash, so that they pick the same
                         # pieces whichever folder or machine prepared the data (the id hashes the absolute path)

    @property
    def stable_key(self) -> str:
        return self.name or self.id

    @property
    def n_bars(self) -> int:
        return len(self.tokens)

    @property
    def labelled(self) -> bool:
        return self.arousal != UNKNOWN or self.valence != UNKNOWN


def _label(value, what: str) -> int:
    if value is None:
        return UNKNOWN
    if value not in (0, 1):
        raise UserError(f"manifest: {what} must be 0, 1 or null, not {value!r}; re-run `cdgmvae prepare`")
    return int(value)


def _load_piece(root: Path, entry: dict, bar_len: int) -> Piece:
    path = root / entry["file"]
    try:
        with np.load(path, allow_pickle=False) as npz:
            tokens, rhythm, key = npz["tokens"], npz["rhythm"], npz["key"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise UserError(f"cannot read piece {path}: {err}; re-run `cdgmvae prepare`") from None
    if tokens.ndim != 2 or tokens.shape[1] > bar_len or len(rhythm) != len(tokens) or len(key) != len(tokens):
        raise UserError(f"piece {path} has tokens {tokens.shape}, rhythm {rhythm.shape}, key {key.shape}; "
                        f"expected [bars, <= {bar_len}], [bars, 16], [bars]")
    if tokens.shape[1] < bar_len:
        tokens = np.pad(tokens, ((0, 0), (0, bar_len - tokens.shape[1])), constant_values=vocab.PAD)
    return Piece(id=str(entry["id"]), tokens=tokens.astype(np.int16), rhythm=rhythm.astype(np.float32),
                 key=key.astype(np.int64), arousal=_label(entry.get("arousal"), "arousal"),
                 valence=_label(entry.get("valence"), "valence"), split=entry.get("split"),
                 name=_source_name(entry.get("source")))


def _source_name(source) -> str:
    """The file name of a manifest entry's source ("data/emopia/midis/Q1_x_0.mid" -> "Q1_x_0.mid"); "" if none."""
    return Path(str(source)).name if source else ""


def load_prepared(root: str | Path, bar_len: int) -> tuple[list[Piece], list[Piece]]:
    """(training pieces, validation pieces) of a prepared folder; pieces whose split is not "val" train."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"dataset folder {root} does not exist; {PREPARE_HINT}")
    manifest_path = root / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise UserError(f"{root} has no manifest.json, so it is not a prepared dataset; {PREPARE_HINT}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{manifest_path} is not valid JSON ({err}); re-run `cdgmvae prepare`") from None
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
        version = manifest.get("version") if isinstance(manifest, dict) else None
        raise UserError(f"{manifest_path}: unsupported manifest version {version!r} "
                        f"(expected {MANIFEST_VERSION}); re-run `cdgmvae prepare`")
    if manifest.get("vocab_fingerprint") != vocab.fingerprint():
        raise UserError(f"{root} was prepared with another vocabulary "
                        f"(fingerprint {manifest.get('vocab_fingerprint')}, this cdgmvae has {vocab.fingerprint()}); "
                        f"re-run `cdgmvae prepare`")
    if int(manifest.get("bar_len", 0)) > bar_len:
        raise UserError(f"{root} has bars of {manifest.get('bar_len')} tokens but the model takes {bar_len}; "
                        f"prepare it again with that bar length or choose a config with bar_len >= it")
    try:
        pieces = [_load_piece(root, entry, bar_len) for entry in manifest["pieces"]]
    except (KeyError, TypeError) as err:
        raise UserError(f"{manifest_path}: a piece entry lacks {err}; re-run `cdgmvae prepare`") from None
    pieces = [p for p in pieces if p.n_bars > 0]
    train = [p for p in pieces if p.split != "val"]
    val = [p for p in pieces if p.split == "val"]
    if not train:
        raise UserError(f"{root} has no training pieces; {PREPARE_HINT}")
    return train, val


def _hash_unit(seed: int, piece_id: str) -> float:
    digest = hashlib.sha256(f"{seed}:{piece_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hide_labels(pieces: list[Piece], rho: float | None, seed: int) -> list[Piece]:
    """Keep the labels of round(rho * len(pieces)) pieces (all labelled ones if fewer), chosen by a hash of
    (seed, source file name), so the same pieces stay labelled across runs, resumes, ranks and machines."""
    if rho is None:
        return pieces
    if not 0.0 <= rho <= 1.0:
        raise UserError(f"--rho must be between 0 and 1, not {rho}")
    labelled = sorted((p for p in pieces if p.labelled), key=lambda p: _hash_unit(seed, p.stable_key))
    keep = {p.id for p in labelled[:round(rho * len(pieces))]}
    return [p if p.id in keep or not p.labelled else replace(p, arousal=UNKNOWN, valence=UNKNOWN) for p in pieces]


def split_holdout(pieces: list[Piece], fraction: float, seed: int) -> tuple[list[Piece], list[Piece]]:
    """(training pieces, held-out pieces): round(fraction * n) of each quadrant's labelled pieces, chosen by a
    hash of (seed, source file name), are held out of training so that a checkpoint can be picked on them without
    looking at the validation split."""
    if not 0.0 <= fraction < 1.0:
        raise UserError(f"--holdout must be at least 0 and below 1, not {fraction}")
    by_quadrant: dict[tuple[int, int], list[Piece]] = {}
    for piece in pieces:
        if piece.arousal != UNKNOWN and piece.valence != UNKNOWN:
            by_quadrant.setdefault((piece.arousal, piece.valence), []).append(piece)
    held = set()
    for group in by_quadrant.values():
        group.sort(key=lambda p: _hash_unit(seed, "holdout:" + p.stable_key))
        held.update(p.id for p in group[:round(fraction * len(group))])
    if fraction and not held:
        raise UserError("--holdout needs pieces labelled with both arousal and valence; the data has none")
    return [p for p in pieces if p.id not in held], [p for p in pieces if p.id in held]


def trim_to_content(tokens: np.ndarray) -> np.ndarray:
    """Drop the trailing token columns that are PAD in every bar of the batch (they cost compute only)."""
    used = np.flatnonzero((tokens != vocab.PAD).any(axis=tuple(range(tokens.ndim - 1))))
    return tokens[..., :max(2, used[-1] + 1 if len(used) else 2)]


def _stack(pieces_bars: list[tuple[Piece, int, int]], n_bars: int) -> Batch:
    """Pieces' bar ranges [start, stop) -> padded arrays; filler bars have bar_mask False."""
    B, L = len(pieces_bars), pieces_bars[0][0].tokens.shape[1]
    tokens = np.full((B, n_bars, L), vocab.PAD, dtype=np.int64)
    rhythm = np.zeros((B, n_bars, 16), dtype=np.float32)
    key = np.zeros((B, n_bars), dtype=np.int64)
    bar_mask = np.zeros((B, n_bars), dtype=bool)
    for i, (piece, start, stop) in enumerate(pieces_bars):
        n = stop - start
        tokens[i, :n] = piece.tokens[start:stop]
        rhythm[i, :n] = piece.rhythm[start:stop]
        key[i, :n] = piece.key[start:stop]
        bar_mask[i, :n] = True
    arousal = np.array([p.arousal for p, _, _ in pieces_bars], dtype=np.int64)
    valence = np.array([p.valence for p, _, _ in pieces_bars], dtype=np.int64)
    return Batch(*map(torch.from_numpy, (trim_to_content(tokens), bar_mask, rhythm, key, arousal, valence)))


class SegmentSampler(torch.utils.data.Dataset):
    """Item `step` is the batch of that step: `batch_size` segments of up to n_bars consecutive bars, pieces
    drawn in proportion to their bars, labelled and unlabelled mixed in the pool's proportion (at least
    one of each when both exist)."""

    def __init__(self, pieces: list[Piece], n_bars: int, batch_size: int, seed: int, rank: int = 0):
        self.labelled = [p for p in pieces if p.labelled]
        self.unlabelled = [p for p in pieces if not p.labelled]
        self.n_bars, self.batch_size, self.seed, self.rank = n_bars, batch_size, seed, rank

    def __len__(self) -> int:
        return 2**62

    def n_labelled(self) -> int:
        total = len(self.labelled) + len(self.unlabelled)
        n = round(self.batch_size * len(self.labelled) / total)
        low = 1 if self.labelled and self.batch_size > 1 else 0
        high = self.batch_size - 1 if self.unlabelled and self.batch_size > 1 else self.batch_size
        return min(max(n, low), high) if self.labelled else 0

    def _draw(self, rng: np.random.Generator, pool: list[Piece], count: int) -> list[tuple[Piece, int, int]]:
        weights = np.array([p.n_bars for p in pool], dtype=np.float64)
        chosen = rng.choice(len(pool), size=count, p=weights / weights.sum())
        segments = []
        for index in chosen:
            piece = pool[index]
            start = int(rng.integers(0, max(1, piece.n_bars - self.n_bars + 1)))
            segments.append((piece, start, min(piece.n_bars, start + self.n_bars)))
        return segments

    def __getitem__(self, step: int) -> Batch:
        rng = np.random.default_rng([self.seed, self.rank, step])
        n_lab = self.n_labelled()
        segments = self._draw(rng, self.labelled, n_lab) if n_lab else []
        if self.batch_size - n_lab:
            segments += self._draw(rng, self.unlabelled, self.batch_size - n_lab)
        return _stack(segments, self.n_bars)


def whole_piece_batches(pieces: list[Piece], batch_size: int) -> list[Batch]:
    """Validation: every piece whole (all its bars), grouped by length to waste little padding."""
    ordered = sorted(pieces, key=lambda p: p.n_bars)
    batches = []
    for i in range(0, len(ordered), batch_size):
        group = ordered[i:i + batch_size]
        batches.append(_stack([(p, 0, p.n_bars) for p in group], max(p.n_bars for p in group)))
    return batches
