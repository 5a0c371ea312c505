"""Argument validation shared by every public function in ``golden/``.

Every check raises :class:`ValueError` with one message of the form ::

    <name>=<value> is out of range; allowed: <range>

For arrays the first offending element is named with its index, e.g.
``shift[3]=-32 is out of range; allowed: [-31, 30]``. Tests assert these messages, so keep
the wording stable.

Helpers (all return the validated value so they can be used inline):

* :func:`as_int_array` - any integer scalar/array → ``np.int64`` array (0-d for scalars);
  floats, bools, strings and integers beyond int64 are rejected.
* :func:`as_float_array` - real scalar/array → ``np.float64`` array (finite values only
  unless ``finite=False``).
* :func:`check_range` - every element within ``[lo, hi]`` (either bound may be ``None``).
* :func:`check_int` - a Python/NumPy integer scalar, optionally within ``[lo, hi]``.
* :func:`check_bits` - a bit width, default ``[2, 16]``.
* :func:`check_bool` - a ``bool``.
* :func:`check_choice` - one of a fixed tuple of choices.
* :func:`broadcast` - named arrays broadcast together, or a message naming their shapes.
"""

import numbers

import numpy as np

__all__ = [
    "as_int_array",
    "as_float_array",
    "check_range",
    "check_int",
    "check_bits",
    "check_bool",
    "check_choice",
    "broadcast",
    "fmt_range",
]

_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1


def fmt_range(lo, hi):
    """Text for an inclusive range: ``[lo, hi]``, ``>= lo``, ``<= hi`` or ``any``."""
    if lo is not None and hi is not None:
        return f"[{lo}, {hi}]"
    if lo is not None:
        return f">= {lo}"
    if hi is not None:
        return f"<= {hi}"
    return "any"


def _scalar(v):
    """A NumPy scalar as a plain Python scalar, for messages."""
    return v.item() if isinstance(v, np.generic) else v


def _fail(name, value, allowed, *, index=None, problem="is out of range"):
    label = name if index is None else f"{name}[{', '.join(map(str, index))}]"
    text = value.text if isinstance(value, _Short) else repr(value)
    raise ValueError(f"{label}={text} {problem}; allowed: {allowed}")


class _Short:
    """Compact repr of a whole argument (for type errors)."""

    def __init__(self, value):
        text = repr(value)
        self.text = text if len(text) <= 60 else text[:57] + "..."


def as_int_array(name, value):
    """Return ``value`` as an ``np.int64`` array (0-d for a scalar).

    Accepts Python ints, NumPy integer scalars/arrays, and sequences / object arrays of
    those. Rejects floats (even integral ones), bools, complex, strings, and integers
    outside ``[-2**63, 2**63 - 1]``.
    """
    if isinstance(value, (bool, np.bool_)):
        _fail(name, value, "integers", problem="is not an integer")
    try:
        arr = np.asarray(value)
    except (OverflowError, ValueError, TypeError):
        _fail(name, _Short(value), "integers of int64 range", problem="is not an integer array")
    kind = arr.dtype.kind
    if arr.size == 0 and kind in "iufO":
        return arr.astype(np.int64)
    if kind == "i":
        return arr.astype(np.int64, copy=False)
    if kind == "u":
        if arr.size and arr.max() > _I64_MAX:
            idx = np.unravel_index(int(np.argmax(arr)), arr.shape)
            _fail(name, _scalar(arr[idx]), fmt_range(_I64_MIN, _I64_MAX), index=idx)
        return arr.astype(np.int64)
    if kind == "O":
        flat = arr.reshape(-1)
        for i, v in enumerate(flat):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
                idx = np.unravel_index(i, arr.shape)
                _fail(name, v, "integers", index=idx, problem="is not an integer")
            if not _I64_MIN <= int(v) <= _I64_MAX:
                idx = np.unravel_index(i, arr.shape)
                _fail(name, int(v), fmt_range(_I64_MIN, _I64_MAX), index=idx)
        return np.array([int(v) for v in flat], dtype=np.int64).reshape(arr.shape)
    what = "an integer" if arr.ndim == 0 else "an integer array"
    _fail(name, _Short(value), f"integers (got dtype {arr.dtype})", problem=f"is not {what}")


