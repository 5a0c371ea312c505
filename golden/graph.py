"""A small graph IR for quantized models (what ``golden.tflite_import`` builds).

* :class:`Tensor` — shape, dtype name (``"int8"``, ``"int32"``, ``"float32"``, ...), per-tensor
  or per-axis quantization (``scale``, ``zero_point``, ``axis``) and, for constants, the data.
* :class:`Op` — one operator: its builtin name, input / output tensor indices (``-1`` = an
  omitted optional input), its options as a plain dict (names as in the TFLite schema,
  snake_case: ``stride_h``, ``padding``, ``fused_activation_function``, ...) and its index
  in the model (the operator index TFLite reports).
* :class:`Graph` — tensors, ops in execution order, graph inputs and outputs.

Nothing here knows about the flatbuffer or the hardware.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Quant", "Tensor", "Op", "Graph", "GraphError"]


class GraphError(ValueError):
    """A model the golden flow cannot run (one-line message naming what and where)."""


@dataclasses.dataclass(frozen=True)
class Quant:
    """Affine quantization ``real = scale·(q − zero_point)``; per-axis when ``scale`` has
    more than one entry (``axis`` is then the quantized dimension)."""

    scale: np.ndarray       # float32, shape (1,) per-tensor or (C,) per-axis
    zero_point: np.ndarray  # int64, same shape
    axis: int = 0

    @property
    def per_axis(self) -> bool:
        return self.scale.size > 1

    @property
    def s(self) -> float:
        """The per-tensor scale (float32 value as a Python float)."""
        return float(self.scale[0])

    @property
    def zp(self) -> int:
        """The per-tensor zero point."""
        return int(self.zero_point[0])


@dataclasses.dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quant | None = None
    data: np.ndarray | None = None   # constant tensors (weights, bias, shape operands)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    def describe(self) -> str:
        return f"{self.dtype}[{','.join(map(str, self.shape))}]"


@dataclasses.dataclass
class Op:
    index: int
    name: str                     # builtin operator name, e.g. "CONV_2D"
    inputs: list[int]
    outputs: list[int]
    options: dict
    version: int = 1


@dataclasses.dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    source: str = ""

    def tensor(self, i: int) -> Tensor:
        return self.tensors[i]

    def input_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.inputs]

    def output_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.outputs]
