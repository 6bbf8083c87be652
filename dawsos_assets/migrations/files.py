"""Migration files: parsing the step grammar and classifying every statement by the lock it takes.

A migration is one file `sql/migrations/NNN_name.sql`:

    -- @migration 014 standardize_quantity_names
    -- @touches lots
    -- @before !column:lots.quantity_open
    -- @after column:lots.quantity_open !column:lots.qty_open
    -- @up online prepare_index when=column:lots.qty_open
    CREATE INDEX CONCURRENTLY IF NOT EXISTS ...;
    -- @up switch
    ALTER TABLE lots RENAME COLUMN qty_open TO quantity_open;
    -- @down switch
    ...

Step kinds: `online` (each statement in autocommit: CREATE INDEX CONCURRENTLY, VALIDATE), `transaction` (one
transaction), `batch` (one statement repeated in its own transaction until it changes no row), `require_none`
(a query that must return no row, else the migration stops with the rows), `switch` (the final transaction,
which also writes the ledger). Conditions (`when=` comma-separated; `@before`, `@after` space-separated) are
catalog facts, all required; `!` negates: column:T.C columns:T.C1+C2 table:T function:F constraint:T.N
index:N valid_index:N fk:T.C valid_fk:T.C schema:S policy:P. All switch steps whose conditions hold run in one final
transaction together with the ledger row, so a migration becomes visible at once or not at all.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from dawsos_assets import errors
from dawsos_assets.database.legacy import SQL_DIR
from dawsos_assets.errors import DawsosError

MIGRATIONS_DIR = SQL_DIR / "migrations"
STEP_KINDS = {"online", "transaction", "batch", "require_none", "switch"}
ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"


@dataclass(frozen=True)
class Classification:
    lock: str  # the strongest table lock the statement takes
    effect: str  # catalog-only | scans table | writes rows | rewrites table | none
    target: str | None = None


# Ordered: the first matching rule wins. Sources: PostgreSQL ALTER TABLE docs, performance_anchors.md §1.9.
_RULES: list[tuple[str, Classification]] = [
    (r"^ALTER TABLE .* ALTER COLUMN \S+ (SET DATA )?TYPE ", Classification(ACCESS_EXCLUSIVE, "rewrites table")),
    (r"^ALTER TABLE .* ADD COLUMN .* DEFAULT .*\(", Classification(ACCESS_EXCLUSIVE, "rewrites table")),
    (r"^ALTER TABLE .* SET (UNLOGGED|LOGGED|TABLESPACE)", Classification(ACCESS_EXCLUSIVE, "rewrites table")),
    (r"^(VACUUM FULL|CLUSTER)\b", Classification(ACCESS_EXCLUSIVE, "rewrites table")),
    (r"^ALTER TABLE .* VALIDATE CONSTRAINT", Classification("SHARE UPDATE EXCLUSIVE", "scans table")),
    (r"^ALTER TABLE .* ADD CONSTRAINT \S+ FOREIGN KEY .* NOT VALID", Classification("SHARE ROW EXCLUSIVE", "catalog-only")),
    (r"^ALTER TABLE .* ADD CONSTRAINT \S+ FOREIGN KEY", Classification("SHARE ROW EXCLUSIVE", "scans table")),
    (r"^ALTER TABLE .* NOT VALID\s*$", Classification(ACCESS_EXCLUSIVE, "catalog-only")),
    (r"^ALTER TABLE .* ADD CONSTRAINT \S+ (UNIQUE|PRIMARY KEY)", Classification(ACCESS_EXCLUSIVE, "scans table")),
    (r"^ALTER TABLE .* ADD CONSTRAINT \S+ CHECK", Classification(ACCESS_EXCLUSIVE, "scans table")),
    (r"^ALTER TABLE .* SET NOT NULL", Classification(ACCESS_EXCLUSIVE, "scans table, unless a validated CHECK proves it")),
    (r"^ALTER TABLE .* (ENABLE|DISABLE) TRIGGER", Classification("SHARE ROW EXCLUSIVE", "catalog-only")),
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
_TARGET = re.compile(r"^(?:ALTER TABLE(?: ONLY)?|UPDATE|DELETE FROM|INSERT INTO|LOCK TABLE|CREATE (?:UNIQUE )?INDEX"
                     r"(?: CONCURRENTLY)?(?: IF NOT EXISTS)? \S+ ON)\s+([\w.\"]+)")


def classify(statement: str) -> Classification:
    text = " ".join(statement.split()).rstrip(";").upper()
    target_match = _TARGET.match(" ".join(statement.split()))
    target = target_match.group(1).lower() if target_match else None
    for pattern, result in _RULES:
        if re.search(pattern, text):
            return Classification(result.lock, result.effect, target)
    return Classification("none on existing tables", "none", target)


@dataclass
class Step:
    direction: str  # up | down
    kind: str
    name: str
    conditions: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)


@dataclass
class Migration:
    version: int
    name: str
    path: Path
    checksum: str
    touches: list[str]
    before: list[str]
    after: list[str]
    steps: list[Step]
    description: str = ""

    @property
    def label(self) -> str:
        return f"{self.version:03d}_{self.name}"

    def steps_for(self, direction: str) -> list[Step]:
        return [s for s in self.steps if s.direction == direction]


def split_statements(sql: str) -> list[str]:
    """Split on semicolons outside quotes, dollar-quoted bodies and comments."""
    statements, current, i = [], [], 0
    dollar: str | None = None
    quote = False
    while i < len(sql):
        ch = sql[i]
        if dollar:
            if sql.startswith(dollar, i):
                current.append(dollar)
                i += len(dollar)
                dollar = None
                continue
        elif quote:
            if ch == "'":
                quote = False
        elif ch == "'":
            quote = True
        elif ch == "$":
            match = re.match(r"\$[A-Za-z_]*\$", sql[i:])
            if match:
                dollar = match.group(0)
                current.append(dollar)
                i += len(dollar)
                continue
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end == -1 else end
            continue
        elif ch == ";":
            statement = "".join(current).strip()
            if statement:
                statements.append(statement)
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    tail = "".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


_HEADER = re.compile(r"^--\s*@(migration|touches|before|after|up|down)\b(.*)$")


def parse(path: Path) -> Migration:
    text = path.read_text()
    checksum = hashlib.sha256(text.encode()).hexdigest()
    meta: dict[str, str] = {}
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
            if not rest or rest[0] not in STEP_KINDS:
                raise DawsosError(errors.MIGRATION_FILE_INVALID, f"{path.name}: step '{line.strip()}' has no known kind",
                                  f"use one of {sorted(STEP_KINDS)}")
            name, conditions = rest[0], []
            for part in rest[1:]:
                if part.startswith("when="):
                    conditions += part[len("when="):].split(",")
                else:
                    name = part
            steps.append(Step(tag, rest[0], name, conditions))
        else:
            meta[tag] = " ".join(rest)
    flush()
    if "migration" not in meta:
        raise DawsosError(errors.MIGRATION_FILE_INVALID, f"{path.name} has no `-- @migration NNN name` header",
                          "start the file with `-- @migration 019 my_change`")
    version_text, _, name = meta["migration"].partition(" ")
    if f"{int(version_text):03d}_{name}.sql" != path.name:
        raise DawsosError(errors.MIGRATION_FILE_INVALID, f"{path.name} declares {meta['migration']}",
                          "make the header's number and name match the file name")
    for direction in ("up", "down"):
        kinds = [s.kind for s in steps if s.direction == direction]
        first_switch = kinds.index("switch") if "switch" in kinds else None
        if first_switch is None or any(k != "switch" for k in kinds[first_switch:]):
            raise DawsosError(errors.MIGRATION_FILE_INVALID, f"{path.name}: the {direction} steps must end with switch steps",
                              f"put the ledger-visible change in final `-- @{direction} switch` steps")
    return Migration(int(version_text), name, path, checksum, meta.get("touches", "").split(),
                     meta.get("before", "").split(), meta.get("after", "").split(), steps,
                     "\n".join(description).strip())


def load_all(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = [parse(p) for p in sorted(directory.glob("[0-9][0-9][0-9]_*.sql"))]
    versions = [m.version for m in migrations]
    duplicates = sorted({v for v in versions if versions.count(v) > 1})
    if duplicates:
        raise DawsosError(errors.MIGRATION_FILE_INVALID, f"migration numbers used twice: {duplicates}",
                          "give every migration file its own number (the legacy 009/010 collision is what 018 repairs)")
    return migrations
