"""Write a :class:`~golden.graph.Graph` as a ``.tflite`` flatbuffer (the reverse of
:mod:`golden.tflite_import`).

Used to save what :mod:`golden.graphquant` produces, so that ``qmac run`` (and the TFLite
interpreter) load the quantized model like any other. One subgraph; every constant in its
own buffer inside the flatbuffer (models up to 2 GiB); operator options written from the
op's options dict (schema field names in snake_case, as the importer reads them) for the
ops :data:`OPTIONS_TYPES` names — other ops are written without options. Built with the
``tflite`` schema package's builder functions (the ``[tflite]`` extra).

The tables are written by one small function each (``write_tensor``, ``write_operator``,
...), which the test model builder (tests/helpers/tflite_builder.py) and the TFLite vector
generators share. This module imports only NumPy and ``golden`` (``flatbuffers`` and
``tflite`` when writing), so they also run in the numpy<2 venv of tflite-runtime 2.14.
"""

from __future__ import annotations

import numpy as np

from golden.graph import Graph, GraphError
from golden.tflite_import import _DTYPES, _NP, ACTIVATIONS, PADDINGS, _tflite

__all__ = ["graph_to_tflite", "save_tflite", "OPTIONS_TYPES", "TYPE_CODES", "constant_bytes",
           "write_buffers", "write_tensor", "write_options", "write_operator", "write_opcodes",
           "write_subgraph", "write_model"]

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
#: tensor types the writer can write → their TensorType code (the importer's table)
TYPE_CODES = {name: code for code, name in _DTYPES.items()
              if name in ("float32", "int32", "uint8", "int64", "int16", "int8")}
_CODES = {"padding": {v: k for k, v in PADDINGS.items()},
          "fused_activation_function": {v: k for k, v in ACTIVATIONS.items()}}


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


# --- the flatbuffer tables, one function each (also used by tests/helpers/tflite_builder.py)

def constant_bytes(data, dtype: str) -> np.ndarray:
    """A constant tensor's data as the little-endian bytes (uint8, 1-D) of its ``dtype``."""
    return np.ascontiguousarray(np.asarray(data, _NP[dtype])).view(np.uint8).reshape(-1)


def offset_vector(b, start, items) -> int:
    """A vector of the table offsets ``items`` (``start``: the schema's Start…Vector)."""
    start(b, len(items))
    for o in reversed(items):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def write_buffers(tfl, b, constants, alignment: int = 16):
    """``(Buffer offsets, {key: buffer index})``: buffer 0 empty, then one per ``(key, raw)``
    of ``constants`` (``raw``: :func:`constant_bytes`), its data ``alignment``-byte aligned."""
    offsets, index = [], {}
    tfl.BufferStart(b)
    offsets.append(tfl.BufferEnd(b))
    for key, raw in constants:
        b.StartVector(1, raw.size, alignment)
        b.head = b.head - raw.size
        b.Bytes[b.head:b.head + raw.size] = raw.tobytes()
        data = b.EndVector()
        tfl.BufferStart(b)
        tfl.BufferAddData(b, data)
        index[key] = len(offsets)
        offsets.append(tfl.BufferEnd(b))
    return offsets, index


def write_tensor(tfl, b, name: str, shape, type_code: int, buffer: int, quant=None) -> int:
    """One Tensor table; ``quant``: ``(scales, zero points, quantized dimension)`` or None."""
    name_off = b.CreateString(name)
    shape_off = b.CreateNumpyVector(np.asarray(shape, np.int32))
    q = None
    if quant is not None:
        scale, zero_point, axis = quant
        sc = b.CreateNumpyVector(np.asarray(scale, np.float32))
        zp = b.CreateNumpyVector(np.asarray(zero_point, np.int64))
        tfl.QuantizationParametersStart(b)
        tfl.QuantizationParametersAddScale(b, sc)
        tfl.QuantizationParametersAddZeroPoint(b, zp)
        tfl.QuantizationParametersAddQuantizedDimension(b, int(axis))
        q = tfl.QuantizationParametersEnd(b)
    tfl.TensorStart(b)
    tfl.TensorAddShape(b, shape_off)
    tfl.TensorAddType(b, type_code)
    tfl.TensorAddBuffer(b, buffer)
    tfl.TensorAddName(b, name_off)
    if q is not None:
        tfl.TensorAddQuantization(b, q)
    return tfl.TensorEnd(b)


def write_options(tfl, b, otype: str, options: dict) -> tuple[int, int]:
    """``(BuiltinOptions type code, offset)`` of the ``otype`` table (e.g.
    ``"Conv2DOptions"``) holding ``options``: schema field names in snake_case → numbers,
    or lists (int32 vectors); fields the table does not have are left out."""
    vectors = {}
    for key, value in options.items():
        if isinstance(value, list) and hasattr(tfl, f"{otype}Add{_camel(key)}"):
            vectors[key] = b.CreateNumpyVector(np.asarray(value, np.int32))
    getattr(tfl, f"{otype}Start")(b)
    for key, value in options.items():
        add = getattr(tfl, f"{otype}Add{_camel(key)}", None)
        if add is None:
            continue
        if key in vectors:
            add(b, vectors[key])
        elif not isinstance(value, list):
            add(b, value)
    return getattr(tfl.BuiltinOptions, otype), getattr(tfl, f"{otype}End")(b)


