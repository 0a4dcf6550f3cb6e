"""The area hierarchy's rules, written once and free of the database layer (maps import it):
the levels city → district → street → community → grid, their order, and their code lengths.

Codes nest by prefix: GB/T 2260's 6-digit district code, then 3 digits each for street,
community and grid; the city carries its 6-digit prefecture code. So "in this area" is a
prefix match, and an area's parent is its code cut to the parent level's length.
"""

from __future__ import annotations

import enum


class AreaLevel(str, enum.Enum):
    city = "city"
    district = "district"
    street = "street"
    community = "community"
    grid = "grid"

    @property
    def code_length(self) -> int:
        return CODE_LENGTH[self]


# Coarse to fine.
LEVEL_ORDER = [AreaLevel.city, AreaLevel.district, AreaLevel.street, AreaLevel.community, AreaLevel.grid]
CODE_LENGTH = {
    AreaLevel.city: 6,
    AreaLevel.district: 6,
    AreaLevel.street: 9,
    AreaLevel.community: 12,
    AreaLevel.grid: 15,
}
# The levels below the city (the maps' layers, stats, escalation), coarse to fine: each a
# distinct code prefix of a grid's code.
BELOW_CITY = LEVEL_ORDER[1:]
PREFIX_LENGTH = {level: CODE_LENGTH[level] for level in BELOW_CITY}
