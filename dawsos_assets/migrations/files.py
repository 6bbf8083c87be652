"""Migration files: parsing the step grammar and classifying every statement by the lock it takes.

A migration is one file `sql/migrations/NNN_name.sql`:

    -- @migration 014 standardize_quantity_names
    -- @touches lots
    -- @rename lots.qty_open quantity_open
    -- @target column:lots.quantity_open !column:lots.qty_open
    -- @up refuse both_names when=columns:lots.qty_open+quantity_open
    SELECT 'lots has both qty_open and quantity_open';
    -- @up online open_positions_index when=!index:idx_lots_open_positions does=create
    CREATE INDEX CONCURRENTLY idx_lots_open_positions ON lots (portfolio_id, security_id) WHERE quantity_open > 0;
    -- @up switch record
    -- @down switch drop_open_positions_index undoes=open_positions_index
    DROP INDEX IF EXISTS idx_lots_open_positions;

Up steps run in file order, each only when its conditions hold (`when=`, comma-separated catalog facts; `!`
negates): column:T.C columns:T.C1+C2 table:T function:F constraint:T.N index:N valid_index:N fk:T.C valid_fk:T.C
schema:S policy:P. Kinds: `refuse` (a query that returns the reason when the database is in a form no rule
covers: nothing changes), `require_none` (a query that must return no row, else the migration stops with the
rows), `online` (each statement in autocommit: CREATE INDEX CONCURRENTLY, VALIDATE), `transaction`, `batch` (one
statement block repeated in its own transaction until its last statement changes no row), and final `switch`
steps that run in one transaction together with the column renames (`@rename`) and the ledger row, so the change
becomes visible at once or not at all. `does=create` marks a step that creates something absent (the plan says
create, not apply); `quiet=T` runs the step with T's enabled user triggers switched off inside its transaction
(a row copied back keeps its updated_at), which the table owner may do without superuser rights.

Down steps undo up steps: `undoes=NAME` ties each to the up step it reverses, and a rollback runs only the down
steps whose up step is recorded in the journal as having run, all in one transaction. A migration that finds
its target already in place runs nothing and is recorded as adopted; its rollback changes nothing.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import sqlparse
from sqlparse import tokens as sql_tokens
from sqlparse.lexer import tokenize

from dawsos_assets import errors
from dawsos_assets.database.legacy import SQL_DIR
from dawsos_assets.errors import DawsosError

MIGRATIONS_DIR = SQL_DIR / "migrations"
UP_KINDS = {"refuse", "require_none", "online", "transaction", "batch", "switch"}
ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"
ACTIONS = ("apply", "create")


@dataclass(frozen=True)
class Classification:
    """What a statement locks and does to the tables it touches."""

    lock: str  # the strongest table lock the statement takes
    effect: str  # catalog-only | scans table | writes rows | rewrites table | none
    target: str | None = None


# Ordered: the first matching rule wins. Sources: PostgreSQL ALTER TABLE docs, and each form timed on a 10M-row table.
_RULES: list[tuple[str, Classification]] = [
    (r"^ALTER TABLE .* ALTER COLUMN \S+ (SET DATA )?TYPE ", Classification(ACCESS_EXCLUSIVE, "rewrites table")),
    (r"^ALTER TABLE .* ADD COLUMN .* DEFAULT .*\(", Classification(ACCESS_EXCLUSIVE, "rewrites table")),
    (r"^ALTER TABLE .* SET (UNLOGGED|LOGGED|TABLESPACE)", Classification(ACCESS_EXCLUSIVE, "rewrites table")),
    (r"^(VACUUM FULL|CLUSTER)\b", Classification(ACCESS_EXCLUSIVE, "rewrites table")),
    (r"^ALTER TABLE .* VALIDATE CONSTRAINT", Classification("SHARE UPDATE EXCLUSIVE", "scans table")),
    (r"^SELECT DAWSOS_MIGRATIONS\.VALIDATE_FOREIGN_KEYS", Classification("SHARE UPDATE EXCLUSIVE", "scans table")),
    (
        r"^ALTER TABLE .* ADD CONSTRAINT \S+ FOREIGN KEY .* NOT VALID",
        Classification("SHARE ROW EXCLUSIVE", "catalog-only"),
    ),
    (r"^ALTER TABLE .* ADD CONSTRAINT \S+ FOREIGN KEY", Classification("SHARE ROW EXCLUSIVE", "scans table")),
    (r"^ALTER TABLE .* NOT VALID\s*$", Classification(ACCESS_EXCLUSIVE, "catalog-only")),
    (r"^ALTER TABLE .* ADD CONSTRAINT \S+ (UNIQUE|PRIMARY KEY)", Classification(ACCESS_EXCLUSIVE, "scans table")),
    (r"^ALTER TABLE .* ADD CONSTRAINT \S+ CHECK", Classification(ACCESS_EXCLUSIVE, "scans table")),
    (
        r"^ALTER TABLE .* SET NOT NULL",
        Classification(ACCESS_EXCLUSIVE, "scans table, unless a validated CHECK proves it"),
    ),
    (
        r"^ALTER TABLE .* (ENABLE|DISABLE) (ALWAYS |REPLICA )?TRIGGER",
        Classification("SHARE ROW EXCLUSIVE", "catalog-only"),
    ),
    (r"^ALTER TABLE ", Classification(ACCESS_EXCLUSIVE, "catalog-only")),
    (r"^ALTER INDEX .* RENAME", Classification("SHARE UPDATE EXCLUSIVE", "catalog-only")),
    (r"^CREATE (UNIQUE )?INDEX CONCURRENTLY", Classification("SHARE UPDATE EXCLUSIVE", "scans table")),
    (r"^CREATE (UNIQUE )?INDEX", Classification("SHARE", "scans table")),
    (r"^DROP INDEX CONCURRENTLY", Classification("SHARE UPDATE EXCLUSIVE", "catalog-only")),
    (r"^DROP INDEX", Classification(ACCESS_EXCLUSIVE, "catalog-only")),
    (r"^(CREATE|DROP) TRIGGER", Classification("SHARE ROW EXCLUSIVE", "catalog-only")),
    (r"^(CREATE OR REPLACE VIEW|DROP VIEW|DROP TABLE)", Classification(ACCESS_EXCLUSIVE, "catalog-only")),
    (r"^LOCK TABLE .* IN ACCESS EXCLUSIVE", Classification(ACCESS_EXCLUSIVE, "none")),
    (r"^(UPDATE|DELETE FROM|INSERT INTO)\b", Classification("ROW EXCLUSIVE", "writes rows")),
    (r"^(WITH|SELECT)\b", Classification("ACCESS SHARE", "scans table")),
]
_TARGET = re.compile(
    r"^(?:ALTER TABLE(?: ONLY)?|UPDATE|DELETE FROM|INSERT INTO|LOCK TABLE|CREATE (?:UNIQUE )?INDEX"
    r"(?: CONCURRENTLY)?(?: IF NOT EXISTS)? \S+ ON)\s+([\w.\"]+)"
)


def classify(statement: str) -> Classification:
    """The lock and effect of a statement, from the first of _RULES it matches."""
    text = " ".join(statement.split()).rstrip(";").upper()
    target_match = _TARGET.match(" ".join(statement.split()))
    target = target_match.group(1).lower() if target_match else None
    for pattern, result in _RULES:
        if re.search(pattern, text):
            return Classification(result.lock, result.effect, target)
    return Classification("none on existing tables", "none", target)


@dataclass(frozen=True)
class ColumnRename:
    """A standard name replacing a legacy one: `-- @rename lots.qty_open quantity_open`."""

    table: str
    legacy: str
    standard: str


@dataclass
class Step:
    """One step of a migration file: its conditions and statements, up or down."""

    direction: str  # up | down
    kind: str
    name: str
    conditions: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    action: str = "apply"  # apply | create: what the plan calls it when it runs
    undoes: str | None = None  # down steps: the up step this one reverses
    quiet: list[str] = field(default_factory=list)  # tables whose user triggers are off during the step


@dataclass
class Migration:
    """A migration file parsed: metadata, renames and steps."""

    version: int
    name: str
    path: Path
    checksum: str
    touches: list[str]
    target: list[str]
    renames: list[ColumnRename]
    steps: list[Step]
    description: str = ""

    @property
    def label(self) -> str:
        """The migration's version and name, e.g. `014_standardize_quantity_names`."""
        return f"{self.version:03d}_{self.name}"

    def steps_for(self, direction: str) -> list[Step]:
        """The steps of one direction (up or down), in file order."""
        return [s for s in self.steps if s.direction == direction]

    def uses_policy(self) -> bool:
        """True when a step's condition depends on the orphan policy."""
        return any(c.lstrip("!").startswith("policy:") for s in self.steps for c in s.conditions)


