"""A latent prior over bar latents that moves through the latent space the way encoded real pieces do,
steered by continuous valence and arousal (DESIGN.md 5).

The paper draws every bar's z_r and z_k independently from the emotion's mixture component. Encoded
real bars do not sit where those components put their mass, and independent draws change key every bar.
These priors are fitted on the encoder's posterior means of training pieces, bar after bar. Each is made
of linear-Gaussian first-order autoregressions (AR(1)) around a conditional mean:

    z_1 = m(x_1) + S^(1/2) e_1,    z_t = m(x_t) + A (z_{t-1} - m(x_{t-1})) + Q^(1/2) e_t,    e ~ N(0, I)

with A, S, Q the Yule-Walker estimates from the deviations d = z - m(x) of consecutive bars of the same
piece (S = Cov(d), A = Cov(d_t, d_{t-1}) S^-1, Q = S - A S A^T), so that the chain's stationary
covariance is the encoded bars'. The kinds:

- `ar1`: one AR(1) over z = concat(z_r, z_k) [2l]; x = the emotion c = (valence, arousal) in [0, 1]^2,
  m(c) = W^T (1, v, a, v a): the four quadrant means at the corners, blended bilinearly between them.
- `gauss`: the same with A = 0: each bar an independent draw from N(m(c), S).
- `keyed`: z_r as `ar1` on z_r alone; z_k around the mean of its bar's key (x = one of 24 keys, from the
  bars' Krumhansl-Schmuckler keys that `prepare` stores). The key goes from bar to bar on a Markov chain
  fitted on the data's key changes (the same for every tonic: how often a bar stays in its key, moves up
  a fifth, to the relative major, ...), tilted by valence: the next key's probability is multiplied by
  v for a major key and by 1 - v for a minor one, so valence chooses the mode by degrees. The first bar
  is in the piece's tonic, major for v >= 0.5 and minor below. With key guidance on, the caller fixes
  every bar's key to the guidance's (`key=`): a scale lock and a prior drifting to another key would
  pull the notes two ways. In encoded pieces, two thirds of z_k's variance is
  between the 24 key means, and a key's mean decodes to that key (MODEL.md): the key is where z_k lives.

The state (`PriorState`) is the previous bar's latents, controls and key: controls may change every
bar, the mean follows at once and the deviation (the piece's texture) carries on.
Files: NAME.safetensors + NAME.json, written with the same size and SHA-256 check as the model
(engine/checkpoint.py) and recording the SHA-256 of the model weights the prior was fitted on.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from cdgmvae.engine.errors import UserError
from torch import Tensor

PRIOR_FORMAT = "cdgmvae-prior"
PRIOR_VERSION = 1
PRIOR_NAME = "prior"
KINDS = ("keyed", "ar1", "gauss")
N_FEATURES = 4   # phi(v, a) = (1, v, a, v a)
N_KEYS = 24      # 0..11 major on C..B, 12..23 minor
# tensors of each kind: an AR block is NAME_mean, NAME_transition, NAME_start, NAME_noise
BLOCKS = {"ar1": ("z",), "gauss": ("z",), "keyed": ("z_r", "z_k")}


def emotion_features(valence: Tensor | float, arousal: Tensor | float) -> Tensor:
    """phi(v, a) = (1, v, a, v a), [..., 4] float32."""
    v = torch.as_tensor(valence, dtype=torch.float32)
    a = torch.as_tensor(arousal, dtype=torch.float32)
    return torch.stack(torch.broadcast_tensors(torch.ones_like(v), v, a, v * a), dim=-1)


@dataclass
class PriorState:
    """What the next bar is drawn from: the last bar's latents [2l], its (valence, arousal), its key."""
    z: Tensor
    controls: tuple[float, float]
    key: int | None = None


