"""Bar-by-bar generation steered by emotion: the API the CLI and the live bridge share.

A piece is a chain of bars. For each bar the generator picks latents z_r (rhythm, arousal) and z_k (key,
valence), decodes the bar token by token with the previous bar as memory, and keeps this bar's memory
for the next. Each new bar's emotion moves from the current one toward the target by lambda (Eq 23
applied per bar), so small lambda glides and lambda = 1 jumps.

With a latent prior beside the model (engine/prior.py, written by `cdgmvae fit-prior`), a bar's latents
are drawn from it, given the previous bar's latents and the valence and arousal of the path. Without
one, as in the paper, they are drawn independently around the path's point on the line between each
factor's two mixture components.
"""
from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from cdgmvae.engine import codec
from cdgmvae.engine import vocab as V
from cdgmvae.engine.backends import decoding_model
from cdgmvae.engine.controls import Controls
from cdgmvae.engine.decoding import make_bar_decoder
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.features import clip_profile, key_of_profile
from cdgmvae.engine.incremental import BarCache
from cdgmvae.engine.key_guidance import pitch_bias, tonic_of
from cdgmvae.engine.model import CDGMVAE, BarMemory
from cdgmvae.engine.notes import GridNote
from cdgmvae.engine.prior import LatentPrior, PriorState, key_in_mode, transpose_key
from cdgmvae.engine.sampling import race_clocks
from torch import Tensor
from tqdm import tqdm

DEFAULT_MODEL = Path(__file__).resolve().parent / "default_model"
# tokens (bars x their length) the encoders take in one batch: large batches make few, large operations,
# which matters most on a loaded CPU; the bound keeps memory at tens of MB whatever the piece's length
ENCODE_BATCH_TOKENS = 16384
PROGRESS_BARS = 128  # pieces at least this long show progress where asked (the demo's 16 bars do not)


@dataclass
class Bar:
    tokens: list[int]
    notes: list[GridNote]
    tempo: float          # BPM from the bar's Tempo token
    valence: float        # where the bar's latents sit between the low (0) and high (1) components
    arousal: float
    seconds: float        # time it took to generate
    alternatives: list[list[int]] = field(default_factory=list)  # the other candidates' tokens


