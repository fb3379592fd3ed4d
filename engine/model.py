"""CDGMVAE (Ning, Han, Pan 2024): two Transformer-XL encoders give per-bar latents z_r (rhythm, arousal)
and z_k (key, valence); a Gaussian mixture per factor is the prior and, through VaDE's Eq 6, the emotion
classifier; a Transformer-XL decoder generates each bar from z = concat(z_r, z_k) injected into every
layer. The equations, with the paper's numbers: docs/ARCHITECTURE.md, *The model*.

Shapes: B segments, T bars, L tokens per bar, l = d_latent, K = 2 components (0 = low, 1 = high).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from cdgmvae.engine.config import ModelConfig
from cdgmvae.engine.features import N_KEYS, N_PITCH_CLASSES, N_RHYTHM, UNIT_KEY_PROFILES
from cdgmvae.engine.transformer_xl import TransformerXL
from cdgmvae.engine.vocab import (
    DRUMS,
    KIND_PITCH,
    PAD,
    POSITIONS_PER_BAR,
    TOKEN_KIND,
    TOKEN_POSITION,
    TOKEN_TRACK,
    TOKEN_VALUE,
)
from torch import Tensor

N_PITCHES = 128  # MIDI pitches: the bag-of-notes head's outputs
# Adam moves a parameter by about lr a step whatever its gradient: at lr 5e-4 a gain kept in its own units would
# need thousands of steps to reach 1, the scale at which D_p's log-probabilities decide a pitch
NOTE_GAIN_SCALE = 20.0
# The pitch summary's output is multiplied by this for the same reason: its output layer starts at zero (a grown model
# encodes as before), and at lr 5e-4 it had reached a tenth of the pooled state's scale after 250 steps
PITCH_SUMMARY_SCALE = 10.0


def _pitched_tokens() -> Tensor:
    """[V] bool: which tokens are pitched notes (pitch tokens of every track but drums)."""
    return (torch.as_tensor(TOKEN_KIND) == KIND_PITCH) & (torch.as_tensor(TOKEN_TRACK) != DRUMS)


def token_pitch_classes() -> Tensor:
    """[V] long: the pitch class of each pitched-note token (not drums), N_PITCH_CLASSES for the rest."""
    return torch.where(_pitched_tokens(), torch.as_tensor(TOKEN_VALUE) % N_PITCH_CLASSES, N_PITCH_CLASSES)


def key_summary(tokens: Tensor, pitch_class: Tensor, key_profiles: Tensor) -> Tensor:
    """tokens [..., L] -> [..., 24]: the correlation of each bar's pitch-class counts with the 24 key
    profiles (features.key_scores; all 0 for a bar without pitched notes). Major against minor, which
    valence follows, is a maximum over keys: no linear function of the pitch-class counts gives it."""
    counts = F.one_hot(pitch_class[tokens], N_PITCH_CLASSES + 1)[..., :N_PITCH_CLASSES].sum(-2).float()
    centred = counts - counts.mean(-1, keepdim=True)
    return (centred @ key_profiles.T) / centred.norm(dim=-1, keepdim=True).clamp(min=1e-6)


def token_bag_pitches() -> Tensor:
    """[V] long: the MIDI pitch of each pitched-note token (not drums), N_PITCHES for the rest."""
    return torch.where(_pitched_tokens(), torch.as_tensor(TOKEN_VALUE), N_PITCHES)


def pitch_bag(tokens: Tensor, bag_pitch: Tensor) -> Tensor:
    """tokens [..., L] -> [..., 128] float: 1 for each MIDI pitch a pitched (not drum) note of the bar has."""
    hits = F.one_hot(bag_pitch[tokens], N_PITCHES + 1)[..., :N_PITCHES].amax(-2)
    return hits.float()


def onset_summary(tokens: Tensor, position: Tensor, is_pitch: Tensor) -> Tensor:
    """tokens [..., L] -> [..., 16]: log(1 + number of notes starting at each 16th of the bar)."""
    # every token takes the value of the last Position token before it (cummax: positions rise in a bar)
    current = position[tokens].cummax(-1).values
    onset = is_pitch[tokens] & (current >= 0)
    counts = (F.one_hot(current.clamp(min=0), POSITIONS_PER_BAR) * onset.unsqueeze(-1)).sum(-2).float()
    return counts.log1p()


@dataclass
class Latents:
    mu_r: Tensor     # [B, T, l]
    sigma_r: Tensor
    mu_k: Tensor
    sigma_k: Tensor
    memory: tuple[BarMemory, BarMemory] | None = None  # E_r's and E_k's last bar, to encode what follows


@dataclass
class BarMemory:
    """A bar's per-layer inputs [B, n, d] and which of its n positions are real tokens [B, n]."""
    states: list[Tensor]
    mask: Tensor

    def expanded(self, rows: int) -> BarMemory:
        """The memory of one piece (B = 1) shared by `rows` candidates decoded or encoded at once."""
        if self.mask.shape[0] == rows:
            return self
        return BarMemory([s.expand(rows, -1, -1) for s in self.states], self.mask.expand(rows, -1))

    def row(self, index: int) -> BarMemory:
        """Candidate `index`'s memory alone (B = 1), copied so the batch it came from can be reused."""
        return BarMemory([s[index: index + 1].clone() for s in self.states], self.mask[index: index + 1].clone())


