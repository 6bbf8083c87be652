"""Contracts compiled to SQL and run inside PostgreSQL: one aggregate scan per table for every row rule, one
anti-join per foreign key, and catalog look-ups where a valid index or constraint already guarantees a rule.

Never pulls a table into pandas. Works on the legacy database too: a rule on a renamed column is evaluated on
its legacy name, a rule on a missing column is reported as not evaluated, and the column-name check says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import psycopg
from psycopg import sql

from dawsos_assets.tables.contracts import CONTRACTS, Contract, optional_columns
from dawsos_assets.tables.standards import FOREIGN_KEYS, RENAMES

ERROR, WARN = "ERROR", "WARN"
SAMPLE_ROWS = 20
# Check names are constants: they are the asset checks' names in the UI and in alerts.
COLUMN_NAMES, ROW_RULES, DRIFT_RULES, UNIQUE_KEY, FRESHNESS = (
    "column_names",
    "row_rules",
    "drift_rules",
    "unique_key",
    "freshness",
)
PG_FAMILIES = {
    "uuid": {"uuid"},
    "text": {"text", "character varying", "character"},
    "numeric": {"numeric", "double precision", "real"},
    "integer": {"integer", "bigint", "smallint"},
    "date": {"date"},
    "boolean": {"boolean"},
    "timestamp": {"timestamp with time zone", "timestamp without time zone"},
    "json": {"jsonb", "json"},
    "array": {"ARRAY"},
}


def fk_check_name(column: str) -> str:
    """Name of the foreign-key check on `column` (e.g. `fk_security_id`)."""
    return f"fk_{column}"


@dataclass
class Rule:
    """One contract rule as SQL: its label, severity and the predicate a breaking row satisfies."""

    label: str
    severity: str
    violation: str | None  # SQL predicate, true for a failing row; None when it cannot be evaluated
    missing: list[str] = field(default_factory=list)


@dataclass
class CheckOutcome:
    """The result of one check on one table, with a sample of failing rows and the query that lists them all."""

    table: str
    check: str
    severity: str
    passed: bool
    failing_count: int
    description: str
    sample: list[dict] = field(default_factory=list)
    failing_rows_sql: str | None = None
    details: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """The outcome's key figures, as the CLI and JSON reports show them."""
        return {
            "asset": self.table,
            "check": self.check,
            "passed": self.passed,
            "severity": self.severity,
            "failing_count": self.failing_count,
        }


# -- compiling a contract ---------------------------------------------------------------------------------------
def _literal(value) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value) if not isinstance(value, bool) else ("TRUE" if value else "FALSE")


# pandera bound check -> (SQL operator of a failing value, the statistic holding the bound)
_BOUND_VIOLATIONS = {
    "greater_than": ("<=", "min_value"),
    "greater_than_or_equal_to": ("<", "min_value"),
    "less_than": (">=", "max_value"),
    "less_than_or_equal_to": (">", "max_value"),
}


def _range_violation(s: dict, column: str) -> str:
    low = ">=" if s.get("include_min", True) else ">"
    high = "<=" if s.get("include_max", True) else "<"
    return f"NOT ({column} {low} {_literal(s['min_value'])} AND {column} {high} {_literal(s['max_value'])})"


def _length_violation(s: dict, column: str) -> str | None:
    parts = []
    if s.get("min_value") is not None:
        parts.append(f"length({column}) < {s['min_value']}")
    if s.get("max_value") is not None:
        parts.append(f"length({column}) > {s['max_value']}")
    return " OR ".join(parts) or None


def _column_violation(check, column: str) -> str | None:
    s = check.statistics
    if check.name in _BOUND_VIOLATIONS:
        operator, bound = _BOUND_VIOLATIONS[check.name]
        return f"{column} {operator} {_literal(s[bound])}"
    match check.name:
        case "in_range":
            return _range_violation(s, column)
        case "isin":
            return f"{column} NOT IN ({', '.join(_literal(v) for v in s['allowed_values'])})"
        case "notin":
            return f"{column} IN ({', '.join(_literal(v) for v in s['forbidden_values'])})"
        case "str_length":
            return _length_violation(s, column)
        case "str_matches":
            return f"{column} !~ {_literal(s['pattern'].pattern if hasattr(s['pattern'], 'pattern') else s['pattern'])}"
    return None


