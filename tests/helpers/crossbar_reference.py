"""Independent pure-Python reference of the crossbar path, written from docs/crossbar.md §2.

Python ints and ``fractions.Fraction`` only, loops only, no NumPy and no import of
``golden.crossbar``: the golden model is checked against the formulas, not against itself.
"""

from __future__ import annotations

import math
from fractions import Fraction


def lossless_bits(rows, v, b):
    return math.ceil(math.log2(rows * (2**v - 1) * (2**b - 1) + 1))


def slices(n, b):
    return -(-n // b)


def levels_of_column(w_col, *, n, signed, b, encoding):
    """{(s, e): [level per row]} for one logical column's weights (a list of R ints)."""
    s_count = slices(n, b)
    out = {}
    for s in range(s_count):
        width = min(b, n - s * b)
        if encoding == "offset":
            g = [w + (2 ** (n - 1) if signed else 0) for w in w_col]
            out[(s, 0)] = [(x // 2 ** (s * b)) % 2**width for x in g]
        else:
            gp = [max(w, 0) for w in w_col]
            gn = [max(-w, 0) for w in w_col]
            out[(s, 0)] = [(x // 2 ** (s * b)) % 2**width for x in gp]
            out[(s, 1)] = [(x // 2 ** (s * b)) % 2**width for x in gn]
    return out


def phases(x_vec, *, n, signed, v, encoding):
    """[(weight ω_p, [digit per row])] for one input vector."""
    a_off = 2 ** (n - 1) if (signed and encoding == "offset") else 0
    pattern = [(x + a_off) % 2**n for x in x_vec]
    sign_phase = signed and encoding == "twos_complement"
    top = n - 1 if sign_phase else n
    out = []
    lo = 0
    while lo < top:
        width = min(v, top - lo)
        out.append((2**lo, [(p >> lo) % 2**width for p in pattern]))
        lo += v
    if sign_phase:
        # the sign phase drives the DAC's MSB 2^(v-1), weight -2^(N-v): product -2^(N-1)
        out.append((-(2 ** (n - v)), [((p >> (n - 1)) % 2) * 2 ** (v - 1) for p in pattern]))
    return out, a_off


def adc(y, *, k, bits, offset=Fraction(0)):
    """code = clip(floor(y / 2^k + 1/2 + offset), 0, 2^bits - 1) for a rational y."""
    q = math.floor(Fraction(y) / 2**k + Fraction(1, 2) + offset)
    return min(max(q, 0), 2**bits - 1)


def psums(x_vec, w_tile, *, n, x_signed, w_signed, b, w_enc, v, x_enc, adc_bits, k, trim=None):
    """One vector through one tile (ideal cells). ``w_tile[r][c]``; ``k``/``trim`` per
    physical column (lists) or scalars. Returns [psum per logical column]."""
    rows, cols = len(w_tile), len(w_tile[0])
    e_count = 2 if w_enc == "differential" else 1
    s_count = slices(n, b)
    cphys = cols * s_count * e_count
    ks = k if isinstance(k, list) else [k] * cphys
    ts = trim if isinstance(trim, list) else [trim or 0] * cphys
    g_off = 2 ** (n - 1) if (w_signed and w_enc == "offset") else 0
    plist, a_off = phases(x_vec, n=n, signed=x_signed, v=v, encoding=x_enc)
    xs = [x for x in x_vec]
    xlo, xhi = (-(2 ** (n - 1)), 2 ** (n - 1) - 1) if x_signed else (0, 2**n - 1)
    wlo, whi = (-(2 ** (n - 1)), 2 ** (n - 1) - 1) if w_signed else (0, 2**n - 1)
    corners = [p * q for p in (xlo, xhi) for q in (wlo, whi)]
    out = []
    for c in range(cols):
        col = [w_tile[r][c] for r in range(rows)]
        lv = levels_of_column(col, n=n, signed=w_signed, b=b, encoding=w_enc)
        u = 0
        for omega, d in plist:
            z = 0
            for s in range(s_count):
                for e in range(e_count):
                    j = (c * s_count + s) * e_count + e
                    y = sum(d[r] * lv[(s, e)][r] for r in range(rows))
                    code = adc(y, k=ks[j], bits=adc_bits)
                    yhat = (code - ts[j]) * 2 ** ks[j]
                    z += 2 ** (s * b) * (yhat if e == 0 else -yhat)
            u += omega * z
        p = u - g_off * sum(x + a_off for x in xs) - a_off * sum(col)
        out.append(min(max(p, rows * min(corners)), rows * max(corners)))
    return out