def split_statements(sql: str) -> list[str]:
    """Split on semicolons outside quotes (E'' included), dollar-quoted bodies and comments (sqlparse)."""
    return list(_split_statements(sql))


@functools.lru_cache(maxsize=1024)
def _split_statements(sql: str) -> tuple[str, ...]:
    # Cached by text: every table asset reads the migration files when the definitions are built.
    return tuple(raw.strip().rstrip(";").strip() for raw in sqlparse.split(sql) if not _only_comments(raw))


def _only_comments(sql: str) -> bool:
    """Nothing but comments, whitespace and semicolons (the lexer alone: sqlparse.format would also group tokens)."""
    return all(
        kind in sql_tokens.Comment or kind in sql_tokens.Whitespace or (kind in sql_tokens.Punctuation and text == ";")
        for kind, text in tokenize(sql)
    )


_HEADER = re.compile(r"^--\s*@(migration|touches|target|rename|up|down)\b(.*)$")


def _invalid(path: Path, problem: str, suggestion: str) -> DawsosError:
    return DawsosError(errors.MIGRATION_FILE_INVALID, f"{path.name}: {problem}", suggestion)


def _parse_step(path: Path, tag: str, line: str, rest: list[str]) -> Step:
    if not rest or (tag == "up" and rest[0] not in UP_KINDS) or (tag == "down" and rest[0] != "switch"):
        kinds = sorted(UP_KINDS) if tag == "up" else ["switch"]
        raise _invalid(path, f"step '{line}' has no known kind", f"use one of {kinds}")
    step = Step(tag, rest[0], rest[0])
    for part in rest[1:]:
        key, _, value = part.partition("=")
        if key == "when":
            step.conditions += value.split(",")
        elif key == "does" and value in ACTIONS:
            step.action = value
        elif key == "undoes":
            step.undoes = value
        elif key == "quiet":
            step.quiet = value.split(",")
        elif not value:
            step.name = part
        else:
            raise _invalid(
                path,
                f"step '{line}' has an unknown attribute '{part}'",
                "use when=, does=apply|create, undoes= or quiet=",
            )
    return step


