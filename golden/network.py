"""Float networks of dense / conv layers: description, ``.npz`` format, float forward.

A float network (:class:`FloatNetwork`) is a chain of layers ``t_{i+1} = act_i(L_i(t_i))``
with ``L_i`` a dense (fully connected) or a 2-D convolution (NHWC, TFLite's weight layout).
:mod:`golden.netquant` quantizes it.

``.npz`` format of a float network (:func:`load_float_network`, :func:`save_float_network`)
------------------------------------------------------------------------------------------
=================== ===================== =================================================
key                 shape / type          meaning
=================== ===================== =================================================
``input_shape``     int [1] or [3]        ``[K]`` (dense input) or ``[H, W, C]`` (NHWC)
``l{i}_kind``       str                   ``"dense"`` or ``"conv2d"``, ``i = 0, 1, ...``
``l{i}_w``          float                 dense ``[C_out, K]``; conv ``[C_out, kh, kw, C_in]``
``l{i}_b``          float [C_out]         bias
``l{i}_act``        str                   ``"none"``, ``"relu"``, ``"relu6"``
``l{i}_stride``     int [2], conv only    ``[sh, sw]`` (default ``[1, 1]``)
``l{i}_padding``    str, conv only        ``"valid"`` (default) or ``"same"`` (TFLite)
=================== ===================== =================================================

A dense layer after a conv flattens its NHWC input in C order (TFLite ``RESHAPE``).
"""

from __future__ import annotations

import dataclasses
import zipfile

import numpy as np

__all__ = [
    "LAYER_KINDS",
    "NETWORK_ACTIVATIONS",
    "FloatLayer",
    "FloatNetwork",
    "load_float_network",
    "read_npz",
    "save_float_network",
    "im2col",
]

LAYER_KINDS = ("dense", "conv2d")
NETWORK_ACTIVATIONS = ("none", "relu", "relu6")


@dataclasses.dataclass(frozen=True)
class FloatLayer:
    """One float layer (see the module docstring for shapes)."""

    kind: str
    w: np.ndarray
    b: np.ndarray
    act: str = "none"
    stride: tuple = (1, 1)
    padding: str = "valid"


@dataclasses.dataclass(frozen=True)
class FloatNetwork:
    """A chain of :class:`FloatLayer` on inputs of ``input_shape`` (per example)."""

    layers: tuple
    input_shape: tuple

    def forward(self, x):
        """Float activations ``[t_0, t_1, ..., t_L]`` of a batch ``x`` (float64)."""
        t = [np.asarray(x, dtype=np.float64)]
        for layer in self.layers:
            t.append(_float_layer(layer, t[-1]))
        return t


def _apply_act(y, act):
    if act == "relu":
        return np.maximum(y, 0.0)
    if act == "relu6":
        return np.clip(y, 0.0, 6.0)
    return y


def _float_layer(layer, x):
    if layer.kind == "dense":
        x = x.reshape(x.shape[0], -1)
        return _apply_act(x @ layer.w.T + layer.b, layer.act)
    kh, kw = layer.w.shape[1:3]
    cols, oshape = im2col(x, (kh, kw), layer.stride, layer.padding, 0.0)
    y = cols @ layer.w.reshape(layer.w.shape[0], -1).T + layer.b
    return _apply_act(y.reshape(oshape + (-1,)), layer.act)


def im2col(x, kernel, stride, padding, pad_value):
    """Patches of an NHWC batch: ``(cols [B·OH·OW, kh·kw·C], (B, OH, OW))``.

    :func:`golden.lowering.im2col` (the one lowering golden and the testbenches share) with
    TFLite's padding (:func:`golden.lowering.conv_geometry`: ``"same"`` gives ``out =
    ceil(in / s)``, the odd pixel after). Column order ``(kh, kw, C)`` matches TFLite's
    ``[C_out, kh, kw, C_in]`` weights flattened; outside the input the patches read
    ``pad_value`` (the input zero point for integer codes, 0.0 for float activations).
    """
    from golden.lowering import conv_geometry
    from golden.lowering import im2col as lower_im2col

    b, h, w, c = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    oh, pad_top = conv_geometry(h, kh, sh, 1, padding.upper())
    ow, pad_left = conv_geometry(w, kw, sw, 1, padding.upper())
    if oh < 1 or ow < 1:
        raise ValueError(f"kernel={kernel} is out of range; allowed: at most the input "
                         f"{h}x{w} with padding 'valid'")
    p = lower_im2col(x, kh=kh, kw=kw, stride_h=sh, stride_w=sw, dil_h=1, dil_w=1,
                     pad_top=pad_top, pad_left=pad_left, out_h=oh, out_w=ow,
                     pad_value=pad_value)
    return p.reshape(b * oh * ow, kh * kw * c), (b, oh, ow)


# ---------------------------------------------------------------------------------------
# .npz

def _npz_str(d, key, allowed):
    a = d[key]
    if a.ndim != 0 or a.dtype.kind not in "US" or str(a.item()) not in allowed:
        raise ValueError(f"{key}={a.tolist()!r} is out of range; allowed: "
                         f"{', '.join(repr(v) for v in allowed)}")
    return str(a.item())


