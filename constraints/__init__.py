"""The configuration contract of qmac: one field table, one set of limits, the option
vocabularies, the frozen parameter records with every derived value, the load address map,
the range and seeding helpers. Dependency-free (standard library only); ``hw``, ``golden``,
``tb`` and ``sim`` may all import it and it imports none of them.

``constraints/SCHEMA.md`` is generated from :data:`FIELDS` (``python -m constraints.schema
--write``).
"""

from . import derive, limits
from .fields import DERIVED, FIELDS, SECTIONS, TOP_LEVEL, ContractError, Field, field, show
from .loadmap import (CROSSBAR_REGIONS, GAP_BITS, KIND_BITS, KIND_NAMES, KINDS, LANE_BITS,
                      REGION_BITS, REGIONS, SCALAR_INDEX, decode_load, encode_load, pack_lanes)
from .ranges import ceil_log2, dot_product_bits, exact_max_depth, int_range, signed_width_for
from .records import CrossbarRecord, DatapathRecord, MixedWidthsError, PortWidths, common_bits
from .seeds import DEFAULT_SEED, SEED_ENV, base_seed, make_rng, seed_key
from .vocab import (FULL_SCALE_AUTO, INPUT_ENCODINGS, OVERFLOW_POLICIES, PIPELINES, ROUNDINGS,
                    WEIGHT_ENCODINGS)

__all__ = [
    "derive", "limits",
    "DERIVED", "FIELDS", "SECTIONS", "TOP_LEVEL", "ContractError", "Field", "field", "show",
    "CROSSBAR_REGIONS", "GAP_BITS", "KIND_BITS", "KIND_NAMES", "KINDS", "LANE_BITS",
    "REGION_BITS", "REGIONS", "SCALAR_INDEX", "decode_load", "encode_load", "pack_lanes",
    "ceil_log2", "dot_product_bits", "exact_max_depth", "int_range", "signed_width_for",
    "CrossbarRecord", "DatapathRecord", "MixedWidthsError", "PortWidths", "common_bits",
    "DEFAULT_SEED", "SEED_ENV", "base_seed", "make_rng", "seed_key",
    "FULL_SCALE_AUTO", "INPUT_ENCODINGS", "OVERFLOW_POLICIES", "ROUNDINGS", "WEIGHT_ENCODINGS",
]
