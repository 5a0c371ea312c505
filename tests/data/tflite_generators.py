"""What the frozen-vector generators beside this file share (tflite/make_vectors.py,
tflite16x8/make_vectors.py, tflite16x8/make_models.py): the TFLite interpreter as they run
it (tflite-runtime, one thread, an op resolver by name, one input and one output tensor)
and the write-or-compare of a frozen file. It runs in their own venv (tflite-runtime 2.14
wants numpy < 2; see their docstrings) and imports nothing of qmac.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import tflite_runtime
from tflite_runtime.interpreter import Interpreter, OpResolverType

__all__ = ["RESOLVERS", "RUNTIME", "interpreter", "invoke", "execution_plan", "check_flag",
           "freeze"]

#: the op resolvers: reference kernels, optimized builtins (with the default delegates),
#: optimized builtins without them
RESOLVERS = ("BUILTIN_REF", "BUILTIN", "BUILTIN_WITHOUT_DEFAULT_DELEGATES")
#: the runtime, as the frozen files' ``kernel`` key names it
RUNTIME = f"tflite-runtime {tflite_runtime.__version__}"


def interpreter(model: bytes, resolver: str) -> Interpreter:
    """The model's interpreter on ``OpResolverType.<resolver>``, one thread, allocated."""
    it = Interpreter(model_content=model, num_threads=1,
                     experimental_op_resolver_type=getattr(OpResolverType, resolver))
    it.allocate_tensors()
    return it


def invoke(it: Interpreter, x):
    """Set the input to ``x`` (of the input's dtype), invoke, return a copy of the output."""
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


def execution_plan(it: Interpreter) -> list[str]:
    """The op names of the execution plan (``"DELEGATE"`` where a delegate took an op)."""
    return [o["op_name"] for o in it._get_ops_details()]


def check_flag(doc: str, argv=None) -> bool:
    """A generator's command line (``doc``: its docstring): ``--check`` = compare only,
    write nothing."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare only, write nothing")
    return ap.parse_args(argv).check


def freeze(path: Path, data: bytes, check: bool) -> int:
    """Write ``data`` to the frozen file ``path``; with ``check``, write nothing and return
    1 (and say so) when the file does not hold ``data`` byte for byte. Returns 0 otherwise."""
    if not check:
        path.write_bytes(data)
        return 0
    if path.exists() and path.read_bytes() == data:
        return 0
    print(f"  {path.name}: differs from the frozen file")
    return 1
