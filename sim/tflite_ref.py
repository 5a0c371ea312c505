"""TFLite as the reference of ``qmac run`` (the ``[tflite]`` extra: ``ai-edge-litert``).

The interpreter runs with ``experimental_preserve_all_tensors=True`` so every intermediate
tensor can be read. The kernel path is chosen from the configuration's rounding
(docs/lowering.md, "Which rounding each TFLite path uses"):

* ``double`` → ``BUILTIN_REF`` (reference kernels: CONV_2D / DEPTHWISE_CONV_2D / ADD /
  pooling / SOFTMAX round like gemmlowp; FULLY_CONNECTED requantizes in floating point);
* ``ruy`` → ``BUILTIN_WITHOUT_DEFAULT_DELEGATES`` (optimized x86 kernels, no XNNPACK).

:func:`explain` tries the documented alternative arithmetic of a path on the elements where
golden and TFLite differ, so every difference is either explained or reported.
"""

from __future__ import annotations

import numpy as np

from golden.graph import Graph, Op
from golden.layer import real_multiplier

from .errors import UserError

__all__ = ["PATHS", "path_for", "Reference", "explain", "runtime_version"]

#: rounding of the configuration → interpreter kernel path
PATHS = {"double": "BUILTIN_REF", "ruy": "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
         "single16": "BUILTIN_REF"}


def runtime_version() -> str:
    from importlib.metadata import version
    try:
        return f"ai-edge-litert {version('ai-edge-litert')}"
    except Exception:  # noqa: BLE001
        return "ai-edge-litert (unknown version)"


def path_for(rounding: str) -> str:
    if rounding not in PATHS:
        raise UserError(f"--compare tflite: no TFLite kernel path rounds {rounding!r}; "
                        f"allowed: a configuration with requant.rounding double, ruy or "
                        f"single16")
    return PATHS[rounding]


class Reference:
    """One interpreter on ``model_path`` with the path matching ``rounding``."""

    def __init__(self, model_path: str, rounding: str):
        try:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError:
            raise UserError("--compare tflite needs the [tflite] extra (ai-edge-litert); "
                            "allowed: pip install 'qmac[tflite]' or --compare golden") from None
        self.path = path_for(rounding)
        # one thread: the optimized MEAN kernel's rounding depends on how the channels are
        # split between threads (docs/lowering.md); golden models the one-thread split
        self.it = Interpreter(model_path=str(model_path), experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=getattr(OpResolverType, self.path),
                              num_threads=1)
        self.it.allocate_tensors()
        self.inputs = [d["index"] for d in self.it.get_input_details()]

    def run(self, xs: list[np.ndarray]) -> None:
        for i, x in zip(self.inputs, xs):
            self.it.set_tensor(i, x)
        self.it.invoke()

    def tensor(self, index: int) -> np.ndarray:
        return self.it.get_tensor(index)


def _float_requant(g: Graph, op: Op, x) -> np.ndarray:
    """LiteRT ≥ 2025 reference FULLY_CONNECTED: ``clamp(round(acc·M) + y_zp)`` with the real
    multiplier ``M`` in double (matched every element in our measurements)."""
    from golden.ops.conv import lower_op
    L = lower_op(g, op, x).layers[0]
    acc = (L.x - L.x_zp) @ (L.w - L.w_zp).T + L.bias
    t = g.tensor
    ws = t(op.inputs[1]).quant.scale
    a16 = t(op.inputs[0]).dtype == "int16"   # 16x8: double(S_x)·double(S_w)/double(S_y)
    m = real_multiplier(t(op.inputs[0]).quant.s, ws if ws.size > 1 or a16 else float(ws[0]),
                        t(op.outputs[0]).quant.s)
    v = acc * np.asarray(m, np.float64)
    y = np.sign(v) * np.floor(np.abs(v) + 0.5)
    return np.clip(y.astype(np.int64) + L.y_zp, L.act_min, L.act_max)


def _alternatives(g: Graph, op: Op, path: str):
    """``(name, fn(values) -> output)`` of the arithmetic this path is documented to use."""
    from golden.ops import KERNELS
    alts = []
    if op.name in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"):
        a16 = g.tensor(op.inputs[0]).dtype == "int16"   # 16x8 FC: every LiteRT path
        if op.name == "FULLY_CONNECTED" and (path == "BUILTIN_REF" or a16):
            alts.append(("float requantization (LiteRT reference FC)",
                         lambda v: _float_requant(g, op, v[op.inputs[0]])))
        for r in ("ruy", "double", "single", "single16"):
            alts.append((f"rounding '{r}'", lambda v, r=r: KERNELS[op.name](g, op, v, r)[0]))
    if op.name == "DEQUANTIZE":
        s = np.float32(g.tensor(op.inputs[0]).quant.s)
        z = np.float32(g.tensor(op.inputs[0]).quant.zp)
        alts.append(("float32 S·q − S·zp (optimized DEQUANTIZE)",
                     lambda v: v[op.inputs[0]].astype(np.float32) * s - z * s))
    return alts


def explain(g: Graph, op: Op, values: dict, ref: np.ndarray, got: np.ndarray,
            path: str) -> tuple[int, str]:
    """``(unexplained, text)``: which documented alternative reproduces TFLite's output at
    the elements where golden ``got`` differs from ``ref`` (golden kernel on TFLite's own
    inputs)."""
    diff = ref.reshape(got.shape) != got
    n = int(diff.sum())
    if n == 0:
        return 0, ""
    for name, fn in _alternatives(g, op, path):
        try:
            alt = np.asarray(fn(values)).reshape(got.shape)
        except Exception:  # noqa: BLE001 — an alternative that does not apply
            continue
        if np.array_equal(alt[diff], ref.reshape(got.shape)[diff].astype(alt.dtype)):
            return 0, f"{n} explained: {name}"
    return n, f"{n} UNEXPLAINED"
