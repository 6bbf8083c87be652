"""How far a database is from the standard: the two percentages the plan tracks."""

import psycopg

from dawsos_assets.database.inspect import columns, foreign_keys
from dawsos_assets.tables.standards import FOREIGN_KEYS, RENAMES


def field_name_consistency(conn: psycopg.Connection) -> float:
    """Share of the plan's renamed fields that carry their standard name."""
    present = columns(conn)
    standard = sum(r.standard in present.get(r.table, []) for r in RENAMES)
    return 100.0 * standard / len(RENAMES)


def foreign_key_coverage(conn: psycopg.Connection) -> float:
    """Share of the references in the foreign-key map that a validated constraint enforces (a NOT VALID key does not
    vouch for the rows already there).
    """
    enforced = foreign_keys(conn, validated_only=True)
    return 100.0 * sum((fk.table, fk.column, fk.parent) in enforced for fk in FOREIGN_KEYS) / len(FOREIGN_KEYS)
