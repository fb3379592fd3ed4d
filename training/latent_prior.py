"""Fit the latent prior (engine/prior.py) on the encoder's posteriors of a prepared dataset's training pieces.

Each training piece is encoded whole (its bars in order, each bar with the previous one as the encoders'
memory); its bars' posterior means concat(mu_r, mu_k) are one sequence of the autoregression, and its
bars' keys (the Krumhansl-Schmuckler keys `prepare` stored) the keyed prior's key sequence. A piece's
conditioning (valence, arousal) is its label where it has one and q(y|x) (Eq 6, over the piece's bars)
where it has none, so unlabelled pieces count with the emotion the model hears in them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from cdgmvae.engine.checkpoint import load_model, read_header, resolve
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.model import CDGMVAE
from cdgmvae.engine.prior import PRIOR_NAME, LatentPrior, fit_prior
from cdgmvae.training.dataset import UNKNOWN, Piece, load_prepared, whole_piece_batches
from tqdm import tqdm


@dataclass
class EncodedPiece:
    id: str
    latents: np.ndarray        # [bars, 2l]: concat(mu_r, mu_k) per bar
    keys: np.ndarray           # [bars]: each bar's key (0..23), as `prepare` stored it
    controls: tuple[float, float]  # (valence, arousal) in [0, 1]
    labelled: bool


@torch.no_grad()
def encode_pieces(model: CDGMVAE, pieces: Sequence[Piece], batch_size: int = 16,
                  progress: bool = True) -> list[EncodedPiece]:
    """Every piece's per-bar posterior means and its (valence, arousal): labels, or q(y|x) where unknown."""
    device = next(model.parameters()).device
    batches = whole_piece_batches(list(pieces), batch_size)
    order = sorted(pieces, key=lambda p: p.n_bars)  # whole_piece_batches' order
    out = []
    for index, batch in enumerate(tqdm(batches, desc="encode", unit="batch", disable=not progress)):
        tokens, mask = batch.tokens.to(device), batch.bar_mask.to(device)
        latents = model.encode(tokens)
        log_q_a, log_q_v = model.posterior(latents.mu_r, latents.mu_k, mask)
        group = order[index * batch_size: (index + 1) * batch_size]
        for row, piece in enumerate(group):
            n = piece.n_bars
            z = torch.cat([latents.mu_r[row, :n], latents.mu_k[row, :n]], dim=-1).cpu().numpy()
            valence = piece.valence if piece.valence != UNKNOWN else float(log_q_v[row, 1].exp())
            arousal = piece.arousal if piece.arousal != UNKNOWN else float(log_q_a[row, 1].exp())
            out.append(EncodedPiece(piece.id, z, piece.key, (float(valence), float(arousal)), piece.labelled))
    return out


def fit_on_dataset(checkpoint: str | Path, data: str | Path, kind: str = "keyed", out: str | Path | None = None,
                   batch_size: int = 16, device: str = "cpu", progress: bool = True) -> tuple[LatentPrior, Path]:
    """Encode the training pieces (split not "val") of a prepared folder with a model, fit the prior and
    write it beside the model's JSON (or into `out`). Returns the prior and its JSON path."""
    model_json = resolve(checkpoint)
    model, config = load_model(model_json, device=device)
    train, _ = load_prepared(data, config.bar_len)
    encoded = encode_pieces(model, train, batch_size, progress)
    if not encoded:
        raise UserError(f"{data} has no training pieces to fit a prior on")
    info = {"model_weights_sha256": read_header(model_json)["weights_sha256"], "model": model_json.name,
            "data": str(data), "labelled_pieces": sum(e.labelled for e in encoded)}
    prior = fit_prior([e.latents for e in encoded], np.array([e.controls for e in encoded]), kind,
                      [e.keys for e in encoded], info=info)
    folder = Path(out) if out is not None else model_json.parent
    return prior, prior.save(folder, PRIOR_NAME)
