"""Seeds of the random tests: the contract's one seeding policy (``QMAC_SEED``, printed,
plus a stable salt; ``constraints/seeds.py``)."""

from constraints.seeds import DEFAULT_SEED, SEED_ENV, base_seed, make_rng  # noqa: F401


def printed_seed(default: int) -> int:
    """``QMAC_SEED`` when set (not empty), else ``default``; printed as ``QMAC_SEED=<seed>``
    (pytest shows it with a failure, and the same value replays the test)."""
    seed = base_seed(default)
    print(f"{SEED_ENV}={seed}")
    return seed