TABLE_RULES = {  # registered pandera checks -> SQL predicate of a failing row
    "column_le": lambda s, c: f"{c[s['left']]} > {c[s['right']]}",
    "date_not_before": lambda s, c: f"{c[s['earlier']]} > {c[s['later']]}",
    "open_flag_has_open_quantity": lambda s, c: f"{c[s['flag']]} AND {c[s['quantity']]} = 0",
    "closed_flag_has_no_open_quantity": lambda s, c: f"NOT {c[s['flag']]} AND {c[s['quantity']]} > 0",
    "columns_equal": lambda s, c: f"{c[s['left']]} IS DISTINCT FROM {c[s['right']]}",
    "is_sum_of": lambda s, c: f"abs({c[s['total']]} - {c[s['first']]} - {c[s['second']]}) >= 0.005",
}


def physical_columns(contract: type[Contract], table: str, present: list[str]) -> dict[str, str | None]:
    """Contract column -> the column that holds it now: its own name, else its legacy name, else None."""
    legacy = {r.standard: r.legacy for r in RENAMES if r.table == table}
    resolved = {}
    for name in contract.to_schema().columns:
        if name in present:
            resolved[name] = name
        elif legacy.get(name) in present:
            resolved[name] = legacy[name]
        else:
            resolved[name] = None
    return resolved


def compile_rules(contract: type[Contract], table: str, present: list[str]) -> list[Rule]:
    """Translate a table's contract into SQL rules on the columns the table has now (standard or legacy names)."""
    schema = contract.to_schema()
    physical = physical_columns(contract, table, present)
    quoted = {name: (f'"{col}"' if col else None) for name, col in physical.items()}
    warn = set((getattr(contract.__config__, "metadata", None) or {}).get("warn", []))
    rules = []
    for name, column in schema.columns.items():
        severity = WARN if any(c.raise_warning for c in column.checks) else ERROR
        if not column.nullable:
            rules.append(
                Rule(
                    f"{name} is not null",
                    ERROR,
                    f"{quoted[name]} IS NULL" if quoted[name] else None,
                    [] if quoted[name] else [name],
                )
            )
        for check in column.checks:
            predicate = _column_violation(check, quoted[name]) if quoted[name] else None
            label = f"{name} {check.name} {_stats_text(check.statistics)}".strip()
            rules.append(Rule(label, severity, predicate, [] if quoted[name] else [name]))
    for check in schema.checks:
        columns = [v for v in check.statistics.values() if isinstance(v, str)]
        missing = [c for c in columns if not quoted.get(c)]
        predicate = None if missing else TABLE_RULES[check.name](check.statistics, quoted)
        rules.append(
            Rule(f"{check.name}({', '.join(columns)})", WARN if check.name in warn else ERROR, predicate, missing)
        )
    return rules


def _stats_text(statistics: dict) -> str:
    shown = {k: v for k, v in statistics.items() if v is not None and k not in ("include_min", "include_max")}
    return " ".join(f"{v}" if k in ("min_value", "max_value") else f"{k}={v}" for k, v in shown.items())[:80]


