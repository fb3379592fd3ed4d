"""The int8 backend's model: a copy whose decoder and output Linear layers hold int8 weights (dynamic
quantization, fbgemm's kernels). A token then reads a quarter of the weight bytes: what a model the size of
`paper` needs on a CPU, where reading fp32 weights is most of a step (MODEL.md, *Speed*).

torch.compile cannot trace fbgemm's packed weights, so each int8 Linear becomes one opaque custom op in the
graph (`cdgmvae::int8_linear`) and Inductor fuses everything around it.
"""
from __future__ import annotations

import itertools
import warnings
import weakref

import torch
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.model import CDGMVAE
from torch import Tensor, nn


def int8_decoder(model: CDGMVAE) -> CDGMVAE:
    """A copy of a CPU model with int8 decoder and head weights (the encoders, which only run once per bar,
    stay fp32); the model itself is left as it is. UserError where this torch has no dynamic quantization."""
    quantize = getattr(getattr(torch, "ao", None), "quantization", None)
    if quantize is None or not hasattr(quantize, "quantize_dynamic"):
        raise UserError(f"this torch ({torch.__version__}) has no dynamic quantization; use --backend compiled")
    qconfig = quantize.default_dynamic_qconfig
    with warnings.catch_warnings():
        # torch 2.13 marks quantized tensors deprecated (their successor is the torchao package); the
        # kernels are the same fbgemm ones
        warnings.filterwarnings("ignore", category=UserWarning, message=r".*(quantiz|torchao).*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        # not in place: quantize_dynamic quantizes a copy and leaves the fp32 model as it is
        quantized = quantize.quantize_dynamic(model, {"decoder": qconfig, "head": qconfig}, dtype=torch.qint8,
                                              inplace=False).eval()
    return _opaque_int8_linears(quantized)


# An int8 Linear seen by torch.compile: the custom op gets a number that names the quantized module.
_INT8_LINEARS: weakref.WeakValueDictionary[int, nn.Module] = weakref.WeakValueDictionary()
_next_slot = itertools.count()


@torch.library.custom_op("cdgmvae::int8_linear", mutates_args=())
def int8_linear(x: Tensor, slot: int) -> Tensor:
    return _INT8_LINEARS[slot](x)


@int8_linear.register_fake
def _int8_linear_shape(x: Tensor, slot: int) -> Tensor:
    return x.new_empty(*x.shape[:-1], _INT8_LINEARS[slot].out_features)


class Int8Linear(nn.Module):
    def __init__(self, quantized: nn.Module):
        super().__init__()
        self.quantized = quantized
        self.slot = next(_next_slot)
        _INT8_LINEARS[self.slot] = quantized

    def forward(self, x: Tensor) -> Tensor:
        return int8_linear(x, self.slot)


def _opaque_int8_linears(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, torch.ao.nn.quantized.dynamic.Linear):
            setattr(module, name, Int8Linear(child))
        else:
            _opaque_int8_linears(child)
    return module
