"""Amaranth hardware of qmac: MAC array, accumulator bank, requantizer and the datapath top.

``hw`` takes plain keyword parameters and never imports ``golden`` or ``sim``
(``docs/design.md``).
"""

from .accumulator_bank import AccumulatorBank
from .datapath import Datapath
from .generate import generate_verilog
from .mac_array import MacArray
from .requant_stage import RequantStage
from .requantizer import Requantizer

__all__ = ["MacArray", "AccumulatorBank", "Requantizer", "RequantStage", "Datapath",
           "generate_verilog"]
