"""Formal checks of the generated hardware (``qmac prove``, ``qmac equiv``, ``qmac mutate``).

* :mod:`sim.formal.reference` — reference models written from the arithmetic definitions
  (gemmlowp ``SaturatingRoundingDoublingHighMul`` / ``RoundingDivideByPOT``, TFLite single
  rounding, ruy's rounding right shift, the accumulator's wrap/saturate rule), as Amaranth
  netlists so a solver can compare them with the hardware for every input;
* :mod:`sim.formal.harness` — miters: hardware and reference side by side, one assertion
  per output;
* :mod:`sim.formal.tools` — Yosys / smtbmc / solver from the ``[formal]`` extra;
* :mod:`sim.formal.prove`, :mod:`sim.formal.equiv`, :mod:`sim.formal.mutate` — the commands.
"""
