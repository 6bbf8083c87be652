"""Read what a DawsOS database looks like: which history it follows, which names, which keys, which defects."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import psycopg

from dawsos_assets import errors
from dawsos_assets.errors import DawsosError
from dawsos_assets.tables.standards import FOREIGN_KEYS, RENAMES


def require_tables(conn: psycopg.Connection, tables) -> None:
    """Say plainly that the database is not a DawsOS one (yet) instead of failing on the first missing table."""
    missing = [t for t in tables if conn.execute("SELECT to_regclass(%s) IS NULL", (f"public.{t}",)).fetchone()[0]]
    if missing:
        raise DawsosError(
            errors.DB_NOT_SEEDED,
            f"the database has no {', '.join(missing)} table(s): it holds no DawsOS data",
            "run `dawsos seed` (or `make demo`) first, or point DAWSOS_DATABASE_URL at a DawsOS database",
        )


def require_standard_names(conn: psycopg.Connection) -> None:
    """Patterns read the standard names; on a legacy database they would fail at their first query."""
    legacy = conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name = 'pricing_packs' AND column_name = 'date'"
    ).fetchone()
    if legacy:
        raise DawsosError(
            errors.DB_NOT_MIGRATED,
            "the database still has the legacy names (pricing_packs.date, …); patterns read the standard ones",
            "run `dawsos migrate apply` first",
        )


def columns(conn: psycopg.Connection, schema: str = "public") -> dict[str, list[str]]:
    """Table -> its column names in order, for every table of `schema`."""
    result: dict[str, list[str]] = {}
    for table, column in conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
        "ORDER BY table_name, ordinal_position",
        (schema,),
    ):
        result.setdefault(table, []).append(column)
    return result


def foreign_keys(conn: psycopg.Connection, validated_only: bool = False) -> set[tuple[str, str, str]]:
    """(table, column, parent table) of every single-column foreign key in `public` (only the validated ones, which
    are the ones that guarantee existing rows, with `validated_only`).
    """
    rows = conn.execute(
        """
        SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text
          FROM pg_constraint c
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace AND array_length(c.conkey, 1) = 1
           AND (c.convalidated OR NOT %s)""",
        (validated_only,),
    )
    return {(t, col, parent) for t, col, parent in rows}


@dataclass(frozen=True)
class Shape:
    """The forms the tables of a DawsOS database have right now, read from the catalog.

    `betas`, `shocks` and `audit_log` are None where the table is absent (the team dropped them on 2025-11-04);
    the lot-tracking columns carry 007's names (qty_*), the standard ones, or are absent (007 never ran).
    """

    columns: dict
    keys: frozenset

    @classmethod
    def read(cls, conn: psycopg.Connection) -> Shape:
        """The shape of the database `conn` is connected to."""
        return cls(columns(conn), frozenset((t, c) for t, c, _ in foreign_keys(conn)))

    def has(self, table: str, column: str | None = None) -> bool:
        """True when the table exists and, if a column is given, has that column."""
        return table in self.columns and (column is None or column in self.columns[table])

    def has_key(self, table: str, column: str) -> bool:
        """True when `table.column` has a foreign key."""
        return (table, column) in self.keys

    @property
    def open_column(self) -> str | None:
        """The lots column holding the open quantity (legacy or standard name), or None."""
        return next((c for c in ("qty_open", "quantity_open") if self.has("lots", c)), None)

    @property
    def original_column(self) -> str | None:
        """The lots column holding the original quantity (legacy or standard name), or None."""
        return next((c for c in ("qty_original", "quantity_original") if self.has("lots", c)), None)

    @property
    def lots_007(self) -> bool:
        """True when legacy migration 007 (lot quantity tracking) has run."""
        return self.open_column is not None

    @property
    def betas(self) -> str | None:
        """Form of position_factor_betas: long, wide or unified (None when the table is absent)."""
        betas = self.columns.get("position_factor_betas", [])
        return (
            "long"
            if "factor_name" in betas and "asof_date" not in betas
            else "wide"
            if "equity_beta" in betas
            else "unified"
            if "factor_name" in betas
            else None
        )

    @property
    def shocks(self) -> str | None:
        """Form of scenario_shocks: jsonb, unified or flat (None when the table is absent)."""
        shocks = self.columns.get("scenario_shocks", [])
        return (
            "jsonb"
            if "shock_definition" in shocks
            else "unified"
            if "extra_shocks" in shocks
            else "flat"
            if "shock_type" in shocks
            else None
        )

    @property
    def audit_log(self) -> str | None:
        """Shape of audit_log: a or b (None when the table is absent)."""
        audit = self.columns.get("audit_log", [])
        return "a" if "event_type" in audit else "b" if "action" in audit else None

    def describe(self) -> dict[str, object]:
        """The shape in a few fields, for reports and the seed manifest."""
        return {
            "lots_007": self.lots_007,
            "lot_columns": [self.open_column, self.original_column],
            "betas": self.betas,
            "shocks": self.shocks,
            "audit_log": self.audit_log,
        }


def variant_of(cols: dict[str, list[str]]) -> dict[str, object]:
    """Which of the incompatible legacy histories the database follows (None where a table is missing)."""
    shape = Shape(cols, frozenset())
    return {"lots_007": shape.lots_007, "betas": shape.betas, "shocks": shape.shocks, "audit_log": shape.audit_log}


def legacy_findings(conn: psycopg.Connection) -> dict:
    """Schema-level defects the plan names, read from the catalog (never assumed)."""
    cols = columns(conn)
    fks = foreign_keys(conn)
    lots_cols = cols.get("lots", [])
    quantity_names = [
        c for c in ("quantity", "qty_open", "qty_original", "quantity_open", "quantity_original") if c in lots_cols
    ]
    ledger = []
    if {"migration_number", "migration_name"} <= set(cols.get("migration_history", [])):
        numbers = Counter(n for (n,) in conn.execute("SELECT migration_number FROM migration_history"))
        ledger = [
            {
                "number": n,
                "migrations": [
                    name
                    for (name,) in conn.execute(
                        "SELECT migration_name FROM migration_history WHERE migration_number = %s ORDER BY 1", (n,)
                    )
                ],
            }
            for n, count in sorted(numbers.items())
            if count > 1
        ]
    return {
        "variant": variant_of(cols),
        "legacy_names": [r._asdict() for r in RENAMES if r.legacy in cols.get(r.table, [])],
        "lots_quantity_columns": quantity_names,
        "missing_foreign_keys": [
            fk._asdict() for fk in FOREIGN_KEYS if fk.table in cols and (fk.table, fk.column, fk.parent) not in fks
        ],
        "ledger_collisions": ledger,
    }