@dataclass
class ModelOutput:
    logits: Tensor          # [B, T, L-1, V], predicting tokens[:, :, 1:]
    latents: Latents
    z_r: Tensor             # [B, T, l]
    z_k: Tensor
    log_q_arousal: Tensor   # [B, K]
    log_q_valence: Tensor   # [B, K]
    rhythm_pred: Tensor     # [B, T, 16]  D_r(z_r)
    key_logits: Tensor      # [B, T, 24]  D_k(z_k)
    rhythm_pred_adv: Tensor  # D_r(GRL(z_k))
    key_logits_adv: Tensor   # D_k(GRL(z_r))
    pitch_bag_logits: Tensor | None = None  # [B, T, 128] D_p(z_k), with cfg.note_bias


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


def grad_reverse(x: Tensor, scale: float = 1.0) -> Tensor:
    """Identity forward, gradient negated (and scaled: DANN's lambda) backward."""
    return _GradReverse.apply(x, scale)


class GaussianMixturePrior(nn.Module):
    """K diagonal Gaussians in R^l with learnable means (Xavier init) and log-variances."""

    def __init__(self, n_components: int, d_latent: int, init_std_log: float):
        super().__init__()
        self.means = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_components, d_latent)))
        self.log_vars = nn.Parameter(torch.full((n_components, d_latent), 2.0 * init_std_log))

    def log_prob(self, z: Tensor) -> Tensor:
        """z [..., l] -> log N(z; mu_c, var_c) summed over l, [..., K]."""
        diff = z.unsqueeze(-2) - self.means
        per_dim = -0.5 * (math.log(2 * math.pi) + self.log_vars + diff.pow(2) * torch.exp(-self.log_vars))
        return per_dim.sum(-1)

    def mean_distance(self) -> Tensor:
        """Euclidean distance between the two components' means (mode collapse -> 0)."""
        return (self.means[1] - self.means[0]).norm()