def _npz_float(d, key, shape_text, ndim):
    a = d[key]
    if a.dtype.kind not in "fiu" or a.ndim != ndim or not np.all(np.isfinite(a)):
        raise ValueError(f"{key}: shape {list(a.shape)} dtype {a.dtype} is out of range; "
                         f"allowed: finite numbers of shape {shape_text}")
    return a.astype(np.float64)


def _npz_layer(d, i, shape):
    kind = _npz_str(d, f"l{i}_kind", LAYER_KINDS)
    for k in ("w", "b", "act"):
        if f"l{i}_{k}" not in d:
            raise ValueError(f"missing key 'l{i}_{k}'; required for every layer: l{i}_kind, "
                             f"l{i}_w, l{i}_b, l{i}_act")
    act = _npz_str(d, f"l{i}_act", NETWORK_ACTIVATIONS)
    if kind == "dense":
        w = _npz_float(d, f"l{i}_w", "[C_out, K]", 2)
        k = int(np.prod(shape))
        if w.shape[1] != k:
            raise ValueError(f"l{i}_w: shape {list(w.shape)} does not match its input "
                             f"{list(shape)}; allowed: [C_out, {k}]")
        layer, out = FloatLayer("dense", w, None, act), (w.shape[0],)
    else:
        w = _npz_float(d, f"l{i}_w", "[C_out, kh, kw, C_in]", 4)
        if len(shape) != 3 or w.shape[3] != shape[2]:
            raise ValueError(f"l{i}_w: shape {list(w.shape)} does not match its input "
                             f"{list(shape)}; allowed: [C_out, kh, kw, C_in] on [H, W, C_in]")
        stride = tuple(int(v) for v in d.get(f"l{i}_stride", np.array([1, 1])))
        if len(stride) != 2 or min(stride) < 1:
            raise ValueError(f"l{i}_stride={list(stride)} is out of range; allowed: [sh, sw] >= 1")
        pad = _npz_str(d, f"l{i}_padding", ("valid", "same")) if f"l{i}_padding" in d \
            else "valid"
        layer = FloatLayer("conv2d", w, None, act, stride, pad)
        probe = _float_layer(dataclasses.replace(layer, b=np.zeros(w.shape[0])),
                             np.zeros((1,) + tuple(shape)))
        out = probe.shape[1:]
    b = _npz_float(d, f"l{i}_b", f"[{w.shape[0]}]", 1)
    if b.shape != (w.shape[0],):
        raise ValueError(f"l{i}_b: shape {list(b.shape)} is out of range; allowed: [{w.shape[0]}]")
    return dataclasses.replace(layer, b=b), out


def read_npz(path, allowed: str = "a file written by numpy.savez") -> dict:
    """Every array of the ``.npz`` at ``path`` (no pickles); ``ValueError`` with one line
    naming the file and ``allowed`` when it cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{path}: cannot read it as .npz ({str(exc).splitlines()[0][:60]}); "
                         f"allowed: {allowed}") from None


def load_float_network(path):
    """Read a float network ``.npz`` (module docstring); ``ValueError`` with one line."""
    d = read_npz(path)
    try:
        if "input_shape" not in d or "l0_kind" not in d:
            raise ValueError("missing key 'input_shape' or 'l0_kind'; required: input_shape "
                             "and l0_kind, l0_w, l0_b, l0_act, ...")
        shape = tuple(int(v) for v in np.asarray(d["input_shape"]).reshape(-1))
        if len(shape) not in (1, 3) or min(shape) < 1:
            raise ValueError(f"input_shape={list(shape)} is out of range; allowed: [K] or "
                             f"[H, W, C], each >= 1")
        layers, cur, i = [], shape, 0
        while f"l{i}_kind" in d:
            layer, cur = _npz_layer(d, i, cur)
            layers.append(layer)
            i += 1
        known = {"input_shape"} | {f"l{j}_{k}" for j in range(i) for k in
                                   ("kind", "w", "b", "act", "stride", "padding")}
        extra = sorted(set(d) - known)
        if extra:
            raise ValueError(f"unknown key {extra[0]!r}; allowed: input_shape, l<i>_kind, "
                             f"l<i>_w, l<i>_b, l<i>_act, l<i>_stride, l<i>_padding")
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return FloatNetwork(tuple(layers), shape)


def save_float_network(net, path):
    """Write ``net`` in the ``.npz`` format of the module docstring."""
    d = {"input_shape": np.array(net.input_shape, dtype=np.int64)}
    for i, L in enumerate(net.layers):
        d.update({f"l{i}_kind": np.array(L.kind), f"l{i}_w": L.w, f"l{i}_b": L.b,
                  f"l{i}_act": np.array(L.act)})
        if L.kind == "conv2d":
            d[f"l{i}_stride"] = np.array(L.stride, dtype=np.int64)
            d[f"l{i}_padding"] = np.array(L.padding)
    np.savez(path, **d)
