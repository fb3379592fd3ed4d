"""The decoder step as three hand-written Triton kernels per layer (the `triton` backend, NVIDIA GPUs).

At batch 1 a token of `paper` is a few hundred tiny kernels under Inductor (248: cuBLAS GEMVs, fused
pointwise and reduction kernels, copies), and each costs a couple of microseconds however little it does.
Here a layer is three kernels:

    1. qkv:          the layer input (the previous layer's output, or the token's embedding, + z
                     injection), LayerNorm, Q/K/V projection; writes the input into the memory states
                     and K, V into the bar's cache slot
    2. attention:    one program per head: relative attention of the query over every slot (content and
                     position terms, softmax), then that head's share of the output projection
    3. feed-forward: LayerNorm, first layer and GELU for a slice of the hidden units, then that slice's
                     share of the second layer

A kernel whose output needs a whole vector that many programs compute would have to wait for all of
them, which only a new kernel can do. So kernels 2 and 3 leave their shares ("parts") unsummed, one per
program, and the next kernel that reads the vector adds them up as it loads it:

    layer output = input + out_bias + sum(attention parts) + ff_bias + sum(feed-forward parts)

The sum runs in a fixed order, so the same seed gives the same notes (atomic adds would not). The final
LayerNorm and the output head are one more kernel. The kernels read and write the BarCache's own buffers,
so `BarCache.memory`, `start_bar` and the grammar work as for the other backends; the draw stays in
PyTorch (compiled by Inductor on the GPU). Arithmetic is fp32 throughout, like the eager step.

With TRITON_INTERPRET=1 set before this module is imported, Triton runs the kernels on the CPU with
NumPy: how the tests check them on machines without a GPU.
"""
from __future__ import annotations

import math
import os

import torch
import triton
import triton.language as tl
from cdgmvae.engine.incremental import BarCache
from torch import Tensor

# Programs per matrix: enough to keep a GPU's memory busy; the interpreter runs programs one by one in
# NumPy, where fewest is quickest. CHUNK: rows of a weight tile that a program multiplies at a time.
INTERPRETING = os.environ.get("TRITON_INTERPRET") == "1"
QKV_PROGRAMS, FEED_FORWARD_PROGRAMS, HEAD_PROGRAMS = (1, 1, 1) if INTERPRETING else (96, 32, 64)
CHUNK = 128 if INTERPRETING else 16
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
def _rows_dot(w_ptr, rows, row_ok, x, cols, col_ok, D):
    """[rows]: each of the given rows of a row-major [*, D] matrix (fp32 or bf16) dotted with x [D]."""
    w = tl.load(w_ptr + rows[:, None] * D + cols[None, :], mask=row_ok[:, None] & col_ok[None, :], other=0.0)
    return tl.sum(w.to(tl.float32) * x[None, :], 1)


@triton.jit
def _rows_weighted(w_ptr, rows, row_ok, weights, cols, col_ok, D):
    """[D]: the given rows of a row-major [*, D] matrix (fp32 or bf16), weighted by `weights` and summed:
    a matrix-vector product with the matrix stored transposed."""
    w = tl.load(w_ptr + rows[:, None] * D + cols[None, :], mask=row_ok[:, None] & col_ok[None, :], other=0.0)
    return tl.sum(w.to(tl.float32) * weights[:, None], 0)


@triton.jit
def _add_parts(total, parts_ptr, bias_ptr, n_parts, cols, col_ok, D):
    """total + bias + the n_parts rows of parts [n_parts, D], in order."""
    total += tl.load(bias_ptr + cols, mask=col_ok, other=0.0)
    for part in range(n_parts):
        total += tl.load(parts_ptr + part * D + cols, mask=col_ok, other=0.0)
    return total


@triton.jit
def _after_attention(states_ptr, attn_parts_ptr, out_bias_ptr, b, index, cols, col_ok, D, M, H):
    """A layer's input (read back from its memory states) plus its attention output: LayerNorm 2's input."""
    x = tl.load(states_ptr + (b * M + index) * D + cols, mask=col_ok, other=0.0)
    return _add_parts(x, attn_parts_ptr + b * H * D, out_bias_ptr, H, cols, col_ok, D)


@triton.jit
def _layer_output(states_ptr, attn_parts_ptr, out_bias_ptr, ff_parts_ptr, ff_bias_ptr, b, index, cols, col_ok,
                  D, M, H, P):
    mid = _after_attention(states_ptr, attn_parts_ptr, out_bias_ptr, b, index, cols, col_ok, D, M, H)
    return _add_parts(mid, ff_parts_ptr + b * P * D, ff_bias_ptr, P, cols, col_ok, D)


