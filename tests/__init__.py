"""The qmac test suite, laid out like the code it tests.

* ``tests/<package>/test_<module>.py`` tests ``<package>/<module>.py`` (``hw``, ``golden``,
  ``sim``, ``tb``; ``tests/examples/test_<script>.py`` runs ``examples/<script>.py``). A
  module with several test files names them ``test_<module>_<aspect>.py``
  (``tests/hw/test_generate_lint.py``); a leading underscore of a private module is dropped
  (``tests/hw/test_util.py`` tests ``hw/_util.py``). ``tests/test_layout.py`` checks this.
* ``tests/helpers/`` holds the code the tests share (independent references, Amaranth and
  HDL-simulator harnesses, seeded RNGs); nothing in it is collected by pytest.
* ``tests/tb/cocotb_*.py`` are cocotb test modules run inside a simulator (through
  ``sim/runner.py``), never by pytest; so are the testbenches ``tb/cocotb_*.py``.
* ``tests/data/`` holds frozen vectors.
* ``tests/test_layering.py`` and ``tests/test_layout.py`` check the tree as a whole.

Every directory is a package, so test files in different packages may share a basename
(``tests/hw/test_datapath.py``, ``tests/golden/test_datapath.py``).
"""
