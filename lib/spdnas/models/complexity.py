"""Analytic and counted model complexity (parameters, multiply-add FLOPs), pycls style.

FLOPs are *multiply-adds* of convolutions and linear layers only (as in NDS/pycls); biases,
normalisation, activations and pooling count zero FLOPs. Parameters are all learnable tensors
(``sum(p.numel())``), so BatchNorm contributes ``2 * C`` (affine weight and bias).

Analytic counting threads a small state dict ``cx = {"h", "w", "flops", "params"}`` through
static ``complexity(cx, ...)`` functions of each module, mirroring the forward pass.
"""

from __future__ import annotations

import torch
from torch import nn


def new_cx(h: int, w: int | None = None) -> dict:
    """Fresh complexity state for an ``h x w`` input."""
    return {"h": int(h), "w": int(h if w is None else w), "flops": 0, "params": 0}


def _pair(v) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _out_len(n: int, k: int, s: int, p: int, d: int = 1) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def conv2d_cx(cx, w_in, w_out, k, *, stride=1, padding=None, dilation=1, groups=1, bias=False):
    """Conv2d: params ``k_h k_w w_in/g w_out (+w_out)``, flops that times ``h_out w_out``."""
    kh, kw = _pair(k)
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    if padding is None:
        padding = (dh * (kh - 1) // 2, dw * (kw - 1) // 2)
    ph, pw = _pair(padding)
    h = _out_len(cx["h"], kh, sh, ph, dh)
    w = _out_len(cx["w"], kw, sw, pw, dw)
    per_pos = kh * kw * (w_in // groups) * w_out
    cx["flops"] += per_pos * h * w
    cx["params"] += per_pos + (w_out if bias else 0)
    cx["h"], cx["w"] = h, w
    return cx


def norm2d_cx(cx, w_in):
    """BatchNorm2d with affine parameters."""
    cx["params"] += 2 * w_in
    return cx


def pool2d_cx(cx, k, *, stride=1, padding=None):
    """Max/avg pooling: no params or flops, only the spatial size changes."""
    kh, kw = _pair(k)
    sh, sw = _pair(stride)
    if padding is None:
        padding = (kh // 2, kw // 2)
    ph, pw = _pair(padding)
    cx["h"] = _out_len(cx["h"], kh, sh, ph)
    cx["w"] = _out_len(cx["w"], kw, sw, pw)
    return cx


def gap2d_cx(cx):
    """Global average pooling to 1x1."""
    cx["h"], cx["w"] = 1, 1
    return cx


def linear_cx(cx, w_in, w_out, *, bias=True):
    """Fully connected layer: ``w_in w_out`` multiply-adds."""
    cx["flops"] += w_in * w_out
    cx["params"] += w_in * w_out + (w_out if bias else 0)
    return cx


def count_params(model: nn.Module) -> int:
    """Number of learnable parameters (``sum(p.numel())``)."""
    return int(sum(p.numel() for p in model.parameters()))


def count_flops(model: nn.Module, input_shape) -> int:
    """Multiply-adds of all Conv2d/Linear layers in one forward pass, measured with hooks.

    ``input_shape`` excludes the batch dimension (e.g. ``(3, 32, 32)``); a single sample is run
    in eval mode under ``torch.no_grad``.
    """
    if len(tuple(input_shape)) < 1 or any(int(s) <= 0 for s in input_shape):
        raise ValueError(f"input_shape must be positive sizes without the batch dim, got {input_shape}")
    total = [0]

    def conv_hook(mod: nn.Conv2d, _inp, out):
        kh, kw = mod.kernel_size
        total[0] += out[0].numel() * kh * kw * (mod.in_channels // mod.groups)

    def lin_hook(mod: nn.Linear, _inp, out):
        total[0] += (out.numel() // out.shape[0]) * mod.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(lin_hook))
    was_training = model.training
    try:
        model.eval()
        p = next(model.parameters(), None)
        dtype = p.dtype if p is not None else torch.float32
        with torch.no_grad():
            model(torch.zeros((1, *[int(s) for s in input_shape]), dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return int(total[0])
