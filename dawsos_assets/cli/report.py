"""Human-readable reports for the CLI: the seed manifest and the legacy state of the database."""

from __future__ import annotations

import psycopg
from rich.console import Console
from rich.table import Table

from dawsos_assets.database.inspect import legacy_findings
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.database.seed.loader import defect_counts_in_database, read_manifest

ALPHA_VALIDATION_SQL = """
SELECT COUNT(*) AS lot_count, SUM(quantity) AS total_quantity, SUM({open_column}) AS total_qty_open,
       SUM(cost_basis) AS total_cost
  FROM lots WHERE portfolio_id = %s
"""


def alpha_validation(conn: psycopg.Connection) -> dict:
    """The plan's Day-0 validation query on Test Portfolio Alpha (expected 3 / 225 / 225 / 55000)."""
    lot_columns = {
        c
        for (c,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'lots'"
        )
    }
    open_column = next((c for c in ("qty_open", "quantity_open") if c in lot_columns), "quantity")
    row = conn.execute(ALPHA_VALIDATION_SQL.format(open_column=open_column), (ref.ALPHA_PORTFOLIO_ID,)).fetchone()
    return {
        "lot_count": row[0],
        "total_quantity": float(row[1] or 0),
        "total_qty_open": float(row[2] or 0),
        "total_cost": float(row[3] or 0),
    }


def manifest_table(manifest: dict, observed: dict[str, int] | None = None) -> Table:
    """A table of the defects the seed planted, and how many each check finds now when given."""
    table = Table(title="Injected data defects (seed manifest)", title_justify="left")
    table.add_column("defect")
    table.add_column("rows", justify="right")
    if observed is not None:
        table.add_column("found now", justify="right")
    table.add_column("what it is")
    for key, item in manifest["defects"].items():
        if not item["applicable"]:
            continue
        cells = [key, f"{item['count']:,}"]
        if observed is not None:
            cells.append(f"{observed[key]:,}")
        table.add_row(*cells, item["description"])
    for key, item in manifest["legal"].items():
        cells = [f"{key} (legal)", f"{item['count']:,}"] + ([f"{item['count']:,}"] if observed is not None else [])
        table.add_row(*cells, item["description"])
    return table


def print_legacy_summary(console: Console, conn: psycopg.Connection) -> dict:
    """Print what is wrong with the legacy database, read from the catalog and the data; return the findings."""
    findings = legacy_findings(conn)
    manifest = read_manifest(conn)
    variant = findings["variant"]
    console.print(
        f"[bold]Legacy DawsOS database[/] as of {manifest['as_of']} (state {manifest['variant']['state']}) — "
        f"migration 007 {'applied' if variant['lots_007'] else 'not applied'}, position_factor_betas "
        f"{variant['betas'] or 'absent'}, scenario_shocks {variant['shocks'] or 'absent'}, audit_log "
        f"{'shape ' + variant['audit_log'] if variant['audit_log'] else 'absent'}"
    )
    counts = manifest["row_counts"]
    console.print(
        f"Rows: {counts.get('portfolios', 0)} portfolios, {counts.get('lots', 0):,} lots, "
        f"{counts.get('transactions', 0):,} transactions, {counts.get('prices', 0):,} prices, "
        f"{counts.get('pricing_packs', 0)} pricing packs, {counts.get('portfolio_daily_values', 0):,} daily values"
    )
    console.print(
        f"lots carries {len(findings['lots_quantity_columns'])} quantity columns: "
        f"{', '.join(findings['lots_quantity_columns'])}"
    )

    names = Table(title="Non-standard column names", title_justify="left")
    for header in ("table", "legacy name", "standard name"):
        names.add_column(header)
    for item in findings["legacy_names"]:
        names.add_row(item["table"], item["legacy"], item["standard"])
    console.print(names)

    keys = Table(title="Missing foreign keys", title_justify="left")
    for header in ("column", "should reference"):
        keys.add_column(header)
    for fk in findings["missing_foreign_keys"]:
        keys.add_row(
            f"{fk['table']}.{fk['column']}",
            f"{fk['parent']}.{fk['parent_column']}" + (" (NULL allowed)" if fk["nullable"] else ""),
        )
    console.print(keys)

    for collision in findings["ledger_collisions"]:
        console.print(f"Migration number {collision['number']:03d} used twice: {', '.join(collision['migrations'])}")
    if not conn.execute("SELECT to_regclass('public.migration_history') IS NOT NULL").fetchone()[0]:
        console.print(
            "No migration ledger: DawsOS recorded none at this date (its files number two migrations 009 "
            "and two 010); dawsos_migrations.ledger records ours"
        )
    console.print(manifest_table(manifest, defect_counts_in_database(conn)))
    alpha = alpha_validation(conn)
    console.print(
        f"Test Portfolio Alpha (plan's validation query): lot_count {alpha['lot_count']}, "
        f"SUM(quantity) {alpha['total_quantity']:g}, SUM(qty_open) {alpha['total_qty_open']:g}, "
        f"SUM(cost_basis) {alpha['total_cost']:g}"
    )
    return {"findings": findings, "alpha": alpha}


def print_check_results(console: Console, outcomes, only_failures: bool = False) -> None:
    """Print the table checks' outcomes (only the failures if asked) and a count line."""
    table = Table(title="Table checks (in PostgreSQL)", title_justify="left")
    for header in ("table", "check", "severity", "result", "failing", "detail"):
        table.add_column(header)
    for o in outcomes:
        if only_failures and o.passed:
            continue
        result = "[green]pass[/]" if o.passed else ("[red]FAIL[/]" if o.severity == "ERROR" else "[yellow]warn[/]")
        detail = o.description
        if o.details.get("failing_by_rule"):
            detail = "; ".join(f"{rule}: {n}" for rule, n in o.details["failing_by_rule"].items())
        elif o.check == "column_names" and o.sample:
            detail = "; ".join(f"{p['column']}: {p['problem']}" for p in o.sample)
        table.add_row(o.table, o.check, o.severity, result, f"{o.failing_count:,}", detail[:140])
    console.print(table)
    failed = [o for o in outcomes if not o.passed]
    console.print(
        f"{len(outcomes)} checks: {len(outcomes) - len(failed)} passed, "
        f"{sum(o.severity == 'ERROR' for o in failed)} ERROR failed, "
        f"{sum(o.severity == 'WARN' for o in failed)} WARN failed"
    )
