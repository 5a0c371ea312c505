"""Tests of ``sim/`` (see ``tests/__init__.py`` for the layout)."""