@dataclass
class LatentPrior:
    """p(z_t | z_{t-1}, emotion) over z = concat(z_r, z_k) [2l], see the module docstring. `tensors` holds
    each AR block's NAME_mean (rows: emotion features, or the 24 keys) [p, n], NAME_transition [n, n], and
    the Cholesky factors NAME_start of S and NAME_noise of Q [n, n]; `keyed` adds key_chain [24, 24]."""
    kind: str
    tensors: dict[str, Tensor]
    info: dict = field(default_factory=dict)  # what it was fitted on (pieces, bars, data, model weights' SHA-256)

    @property
    def d_latent(self) -> int:
        """l: the size of z_r and of z_k."""
        return sum(self.tensors[f"{b}_start"].shape[0] for b in BLOCKS[self.kind]) // 2

    def to(self, device) -> LatentPrior:
        return LatentPrior(self.kind, {k: t.to(device) for k, t in self.tensors.items()}, self.info)

    def split(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """[..., 2l] -> z_r, z_k [..., l]."""
        return z[..., : self.d_latent], z[..., self.d_latent:]

    def _ar(self, block: str, noise: Tensor, mean: Tensor, previous: Tensor | None,
            previous_mean: Tensor | None, variety: float) -> Tensor:
        t = self.tensors
        if previous is None:
            return mean + variety * noise @ t[f"{block}_start"].T
        return (mean + (previous - previous_mean) @ t[f"{block}_transition"].T
                + variety * noise @ t[f"{block}_noise"].T)

    def emotion_mean(self, block: str, controls: tuple[float, float]) -> Tensor:
        weights = self.tensors[f"{block}_mean"]
        return emotion_features(*controls).to(weights.device) @ weights

    def next_key(self, state: PriorState | None, valence: float, tonic: int,
                 rng: torch.Generator | None = None) -> int:
        """The key of the next bar (`keyed`): the first is `key_in_mode(tonic, valence)`; later ones from
        the key chain, each candidate weighted by valence (major) or 1 - valence (minor)."""
        if state is None or state.key is None:
            return key_in_mode(tonic, valence)
        device = self.tensors["key_chain"].device
        mode = torch.tensor([valence, 1.0 - valence], device=device).repeat_interleave(12)
        weights = self.tensors["key_chain"][state.key] * mode
        if float(weights.sum()) <= 0:
            weights = self.tensors["key_chain"][state.key]
        return int(torch.multinomial(weights / weights.sum(), 1, generator=rng))

    def move_key(self, z_k: Tensor, key: int, new_key: int) -> Tensor:
        """z_k [..., l] of a bar in `key` moved to `new_key` (0..23; `keyed`): the same deviation from the
        new key's mean as from the old one's. Other kinds hold no key: z_k unchanged."""
        if self.kind != "keyed":
            return z_k
        means = self.tensors["z_k_mean"]
        return z_k - means[key] + means[new_key]

    def draw(self, noise: Tensor, controls: tuple[float, float], state: PriorState | None = None,
             variety: float = 1.0, rng: torch.Generator | None = None,
             tonic: int = 0, key: int | None = None, anchor: Tensor | None = None) -> tuple[Tensor, int | None]:
        """One bar's latents for each row of `noise` [K, 2l] (standard normal) under `controls` (valence,
        arousal): the first bar when `state` is None, else the bar after it. `variety` scales the noise (0:
        the conditional mean); `rng` draws the key and `tonic` is the first bar's (`keyed`); `key` (0..23),
        when given, is the bar's key instead of a draw. `anchor` [2l], when given, is added to the mean the
        bar is drawn around (and to the last bar's, so that the AR deviation is taken from it): live transfer
        keeps the played bars' own deviation (`deviation`) that way. Returns (z [K, 2l], the bar's key or
        None)."""
        anchor = torch.zeros(2 * self.d_latent, device=noise.device) if anchor is None else anchor
        if self.kind != "keyed":
            previous = None if state is None else state.z
            previous_mean = None if state is None else self.emotion_mean("z", state.controls) + anchor
            return self._ar("z", noise, self.emotion_mean("z", controls) + anchor, previous, previous_mean,
                            variety), None
        noise_r, noise_k = self.split(noise)
        anchor_r, anchor_k = self.split(anchor)
        previous_r, previous_k = self.split(state.z) if state is not None else (None, None)
        z_r = self._ar("z_r", noise_r, self.emotion_mean("z_r", controls) + anchor_r, previous_r,
                       None if state is None else self.emotion_mean("z_r", state.controls) + anchor_r, variety)
        if key is None:
            key = self.next_key(state, controls[0], tonic, rng)
        key_means = self.tensors["z_k_mean"]
        had_key = state is not None and state.key is not None
        z_k = self._ar("z_k", noise_k, key_means[key] + anchor_k, previous_k if had_key else None,
                       key_means[state.key] + anchor_k if had_key else None, variety)
        return torch.cat([z_r, z_k], dim=-1), key

    def deviation(self, z: Tensor, controls: tuple[float, float], key: int | None = None) -> Tensor:
        """z [2l] less the mean the prior draws a bar around under `controls` (valence, arousal) and, for
        `keyed`, in `key` (0..23; None: z_k's deviation is taken as 0). Returns [2l]."""
        if self.kind != "keyed":
            return z - self.emotion_mean("z", controls)
        z_r, z_k = self.split(z)
        k_dev = z_k - self.tensors["z_k_mean"][key] if key is not None else torch.zeros_like(z_k)
        return torch.cat([z_r - self.emotion_mean("z_r", controls), k_dev])

    # --- files --------------------------------------------------------------------------------------
    def save(self, folder: str | Path, name: str = PRIOR_NAME) -> Path:
        """folder/NAME.safetensors + folder/NAME.json; returns the JSON path."""
        from cdgmvae.engine.checkpoint import write_json, write_tensors
        folder = Path(folder)
        weights = write_tensors(folder / f"{name}.safetensors", self.tensors)
        json_path = folder / f"{name}.json"
        write_json(json_path, {"format": PRIOR_FORMAT, "version": PRIOR_VERSION, "kind": self.kind,
                               "d_latent": self.d_latent, **self.info, **weights})
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
        require_keys(header, ("weights", "weights_bytes", "weights_sha256", "d_latent"), json_path)
        tensors = {k: v.float() for k, v in read_tensors(json_path, header).items()}
        kind = header["kind"]
        info = {k: v for k, v in header.items()
                if k not in ("format", "version", "kind", "d_latent", "weights", "weights_bytes", "weights_sha256")}
        expected = _shapes(kind, int(header["d_latent"]))
        wrong = [f"{k} {tuple(tensors[k].shape) if k in tensors else 'missing'} != {shape}"
                 for k, shape in expected.items() if k not in tensors or tuple(tensors[k].shape) != shape]
        if wrong:
            raise UserError(f"{json_path}: the prior's tensors do not fit its kind ({'; '.join(wrong[:3])})")
        return cls(kind, {k: tensors[k] for k in expected}, info)


def transpose_key(key: int, semitones: int) -> int:
    """A key (0..11 major, 12..23 minor) moved by `semitones`, its mode kept."""
    return (key + semitones) % 12 + 12 * (key >= 12)


def key_in_mode(tonic: int, valence: float) -> int:
    """The key (0..11 major, 12..23 minor) on `tonic` (0 = C) in the mode valence asks for: major from 0.5."""
    return tonic % 12 + (0 if valence >= 0.5 else 12)


def _shapes(kind: str, d_latent: int) -> dict[str, tuple]:
    if kind == "keyed":
        return {**_block_shapes("z_r", N_FEATURES, d_latent), **_block_shapes("z_k", N_KEYS, d_latent),
                "key_chain": (N_KEYS, N_KEYS)}
    return _block_shapes("z", N_FEATURES, 2 * d_latent)


def _block_shapes(block: str, rows: int, n: int) -> dict[str, tuple]:
    return {f"{block}_mean": (rows, n), f"{block}_transition": (n, n), f"{block}_start": (n, n),
            f"{block}_noise": (n, n)}


# --- fitting ------------------------------------------------------------------------------------------
def _psd_cholesky(matrix: np.ndarray, floor: float) -> np.ndarray:
    """Cholesky factor of a symmetric matrix with its eigenvalues raised to at least `floor`."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    fixed = (vectors * np.maximum(values, floor)) @ vectors.T
    return np.linalg.cholesky((fixed + fixed.T) / 2)


def _fit_block(name: str, sequences: list[np.ndarray], designs: list[np.ndarray], autoregressive: bool,
               shrinkage: float) -> dict[str, Tensor]:
    """One AR block: mean weights by least squares on the per-bar design rows (a pinv, so that a design
    column without data gives a zero row rather than an error), then Yule-Walker on the deviations."""
    latents, design = np.concatenate(sequences), np.concatenate(designs)
    mean = np.linalg.pinv(design) @ latents
    deviations = [s - d @ mean for s, d in zip(sequences, designs)]
    pooled = np.concatenate(deviations)
    start = pooled.T @ pooled / len(pooled)
    start = (1 - shrinkage) * start + shrinkage * np.diag(np.diag(start))
    floor = 1e-6 * float(np.trace(start)) / len(start)
    if autoregressive:
        pairs = [(d[1:], d[:-1]) for d in deviations if len(d) > 1]
        if not pairs:
            raise UserError("an autoregressive prior needs pieces of at least two bars")
        later = np.concatenate([p[0] for p in pairs])
        earlier = np.concatenate([p[1] for p in pairs])
        transition = (later.T @ earlier / len(later)) @ np.linalg.inv(start)  # Cov(d_t, d_{t-1}) S^-1
        noise = start - transition @ start @ transition.T
    else:
        transition, noise = np.zeros_like(start), start
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    return {f"{name}_mean": as_tensor(mean), f"{name}_transition": as_tensor(transition),
            f"{name}_start": as_tensor(_psd_cholesky(start, floor)),
            f"{name}_noise": as_tensor(_psd_cholesky(noise, floor))}


def key_chain(keys: Sequence[np.ndarray]) -> np.ndarray:
    """[24, 24] row-stochastic: P(next bar's key | this bar's key), the same for every tonic. Counted over
    consecutive bars by (this mode, next mode, interval between the tonics), plus one of each (Laplace)."""
    counts = np.ones((2, 2, 12))
    for k in keys:
        k = np.asarray(k, dtype=np.int64)
        np.add.at(counts, (k[:-1] // 12, k[1:] // 12, (k[1:] - k[:-1]) % 12), 1)
    key = np.arange(N_KEYS)
    chain = counts[key[:, None] // 12, key[None, :] // 12, (key[None, :] - key[:, None]) % 12]
    return chain / chain.sum(1, keepdims=True)


def fit_prior(sequences: Sequence[np.ndarray], controls: np.ndarray, kind: str = "keyed",
              keys: Sequence[np.ndarray] | None = None, shrinkage: float = 1e-3,
              info: dict | None = None) -> LatentPrior:
    """Fit the prior of the module docstring.

    sequences: per piece its bars' latents [n_bars, 2l] (concat(z_r, z_k), the encoder's posterior means),
    consecutive bars in order; controls [pieces, 2]: each piece's (valence, arousal) in [0, 1] (labels, or
    q(y|x) for an unlabelled piece); keys (`keyed`): per piece its bars' keys [n_bars] in 0..23.
    `shrinkage` pulls S toward its diagonal by that share, so that a small data set still gives a
    well-conditioned covariance. Raises UserError for fewer than two bars in all, or `keyed` without keys."""
    if kind not in KINDS:
        raise UserError(f"unknown prior kind {kind!r}; choose one of {', '.join(KINDS)}")
    sequences = [np.asarray(s, dtype=np.float64) for s in sequences]
    controls = np.asarray(controls, dtype=np.float64).reshape(len(sequences), 2)
    bars = sum(len(s) for s in sequences)
    if bars < 2:
        raise UserError(f"a latent prior needs at least two encoded bars, got {bars}")
    emotion = [np.repeat(emotion_features(*torch.as_tensor(c)).double().numpy()[None], len(s), 0)
               for s, c in zip(sequences, controls)]
    summary = {"pieces": len(sequences), "bars": int(bars), **(info or {})}
    if kind != "keyed":
        return LatentPrior(kind, _fit_block("z", sequences, emotion, kind == "ar1", shrinkage), summary)
    if keys is None or [len(k) for k in keys] != [len(s) for s in sequences]:
        raise UserError("a keyed prior needs each bar's key (the prepared data's per-bar keys)")
    n_latent = sequences[0].shape[1] // 2
    one_hot = [np.eye(N_KEYS)[np.asarray(k, dtype=np.int64)] for k in keys]
    present = np.concatenate(one_hot).sum(0) > 0
    tensors = {**_fit_block("z_r", [s[:, :n_latent] for s in sequences], emotion, True, shrinkage),
               **_fit_block("z_k", [s[:, n_latent:] for s in sequences], one_hot, True, shrinkage),
               "key_chain": torch.as_tensor(key_chain(keys), dtype=torch.float32)}
    # a key no bar is in takes the mean of all bars' z_k
    tensors["z_k_mean"][~torch.as_tensor(present)] = torch.as_tensor(
        np.concatenate(sequences)[:, n_latent:].mean(0), dtype=torch.float32)
    return LatentPrior(kind, tensors, summary | {"keys_without_bars": int((~present).sum())})
