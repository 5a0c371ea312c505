"""Write a :class:`~golden.graph.Graph` as a ``.tflite`` flatbuffer (the reverse of
:mod:`golden.tflite_import`).

Used to save what :mod:`golden.graphquant` produces, so that ``qmac run`` (and the TFLite
interpreter) load the quantized model like any other. One subgraph; every constant in its
own buffer inside the flatbuffer (models up to 2 GiB); operator options written from the
op's options dict (schema field names in snake_case, as the importer reads them) for the
ops :data:`OPTIONS_TYPES` names — other ops are written without options. Built with the
``tflite`` schema package's builder functions (the ``[tflite]`` extra).
"""

from __future__ import annotations

import numpy as np

from golden.graph import Graph, GraphError
from golden.tflite_import import ACTIVATIONS, PADDINGS, _tflite

__all__ = ["graph_to_tflite", "save_tflite", "OPTIONS_TYPES"]

#: builtin operator → its BuiltinOptions table in the schema
OPTIONS_TYPES = {
    "FULLY_CONNECTED": "FullyConnectedOptions", "CONV_2D": "Conv2DOptions",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions", "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions", "ADD": "AddOptions", "SUB": "SubOptions",
    "MUL": "MulOptions", "RESHAPE": "ReshapeOptions", "SOFTMAX": "SoftmaxOptions",
    "CONCATENATION": "ConcatenationOptions", "MEAN": "ReducerOptions", "PAD": "PadOptions",
    "SQUEEZE": "SqueezeOptions", "EXPAND_DIMS": "ExpandDimsOptions",
    "MAXIMUM": "MaximumMinimumOptions", "MINIMUM": "MaximumMinimumOptions",
}
_TYPE_CODES = {"float32": 0, "int32": 2, "uint8": 3, "int64": 4, "int16": 7, "int8": 9}
_NP = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "int64": np.int64,
       "int16": np.int16, "int8": np.int8}
_CODES = {"padding": {v: k for k, v in PADDINGS.items()},
          "fused_activation_function": {v: k for k, v in ACTIVATIONS.items()}}


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def _options(tfl, b, op):
    """``(options type code, offset)`` of the op's options table, or ``(0, None)``."""
    otype = OPTIONS_TYPES.get(op.name)
    if otype is None:
        return 0, None
    vectors = {}
    for key, value in op.options.items():
        if isinstance(value, list) and hasattr(tfl, f"{otype}Add{_camel(key)}"):
            vectors[key] = b.CreateNumpyVector(np.asarray(value, np.int32))
    getattr(tfl, f"{otype}Start")(b)
    for key, value in op.options.items():
        add = getattr(tfl, f"{otype}Add{_camel(key)}", None)
        if add is None:
            continue
        if key in vectors:
            add(b, vectors[key])
        elif not isinstance(value, list):
            add(b, _CODES[key][value] if key in _CODES else value)
    return getattr(tfl.BuiltinOptions, otype), getattr(tfl, f"{otype}End")(b)


def _vector(b, start, items):
    start(b, len(items))
    for o in reversed(items):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def _buffers(tfl, b, g):
    offsets, index = [], {}
    tfl.BufferStart(b)
    offsets.append(tfl.BufferEnd(b))
    for t in g.tensors:
        if t.data is None:
            continue
        raw = np.ascontiguousarray(np.asarray(t.data, _NP[t.dtype])).view(np.uint8).reshape(-1)
        b.StartVector(1, raw.size, 16)          # 16-byte aligned constant data
        b.head = b.head - raw.size
        b.Bytes[b.head:b.head + raw.size] = raw.tobytes()
        data = b.EndVector()
        tfl.BufferStart(b)
        tfl.BufferAddData(b, data)
        index[t.index] = len(offsets)
        offsets.append(tfl.BufferEnd(b))
    return offsets, index


def _tensors(tfl, b, g, buf_index):
    offsets = []
    for t in g.tensors:
        name = b.CreateString(t.name)
        shape = b.CreateNumpyVector(np.asarray(t.shape, np.int32))
        q = None
        if t.quant is not None:
            sc = b.CreateNumpyVector(np.asarray(t.quant.scale, np.float32))
            zp = b.CreateNumpyVector(np.asarray(t.quant.zero_point, np.int64))
            tfl.QuantizationParametersStart(b)
            tfl.QuantizationParametersAddScale(b, sc)
            tfl.QuantizationParametersAddZeroPoint(b, zp)
            tfl.QuantizationParametersAddQuantizedDimension(b, int(t.quant.axis))
            q = tfl.QuantizationParametersEnd(b)
        tfl.TensorStart(b)
        tfl.TensorAddShape(b, shape)
        tfl.TensorAddType(b, _TYPE_CODES[t.dtype])
        tfl.TensorAddBuffer(b, buf_index.get(t.index, 0))
        tfl.TensorAddName(b, name)
        if q is not None:
            tfl.TensorAddQuantization(b, q)
        offsets.append(tfl.TensorEnd(b))
    return offsets


