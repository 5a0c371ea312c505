"""qmac cocotb testbenches (cocotb 2.1) and their building blocks.

Building blocks (no simulator needed to import the NumPy parts):

* :mod:`tb.hwparams` — the DUT's parameters and port layout (from ``QMAC_TB_PARAMS``);
* :mod:`tb.layers` — fully-connected layers: TFLite form, folded form, random generators;
* :mod:`tb.schedule` — layers → load/data beats for an R×C array with T weight tiles
  (:class:`~tb.schedule.CommandStream`, NumPy-vectorised, also the fast path's memory image);
* :mod:`tb.model` — expected outputs via ``golden/``; :mod:`tb.checker` — bit-exact
  lane-by-lane comparison with the inputs of the first mismatches;
* :mod:`tb.streams` — cycle-driven Driver and Monitor; :mod:`tb.fastpath` — the bulk path
  through ``tb/qmac_harness.sv``; :mod:`tb.env` — reset, run, check, record.
* crossbar tops (docs/crossbar.md): :mod:`tb.crossbar_model` — the behavioural analog macro
  (cells, ADCs, start/done handshake); :mod:`tb.xbar` — serves it on the harness's
  ``o_prog__*``/``dac_*``/``adc_*`` ports during a regression; :mod:`tb.xbar_cases` —
  trims, extreme operands, budgeted random layers. :mod:`tb.model` switches to
  ``golden.crossbar`` for them.

Testbenches (cocotb test modules, run inside a simulator by ``sim/runner.py``; named
``cocotb_*`` so that no one mistakes them for pytest files): ``cocotb_mac_array``,
``cocotb_accumulator``, ``cocotb_requantizer``, ``cocotb_datapath``, ``cocotb_protocol``
(``sim/regress.py``); for crossbar configurations ``cocotb_crossbar_layers``,
``cocotb_crossbar_adc``, ``cocotb_crossbar_latency``, ``cocotb_crossbar_backpressure``,
``cocotb_crossbar_vs_mac``; ``cocotb_verify`` serves ``qmac verify`` and ``cocotb_bench``
the speed measurements.
"""