# -- running ----------------------------------------------------------------------------------------------------
def jsonable(value):
    """A database value as JSON can hold it (decimals as floats, dates as ISO strings, anything else as text)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _sample(conn: psycopg.Connection, query: str) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(query + f" LIMIT {SAMPLE_ROWS}")
        names = [d.name for d in cur.description]
        return [{n: jsonable(v) for n, v in zip(names, row, strict=True)} for row in cur.fetchall()]


def table_columns(conn: psycopg.Connection, table: str) -> dict[str, str]:
    """Column name -> data type of a public table, in column order."""
    return dict(
        conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
    )


def check_column_names(table: str, contract: type[Contract], present: dict[str, str]) -> CheckOutcome:
    """Check that the table has every contract column under its standard name (a legacy name fails the check)."""
    schema = contract.to_schema()
    legacy = {r.legacy: r.standard for r in RENAMES if r.table == table}
    problems = []
    for name, column in schema.columns.items():
        if name not in present and column.metadata.get("optional"):
            continue
        if name not in present:
            problems.append({"column": name, "problem": "missing"})
        elif present[name] not in PG_FAMILIES[column.metadata["pg"]]:
            problems.append({"column": name, "problem": f"type {present[name]}, expected {column.metadata['pg']}"})
    for name in present:
        if name in legacy:
            problems.append({"column": name, "problem": f"unexpected column (legacy name of {legacy[name]})"})
    # A column the team added that the standard does not know is theirs to keep: reported, not failed.
    extra = [name for name in present if name not in schema.columns and name not in legacy]
    return CheckOutcome(
        table,
        COLUMN_NAMES,
        ERROR,
        not problems,
        len(problems),
        (
            "column names and types match the contract"
            if not problems
            else f"{len(problems)} column(s) differ from the contract"
        )
        + (f"; also present, not in the contract: {', '.join(extra)}" if extra else ""),
        problems,
        details={"extra_columns": extra} if extra else {},
    )


def _any_violation(rules: list[Rule]) -> str:
    return " OR ".join(f"({r.violation})" for r in rules)


def check_rows(
    conn: psycopg.Connection, table: str, rules: list[Rule], optional: set[str] = frozenset()
) -> list[CheckOutcome]:
    """Every evaluable row rule in one scan; one outcome for ERROR rules and one for WARN rules. A check's
    failing_count is the number of distinct rows breaking any of its rules; details list each rule's count. A rule on
    an absent optional column has nothing to check; one on any other absent column fails its ERROR check.
    """
    rules = [r for r in rules if r.violation or not set(r.missing) <= optional]
    groups = [
        (severity, name, [r for r in rules if r.severity == severity])
        for severity, name in ((ERROR, ROW_RULES), (WARN, DRIFT_RULES))
    ]
    groups = [g for g in groups if g[2]]
    evaluable = [r for r in rules if r.violation]
    total, by_rule, failing_rows = 0, {}, [0] * len(groups)
    if evaluable:
        rows_breaking_any = [[r for r in group if r.violation] for _, _, group in groups]
        filters = [f"count(*) FILTER (WHERE {r.violation})" for r in evaluable]
        filters += [f"count(*) FILTER (WHERE {_any_violation(g)})" if g else "0" for g in rows_breaking_any]
        row = conn.execute(f'SELECT count(*), {", ".join(filters)} FROM public."{table}"').fetchone()  # noqa: S608 — table and predicates come from the contract registry, not user input
        total = row[0]
        by_rule = dict(zip((r.label for r in evaluable), row[1 : 1 + len(evaluable)], strict=True))
        failing_rows = list(row[1 + len(evaluable) :])
    outcomes = []
    for (severity, name, group), rows in zip(groups, failing_rows, strict=True):
        failing = [r for r in group if r.violation and by_rule[r.label]]
        skipped = [r.label for r in group if not r.violation]
        listing = f'SELECT * FROM public."{table}" WHERE {_any_violation(failing)}' if failing else None  # noqa: S608 — table and predicates come from the contract registry, not user input
        outcomes.append(
            CheckOutcome(
                table,
                name,
                severity,
                not failing and not (skipped and severity == ERROR),
                rows,
                f"{len(group) - len(skipped)} rules over {total:,} rows in one scan; {len(failing)} failing"
                + (f"; not evaluated (column missing): {', '.join(skipped)}" if skipped else ""),
                _sample(conn, listing) if listing else [],
                listing,
                {
                    "rows": total,
                    "failing_by_rule": {r.label: by_rule[r.label] for r in failing},
                    "not_evaluated": skipped,
                },
            )
        )
    return outcomes


def check_unique(
    conn: psycopg.Connection, table: str, contract: type[Contract], present: dict[str, str]
) -> CheckOutcome:
    """Check that the contract's unique key holds, by a valid unique index or else by counting duplicates."""
    physical = physical_columns(contract, table, list(present))
    key = list(contract.to_schema().unique or [])
    if not key:
        return CheckOutcome(table, UNIQUE_KEY, ERROR, True, 0, "no unique key in the contract")
    if any(physical[c] is None for c in key):
        return CheckOutcome(table, UNIQUE_KEY, ERROR, False, 0, f"key columns missing: {key}")
    columns = [physical[c] for c in key]
    index = conn.execute(
        """
        SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
           AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
                 WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = %s""",
        (f"public.{table}", sorted(columns)),
    ).fetchone()
    if index:  # a valid unique index already guarantees it: no scan needed
        return CheckOutcome(table, UNIQUE_KEY, ERROR, True, 0, f"({', '.join(columns)}) enforced by index {index[0]}")
    keys = ", ".join(f'"{c}"' for c in columns)
    listing = f'SELECT {keys}, count(*) AS copies FROM public."{table}" GROUP BY {keys} HAVING count(*) > 1'  # noqa: S608 — table and key columns come from the contract registry
    duplicates = conn.execute(f"SELECT count(*) FROM ({listing}) d").fetchone()[0]  # noqa: S608 — the listing is built above from the contract registry
    return CheckOutcome(
        table,
        UNIQUE_KEY,
        ERROR,
        duplicates == 0,
        duplicates,
        f"({', '.join(columns)}) unique: {duplicates} duplicated key(s)",
        _sample(conn, listing) if duplicates else [],
        listing if duplicates else None,
    )


