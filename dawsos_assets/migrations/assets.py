# No `from __future__ import annotations` here: Dagster reads the config annotation at decoration time.
"""The migrations in the asset graph (group `migrations`, chained in order) and the one job that applies them.

A migration is an external asset: Dagster shows it, its lineage to the tables it changes and every time it was
applied, but cannot materialize it. So "Materialize all" in the UI, a selection of assets, an automation condition
or a schedule can never apply a pending migration; only launching the job `apply_migrations` (or `dawsos migrate
apply`) does. Each op of that job reports a materialization when it applied (or adopted) its migration, with the
statements in full, and an observation when it found the migration already applied, so the migration's page keeps
showing the figures of the real change.
"""

from itertools import pairwise

import dagster as dg
from pydantic import Field

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.migrations.files import Migration, load_all
from dawsos_assets.migrations.runner import ORPHAN_POLICIES, POLICY_ENV, MigrationRunner, RunReport
from dawsos_assets.tables.legacy_assets import LEGACY_TABLES, legacy_key

MIGRATIONS_GROUP = "migrations"
APPLY_MIGRATIONS_JOB = "apply_migrations"


class MigrationConfig(dg.Config):
    """Run configuration of the migration ops."""

    orphan_policy: str | None = Field(
        default=None,
        description=f"One of {', '.join(ORPHAN_POLICIES)}; unset: "
        f"{POLICY_ENV}, else placeholder (the same precedence as the CLI).",
    )
    backup: bool = Field(default=True, description="pg_dump the touched tables to .dawsos/backups/ first.")


def migration_key(migration: Migration) -> dg.AssetKey:
    """Asset key of a migration (`migrations/<label>`)."""
    return dg.AssetKey(["migrations", migration.label])


def _statements_markdown(report: RunReport) -> str:
    """Each step's statements in full, with the lock each took, its effect and its time."""
    blocks = []
    for step in report.steps:
        if step.skipped:
            blocks.append(f"**{step.name}**: skipped, {step.reason}")
        for s in step.statements:
            blocks.append(f"**{step.name}** ({s.lock}, {s.ms:.1f} ms): {s.effect}\n\n```sql\n{s.sql}\n```")
    return "\n\n".join(blocks)


def _schema_markdown(schemas: dict[str, list[str]]) -> str:
    return "\n".join(f"**{table}**: " + ", ".join(columns) for table, columns in schemas.items()) or "(unchanged)"


def report_metadata(report: RunReport) -> dict:
    """What a migration run reports as asset metadata: status, timings, locks, rows moved and statements."""
    metadata = {
        "status": report.status,
        "duration_ms": dg.MetadataValue.float(round(report.duration_ms, 1)),
        "longest_write_blocking_lock_ms": dg.MetadataValue.float(round(report.longest_exclusive_hold_ms, 2)),
        "rows_quarantined": dg.MetadataValue.int(sum(report.quarantined.values())),
        "rows_relinked": dg.MetadataValue.int(sum(report.relinked.values())),
        "quarantined_by_table": dg.MetadataValue.json(report.quarantined),
        "statements": dg.MetadataValue.md(_statements_markdown(report)),
        "schema_before": dg.MetadataValue.md(_schema_markdown(report.schema_before)),
        "schema_after": dg.MetadataValue.md(_schema_markdown(report.schema_after)),
    }
    if report.backup_path:
        metadata["backup_path"] = dg.MetadataValue.path(report.backup_path)
    return metadata


def migration_spec(migration: Migration, previous: Migration | None) -> dg.AssetSpec:
    """The external asset of a migration: after the previous one, upstream of the tables it touches."""
    deps = [migration_key(previous)] if previous else []
    deps += [legacy_key(table) for table in migration.touches if table in LEGACY_TABLES]
    return dg.AssetSpec(
        migration_key(migration),
        group_name=MIGRATIONS_GROUP,
        deps=deps,
        kinds={"postgres", "sql"},
        description=f"Migration {migration.label}. {migration.description} Applied only by the job "
        f"{APPLY_MIGRATIONS_JOB} (or `dawsos migrate apply`), never by materializing assets.",
        code_version=migration.checksum[:16],
        metadata={
            "sql_file": dg.MetadataValue.path(f"sql/migrations/{migration.path.name}"),
            "touches": dg.MetadataValue.json(migration.touches),
            # an external asset has no function to link: its source is the migration file
            "dagster/code_references": dg.CodeReferencesMetadataValue(
                code_references=[dg.LocalFileCodeReference(file_path=str(migration.path), line_number=1)]
            ),
        },
    )


def build_migration_assets() -> list[dg.AssetSpec]:
    """The asset specs of every migration, chained in order."""
    migrations = load_all()
    return [migration_spec(m, migrations[i - 1] if i else None) for i, m in enumerate(migrations)]


def migration_op_name(migration: Migration) -> str:
    """Name of the op that applies `migration`."""
    return f"apply_{migration.label}"


def build_migration_op(migration: Migration) -> dg.OpDefinition:
    """The op that applies one migration and reports it as a materialization or an observation."""
    key = migration_key(migration)

    @dg.op(
        name=migration_op_name(migration),
        ins={"after": dg.In(dg.Nothing)},
        out=dg.Out(dg.Nothing),
        pool="portfolio_database",
        description=f"Apply migration {migration.label} if it is pending.",
    )
    def apply_migration(context: dg.OpExecutionContext, config: MigrationConfig, database: PortfolioDatabase):
        runner = MigrationRunner(database.resolved_url(), policy=config.orphan_policy, backup=config.backup)
        [report] = runner.apply(only=migration.version)
        context.log.info(f"{migration.label}: {report.status} in {report.duration_ms:.0f} ms")
        if report.status == "already applied":  # checksum verified, nothing changed: the last figures stay
            context.log_event(
                dg.AssetObservation(
                    key,
                    metadata={
                        "status": report.status,
                        "checksum": migration.checksum,
                        "duration_ms": dg.MetadataValue.float(round(report.duration_ms, 1)),
                    },
                )
            )
        else:
            context.log_event(dg.AssetMaterialization(key, metadata=report_metadata(report)))

    return apply_migration


def build_apply_migrations_job() -> dg.JobDefinition:
    """One op per migration, each after the previous one: a failing migration stops the ones after it."""
    ops = [build_migration_op(m) for m in load_all()]
    order = {later.name: {"after": dg.DependencyDefinition(earlier.name)} for earlier, later in pairwise(ops)}
    return dg.GraphDefinition(name=APPLY_MIGRATIONS_JOB, node_defs=ops, dependencies=order).to_job(
        description="Apply pending migrations in order; each one already applied is verified and observed. "
        "Never scheduled, never started by automation: launch it yourself.",
        executor_def=dg.in_process_executor,
    )  # short SQL steps: no process per step (see operations/jobs.py)


def migrations_touching(table: str) -> list[Migration]:
    """The migrations that change `table`."""
    return [m for m in load_all() if table in m.touches]
