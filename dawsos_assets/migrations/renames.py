"""Column renames that converge: rename where the legacy name is found, adopt where the standard one already is.

A rename also carries along what PostgreSQL does not: indexes and constraints named after the legacy column,
functions whose text uses it (read from the catalog, never assumed), and a `dawsos_legacy` view with the old
names for readers that have not moved. Views, policies, CHECKs and index expressions are stored parsed and
follow the rename by themselves. Every action is journaled with the statement that undoes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from dawsos_assets import errors
from dawsos_assets.errors import DawsosError
from dawsos_assets.migrations.files import ColumnRename

LEGACY_SCHEMA = "dawsos_legacy"
PROJECT_SCHEMAS = ("dawsos_migrations", LEGACY_SCHEMA, "quarantine", "analytics", "dawsos_meta")


def _column_exists(conn, table: str, column: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s "
            "AND attnum > 0 AND NOT attisdropped",
            (f"public.{table}", column),
        ).fetchone()
        is not None
    )


def assess(conn: psycopg.Connection, rename: ColumnRename) -> str:
    """Rename | adopt | skip: table absent | skip: neither column | contradiction."""
    if conn.execute("SELECT to_regclass(%s) IS NULL", (f"public.{rename.table}",)).fetchone()[0]:
        return "skip: table absent"
    legacy, standard = (
        _column_exists(conn, rename.table, rename.legacy),
        _column_exists(conn, rename.table, rename.standard),
    )
    if legacy and standard:
        return "contradiction"
    return "rename" if legacy else "adopt" if standard else "skip: neither column"


def describe_state(rename: ColumnRename, state: str) -> str:
    """A column rename in the given state, in words for the plan."""
    subject = f"{rename.table}.{rename.legacy} → {rename.standard}"
    return {
        "rename": f"rename {subject}",
        "adopt": f"adopt {subject}: {rename.table} already has {rename.standard} and no {rename.legacy}",
        "skip: table absent": f"skip {subject}: table {rename.table} does not exist",
        "skip: neither column": f"skip {subject}: {rename.table} has neither column",
        "contradiction": f"refuse {subject}: {rename.table} has both {rename.legacy} and {rename.standard}",
    }[state]


# -- functions that use a renamed column -----------------------------------------------------------------------
@dataclass
class FunctionFix:
    """How one database function that uses a renamed column is handled."""

    signature: str
    action: str  # rewrite | search_path | follows | manual
    reason: str
    forward: str | None = None
    inverse: str | None = None


@dataclass
class Dependents:
    """What depends on the renamed columns: functions to fix, objects that follow, notes for old code."""

    functions: list[FunctionFix] = field(default_factory=list)
    follows: list[str] = field(default_factory=list)  # views, policies: stored parsed, follow the rename
    notes: list[str] = field(default_factory=list)  # what old code will find different, without stopping anything

    @property
    def manual(self) -> list[FunctionFix]:
        """The functions that need a fix by hand."""
        return [f for f in self.functions if f.action == "manual"]


def _word(name: str) -> re.Pattern:
    return re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])", re.IGNORECASE)


# Statements a view cannot take in a table's place: a function using them must keep a real table.
_TABLE_ONLY = re.compile(
    r"(?i)\b(TRUNCATE|LOCK\s+TABLE|COPY|ALTER\s+TABLE|CREATE\s+(UNIQUE\s+)?INDEX|CLUSTER|VACUUM|"
    r"REINDEX|DROP\s+TABLE)\b"
)


def _row_references(source: str, legacy: str) -> tuple[int, int]:
    """(occurrences of `legacy` as a word, of them written NEW.legacy or OLD.legacy)."""
    return (
        len(_word(legacy).findall(source)),
        len(re.findall(rf"(?i)(?<![\w$])(?:NEW|OLD)\s*\.\s*{re.escape(legacy)}(?![\w$])", source)),
    )


_CANDIDATES = """
SELECT p.oid, p.oid::regprocedure::text, l.lanname, p.prosrc, p.prosqlbody IS NOT NULL,
       p.prorettype = 'trigger'::regtype, COALESCE(p.proconfig, '{}'), pg_has_role(current_user, p.proowner, 'USAGE'),
       pg_get_userbyid(p.proowner),
       ARRAY(SELECT t.tgrelid::regclass::text FROM pg_trigger t WHERE t.tgfoid = p.oid AND NOT t.tgisinternal)
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg_%%'
   AND p.prokind IN ('f', 'p')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
