"""hw/_amaranth_private.py: the private Amaranth detail qmac relies on still behaves as
assumed (an Amaranth upgrade that changes it fails here)."""

import gc
import warnings

import pytest
from amaranth.hdl import Elaboratable, Fragment, Module, UnusedElaboratable

from hw._amaranth_private import silence_unused_warning
from hw.dac_driver import DacDriver


class _Unused(Elaboratable):
    def elaborate(self, platform):
        return Module()


def _unused_warnings(silence: bool) -> list:
    # Amaranth reports unused elaboratables only once something was elaborated
    Fragment.get(_Unused(), platform=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        obj = _Unused()
        if silence:
            silence_unused_warning(obj)
        del obj
        gc.collect()
    return [w for w in caught if issubclass(w.category, UnusedElaboratable)]


def test_an_unused_elaboratable_warns():
    """The warning the shim suppresses exists (else the shim has nothing to do)."""
    assert len(_unused_warnings(silence=False)) == 1


def test_silenced_elaboratable_does_not_warn():
    assert _unused_warnings(silence=True) == []


def test_constructor_error_raises_without_unused_warning():
    """hw/_util.silent_on_error: a bad parameter is one ValueError and no extra warning."""
    Fragment.get(_Unused(), platform=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="dac_bits"):
            DacDriver(rows=2, bits=8, input_signed=True, dac_bits=0,
                      input_encoding="twos_complement", dac_settle_cycles=1, tile_bits=1,
                      tag_bits=1)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, UnusedElaboratable)]
