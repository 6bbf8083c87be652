"""`dawsos demo`: the main story on the embedded database (or DAWSOS_DATABASE_URL)."""

from __future__ import annotations

import time

import dagster as dg
from rich.console import Console
from rich.table import Table

from dawsos_assets.cli.report import alpha_validation, print_check_results, print_legacy_summary
from dawsos_assets.database import connection
from dawsos_assets.database.seed.loader import SeedOptions, database_state, load_provider_data, seed_database
from dawsos_assets.operations.executors import steps_at_once
from dawsos_assets.operations.instance import prepare_instance
from dawsos_assets.operations.launch import partition_range_tags, run_job
from dawsos_assets.patterns.loader import load_all
from dawsos_assets.patterns.portfolios import PORTFOLIOS, portfolio_keys
from dawsos_assets.tables.checks import run_all_checks


def run_demo(console: Console) -> dict:
    """Run the whole demo: database, seed, migrations, checks and patterns; returns the figures shown."""
    started = time.perf_counter()
    url = connection.ensure_database()
    where = "embedded PostgreSQL" if connection.uses_embedded_server() else "PostgreSQL"
    console.print(f"[bold]1. Database[/]: {where} at {connection.redacted(url)}")
    with connection.connect(url) as conn:
        if database_state(conn) != "seeded":
            console.print("[bold]2. Seed[/]: creating the legacy DawsOS database with demo data (seed 42)")
            seed_database(conn, SeedOptions(progress=False))
        else:
            console.print("[bold]2. Seed[/]: reusing the seeded database (`dawsos seed --fresh` starts over)")
        migrated = (
            conn.execute("SELECT to_regclass('dawsos_migrations.ledger') IS NOT NULL").fetchone()[0]
            and conn.execute("SELECT count(*) FROM dawsos_migrations.ledger").fetchone()[0] > 0
        )
        if not migrated:
            console.print("[bold]3. Legacy state[/]")
            summary = print_legacy_summary(console, conn)
            console.print(
                "[bold]   Checks on the legacy database[/] (the same contracts `dawsos check` runs; they fail):"
            )
            outcomes = run_all_checks(conn)
            print_check_results(console, outcomes, only_failures=True)
            summary["legacy_checks_failed"] = [o.summary() for o in outcomes if not o.passed]
        else:
            console.print("[bold]3. Legacy state[/]: already migrated (`dawsos migrate rollback` returns to it)")
            summary = {}
    console.print("[bold]4. Migrations[/] through Dagster (job apply_migrations; history in the web UI)")
    summary["migrations"] = run_migrations_job(console)
    with connection.connect(url) as conn:
        print_standardized_summary(console, conn)
        if not conn.execute("SELECT EXISTS (SELECT 1 FROM fundamentals)").fetchone()[0]:
            counts = load_provider_data(conn)
            console.print(
                "   Provider feeds for the demo (DawsOS fetched these at run time) into the tables 019 "
                "created: " + ", ".join(f"{n} {table}" for table, n in counts.items())
            )
    console.print("[bold]5. Table checks, holdings and metrics[/] (job tables_and_checks)")
    summary["checks"] = run_checks_job(console)
    if summary["checks"]["success"]:
        console.print("[bold]6. Patterns[/] for every portfolio (job patterns, one run over every portfolio partition)")
        summary["patterns"] = run_patterns(console)
    else:  # the patterns read these tables: corrupt inputs give no pattern output
        console.print("[bold]6. Patterns[/]: not run, a blocking table check failed (see above)")
    console.print(f"demo finished in {time.perf_counter() - started:.1f} s; open the UI with `make ui`")
    return summary


