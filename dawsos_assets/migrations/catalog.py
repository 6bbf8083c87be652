"""Catalog facts that migration conditions test: the state is read, never assumed.

A condition is `kind:argument`, `!` negates it, and `a|b` holds when either alternative does (e.g. a target that
is met when a table is absent or has its key: `!table:migration_history|constraint:migration_history.uq_…`).
"""

from __future__ import annotations

from functools import partial

import psycopg

from dawsos_assets import errors
from dawsos_assets.errors import DawsosError

KINDS = (
    "column",
    "columns",
    "comment",
    "table",
    "function",
    "constraint",
    "index",
    "valid_index",
    "fk",
    "valid_fk",
    "schema",
    "policy",
)


def _column(conn, table: str, column: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = %s AND column_name = %s",
            (table, column),
        ).fetchone()
        is not None
    )


def _qualified(argument: str) -> str:
    return argument if "." in argument else f"public.{argument}"


def _table(conn: psycopg.Connection, argument: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (_qualified(argument),)).fetchone()[0]


def _schema(conn: psycopg.Connection, argument: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (argument,)).fetchone() is not None


def _one_column(conn: psycopg.Connection, argument: str) -> bool:
    return _column(conn, *argument.split("."))


def _columns(conn: psycopg.Connection, argument: str) -> bool:
    table, names = argument.split(".")
    return all(_column(conn, table, name) for name in names.split("+"))


def _comment(conn: psycopg.Connection, argument: str) -> bool:
    table, column = argument.split(".")
    row = conn.execute(
        "SELECT col_description(a.attrelid, a.attnum) IS NOT NULL FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attname = %s",
        (f"public.{table}", column),
    ).fetchone()
    return bool(row and row[0])


def _function(conn: psycopg.Connection, argument: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM pg_proc WHERE proname = %s AND pronamespace = 'public'::regnamespace", (argument,)
        ).fetchone()
        is not None
    )


def _constraint(conn: psycopg.Connection, argument: str) -> bool:
    table, name = argument.split(".")
    return (
        conn.execute(
            "SELECT 1 FROM pg_constraint WHERE conname = %s AND conrelid = to_regclass(%s)",
            (name, f"public.{table}"),
        ).fetchone()
        is not None
    )


def _index(conn: psycopg.Connection, argument: str, valid: bool) -> bool:
    row = conn.execute(
        "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
        "WHERE c.relname = %s AND c.relnamespace = 'public'::regnamespace",
        (argument,),
    ).fetchone()
    return row is not None and (not valid or row[0])


def _foreign_key(conn: psycopg.Connection, argument: str, validated: bool) -> bool:
    table, column = argument.split(".")
    row = conn.execute(
        """
        SELECT bool_or(c.convalidated) FROM pg_constraint c
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.contype = 'f' AND c.conrelid = to_regclass(%s) AND a.attname = %s""",
        (f"public.{table}", column),
    ).fetchone()
    return row[0] is not None and (not validated or row[0])


# condition kind -> fact(conn, argument); `policy` is not in the catalog, _fact answers it from the run's policy
_CATALOG_FACTS = {
    "column": _one_column,
    "columns": _columns,
    "comment": _comment,
    "table": _table,
    "function": _function,
    "constraint": _constraint,
    "index": partial(_index, valid=False),
    "valid_index": partial(_index, valid=True),
    "fk": partial(_foreign_key, validated=False),
    "valid_fk": partial(_foreign_key, validated=True),
    "schema": _schema,
}


def _fact(conn: psycopg.Connection, kind: str, argument: str, policy: str) -> bool:
    if kind == "policy":
        return argument == policy
    if kind not in _CATALOG_FACTS:
        raise DawsosError(
            errors.MIGRATION_FILE_INVALID, f"unknown condition kind '{kind}'", f"use one of {', '.join(KINDS)}"
        )
    return _CATALOG_FACTS[kind](conn, argument)


def _holds_one(conn: psycopg.Connection, condition: str, policy: str) -> bool:
    negated = condition.startswith("!")
    kind, _, argument = condition.lstrip("!").partition(":")
    return _fact(conn, kind, argument, policy) != negated


def holds(conn: psycopg.Connection, condition: str, policy: str = "placeholder") -> bool:
    """True when any `|` alternative of the condition holds in the database."""
    return any(_holds_one(conn, alternative, policy) for alternative in condition.split("|"))


def failing(conn: psycopg.Connection, conditions: list[str], policy: str = "placeholder") -> list[str]:
    """The conditions that do not hold."""
    return [c for c in conditions if not holds(conn, c, policy)]


_PHRASES = {
    "column": ("{t} has no column {c}", "{t} already has column {c}"),
    "columns": ("{t} lacks one of the columns {c}", "{t} already has the columns {c}"),
    "comment": ("{t}.{c} has no comment", "{t}.{c} already has a comment"),
    "table": ("table {a} does not exist", "table {a} exists"),
    "function": ("function {a} does not exist", "function {a} exists"),
    "constraint": ("{t} has no constraint {c}", "{t} already has constraint {c}"),
    "index": ("index {a} does not exist", "index {a} already exists"),
    "valid_index": ("index {a} is missing or invalid", "index {a} is already valid"),
    "fk": ("{t}.{c} has no foreign key", "{t}.{c} already has a foreign key"),
    "valid_fk": ("{t}.{c} has no validated foreign key", "{t}.{c} already has a validated foreign key"),
    "schema": ("schema {a} does not exist", "schema {a} exists"),
    "policy": ("the orphan policy is not {a}", "the orphan policy is {a}"),
}


def describe(condition: str) -> str:
    """Why a condition fails, in words: 'lots already has column quantity_open'."""
    parts = []
    for alternative in condition.split("|"):
        negated = alternative.startswith("!")
        kind, _, argument = alternative.lstrip("!").partition(":")
        table, _, column = argument.partition(".")
        absent, present = _PHRASES.get(kind, ("`{a}` does not hold", "`!{a}` does not hold"))
        parts.append((present if negated else absent).format(a=argument, t=table, c=column.replace("+", ", ")))
    return " and ".join(parts)
