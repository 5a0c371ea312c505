"""Read a ``.tflite`` flatbuffer into :class:`golden.graph.Graph`.

Parsing uses the pure-Python ``tflite`` schema package (the ``[tflite]`` extra, pinned in
``pyproject.toml``); nothing here reads flatbuffer bytes by hand except the 4-byte file
identifier check. Every problem — not a flatbuffer, truncated, several subgraphs, a CUSTOM
or unsupported operator, a float-only model — is a :class:`~golden.graph.GraphError` with
one line naming the file, the operator index and what is allowed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from golden.graph import Graph, GraphError, Op, Quant, Tensor

__all__ = ["load_tflite", "parse_tflite", "ACTIVATIONS", "PADDINGS"]

#: TFLite ``ActivationFunctionType`` codes → names used in op options
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH",
               5: "SIGN_BIT"}
#: TFLite ``Padding`` codes
PADDINGS = {0: "SAME", 1: "VALID"}
_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string",
           6: "bool", 7: "int16", 9: "int8", 10: "float64", 16: "uint32", 17: "int4"}
_NP = {"float32": np.float32, "float16": np.float16, "int32": np.int32, "uint8": np.uint8,
       "int64": np.int64, "int16": np.int16, "int8": np.int8, "float64": np.float64,
       "bool": np.bool_, "uint32": np.uint32}


def _tflite():
    try:
        import tflite  # noqa: PLC0415 — optional extra
    except ImportError:
        raise GraphError("the 'tflite' package is not installed; allowed: "
                         "pip install 'qmac[tflite]' (or bash scripts/dev.sh setup)") from None
    return tflite


def _enum_names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _options(tfl, op, option_names) -> dict:
    """The operator's builtin options as a dict (schema field names in snake_case)."""
    kind = op.BuiltinOptionsType()
    if kind == 0:
        return {}
    cls = getattr(tfl, option_names[kind], None)
    table = op.BuiltinOptions()
    if cls is None or table is None:
        return {}
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    out = {}
    for attr in dir(cls):
        if (attr.startswith("_") or attr in ("Init",) or attr.startswith("GetRootAs")
                or attr.endswith("BufferHasIdentifier") or attr.endswith("AsNumpy")
                or attr.endswith("IsNone") or attr.endswith("Length")):
            continue
        fn = getattr(obj, attr)
        try:
            value = fn()
        except TypeError:       # vector accessors take an index: use the numpy form
            value = getattr(obj, attr + "AsNumpy")()
            value = [] if isinstance(value, int) else [int(v) for v in value]
        out[_snake(attr)] = value
    if "padding" in out:
        out["padding"] = PADDINGS.get(out["padding"], str(out["padding"]))
    if "fused_activation_function" in out:
        out["fused_activation_function"] = ACTIVATIONS.get(out["fused_activation_function"],
                                                           str(out["fused_activation_function"]))
    return out


def _quant(t) -> Quant | None:
    q = t.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    scale = np.asarray(q.ScaleAsNumpy(), dtype=np.float32).reshape(-1)
    zp = np.asarray(q.ZeroPointAsNumpy(), dtype=np.int64).reshape(-1) \
        if q.ZeroPointLength() else np.zeros(scale.size, np.int64)
    if zp.size == 1 and scale.size > 1:
        zp = np.full(scale.size, int(zp[0]), np.int64)
    return Quant(scale=scale, zero_point=zp, axis=int(q.QuantizedDimension()))


def _tensor(model, g, i: int, buf: bytes, source: str) -> Tensor:
    t = g.Tensors(i)
    if t.Sparsity() is not None:
        raise GraphError(f"{source}: tensor {i} is stored sparse; allowed: dense tensors")
    dtype = _DTYPES.get(t.Type(), f"type{t.Type()}")
    shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    data = None
    b = model.Buffers(t.Buffer()) if 0 < t.Buffer() < model.BuffersLength() else None
    if b is not None:
        raw = b.DataAsNumpy()
        if not isinstance(raw, int) and raw.size and dtype in _NP:
            data = np.frombuffer(raw.tobytes(), dtype=_NP[dtype]).reshape(shape).copy()
        elif b.Offset() > 1 and dtype in _NP:   # large models: data after the flatbuffer
            n = int(np.prod(shape, dtype=np.int64))
            data = np.frombuffer(buf, dtype=_NP[dtype], count=n,
                                 offset=int(b.Offset())).reshape(shape).copy()
    name = t.Name().decode("utf-8", "replace") if t.Name() else f"t{i}"
    return Tensor(index=i, name=name, shape=shape, dtype=dtype, quant=_quant(t), data=data)


def parse_tflite(buf: bytes, source: str = "<bytes>") -> Graph:
    """Parse flatbuffer bytes (see :func:`load_tflite`)."""
    tfl = _tflite()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise GraphError(f"{source}: not a TFLite flatbuffer (no 'TFL3' file identifier); "
                         f"allowed: a .tflite model written by the TFLite converter")
    op_names = _enum_names(tfl.BuiltinOperator)
    option_names = _enum_names(tfl.BuiltinOptions)
    try:
        model = tfl.Model.GetRootAsModel(buf, 0)
        if model.SubgraphsLength() != 1:
            raise GraphError(f"{source}: {model.SubgraphsLength()} subgraphs; allowed: "
                             f"exactly 1 (no control flow)")
        g = model.Subgraphs(0)
        tensors = [_tensor(model, g, i, buf, source) for i in range(g.TensorsLength())]
        ops = []
        for i in range(g.OperatorsLength()):
            op = g.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
            name = op_names.get(builtin, f"BUILTIN_{builtin}")
            if name == "CUSTOM":
                cc = code.CustomCode()
                name = f"CUSTOM({cc.decode('utf-8', 'replace') if cc else '?'})"
            ops.append(Op(index=i, name=name,
                          inputs=[int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else [],
                          outputs=[int(v) for v in op.OutputsAsNumpy()] if op.OutputsLength() else [],
                          options=_options(tfl, op, option_names), version=int(code.Version())))
        inputs = [int(v) for v in g.InputsAsNumpy()]
        outputs = [int(v) for v in g.OutputsAsNumpy()]
    except GraphError:
        raise
    except Exception as exc:  # the schema package raises whatever a bad offset causes
        raise GraphError(f"{source}: cannot parse the flatbuffer ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:60] if str(exc) else 'bad offset'}) — "
                         f"truncated or corrupt; allowed: a complete .tflite model") from None
    for t in tensors:
        if t.dtype in _NP and t.data is not None and t.data.size != int(np.prod(t.shape)):
            raise GraphError(f"{source}: tensor {t.index} '{t.name}' has {t.data.size} values "
                             f"for shape {list(t.shape)}; truncated or corrupt")
    return Graph(tensors=tensors, ops=ops, inputs=inputs, outputs=outputs, source=source)


def load_tflite(path) -> Graph:
    """Read ``path`` and return its graph; :class:`GraphError` (one line) on any problem.

    Only the structure is read here; :func:`golden.ops.check_graph` then checks every
    operator is supported and quantized.
    """
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise GraphError(f"{path}: cannot read it ({exc.strerror}); allowed: a .tflite "
                         f"file") from None
    return parse_tflite(buf, str(path))
