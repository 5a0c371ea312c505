"""Seeded random generators for the crossbar tests: the contract's one seeding policy
(``QMAC_SEED``, printed, plus a stable salt; ``constraints/seeds.py``)."""

from constraints.seeds import DEFAULT_SEED, make_rng  # noqa: F401