def _parse_rename(path: Path, rest: list[str]) -> ColumnRename:
    if len(rest) != 2 or rest[0].count(".") != 1:
        raise _invalid(
            path,
            f"'@rename {' '.join(rest)}' is not `@rename table.legacy standard`",
            "write e.g. `-- @rename lots.qty_open quantity_open`",
        )
    table, legacy = rest[0].split(".")
    return ColumnRename(table, legacy, rest[1])


def _check_structure(path: Path, steps: list[Step]) -> None:
    kinds = [s.kind for s in steps if s.direction == "up"]
    first_switch = kinds.index("switch") if "switch" in kinds else None
    if first_switch is None or any(k != "switch" for k in kinds[first_switch:]):
        raise _invalid(
            path,
            "the up steps must end with switch steps",
            "put the ledger-visible change in final `-- @up switch` steps",
        )
    up_names = {s.name for s in steps if s.direction == "up"}
    if len(up_names) != len(kinds):
        raise _invalid(path, "two up steps share a name", "give every up step its own name")
    for step in steps:
        if step.direction == "down" and step.undoes not in up_names:
            raise _invalid(
                path,
                f"down step '{step.name}' undoes no up step ({step.undoes})",
                "name the up step it reverses with undoes=NAME",
            )
        if step.kind in ("refuse", "require_none") and len(step.statements) != 1:
            raise _invalid(path, f"{step.kind} step '{step.name}' needs exactly one query", "write one SELECT")


def parse(path: Path) -> Migration:
    """Parse a migration file; a malformed file is a one-line error naming the file."""
    text = path.read_text()
    meta: dict[str, str] = {}
    renames: list[ColumnRename] = []
    steps: list[Step] = []
    body: list[str] = []
    description: list[str] = []

    def flush():
        if steps:
            steps[-1].statements = split_statements("\n".join(body))
        body.clear()

    for line in text.splitlines():
        match = _HEADER.match(line.strip())
        if not match:
            if not steps and line.startswith("--"):
                description.append(line[2:].strip())
            body.append(line)
            continue
        tag, rest = match.group(1), match.group(2).split()
        if tag in ("up", "down"):
            flush()
            steps.append(_parse_step(path, tag, line.strip(), rest))
        elif tag == "rename":
            renames.append(_parse_rename(path, rest))
        else:
            meta[tag] = " ".join(rest)
    flush()
    if "migration" not in meta:
        raise _invalid(
            path, "has no `-- @migration NNN name` header", "start the file with `-- @migration 019 my_change`"
        )
    version_text, _, name = meta["migration"].partition(" ")
    if f"{int(version_text):03d}_{name}.sql" != path.name:
        raise _invalid(path, f"declares {meta['migration']}", "make the header's number and name match the file name")
    _check_structure(path, steps)
    return Migration(
        int(version_text),
        name,
        path,
        hashlib.sha256(text.encode()).hexdigest(),
        meta.get("touches", "").split(),
        meta.get("target", "").split(),
        renames,
        steps,
        "\n".join(description).strip(),
    )


def load_all(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file of `directory`, in version order; refuses duplicate numbers."""
    migrations = [parse(p) for p in sorted(directory.glob("[0-9][0-9][0-9]_*.sql"))]
    versions = [m.version for m in migrations]
    duplicates = sorted({v for v in versions if versions.count(v) > 1})
    if duplicates:
        raise DawsosError(
            errors.MIGRATION_FILE_INVALID,
            f"migration numbers used twice: {duplicates}",
            "give every migration file its own number (the legacy 009/010 collision is what 018 repairs)",
        )
    return migrations