class Encoder(nn.Module):
    """E_r or E_k: Transformer-XL over each bar (memory: previous bar), mean-pooled to mu, sigma.

    A bar summary (its onset histogram or its 24 key correlations, `n_summary` numbers) goes through a
    small MLP and is added to the pooled state. Mean pooling divides out how many notes a bar has, and a small model
    trained for minutes on a CPU does not learn the bar's key from 640 pitch tokens: the skip hands each encoder the
    statistic its factor is defined by, and the Transformer learns what lies beyond it."""

    def __init__(self, cfg: ModelConfig, n_summary: int, n_notes: int = 0):
        super().__init__()
        self.xl = TransformerXL(cfg.n_enc_layers, cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout, cfg.bar_len)
        self.summary_proj = _mlp(n_summary, cfg.d_model, cfg.d_model)
        # cfg.pitch_summary: the bar's pitch set through its own MLP, so that z can name the pitches themselves
        # (a separate part, so that `--init-from` a model without it grows one; see CDGMVAE._init_weights)
        self.notes_proj = _mlp(n_notes, cfg.d_model, cfg.d_model) if n_notes else None
        self.to_mu = nn.Linear(cfg.d_model, cfg.d_latent)
        self.to_sigma = nn.Linear(cfg.d_model, cfg.d_latent)

    def forward(self, emb: Tensor, tokens: Tensor, summary: Tensor, memory: BarMemory | None = None,
                notes: Tensor | None = None) -> tuple[Tensor, Tensor, BarMemory]:
        """emb [B, T, L, d], tokens [B, T, L], summary [B, T, n_summary]; memory: the last bar's from a call
        on the bars before these (None: these start the piece); notes [B, T, n_notes]: the bar's pitch set,
        for an encoder built with n_notes (ignored otherwise). Returns mu, sigma [B, T, l] and the memory
        for the bars after these. Padding after the longest bar is trimmed: it changes nothing, since
        positions are counted within a bar and padded keys are masked."""
        valid = tokens != PAD
        real = valid.flatten(0, 1).any(0).nonzero()
        n = int(real[-1]) + 1 if len(real) else 1
        valid = valid[..., :n]
        out, last = self.xl.forward_bars(emb[:, :, :n], valid, memory.states if memory else None,
                                         memory.mask if memory else None)
        weights = valid.unsqueeze(-1).to(out.dtype)
        h = (out * weights).sum(2) / weights.sum(2).clamp(min=1.0) + self.summary_proj(summary)
        if self.notes_proj is not None:
            h = h + PITCH_SUMMARY_SCALE * self.notes_proj(notes)
        return self.to_mu(h), F.softplus(self.to_sigma(h)) + 1e-5, BarMemory(last, valid[:, -1])


def _mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_out))