def _operators(tfl, b, g, codes):
    offsets = []
    for op in g.ops:
        otype, opt = _options(tfl, b, op)
        iv = b.CreateNumpyVector(np.asarray(op.inputs, np.int32))
        ov = b.CreateNumpyVector(np.asarray(op.outputs, np.int32))
        tfl.OperatorStart(b)
        tfl.OperatorAddOpcodeIndex(b, codes.index(op.name))
        tfl.OperatorAddInputs(b, iv)
        tfl.OperatorAddOutputs(b, ov)
        if opt is not None:
            tfl.OperatorAddBuiltinOptionsType(b, otype)
            tfl.OperatorAddBuiltinOptions(b, opt)
        offsets.append(tfl.OperatorEnd(b))
    return offsets


def _opcodes(tfl, b, codes):
    offsets = []
    for name in codes:
        v = getattr(tfl.BuiltinOperator, name)
        tfl.OperatorCodeStart(b)
        tfl.OperatorCodeAddBuiltinCode(b, v)
        tfl.OperatorCodeAddDeprecatedBuiltinCode(b, min(v, 127))
        tfl.OperatorCodeAddVersion(b, 1)
        offsets.append(tfl.OperatorCodeEnd(b))
    return offsets


def graph_to_tflite(g: Graph, description: str = "qmac") -> bytes:
    """The flatbuffer bytes of ``g`` (module docstring); :class:`GraphError` for a tensor
    type or operator the writer cannot express."""
    import flatbuffers  # noqa: PLC0415 — comes with the [tflite] extra
    tfl = _tflite()
    for t in g.tensors:
        if t.dtype not in _TYPE_CODES:
            raise GraphError(f"tensor {t.index} '{t.name}' is {t.dtype}; allowed to write: "
                             f"{', '.join(_TYPE_CODES)}")
    codes = sorted({op.name for op in g.ops})
    for name in codes:
        if not hasattr(tfl.BuiltinOperator, name):
            raise GraphError(f"operator {name} is not a TFLite builtin; allowed: builtins")
    b = flatbuffers.Builder(1024)
    buffers, buf_index = _buffers(tfl, b, g)
    tensors = _tensors(tfl, b, g, buf_index)
    ops = _operators(tfl, b, g, codes)
    tv = _vector(b, tfl.SubGraphStartTensorsVector, tensors)
    ov = _vector(b, tfl.SubGraphStartOperatorsVector, ops)
    gi = b.CreateNumpyVector(np.asarray(g.inputs, np.int32))
    go = b.CreateNumpyVector(np.asarray(g.outputs, np.int32))
    gname = b.CreateString("main")
    tfl.SubGraphStart(b)
    tfl.SubGraphAddTensors(b, tv)
    tfl.SubGraphAddInputs(b, gi)
    tfl.SubGraphAddOutputs(b, go)
    tfl.SubGraphAddOperators(b, ov)
    tfl.SubGraphAddName(b, gname)
    sg = tfl.SubGraphEnd(b)
    sgv = _vector(b, tfl.ModelStartSubgraphsVector, [sg])
    cv = _vector(b, tfl.ModelStartOperatorCodesVector, _opcodes(tfl, b, codes))
    bv = _vector(b, tfl.ModelStartBuffersVector, buffers)
    desc = b.CreateString(description)
    tfl.ModelStart(b)
    tfl.ModelAddVersion(b, 3)
    tfl.ModelAddOperatorCodes(b, cv)
    tfl.ModelAddSubgraphs(b, sgv)
    tfl.ModelAddBuffers(b, bv)
    tfl.ModelAddDescription(b, desc)
    b.Finish(tfl.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def save_tflite(g: Graph, path, description: str = "qmac") -> None:
    """Write ``graph_to_tflite(g)`` to ``path``."""
    from pathlib import Path  # noqa: PLC0415
    Path(path).write_bytes(graph_to_tflite(g, description))
