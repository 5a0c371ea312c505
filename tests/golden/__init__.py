"""Tests of ``golden/`` (see ``tests/__init__.py`` for the layout)."""