def check_foreign_keys(conn: psycopg.Connection, table: str, present: dict[str, str]) -> list[CheckOutcome]:
    """Check each foreign key of the table: a validated constraint, or else no orphaned rows."""
    outcomes = []
    for fk in (fk for fk in FOREIGN_KEYS if fk.table == table):
        name = fk_check_name(fk.column)
        if fk.column not in present:
            outcomes.append(CheckOutcome(table, name, ERROR, False, 0, f"column {fk.column} missing"))
            continue
        constraint = conn.execute(
            """
            SELECT c.conname FROM pg_constraint c
              JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             WHERE c.contype = 'f' AND c.convalidated AND c.conrelid = to_regclass(%s) AND a.attname = %s
               AND c.confrelid = to_regclass(%s)""",
            (f"public.{table}", fk.column, f"public.{fk.parent}"),
        ).fetchone()
        if constraint:  # a validated foreign key already guarantees it
            outcomes.append(
                CheckOutcome(
                    table,
                    name,
                    ERROR,
                    True,
                    0,
                    f"{fk.column} -> {fk.parent}.{fk.parent_column} enforced by {constraint[0]}",
                )
            )
            continue
        listing = (
            f'SELECT c.* FROM public."{table}" c WHERE c."{fk.column}" IS NOT NULL AND NOT EXISTS '  # noqa: S608 — table and key columns come from the contract registry
            f'(SELECT 1 FROM public."{fk.parent}" p WHERE p."{fk.parent_column}" = c."{fk.column}")'
        )
        orphans = conn.execute(f"SELECT count(*) FROM ({listing}) o").fetchone()[0]  # noqa: S608 — the listing is built above from the contract registry
        legal = " (NULL is legal)" if fk.nullable else ""
        outcomes.append(
            CheckOutcome(
                table,
                name,
                ERROR,
                orphans == 0,
                orphans,
                f"{fk.column} -> {fk.parent}.{fk.parent_column}{legal}: {orphans} orphan(s), "
                "no foreign key enforces it",
                _sample(conn, listing) if orphans else [],
                listing if orphans else None,
            )
        )
    return outcomes


