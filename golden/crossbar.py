"""Bit-exact model of the crossbar path: DAC phases, memristor cells, ADC, reconstruction.

The analog crossbar computes the same partial sums as ``hw/mac_array.py: MacArray``
(``psum[c] = Σ_r x[r]·w'[r, c]`` for one tile of ``R`` rows) with unsigned DAC codes and
unsigned cell levels, digitized by an ADC; the digital back end turns the ADC codes back
into signed partial sums that feed the *same* accumulate / requantize stages as the MAC
array (:func:`golden.datapath.accumulate`, :func:`golden.datapath.requantize`).
``docs/crossbar.md`` is the contract; this module is its executable form and mirrors
``hw/crossbar_*.py`` stage by stage:

======================================  =============================================
golden (this module)                    hardware / testbench
======================================  =============================================
:func:`encode_weights`                  ``CrossbarDatapath`` programming port ``o_prog``
:func:`input_phases`                    ``hw/dac_driver.py: DacDriver``
:func:`column_sums`, :func:`column_values`  the analog macro (``tb/crossbar_model.py``)
:func:`adc_quantize`                    the ADC (``tb/crossbar_model.py``)
trim in :func:`reconstruct`             ``hw/adc_interface.py: AdcInterface``
:func:`reconstruct`                     ``hw/crossbar_engine.py: CrossbarEngine``
:func:`crossbar_datapath_model`         ``hw/crossbar_datapath.py: CrossbarDatapath``
======================================  =============================================

Notation (``docs/crossbar.md`` §3): N operand bits, R rows, C logical columns, b =
``cell_bits``, v = ``dac_bits``, B = ``adc_bits``, S = ceil(N/b) weight slices, E = 2
(``differential``) or 1 (``offset``) polarities, ``C_phys = C·S·E`` physical columns with
physical column ``j = (c·S + s)·E + e``, P DAC phases with weights ``ω_p``.

Everything is exact integer arithmetic. Non-idealities (programming noise, read noise, ADC
offset; all seeded, all off by default) are added to the *analog* column value, which is
represented exactly as an int64 multiple of ``2^-ANALOG_FRAC_BITS`` column units, so the
noisy model gives the same ADC codes on every machine and in every caller (the cocotb
crossbar model calls the same functions).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from constraints import CrossbarRecord, derive
from constraints import limits as _limits
from constraints.vocab import INPUT_ENCODINGS, WEIGHT_ENCODINGS
from golden._validate import (
    as_float_array,
    as_int_array,
    check_bool,
    check_choice,
    check_int,
    check_range,
)

__all__ = [
    "WEIGHT_ENCODINGS",
    "INPUT_ENCODINGS",
    "ANALOG_FRAC_BITS",
    "ADC_BITS_MAX",
    "lossless_adc_bits",
    "adc_shift_for_full_scale",
    "crossbar_tile",
    "retile",
    "CrossbarNoise",
    "encode_weights",
    "decode_levels",
    "input_phases",
    "column_sums",
    "noise_streams",
    "program_noise_fx",
    "adc_offsets_lsb",
    "read_noise_fx",
    "column_values",
    "adc_quantize",
    "reconstruct",
    "crossbar_psums",
    "exact_layer_psums",
    "crossbar_layer_psums",
    "crossbar_datapath_model",
    "crossbar_layer_model",
    "error_report",
]

#: Fractional bits of the fixed-point analog column value (units of 2^-16 DAC-LSB × level).
ANALOG_FRAC_BITS = 16
#: Limits of the contract (``constraints/limits.py``): widest ADC modelled, full-scale
#: headroom over the lossless range, largest noise sigmas.
ADC_BITS_MAX = _limits.ADC_BITS_MAX
FULL_SCALE_HEADROOM_BITS = _limits.FULL_SCALE_HEADROOM_BITS
SIGMA_MAX = _limits.SIGMA_MAX
ADC_OFFSET_SIGMA_MAX = _limits.ADC_OFFSET_SIGMA_MAX


# ---------------------------------------------------------------------------------------
# sizing

def lossless_adc_bits(rows, dac_bits, cell_bits):
    """Bits an ADC needs to convert every ideal column sum exactly.

    ``L = ceil(log2(R·(2^v − 1)·(2^b − 1) + 1))``: the largest column sum is every row at
    the top DAC code times a cell at its top level; codes ``0 .. Ymax`` need L bits.
    (ISAAC: R = 128, v = 1, b = 2 → 9.)

    Parameters
    ----------
    rows : int
        R, ``>= 1``.
    dac_bits, cell_bits : int
        v and b, ``[1, 16]``.

    Returns
    -------
    int
    """
    rows = check_int("rows", rows, 1, None)
    v = check_int("dac_bits", dac_bits, 1, 16)
    b = check_int("cell_bits", cell_bits, 1, 16)
    return derive.lossless_adc_bits(rows, v, b)


def adc_shift_for_full_scale(full_scale, *, adc_bits, lossless_bits):
    """LSB exponent ``k`` (LSB = 2^k column units) of an ADC with the given full scale.

    ``full_scale`` is the column-sum value at which the ADC would reach code ``2^B``
    (codes cover ``[0, full_scale)`` in steps of ``LSB = full_scale / 2^B``):

    * ``"auto"`` → ``2^max(L, B)``: the smallest power-of-two range holding every ideal
      column sum, i.e. ``k = max(0, L − B)``; lossless when ``B >= L`` (k = 0);
    * an int ``2^(B + k)`` with ``0 <= k <= max(0, L − B) + 4`` (a calibrated, clipping
      range is a smaller ``k``; the digital back end multiplies by 2^k, so it must be a
      power of two).

    Raises ``ValueError`` naming the value otherwise.
    """
    adc_bits = check_int("adc_bits", adc_bits, 1, ADC_BITS_MAX)
    lossless_bits = check_int("lossless_bits", lossless_bits, 1, ADC_BITS_MAX)
    if isinstance(full_scale, str):
        check_choice("full_scale", full_scale, ("auto",))
    else:
        full_scale = check_int("full_scale", full_scale, 1, None)
    return derive.adc_shift_for_full_scale(full_scale, adc_bits, lossless_bits)


# ---------------------------------------------------------------------------------------
# parameters

def crossbar_tile(*, bits=None, input_bits=None, weight_bits=None, input_signed,
                  weight_signed, rows, cols, cell_bits, weight_encoding, dac_bits,
                  input_encoding, adc_bits, adc_shift=None, cols_per_adc=1, weight_tiles=1):
    """Validated parameters of one crossbar tile and its converters, as the contract's
    :class:`constraints.CrossbarRecord` (the record ``sim`` resolves from a configuration
    is used as it is; this builds one for a bare tile, see
    :meth:`~constraints.CrossbarRecord.for_tile`).

    Parameters
    ----------
    bits : int or None
        N, ``[2, 16]``: the shorthand for ``input_bits = weight_bits = N``; when not
        ``None`` it sets both (so ``retile(spec, bits=n)`` changes both).
    input_signed, weight_signed : bool
    rows, cols : int
        R ``[1, 256]`` rows (dot-product length) and C ``[1, 256]`` logical columns.
    cell_bits : int
        b, ``[1, W]``: a cell holds a level ``0 .. 2^b − 1``.
    weight_encoding : {"differential", "offset"}
    dac_bits : int
        v, ``[1, A]``: a DAC code is ``0 .. 2^v − 1``.
    input_encoding : {"twos_complement", "offset"}
    adc_bits : int
        B, ``[1, 40]``: ADC codes ``0 .. 2^B − 1``.
    adc_shift : int, sequence of int, or None
        LSB exponent ``k_j`` per physical column (an int applies to every column): the ADC
        LSB is ``2^k_j`` column units, ``0 .. max(0, L − B) + 4``. ``None`` (default): the
        ``auto`` full scale, ``k = max(0, L − B)``.
    cols_per_adc : int
        m: physical columns multiplexed onto one ADC; must divide ``C_phys``.
    weight_tiles : int
        T ``[1, 1024]`` (``constraints.limits.TILES_MAX``): weight tiles held by the macro
        (only sizes the noise arrays).
    input_bits, weight_bits : int or None
        A (inputs ``x``: DAC phases) and W (stored weights ``w'``: cell slices), each
        ``[2, 16]``; both default to ``bits``.

    Returns
    -------
    constraints.CrossbarRecord
    """
    if bits is not None:
        input_bits = weight_bits = check_int("bits", bits, _limits.BITS_MIN, _limits.BITS_MAX)
    a = check_int("input_bits", input_bits, _limits.BITS_MIN, _limits.BITS_MAX)
    wb = check_int("weight_bits", weight_bits, _limits.BITS_MIN, _limits.BITS_MAX)
    tile = dict(
        input_bits=a, weight_bits=wb,
        input_signed=check_bool("input_signed", input_signed),
        weight_signed=check_bool("weight_signed", weight_signed),
        rows=check_int("rows", rows, 1, _limits.DIM_MAX),
        cols=check_int("cols", cols, 1, _limits.DIM_MAX),
        cell_bits=check_int("cell_bits", cell_bits, 1, wb),
        weight_encoding=check_choice("weight_encoding", weight_encoding, WEIGHT_ENCODINGS),
        dac_bits=check_int("dac_bits", dac_bits, 1, a),
        input_encoding=check_choice("input_encoding", input_encoding, INPUT_ENCODINGS),
        adc_bits=check_int("adc_bits", adc_bits, 1, ADC_BITS_MAX),
        weight_tiles=check_int("weight_tiles", weight_tiles, 1, _limits.TILES_MAX))
    cp = derive.phys_cols(cols, wb, cell_bits, weight_encoding)
    m = check_int("cols_per_adc", cols_per_adc, 1, cp)
    if cp % m:
        raise ValueError(f"cols_per_adc={m} is out of range; allowed: a divisor of the "
                         f"{cp} physical columns")
    return CrossbarRecord.for_tile(cols_per_adc=m, adc_full_scale_auto=adc_shift is None,
                                   adc_shift=_adc_shifts(adc_shift, tile, cp), **tile)


def _adc_shifts(shift, tile, cp):
    """One checked LSB exponent per physical column (``None``: the ``auto`` full scale)."""
    lossless = derive.lossless_adc_bits(tile["rows"], tile["dac_bits"], tile["cell_bits"])
    kmax = derive.max_adc_shift(tile["adc_bits"], lossless)
    if shift is None:
        shift = max(0, lossless - tile["adc_bits"])
    if not isinstance(shift, (list, tuple, np.ndarray)):
        return (check_int("adc_shift", shift, 0, kmax),) * cp
    shift = tuple(int(check_int(f"adc_shift[{j}]", k, 0, kmax)) for j, k in enumerate(shift))
    if len(shift) != cp:
        raise ValueError(f"len(adc_shift)={len(shift)} is out of range; allowed: "
                         f"{cp} (one per physical column) or a single int")
    return shift


def retile(spec, **changes):
    """``spec`` (a :class:`constraints.CrossbarRecord`) with some tile parameters changed
    (:func:`crossbar_tile`'s keywords), validated again; an ``auto`` full scale stays
    ``auto`` (its shifts recomputed) unless ``adc_shift`` is among the changes."""
    keep = None if _spec(spec).adc_full_scale_auto else spec.adc_shift
    params = {**spec.tile_parameters(), "adc_shift": keep, **changes}
    if "bits" in changes:
        params.pop("input_bits"), params.pop("weight_bits")
    return crossbar_tile(**params)


@dataclasses.dataclass(frozen=True)
class CrossbarNoise:
    """Seeded non-idealities (all zero: the ideal crossbar).

    Parameters
    ----------
    program_sigma : float
        Conductance programming error, standard deviation as a fraction of the cell's
        full range (``2^b − 1`` levels), ``[0, 1]``. Drawn once per cell (tile, row,
        physical column): a fixed device-to-device pattern, the same every time that cell
        is programmed. Not clipped.
    read_sigma : float
        Read (cycle-to-cycle) noise of every cell, same unit, ``[0, 1]``; drawn afresh
        for every conversion. Summed over a column it is Gaussian with standard deviation
        ``read_sigma·(2^b − 1)·sqrt(Σ_r d_r²)``, which is what is drawn (one normal per
        physical column per DAC phase, in the order the conversions happen).
    adc_offset_sigma : float
        Static input-referred offset of each ADC in LSB, ``[0, 64]``; drawn once per ADC.
    seed : int
        ``>= 0``. Streams: ``default_rng([seed, 0])`` programming,
        ``default_rng([seed, 1])`` read, ``default_rng([seed, 2])`` ADC offsets.
    """

    program_sigma: float = 0.0
    read_sigma: float = 0.0
    adc_offset_sigma: float = 0.0
    seed: int = 0

    def __post_init__(self):
        for name, hi in (("program_sigma", SIGMA_MAX), ("read_sigma", SIGMA_MAX),
                         ("adc_offset_sigma", ADC_OFFSET_SIGMA_MAX)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise ValueError(f"{name}={v!r} is not a real number; allowed: [0, {hi}]")
            if not 0.0 <= float(v) <= hi:
                raise ValueError(f"{name}={v!r} is out of range; allowed: [0, {hi}]")
            object.__setattr__(self, name, float(v))
        object.__setattr__(self, "seed", check_int("seed", self.seed, 0, _limits.SEED_MAX))

    @classmethod
    def from_record(cls, record):
        """The non-idealities of a contract :class:`constraints.CrossbarRecord`."""
        return cls(program_sigma=record.program_sigma, read_sigma=record.read_sigma,
                   adc_offset_sigma=record.adc_offset_sigma, seed=record.seed)

    @property
    def ideal(self):
        """True when every sigma is zero."""
        return not (self.program_sigma or self.read_sigma or self.adc_offset_sigma)


def _spec(spec):
    if not isinstance(spec, CrossbarRecord):
        raise ValueError(f"spec={spec!r} is out of range; allowed: a constraints.CrossbarRecord")
    return spec


def _noise(noise):
    if noise is None:
        return CrossbarNoise()
    if not isinstance(noise, CrossbarNoise):
        raise ValueError(f"noise={noise!r} is out of range; allowed: None or a CrossbarNoise")
    return noise


# ---------------------------------------------------------------------------------------
# weights → cell levels

def encode_weights(w, spec):
    """Cell levels of a weight tile: offset / differential encoding, then bit slicing.

    ``offset``: ``g = w' + G`` (G = 2^(N−1) for signed weights, else 0) is an unsigned
    N-bit code, sliced into S cells. ``differential``: ``g⁺ = max(w', 0)`` and
    ``g⁻ = max(−w', 0)`` (each ``0 .. 2^(N−1)`` for signed weights, fits N bits), each
    sliced into S cells. Slice s of code g is ``(g >> s·b) & (2^b_s − 1)`` and lives on
    physical column ``j = (c·S + s)·E + e`` (``e = 0`` for g / g⁺, ``1`` for g⁻).

    Parameters
    ----------
    w : array_like of int, shape (..., R, C)
        Stored weights ``w'`` of a tile in crossbar orientation (row r, column c), N bits.
    spec : constraints.CrossbarRecord

    Returns
    -------
    np.ndarray of int64, shape (..., R, C_phys)
        Levels ``0 .. 2^b − 1``.
    """
    spec = _spec(spec)
    w = check_range("w", as_int_array("w", w), *spec.weight_range)
    if w.ndim < 2 or w.shape[-2:] != (spec.rows, spec.cols):
        raise ValueError(f"w.shape={w.shape} is out of range; allowed: "
                         f"(..., {spec.rows}, {spec.cols}) (rows, cols)")
    if spec.weight_encoding == "offset":
        planes = [w + spec.weight_offset]
    else:
        planes = [np.maximum(w, 0), np.maximum(-w, 0)]
    b = spec.cell_bits
    out = np.empty(w.shape + (spec.slices, spec.polarities), dtype=np.int64)
    for s, width in enumerate(spec.slice_widths):
        for e, g in enumerate(planes):
            out[..., s, e] = (g >> (s * b)) & ((1 << width) - 1)
    return out.reshape(w.shape[:-1] + (spec.phys_cols,))


def decode_levels(levels, spec):
    """Inverse of :func:`encode_weights`: ``w' = Σ_s 2^(s·b)·(L⁺ − L⁻) − G``.

    Parameters
    ----------
    levels : array_like of int, shape (..., R, C_phys)
    spec : constraints.CrossbarRecord

    Returns
    -------
    np.ndarray of int64, shape (..., R, C)
    """
    spec = _spec(spec)
    lv = check_range("levels", as_int_array("levels", levels), 0, (1 << spec.cell_bits) - 1)
    if lv.ndim < 2 or lv.shape[-1] != spec.phys_cols:
        raise ValueError(f"levels.shape={lv.shape} is out of range; allowed: "
                         f"(..., R, {spec.phys_cols})")
    lv = lv.reshape(lv.shape[:-1] + (spec.cols, spec.slices, spec.polarities))
    weights = np.array([1 << (s * spec.cell_bits) for s in range(spec.slices)], dtype=np.int64)
    mag = (lv * weights[:, None]).sum(axis=-2)
    w = mag[..., 0] - (mag[..., 1] if spec.polarities == 2 else 0)
    return w - spec.weight_offset


# ---------------------------------------------------------------------------------------
# inputs → DAC phases

def input_phases(x, spec):
    """DAC codes of each phase: ``d_p[r] = (pattern_r >> lsb_p) & (2^width_p − 1)``.

    ``pattern = (x + A) mod 2^N`` with A = 2^(N−1) for signed inputs in ``offset`` encoding
    (else 0). Phases cover the pattern from the LSB in v-bit digits. For signed inputs in
    ``twos_complement`` the N−1 magnitude bits are split that way and the sign bit is a
    phase of its own that drives ``2^(v−1)`` (the DAC's MSB) on the rows whose input is
    negative, with weight ``−2^(N−v)``; so ``Σ_p ω_p·d_p = x + A`` exactly
    (:attr:`constraints.CrossbarRecord.phase_weights`).

    Parameters
    ----------
    x : array_like of int, shape (..., R)
        N-bit inputs (``input_signed``).
    spec : constraints.CrossbarRecord

    Returns
    -------
    np.ndarray of int64, shape (P, ..., R)
        Codes ``0 .. 2^v − 1``.
    """
    spec = _spec(spec)
    x = check_range("x", as_int_array("x", x), *spec.input_range)
    if x.ndim < 1 or x.shape[-1] != spec.rows:
        raise ValueError(f"x.shape={x.shape} is out of range; allowed: (..., {spec.rows})")
    pattern = (x + spec.input_offset) & ((1 << spec.input_bits) - 1)
    digits = [(pattern >> lo) & ((1 << width) - 1) for lo, width in spec.phase_bits]
    if spec.sign_phase:
        digits[-1] = digits[-1] * spec.sign_code
    return np.stack(digits)


def _dac_codes(d, spec):
    d = as_int_array("d", d)
    check_range("d", d, 0, (1 << spec.dac_bits) - 1)
    if d.ndim < 1 or d.shape[-1] != spec.rows:
        raise ValueError(f"d.shape={d.shape} is out of range; allowed: (..., {spec.rows})")
    return d


# ---------------------------------------------------------------------------------------
# the analog macro

def column_sums(d, levels):
    """Ideal column sums ``Y[..., j] = Σ_r d[..., r]·L[r, j]`` (exact int64).

    Parameters
    ----------
    d : array_like of int, shape (..., R)
        DAC codes (any leading shape, e.g. the (P, ...) of :func:`input_phases`).
    levels : array_like of int, shape (R, C_phys)
        Cell levels of the tile (:func:`encode_weights`).

    Returns
    -------
    np.ndarray of int64, shape (..., C_phys)
        ``0 .. R·(2^v − 1)·(2^b − 1)``.
    """
    from golden.datapath import int_matmul

    d = check_range("d", as_int_array("d", d), 0, 2**16)
    levels = check_range("levels", as_int_array("levels", levels), 0, 2**16)
    if levels.ndim != 2 or d.ndim < 1 or d.shape[-1] != levels.shape[0]:
        raise ValueError(f"shapes d.shape={d.shape}, levels.shape={levels.shape} do not "
                         f"match; allowed: d (..., R) with levels (R, C_phys)")
    return int_matmul(d, levels)


def noise_streams(seed):
    """The three independent generators ``(program, read, adc_offset)`` of a seed."""
    seed = check_int("seed", seed, 0, _limits.SEED_MAX)
    return tuple(np.random.default_rng([seed, i]) for i in range(3))


def program_noise_fx(spec, noise):
    """Programming error of every cell in fixed point (``2^-16`` levels), int64.

    ``rint(program_sigma·(2^b − 1)·n·2^16)`` with ``n`` the standard normals
    ``default_rng([seed, 0]).standard_normal((T, R, C_phys))``; zeros without noise.

    Returns
    -------
    np.ndarray of int64, shape (T, R, C_phys)
    """
    spec, noise = _spec(spec), _noise(noise)
    shape = (spec.weight_tiles, spec.rows, spec.phys_cols)
    if noise.program_sigma == 0.0:
        return np.zeros(shape, dtype=np.int64)
    n = noise_streams(noise.seed)[0].standard_normal(shape)
    scale = noise.program_sigma * ((1 << spec.cell_bits) - 1) * 2.0**ANALOG_FRAC_BITS
    return np.rint(n * scale).astype(np.int64)


def adc_offsets_lsb(spec, noise):
    """Static offset of each physical column's ADC, in LSB (float64, shape (C_phys,)).

    ADC ``a`` draws ``adc_offset_sigma·n_a`` with ``n = default_rng([seed, 2])
    .standard_normal(C_phys / m)``; column j uses ADC ``j // m``.
    """
    spec, noise = _spec(spec), _noise(noise)
    if noise.adc_offset_sigma == 0.0:
        return np.zeros(spec.phys_cols)
    n = noise_streams(noise.seed)[2].standard_normal(spec.num_adcs)
    return np.repeat(noise.adc_offset_sigma * n, spec.cols_per_adc)


def read_noise_fx(d, normals, spec, noise):
    """Read noise of one conversion per physical column, fixed point, int64.

    ``rint(read_sigma·(2^b − 1)·sqrt(Σ_r d_r²)·n_j·2^16)``.

    Parameters
    ----------
    d : array_like of int, shape (..., R)
        DAC codes of the conversions.
    normals : array_like of float, shape (..., C_phys)
        Standard normals, drawn from ``noise_streams(seed)[1]`` in conversion order.
    spec : constraints.CrossbarRecord
    noise : CrossbarNoise
    """
    spec, noise = _spec(spec), _noise(noise)
    d = _dac_codes(d, spec)
    normals = as_float_array("normals", normals)
    if normals.shape != d.shape[:-1] + (spec.phys_cols,):
        raise ValueError(f"normals.shape={normals.shape} is out of range; allowed: "
                         f"{d.shape[:-1] + (spec.phys_cols,)}")
    energy = np.sqrt((d * d).sum(axis=-1).astype(np.float64))[..., None]
    scale = noise.read_sigma * ((1 << spec.cell_bits) - 1) * 2.0**ANALOG_FRAC_BITS
    return np.rint(normals * (energy * scale)).astype(np.int64)


def column_values(d, levels, spec, *, program_fx=None, read_fx=None):
    """Analog column values in fixed point (``2^-16`` column units), int64.

    ``y_fx = Σ_r d_r·(L_rj·2^16 + ε_rj) + ρ_j`` with ε the programming error of the cells
    (:func:`program_noise_fx` of the tile) and ρ the read noise (:func:`read_noise_fx`).
    Without noise ``y_fx = Y·2^16`` exactly.

    Parameters
    ----------
    d : array_like of int, shape (..., R)
    levels : array_like of int, shape (R, C_phys)
    spec : constraints.CrossbarRecord
    program_fx : array_like of int, shape (R, C_phys), optional
    read_fx : array_like of int, shape (..., C_phys), optional
    """
    from golden.datapath import int_matmul

    spec = _spec(spec)
    d = _dac_codes(d, spec)
    levels = check_range("levels", as_int_array("levels", levels), 0, (1 << spec.cell_bits) - 1)
    if levels.shape != (spec.rows, spec.phys_cols):
        raise ValueError(f"levels.shape={levels.shape} is out of range; allowed: "
                         f"({spec.rows}, {spec.phys_cols})")
    g = levels << ANALOG_FRAC_BITS
    if program_fx is not None:
        g = g + as_int_array("program_fx", program_fx)
    y = int_matmul(d, g)
    if read_fx is not None:
        y = y + as_int_array("read_fx", read_fx)
    return y


def adc_quantize(y, spec, *, offset_lsb=None, frac_bits=ANALOG_FRAC_BITS):
    """The ADC: round half up to the column's LSB, add the offset, clip to ``0 .. 2^B − 1``.

    ``code_j = clip(floor(y_j / 2^k_j + 1/2 + o_j), 0, 2^B − 1)`` computed exactly on the
    fixed-point value: ``(y_fx + rint(o_j·2^(k_j+f)) + 2^(k_j+f−1)) >> (k_j + f)`` (an
    arithmetic shift is the floor). With ``k_j = 0`` and integer sums (``frac_bits=0``)
    the code is the sum itself, clipped.

    Parameters
    ----------
    y : array_like of int, shape (..., C_phys)
        Column values in units of ``2^-frac_bits`` (:func:`column_values`), or ideal
        integer sums with ``frac_bits=0``.
    spec : constraints.CrossbarRecord
    offset_lsb : array_like of float, shape (C_phys,), optional
        ADC offset of each column in LSB (:func:`adc_offsets_lsb`).
    frac_bits : int
        ``0`` or ``ANALOG_FRAC_BITS``.

    Returns
    -------
    np.ndarray of int64, same shape as ``y``
    """
    spec = _spec(spec)
    frac_bits = check_int("frac_bits", frac_bits, 0, ANALOG_FRAC_BITS)
    y = as_int_array("y", y)
    if y.ndim < 1 or y.shape[-1] != spec.phys_cols:
        raise ValueError(f"y.shape={y.shape} is out of range; allowed: (..., {spec.phys_cols})")
    t = np.array(spec.adc_shift, dtype=np.int64) + frac_bits
    if offset_lsb is not None:
        off = as_float_array("offset_lsb", offset_lsb)
        if off.shape != (spec.phys_cols,):
            raise ValueError(f"offset_lsb.shape={off.shape} is out of range; allowed: "
                             f"({spec.phys_cols},)")
        y = y + np.rint(off * np.exp2(t.astype(np.float64))).astype(np.int64)
    half = np.where(t > 0, np.int64(1) << np.maximum(t - 1, 0), 0)
    code = (y + half) >> t
    return np.clip(code, 0, (1 << spec.adc_bits) - 1)


# ---------------------------------------------------------------------------------------
# digital reconstruction

def reconstruct(codes, x, w, spec, *, trim=0):
    """Digital back end: trim, LSB scale, slice and polarity combine, phase shift-and-add,
    encoding corrections, clamp.

    With ``e_j = code_j − trim_j`` and ``Ŷ_j = e_j·2^k_j``::

        Z[p, c] = Σ_s 2^(s·b)·(Ŷ[p, j(c,s,0)] − Ŷ[p, j(c,s,1)])   # 2nd term: differential
        U[c]    = Σ_p ω_p·Z[p, c]
        psum[c] = clamp(U[c] − G·Σ_r (x_r + A) − A·Σ_r w'[r, c], psum_range)

    For an ideal crossbar with a lossless ADC and zero trim, ``U = Σ_r (x_r + A)(w'_rc + G)``
    and ``psum = Σ_r x_r·w'_rc`` exactly; the clamp to the range an exact dot product can
    take (:attr:`constraints.CrossbarRecord.psum_range`) only ever removes error.

    Parameters
    ----------
    codes : array_like of int, shape (P, ..., C_phys)
        ADC codes of every phase.
    x : array_like of int, shape (..., R)
        The inputs (the digital side knows them: ``Σ_r x_r`` is an adder tree).
    w : array_like of int, shape (R, C)
        The tile's stored weights (``Σ_r w'_rc`` is computed when the tile is loaded).
    spec : constraints.CrossbarRecord
    trim : int or array_like of int, shape (C_phys,)
        Per-column ADC offset trim in codes, signed B bits.

    Returns
    -------
    np.ndarray of int64, shape (..., C)
    """
    spec = _spec(spec)
    codes = check_range("codes", as_int_array("codes", codes), 0, (1 << spec.adc_bits) - 1)
    x = check_range("x", as_int_array("x", x), *spec.input_range)
    w = check_range("w", as_int_array("w", w), *spec.weight_range)
    trim = check_range("trim", as_int_array("trim", trim), *spec.trim_range)
    if trim.shape not in ((), (spec.phys_cols,)):
        raise ValueError(f"trim.shape={trim.shape} is out of range; allowed: () or "
                         f"({spec.phys_cols},)")
    if w.shape != (spec.rows, spec.cols):
        raise ValueError(f"w.shape={w.shape} is out of range; allowed: ({spec.rows}, {spec.cols})")
    lead = x.shape[:-1]
    if x.ndim < 1 or x.shape[-1] != spec.rows or codes.shape != (spec.phases,) + lead + (
            spec.phys_cols,):
        raise ValueError(f"shapes codes.shape={codes.shape}, x.shape={x.shape} do not match; "
                         f"allowed: codes (P={spec.phases}, ..., {spec.phys_cols}) with "
                         f"x (..., {spec.rows})")
    k = np.array(spec.adc_shift, dtype=np.int64)
    yhat = (codes - trim) << k
    yhat = yhat.reshape(codes.shape[:-1] + (spec.cols, spec.slices, spec.polarities))
    if spec.polarities == 2:
        yhat = yhat[..., 0] - yhat[..., 1]
    else:
        yhat = yhat[..., 0]
    sw = np.array([1 << (s * spec.cell_bits) for s in range(spec.slices)], dtype=np.int64)
    z = (yhat * sw).sum(axis=-1)                                   # (P, ..., C)
    pw = np.array(spec.phase_weights, dtype=np.int64)
    u = np.tensordot(pw, z, axes=(0, 0))                           # (..., C)
    a_sum = (x + spec.input_offset).sum(axis=-1)[..., None]
    w_sum = w.sum(axis=0)
    psum = u - spec.weight_offset * a_sum - spec.input_offset * w_sum
    return np.clip(psum, *spec.psum_range)


# ---------------------------------------------------------------------------------------
# one tile, one layer

def crossbar_psums(x, w, spec, *, trim=0):
    """Ideal crossbar (no noise) of one tile: encode, phases, column sums, ADC, reconstruct.

    Parameters
    ----------
    x : array_like of int, shape (..., R)
    w : array_like of int, shape (R, C)
        Stored weights ``w'`` in crossbar orientation.
    spec : constraints.CrossbarRecord
    trim : int or array_like of int, shape (C_phys,)

    Returns
    -------
    np.ndarray of int64, shape (..., C)
        Equal to ``x @ w`` when ``spec.lossless`` and ``trim == 0``.
    """
    spec = _spec(spec)
    d = input_phases(x, spec)
    y = column_sums(d, encode_weights(w, spec))
    codes = adc_quantize(y, spec, frac_bits=0)
    return reconstruct(codes, x, w, spec, trim=trim)


def _layer(x, w, spec):
    x = check_range("x", as_int_array("x", x), *spec.input_range)
    w = check_range("w", as_int_array("w", w), *spec.weight_range)
    if w.ndim != 2 or w.shape[0] != spec.cols or x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"shapes x.shape={x.shape}, w.shape={w.shape} do not match; "
                         f"allowed: x (..., K) with w ({spec.cols}, K)")
    k = w.shape[1]
    chunks = max(1, -(-k // spec.rows))
    pad = chunks * spec.rows - k
    lead = x.shape[:-1]
    xt = np.pad(x.reshape(-1, k), ((0, 0), (0, pad))).reshape(-1, chunks, spec.rows)
    wt = np.pad(w, ((0, 0), (0, pad))).reshape(spec.cols, chunks, spec.rows).transpose(1, 2, 0)
    return xt, wt, lead                     # (B, chunks, R), (chunks, R, C)


def exact_layer_psums(x, w, spec):
    """Exact partial sums of the hardware schedule: ``psum[i] = x[tile i] @ w'[tile i]``.

    Parameters
    ----------
    x : array_like of int, shape (..., K)
    w : array_like of int, shape (C, K)
        Stored weights ``w'`` (the ``golden.datapath`` orientation).
    spec : constraints.CrossbarRecord

    Returns
    -------
    np.ndarray of int64, shape (chunks, ..., C)
    """
    from golden.datapath import int_matmul

    spec = _spec(spec)
    xt, wt, lead = _layer(x, w, spec)
    ps = int_matmul(xt.transpose(1, 0, 2), wt)                     # (chunks, B, C)
    return ps.reshape((ps.shape[0],) + lead + (spec.cols,))


def crossbar_layer_psums(x, w, spec, *, noise=None, trim=0, read_rng=None,
                         return_codes=False):
    """Partial sums of a layer through the crossbar, in the hardware schedule.

    ``K`` is split into ``ceil(K / R)`` chunks (zero-padded); chunk i is held in weight
    tile ``i mod T`` (``T = spec.weight_tiles``; the programming error is a per-cell
    pattern, so reloading a tile does not change it). Conversions happen vector by vector (flattened
    leading axes, C order), within a vector chunk by chunk, within a chunk phase by phase
    (the order of ``CrossbarDatapath`` beats when a driver streams each vector's chunks
    together); read noise is drawn in that order, ``C_phys`` normals per phase, so
    ``tb/crossbar_model.py`` driven by the hardware reproduces it exactly.

    Parameters
    ----------
    x : array_like of int, shape (..., K)
    w : array_like of int, shape (C, K)
        Stored weights ``w'``.
    spec : constraints.CrossbarRecord
    noise : CrossbarNoise, optional
    trim : int or array_like of int, shape (C_phys,)
    read_rng : numpy.random.Generator, optional
        Where read-noise normals come from; default a fresh ``noise_streams(seed)[1]``.
        Pass one generator to successive calls to continue one stream across several
        layers or column tiles (in the order the hardware runs them).
    return_codes : bool
        Also return the ADC codes, shape ``(B, chunks, P, C_phys)``.

    Returns
    -------
    np.ndarray of int64, shape (chunks, ..., C)  [, codes]
    """
    spec, noise = _spec(spec), _noise(noise)
    xt, wt, lead = _layer(x, w, spec)
    nvec, chunks = xt.shape[0], xt.shape[1]
    levels = encode_weights(wt, spec)                              # (chunks, R, C_phys)
    prog = program_noise_fx(spec, noise)
    offset = adc_offsets_lsb(spec, noise) if noise.adc_offset_sigma else None
    d = np.moveaxis(input_phases(xt, spec), 0, 2)                  # (B, chunks, P, R)
    y = np.empty((nvec, chunks, spec.phases, spec.phys_cols), dtype=np.int64)
    for i in range(chunks):
        y[:, i] = column_values(d[:, i], levels[i], spec,
                                program_fx=prog[i % spec.weight_tiles])
    if noise.read_sigma:
        rng = noise_streams(noise.seed)[1] if read_rng is None else read_rng
        normals = rng.standard_normal(y.shape)
        y += read_noise_fx(d, normals, spec, noise)
    codes = adc_quantize(y, spec, offset_lsb=offset)
    psums = np.stack([
        reconstruct(np.moveaxis(codes[:, i], 1, 0), xt[:, i], wt[i], spec, trim=trim)
        for i in range(chunks)])                                   # (chunks, B, C)
    psums = psums.reshape((chunks,) + lead + (spec.cols,))
    return (psums, codes) if return_codes else psums


def crossbar_datapath_model(x, w, bias, *, spec, acc_bits, overflow, m0, shift, y_zp,
                            act_min, act_max, rounding="double", noise=None, trim=0,
                            read_rng=None):
    """``CrossbarDatapath`` model: crossbar partial sums, then the MAC path's accumulate and
    requantize (:func:`golden.datapath.accumulate`, :func:`golden.datapath.requantize`).

    With ``spec.lossless``, no noise and zero trim this equals
    :func:`golden.datapath.datapath_model` bit for bit.

    Parameters
    ----------
    x : array_like of int, shape (..., K)
    w : array_like of int, shape (C, K)
        Stored weights ``w'`` (after :func:`golden.datapath.fold_zero_points`).
    bias : array_like of int, shape (C,) or (), or None
        Folded ``bias'``.
    spec : constraints.CrossbarRecord
    acc_bits, overflow, m0, shift, y_zp, act_min, act_max, rounding
        As in :func:`golden.datapath.datapath_model`.
    noise : CrossbarNoise, optional
    trim : int or array_like of int, shape (C_phys,)
    read_rng : numpy.random.Generator, optional
        See :func:`crossbar_layer_psums`.

    Returns
    -------
    (y, ovf, psums)
        Outputs (int64, shape (..., C)), overflow flags (bool, same shape) and the
        crossbar partial sums (int64, shape (chunks, ..., C)).
    """
    from golden.datapath import accumulate, requantize

    psums = crossbar_layer_psums(x, w, spec, noise=noise, trim=trim, read_rng=read_rng)
    if bias is None:
        bias = 0
    acc, ovf = accumulate(psums, bias=bias, acc_bits=acc_bits, overflow=overflow)
    y = requantize(acc, m0=m0, shift=shift, y_zp=y_zp, act_min=act_min, act_max=act_max,
                   rounding=rounding)
    return y, ovf, psums


def crossbar_layer_model(x, w, bias, *, spec, acc_bits, overflow, m0, shift, y_zp,
                         act_min, act_max, rounding="double", noise=None, trim=0,
                         read_rng=None):
    """A layer with any number of output channels ``C``, column tile by column tile.

    The hardware runs ``C > spec.cols`` as ``ceil(C / cols)`` column tiles, reloading the
    same crossbar tiles with the next columns' weights (README "The datapath"). So: pad
    ``w`` with zero rows to whole tiles (padded lanes: ``w' = bias' = 0`` and, per channel,
    ``m0 = shift = 0``), run :func:`crossbar_datapath_model` on each column tile in order
    — the programming error is the cells' fixed pattern, the same for every column tile;
    one read-noise stream continues across the tiles (default: a fresh
    ``noise_streams(noise.seed)[1]``) — and keep the real lanes.

    Parameters
    ----------
    x : array_like of int, shape (..., K)
    w : array_like of int, shape (C, K)
        Stored weights ``w'``, any ``C >= 1``.
    bias : array_like of int, shape (C,) or (), or None
    spec, acc_bits, overflow, y_zp, act_min, act_max, rounding, noise, trim
        As :func:`crossbar_datapath_model`.
    m0, shift : int or array_like of int, shape () or (C,)
    read_rng : numpy.random.Generator, optional

    Returns
    -------
    (y, ovf, psums)
        Shapes ``(..., C)``, ``(..., C)`` and ``(chunks, ..., C)``.
    """
    spec, noise = _spec(spec), _noise(noise)
    w = as_int_array("w", w)
    if w.ndim != 2 or w.shape[0] < 1:
        raise ValueError(f"w.shape={w.shape} is out of range; allowed: (C, K) with C >= 1")
    c, cols = w.shape[0], spec.cols
    tiles = -(-c // cols)
    wp = np.zeros((tiles * cols, w.shape[1]), dtype=np.int64)
    wp[:c] = w
    bias = np.zeros(c, np.int64) if bias is None else as_int_array("bias", bias)
    bp = np.zeros(tiles * cols, np.int64)
    bp[:c] = np.broadcast_to(bias, (c,))
    m0, shift = as_int_array("m0", m0), as_int_array("shift", shift)
    per_channel = m0.ndim > 0 or shift.ndim > 0
    if per_channel:
        m0p, shp = np.zeros(tiles * cols, np.int64), np.zeros(tiles * cols, np.int64)
        m0p[:c], shp[:c] = np.broadcast_to(m0, (c,)), np.broadcast_to(shift, (c,))
    if read_rng is None and noise.read_sigma:
        read_rng = noise_streams(noise.seed)[1]
    ys, ovfs, ps = [], [], []
    for t in range(tiles):
        cs = slice(t * cols, (t + 1) * cols)
        y, ovf, psums = crossbar_datapath_model(
            x, wp[cs], bp[cs], spec=spec, acc_bits=acc_bits, overflow=overflow,
            m0=m0p[cs] if per_channel else m0, shift=shp[cs] if per_channel else shift,
            y_zp=y_zp, act_min=act_min, act_max=act_max, rounding=rounding, noise=noise,
            trim=trim, read_rng=read_rng)
        ys.append(y)
        ovfs.append(ovf)
        ps.append(psums)
    cat = np.concatenate
    return cat(ys, axis=-1)[..., :c], cat(ovfs, axis=-1)[..., :c], cat(ps, axis=-1)[..., :c]


def error_report(exact, estimate):
    """Error of a crossbar result against the exact integer result.

    ``sqnr_db = 10·log10(mean(exact²) / mean((exact − estimate)²))`` (+inf when exact),
    ``effective_bits = (sqnr_db − 1.76) / 6.02`` (:mod:`golden.metrics`), plus the mean
    squared, largest absolute and mean (bias) errors and the fraction of exact results.

    Parameters
    ----------
    exact, estimate : array_like of int, same shape, non-empty

    Returns
    -------
    dict
        ``sqnr_db``, ``effective_bits``, ``mse``, ``max_abs_error``, ``mean_error``,
        ``exact_fraction``, ``count``.
    """
    from golden.metrics import effective_bits, sqnr_db

    ex = as_int_array("exact", exact)
    es = as_int_array("estimate", estimate)
    if ex.shape != es.shape or ex.size == 0:
        raise ValueError(f"estimate.shape={es.shape} is out of range; allowed: "
                         f"exact.shape={ex.shape}, non-empty")
    err = (ex - es).astype(np.float64)
    s = sqnr_db(ex.astype(np.float64), es.astype(np.float64))
    return {
        "sqnr_db": s,
        "effective_bits": float(effective_bits(s)),
        "mse": float(np.mean(err * err)),
        "max_abs_error": float(np.max(np.abs(err))),
        "mean_error": float(np.mean(err)),
        "exact_fraction": float(np.mean(err == 0)),
        "count": int(ex.size),
    }