class CDGMVAE(nn.Module):
    """The whole model (docs/ARCHITECTURE.md, *The model*): encoders E_r and E_k, a Gaussian-mixture prior
    per factor (prior_r on z_r for arousal, prior_k on z_k for valence), the global decoder and the local
    decoders D_r and D_k, sized by `cfg` (engine/config.py).

    forward(tokens [B, T, L] long, bar_mask [B, T] bool) -> ModelOutput: logits [B, T, L-1, V] predicting
    tokens[:, :, 1:], the posterior parameters, the sampled z [B, T, l], log q(y|x) [B, K] per factor and
    the local decoders' outputs, everything training/losses.py takes. T is any number of bars and L at most
    cfg.bar_len; token ids must be below cfg.vocab_size (torch raises IndexError otherwise). Generation uses
    `encode`, `posterior`, `z_injection` and `decode_bar` (engine/generator.py, engine/incremental.py).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d, d_latent = cfg.d_model, cfg.d_latent
        self.tok_emb = nn.Embedding(cfg.vocab_size, d)
        # Pitch tokens also get their pitch class's embedding, shared across octaves and tracks, so key
        # and mode (valence) are visible from the first layer instead of learned from 640 pitch tokens.
        self.pitch_class_emb = nn.Embedding(N_PITCH_CLASSES + 1, d)  # the last row: not a pitched note
        self.register_buffer("token_pitch_class", token_pitch_classes(), persistent=False)
        self.register_buffer("token_position", torch.as_tensor(TOKEN_POSITION), persistent=False)
        self.register_buffer("token_is_pitch", torch.as_tensor(TOKEN_KIND) == KIND_PITCH, persistent=False)
        self.register_buffer("key_profiles", torch.as_tensor(UNIT_KEY_PROFILES, dtype=torch.float32),  # [24, 12]
                             persistent=False)
        self.emb_drop = nn.Dropout(cfg.dropout)
        self.enc_r = Encoder(cfg, POSITIONS_PER_BAR)
        self.enc_k = Encoder(cfg, N_KEYS, N_PITCHES if cfg.pitch_summary else 0)
        self.prior_r = GaussianMixturePrior(cfg.n_components, d_latent, cfg.init_std_log)  # arousal, on z_r
        self.prior_k = GaussianMixturePrior(cfg.n_components, d_latent, cfg.init_std_log)  # valence, on z_k
        self.z_proj = nn.Linear(2 * d_latent, d)
        self.decoder = TransformerXL(cfg.n_layers, d, cfg.n_heads, cfg.d_ff, cfg.dropout, cfg.bar_len)
        self.head = nn.Linear(d, cfg.vocab_size, bias=False)
        self.rhythm_decoder = _mlp(d_latent, d, N_RHYTHM)  # D_r
        self.key_decoder = _mlp(d_latent, d, N_KEYS)       # D_k
        if cfg.note_bias or cfg.pitch_summary:
            self.register_buffer("token_bag_pitch", token_bag_pitches(), persistent=False)
        if cfg.note_bias:
            self.pitch_bag = _mlp(d_latent, d, N_PITCHES)  # D_p: the bar's pitches from z_k
            # the bias's weights on D_p's log-probabilities and on D_r's onset counts, in units of
            # NOTE_GAIN_SCALE; zero: a grown model decodes as it did before, and training finds how far to lean
            # on the bag
            self.note_gain = nn.Parameter(torch.zeros(2))
        self._init_weights()

    def _init_weights(self):
        """GPT-style N(0, 0.02) for the Transformers, embeddings and z projection. The small heads between
        pooled states, latents and local decoders keep PyTorch's fan-in init: four layers at 0.02 in a row
        leave the latents near zero and their gradients vanishing (the key decoder stayed at chance)."""
        heads = {id(m) for enc in (self.enc_r, self.enc_k)
                 for m in (*enc.summary_proj, *(enc.notes_proj or ()), enc.to_mu, enc.to_sigma)}
        heads |= {id(m) for m in (*self.rhythm_decoder, *self.key_decoder, *getattr(self, "pitch_bag", ()))}
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)) and id(module) not in heads:
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
        if self.enc_k.notes_proj is not None:
            # its output layer starts at zero: a grown model encodes exactly as before, and the gradient still
            # reaches this layer through the first one's non-zero output
            nn.init.zeros_(self.enc_k.notes_proj[-1].weight)
            nn.init.zeros_(self.enc_k.notes_proj[-1].bias)

    # --- encoder side -------------------------------------------------------------------------------
    def token_embedding(self, tokens: Tensor) -> Tensor:
        return self.tok_emb(tokens) + self.pitch_class_emb(self.token_pitch_class[tokens])

    def embed(self, tokens: Tensor) -> Tensor:
        return self.emb_drop(self.token_embedding(tokens))

    def encode(self, tokens: Tensor, memory: tuple[BarMemory, BarMemory] | None = None) -> Latents:
        """tokens [B, T, L] (any T) -> per-bar posterior parameters q(z_r|x), q(z_k|x). A long piece can be
        encoded in chunks of bars: pass each chunk the `memory` of the Latents of the chunk before it."""
        emb = self.embed(tokens)
        memory_r, memory_k = memory if memory is not None else (None, None)
        mu_r, sigma_r, memory_r = self.enc_r(emb, tokens, onset_summary(tokens, self.token_position,
                                                                        self.token_is_pitch), memory_r)
        mu_k, sigma_k, memory_k = self.enc_k(emb, tokens, key_summary(tokens, self.token_pitch_class,
                                                                      self.key_profiles), memory_k,
                                             self.pitch_set(tokens))
        return Latents(mu_r, sigma_r, mu_k, sigma_k, (memory_r, memory_k))

    def encode_key(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """tokens [B, T, L] -> q(z_k|x) alone: mu_k, sigma_k [B, T, l] (half the work of `encode`)."""
        mu_k, sigma_k, _ = self.enc_k(self.embed(tokens), tokens,
                                      key_summary(tokens, self.token_pitch_class, self.key_profiles), None,
                                      self.pitch_set(tokens))
        return mu_k, sigma_k

    def pitch_set(self, tokens: Tensor) -> Tensor | None:
        """tokens [..., L] -> [..., 128]: the bar's pitch set (`pitch_bag`) for E_k with cfg.pitch_summary;
        None without it."""
        return pitch_bag(tokens, self.token_bag_pitch) if self.cfg.pitch_summary else None

    def sample(self, latents: Latents) -> tuple[Tensor, Tensor]:
        """z = mu + sigma * eps while training (Eq 21); z = mu in eval mode."""
        if not self.training:
            return latents.mu_r, latents.mu_k
        return (latents.mu_r + latents.sigma_r * torch.randn_like(latents.sigma_r),
                latents.mu_k + latents.sigma_k * torch.randn_like(latents.sigma_k))

    def posterior(self, z_r: Tensor, z_k: Tensor, bar_mask: Tensor) -> tuple[Tensor, Tensor]:
        """log q(y|x) for arousal (from z_r) and valence (from z_k), [B, K] each (VaDE Eq 6, per segment:
        mean over real bars of log N(z; mu_c, var_c), plus log p(c), normalised by log_softmax)."""
        return self._log_q(self.prior_r, z_r, bar_mask), self._log_q(self.prior_k, z_k, bar_mask)

    def _log_q(self, prior: GaussianMixturePrior, z: Tensor, bar_mask: Tensor) -> Tensor:
        weights = bar_mask.unsqueeze(-1).to(z.dtype)
        mean_log_p = (prior.log_prob(z) * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        log_prior = -math.log(prior.means.shape[0])  # p(y) uniform
        return F.log_softmax(mean_log_p + log_prior, dim=-1)

    @torch.no_grad()
    def infer_emotion(self, tokens: Tensor, bar_mask: Tensor, n_samples: int = 0) -> tuple[Tensor, Tensor]:
        """log q(y|x) for arousal and valence, [B, K] each. n_samples = 0 uses z = mu; otherwise the
        probabilities are averaged over n_samples draws of z (Monte Carlo) and returned as logs."""
        latents = self.encode(tokens)
        if n_samples <= 0:
            return self.posterior(latents.mu_r, latents.mu_k, bar_mask)
        draws = []
        for _ in range(n_samples):
            z_r = latents.mu_r + latents.sigma_r * torch.randn_like(latents.sigma_r)
            z_k = latents.mu_k + latents.sigma_k * torch.randn_like(latents.sigma_k)
            draws.append(torch.stack(self.posterior(z_r, z_k, bar_mask)))
        log_q = torch.logsumexp(torch.stack(draws), dim=0) - math.log(n_samples)
        return log_q[0], log_q[1]

    # --- decoder side -------------------------------------------------------------------------------
    def z_injection(self, z_r: Tensor, z_k: Tensor) -> Tensor:
        """[..., l] x2 -> [..., d]: added to every decoder layer's input for every token of the bar."""
        return self.z_proj(torch.cat([z_r, z_k], dim=-1))

    def note_logit_bias(self, z_r: Tensor, z_k: Tensor) -> Tensor | None:
        """[..., l] x2 -> [..., V]: the bag-of-notes path's bias on the decoder's logits (None without
        cfg.note_bias). Each pitched token gets gain_p * log D_p(z_k)[its pitch], each Position token gain_r *
        D_r(z_r)[its 16th] (D_r's predicted onsets there); others 0. A bar's latents name its notes to the
        output directly, instead of only through the decoder layers' input (Zhao et al. 2017 train such a
        bag of words from z so that z carries the content)."""
        if not self.cfg.note_bias:
            return None
        log_p = F.pad(F.logsigmoid(self.pitch_bag(z_k)), (0, 1))           # [..., 129], 0 for non-pitches
        onsets = F.pad(self.rhythm_decoder(z_r), (0, 1))                   # [..., 17]
        gain = NOTE_GAIN_SCALE * self.note_gain
        position = torch.where(self.token_position >= 0, self.token_position, POSITIONS_PER_BAR)
        return gain[0] * log_p[..., self.token_bag_pitch] + gain[1] * onsets[..., position]

    def decode_bar(self, tokens: Tensor, z_r: Tensor, z_k: Tensor, memory: BarMemory | None = None,
                   token_dropout: float = 0.0) -> tuple[Tensor, BarMemory]:
        """One bar, teacher-forced: tokens [B, n] (starting with Bar), z_r, z_k [B, l], memory from the
        previous bar (None for the first). Returns logits [B, n, V] (logits[:, i] predicts token i+1) and
        this bar's memory for the next bar. In training, `token_dropout` zeroes that share of the input
        tokens' embeddings (not the Bar token)."""
        x = self.embed(tokens)
        if self.training and token_dropout > 0:
            # word dropout (Bowman et al. 2016): with its own earlier notes half hidden, the decoder has to
            # take a bar's key and rhythm from z instead of copying them from the context
            dropped = torch.rand(tokens.shape, device=tokens.device) < token_dropout
            dropped[:, 0] = False
            x = x.masked_fill(dropped.unsqueeze(-1), 0.0)
        inject = self.z_injection(z_r, z_k).unsqueeze(1)
        out, states = self.decoder(x, memory.states if memory else None, memory.mask if memory else None,
                                   causal=True, inject=inject)
        logits, bias = self.head(out), self.note_logit_bias(z_r, z_k)
        if bias is not None:
            logits = logits + bias.unsqueeze(1)
        return logits, BarMemory(states, tokens != PAD)

    def decode(self, tokens: Tensor, z_r: Tensor, z_k: Tensor, token_dropout: float = 0.0) -> Tensor:
        """tokens [B, T, L] -> logits [B, T, L-1, V] predicting tokens[:, :, 1:] bar by bar."""
        logits, memory = [], None
        for t in range(tokens.shape[1]):
            bar_logits, memory = self.decode_bar(tokens[:, t, :-1], z_r[:, t], z_k[:, t], memory, token_dropout)
            logits.append(bar_logits)
        return torch.stack(logits, dim=1)

    def forward(self, tokens: Tensor, bar_mask: Tensor, adversary: float = 1.0,
                token_dropout: float = 0.0) -> ModelOutput:
        """tokens [B, T, L] long, bar_mask [B, T] bool (False for filler bars of short pieces); adversary:
        the reversed gradient's scale; token_dropout: the share of decoder input tokens hidden in training."""
        latents = self.encode(tokens)
        z_r, z_k = self.sample(latents)
        log_q_arousal, log_q_valence = self.posterior(z_r, z_k, bar_mask)
        return ModelOutput(
            logits=self.decode(tokens, z_r, z_k, token_dropout),
            latents=latents, z_r=z_r, z_k=z_k,
            log_q_arousal=log_q_arousal, log_q_valence=log_q_valence,
            rhythm_pred=self.rhythm_decoder(z_r), key_logits=self.key_decoder(z_k),
            rhythm_pred_adv=self.rhythm_decoder(grad_reverse(z_k, adversary)),
            key_logits_adv=self.key_decoder(grad_reverse(z_r, adversary)),
            pitch_bag_logits=self.pitch_bag(z_k) if self.cfg.note_bias else None,
        )