def write_operator(tfl, b, opcode_index: int, inputs, outputs, options=None) -> int:
    """One Operator table; ``options``: :func:`write_options`'s pair or None."""
    iv = b.CreateNumpyVector(np.asarray(inputs, np.int32))
    ov = b.CreateNumpyVector(np.asarray(outputs, np.int32))
    tfl.OperatorStart(b)
    tfl.OperatorAddOpcodeIndex(b, opcode_index)
    tfl.OperatorAddInputs(b, iv)
    tfl.OperatorAddOutputs(b, ov)
    if options is not None:
        tfl.OperatorAddBuiltinOptionsType(b, options[0])
        tfl.OperatorAddBuiltinOptions(b, options[1])
    return tfl.OperatorEnd(b)


def write_opcodes(tfl, b, names) -> list[int]:
    """One OperatorCode table (version 1) per builtin operator name."""
    offsets = []
    for name in names:
        v = getattr(tfl.BuiltinOperator, name)
        tfl.OperatorCodeStart(b)
        tfl.OperatorCodeAddBuiltinCode(b, v)
        tfl.OperatorCodeAddDeprecatedBuiltinCode(b, min(v, 127))
        tfl.OperatorCodeAddVersion(b, 1)
        offsets.append(tfl.OperatorCodeEnd(b))
    return offsets


def write_subgraph(tfl, b, tensors, operators, inputs, outputs) -> int:
    """The SubGraph table ``"main"`` of the Tensor and Operator offsets given."""
    tv = offset_vector(b, tfl.SubGraphStartTensorsVector, tensors)
    ov = offset_vector(b, tfl.SubGraphStartOperatorsVector, operators)
    gi = b.CreateNumpyVector(np.asarray(inputs, np.int32))
    go = b.CreateNumpyVector(np.asarray(outputs, np.int32))
    gname = b.CreateString("main")
    tfl.SubGraphStart(b)
    tfl.SubGraphAddTensors(b, tv)
    tfl.SubGraphAddInputs(b, gi)
    tfl.SubGraphAddOutputs(b, go)
    tfl.SubGraphAddOperators(b, ov)
    tfl.SubGraphAddName(b, gname)
    return tfl.SubGraphEnd(b)


def write_model(tfl, b, subgraph: int, opcodes, buffers, description: str, *,
                description_last: bool = True) -> bytes:
    """Finish the Model (version 3, one subgraph, file identifier ``TFL3``) and return its
    bytes. ``opcodes``: the OperatorCode offsets, or the operator names (their tables are
    then written here, after the subgraph vector); ``description_last=False`` adds the
    description before the buffers (the field order of tests/helpers/tflite_builder.py's
    models, frozen in tests/data/tflite16x8)."""
    sgv = offset_vector(b, tfl.ModelStartSubgraphsVector, [subgraph])
    if opcodes and isinstance(opcodes[0], str):
        opcodes = write_opcodes(tfl, b, opcodes)
    cv = offset_vector(b, tfl.ModelStartOperatorCodesVector, opcodes)
    bv = offset_vector(b, tfl.ModelStartBuffersVector, buffers)
    desc = b.CreateString(description)
    tfl.ModelStart(b)
    tfl.ModelAddVersion(b, 3)
    tfl.ModelAddOperatorCodes(b, cv)
    tfl.ModelAddSubgraphs(b, sgv)
    fields = [(tfl.ModelAddBuffers, bv), (tfl.ModelAddDescription, desc)]
    for add, off in fields if description_last else fields[::-1]:
        add(b, off)
    b.Finish(tfl.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


# --- a Graph ------------------------------------------------------------------------------

def _options(tfl, b, op):
    """The op's options table (:func:`write_options`), or None for an op
    :data:`OPTIONS_TYPES` does not name; padding / activation names → their codes."""
    otype = OPTIONS_TYPES.get(op.name)
    if otype is None:
        return None
    coded = {k: _CODES[k][v] if k in _CODES and not isinstance(v, list) else v
             for k, v in op.options.items()}
    return write_options(tfl, b, otype, coded)


def _quant(q):
    return None if q is None else (q.scale, q.zero_point, q.axis)


def graph_to_tflite(g: Graph, description: str = "qmac") -> bytes:
    """The flatbuffer bytes of ``g`` (module docstring); :class:`GraphError` for a tensor
    type or operator the writer cannot express."""
    import flatbuffers  # noqa: PLC0415 — comes with the [tflite] extra
    tfl = _tflite()
    for t in g.tensors:
        if t.dtype not in TYPE_CODES:
            raise GraphError(f"tensor {t.index} '{t.name}' is {t.dtype}; allowed to write: "
                             f"{', '.join(TYPE_CODES)}")
    codes = sorted({op.name for op in g.ops})
    for name in codes:
        if not hasattr(tfl.BuiltinOperator, name):
            raise GraphError(f"operator {name} is not a TFLite builtin; allowed: builtins")
    b = flatbuffers.Builder(1024)
    buffers, buf_index = write_buffers(tfl, b, [(t.index, constant_bytes(t.data, t.dtype))
                                                for t in g.tensors if t.data is not None])
    tensors = [write_tensor(tfl, b, t.name, t.shape, TYPE_CODES[t.dtype],
                            buf_index.get(t.index, 0), _quant(t.quant)) for t in g.tensors]
    ops = [write_operator(tfl, b, codes.index(op.name), op.inputs, op.outputs,
                          _options(tfl, b, op)) for op in g.ops]
    sg = write_subgraph(tfl, b, tensors, ops, g.inputs, g.outputs)
    return write_model(tfl, b, sg, codes, buffers, description)


def save_tflite(g: Graph, path, description: str = "qmac") -> None:
    """Write ``graph_to_tflite(g)`` to ``path``."""
    from pathlib import Path  # noqa: PLC0415
    Path(path).write_bytes(graph_to_tflite(g, description))