def run_migrations_job(console: Console) -> list[dict]:
    """Observe the legacy tables and apply the migrations through Dagster; print a table of what each did."""
    from dawsos_assets.definitions import APPLY_MIGRATIONS_JOB, OBSERVE_LEGACY_JOB

    prepare_instance()
    with dg.DagsterInstance.get() as instance:
        run_job(instance, OBSERVE_LEGACY_JOB, run_config=QUIET, raise_on_error=True)
        result = run_job(instance, APPLY_MIGRATIONS_JOB, run_config=QUIET, raise_on_error=True)
    table = Table(title=f"Migrations (run {result.run_id[:8]})", title_justify="left")
    for header in ("migration", "status", "ms", "longest write-blocking lock (ms)", "rows quarantined", "relinked"):
        table.add_column(header)
    rows = []
    # applied: a materialization; found already applied: an observation (the real figures stay on the asset)
    events = [
        (e.asset_key.path, e.step_materialization_data.materialization.metadata)
        for e in result.get_asset_materialization_events()
    ]
    events += [
        (e.asset_key.path, e.asset_observation_data.asset_observation.metadata)
        for e in result.get_asset_observation_events()
    ]
    for key, metadata in sorted(events, key=lambda event: event[0]):
        meta = {k: getattr(v, "value", v) for k, v in metadata.items()}
        if meta["status"] == "already applied":
            table.add_row(key[1], meta["status"], f"{meta['duration_ms']:.0f}", "", "", "")
            rows.append({"migration": key[1], "status": meta["status"], "duration_ms": meta["duration_ms"]})
            continue
        rows.append(
            {
                "migration": key[1],
                **{
                    k: meta[k]
                    for k in (
                        "status",
                        "duration_ms",
                        "longest_write_blocking_lock_ms",
                        "rows_quarantined",
                        "rows_relinked",
                    )
                },
            }
        )
        table.add_row(
            key[1],
            meta["status"],
            f"{meta['duration_ms']:.0f}",
            f"{meta['longest_write_blocking_lock_ms']:.1f}",
            str(meta["rows_quarantined"]),
            str(meta["rows_relinked"]),
        )
    console.print(table)
    return rows


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the event log keeps every event
# Each step process of a side-by-side patterns run prints Dagster's "Executing step … in subprocess" line, which the
# run's logger config does not reach. Over the demo's 8 portfolios side by side gains nothing measurable (the whole
# demo: 21.3–24.7 s side by side, 19.8–27.5 s one step at a time, three runs each), so the demo's run keeps its
# steps in its own process.
PATTERNS_QUIET = {**QUIET, **steps_at_once(1)}


def run_checks_job(console: Console) -> dict:
    """Materialize the tables and run their checks through Dagster; returns which checks failed."""
    from dawsos_assets.definitions import TABLES_AND_CHECKS_JOB

    with dg.DagsterInstance.get() as instance:
        result = run_job(instance, TABLES_AND_CHECKS_JOB, run_config=QUIET)
    evaluations = result.get_asset_check_evaluations()
    failed = [
        f"{e.asset_key.to_user_string()}.{e.check_name} ({e.severity.value})" for e in evaluations if not e.passed
    ]
    console.print(
        f"{len(evaluations)} checks: {len(evaluations) - len(failed)} passed"
        + (f"; failing: {', '.join(failed)}" if failed else "")
    )
    return {"checks": len(evaluations), "failed": failed, "success": result.success}


