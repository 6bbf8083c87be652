# No `from __future__ import annotations` here: Dagster reads the config annotation at decoration time.
"""One asset per migration (group `migrations`), chained in order: materializing applies it if it is pending,
otherwise verifies its checksum and reports "already applied". Schedules never run these (issue 6)."""


import dagster as dg
from pydantic import Field

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.migrations.files import Migration, load_all
from dawsos_assets.migrations.runner import ORPHAN_POLICIES, POLICY_ENV, MigrationRunner, RunReport
from dawsos_assets.tables.legacy_assets import LEGACY_TABLES, legacy_key

MIGRATIONS_GROUP = "migrations"


class MigrationConfig(dg.Config):
    orphan_policy: str | None = Field(default=None, description=f"One of {', '.join(ORPHAN_POLICIES)}; unset: "
                                      f"{POLICY_ENV}, else placeholder (the same precedence as the CLI).")
    backup: bool = Field(default=True, description="pg_dump the touched tables to .dawsos/backups/ first.")


def migration_key(migration: Migration) -> dg.AssetKey:
    return dg.AssetKey(["migrations", migration.label])


def _statements_markdown(report: RunReport) -> str:
    lines = ["| step | lock | effect | ms | statement |", "|---|---|---|---|---|"]
    for step in report.steps:
        if step.skipped:
            lines.append(f"| {step.name} | | skipped: {step.reason.replace('|', '/')} | | |")
        for s in step.statements:
            lines.append(f"| {step.name} | {s.lock} | {s.effect} | {s.ms:.1f} | `{s.sql[:120].replace('|', '/')}` |")
    return "\n".join(lines)


def _schema_markdown(schemas: dict[str, list[str]]) -> str:
    return "\n".join(f"**{table}**: " + ", ".join(columns) for table, columns in schemas.items()) or "(unchanged)"


def report_metadata(report: RunReport) -> dict:
    metadata = {
        "status": report.status,
        "duration_ms": dg.MetadataValue.float(round(report.duration_ms, 1)),
        "longest_write_blocking_lock_ms": dg.MetadataValue.float(round(report.longest_exclusive_hold_ms, 2)),
        "rows_quarantined": dg.MetadataValue.int(sum(report.quarantined.values())),
        "rows_relinked": dg.MetadataValue.int(sum(report.relinked.values())),
        "quarantined_by_table": dg.MetadataValue.json(report.quarantined),
    }
    if report.status != "already applied":
        metadata["statements"] = dg.MetadataValue.md(_statements_markdown(report))
        metadata["schema_before"] = dg.MetadataValue.md(_schema_markdown(report.schema_before))
        metadata["schema_after"] = dg.MetadataValue.md(_schema_markdown(report.schema_after))
    if report.backup_path:
        metadata["backup_path"] = dg.MetadataValue.path(report.backup_path)
    return metadata


def build_migration_asset(migration: Migration, previous: Migration | None) -> dg.AssetsDefinition:
    deps = [migration_key(previous)] if previous else []
    deps += [legacy_key(table) for table in migration.touches if table in LEGACY_TABLES]

    @dg.asset(key=migration_key(migration), group_name=MIGRATIONS_GROUP, deps=deps, kinds={"postgres", "sql"},
              description=f"Migration {migration.label}. {migration.description}",
              code_version=migration.checksum[:16], pool="portfolio_database",
              metadata={"sql_file": dg.MetadataValue.path(f"sql/migrations/{migration.path.name}"),
                        "touches": dg.MetadataValue.json(migration.touches)})
    def apply_migration(context: dg.AssetExecutionContext, config: MigrationConfig,
                        database: PortfolioDatabase) -> dg.MaterializeResult:
        runner = MigrationRunner(database.resolved_url(), policy=config.orphan_policy, backup=config.backup)
        [report] = runner.apply(only=migration.version)
        context.log.info(f"{migration.label}: {report.status} in {report.duration_ms:.0f} ms")
        return dg.MaterializeResult(metadata=report_metadata(report))

    return apply_migration


def build_migration_assets() -> list[dg.AssetsDefinition]:
    migrations = load_all()
    return [build_migration_asset(m, migrations[i - 1] if i else None) for i, m in enumerate(migrations)]


def migrations_touching(table: str) -> list[Migration]:
    return [m for m in load_all() if table in m.touches]