def check_freshness(
    conn: psycopg.Connection, table: str, contract: type[Contract], present: dict[str, str]
) -> list[CheckOutcome]:
    """Warn when the table's latest date lags behind the latest pricing pack."""
    column = (getattr(contract.__config__, "metadata", None) or {}).get("freshness")
    if not column:
        return []
    pack_date = "asof_date" if "asof_date" in table_columns(conn, "pricing_packs") else "date"
    physical = physical_columns(contract, table, list(present))[column]
    if not physical:
        return [CheckOutcome(table, FRESHNESS, WARN, False, 0, f"{column} missing")]
    latest, pack = conn.execute(
        sql.SQL(
            "SELECT (SELECT max({}) FROM {}), (SELECT max({}) FROM pricing_packs WHERE superseded_by IS NULL)"
        ).format(sql.Identifier(physical), sql.Identifier("public", table), sql.Identifier(pack_date))
    ).fetchone()
    behind = (pack - latest).days if latest and pack else None
    fresh = behind is not None and behind <= 0
    return [
        CheckOutcome(
            table,
            FRESHNESS,
            WARN,
            fresh,
            max(behind or 0, 0),
            f"latest {column} {latest} vs latest pricing pack {pack}",
            details={"days_behind": behind},
        )
    ]


def check_names(table: str) -> list[tuple[str, str]]:
    """(check name, severity) of every check a table gets: the specs of its Dagster asset checks."""
    contract = CONTRACTS[table]
    schema = contract.to_schema()
    metadata = getattr(contract.__config__, "metadata", None) or {}
    has_warn = bool(metadata.get("warn")) or any(c.raise_warning for col in schema.columns.values() for c in col.checks)
    names = [(COLUMN_NAMES, ERROR), (ROW_RULES, ERROR)] + ([(DRIFT_RULES, WARN)] if has_warn else [])
    names.append((UNIQUE_KEY, ERROR))
    names += [(fk_check_name(fk.column), ERROR) for fk in FOREIGN_KEYS if fk.table == table]
    if metadata.get("freshness"):
        names.append((FRESHNESS, WARN))
    return names


def run_table_checks(conn: psycopg.Connection, table: str, selected: set[str] | None = None) -> list[CheckOutcome]:
    """Every check of `table`, or only the `selected` ones (each part runs only when one of its checks is asked
    for: the row scan, the unique key and each foreign key cost a query each).
    """

    def wanted(*names: str) -> bool:
        return selected is None or bool(selected & set(names))

    contract = CONTRACTS[table]
    present = table_columns(conn, table)
    if not present:
        return [CheckOutcome(table, COLUMN_NAMES, ERROR, False, 1, f"table {table} does not exist")]
    outcomes = [check_column_names(table, contract, present)] if wanted(COLUMN_NAMES) else []
    if wanted(ROW_RULES, DRIFT_RULES):
        outcomes += check_rows(conn, table, compile_rules(contract, table, list(present)), optional_columns(contract))
    if wanted(UNIQUE_KEY):
        outcomes.append(check_unique(conn, table, contract, present))
    if wanted(*(fk_check_name(fk.column) for fk in FOREIGN_KEYS if fk.table == table)):
        outcomes += check_foreign_keys(conn, table, present)
    if wanted(FRESHNESS):
        outcomes += check_freshness(conn, table, contract, present)
    return [o for o in outcomes if selected is None or o.check in selected]


def run_all_checks(conn: psycopg.Connection) -> list[CheckOutcome]:
    """Run every check on every table that has a contract."""
    return [outcome for table in CONTRACTS for outcome in run_table_checks(conn, table)]


