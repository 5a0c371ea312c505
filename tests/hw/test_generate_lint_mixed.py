"""Separate operand widths: the MAC-array top generated and linted (``verilator
--lint-only``, default warnings, no waivers) for every (input_bits, weight_bits) in
2..16 × 2..16 on a tiny array.

CI runs a stratified subset — the four corners (2/16 × 2/16) and two points of the
anti-diagonal A + W = 18 — and the whole 225-point grid runs with ``QMAC_LONG=1`` (the
``long`` marker). In CI the diagonal A = W = 2..16 is generated and linted on the default
16×16 array, and W4A8, W8A4, W2A8 and the W4A8 crossbar as shipped configurations, by
``tests/sim/test_generate.py``.
Signedness, rounding, overflow policy and output width rotate over the points.
"""

import itertools

import pytest

from hw.datapath import Datapath
from hw.generate import generate_verilog
from tests.hw.test_generate_lint import lint, verilator_cmd  # noqa: F401 (fixture)

WIDTHS = range(2, 17)
SIGNS = ((True, True), (False, True), (True, False), (False, False))
ROUNDINGS = ("double", "single", "ruy")
ROWS, COLS, TILES = 2, 2, 2          # the widths are what varies; the array stays tiny

CORNERS = [(a, w) for a in (2, 16) for w in (2, 16)]
ANTI_DIAGONAL = [(5, 13), (11, 7)]
SUBSET = sorted(set(CORNERS + ANTI_DIAGONAL))
FULL = [p for p in itertools.product(WIDTHS, WIDTHS) if p not in SUBSET]


def config(a, w):
    """The tiny datapath of grid point (A, W): acc_bits = A + W + 4 (enough for R = 2 rows
    of any signedness), out_bits the input width."""
    i_s, w_s = SIGNS[(a + 3 * w) % 4]
    k = a * 17 + w
    return dict(input_bits=a, weight_bits=w, input_signed=i_s, weight_signed=w_s, rows=ROWS,
                cols=COLS, weight_tiles=TILES, acc_bits=a + w + 4,
                overflow=("wrap", "saturate")[k % 2], out_bits=a, out_signed=bool(k % 3),
                rounding=ROUNDINGS[k % 3], per_channel=bool(k % 5))


def _check(verilator_cmd, tmp_path, a, w):
    top = Datapath(**config(a, w))
    assert (top.input_bits, top.weight_bits) == (a, w)
    assert top.DataBeat.size == ROWS * a + 1 + 2 and top.LOAD_DATA_BITS == max(ROWS * w, 32,
                                                                               a + w + 4)
    path = tmp_path / "qmac_mixed.v"
    path.write_text(generate_verilog(top, name="qmac_mixed",
                                     header_lines=[f"mixed-width lint point A={a} W={w}"]))
    code, out = lint(verilator_cmd, path)
    assert code == 0 and "%Warning" not in out and "%Error" not in out, out


@pytest.mark.parametrize("a, w", SUBSET, ids=[f"A{a}W{w}" for a, w in SUBSET])
def test_mixed_widths_lint_clean_subset(verilator_cmd, tmp_path, a, w):
    _check(verilator_cmd, tmp_path, a, w)


@pytest.mark.long
@pytest.mark.parametrize("a, w", FULL, ids=[f"A{a}W{w}" for a, w in FULL])
def test_mixed_widths_lint_clean_full_grid(verilator_cmd, tmp_path, a, w):
    _check(verilator_cmd, tmp_path, a, w)


def test_grid_is_complete():
    """Subset and long grid together are every pair in 2..16 × 2..16, each once."""
    assert sorted(SUBSET + FULL) == sorted(itertools.product(WIDTHS, WIDTHS))
    assert set(CORNERS) <= set(SUBSET) and len(SUBSET) == 6
