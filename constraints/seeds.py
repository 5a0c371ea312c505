"""The one seeding policy of every random test: a base seed from ``QMAC_SEED`` (default
:data:`DEFAULT_SEED`), printed, plus a stable salt per use.

Dependency-free: :func:`seed_key` returns the entropy list that callers hand to
``numpy.random.default_rng``; :func:`make_rng` does that when NumPy is importable.
"""

import os
import zlib

__all__ = ["DEFAULT_SEED", "SEED_ENV", "base_seed", "seed_key", "make_rng"]

SEED_ENV = "QMAC_SEED"
DEFAULT_SEED = 20261122


def base_seed(default=DEFAULT_SEED):
    """``int(QMAC_SEED)`` when set (and not empty), else ``default``."""
    value = os.environ.get(SEED_ENV)
    return int(value) if value not in (None, "") else int(default)


def seed_key(seed, *salt):
    """``[seed, crc32(repr(salt))]``: a reproducible entropy list (unlike ``hash()``, CRC32
    does not change from one process to the next). Salts may be str/int/bool/tuples."""
    return [int(seed), zlib.crc32(repr(salt).encode())]


def make_rng(*salt, seed=None, quiet=False):
    """``numpy.random.Generator`` from :func:`base_seed` (or ``seed``) and ``salt``; prints
    ``QMAC_SEED=<seed>`` (pytest shows it with a failure) unless ``quiet``."""
    import numpy as np     # only the caller's environment needs NumPy
    seed = base_seed() if seed is None else int(seed)
    if not quiet:
        print(f"{SEED_ENV}={seed} (salt {salt!r})")
    return np.random.default_rng(seed_key(seed, *salt))
