"""Tests of ``hw/`` (see ``tests/__init__.py`` for the layout)."""
