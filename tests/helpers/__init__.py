"""Code the tests share — not tests (pytest collects nothing here).

* :mod:`.fixedpoint_reference` — exact scalar references (Python ints, ``Fraction``) of
  ``golden/`` fixed-point, multiplier and datapath arithmetic;
* :mod:`.crossbar_reference` — an independent pure-Python model of the crossbar
  (docs/crossbar.md §2);
* :mod:`.crossbar_harness` — an Amaranth-simulator harness and layer builder for
  ``hw.crossbar_datapath.CrossbarDatapath``;
* :mod:`.hwsim` — Amaranth simulation, bit packing and a seeded RNG for the ``hw`` tests;
* :mod:`.seeding` — the seeded RNG of the crossbar tests;
* :mod:`.simulators` — HDL simulator availability (skip locally, fail under ``CI=true``).
"""
