"""The CDGMVAE loss (docs/ARCHITECTURE.md, *The loss*), one small function per term.

    L = L_rec + beta * sum_i (KL_z,i + KL_y,i) + gamma * L_cls + delta * L_dis  (+ L_bag with cfg.note_bias)

The ELBO terms (L_rec, KL_z, KL_y) are summed over the batch and divided by the number of target tokens,
i.e. the negative ELBO per token, so beta = 1 is the true ELBO whatever the bar length. L_cls is a mean
over labelled segments and L_dis a mean over real bars.

Factor i = r (rhythm latent z_r, arousal labels) or k (key latent z_k, valence labels).
Labels are ints 0 = low, 1 = high, -1 = unknown (unlabelled for that factor).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from cdgmvae.engine.model import GaussianMixturePrior, ModelOutput, pitch_bag, token_bag_pitches
from cdgmvae.engine.vocab import PAD
from cdgmvae.training.batch import Batch
from torch import Tensor


@dataclass(frozen=True)
class LossSettings:
    beta_max: float = 1.0
    beta_warmup: int = 1000   # steps of the linear ramp 0 -> beta_max
    gamma: float = 1.0        # classification
    delta: float = 1.0        # disentanglement (correct + adversarial)
    alpha: float = 0.2        # variance penalty on the spread of component means; 1 = off
    mi: bool = True           # mutual-information enhancement of KL_y; False = the plain term


def beta_at(step: int, settings: LossSettings) -> float:
    """KL warm-up against posterior collapse: linear from 0 to beta_max over beta_warmup steps."""
    if settings.beta_warmup <= 0:
        return settings.beta_max
    return settings.beta_max * min(1.0, step / settings.beta_warmup)


def reconstruction_loss(logits: Tensor, tokens: Tensor) -> Tensor:
    """Summed token cross-entropy; logits [B, T, n-1, V] predict tokens[:, :, 1:n]. PAD ignored."""
    targets = tokens[:, :, 1:logits.shape[2] + 1]
    return F.cross_entropy(logits.float().flatten(0, 2), targets.flatten(), ignore_index=PAD, reduction="sum")


def gaussian_kl(mu_q: Tensor, var_q: Tensor, mu_p: Tensor, log_var_p: Tensor) -> Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, exp(log_var_p))), diagonal, summed over the last dim."""
    return 0.5 * (log_var_p - var_q.log() + (var_q + (mu_q - mu_p).pow(2)) * torch.exp(-log_var_p) - 1.0).sum(-1)


def _sum_bars(per_bar: Tensor, bar_mask: Tensor) -> Tensor:
    """[B, T] -> [B], summing the real bars."""
    return (per_bar * bar_mask.to(per_bar.dtype)).sum(1)


def kl_z_labelled(mu: Tensor, sigma: Tensor, prior: GaussianMixturePrior, labels: Tensor, bar_mask: Tensor) -> Tensor:
    """sum_tau KL(q(z_tau|x) || N(mu_y, var_y)) per segment, [B]; mu, sigma [B, T, l], labels [B] in 0..K-1."""
    mean = prior.means[labels].unsqueeze(1)
    log_var = prior.log_vars[labels].unsqueeze(1)
    return _sum_bars(gaussian_kl(mu, sigma.pow(2), mean, log_var), bar_mask)


def kl_z_mixture(mu: Tensor, sigma: Tensor, prior: GaussianMixturePrior, q_y: Tensor, bar_mask: Tensor) -> Tensor:
    """The plain unlabelled term sum_c q_c sum_tau KL(q(z_tau|x) || N(mu_c, var_c)), [B]; q_y [B, K]."""
    per_component = gaussian_kl(mu.unsqueeze(2), sigma.pow(2).unsqueeze(2), prior.means, prior.log_vars)  # [B,T,K]
    return _sum_bars((per_component * q_y.unsqueeze(1)).sum(-1), bar_mask)


