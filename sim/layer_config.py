"""Per-layer precision: which datapath configuration each hardware layer runs on.

``--layer-config SPEC`` (``qmac run``, ``qmac sweep --hw-check``) maps hardware layers to
configurations; every layer not named runs on the command's configuration. ``SPEC`` is a
comma-separated list of ``SELECTOR=CONFIG``:

* ``SELECTOR``: a hardware-layer position counted from 0 in execution order (``qmac run``:
  the FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D ops, whatever their operator index;
  ``qmac sweep``: the network's layers), a range ``A-B`` (both included) or ``last``;
* ``CONFIG``: a YAML configuration, optionally ``@N`` for its ``--bits N`` form, e.g.
  ``constraints/int8.yaml@4``.

So ``0=constraints/int8.yaml,last=constraints/int8.yaml`` with ``constraints/int4.yaml`` as
the command's configuration runs the first and last layers at 8 bits and the rest at 4.
Each distinct configuration is generated and built once (builds are cached by content).
A layer named twice, a position beyond the model's layers or a malformed entry is one line,
exit 2.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import UserError

__all__ = ["parse_layer_config", "assign_layers"]

_ENTRY = re.compile(r"^(?P<sel>\d+|\d+-\d+|last)=(?P<path>[^@=,]+)(?:@(?P<bits>\d+))?$")
ALLOWED = ("comma-separated SELECTOR=CONFIG[@BITS] entries, SELECTOR a layer position (0, 1, "
           "...), a range A-B or 'last', e.g. 0=constraints/int8.yaml,1-2=constraints/int4.yaml")


def _fail(spec: str, what: str) -> UserError:
    shown = spec if len(spec) <= 60 else spec[:57] + "..."
    return UserError(f"--layer-config {shown!r}: {what}; allowed: {ALLOWED}")


def parse_layer_config(spec: str) -> list[tuple[str, str, int | None]]:
    """``[(selector, config path, bits or None)]`` of ``SPEC`` (syntax only; see
    :func:`assign_layers` for the positions)."""
    if not isinstance(spec, str) or not spec.strip():
        raise _fail(str(spec), "it is empty")
    out = []
    for entry in spec.split(","):
        m = _ENTRY.match(entry.strip())
        if m is None:
            raise _fail(spec, f"entry {entry.strip()!r} is malformed")
        sel, path, bits = m["sel"], m["path"].strip(), m["bits"]
        if "-" in sel:
            a, b = (int(v) for v in sel.split("-"))
            if a > b:
                raise _fail(spec, f"range {sel} is empty (start after end)")
        if bits is not None and not 2 <= int(bits) <= 16:
            raise _fail(spec, f"{entry.strip()!r}: @{bits} is not a width in 2..16")
        out.append((sel, path, int(bits) if bits is not None else None))
    return out


def _positions(spec, sel: str, n: int) -> range:
    if sel == "last":
        return range(n - 1, n)
    a, _, b = sel.partition("-")
    lo, hi = int(a), int(b or a)
    if hi >= n:
        raise _fail(spec, f"layer {hi} does not exist (the model has {n} hardware "
                          f"layer{'s' if n != 1 else ''}: 0..{n - 1})")
    return range(lo, hi + 1)


def assign_layers(spec: str, n_layers: int, load) -> dict[int, object]:
    """``{position: configuration}`` for the layers ``SPEC`` names. ``load(path, bits)``
    reads a configuration (its errors pass through); a position named twice is an error."""
    entries = parse_layer_config(spec)
    if n_layers < 1:
        raise _fail(spec, "the model has no hardware layer")
    loaded: dict[tuple[str, int | None], object] = {}
    out: dict[int, object] = {}
    for sel, path, bits in entries:
        key = (str(Path(path)), bits)
        if key not in loaded:
            loaded[key] = load(path, bits)
        for i in _positions(spec, sel, n_layers):
            if i in out:
                raise _fail(spec, f"layer {i} is given twice")
            out[i] = loaded[key]
    return out
