"""What the two datapath tops (``Datapath``, ``CrossbarDatapath``) have in common: their
parameter checks, stream layouts and the shared part of their ``describe()``.

One definition, so the MAC-array top and the crossbar top cannot drift apart in the
parameters they accept, the beats on their streams, or what the manifest says about them.
The limits are the contract's (``constraints/limits.py``); :func:`from_record` builds a top
from a ``constraints.DatapathRecord`` and checks the top's own derived widths against it.
"""

from amaranth.hdl import unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from constraints import derive, limits
from constraints.loadmap import REGION_BITS

from ._util import check_array, check_bool, check_choice, check_int, silent_on_error
from .accumulator_bank import OVERFLOW_POLICIES
from .requant_stage import REGIONS
from .requant_stage import address_map as requant_address_map
from .requantizer import ROUNDINGS

__all__ = ["COMMON_PARAMETERS", "check_common", "load_widths", "stream_members",
           "describe_common", "check_against", "from_record"]

#: The keyword parameters every datapath top takes (besides its own).
#: (``bits`` is the shorthand for ``input_bits = weight_bits``: ``None`` in ``describe()``
#: when they differ.)
COMMON_PARAMETERS = ("bits", "input_bits", "weight_bits", "input_signed", "weight_signed",
                     "rows", "cols", "weight_tiles", "acc_bits", "overflow", "out_bits",
                     "out_signed", "rounding", "per_channel")


def check_common(top, *, bits=None, input_bits=None, weight_bits=None, input_signed,
                 weight_signed, rows, cols, weight_tiles, acc_bits, overflow, out_bits,
                 out_signed, rounding, per_channel):
    """Validate the :data:`COMMON_PARAMETERS` and store them on ``top`` (errors name the
    top's class, the parameter, the bad value and what is allowed); ``acc_bits`` is at
    least ``input_bits + weight_bits``."""
    check_array(top, bits=bits, input_bits=input_bits, weight_bits=weight_bits,
                input_signed=input_signed, weight_signed=weight_signed,
                rows=rows, cols=cols, weight_tiles=weight_tiles)
    owner = type(top).__name__
    top.acc_bits = check_int(owner, "acc_bits", acc_bits, top.input_bits + top.weight_bits,
                             limits.ACC_BITS_MAX)
    top.overflow = check_choice(owner, "overflow", overflow, OVERFLOW_POLICIES)
    top.out_bits = check_int(owner, "out_bits", out_bits, limits.OUT_BITS_MIN,
                             limits.OUT_BITS_MAX)
    top.out_signed = check_bool(owner, "out_signed", out_signed)
    top.rounding = check_choice(owner, "rounding", rounding, ROUNDINGS)
    top.per_channel = check_bool(owner, "per_channel", per_channel)


def load_widths(top, phys_cols=0):
    """Set ``INDEX_BITS``, ``ADDR_BITS``, ``LOAD_DATA_BITS``, ``TILE_BITS`` of ``top`` (the
    contract's formulas, ``constraints/derive.py``); ``phys_cols`` of a crossbar top."""
    top.INDEX_BITS = derive.index_bits(top.weight_tiles, top.cols, phys_cols)
    top.ADDR_BITS = top.INDEX_BITS + REGION_BITS
    top.LOAD_DATA_BITS = derive.load_data_bits(top.rows, top.weight_bits, top.acc_bits)
    top.TILE_BITS = derive.tile_bits(top.weight_tiles)


def check_against(top, record):
    """Raise ``ValueError`` when a width ``top`` derived itself differs from the
    configuration record's (``record.expected_widths()``)."""
    for name, want in record.expected_widths().items():
        got = getattr(top, name)
        if got != want:
            raise ValueError(f"{type(top).__name__}: {name}={got!r} differs from the "
                             f"configuration record's {want!r} ({record.name})")
    return top


def from_record(cls, record, **extra):
    """``cls(**record.top_parameters(), **extra)``, checked with :func:`check_against` (a
    refused top is not also reported as never used)."""
    top = cls(**record.top_parameters(), **extra)
    silent_on_error(check_against)(top, record)
    return top


def stream_members(top):
    """Set ``top.LoadBeat``, ``DataBeat``, ``OutBeat`` (from ``ADDR_BITS``,
    ``LOAD_DATA_BITS``, ``TILE_BITS`` and the common parameters) and return the signature
    members ``i_load``, ``i_data``, ``o_data``, ``o_ovf_sticky``."""
    top.LoadBeat = data.StructLayout({
        "addr": unsigned(top.ADDR_BITS),
        "data": unsigned(top.LOAD_DATA_BITS),
    })
    top.DataBeat = data.StructLayout({
        "x": unsigned(top.rows * top.input_bits),
        "tile": unsigned(top.TILE_BITS),
        "first": unsigned(1),
        "last": unsigned(1),
    })
    top.OutBeat = data.StructLayout({
        "y": unsigned(top.cols * top.out_bits),
        "ovf": unsigned(top.cols),
    })
    return {
        "i_load": In(stream.Signature(top.LoadBeat)),
        "i_data": In(stream.Signature(top.DataBeat)),
        "o_data": Out(stream.Signature(top.OutBeat)),
        "o_ovf_sticky": Out(top.cols),
    }


def layout_fields(layout):
    """``{field: {offset, width}}`` of a ``StructLayout`` (manifest payloads)."""
    return {name: {"offset": f.offset, "width": f.width} for name, f in layout}


def describe_common(top, *, parameters, timing, extra, regions, payloads):
    """The manifest summary of a top: its common parameters followed by ``parameters``, the
    latency, ``timing`` (throughput and such), widths, ``extra`` sections, the address map
    (``WEIGHTS``, the :class:`~hw.requant_stage.RequantStage` regions, then ``regions``) and
    the payload layouts (``i_load``, ``i_data``, ``o_data``, then ``payloads``)."""
    return {
        "top": type(top).__name__,
        "parameters": {**{p: getattr(top, p) for p in COMMON_PARAMETERS}, **parameters},
        "latency": top.LATENCY,
        "latency_breakdown": dict(top.latency_breakdown),
        **timing,
        "psum_bits": top.psum_bits,
        "acc_bits": top.acc_bits,
        "out_bits": top.out_bits,
        "addr_bits": top.ADDR_BITS,
        "index_bits": top.INDEX_BITS,
        "load_data_bits": top.LOAD_DATA_BITS,
        "tile_bits": top.TILE_BITS,
        **extra,
        "address_map": {
            "WEIGHTS": {"region": REGIONS["WEIGHTS"], "index": "tile*C + col",
                        "entries": top.weight_tiles * top.cols,
                        "data": f"w'[r] at bits r*{top.weight_bits}"},
            **requant_address_map(cols=top.cols, acc_bits=top.acc_bits, out_bits=top.out_bits,
                                  out_signed=top.out_signed, per_channel=top.per_channel),
            **regions,
        },
        "payloads": {
            "i_load": layout_fields(top.LoadBeat),
            "i_data": layout_fields(top.DataBeat),
            "o_data": layout_fields(top.OutBeat),
            **{name: layout_fields(layout) for name, layout in payloads.items()},
        },
    }
