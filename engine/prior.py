"""A latent prior over bar latents that moves through the latent space the way encoded real pieces do,
steered by continuous valence and arousal (DESIGN.md 5).

The paper draws every bar's z_r and z_k independently from the emotion's mixture component. Encoded
real bars do not sit where those components put their mass, and independent draws change key every bar.
This prior is a first-order linear-Gaussian autoregression over z = concat(z_r, z_k) [2l], fitted on the
encoder's posterior means of training pieces:

    m(c)  = W^T phi(c),  phi(v, a) = (1, v, a, v a)                     the mean bar latent of emotion c
    z_1   ~ N(m(c_1), S)                                                the first bar
    z_t   = m(c_t) + A (z_{t-1} - m(c_{t-1})) + e_t,  e_t ~ N(0, Q)      each later bar

with c = (valence, arousal) in [0, 1]^2: the four quadrant means exactly at the corners, blended
bilinearly between them. A and Q are the Yule-Walker estimates from the deviations d = z - m(c) of
consecutive bars of the same piece: S = Cov(d), A = Cov(d_t, d_{t-1}) S^-1, Q = S - A S A^T, so that the
chain's stationary covariance is the encoded bars' S. With A = 0 (kind "gauss") each bar is an
independent draw from N(m(c), S).

The state is the previous bar's z and its controls: controls may change every bar, the mean follows at
once and the deviation (the piece's key and texture, which persist from bar to bar) carries on.
Files: NAME.safetensors (W, A, the Cholesky factors of S and Q) + NAME.json, written with the same
size and SHA-256 check as the model (engine/checkpoint.py) and recording the SHA-256 of the model
weights it was fitted on.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from cdgmvae.engine.errors import UserError
from torch import Tensor

PRIOR_FORMAT = "cdgmvae-prior"
PRIOR_VERSION = 1
PRIOR_NAME = "prior"
KINDS = ("ar1", "gauss")
N_FEATURES = 4  # phi(v, a) = (1, v, a, v a)


def emotion_features(valence: Tensor | float, arousal: Tensor | float) -> Tensor:
    """phi(v, a) = (1, v, a, v a), [..., 4] float32."""
    v = torch.as_tensor(valence, dtype=torch.float32)
    a = torch.as_tensor(arousal, dtype=torch.float32)
    return torch.stack(torch.broadcast_tensors(torch.ones_like(v), v, a, v * a), dim=-1)


@dataclass
class LatentPrior:
    """p(z_t | z_{t-1}, c_{t-1}, c_t) over z = concat(z_r, z_k), see the module docstring."""
    kind: str
    mean_weights: Tensor   # W [4, 2l]
    transition: Tensor     # A [2l, 2l] (zeros for "gauss")
    start_chol: Tensor     # Cholesky factor of S [2l, 2l]
    noise_chol: Tensor     # Cholesky factor of Q [2l, 2l] (= start_chol for "gauss")
    info: dict             # what it was fitted on (pieces, bars, data folder, model weights' SHA-256)

    @property
    def d_latent(self) -> int:
        """l: the size of z_r and of z_k."""
        return self.mean_weights.shape[1] // 2

    def to(self, device) -> LatentPrior:
        return LatentPrior(self.kind, *(t.to(device) for t in (self.mean_weights, self.transition,
                                                               self.start_chol, self.noise_chol)), self.info)

    def mean(self, valence: float, arousal: float) -> Tensor:
        """m(c) [2l]."""
        return emotion_features(valence, arousal).to(self.mean_weights.device) @ self.mean_weights

    def draw(self, noise: Tensor, controls: tuple[float, float], previous: Tensor | None = None,
             previous_controls: tuple[float, float] | None = None, variety: float = 1.0) -> Tensor:
        """One bar's latents for each row of `noise` [K, 2l] (standard normal): the first bar when
        `previous` is None, else the bar after `previous` [2l], drawn under `previous_controls`.
        `variety` scales the noise (0: the conditional mean). Returns [K, 2l]."""
        target = self.mean(*controls)
        if previous is None:
            return target + variety * noise @ self.start_chol.T
        deviation = previous - self.mean(*previous_controls)
        return target + deviation @ self.transition.T + variety * noise @ self.noise_chol.T

    def split(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """[..., 2l] -> z_r, z_k [..., l]."""
        return z[..., : self.d_latent], z[..., self.d_latent:]

    # --- files --------------------------------------------------------------------------------------
    def save(self, folder: str | Path, name: str = PRIOR_NAME) -> Path:
        """folder/NAME.safetensors + folder/NAME.json; returns the JSON path."""
        from cdgmvae.engine.checkpoint import write_json, write_tensors
        folder = Path(folder)
        tensors = {"mean_weights": self.mean_weights, "transition": self.transition,
                   "start_chol": self.start_chol, "noise_chol": self.noise_chol}
        weights = write_tensors(folder / f"{name}.safetensors", tensors)
        json_path = folder / f"{name}.json"
        write_json(json_path, {"format": PRIOR_FORMAT, "version": PRIOR_VERSION, "kind": self.kind,
                               "d_latent": self.d_latent, "features": ["1", "valence", "arousal", "valence*arousal"],
                               **self.info, **weights})
        return json_path

    @classmethod
    def load(cls, json_path: str | Path) -> LatentPrior:
        """A prior from its JSON (UserError when it is damaged or not a prior)."""
        from cdgmvae.engine.checkpoint import read_json, read_tensors, require_keys
        json_path = Path(json_path)
        header = read_json(json_path, "latent prior", "fit it again with `cdgmvae fit-prior`")
        if not isinstance(header, dict) or header.get("format") != PRIOR_FORMAT:
            raise UserError(f"{json_path} is not a cdgmvae latent prior (no 'format' of {PRIOR_FORMAT!r})")
        if header.get("version") != PRIOR_VERSION or header.get("kind") not in KINDS:
            raise UserError(f"{json_path}: prior version {header.get('version')} kind {header.get('kind')!r}; this "
                            f"cdgmvae reads version {PRIOR_VERSION}, kinds {', '.join(KINDS)}")
        require_keys(header, ("weights", "weights_bytes", "weights_sha256"), json_path)
        tensors = read_tensors(json_path, header)
        names = ("mean_weights", "transition", "start_chol", "noise_chol")
        missing = [n for n in names if n not in tensors]
        if missing:
            raise UserError(f"{json_path}: the prior's weights lack {', '.join(missing)}")
        info = {k: v for k, v in header.items()
                if k not in ("format", "version", "kind", "d_latent", "features", "weights", "weights_bytes",
                             "weights_sha256")}
        prior = cls(header["kind"], *(tensors[n].float() for n in names), info)
        two_l = prior.mean_weights.shape[1]
        shapes = [tuple(t.shape) for t in (prior.transition, prior.start_chol, prior.noise_chol)]
        if prior.mean_weights.shape[0] != N_FEATURES or any(s != (two_l, two_l) for s in shapes):
            raise UserError(f"{json_path}: the prior's tensors have inconsistent shapes")
        return prior


# --- fitting ------------------------------------------------------------------------------------------
def _psd_cholesky(matrix: np.ndarray, floor: float) -> np.ndarray:
    """Cholesky factor of a symmetric matrix with its eigenvalues raised to at least `floor`."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    fixed = (vectors * np.maximum(values, floor)) @ vectors.T
    return np.linalg.cholesky((fixed + fixed.T) / 2)


