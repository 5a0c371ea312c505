"""Tests of the scripts in ``examples/``, run as a user would (see ``tests/__init__.py``)."""