class Generator:
    """Bar-by-bar generation from one model: `next_bar` under the current `controls` (engine/controls.py),
    `transfer` (Eq 23), `decode_latents` (feature swap) and `continue_from` (live transfer).

    seed: the same seed, controls and backend give the same bars (None: a new piece each time); backend: a
    row of engine/backends.py; candidates: K bars decoded at once per bar, the one whose inferred emotion
    is nearest the target kept; prior: the latent prior that draws each bar's latents (engine/prior.py;
    None: the paper's mixture draws); min_tokens: EOS held back until a bar has that many tokens (benchmarks).
    Raises UserError for a backend that is unknown or cannot run on the model's device.
    """

    def __init__(self, model: CDGMVAE, seed: int | None = None, backend: str = "eager",
                 candidates: int = 1, controls: Controls = Controls(), min_tokens: int = 0,
                 prior: LatentPrior | None = None):
        self.model = model.eval()
        self.device = next(model.parameters()).device
        if prior is not None and prior.d_latent != model.cfg.d_latent:
            raise UserError(f"the latent prior has l = {prior.d_latent}, the model l = {model.cfg.d_latent}")
        self.prior = prior.to(self.device) if prior is not None else None
        self.prior_note: str | None = None  # why there is no prior: shown once at the first mixture draw
        # The prior's state. True: z_k is the key encoder's posterior mean of the bar just played, z_r the
        # latents drawn for it; the prior was fitted on encoded bars, and a drawn z_k need not be where the
        # encoder puts a bar in a key, so the key carries on from the music rather than from the draw. False:
        # the drawn latents. None: True for an `ar1` prior, False for the others (`keyed` holds the key in
        # its own chain). Measured in MODEL.md.
        self.state_from_bars: bool | None = None
        self.candidates = candidates
        # decode_latents' state: candidates are chosen by their encoding, after the encoders' memory of the
        # bars kept so far
        self.fitting_latents = False
        self.encoder_memory: tuple[BarMemory, BarMemory] | None = None
        self.controls = controls
        self.min_tokens = min_tokens  # benchmarks hold EOS back to get full bars
        self.cache = BarCache(decoding_model(backend, model), candidates)
        self.decode_tokens = make_bar_decoder(backend, self.cache)
        self.rng = torch.Generator(device=self.device)
        self.reset(seed)

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, device: str = "cpu", use_prior: bool = True,
             **kwargs) -> Generator:
        """The model of a folder or file (default: the bundled one) and the latent prior beside it, if any
        (`use_prior=False`: the paper's mixture draws)."""
        from cdgmvae.engine.checkpoint import load_model
        model, _ = load_model(checkpoint or DEFAULT_MODEL, device=device)
        prior, note = find_prior(checkpoint or DEFAULT_MODEL) if use_prior else (None, None)
        generator = cls(model, prior=prior, **kwargs)
        generator.prior_note = note
        return generator

    # --- state --------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """Start a new piece: no memory, latents jump to the first bar's target, a tonic drawn for key
        guidance."""
        seed = seed if seed is not None else int(torch.seed() % 2**63)
        self.rng.manual_seed(seed)
        # drawn on the CPU: the same seed gives the same key on every device
        self.tonic = int(torch.randint(12, (1,), generator=torch.Generator().manual_seed(seed)))
        self.memory: BarMemory | None = None
        self.z_r: Tensor | None = None   # without a prior: the path's latents; with one: the last bar's
        self.z_k: Tensor | None = None
        # with a prior: the path's (valence, arousal), the last bar's key and tonic, the last two bars' tokens
        self.path: tuple[float, float] | None = None
        self.key: int | None = None
        self.key_tonic: int | None = None
        self.played: list[list[int]] = []
        # with a prior, after a live transfer: the played bars' deviation from the prior's mean, kept by
        # the bars that follow and shrunk by (1 - lambda) a bar (Eq 23: lambda 0 goes on as played)
        self.anchor: Tensor | None = None

    def set_controls(self, **changes) -> None:
        """Change the target emotion, lambda, temperature, ... from the next bar on."""
        self.controls = replace(self.controls, **changes)

    def target(self, valence: float, arousal: float) -> tuple[Tensor, Tensor]:
        """Latents on the line from each factor's low to its high component mean."""
        means_r, means_k = self.model.prior_r.means.detach(), self.model.prior_k.means.detach()
        return (means_r[0] + arousal * (means_r[1] - means_r[0]),
                means_k[0] + valence * (means_k[1] - means_k[0]))

    # --- generation ---------------------------------------------------------------------------------
    @torch.no_grad()
    def next_bar(self) -> Bar:
        """The piece's next bar: the latents move toward the controls' target by λ (Eq 23 per bar; the first
        bar starts at it), spread by `variety`, and decode with the previous bar as memory.

        Returns a Bar: tokens (ids from Bar to EOS, at most cfg.bar_len), notes on the 16th grid, tempo in BPM,
        valence and arousal of the latents' path in [0, 1] (before the spread), seconds it took, and the other
        candidates' tokens. Controls are checked when they are set (ValueError), so this raises nothing for
        them; the first call of a compiling backend waits for the compiler."""
        if self.prior is not None:
            return self._next_bar_from_prior()
        if self.prior_note:
            warnings.warn(self.prior_note, stacklevel=2)
            self.prior_note = None
        c = self.controls
        target_r, target_k = self.target(c.valence, c.arousal)
        if self.z_r is None:
            self.z_r, self.z_k = target_r, target_k
        else:
            self.z_r = self.z_r + c.lam * (target_r - self.z_r)
            self.z_k = self.z_k + c.lam * (target_k - self.z_k)
        z_r = self._spread(self.z_r, self.model.prior_r.log_vars, c.arousal)
        z_k = self._spread(self.z_k, self.model.prior_k.log_vars, c.valence)
        return self.decode_bar(z_r, z_k)

    def _next_bar_from_prior(self) -> Bar:
        """The path moves toward the target by lambda; each candidate's latents are drawn from the prior
        given the last bar's latents and the path's previous and new point."""
        c = self.controls
        previous = self.path
        if previous is None:
            self.path = (c.valence, c.arousal)
        else:
            self.path = tuple(p + c.lam * (t - p) for p, t in zip(previous, (c.valence, c.arousal)))
        noise = torch.randn(self.candidates, 2 * self.prior.d_latent, generator=self.rng, device=self.device)
        state = None
        if self.z_r is not None and previous is not None:
            if self.key is not None and self.key_tonic != self.tonic:
                # a new tonic moves the key, and the last bar's z_k with it, keeping its deviation from
                # its key's mean: the texture carries on in the new key
                new_key = transpose_key(self.key, self.tonic - self.key_tonic)
                self.z_k = self.prior.move_key(self.z_k, self.key, new_key)
                self.key = new_key
            state = PriorState(torch.cat([self.z_r, self.z_k]), previous, self.key)
        # key guidance is a scale lock: the prior stays in the lock's key rather than pull against it
        locked = key_in_mode(self.tonic, c.valence) if c.key_strength else None
        if self.anchor is not None:
            # the anchor moves lambda of the way to 0 before the bar, as Eq 23 moves z toward the target; the
            # last bar's deviation is taken from its own anchor, so only the anchor's move shifts the mean
            shrunk = self.anchor * (1.0 - c.lam)
            if state is not None:
                state = replace(state, z=state.z + shrunk - self.anchor)
            self.anchor = shrunk
        z, self.key = self.prior.draw(noise, self.path, state, c.variety, self.rng, self.tonic, key=locked,
                                      anchor=self.anchor)
        self.key_tonic = self.tonic
        z_r, z_k = self.prior.split(z)
        bar = self.decode_bar(z_r, z_k, position=self.path)
        self.played = self.played[-1:] + [bar.tokens]
        if self.state_follows_bars():
            # the bar's key as the encoder hears it, with the bar before as its memory (z_r barely persists
            # from bar to bar in encoded pieces; it stays the drawn one)
            mu_k, _ = self.model.encode_key(tokens_tensor(self.played, self.model.cfg.bar_len, self.device))
            self.z_k = mu_k[0, -1]
        return bar

    def guidance_profile(self) -> str:
        """Key guidance's profile (engine/key_guidance.py): a scale lock when a latent prior gives the piece
        its key, else the Krumhansl-Kessler profile, which gives the tonal centre the mixture draws lack."""
        return "scale" if self.prior is not None else "krumhansl"

    def state_follows_bars(self) -> bool:
        """Whether the prior's state is the key encoder's reading of the bar played (`state_from_bars`)."""
        if self.state_from_bars is not None:
            return self.state_from_bars
        return self.prior is not None and self.prior.kind == "ar1"

    def _spread(self, z: Tensor, log_vars: Tensor, level: float) -> Tensor:
        """One latent per candidate: z plus noise of the interpolated prior's standard deviation."""
        std = torch.exp(0.5 * (log_vars[0] + level * (log_vars[1] - log_vars[0]))).detach()
        noise = torch.randn(self.candidates, z.shape[-1], generator=self.rng, device=self.device)
        return z + self.controls.variety * std * noise

    @torch.no_grad()
    def decode_bar(self, z_r: Tensor, z_k: Tensor, position: tuple[float, float] | None = None) -> Bar:
        """Decode one bar for each candidate's latents [K, l]; keep the best; carry its memory on (and,
        with a latent prior, its latents). `position`: the path's (valence, arousal); default: where the
        path's latents (or the first candidate's) lie between the mixture components."""
        started = time.perf_counter()
        c = self.controls
        # the path's position, without the bar's own spread: what a controller shows, and the mode key
        # guidance pulls toward
        if position is None:
            position = self.position_of(self.z_r if self.z_r is not None else z_r[0],
                                        self.z_k if self.z_k is not None else z_k[0])
        valence, arousal = position
        bias = None
        if c.key_strength:
            bias = pitch_bias(self.model.token_pitch_class, self.tonic, valence, c.key_strength,
                              self.guidance_profile())
        memory = self.memory.expanded(self.candidates) if self.memory is not None else None
        self.cache.start_bar(self.model.z_injection(z_r, z_k), memory, bias, self.model.note_logit_bias(z_r, z_k))
        clocks = race_clocks(self.cache.M, self.candidates, V.VOCAB_SIZE, self.rng, self.device)
        settings = [torch.tensor(value, device=self.device) for value in (c.temperature, c.top_p)]
        min_length = torch.tensor(self.min_tokens, device=self.device)
        token = torch.full((self.candidates,), V.BAR, dtype=torch.long, device=self.device)
        tokens = self.decode_tokens(token, clocks, *settings, min_length)
        best = self._choose(tokens, z_r, z_k)
        if self.prior is not None:
            self.z_r, self.z_k = z_r[best].clone(), z_k[best].clone()  # the prior's state
        self.memory = BarMemory(self.cache.states, self.cache.tokens != V.PAD).row(best)
        bars = [until_eos(row) for row in tokens.tolist()]
        return Bar(bars[best], codec.bar_notes(bars[best]), codec.bar_tempo(bars[best]), valence, arousal,
                   time.perf_counter() - started, bars[:best] + bars[best + 1:])

    def _choose(self, tokens: Tensor, z_r: Tensor, z_k: Tensor) -> int:
        """With several candidates, the one whose inferred emotion is closest to the target; while decoding
        given latents (`decode_latents`), the one whose encoding lies nearest them (`_nearest_encoding`)."""
        if self.candidates == 1:
            return 0
        padded = torch.full((self.candidates, 1, self.model.cfg.bar_len), V.PAD, dtype=torch.long,
                            device=self.device)
        padded[:, 0, : tokens.shape[1]] = tokens
        if self.fitting_latents:
            return self._nearest_encoding(padded, z_r, z_k)
        log_q_a, log_q_v = self.model.infer_emotion(padded, torch.ones(self.candidates, 1, dtype=torch.bool,
                                                                       device=self.device))
        target = torch.tensor([self.controls.arousal, self.controls.valence], device=self.device)
        inferred = torch.stack([log_q_a[:, 1].exp(), log_q_v[:, 1].exp()], dim=1)
        return int((inferred - target).abs().sum(-1).argmin())

    def _nearest_encoding(self, padded: Tensor, z_r: Tensor, z_k: Tensor) -> int:
        """Analysis by synthesis: encode each candidate bar [K, 1, L] after the bars kept so far (the encoders'
        memory of them, as the source was encoded) and keep the one whose posterior means lie nearest the
        bar's latents z_r, z_k [K, l] (squared Euclidean distance over both)."""
        memory = self.encoder_memory
        if memory is not None:
            memory = tuple(m.expanded(self.candidates) for m in memory)
        latents = self.model.encode(padded, memory)
        distance = (latents.mu_r[:, 0] - z_r).pow(2).sum(-1) + (latents.mu_k[:, 0] - z_k).pow(2).sum(-1)
        best = int(distance.argmin())
        self.encoder_memory = tuple(m.row(best) for m in latents.memory)
        return best

    def position_of(self, z_r: Tensor, z_k: Tensor) -> tuple[float, float]:
        """(valence, arousal) of latents: their projection on the low->high line of each factor, in [0, 1]."""
        def along(z, means):
            means = means.detach()
            axis = means[1] - means[0]
            return float(((z - means[0]) @ axis / axis.dot(axis).clamp(min=1e-12)).clamp(0, 1))
        return along(z_k, self.model.prior_k.means), along(z_r, self.model.prior_r.means)

    def generate(self, bars: int) -> list[Bar]:
        return [self.next_bar() for _ in range(bars)]

    # --- pieces in, pieces out ----------------------------------------------------------------------
    @torch.no_grad()
    def encode_piece(self, bars: Sequence[Sequence[int]], chunk: int | None = None, progress: bool = False
                     ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Token bars -> (mu_r, mu_k [n, l], p_arousal_high, p_valence_high). The encoders run over `chunk`
        bars at a time (default: ENCODE_BATCH_TOKENS tokens' worth of the piece's longest bar), carrying
        their memory across (model.encode), so time grows linearly with n and memory stays bounded;
        `progress` shows a bar on stderr for pieces of PROGRESS_BARS bars or more."""
        tokens = tokens_tensor(bars, self.model.cfg.bar_len, self.device)
        longest = min(max(map(len, bars), default=1), self.model.cfg.bar_len)
        chunk = chunk or max(1, ENCODE_BATCH_TOKENS // longest)
        mus_r, mus_k, memory = [], [], None
        with progress_bar(len(bars), "encoding", progress) as shown:
            for start in range(0, len(bars), chunk):
                latents = self.model.encode(tokens[:, start: start + chunk], memory)
                mus_r.append(latents.mu_r)
                mus_k.append(latents.mu_k)
                memory = latents.memory
                shown.update(latents.mu_r.shape[1])
        mu_r, mu_k = torch.cat(mus_r, dim=1), torch.cat(mus_k, dim=1)
        mask = torch.ones(1, tokens.shape[1], dtype=torch.bool, device=self.device)
        log_q_a, log_q_v = self.model.posterior(mu_r, mu_k, mask)
        return mu_r[0], mu_k[0], log_q_a[0, 1].exp(), log_q_v[0, 1].exp()

    def decode_latents(self, z_r: Tensor, z_k: Tensor, tonic: int | None = None, progress: bool = False
                       ) -> list[Bar]:
        """A new piece from per-bar latents [n, l], in the key of `tonic` (default: drawn). With K candidates
        each bar is decoded K times and the one whose encoding lies nearest its latents is kept, so the
        piece says more of what its latents say. `progress`: a bar on stderr for PROGRESS_BARS bars or more."""
        self.reset(int(torch.randint(0, 2**31, (1,), generator=self.rng, device=self.device)))
        if tonic is not None:
            self.tonic = tonic
        out = []
        self.fitting_latents, self.encoder_memory = True, None
        try:
            with progress_bar(len(z_r), "generating", progress) as shown:
                for i in range(len(z_r)):
                    out.append(self.decode_bar(z_r[i: i + 1].expand(self.candidates, -1),
                                               z_k[i: i + 1].expand(self.candidates, -1)))
                    shown.update()
        finally:
            self.fitting_latents, self.encoder_memory = False, None
        return out

    def transfer(self, bars: Sequence[Sequence[int]], valence: float, arousal: float, lam: float,
                 encoded: tuple | None = None, progress: bool = False) -> list[Bar]:
        """Eq 23: z_target = z_source + lam (mu_target - mu_source), with the source class from q(y|x).
        `encoded`: encode_piece(bars), when the caller has it already."""
        z_r, z_k = self.transferred_latents(bars, valence, arousal, lam, encoded)
        return self.decode_latents(z_r, z_k, tonic_of(bars), progress)

    def transferred_latents(self, bars, valence: float, arousal: float, lam: float,
                            encoded: tuple | None = None) -> tuple[Tensor, Tensor]:
        mu_r, mu_k, p_a, p_v = encoded if encoded is not None else self.encode_piece(bars)
        source_r, source_k = self.target(float(p_v >= 0.5), float(p_a >= 0.5))
        target_r, target_k = self.target(valence, arousal)
        return mu_r + lam * (target_r - source_r), mu_k + lam * (target_k - source_k)

    def continue_from(self, bars: Sequence[Sequence[int]]) -> None:
        """Live transfer: take the latents of played bars as the current ones and their last bar as memory,
        so the next bars continue them while moving toward the target by lambda."""
        mu_r, mu_k, p_a, p_v = self.encode_piece(bars)
        self.z_r, self.z_k = mu_r[-1], mu_k[-1]
        self.path = (float(p_v), float(p_a))  # the prior moves on from the emotion q(y|x) hears in them
        self.played = [list(bar) for bar in bars[-2:]]
        self.tonic = self.key_tonic = tonic_of(bars)
        profile = clip_profile(codec.bar_notes(list(bar)) for bar in bars)
        self.key = key_of_profile(profile) if profile.any() else None  # a keyed prior goes on in their key
        if self.prior is not None:
            self.anchor = self.prior.deviation(torch.cat([self.z_r, self.z_k]), self.path, self.key)
        last = tokens_tensor(bars[-1:], self.model.cfg.bar_len, self.device)[:, 0, :-1]
        _, self.memory = self.model.decode_bar(last, mu_r[-1:], mu_k[-1:])


def progress_bar(total: int, what: str, progress: bool) -> tqdm:
    """A tqdm bar on stderr, shown only for long work (`total` >= PROGRESS_BARS bars) when asked for."""
    return tqdm(total=total, desc=what, unit="bar", file=sys.stderr, disable=not progress or total < PROGRESS_BARS)


def find_prior(checkpoint: str | Path) -> tuple[LatentPrior | None, str | None]:
    """(the latent prior beside a model: prior.json next to its JSON, fitted on these very weights; None
    and a note that says why generation falls back to the mixture draws)."""
    from cdgmvae.engine.checkpoint import read_header, resolve
    from cdgmvae.engine.prior import PRIOR_NAME
    model_json = resolve(checkpoint)
    prior_json = model_json.parent / f"{PRIOR_NAME}.json"
    fallback = "each bar's latents are drawn independently from the emotion's mixture components"
    if not prior_json.is_file():
        return None, f"no latent prior beside {model_json} (`cdgmvae fit-prior` fits one): {fallback}"
    prior = LatentPrior.load(prior_json)
    if prior.info.get("model_weights_sha256") != read_header(model_json)["weights_sha256"]:
        return None, (f"{prior_json} was fitted on other weights than {model_json}'s, so it is not used "
                      f"(fit it again with `cdgmvae fit-prior`): {fallback}")
    return prior, None


def until_eos(tokens: list[int]) -> list[int]:
    return tokens[: tokens.index(V.EOS) + 1] if V.EOS in tokens else tokens


def tokens_tensor(bars: Sequence[Sequence[int]], bar_len: int, device) -> Tensor:
    """Bars of token ids -> [1, n, L] long, PAD-padded (bars longer than L are cut, keeping EOS last)."""
    out = torch.full((1, len(bars), bar_len), V.PAD, dtype=torch.long, device=device)
    for i, bar in enumerate(bars):
        bar = list(bar)[: bar_len - 1] + [V.EOS] if len(bar) > bar_len else list(bar)
        out[0, i, : len(bar)] = torch.tensor(bar, dtype=torch.long)
    return out
