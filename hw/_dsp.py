"""Registered multiplies for the deep pipeline (``timing.pipeline: deep``): either fabric
registers around an Amaranth ``*`` (``dsp=None``, the generic RTL every simulator runs) or,
for the ECP5 synthesis flow (``dsp="ecp5"``), one Lattice ``MULT18X18D`` primitive whose own
input and output registers hold the same values.

Yosys 0.70 ``synth_ecp5`` maps ``$mul`` to a combinational ``MULT18X18D`` and never packs
flip-flops into its ``REG_INPUTA``/``REG_INPUTB``/``REG_OUTPUT`` registers, so nextpnr times
every multiply as ``MULT18X18D_REGS_NONE`` (fabric register -> routing -> 18x18 multiplier ->
routing -> fabric register). With both input registers and the output register enabled on
``CLK0`` nextpnr times the cell as ``MULT18X18D_REGS_ALL``: the multiply lies between the
DSP's own registers.

Cycle behaviour of :func:`registered_product` (both variants): at a clock edge where
``ce_in`` is high the operands ``a`` and ``b`` are sampled; at an edge where ``ce_out`` is
high the product of the sampled operands is stored; the result is that stored product. The
registers have no reset (the primitive's ``RST0`` is tied low, ``GSR`` disabled): like the
fabric registers they replace (``reset_less``), they hold nothing meaningful until loaded.
``tests/hw/test_dsp.py`` simulates the ``ecp5`` variant (with the behavioural model
``tests/helpers/mult18x18d_model.v``, written from Lattice's sysDSP documentation) against
the generic one.
"""

from amaranth.hdl import ClockSignal, Const, Instance, Signal, signed, unsigned

from ._util import extend

__all__ = ["DSPS", "DSP_OPERAND_BITS", "registered_product", "check_dsp"]

#: ``dsp`` values: ``None`` (generic RTL) or a primitive family.
DSPS = (None, "ecp5")
#: Operand width of the ECP5 multiplier (signed 18x18 -> 36).
DSP_OPERAND_BITS = 18


def check_dsp(owner, dsp):
    """Return ``dsp`` if it is one of :data:`DSPS`, else raise ``ValueError``."""
    if dsp not in DSPS:
        allowed = ", ".join(repr(d) for d in DSPS)
        raise ValueError(f"{owner}: dsp={dsp!r} is out of range; allowed: {allowed}")
    return dsp


def _product_shape(a, b):
    """Shape of Amaranth's ``a * b`` (unsigned only when both operands are)."""
    sa, sb = a.shape(), b.shape()
    if not sa.signed and not sb.signed:
        return unsigned(len(a) + len(b))
    return signed(len(a) + len(b) + (0 if sa.signed and sb.signed else 1))


def _signed18(value):
    """``value`` sign- or zero-extended to the multiplier's signed 18 bits."""
    fits = len(value) + (0 if value.shape().signed else 1) <= DSP_OPERAND_BITS
    if not fits:
        raise ValueError(f"registered_product: a {value.shape()} operand does not fit the "
                         f"signed {DSP_OPERAND_BITS}-bit DSP operand")
    return extend(value, DSP_OPERAND_BITS)


def registered_product(m, a, b, *, ce_in, ce_out, name, dsp=None, a_q=None, b_q=None):
    """The registered product ``a·b`` (shape of Amaranth's ``a * b``), see the module doc.

    ``a_q`` / ``b_q`` (generic variant only): already registered copies of the operands
    (registers shared by several multipliers, loaded on ``ce_in``), used instead of new
    ones."""
    shape = _product_shape(a, b)
    if dsp is None:
        if a_q is None:
            a_q = Signal(a.shape(), name=f"{name}_a_q", reset_less=True)
            with m.If(ce_in):
                m.d.sync += a_q.eq(a)
        if b_q is None:
            b_q = Signal(b.shape(), name=f"{name}_b_q", reset_less=True)
            with m.If(ce_in):
                m.d.sync += b_q.eq(b)
        p_q = Signal(shape, name=f"{name}_q", reset_less=True)
        with m.If(ce_out):
            m.d.sync += p_q.eq(a_q * b_q)
        return p_q
    a18, b18 = _signed18(a), _signed18(b)
    p36 = Signal(2 * DSP_OPERAND_BITS, name=f"{name}_p")
    zero = Const(0, 1)
    ports = {f"i_A{i}": a18[i] for i in range(DSP_OPERAND_BITS)}
    ports.update({f"i_B{i}": b18[i] for i in range(DSP_OPERAND_BITS)})
    ports.update({f"i_C{i}": zero for i in range(DSP_OPERAND_BITS)})
    ports.update({f"o_P{i}": p36[i] for i in range(2 * DSP_OPERAND_BITS)})
    m.submodules[f"{name}_dsp"] = Instance(
        "MULT18X18D",
        p_REG_INPUTA_CLK="CLK0", p_REG_INPUTA_CE="CE0", p_REG_INPUTA_RST="RST0",
        p_REG_INPUTB_CLK="CLK0", p_REG_INPUTB_CE="CE0", p_REG_INPUTB_RST="RST0",
        p_REG_INPUTC_CLK="NONE", p_REG_PIPELINE_CLK="NONE",
        p_REG_OUTPUT_CLK="CLK0", p_REG_OUTPUT_CE="CE1", p_REG_OUTPUT_RST="RST0",
        p_GSR="DISABLED", p_RESETMODE="SYNC", p_MULT_BYPASS="DISABLED",
        p_CAS_MATCH_REG="FALSE", p_SOURCEB_MODE="B_SHIFT",
        i_SIGNEDA=Const(1, 1), i_SIGNEDB=Const(1, 1), i_SOURCEA=zero, i_SOURCEB=zero,
        i_CLK0=ClockSignal("sync"), i_CLK1=zero, i_CLK2=zero, i_CLK3=zero,
        i_CE0=ce_in, i_CE1=ce_out, i_CE2=zero, i_CE3=zero,
        i_RST0=zero, i_RST1=zero, i_RST2=zero, i_RST3=zero,
        **ports)
    value = p36[:shape.width]
    return value.as_signed() if shape.signed else value
