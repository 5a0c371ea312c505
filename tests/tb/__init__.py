"""Tests of ``tb/`` (see ``tests/__init__.py`` for the layout)."""