def run_patterns(console: Console) -> dict:
    """Materialize the pattern outputs of every portfolio (reusing those stored for the latest pricing pack)."""
    from dawsos_assets.definitions import PATTERNS_JOB

    with connection.connect() as conn:
        keys = portfolio_keys(conn)
        stored = _stored_outputs(conn)
    pattern_count = len(load_all())
    if all(stored.get(portfolio_id, 0) >= pattern_count for portfolio_id in keys.values()):
        console.print(f"  {len(keys)} portfolios: reusing the outputs stored for the latest pricing pack")
        return {}
    timings, published = {}, {key: 0 for key in keys}
    with dg.DagsterInstance.get() as instance:
        partitions = _portfolio_partitions(instance, list(keys))
        result = run_job(
            instance, PATTERNS_JOB, run_config=PATTERNS_QUIET, tags=partition_range_tags(partitions[0], partitions[-1])
        )
    for event in result.get_asset_materialization_events():
        published[event.partition] += bool(event.materialization.metadata["published"].value)
        duration = event.materialization.metadata.get("duration_ms")  # none for a refused pattern
        if duration is not None:
            timings.setdefault(event.asset_key.path[-1], []).append(duration.value)
    failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed]
    console.print(
        f"  {len(partitions)} portfolios in run {result.run_id[:8]}: "
        + ("ok" if result.success and not failed else "FAILED " + ", ".join(sorted(set(failed))))
    )
    for key, count in published.items():
        console.print(f"  {key:<28} {count} of {pattern_count} patterns published", markup=False, highlight=False)
    if not timings:
        return {}
    table = Table(title="Pattern timings across portfolios (engine time, ms)", title_justify="left")
    for header in ("pattern", "portfolios", "median ms", "max ms"):
        table.add_column(header)
    for pattern, values in sorted(timings.items()):
        values.sort()
        table.add_row(pattern, str(len(values)), f"{values[len(values) // 2]:.1f}", f"{values[-1]:.1f}")
    console.print(table)
    return {p: {"portfolios": len(v), "max_ms": max(v)} for p, v in timings.items()}


def _portfolio_partitions(instance: dg.DagsterInstance, keys: list[str]) -> list[str]:
    """The portfolio partitions in the instance's order, made equal to `keys` (what the sensor
    portfolio_partitions does every minute), so that the range first…last is exactly these portfolios.
    """
    known = instance.get_dynamic_partitions(PORTFOLIOS.name)
    for stale in set(known) - set(keys):
        instance.delete_dynamic_partition(PORTFOLIOS.name, stale)
    instance.add_dynamic_partitions(PORTFOLIOS.name, [key for key in keys if key not in known])
    return instance.get_dynamic_partitions(PORTFOLIOS.name)


def _stored_outputs(conn) -> dict[str, int]:
    """Pattern outputs already stored for the latest pricing pack, per portfolio."""
    if not conn.execute("SELECT to_regclass('analytics.pattern_outputs') IS NOT NULL").fetchone()[0]:
        return {}
    rows = conn.execute("""SELECT portfolio_id::text, count(DISTINCT pattern) FROM analytics.pattern_outputs
                            WHERE pricing_pack_id = (SELECT id FROM pricing_packs WHERE superseded_by IS NULL
                                                      ORDER BY asof_date DESC, id DESC LIMIT 1)
                            GROUP BY 1""").fetchall()
    return dict(rows)


def print_standardized_summary(console: Console, conn) -> None:
    """Print what the migrations left: unvalidated foreign keys, orphans and quarantined copies."""
    unvalidated = conn.execute(
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated "
        "AND connamespace = 'public'::regnamespace"
    ).fetchone()[0]
    orphans = conn.execute("""
        SELECT (SELECT count(*) FROM lots l WHERE NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = l.security_id))
             + (SELECT count(*) FROM transactions t WHERE t.security_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = t.security_id))
             + (SELECT count(*) FROM position_factor_betas b
                 WHERE NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = b.security_id))
    """).fetchone()[0]
    copies = conn.execute("SELECT count(*) FROM quarantine.row_copies WHERE restored_at IS NULL").fetchone()[0]
    alpha = alpha_validation(conn)
    console.print(
        f"After migration: standard names in place (lots.quantity_open, *.asof_date); "
        f"{unvalidated} unvalidated foreign keys; {orphans} orphans left; {copies} row copies in quarantine; "
        f"Test Portfolio Alpha: lot_count {alpha['lot_count']}, SUM(quantity_open) {alpha['total_qty_open']:g}, "
        f"SUM(cost_basis) {alpha['total_cost']:g}"
    )
