"""Seeded random generators for the crossbar tests: ``QMAC_SEED`` (printed) plus a salt."""

from __future__ import annotations

import os
import zlib

import numpy as np

DEFAULT_SEED = 20261122


def make_rng(*salt) -> np.random.Generator:
    """Generator seeded from ``QMAC_SEED`` (default :data:`DEFAULT_SEED`) and a stable salt.

    The seed is printed (pytest shows it with a failure); rerun with ``QMAC_SEED=<seed>``.
    Salts may be strings/bools/ints: they are hashed with CRC32, which, unlike ``hash()``,
    does not change from one process to the next.
    """
    seed = int(os.environ.get("QMAC_SEED", DEFAULT_SEED))
    key = zlib.crc32(repr(salt).encode())
    print(f"QMAC_SEED={seed} (salt {salt!r})")
    return np.random.default_rng([seed, key])