def kl_z_unlabelled(mu: Tensor, sigma: Tensor, prior: GaussianMixturePrior, q_y: Tensor, bar_mask: Tensor,
                    alpha: float) -> tuple[Tensor, Tensor]:
    """The mixture KL split as (attraction to the weighted centre) + alpha * (spread of the means), [B] each.

    The paper (Eq 11-12; docs/ARCHITECTURE.md) writes the split for a shared variance s2:
        sum_c q_c KL(q || N(mu_c, s2)) = KL(q || N(mu_bar, s2)) + (1 / 2 s2) sum_c q_c ||mu_c - mu_bar||^2.
    Our components have their own variances, so we use the precision-weighted centre, per dimension
        P = sum_c q_c / var_c,   mu_bar = (sum_c q_c mu_c / var_c) / P,
    for which the cross term vanishes and the split is exact for any variances:
        attraction = sum_c q_c (log var_c / 2) - log var_q / 2 + var_q P / 2 - 1/2 + P (m - mu_bar)^2 / 2
        spread     = sum_c q_c (mu_c - mu_bar)^2 / (2 var_c).
    With a shared variance both reduce to the paper's form. Returns (attraction, alpha * spread), summed over
    real bars; with alpha = 1 their sum equals kl_z_mixture exactly.
    """
    q = q_y.unsqueeze(-1)                                   # [B, K, 1]
    weighted_precision = q * torch.exp(-prior.log_vars)     # [B, K, l]
    precision = weighted_precision.sum(1)                   # [B, l]
    centre = (weighted_precision * prior.means).sum(1) / precision
    var_q = sigma.pow(2)
    attraction = 0.5 * ((q * prior.log_vars).sum(1).unsqueeze(1) - var_q.log() - 1.0
                        + precision.unsqueeze(1) * (var_q + (mu - centre.unsqueeze(1)).pow(2)))
    spread = 0.5 * (weighted_precision * (prior.means - centre.unsqueeze(1)).pow(2)).sum((1, 2))  # [B]
    n_bars = bar_mask.to(spread.dtype).sum(1)
    return _sum_bars(attraction.sum(-1), bar_mask), alpha * spread * n_bars


def kl_y(log_q: Tensor, mi: bool = True) -> Tensor:
    """Categorical KL to the uniform p(y), summed over the segments of log_q [B, K] (B may be 0).

    mi=True (Eq 13-17): B * KL(q_bar || p), q_bar the batch mean of q(y|x): the usual term without its
    mutual-information part. mi=False: the usual sum_x KL(q(y|x) || p(y))."""
    if log_q.shape[0] == 0:
        return log_q.sum()
    log_p = -math.log(log_q.shape[-1])
    if mi:
        log_q_bar = torch.logsumexp(log_q, dim=0) - math.log(log_q.shape[0])
        return log_q.shape[0] * (log_q_bar.exp() * (log_q_bar - log_p)).sum()
    return (log_q.exp() * (log_q - log_p)).sum()


def classification_loss(log_q: Tensor, labels: Tensor) -> Tensor:
    """-log q(y_true|x), mean over labelled segments (labels >= 0); 0 when none are labelled."""
    known = labels >= 0
    if not known.any():
        return log_q.sum() * 0.0
    return F.nll_loss(log_q[known].float(), labels[known])


def disentanglement_loss(out: ModelOutput, rhythm: Tensor, key: Tensor, bar_mask: Tensor) -> tuple[Tensor, Tensor]:
    """(D_r(z_r) vs f_r MSE + D_k(z_k) vs f_k CE, the same for the adversarial pair through the GRL),
    each a mean over real bars."""
    def rhythm_error(pred):
        return (pred.float() - rhythm).pow(2).mean(-1)[bar_mask].mean()

    def key_error(logits):
        return F.cross_entropy(logits[bar_mask].float(), key[bar_mask])

    correct = rhythm_error(out.rhythm_pred) + key_error(out.key_logits)
    adversarial = rhythm_error(out.rhythm_pred_adv) + key_error(out.key_logits_adv)
    return correct, adversarial


