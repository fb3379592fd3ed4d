"""The decoder step as five hand-written Triton kernels per layer (the `triton` backend, NVIDIA GPUs).

At batch 1 a token of `paper` is a few hundred tiny kernels under Inductor (248: cuBLAS GEMVs, fused
pointwise and reduction kernels, copies), and each costs a couple of microseconds however little it does.
Here a layer is five kernels, each a matrix-vector product with what surrounds it folded in:

    1. layer input (previous output, or the token's embedding, + z injection), LayerNorm, Q/K/V
       projection; writes the input into the memory states and K, V into the bar's cache slot
    2. relative attention of the one query over every slot, content and position terms, softmax
    3. output projection + bias + residual
    4. LayerNorm + first feed-forward layer + bias + GELU
    5. second feed-forward layer + bias + residual

and the final LayerNorm and the output head are one more. The kernels read and write the BarCache's own
buffers, so `BarCache.memory`, `start_bar` and the grammar work as for the other backends; the draw stays
in PyTorch (compiled by Inductor on the GPU). Arithmetic is fp32 throughout, like the eager step.

With TRITON_INTERPRET=1 set before this module is imported, Triton runs the kernels on the CPU with
NumPy: how the tests check them on machines without a GPU.
"""
from __future__ import annotations

import math
import os

import torch
import triton
import triton.language as tl
from torch import Tensor

from engine.incremental import BarCache

# A program's weight tile holds at most TILE elements, and a matrix is split into about PROGRAMS
# programs, enough to keep a GPU's memory busy. The interpreter runs programs one by one in NumPy:
# there, one program per matrix is quickest.
INTERPRETING = os.environ.get("TRITON_INTERPRET") == "1"
TILE, PROGRAMS = (2**22, 1) if INTERPRETING else (8192, 128)
ATTENTION_WARPS = 8  # an attention program holds three [slots, d_head] tiles: 256 x 64 for `paper`


@triton.jit
def _layer_norm(x, mask, n, weight_ptr, bias_ptr, cols, eps):
    """LayerNorm of a whole vector x held by one program (masked lanes are 0 and stay 0)."""
    mean = tl.sum(x, 0) / n
    centred = tl.where(mask, x - mean, 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(centred * centred, 0) / n + eps)
    weight = tl.load(weight_ptr + cols, mask=mask, other=0.0)
    bias = tl.load(bias_ptr + cols, mask=mask, other=0.0)
    return tl.where(mask, centred * rstd * weight + bias, 0.0)