# -- the rules in words, for people reading a check in the UI -----------------------------------------------------
COLUMN_RULE_WORDS = {
    "greater_than": lambda c, s: f"{c} > {s['min_value']}",
    "greater_than_or_equal_to": lambda c, s: f"{c} >= {s['min_value']}",
    "less_than": lambda c, s: f"{c} < {s['max_value']}",
    "less_than_or_equal_to": lambda c, s: f"{c} <= {s['max_value']}",
    "in_range": lambda c, s: f"{c} between {s['min_value']} and {s['max_value']}",
    "isin": lambda c, s: f"{c} is one of {', '.join(map(str, s['allowed_values']))}",
    "notin": lambda c, s: f"{c} is none of {', '.join(map(str, s['forbidden_values']))}",
    "str_length": lambda c, s: " and ".join(
        ([f"{c} has at least {s['min_value']} characters"] if s.get("min_value") is not None else [])
        + ([f"{c} has at most {s['max_value']} characters"] if s.get("max_value") is not None else [])
    ),
    "str_matches": lambda c, s: f"{c} matches {getattr(s['pattern'], 'pattern', s['pattern'])}",
}
TABLE_RULE_WORDS = {  # the same registered checks as TABLE_RULES, said the way their SQL tests them
    "column_le": lambda s: f"{s['left']} <= {s['right']}",
    "date_not_before": lambda s: f"{s['later']} is not before {s['earlier']}",
    "open_flag_has_open_quantity": lambda s: f"where {s['flag']} is true, {s['quantity']} is not 0",
    "closed_flag_has_no_open_quantity": lambda s: f"where {s['flag']} is false, {s['quantity']} is not above 0",
    "columns_equal": lambda s: f"{s['left']} equals {s['right']}",
    "is_sum_of": lambda s: f"{s['total']} = {s['first']} + {s['second']} (to 0.005)",
}


def rules_in_words(table: str) -> dict[str, list[str]]:
    """Each row rule of the contract of `table` in words, under the check that tests it (row_rules or
    drift_rules), read from the contract itself: the same severities compile_rules gives.
    """
    schema = CONTRACTS[table].to_schema()
    warn = set((getattr(CONTRACTS[table].__config__, "metadata", None) or {}).get("warn", []))
    filled = [name for name, column in schema.columns.items() if not column.nullable]
    words: dict[str, list[str]] = {ROW_RULES: [f"never empty: {', '.join(filled)}"] if filled else [], DRIFT_RULES: []}
    for name, column in schema.columns.items():
        for check in column.checks:
            words[DRIFT_RULES if check.raise_warning else ROW_RULES].append(
                COLUMN_RULE_WORDS[check.name](name, check.statistics)
            )
    for check in schema.checks:
        words[DRIFT_RULES if check.name in warn else ROW_RULES].append(TABLE_RULE_WORDS[check.name](check.statistics))
    return words


def check_descriptions(table: str) -> dict[str, str]:
    """Check name -> what it guarantees, in words, generated from the contract and the foreign-key map."""
    contract = CONTRACTS[table]
    schema = contract.to_schema()
    metadata = getattr(contract.__config__, "metadata", None) or {}
    rules = rules_in_words(table)
    columns = ", ".join(
        f"{name} ({column.metadata['pg']}{', may be absent' if column.metadata.get('optional') else ''})"
        for name, column in schema.columns.items()
    )
    described = {
        COLUMN_NAMES: f"Blocking. The table has exactly the standard columns with their types: {columns}. "
        "A legacy name (e.g. before a rename migration) fails; an extra column is only reported.",
        ROW_RULES: "Blocking. Every row holds: " + "; ".join(rules[ROW_RULES]) + ".",
        DRIFT_RULES: "Warning only. Every row should hold: " + "; ".join(rules[DRIFT_RULES]) + ".",
        UNIQUE_KEY: (
            f"Blocking. No two rows share ({', '.join(schema.unique)})."
            if schema.unique
            else "Blocking. The contract names no unique key, so this always passes."
        ),
        FRESHNESS: f"Warning only. The latest {metadata.get('freshness')} is not older than the latest pricing pack.",
    }
    for fk in (fk for fk in FOREIGN_KEYS if fk.table == table):
        described[fk_check_name(fk.column)] = (
            f"Blocking. Every {fk.column} points at an existing {fk.parent}.{fk.parent_column}"
            + (" (an empty one is allowed)." if fk.nullable else ".")
        )
    return {name: described[name] for name, _ in check_names(table)}