def pitch_bag_loss(out: ModelOutput, tokens: Tensor, bar_mask: Tensor) -> Tensor:
    """-log p(the bar's pitch set | z_k) under D_p (binary cross-entropy over the 128 MIDI pitches), summed
    over pitches and real bars, like the reconstruction term (Zhao et al. 2017's bag-of-words loss); 0 for a
    model without the bag-of-notes path (cfg.note_bias)."""
    if out.pitch_bag_logits is None:
        return out.key_logits.sum() * 0.0
    target = pitch_bag(tokens, _bag_pitches(tokens.device))
    bce = F.binary_cross_entropy_with_logits(out.pitch_bag_logits.float(), target, reduction="none").sum(-1)
    return bce[bar_mask].sum()


@functools.cache
def _bag_pitches(device) -> Tensor:
    return token_bag_pitches().to(device)


def factor_kl(mu: Tensor, sigma: Tensor, prior: GaussianMixturePrior, log_q: Tensor, labels: Tensor,
              bar_mask: Tensor, settings: LossSettings) -> tuple[Tensor, Tensor]:
    """(KL_z, KL_y) of one factor, summed over the batch: labelled segments against their component,
    unlabelled ones against the mixture (split, with alpha) plus the categorical term."""
    known = labels >= 0
    kl_z = kl_z_labelled(mu[known], sigma[known], prior, labels[known], bar_mask[known]).sum()
    unknown = ~known
    attraction, spread = kl_z_unlabelled(mu[unknown], sigma[unknown], prior, log_q[unknown].exp(),
                                         bar_mask[unknown], settings.alpha)
    kl_z = kl_z + attraction.sum() + spread.sum()
    return kl_z, kl_y(log_q[unknown], settings.mi)


def total_loss(out: ModelOutput, batch: Batch, prior_r: GaussianMixturePrior, prior_k: GaussianMixturePrior,
               beta: float, settings: LossSettings) -> tuple[Tensor, dict[str, Tensor]]:
    """The training loss (a scalar) and its named terms (detached scalars, still on the device) for the model's
    output on `batch` (training/batch.py gives the shapes)."""
    tokens, bar_mask = batch.tokens, batch.bar_mask
    n_tokens = (tokens[:, :, 1:out.logits.shape[2] + 1] != PAD).sum().clamp(min=1)
    lat = out.latents
    rec = reconstruction_loss(out.logits, tokens) / n_tokens
    kl_z_r, kl_y_a = factor_kl(lat.mu_r.float(), lat.sigma_r.float(), prior_r, out.log_q_arousal.float(),
                               batch.arousal, bar_mask, settings)
    kl_z_k, kl_y_v = factor_kl(lat.mu_k.float(), lat.sigma_k.float(), prior_k, out.log_q_valence.float(),
                               batch.valence, bar_mask, settings)
    kl_z_r, kl_y_a, kl_z_k, kl_y_v = (t / n_tokens for t in (kl_z_r, kl_y_a, kl_z_k, kl_y_v))
    cls_a = classification_loss(out.log_q_arousal, batch.arousal)
    cls_v = classification_loss(out.log_q_valence, batch.valence)
    dis, dis_adv = disentanglement_loss(out, batch.rhythm, batch.key, bar_mask)
    bag = pitch_bag_loss(out, tokens, bar_mask) / n_tokens
    loss = (rec + bag + beta * (kl_z_r + kl_z_k + kl_y_a + kl_y_v)
            + settings.gamma * (cls_a + cls_v) + settings.delta * (dis + dis_adv))
    terms = dict(loss=loss, rec=rec, bag=bag, kl_z_r=kl_z_r, kl_z_k=kl_z_k, kl_y_a=kl_y_a, kl_y_v=kl_y_v,
                 cls_a=cls_a, cls_v=cls_v, dis=dis, dis_adv=dis_adv)
    return loss, {name: value.detach() for name, value in terms.items()}