def fit_prior(sequences: Sequence[np.ndarray], controls: np.ndarray, kind: str = "ar1",
              shrinkage: float = 1e-3, info: dict | None = None) -> LatentPrior:
    """Fit the prior of the module docstring.

    sequences: per piece its bars' latents [n_bars, 2l] (concat(z_r, z_k), the encoder's posterior means),
    consecutive bars in order; controls [pieces, 2]: each piece's (valence, arousal) in [0, 1] (labels, or
    q(y|x) for an unlabelled piece). `shrinkage` pulls S toward its diagonal by that share, so that a small
    data set still gives a well-conditioned covariance. Raises UserError for fewer than two bars in all."""
    if kind not in KINDS:
        raise UserError(f"unknown prior kind {kind!r}; choose one of {', '.join(KINDS)}")
    sequences = [np.asarray(s, dtype=np.float64) for s in sequences]
    controls = np.asarray(controls, dtype=np.float64).reshape(len(sequences), 2)
    bars = sum(len(s) for s in sequences)
    if bars < 2:
        raise UserError(f"a latent prior needs at least two encoded bars, got {bars}")
    latents = np.concatenate(sequences)
    features = np.concatenate([np.repeat(emotion_features(*torch.as_tensor(c)).double().numpy()[None], len(s), 0)
                               for s, c in zip(sequences, controls)])
    # least squares for W; a pinv, so that data from fewer than four quadrants still gives a mean
    mean_weights = np.linalg.pinv(features) @ latents
    deviations = [s - emotion_features(*torch.as_tensor(c)).double().numpy() @ mean_weights
                  for s, c in zip(sequences, controls)]
    pooled = np.concatenate(deviations)
    start = pooled.T @ pooled / len(pooled)
    start = (1 - shrinkage) * start + shrinkage * np.diag(np.diag(start))
    floor = 1e-6 * float(np.trace(start)) / len(start)
    two_l = latents.shape[1]
    if kind == "ar1":
        pairs = [(d[1:], d[:-1]) for d in deviations if len(d) > 1]
        if not pairs:
            raise UserError("an autoregressive prior needs pieces of at least two bars")
        later = np.concatenate([p[0] for p in pairs])
        earlier = np.concatenate([p[1] for p in pairs])
        lag = later.T @ earlier / len(later)  # Cov(d_t, d_{t-1})
        transition = lag @ np.linalg.inv(start)
        noise = start - transition @ start @ transition.T
    else:
        transition = np.zeros((two_l, two_l))
        noise = start
    start_chol = _psd_cholesky(start, floor)
    noise_chol = _psd_cholesky(noise, floor)
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    return LatentPrior(kind, as_tensor(mean_weights), as_tensor(transition), as_tensor(start_chol),
                       as_tensor(noise_chol), {"pieces": len(sequences), "bars": int(bars), **(info or {})})