"""


def _uses(source: str, triggers_on: list[str], rename: ColumnRename) -> bool:
    on_table = bool(_word(rename.table).search(source)) or rename.table in triggers_on
    return on_table and bool(_word(rename.legacy).search(source))


def _search_path_fix(signature: str, config: list[str]) -> tuple[str, str]:
    current = next((c.split("=", 1)[1] for c in config if c.startswith("search_path=")), None)
    path = f"{LEGACY_SCHEMA}, {current or 'public'}"
    forward = f"ALTER FUNCTION {signature} SET search_path = {path}"
    inverse = f"ALTER FUNCTION {signature} " + (f"SET search_path = {current}" if current else "RESET search_path")
    return forward, inverse


def _trigger_rewrite(conn, oid: int, source: str, used: list[ColumnRename], triggers_on: list[str]) -> str | None:
    """A trigger function on the renamed table that names the column only as NEW.x / OLD.x: those can only mean
    the triggering row, so the rewritten text means what the old one did. None if anything else names it.
    """
    if not all(r.table in triggers_on for r in used):
        return None
    if any(_row_references(source, r.legacy)[0] != _row_references(source, r.legacy)[1] for r in used):
        return None
    rewritten = source
    for r in used:
        rewritten = re.sub(
            rf"(?i)(?<![\w$])(NEW|OLD)(\s*\.\s*){re.escape(r.legacy)}(?![\w$])",
            lambda m, new=r.standard: f"{m.group(1)}{m.group(2)}{new}",
            rewritten,
        )
    definition = conn.execute("SELECT pg_get_functiondef(%s)", (oid,)).fetchone()[0]
    return definition.replace(source, rewritten, 1)


def _fix(conn, row, renames: list[ColumnRename]) -> FunctionFix | None:
    """What happens to one function that uses a column about to be renamed. Its text is never guessed at:
    a function keeps it and reads the old names through dawsos_legacy (a function-level search_path), except a
    trigger function, whose NEW.x / OLD.x must follow the row, and what neither fits, which is left to a human.
    """
    oid, signature, language, source, sql_body, is_trigger, config, owned, owner, triggers_on = row
    source = source or ""
    used = [r for r in renames if _uses(source, triggers_on, r)]
    if not used:
        return None
    names = ", ".join(f"{r.table}.{r.legacy}" for r in used)
    if sql_body:
        return FunctionFix(signature, "follows", f"uses {names}; its SQL-standard body is stored parsed")
    if language not in ("plpgsql", "sql"):
        return FunctionFix(signature, "manual", f"uses {names} in {language}, whose text cannot be checked")
    if not owned:
        return FunctionFix(signature, "manual", f"uses {names} but belongs to {owner}; only its owner can change it")
    if is_trigger:
        rewritten = _trigger_rewrite(conn, oid, source, used, triggers_on)
        if rewritten is None:
            return FunctionFix(
                signature, "manual", f"trigger function that uses {names} other than as NEW.x / OLD.x of its own table"
            )
        original = conn.execute("SELECT pg_get_functiondef(%s)", (oid,)).fetchone()[0]
        return FunctionFix(
            signature,
            "rewrite",
            f"trigger function on {used[0].table}: NEW/OLD.{used[0].legacy} "
            f"→ .{used[0].standard}, nothing else touched",
            rewritten,
            original,
        )
    qualified = [r.table for r in used if re.search(rf"(?i)\bpublic\s*\.\s*\"?{re.escape(r.table)}\b", source)]
    if qualified:
        return FunctionFix(
            signature,
            "manual",
            f"uses {names} and names public.{qualified[0]} explicitly, which the old names cannot be put in front of",
        )
    table_only = _TABLE_ONLY.search(source)
    if table_only:
        return FunctionFix(
            signature,
            "manual",
            f"uses {names} and runs {table_only.group(1).upper()}, which a view "
            "with the old names cannot take in the table's place",
        )
    forward, inverse = _search_path_fix(signature, config)
    return FunctionFix(
        signature,
        "search_path",
        f"uses {names}: its text stays as it is and it reads and writes "
        f"the old names through {LEGACY_SCHEMA} (function search_path)",
        forward,
        inverse,
    )


def _following(conn, renames: list[ColumnRename]) -> list[str]:
    rows = conn.execute("""
        SELECT DISTINCT CASE WHEN d.classid = 'pg_rewrite'::regclass THEN 'view ' || r.ev_class::regclass::text
                             ELSE 'policy ' || p.polname || ' on ' || p.polrelid::regclass::text END,
               c.relname, a.attname
          FROM pg_depend d
          JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
          JOIN pg_class c ON c.oid = d.refobjid AND c.relnamespace = 'public'::regnamespace
          LEFT JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid
          LEFT JOIN pg_policy p ON d.classid = 'pg_policy'::regclass AND p.oid = d.objid
         WHERE d.classid IN ('pg_rewrite'::regclass, 'pg_policy'::regclass)
           AND (r.oid IS NULL OR r.ev_class <> d.refobjid)""").fetchall()
    wanted = {(r.table, r.legacy) for r in renames}
    return sorted(
        f"{what} (uses {table}.{column}; stored parsed, follows the rename)"
        for what, table, column in rows
        if (table, column) in wanted
    )


def dependents(conn: psycopg.Connection, renames: list[ColumnRename]) -> Dependents:
    """Everything outside the table that uses a column about to be renamed, and what will happen to it."""
    if not renames:
        return Dependents()
    fixes = [_fix(conn, row, renames) for row in conn.execute(_CANDIDATES, (list(PROJECT_SCHEMAS),)).fetchall()]
    return Dependents([f for f in fixes if f], _following(conn, renames), _column_grant_notes(conn, renames))


def _column_grant_notes(conn, renames: list[ColumnRename]) -> list[str]:
    """Roles that may read only some columns of a renamed table: PostgreSQL checks every column a security_invoker
    view names on the table, so such a role cannot read the dawsos_legacy view; its old code needs a table grant.
    """
    tables = sorted({r.table for r in renames})
    rows = (
        conn.execute(
            """
        SELECT DISTINCT c.relname, CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END
          FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid, aclexplode(a.attacl) x
         WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY(%s) AND a.attacl IS NOT NULL
           AND NOT has_table_privilege(x.grantee, c.oid, 'SELECT')""",
            (tables,),
        ).fetchall()
        if tables
        else []
    )
    return [
        f"{role} may read only some columns of {table}: its old code cannot read {LEGACY_SCHEMA}.{table} "
        f"(grant it SELECT on {table}, or move that code to the new names)"
        for table, role in rows
    ]


# -- performing a rename inside the switch transaction ------------------------------------------------------------
def _renamed(name: str, legacy: str, standard: str) -> str | None:
    tokens, old = name.split("_"), legacy.split("_")
    for i in range(len(tokens) - len(old) + 1):
        if tokens[i : i + len(old)] == old:
            return "_".join(tokens[:i] + standard.split("_") + tokens[i + len(old) :])
    return None


def _named_after(conn, rename: ColumnRename) -> list[tuple[str, str]]:
    """(kind, name) of constraints and indexes on the (still legacy-named) column whose names carry its name."""
    rows = conn.execute(
        """
        SELECT 'constraint', c.conname FROM pg_constraint c
         WHERE c.conrelid = to_regclass(%(t)s)
           AND (SELECT attnum FROM pg_attribute WHERE attrelid = c.conrelid AND attname = %(c)s) = ANY(c.conkey)
        UNION ALL
        SELECT 'index', i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
         WHERE x.indrelid = to_regclass(%(t)s)
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid)
           AND EXISTS (SELECT 1 FROM pg_depend d
                         JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = x.indexrelid AND a.attname = %(c)s)""",
        {"t": f"public.{rename.table}", "c": rename.legacy},
    ).fetchall()
    return [(kind, name) for kind, name in rows if _renamed(name, rename.legacy, rename.standard)]


def _name_taken(conn, name: str) -> bool:
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = %s AND relnamespace = 'public'::regnamespace)"
        " OR EXISTS (SELECT 1 FROM pg_constraint WHERE conname = %s AND connamespace = 'public'::regnamespace)",
        (name, name),
    ).fetchone()[0]


def column_action(conn: psycopg.Connection, rename: ColumnRename) -> tuple[str, str, str]:
    """(description, forward, inverse) of the column rename itself: a catalog-only change."""
    template = sql.SQL("ALTER TABLE {} RENAME COLUMN {} TO {}")
    table, legacy, standard = (
        sql.Identifier(rename.table),
        sql.Identifier(rename.legacy),
        sql.Identifier(rename.standard),
    )
    return (
        f"rename column {rename.table}.{rename.legacy} → {rename.standard}",
        template.format(table, legacy, standard).as_string(conn),
        template.format(table, standard, legacy).as_string(conn),
    )


def named_object_actions(conn: psycopg.Connection, rename: ColumnRename) -> list[tuple[str, str, str]]:
    """Constraints and indexes named after the legacy column follow it; read before anything is renamed."""
    actions = []
    for kind, name in _named_after(conn, rename):
        new = _renamed(name, rename.legacy, rename.standard)
        if _name_taken(conn, new):
            continue  # the standard name is already used (e.g. an index the team built under it): leave both
        if kind == "constraint":
            template = sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}")
            forward = template.format(sql.Identifier(rename.table), sql.Identifier(name), sql.Identifier(new))
            inverse = template.format(sql.Identifier(rename.table), sql.Identifier(new), sql.Identifier(name))
        else:
            template = sql.SQL("ALTER INDEX {} RENAME TO {}")
            forward = template.format(sql.Identifier(name), sql.Identifier(new))
            inverse = template.format(sql.Identifier(new), sql.Identifier(name))
        actions.append((f"rename {kind} {name} → {new}", forward.as_string(conn), inverse.as_string(conn)))
    return actions


def legacy_schema_actions(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    """The dawsos_legacy schema where it does not exist yet, usable by whoever may use `public`."""
    if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (LEGACY_SCHEMA,)).fetchone():
        return []
    return [
        (
            f"create schema {LEGACY_SCHEMA}",
            f"CREATE SCHEMA {LEGACY_SCHEMA}; SELECT dawsos_migrations.grant_usage_like('public', '{LEGACY_SCHEMA}')",
            f"DROP SCHEMA {LEGACY_SCHEMA}",
        )
    ]


def legacy_view_actions(
    conn: psycopg.Connection, table: str, aliases: dict[str, str], renamed: dict[str, str]
) -> list[tuple[str, str, str]]:
    """(description, forward, inverse) that (re)create dawsos_legacy.<table> with the legacy names in `aliases`
    (standard → legacy), readable and writable by whoever could use the table, under the reader's own rights.
    Read before the columns in `renamed` (legacy → standard) are renamed, so no lock is held while it is worked out.
    """
    actions = []
    view = sql.Identifier(LEGACY_SCHEMA, table)
    existing = (
        conn.execute("SELECT pg_get_viewdef(%s::regclass)", (f"{LEGACY_SCHEMA}.{table}",)).fetchone()
        if conn.execute("SELECT to_regclass(%s)", (f"{LEGACY_SCHEMA}.{table}",)).fetchone()[0]
        else None
    )
    columns = [
        renamed.get(c, c)
        for (c,) in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum",
            (f"public.{table}",),
        )
    ]
    select = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(sql.Identifier(c), sql.Identifier(aliases[c])) if c in aliases else sql.Identifier(c)
        for c in columns
    )
    create = (
        sql.SQL("CREATE VIEW {} WITH (security_invoker = true) AS SELECT {} FROM {}")
        .format(view, select, sql.Identifier("public", table))
        .as_string(conn)
    )
    table_grants = f"SELECT dawsos_migrations.copy_grants('public.{table}', '{LEGACY_SCHEMA}.{table}')"
    grants = table_grants
    drop = sql.SQL("DROP VIEW {}").format(view).as_string(conn)
    if existing:
        previous = (
            sql.SQL("CREATE VIEW {} WITH (security_invoker = true) AS ").format(view).as_string(conn) + existing[0]
        )
        actions.append(
            (
                f"replace view {LEGACY_SCHEMA}.{table}",
                f"{drop}; {create}; {grants}",
                f"{drop}; {previous}; {table_grants}",
            )
        )
    else:
        actions.append((f"create view {LEGACY_SCHEMA}.{table} with the old names", f"{create}; {grants}", drop))
    return actions


def refuse_contradictions(label: str, states: dict[ColumnRename, str], deps: Dependents) -> None:
    """Refuse when a table has both the legacy and the standard column (no rule says which is true)."""
    clashes = [r for r, state in states.items() if state == "contradiction"]
    if clashes:
        r = clashes[0]
        raise DawsosError(
            errors.MIGRATION_STATE_UNKNOWN,
            f"{label}: {r.table} has both {r.legacy} and {r.standard}; no rule says which holds the truth",
            f"compare the two columns by hand, drop the one that is wrong, then rerun; if {r.standard} is "
            f"right and in use, `dawsos migrate adopt {label[:3]}` records {label} as done",
        )
    if deps.manual:
        listed = "; ".join(f"{f.signature}: {f.reason}" for f in deps.manual[:5])
        raise DawsosError(
            errors.MIGRATION_DEPENDENT_UNSAFE,
            f"{label} renames columns that {len(deps.manual)} object(s) use and that cannot be rewritten "
            f"safely: {listed}",
            "change them by hand to the new names (`dawsos migrate plan` lists them), then rerun",
        )