@triton.jit
def _qkv(token_ptr, embedding_ptr, tokens_ptr, prev_states_ptr, attn_parts_ptr, out_bias_ptr, ff_parts_ptr,
         ff_bias_ptr, inject_ptr, index_ptr, states_ptr, ln_w_ptr, ln_b_ptr, w_ptr, q_ptr, keys_ptr, values_ptr,
         D, M, H, DH, P, SLOTS, eps, EMBED: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    """Program (row block, batch row): rows of W_qkv [3D, D] (q, then k, then v) times ln1(layer input)."""
    block, b = tl.program_id(0), tl.program_id(1)
    index = tl.load(index_ptr)
    cols = tl.arange(0, BLOCK_D)
    col_ok = cols < D
    if EMBED:
        token = tl.load(token_ptr + b)
        prev = tl.load(embedding_ptr + token * D + cols, mask=col_ok, other=0.0)
    else:
        prev = _layer_output(prev_states_ptr, attn_parts_ptr, out_bias_ptr, ff_parts_ptr, ff_bias_ptr, b, index,
                             cols, col_ok, D, M, H, P)
    x = prev + tl.load(inject_ptr + b * D + cols, mask=col_ok, other=0.0)
    if block == 0:  # one program writes the layer input: the next bar's memory, read back by feed-forward
        tl.store(states_ptr + (b * M + index) * D + cols, x, mask=col_ok)
        if EMBED:
            tl.store(tokens_ptr + b * M + index, token)
    h = _layer_norm(x, col_ok, D, ln_w_ptr, ln_b_ptr, cols, eps)

    rows = block * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < 3 * D
    y = _rows_dot(w_ptr, rows, row_ok, h, cols, col_ok, D)
    part, within = rows // D, rows % D  # part 0: q, 1: k, 2: v
    tl.store(q_ptr + b * D + within, y, mask=row_ok & (part == 0))
    slot = ((b * H + within // DH) * SLOTS + M + index) * DH + within % DH
    tl.store(keys_ptr + slot, y, mask=row_ok & (part == 1))
    tl.store(values_ptr + slot, y, mask=row_ok & (part == 2))


@triton.jit
def _attention(q_ptr, keys_ptr, values_ptr, rel_k_ptr, rel_idx_ptr, allowed_ptr, u_ptr, v_ptr, index_ptr,
               out_w_t_ptr, attn_parts_ptr, D, H, DH, SLOTS, M, N_DIST, scale,
               BLOCK_S: tl.constexpr, BLOCK_DH: tl.constexpr, BLOCK_D: tl.constexpr):
    """Program (head, batch row): score(s) = (q + u).k_s + (q + v).R(i - s) over the allowed slots s; the
    head's output o, then its part of the output projection, W_o[:, head] @ o (no bias)."""
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

    cols = tl.arange(0, BLOCK_D)  # W_o transposed: this head's input rows are contiguous
    part = _rows_weighted(out_w_t_ptr, head * DH + e, e_ok, out, cols, cols < D, D)
    tl.store(attn_parts_ptr + (b * H + head) * D + cols, part, mask=cols < D)


@triton.jit
def _feed_forward(states_ptr, attn_parts_ptr, out_bias_ptr, index_ptr, ln_w_ptr, ln_b_ptr, w1_ptr, b1_ptr,
                  w2_t_ptr, ff_parts_ptr, D, D_FF, M, H, P, HIDDEN_PER_PROGRAM, eps,
                  CHUNK: tl.constexpr, BLOCK_D: tl.constexpr):
    """Program (p, batch row): hidden units [p * HIDDEN_PER_PROGRAM, ...) = gelu(W1 ln2(mid) + b1), CHUNK
    at a time, and their part of the second layer, W2[:, units] @ hidden (no bias)."""
    p, b = tl.program_id(0), tl.program_id(1)
    index = tl.load(index_ptr)
    cols = tl.arange(0, BLOCK_D)
    col_ok = cols < D
    mid = _after_attention(states_ptr, attn_parts_ptr, out_bias_ptr, b, index, cols, col_ok, D, M, H)
    h = _layer_norm(mid, col_ok, D, ln_w_ptr, ln_b_ptr, cols, eps)
    acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    for start in range(p * HIDDEN_PER_PROGRAM, (p + 1) * HIDDEN_PER_PROGRAM, CHUNK):
        units = start + tl.arange(0, CHUNK)
        unit_ok = units < D_FF
        hidden = _rows_dot(w1_ptr, units, unit_ok, h, cols, col_ok, D) + tl.load(b1_ptr + units, mask=unit_ok,
                                                                                  other=0.0)
        hidden = 0.5 * hidden * (1.0 + tl.math.erf(hidden * 0.7071067811865476))  # nn.GELU's exact form
        acc += _rows_weighted(w2_t_ptr, units, unit_ok, hidden, cols, col_ok, D)  # W2 transposed
    tl.store(ff_parts_ptr + (b * P + p) * D + cols, acc, mask=col_ok)


@triton.jit
def _head(states_ptr, attn_parts_ptr, out_bias_ptr, ff_parts_ptr, ff_bias_ptr, index_ptr, ln_w_ptr, ln_b_ptr,
          w_ptr, logits_ptr, V, D, M, H, P, eps, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    """Program (row block, batch row): rows of the head [V, D] times ln_f(last layer's output)."""
    block, b = tl.program_id(0), tl.program_id(1)
    index = tl.load(index_ptr)
    cols = tl.arange(0, BLOCK_D)
    col_ok = cols < D
    out = _layer_output(states_ptr, attn_parts_ptr, out_bias_ptr, ff_parts_ptr, ff_bias_ptr, b, index, cols,
                        col_ok, D, M, H, P)
    h = _layer_norm(out, col_ok, D, ln_w_ptr, ln_b_ptr, cols, eps)
    rows = block * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < V
    tl.store(logits_ptr + b * V + rows, _rows_dot(w_ptr, rows, row_ok, h, cols, col_ok, D), mask=row_ok)


def rows_per_program(rows: int, programs: int) -> int:
    """A power of two (as tl.arange needs) of rows, so that about `programs` programs cover `rows`."""
    return max(2, triton.next_power_of_2(triton.cdiv(rows, programs)))


class TritonStep:
    """BarCache.step (feed token [B] at `index`, return logits [B, V]) with the kernels above.
    `weight_dtype` torch.bfloat16 keeps the weight matrices in bf16 (half the bytes a token reads); the
    arithmetic, the cache and the vectors stay fp32."""

    def __init__(self, cache: BarCache, weight_dtype: torch.dtype = torch.float32):
        model, xl = cache.model, cache.model.decoder
        cfg = model.cfg
        if model.head.bias is not None:
            raise ValueError("the triton head kernel has no bias; the model's head has one")
        self.cache, self.blocks, self.ln_f = cache, xl.blocks, xl.ln_f
        self.d, self.heads, self.d_head, self.d_ff = cfg.d_model, cfg.n_heads, cfg.d_model // cfg.n_heads, cfg.d_ff
        self.vocab = cfg.vocab_size
        self.slots = 2 * cache.M
        block_d = triton.next_power_of_2(self.d)
        # hidden units per feed-forward program: a multiple of CHUNK
        self.hidden_per_program = CHUNK * triton.cdiv(self.d_ff, CHUNK * FEED_FORWARD_PROGRAMS)
        self.ff_programs = triton.cdiv(self.d_ff, self.hidden_per_program)
        # each kernel's compile-time settings (tile sizes, warps), as launched
        self.settings = {
            "qkv": dict(BLOCK_N=rows_per_program(3 * self.d, QKV_PROGRAMS), BLOCK_D=block_d),
            "attention": dict(BLOCK_S=triton.next_power_of_2(self.slots),
                              BLOCK_DH=triton.next_power_of_2(self.d_head), BLOCK_D=block_d,
                              num_warps=ATTENTION_WARPS),
            "feed_forward": dict(CHUNK=CHUNK, BLOCK_D=block_d),
            "head": dict(BLOCK_N=rows_per_program(self.vocab, HEAD_PROGRAMS), BLOCK_D=block_d),
        }
        with torch.no_grad():
            vocab = torch.arange(cfg.vocab_size, device=cache.tokens.device)
            self.embedding = model.token_embedding(vocab).contiguous()  # both embeddings, added once
            def matrix(weight: Tensor) -> Tensor:
                return weight.to(weight_dtype).contiguous()
            self.qkv_w = [matrix(torch.cat([b.attn.q_proj.weight, b.attn.kv_proj.weight])) for b in xl.blocks]
            self.ff_in_w = [matrix(b.mlp[0].weight) for b in xl.blocks]
            # transposed, so that the rows a program multiplies are contiguous in memory
            self.out_w_t = [matrix(b.attn.out_proj.weight.t()) for b in xl.blocks]
            self.ff_out_w_t = [matrix(b.mlp[2].weight.t()) for b in xl.blocks]
            self.head = matrix(model.head.weight)
        batch, device = cache.tokens.shape[0], cache.tokens.device
        self.q = torch.zeros(batch, self.d, device=device)
        self.attn_parts = torch.zeros(batch, self.heads, self.d, device=device)
        self.ff_parts = torch.zeros(batch, self.ff_programs, self.d, device=device)
        self.logits = torch.zeros(batch, self.vocab, device=device)

    @torch.no_grad()
    def __call__(self, token: Tensor, index: Tensor) -> Tensor:
        cache, batch, settings = self.cache, token.shape[0], self.settings
        token = token.contiguous()  # the kernel reads row b at token + b
        sizes = dict(D=self.d, M=cache.M, H=self.heads)  # the sizes every kernel takes
        previous = self.blocks[0]  # layer 0 reads the embedding instead: its "previous" arguments go unread
        for layer, block in enumerate(self.blocks):
            attn = block.attn
            _qkv[(triton.cdiv(3 * self.d, settings["qkv"]["BLOCK_N"]), batch)](
                token_ptr=token, embedding_ptr=self.embedding, tokens_ptr=cache.tokens,
                prev_states_ptr=cache.states[max(layer - 1, 0)], attn_parts_ptr=self.attn_parts,
                out_bias_ptr=previous.attn.out_proj.bias, ff_parts_ptr=self.ff_parts,
                ff_bias_ptr=previous.mlp[2].bias, inject_ptr=cache.inject, index_ptr=index,
                states_ptr=cache.states[layer], ln_w_ptr=block.ln1.weight, ln_b_ptr=block.ln1.bias,
                w_ptr=self.qkv_w[layer], q_ptr=self.q, keys_ptr=cache.keys[layer], values_ptr=cache.values[layer],
                DH=self.d_head, P=self.ff_programs, SLOTS=self.slots, eps=block.ln1.eps, EMBED=layer == 0,
                **sizes, **settings["qkv"])
            _attention[(self.heads, batch)](
                q_ptr=self.q, keys_ptr=cache.keys[layer], values_ptr=cache.values[layer],
                rel_k_ptr=cache.rel_k[layer], rel_idx_ptr=cache.rel_idx, allowed_ptr=cache.allowed,
                u_ptr=attn.r_w_bias, v_ptr=attn.r_r_bias, index_ptr=index, out_w_t_ptr=self.out_w_t[layer],
                attn_parts_ptr=self.attn_parts, DH=self.d_head, SLOTS=self.slots, N_DIST=cache.rel_k.shape[2],
                scale=1.0 / math.sqrt(self.d_head), **sizes, **settings["attention"])
            _feed_forward[(self.ff_programs, batch)](
                states_ptr=cache.states[layer], attn_parts_ptr=self.attn_parts, out_bias_ptr=attn.out_proj.bias,
                index_ptr=index, ln_w_ptr=block.ln2.weight, ln_b_ptr=block.ln2.bias, w1_ptr=self.ff_in_w[layer],
                b1_ptr=block.mlp[0].bias, w2_t_ptr=self.ff_out_w_t[layer], ff_parts_ptr=self.ff_parts,
                D_FF=self.d_ff, P=self.ff_programs, HIDDEN_PER_PROGRAM=self.hidden_per_program, eps=block.ln2.eps,
                **sizes, **settings["feed_forward"])
            previous = block
        _head[(triton.cdiv(self.vocab, settings["head"]["BLOCK_N"]), batch)](
            states_ptr=cache.states[len(self.blocks) - 1], attn_parts_ptr=self.attn_parts,
            out_bias_ptr=previous.attn.out_proj.bias, ff_parts_ptr=self.ff_parts, ff_bias_ptr=previous.mlp[2].bias,
            index_ptr=index, ln_w_ptr=self.ln_f.weight, ln_b_ptr=self.ln_f.bias, w_ptr=self.head,
            logits_ptr=self.logits, V=self.vocab, P=self.ff_programs, eps=self.ln_f.eps, **sizes,
            **settings["head"])
        return self.logits