@triton.jit
def _input_and_qkv(prev_ptr, token_ptr, embedding_ptr, tokens_ptr, inject_ptr, index_ptr, states_ptr, x_ptr,
                   ln_w_ptr, ln_b_ptr, w_ptr, q_ptr, keys_ptr, values_ptr, D, M, H, DH, SLOTS, eps,
                   EMBED: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    """Program (row block, batch row): rows of W_qkv [3D, D] (q, then k, then v) times ln1(x)."""
    block, b = tl.program_id(0), tl.program_id(1)
    index = tl.load(index_ptr)
    cols = tl.arange(0, BLOCK_D)
    col_ok = cols < D
    if EMBED:
        token = tl.load(token_ptr + b)
        prev = tl.load(embedding_ptr + token * D + cols, mask=col_ok, other=0.0)
    else:
        prev = tl.load(prev_ptr + b * D + cols, mask=col_ok, other=0.0)
    x = prev + tl.load(inject_ptr + b * D + cols, mask=col_ok, other=0.0)
    if block == 0:  # one program writes the layer input: for the next kernels, and as next bar's memory
        tl.store(x_ptr + b * D + cols, x, mask=col_ok)
        tl.store(states_ptr + (b * M + index) * D + cols, x, mask=col_ok)
        if EMBED:
            tl.store(tokens_ptr + b * M + index, token)
    h = _layer_norm(x, col_ok, D, ln_w_ptr, ln_b_ptr, cols, eps)

    rows = block * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < 3 * D
    w = tl.load(w_ptr + rows[:, None] * D + cols[None, :], mask=row_ok[:, None] & col_ok[None, :], other=0.0)
    y = tl.sum(w * h[None, :], 1)
    part, within = rows // D, rows % D  # part 0: q, 1: k, 2: v
    tl.store(q_ptr + b * D + within, y, mask=row_ok & (part == 0))
    slot = ((b * H + within // DH) * SLOTS + M + index) * DH + within % DH
    tl.store(keys_ptr + slot, y, mask=row_ok & (part == 1))
    tl.store(values_ptr + slot, y, mask=row_ok & (part == 2))


@triton.jit
def _attention(q_ptr, keys_ptr, values_ptr, rel_k_ptr, rel_idx_ptr, allowed_ptr, u_ptr, v_ptr, index_ptr,
               out_ptr, H, DH, SLOTS, M, N_DIST, scale, BLOCK_S: tl.constexpr, BLOCK_DH: tl.constexpr):
    """Program (head, batch row): score(s) = (q + u).k_s + (q + v).R(i - s), over the allowed slots s."""
    head, b = tl.program_id(0), tl.program_id(1)
    index = tl.load(index_ptr)
    e = tl.arange(0, BLOCK_DH)
    e_ok = e < DH
    s = tl.arange(0, BLOCK_S)
    s_ok = s < SLOTS
    tile_ok = s_ok[:, None] & e_ok[None, :]

    q = tl.load(q_ptr + (b * H + head) * DH + e, mask=e_ok, other=0.0)
    q_content = q + tl.load(u_ptr + head * DH + e, mask=e_ok, other=0.0)
    q_position = q + tl.load(v_ptr + head * DH + e, mask=e_ok, other=0.0)
    slot_offsets = ((b * H + head) * SLOTS + s[:, None]) * DH + e[None, :]
    content = tl.sum(tl.load(keys_ptr + slot_offsets, mask=tile_ok, other=0.0) * q_content[None, :], 1)
    distance = tl.load(rel_idx_ptr + index * SLOTS + s, mask=s_ok, other=0)
    rel = tl.load(rel_k_ptr + (head * N_DIST + distance[:, None]) * DH + e[None, :], mask=tile_ok, other=0.0)
    position = tl.sum(rel * q_position[None, :], 1)

    allowed = tl.load(allowed_ptr + (b * M + index) * SLOTS + s, mask=s_ok, other=0) != 0
    score = tl.where(allowed, (content + position) * scale, float("-inf"))  # its own slot is always allowed
    weight = tl.exp(score - tl.max(score, 0))
    weight = weight / tl.sum(weight, 0)
    out = tl.sum(tl.load(values_ptr + slot_offsets, mask=tile_ok, other=0.0) * weight[:, None], 0)
    tl.store(out_ptr + (b * H + head) * DH + e, out, mask=e_ok)


@triton.jit
def _linear(x_ptr, w_ptr, bias_ptr, residual_ptr, ln_w_ptr, ln_b_ptr, out_ptr, N, K, eps,
            NORM: tl.constexpr, BIAS: tl.constexpr, GELU: tl.constexpr, RESIDUAL: tl.constexpr,
            BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """Program (row block, batch row): out = gelu?(W [N, K] @ layer_norm?(x) + bias?) + residual?.
    With NORM the host makes BLOCK_K >= K, so the loop runs once over the whole vector."""
    block, b = tl.program_id(0), tl.program_id(1)
    rows = block * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < N
    acc = tl.zeros((BLOCK_N, BLOCK_K), dtype=tl.float32)
    for start in range(0, K, BLOCK_K):
        cols = start + tl.arange(0, BLOCK_K)
        col_ok = cols < K
        x = tl.load(x_ptr + b * K + cols, mask=col_ok, other=0.0)
        if NORM:
            x = _layer_norm(x, col_ok, K, ln_w_ptr, ln_b_ptr, cols, eps)
        w = tl.load(w_ptr + rows[:, None] * K + cols[None, :], mask=row_ok[:, None] & col_ok[None, :], other=0.0)
        acc += w * x[None, :]
    y = tl.sum(acc, 1)
    if BIAS:
        y += tl.load(bias_ptr + rows, mask=row_ok, other=0.0)
    if GELU:  # nn.GELU's exact form
        y = 0.5 * y * (1.0 + tl.math.erf(y * 0.7071067811865476))
    if RESIDUAL:
        y += tl.load(residual_ptr + b * N + rows, mask=row_ok, other=0.0)
    tl.store(out_ptr + b * N + rows, y, mask=row_ok)


def _row_block(rows: int, block_k: int) -> int:
    """Rows per program: about PROGRAMS programs, a tile of at most TILE."""
    return max(2, min(TILE // block_k, triton.next_power_of_2(triton.cdiv(rows, PROGRAMS))))


class Linear:
    """One `_linear` launch with its weights and settings fixed."""

    def __init__(self, weight: Tensor, bias: Tensor | None = None, norm: torch.nn.LayerNorm | None = None,
                 gelu: bool = False):
        self.weight = weight.detach().contiguous()
        self.bias = None if bias is None else bias.detach()
        self.norm = norm
        self.gelu = gelu
        self.block_n, self.block_k = self.blocks(*self.weight.shape, norm=norm is not None)

    @staticmethod
    def blocks(n: int, k: int, norm: bool) -> tuple[int, int]:
        """BLOCK_N, BLOCK_K of an [n, k] matrix: with a LayerNorm the whole input vector in one block."""
        block_k = triton.next_power_of_2(k) if norm else min(triton.next_power_of_2(k), 512)
        return _row_block(n, block_k), block_k

    def __call__(self, x: Tensor, out: Tensor, residual: Tensor | None = None) -> Tensor:
        n, k = self.weight.shape
        norm = self.norm
        ln_w, ln_b, eps = (norm.weight, norm.bias, norm.eps) if norm is not None else (x, x, 0.0)
        _linear[(triton.cdiv(n, self.block_n), x.shape[0])](
            x, self.weight, _or(self.bias, x), _or(residual, x), ln_w, ln_b, out, n, k, eps,
            NORM=norm is not None, BIAS=self.bias is not None, GELU=self.gelu, RESIDUAL=residual is not None,
            BLOCK_N=self.block_n, BLOCK_K=self.block_k)
        return out


def _or(tensor: Tensor | None, placeholder: Tensor) -> Tensor:
    """A pointer argument that the kernel's constexpr flags leave unread still needs a tensor."""
    return placeholder if tensor is None else tensor


class TritonStep:
    """BarCache.step (feed token [B] at `index`, return logits [B, V]) with the kernels above."""

    def __init__(self, cache: BarCache):
        model, xl = cache.model, cache.model.decoder
        cfg = model.cfg
        self.cache = cache
        self.d, self.heads, self.d_head = cfg.d_model, cfg.n_heads, cfg.d_model // cfg.n_heads
        self.slots = 2 * cache.M
        batch = cache.tokens.shape[0]
        with torch.no_grad():
            vocab = torch.arange(cfg.vocab_size, device=cache.tokens.device)
            self.embedding = model.token_embedding(vocab).contiguous()  # both embeddings, added once
            self.qkv = [torch.cat([b.attn.q_proj.weight, b.attn.kv_proj.weight]).contiguous() for b in xl.blocks]
        self.out_proj = [Linear(b.attn.out_proj.weight, b.attn.out_proj.bias) for b in xl.blocks]
        self.feed_in = [Linear(b.mlp[0].weight, b.mlp[0].bias, norm=b.ln2, gelu=True) for b in xl.blocks]
        self.feed_out = [Linear(b.mlp[2].weight, b.mlp[2].bias) for b in xl.blocks]
        self.head = Linear(model.head.weight, model.head.bias, norm=xl.ln_f)
        self.blocks = xl.blocks
        self.block_d = triton.next_power_of_2(self.d)
        self.qkv_block_n = _row_block(3 * self.d, self.block_d)

        def buffer(width: int) -> Tensor:
            return torch.zeros(batch, width, device=cache.tokens.device)
        self.x, self.mid, self.out, self.q, self.attn = (buffer(self.d) for _ in range(5))
        self.hidden = buffer(cfg.d_ff)
        self.logits = buffer(cfg.vocab_size)

    @torch.no_grad()
    def __call__(self, token: Tensor, index: Tensor) -> Tensor:
        cache, d, batch = self.cache, self.d, token.shape[0]
        token = token.contiguous()  # the kernel reads row b at token + b
        for layer, block in enumerate(self.blocks):
            _input_and_qkv[(triton.cdiv(3 * d, self.qkv_block_n), batch)](
                self.out, token, self.embedding, cache.tokens, cache.inject, index, cache.states[layer], self.x,
                block.ln1.weight, block.ln1.bias, self.qkv[layer], self.q, cache.keys[layer],
                cache.values[layer], d, cache.M, self.heads, self.d_head, self.slots, block.ln1.eps,
                EMBED=layer == 0, BLOCK_N=self.qkv_block_n, BLOCK_D=self.block_d)
            attn = block.attn
            _attention[(self.heads, batch)](
                self.q, cache.keys[layer], cache.values[layer], cache.rel_k[layer], cache.rel_idx, cache.allowed,
                attn.r_w_bias, attn.r_r_bias, index, self.attn, self.heads, self.d_head, self.slots, cache.M,
                cache.rel_k.shape[2], 1.0 / math.sqrt(self.d_head),
                BLOCK_S=triton.next_power_of_2(self.slots), BLOCK_DH=triton.next_power_of_2(self.d_head),
                num_warps=ATTENTION_WARPS)
            self.out_proj[layer](self.attn, self.mid, residual=self.x)
            self.feed_in[layer](self.mid, self.hidden)
            self.feed_out[layer](self.hidden, self.out, residual=self.mid)
        return self.head(self.out, self.logits)
