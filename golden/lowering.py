"""Lowering of FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D onto matrix products.

The ONE place where a convolution becomes what the R×C MAC array computes — a batch of
dot products ``y[b, c] = Σ_k x[b, k]·w[c, k]`` followed by the requantizer. Golden
(``golden.ops.conv``) computes every hardware op through these functions and the
testbench (``tb.model_layers``) feeds the same :class:`MatmulLayer` objects, folded, to the
hardware; docs/lowering.md explains the mapping and its utilization.

* FULLY_CONNECTED: ``x [B, K]``, ``w [C, K]`` as they are.
* CONV_2D (im2col): every output position ``(n, oy, ox)`` is one batch row; its K vector
  is the receptive field in ``(ky, kx, c_in)`` order — the order of TFLite's filter
  ``[C_out, KH, KW, C_in]`` — read at ``(oy·s_h − pad_top + ky·d_h, ox·s_w − pad_left +
  kx·d_w)``. Taps outside the input read the input zero point, so ``x − x_zp = 0`` there:
  exactly TFLite's reference kernel, which skips them.
* DEPTHWISE_CONV_2D: output channel ``oc`` reads input channel ``oc // depth_multiplier``.
  Output channels are grouped ``group`` at a time (the array's column count); a group is
  one matrix product whose K vector concatenates the receptive fields of the group's
  distinct input channels (``KH·KW`` each; with ``depth_multiplier`` m, m columns share one
  block) and whose weight matrix is block-diagonal, so column ``j`` only sees its own input
  channel: per-channel dot products on a shared input beat.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["MatmulShape", "MatmulLayer", "LoweredOp", "conv_geometry", "im2col",
           "lower_fully_connected", "lower_conv_2d", "lower_depthwise_conv_2d", "depthwise_group"]


class MatmulShape:
    """``shape`` and ``macs`` of a matrix product with ``x[B, K]`` and ``w[C, K]`` (the
    lowered layers here and the testbench's folded layers)."""

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(B, K, C)``."""
        return self.x.shape[0], self.x.shape[1], self.w.shape[0]

    @property
    def macs(self) -> int:
        b, k, c = self.shape
        return b * k * c


@dataclasses.dataclass
class MatmulLayer(MatmulShape):
    """One matrix product plus requantization: TFLite's fully-connected arithmetic.

    ``y[b, c] = clamp(MBQM(Σ_k (x[b,k] − x_zp)(w[c,k] − w_zp) + bias[c], m0[c], shift[c])
    + y_zp, act_min, act_max)``.
    """

    x: np.ndarray          # [B, K] int64
    w: np.ndarray          # [C, K] int64
    bias: np.ndarray       # [C] int64
    x_zp: int
    w_zp: int
    m0: np.ndarray         # [C]
    shift: np.ndarray      # [C]
    y_zp: int
    act_min: int
    act_max: int
    name: str = "layer"
    #: TFLite's accumulator: 32 (int32, the int8 kernels) or 48 (the 16x8 kernels' int64,
    #: whose MultiplyByQuantizedMultiplier assumes ``|acc| < 2^47``)
    acc_bits: int = 32


@dataclasses.dataclass
class LoweredOp:
    """The matrix products of one op and how their outputs form the op's output tensor:
    layer ``i`` produces channels ``channels[i]`` (a list of output-channel indices) of
    every row; rows are the output positions in C order of ``out_shape[:-1]``."""

    layers: list[MatmulLayer]
    channels: list[np.ndarray]
    out_shape: tuple[int, ...]
    useful_macs: int

    def assemble(self, ys: list[np.ndarray]) -> np.ndarray:
        """``[B, C_i]`` results of :attr:`layers` → the output tensor (int64)."""
        rows = int(np.prod(self.out_shape[:-1], dtype=np.int64))
        out = np.zeros((rows, self.out_shape[-1]), np.int64)
        for ch, y in zip(self.channels, ys):
            out[:, ch] = y
        return out.reshape(self.out_shape)


def conv_geometry(in_size: int, kernel: int, stride: int, dilation: int, padding: str):
    """``(out_size, pad_before)`` as TFLite computes them (``ComputePaddingHeightWidth``).

    Effective kernel ``e = (kernel − 1)·dilation + 1``. SAME: ``out = ceil(in / stride)``,
    total padding ``max((out − 1)·stride + e − in, 0)``, ``pad_before = total // 2`` (the
    odd pixel goes after). VALID: ``out = ceil((in − e + 1) / stride)``, no padding.
    """
    eff = (kernel - 1) * dilation + 1
    if padding == "SAME":
        out = -(-in_size // stride)
    elif padding == "VALID":
        out = -(-(in_size - eff + 1) // stride)
    else:
        raise ValueError(f"padding={padding!r} is not allowed; allowed: SAME, VALID")
    total = max((out - 1) * stride + eff - in_size, 0)
    return max(out, 0), total // 2 if padding == "SAME" else 0


def im2col(x, *, kh, kw, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, out_h, out_w,
           pad_value):
    """``x [N, H, W, C]`` → patches ``[N·OH·OW, KH·KW, C]`` (``pad_value`` outside).

    Integer codes come out as int64; float activations (``golden.network``'s float
    forward pass) keep their float dtype."""
    x = np.asarray(x)
    x = x.astype(np.float64 if x.dtype.kind == "f" else np.int64, copy=False)
    n, h, w, c = x.shape
    bottom = max(0, (out_h - 1) * stride_h + (kh - 1) * dil_h + 1 - pad_top - h)
    right = max(0, (out_w - 1) * stride_w + (kw - 1) * dil_w + 1 - pad_left - w)
    xp = np.pad(x, ((0, 0), (pad_top, bottom), (pad_left, right), (0, 0)),
                constant_values=pad_value)
    oy = np.arange(out_h) * stride_h
    ox = np.arange(out_w) * stride_w
    ky = np.arange(kh) * dil_h
    kx = np.arange(kw) * dil_w
    rows = (oy[:, None, None, None] + ky[None, None, :, None])      # [OH, 1, KH, 1]
    cols = (ox[None, :, None, None] + kx[None, None, None, :])      # [1, OW, 1, KW]
    patches = xp[:, rows, cols, :]                                   # [N, OH, OW, KH, KW, C]
    return patches.reshape(n * out_h * out_w, kh * kw, c)


def lower_fully_connected(x, w, *, bias, quant: dict, name="fc") -> LoweredOp:
    """FULLY_CONNECTED: ``x [..., K]`` flattened to ``[B, K]``; ``quant`` holds x_zp, w_zp,
    m0, shift ([C]), y_zp, act_min, act_max."""
    w = np.asarray(w, dtype=np.int64)
    k = w.shape[1]
    xb = np.asarray(x, dtype=np.int64).reshape(-1, k)
    layer = MatmulLayer(x=xb, w=w, bias=_bias(bias, w.shape[0]), name=name, **quant)
    return LoweredOp([layer], [np.arange(w.shape[0])], (xb.shape[0], w.shape[0]), layer.macs)


def _bias(bias, c):
    return np.zeros(c, np.int64) if bias is None else np.asarray(bias, np.int64).reshape(c)


def _geometry(x, kh, kw, opt):
    n, h, w_, _ = x.shape
    oh, pt = conv_geometry(h, kh, opt["stride_h"], opt["dilation_h_factor"], opt["padding"])
    ow, pl = conv_geometry(w_, kw, opt["stride_w"], opt["dilation_w_factor"], opt["padding"])
    return dict(kh=kh, kw=kw, stride_h=opt["stride_h"], stride_w=opt["stride_w"],
                dil_h=opt["dilation_h_factor"], dil_w=opt["dilation_w_factor"], pad_top=pt,
                pad_left=pl, out_h=oh, out_w=ow), (n, oh, ow)


def lower_conv_2d(x, w, *, bias, quant: dict, options: dict, name="conv") -> LoweredOp:
    """CONV_2D by im2col: ``x [N, H, W, Cin]``, ``w [Cout, KH, KW, Cin]``."""
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    cout, kh, kw, cin = w.shape
    geo, (n, oh, ow) = _geometry(x, kh, kw, options)
    patches = im2col(x, pad_value=quant["x_zp"], **geo)
    layer = MatmulLayer(x=patches.reshape(patches.shape[0], -1), w=w.reshape(cout, -1),
                        bias=_bias(bias, cout), name=name, **quant)
    return LoweredOp([layer], [np.arange(cout)], (n, oh, ow, cout), layer.macs)


def depthwise_group(cols: int, taps: int, depth_multiplier: int, k_limit: int | None) -> int:
    """Output channels per depthwise product: at most ``cols`` (one per column) and, when
    ``k_limit`` (the rows the array holds without reloading, R·T) is given, few enough that
    the group's K = (G/m)·taps fits it — a multiple of m, so groups never split an input
    channel's m outputs. At least 1."""
    if not k_limit:
        return max(1, cols)
    fit = (k_limit // taps) * depth_multiplier
    return max(1, min(cols, fit)) if fit else 1


def lower_depthwise_conv_2d(x, w, *, bias, quant: dict, options: dict, group: int,
                            name="dwconv") -> LoweredOp:
    """DEPTHWISE_CONV_2D: ``x [N, H, W, Cin]``, ``w [1, KH, KW, Cin·dm]``; output channels
    in groups of ``group`` (block-diagonal weights, see the module docstring)."""
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    _, kh, kw, cout = w.shape
    dm = int(options.get("depth_multiplier", 1)) or 1
    geo, (n, oh, ow) = _geometry(x, kh, kw, options)
    patches = im2col(x, pad_value=quant["x_zp"], **geo)            # [P, T, Cin]
    taps = kh * kw
    wt = w.reshape(taps, cout)
    bias = _bias(bias, cout)
    layers, channels = [], []
    for g0 in range(0, cout, group):
        ocs = np.arange(g0, min(cout, g0 + group))
        g = ocs.size
        ics = np.unique(ocs // dm)       # input channels of the group, each read once
        xg = patches[:, :, ics].transpose(0, 2, 1).reshape(patches.shape[0], ics.size * taps)
        # outside its input channel's block w = w_zp, so w − w_zp = 0 there
        wg = np.full((g, ics.size * taps), int(quant["w_zp"]), np.int64)
        for j, oc in enumerate(ocs):
            b = int(np.searchsorted(ics, oc // dm))
            wg[j, b * taps:(b + 1) * taps] = wt[:, oc]
        q = dict(quant, m0=np.asarray(quant["m0"])[ocs], shift=np.asarray(quant["shift"])[ocs])
        layers.append(MatmulLayer(x=xg, w=wg, bias=bias[ocs], name=f"{name}[{g0}:{g0 + g}]",
                                  **q))
        channels.append(ocs)
    useful = patches.shape[0] * taps * cout
    return LoweredOp(layers, channels, (n, oh, ow, cout), useful)
