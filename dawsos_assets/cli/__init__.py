"""`dawsos`: the command line of dawsos-assets."""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum

import typer
from rich.console import Console

from dawsos_assets import errors
from dawsos_assets.database import connection
from dawsos_assets.database.legacy import LegacyVariant
from dawsos_assets.database.server import EmbeddedPostgres
from dawsos_assets.errors import DawsosError

app = typer.Typer(
    help="Refactor and guard the DawsOS portfolio-analytics database.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    help="The database: the embedded PostgreSQL under .dawsos/, or DAWSOS_DATABASE_URL.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
migrate_app = typer.Typer(
    help="Migrations 014-019: converge from any real DawsOS state, online, reversible, recorded in "
    "dawsos_migrations.ledger.",
    no_args_is_help=True,
)
app.add_typer(migrate_app, name="migrate")
console = Console(width=None if sys.stdout.isatty() else 120)


class BetasForm(StrEnum):
    """Legacy form of position_factor_betas to seed."""

    long = "long"
    wide = "wide"


class ShocksForm(StrEnum):
    """Legacy form of scenario_shocks to seed."""

    flat = "flat"
    jsonb = "jsonb"


class AuditShape(StrEnum):
    """Legacy shape of audit_log to seed."""

    a = "a"
    b = "b"


class State(StrEnum):
    """Which real legacy history to seed."""

    plan = "plan"
    nov4 = "nov4"
    nov8 = "nov8"


def _embedded_only() -> EmbeddedPostgres:
    if not connection.uses_embedded_server():
        raise DawsosError(
            errors.EMBEDDED_NOT_USED,
            f"{connection.URL_ENV} is set, so the embedded server is not in use",
            f"manage that server yourself, or unset {connection.URL_ENV}",
        )
    return EmbeddedPostgres()


@db_app.command("start")
def db_start() -> None:
    """Start the embedded PostgreSQL (a no-op when it is running)."""
    server = _embedded_only()
    port = server.start()
    console.print(f"embedded PostgreSQL running on 127.0.0.1:{port} (data in {server.pgdata})")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL."""
    stopped = _embedded_only().stop()
    console.print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")


@db_app.command("status")
def db_status() -> None:
    """Say which database commands use and whether it answers."""
    if not connection.uses_embedded_server():
        url = connection.database_url()
        with connection.connect(url) as conn:
            console.print(f"external PostgreSQL {conn.info.server_version} at {connection.redacted(url)}: reachable")
        return
    status = EmbeddedPostgres().status()
    state = f"running on 127.0.0.1:{status.port} (pid {status.pid})" if status.running else "stopped"
    console.print(f"embedded PostgreSQL {state}; data in {status.pgdata}")


@db_app.command("url")
def db_url() -> None:
    """Print the portfolio database URL (starts the embedded server if needed); psql accepts it."""
    print(connection.ensure_database())


@app.command()
def seed(
    seed: int = typer.Option(42, help="Random seed: the same seed gives the same database."),
    lots: int | None = typer.Option(None, help="Scale lots up to this many (at most 10,000,000), loaded with COPY."),
    portfolios: int | None = typer.Option(None, help="Generated portfolios besides the demo and Test Portfolio Alpha."),
    fresh: bool = typer.Option(False, "--fresh", help="Drop an existing demo database first."),
    without_007: bool = typer.Option(False, "--without-007", help="Legacy variant: migration 007 never ran."),
    betas: BetasForm = typer.Option(BetasForm.long, help="Legacy variant of position_factor_betas."),
    shocks: ShocksForm = typer.Option(ShocksForm.flat, help="Legacy variant of scenario_shocks."),
    audit_log: AuditShape = typer.Option(AuditShape.b, help="Legacy shape of audit_log."),
    state: State = typer.Option(
        State.plan,
        help="plan: the plan's date; nov4: after the team's own refactoring that "
        "evening; nov8: after their migrations of 2025-11-08.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Create a legacy DawsOS database in one of its real states, with deterministic demo data and the defects that
    state allows.
    """
    from dawsos_assets.cli.report import manifest_table
    from dawsos_assets.database.seed.loader import SeedOptions, seed_database

    options = SeedOptions(
        seed=seed,
        lots=lots,
        portfolios=portfolios,
        fresh=fresh,
        progress=not as_json,
        variant=LegacyVariant(
            lots_007=not without_007,
            betas=betas.value,
            shocks=shocks.value,
            audit_log=audit_log.value,
            state=state.value,
        ),
    )
    options.validate()
    with connection.connect() as conn:
        manifest = seed_database(conn, options)
    if as_json:
        print(json.dumps(manifest, indent=2, default=str))
        return
    console.print(
        f"seeded {connection.redacted(connection.database_url())} (seed {seed}); "
        f"{manifest['row_counts']['lots']:,} lots, {manifest['row_counts']['transactions']:,} transactions"
    )
    console.print(manifest_table(manifest))
    console.print(
        "The manifest is stored as JSON in dawsos_meta.seed_manifest. Provider data (fundamentals, news, "
        "corporate actions) goes in after `dawsos migrate apply`: `dawsos feeds load`."
    )


feeds_app = typer.Typer(help="What DawsOS's data providers delivered at run time, for the demo.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")


@feeds_app.command("load")
def feeds_load() -> None:
    """Load the demo's fundamentals, news and upcoming corporate actions into the tables migration 019 creates."""
    from dawsos_assets.database.seed.loader import load_provider_data

    with connection.connect() as conn:
        counts = load_provider_data(conn)
    console.print("loaded " + ", ".join(f"{n} {table}" for table, n in counts.items()))


class OrphanPolicy(StrEnum):
    """What a migration does with orphaned rows."""

    placeholder = "placeholder"
    quarantine = "quarantine"
    fail = "fail"


def _runner(policy: OrphanPolicy | None = None, backup: bool = True):
    from dawsos_assets.migrations.runner import MigrationRunner

    return MigrationRunner(policy=policy.value if policy else None, backup=backup)


def _print_runs(reports, as_json: bool, nothing: str = "nothing to do: every migration is applied") -> None:
    if as_json:
        print(json.dumps([r.as_dict() for r in reports], indent=2, default=str))
        return
    if not reports:
        console.print(nothing)
    for r in reports:
        extra = f", backup {r.backup_path}" if r.backup_path else ""
        orphans = f", quarantined {r.quarantined}" if r.quarantined else ""
        console.print(
            f"{r.version:03d} {r.name}: {r.status} in {r.duration_ms:.0f} ms, longest write-blocking lock "
            f"{r.longest_exclusive_hold_ms:.1f} ms{orphans}{extra}"
        )


POLICY_HELP = "What to do with orphaned rows: relink to an UNKNOWN security, move to quarantine, or stop."


@migrate_app.command("status")
def migrate_status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Applied and pending migrations, with checksum verification."""
    rows = _runner().status()
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        check = "" if row["checksum_ok"] in (None, True) else "  CHECKSUM CHANGED"
        when = f" at {row['applied_at']}" if row["applied_at"] else ""
        console.print(f"{row['version']:03d} {row['name']}: {row['state']}{when}{check}")


@migrate_app.command("plan")
def migrate_plan(
    to: int | None = typer.Option(None, "--to", min=0),
    policy: OrphanPolicy | None = typer.Option(None, help=POLICY_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """What each pending migration would do here, step by step: apply, create, adopt, skip or refuse, and why;
    every statement with the lock it takes. Changes nothing.
    """
    planned = _runner(policy).plan(to)
    if as_json:
        print(json.dumps([p.as_dict() for p in planned], indent=2, default=str))
        return
    if not planned:
        console.print("nothing to do: every migration is applied")
    for migration in planned:
        console.print(
            f"[bold]{migration.label}[/] ({migration.state}): {migration.action}"
            + (f" — {migration.refusal}" if migration.refusal else "")
        )
        for step in migration.steps:
            console.print(f"  {step.action:<22} {step.step}: {step.reason}")
            for statement in step.statements if step.action in ("apply", "create", "rewrite", "search_path") else []:
                lock = f"[{statement['lock']}; {statement['effect']}] " if "lock" in statement else ""
                console.print(f"      {lock}{' '.join(statement['sql'].split())[:110]}")


@migrate_app.command("adopt")
def migrate_adopt(version: int = typer.Argument(..., help="The migration to record as done, e.g. 017")) -> None:
    """Record a pending migration as done without running it, after you checked by hand that the database already
    is what it makes (as Flyway's baseline or Liquibase's MARK_RAN do). Its rollback changes nothing.
    """
    report = _runner().adopt(version)
    console.print(f"{report.version:03d} {report.name}: {report.status}")


@migrate_app.command("apply")
def migrate_apply(
    to: int | None = typer.Option(None, "--to", min=0, help="Stop after this version."),
    policy: OrphanPolicy | None = typer.Option(None, help=POLICY_HELP),
    no_backup: bool = typer.Option(False, "--no-backup", help="Skip the pg_dump taken before each migration."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Apply pending migrations in order (a second runner waits, then finds nothing to do)."""
    _print_runs(_runner(policy, backup=not no_backup).apply(to), as_json)


@migrate_app.command("rollback")
def migrate_rollback(
    to: int = typer.Option(0, "--to", min=0, help="Version to return to; 0 is the legacy database."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Undo applied migrations above --to, newest first; rows set aside come back as they were."""
    _print_runs(_runner().rollback(to), as_json, nothing=f"nothing to roll back above version {to:03d}")


@migrate_app.command("restore")
def migrate_restore(backup: str = typer.Argument(..., help="A .dump file from .dawsos/backups/")) -> None:
    """Put a pre-migration backup back, in one transaction: migrations after its version undone, the backed-up
    tables made equal to the dump (rows that differ or are new kept in quarantine). Verified before any change.
    """
    from pathlib import Path

    result = _runner().restore(Path(backup))
    console.print(
        f"restored {result['tables']} from {result['restored']} at version {result['version']:03d}; "
        f"{result['rows_set_aside']} replaced row(s) kept in quarantine.row_copies"
    )


@app.command()
def check(as_json: bool = typer.Option(False, "--json", help="Print a JSON list of check results.")) -> None:
    """Run every table check inside PostgreSQL, without the Dagster daemon; exit 1 when an ERROR check fails."""
    from dawsos_assets.cli.report import print_check_results
    from dawsos_assets.database.inspect import require_tables
    from dawsos_assets.tables.checks import ERROR, run_all_checks

    with connection.connect() as conn:
        require_tables(conn, ("portfolios", "lots"))  # else every check fails and none says why
        outcomes = run_all_checks(conn)
    if as_json:
        print(json.dumps([o.summary() for o in outcomes], indent=2))
    else:
        print_check_results(console, outcomes)
    if any(not o.passed and o.severity == ERROR for o in outcomes):
        raise typer.Exit(1)


expectations_app = typer.Typer(
    help="Great Expectations suites generated from the table contracts.", no_args_is_help=True
)
app.add_typer(expectations_app, name="expectations")


@expectations_app.command("build")
def expectations_build() -> None:
    """Regenerate expectations/expectations/*.json from the contracts (commit the result)."""
    from dawsos_assets.tables.expectations import build_suites

    for path in build_suites():
        console.print(f"wrote {path.relative_to(path.parents[2])}")


patterns_app = typer.Typer(help="The 13 DawsOS analytics patterns.", no_args_is_help=True)
app.add_typer(patterns_app, name="patterns")


@patterns_app.command("run")
def patterns_run(
    pattern: str = typer.Argument(..., help="Pattern id, e.g. portfolio_overview"),
    portfolio: str | None = typer.Option(None, "--portfolio", help="Portfolio UUID"),
    inputs: list[str] = typer.Option([], "--input", help="Other inputs as name=JSON value"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run one pattern outside Dagster and print its output and trace."""
    from dawsos_assets.patterns.engine import PatternEngine
    from dawsos_assets.patterns.loader import load
    from dawsos_assets.patterns.registry import default_registry

    values = {}
    for item in inputs:
        name, equals, raw = item.partition("=")
        if not equals or not name:
            raise DawsosError(
                errors.PATTERN_INPUT_INVALID,
                f"--input {errors.shown(item)} is not name=value",
                "write --input lookback_days=90 (the value as JSON, or plain text)",
            )
        try:
            values[name] = json.loads(raw)
        except json.JSONDecodeError:
            values[name] = raw  # plain text needs no JSON quotes
    if portfolio is not None:
        values["portfolio_id"] = portfolio
    with connection.connect() as conn:
        result = PatternEngine(default_registry()).run(conn, load(pattern), values)
    if as_json:
        print(
            json.dumps(
                {
                    "pattern": result.pattern,
                    "data": result.data,
                    "context": result.context.as_dict(),
                    "trace": [vars(t) for t in result.trace],
                    "duration_ms": result.duration_ms,
                },
                default=str,
                indent=2,
            )
        )
        return
    console.print_json(json.dumps(result.data, default=str))
    for t in result.trace:
        note = " (skipped)" if t.skipped else ""
        console.print(
            f"  {t.step:<22} {t.capability:<40} {t.duration_ms:8.1f} ms{note}"
            + "".join(f"\n    ! {w}" for w in t.warnings)
        )
    console.print(f"{result.pattern} at {result.context.pricing_pack_id} in {result.duration_ms:.0f} ms")


portfolios_app = typer.Typer(help="The portfolios, as the pattern assets' partitions name them.", no_args_is_help=True)
app.add_typer(portfolios_app, name="portfolios")


@portfolios_app.command("list")
def portfolios_list(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of {partition, id}."),
) -> None:
    """Print each portfolio's partition key (its name, as the web UI shows it) and its id."""
    from dawsos_assets.database.inspect import require_tables
    from dawsos_assets.patterns.portfolios import portfolio_keys

    with connection.connect() as conn:
        require_tables(conn, ("portfolios",))
        keys = portfolio_keys(conn)
    if as_json:
        print(json.dumps([{"partition": key, "id": pid} for key, pid in keys.items()], indent=2))
        return
    width = max((len(key) for key in keys), default=0)
    for key, pid in keys.items():
        console.print(f"{key:<{width}}  {pid}", markup=False, highlight=False)
    console.print(f"{len(keys)} portfolio(s)", highlight=False)


@app.command()
def demo() -> None:
    """Start the database, seed it if empty, and show the legacy state and its defects."""
    from dawsos_assets.cli.demo import run_demo

    run_demo(console)


@app.command("dagster-env")
def dagster_env() -> None:
    """Print the shell lines that point the plain `dagster` and `dg` commands at this project's Dagster instance:
    eval "$(dawsos dagster-env)".
    """
    import shlex

    from dawsos_assets.operations.instance import STORAGE_URL_ENV, prepare_instance

    prepare_instance()
    for name in ("DAGSTER_HOME", STORAGE_URL_ENV):
        print(f"export {name}={shlex.quote(os.environ[name])}")


@app.command()
def ui(
    port: int = typer.Option(
        3000, min=1, max=65534, help="Port of the web UI on 127.0.0.1; the Data Docs take the next one."
    ),
) -> None:
    """Run the Dagster web UI and daemon on this project's PostgreSQL-backed instance."""
    from dawsos_assets.cli.webserver import run_ui

    raise typer.Exit(run_ui(port))


TRACEBACK_ENV = "DAWSOS_TRACEBACK"


def _click_exceptions():
    """The exceptions of the click that typer runs on: its own vendored copy in recent releases, click before."""
    return sys.modules[typer.BadParameter.__module__]


def _as_coded_error(exc: BaseException) -> DawsosError:
    """Every failure as one coded line: usage errors, database errors no code path named, and bugs."""
    import psycopg
    import sqlalchemy.exc

    click = _click_exceptions()
    if isinstance(exc, DawsosError):
        return exc
    if isinstance(exc, click.NoArgsIsHelpError):
        return DawsosError(
            errors.USAGE_ERROR, "no command given", f"pick one of the commands of `{exc.ctx.command_path} --help`"
        )
    if isinstance(exc, click.ClickException):
        where = exc.ctx.command_path if getattr(exc, "ctx", None) else "dawsos"
        return DawsosError(errors.USAGE_ERROR, exc.format_message(), f"see `{where} --help`")
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if isinstance(exc, psycopg.Error):
        state = f" ({exc.sqlstate})" if exc.sqlstate else ""
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return DawsosError(
            errors.DB_SERVER_ERROR,
            f"the database server reported{state}: {first_line}",
            "check the server log; run the command again once the cause is fixed",
        )
    return DawsosError(
        errors.INTERNAL_ERROR,
        f"unexpected {type(exc).__name__}: {exc}",
        f"this is a bug; run again with {TRACEBACK_ENV}=1 and report the traceback",
    )


def run(args: list[str]) -> int:
    """Run the command line on `args`; return the exit status. Nothing escapes as a traceback unless
    DAWSOS_TRACEBACK=1 asks for one.
    """
    click = _click_exceptions()
    try:
        return app(args=args, prog_name="dawsos", standalone_mode=False) or 0
    except typer.Abort:
        return 130  # end of input at a prompt: the user knows why
    except Exception as exc:
        if os.environ.get(TRACEBACK_ENV) == "1":
            raise
        if isinstance(exc, click.NoArgsIsHelpError):
            print(exc.ctx.get_help())
        print(_as_coded_error(exc).one_line(), file=sys.stderr)
        return 2 if isinstance(exc, (DawsosError, click.ClickException)) else 1


def main() -> None:
    """Entry point of the `dawsos` command."""
    sys.exit(run(sys.argv[1:]))