def as_float_array(name, value, *, finite=True):
    """Return ``value`` as an ``np.float64`` array; reject non-real input and, by default,
    NaN/inf."""
    if isinstance(value, (bool, np.bool_)):
        _fail(name, value, "real numbers", problem="is not a real number")
    try:
        arr = np.asarray(value)
    except (OverflowError, ValueError, TypeError):
        _fail(name, _Short(value), "real numbers", problem="is not a real array")
    if arr.dtype.kind not in "iuf" and not (arr.dtype.kind == "O" and arr.size == 0):
        try:
            if arr.dtype.kind != "O":
                raise TypeError
            arr = arr.astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            _fail(name, _Short(value), f"real numbers (got dtype {arr.dtype})",
                  problem="is not a real array")
    arr = arr.astype(np.float64, copy=False)
    if finite:
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = np.unravel_index(int(np.argmax(bad)), arr.shape)
            _fail(name, _scalar(arr[idx]), "finite values", index=idx if arr.ndim else None)
    return arr


def check_range(name, value, lo=None, hi=None):
    """Check every element of ``value`` lies in the inclusive range ``[lo, hi]``.

    ``value`` may be a scalar or array (integer or real; NaN is always out of range).
    Returns ``value`` unchanged.
    """
    arr = np.asarray(value)
    if arr.size and arr.dtype.kind in "iu" and (lo is None or arr.min() >= lo) and \
            (hi is None or arr.max() <= hi):
        return value                        # the common case: two reductions, no temporary
    ok = np.ones(arr.shape, dtype=bool)
    if lo is not None:
        ok &= arr >= lo
    if hi is not None:
        ok &= arr <= hi
    if not ok.all():
        if arr.ndim == 0:
            _fail(name, _scalar(arr[()]), fmt_range(lo, hi))
        idx = np.unravel_index(int(np.argmin(ok)), arr.shape)
        _fail(name, _scalar(arr[idx]), fmt_range(lo, hi), index=idx)
    return value


def check_int(name, value, lo=None, hi=None):
    """Check ``value`` is an integer scalar (not bool) in ``[lo, hi]``; return it as ``int``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        _fail(name, value, fmt_range(lo, hi) if (lo, hi) != (None, None) else "integers",
              problem="is not an integer")
    value = int(value)
    check_range(name, value, lo, hi)
    return value


def check_bits(name, bits, lo=2, hi=16):
    """Check a bit width is an integer in ``[lo, hi]`` (default 2..16); return it."""
    return check_int(name, bits, lo, hi)


def check_bool(name, value):
    """Check ``value`` is a ``bool`` (or ``np.bool_``); return it as ``bool``."""
    if not isinstance(value, (bool, np.bool_)):
        _fail(name, value, "True, False", problem="is not a bool")
    return bool(value)


def check_choice(name, value, choices):
    """Check ``value`` is one of ``choices``; return it."""
    if not any(type(value) is type(c) and value == c for c in choices):
        _fail(name, value, ", ".join(repr(c) for c in choices))
    return value


def broadcast(**arrays):
    """Broadcast named arrays together (keyword order kept) and return them as a tuple.

    Raises ``ValueError: shapes x.shape=(3,), m0.shape=(4,) do not broadcast; allowed:
    NumPy-broadcastable shapes`` when they do not.
    """
    try:
        return tuple(np.broadcast_arrays(*arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k}.shape={np.shape(v)}" for k, v in arrays.items())
        raise ValueError(
            f"shapes {shapes} do not broadcast; allowed: NumPy-broadcastable shapes"
        ) from None
