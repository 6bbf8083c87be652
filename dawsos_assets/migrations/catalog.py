"""Catalog facts that migration conditions test: the state is read, never assumed."""

from __future__ import annotations

import psycopg

from dawsos_assets import errors
from dawsos_assets.errors import DawsosError


def _column(conn, table: str, column: str) -> bool:
    return conn.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' "
                        "AND table_name = %s AND column_name = %s", (table, column)).fetchone() is not None


def _fact(conn: psycopg.Connection, kind: str, argument: str, policy: str) -> bool:
    if kind == "policy":
        return argument == policy
    if kind == "table":
        qualified = argument if "." in argument else f"public.{argument}"
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,)).fetchone()[0]
    if kind == "schema":
        return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (argument,)).fetchone() is not None
    if kind == "column":
        table, column = argument.split(".")
        return _column(conn, table, column)
    if kind == "columns":
        table, names = argument.split(".")
        return all(_column(conn, table, name) for name in names.split("+"))
    if kind == "function":
        return conn.execute("SELECT 1 FROM pg_proc WHERE proname = %s AND pronamespace = 'public'::regnamespace",
                            (argument,)).fetchone() is not None
    if kind == "constraint":
        table, name = argument.split(".")
        return conn.execute("SELECT 1 FROM pg_constraint WHERE conname = %s AND conrelid = to_regclass(%s)",
                            (name, f"public.{table}")).fetchone() is not None
    if kind in ("index", "valid_index"):
        row = conn.execute("SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
                           "WHERE c.relname = %s AND c.relnamespace = 'public'::regnamespace", (argument,)).fetchone()
        return row is not None and (kind == "index" or row[0])
    if kind in ("fk", "valid_fk"):
        table, column = argument.split(".")
        row = conn.execute("""
            SELECT bool_or(c.convalidated) FROM pg_constraint c
              JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             WHERE c.contype = 'f' AND c.conrelid = to_regclass(%s) AND a.attname = %s""",
                           (f"public.{table}", column)).fetchone()
        return row[0] is not None and (kind == "fk" or row[0])
    raise DawsosError(errors.MIGRATION_FILE_INVALID, f"unknown condition kind '{kind}'",
                      "use column, columns, table, function, constraint, index, valid_index, fk, valid_fk, schema or policy")


def holds(conn: psycopg.Connection, condition: str, policy: str = "placeholder") -> bool:
    negated = condition.startswith("!")
    kind, _, argument = condition.lstrip("!").partition(":")
    return _fact(conn, kind, argument, policy) != negated


def failing(conn: psycopg.Connection, conditions: list[str], policy: str = "placeholder") -> list[str]:
    return [c for c in conditions if not holds(conn, c, policy)]
