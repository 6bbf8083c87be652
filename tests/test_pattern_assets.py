"""Pattern assets in Dagster: partitions named after the portfolios, a backfill of many portfolios as one run,
outputs published per portfolio, lineage from what the capabilities really read, and the automation condition."""

import json
import threading

import dagster as dg

from dawsos_assets.database import connection
from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.definitions import PATTERNS_JOB, TABLES_AND_CHECKS_JOB, defs
from dawsos_assets.migrations.assets import MIGRATIONS_GROUP
from dawsos_assets.patterns.assets import (
    PATTERNS_GROUP,
    build_pattern_asset,
    ensure_output_tables,
    pattern_key,
    portfolio_partitions,
)
from dawsos_assets.patterns.conventions import CONVENTIONS
from dawsos_assets.patterns.engine import PatternEngine
from dawsos_assets.patterns.loader import PATTERNS_DIR, load, load_all, parse
from dawsos_assets.patterns.portfolios import PORTFOLIOS, partition_keys, portfolio_keys
from dawsos_assets.patterns.registry import default_registry
from dawsos_assets.tables.table_assets import table_key

from .conftest import run_cli

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def keys_of(url) -> dict[str, str]:
    with connection.connect(url) as conn:
        return portfolio_keys(conn)


def partition_requests(result) -> tuple[list[str], list[str]]:
    added = [
        k
        for r in result.dynamic_partitions_requests
        if isinstance(r, dg.AddDynamicPartitionsRequest)
        for k in r.partition_keys
    ]
    deleted = [
        k
        for r in result.dynamic_partitions_requests
        if isinstance(r, dg.DeleteDynamicPartitionsRequest)
        for k in r.partition_keys
    ]
    return added, deleted


def test_partition_keys_are_portfolio_names_and_a_shared_name_gets_the_id():
    keys = partition_keys(
        [
            ("11111111-aaaa-0000-0000-000000000000", "Income  Book\n"),
            ("22222222-bbbb-0000-0000-000000000000", "Income Book"),
            ("33333333-cccc-0000-0000-000000000000", "Growth... Fund"),
        ]
    )
    assert keys == {
        "Income Book (11111111)": "11111111-aaaa-0000-0000-000000000000",
        "Income Book (22222222)": "22222222-bbbb-0000-0000-000000000000",
        "Growth… Fund": "33333333-cccc-0000-0000-000000000000",
    }


def test_sensor_keeps_name_partitions_in_step_with_portfolios_and_renames(seeded_url):
    stale = "Closed Book"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PORTFOLIOS.name, [stale])
        database = PortfolioDatabase(url=seeded_url)
        added, deleted = partition_requests(
            portfolio_partitions(dg.build_sensor_context(instance=instance, resources={"database": database}))
        )
        assert ref.ALPHA_NAME in added and len(added) == 8 and ref.ALPHA_PORTFOLIO_ID not in added
        assert deleted == [stale]
        instance.delete_dynamic_partition(PORTFOLIOS.name, stale)
        instance.add_dynamic_partitions(PORTFOLIOS.name, added)
        with connection.connect(seeded_url) as conn:
            conn.execute("UPDATE portfolios SET name = 'Alpha Renamed' WHERE id = %s", (ref.ALPHA_PORTFOLIO_ID,))
            conn.commit()
        added, deleted = partition_requests(
            portfolio_partitions(dg.build_sensor_context(instance=instance, resources={"database": database}))
        )
    assert added == ["Alpha Renamed"] and deleted == [ref.ALPHA_NAME]


def test_portfolios_list_prints_partition_keys_and_ids(seeded_url):
    listed = run_cli("portfolios", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {"partition": ref.ALPHA_NAME, "id": ref.ALPHA_PORTFOLIO_ID} in rows and len(rows) == 8
    plain = run_cli("portfolios", "list")
    assert any(line.split() == [*ref.ALPHA_NAME.split(), ref.ALPHA_PORTFOLIO_ID] for line in plain.stdout.splitlines())


def test_a_backfill_of_every_portfolio_is_one_run_that_publishes_each(migrated_url):
    """The run a backfill launches under BackfillPolicy.single_run: one run over the partition range, each
    pattern's step looping over the portfolios, with every portfolio's output and metadata of its own."""
    assert all(
        defs.resolve_assets_def(pattern_key(p)).backfill_policy == dg.BackfillPolicy.single_run() for p in load_all()
    )
    keys = keys_of(migrated_url)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PORTFOLIOS.name, list(keys))
        result = defs.resolve_job_def(PATTERNS_JOB).execute_in_process(
            instance=instance, run_config=QUIET, tags={RANGE_START: list(keys)[0], RANGE_END: list(keys)[-1]}
        )
        assert len(instance.get_runs()) == 1
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 13 * 3 and all(c.passed for c in checks)
    assert {c.metadata["portfolios"].value for c in checks} == {8}
    with connection.connect(migrated_url) as conn:
        stored = conn.execute(
            "SELECT portfolio_id::text, count(DISTINCT pattern) FROM analytics.pattern_outputs "
            "WHERE run_id = %s GROUP BY 1",
            (result.run_id,),
        ).fetchall()
    assert dict(stored) == {pid: 13 for pid in keys.values()}
    events = result.get_asset_materialization_events()
    assert {(e.asset_key.path[-1], e.partition) for e in events} == {(p, k) for p in load_all() for k in keys}
    by_partition = {(e.asset_key.path[-1], e.partition): e.materialization.metadata for e in events}
    assert all(by_partition[("portfolio_overview", key)]["portfolio_id"].value == pid for key, pid in keys.items())
    assert set(by_partition[("portfolio_overview", ref.ALPHA_NAME)]["conventions"].value) == set(CONVENTIONS)
    assert by_partition[("macro_cycles_overview", ref.ALPHA_NAME)]["conventions"].value == {}
    report = by_partition[("export_portfolio_report", ref.ALPHA_NAME)]["report_path"].value
    assert report.endswith(".html") and "AAPL" in open(report).read()
    readme = (PATTERNS_DIR.parents[2] / "README.md").read_text()
    assert all(text in readme for text in CONVENTIONS.values())  # the README states the same conventions


def test_a_partition_naming_no_portfolio_fails_with_a_coded_error_and_stores_nothing(migrated_url):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PORTFOLIOS.name, ["Closed Book"])
        result = defs.resolve_job_def(PATTERNS_JOB).execute_in_process(
            instance=instance, partition_key="Closed Book", run_config=QUIET, raise_on_error=False
        )
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures and all("PORTFOLIO_NOT_FOUND" in str(e.event_specific_data.error) for e in failures)
    assert all(e.event_specific_data.error.cls_name == "Failure" for e in failures)  # coded: not retried
    with connection.connect(migrated_url) as conn:
        exists = conn.execute("SELECT to_regclass('analytics.pattern_outputs') IS NOT NULL").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM analytics.pattern_outputs").fetchone()[0] if exists else 0
    assert rows == 0


def materialize_pattern(url, pattern, keys: list[str], instance):
    instance.add_dynamic_partitions(PORTFOLIOS.name, keys)
    return dg.materialize(
        [build_pattern_asset(pattern)],
        instance=instance,
        raise_on_error=False,
        resources={"database": PortfolioDatabase(url=url)},
        tags={RANGE_START: keys[0], RANGE_END: keys[-1]},
    )


def check_results(result) -> dict:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def test_a_portfolio_failing_its_contract_is_rejected_alone(migrated_url):
    """Write-audit-publish per portfolio: a corrupt price gives Alpha a negative market value; Alpha's output waits
    in analytics.pattern_rejects, the UI keeps its last good one, and a portfolio not holding the security in the
    same run is published."""
    with connection.connect(migrated_url) as conn:
        unaffected = conn.execute("""SELECT p.id::text FROM portfolios p WHERE NOT EXISTS (
                                         SELECT 1 FROM lots l JOIN securities s ON s.id = l.security_id
                                          WHERE l.portfolio_id = p.id AND s.symbol = 'AAPL')
                                     AND EXISTS (SELECT 1 FROM lots l WHERE l.portfolio_id = p.id)
                                     ORDER BY p.name LIMIT 1""").fetchone()[0]
    keys = {pid: key for key, pid in keys_of(migrated_url).items()}
    both = [keys[ref.ALPHA_PORTFOLIO_ID], keys[unaffected]]
    with dg.instance_for_test() as instance:
        good = materialize_pattern(migrated_url, load("portfolio_overview"), both[:1], instance)
        assert good.success
        with connection.connect(migrated_url) as conn:
            conn.execute(
                "UPDATE prices SET close = -close WHERE security_id = (SELECT id FROM securities "
                "WHERE symbol = 'AAPL') AND pricing_pack_id = (SELECT max(id) FROM pricing_packs)"
            )
            conn.commit()
        bad = materialize_pattern(migrated_url, load("portfolio_overview"), both, instance)
    assert not bad.success
    checks = check_results(bad)
    contract = checks["response_contract"]
    assert not contract.passed and checks["capability_routing"].passed
    assert contract.metadata["failing_portfolios"].value == 1 and contract.metadata["portfolios"].value == 2
    assert list(contract.metadata["failures"].value) == [both[0]]
    assert any("market_value" in f for f in contract.metadata["failures"].value[both[0]])
    with connection.connect(migrated_url) as conn:
        published = dict(
            conn.execute(
                "SELECT portfolio_id::text, run_id FROM analytics.pattern_outputs WHERE pattern = 'portfolio_overview'"
            ).fetchall()
        )
        rejected = conn.execute("SELECT portfolio_id::text, run_id, failures FROM analytics.pattern_rejects").fetchall()
    assert published == {ref.ALPHA_PORTFOLIO_ID: good.run_id, unaffected: bad.run_id}
    assert [(pid, run) for pid, run, _ in rejected] == [(ref.ALPHA_PORTFOLIO_ID, bad.run_id)]
    assert any("market_value" in f for f in rejected[0][2]["response_contract"])
    stored_in = {
        e.partition: e.materialization.metadata["stored_in"].value for e in bad.get_asset_materialization_events()
    }
    assert stored_in[both[1]] == "analytics.pattern_outputs" and stored_in[both[0]].startswith(
        "analytics.pattern_rejects"
    )


def test_capability_routing_reports_what_the_engine_refused(migrated_url, tmp_path):
    document = json.loads((PATTERNS_DIR / "portfolio_overview.json").read_text())
    document["steps"][2]["capability"] = "metrics.compute_nothing"
    (tmp_path / "portfolio_overview.json").write_text(json.dumps(document))
    with dg.instance_for_test() as instance:
        result = materialize_pattern(
            migrated_url, parse(tmp_path / "portfolio_overview.json"), [ref.ALPHA_NAME], instance
        )
    assert not result.success
    routing = check_results(result)["capability_routing"]
    assert not routing.passed
    assert routing.metadata["refused"].value == ["metrics.compute_nothing"]
    with connection.connect(migrated_url) as conn:
        assert conn.execute("SELECT count(*) FROM analytics.pattern_outputs").fetchone()[0] == 0
        refused = conn.execute("SELECT result, failures FROM analytics.pattern_rejects").fetchone()
    assert refused[0] is None and refused[1]["capability_routing"] == ["metrics.compute_nothing"]


def test_each_pattern_depends_on_the_tables_its_capabilities_read_and_carries_its_owners():
    engine = PatternEngine(default_registry())
    graph = defs.resolve_asset_graph()
    for pattern_id, pattern in load_all().items():
        asset = defs.resolve_assets_def(pattern_key(pattern_id))
        assert graph.get(pattern_key(pattern_id)).parent_keys == {table_key(t) for t in engine.reads(pattern)}
        assert asset.owners_by_key[pattern_key(pattern_id)] == ["team:portfolio-analytics"]
        assert asset.tags_by_key[pattern_key(pattern_id)]["category"] == pattern.category
        assert asset.code_versions_by_key[pattern_key(pattern_id)]
        assert asset.op.retry_policy.max_retries == 3
    assert len({len(engine.reads(p)) for p in load_all().values()}) > 1  # not every pattern reads all tables


SCANS = """SELECT relname, coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables
            WHERE schemaname = 'public'"""


def test_the_declared_reads_are_the_tables_each_pattern_really_scans(migrated_url):
    """Measured, not trusted: the server counts this session's table scans (pg_stat_xact_user_tables; counts not
    yet flushed may carry over a transaction, so the test takes the difference around each run). Every pattern runs
    for every demo portfolio: no run scans a table that the engine and the steps that ran do not declare, and over
    all runs every table they declare is scanned."""
    engine = PatternEngine(default_registry())
    scanned: dict[str, set[str]] = {p: set() for p in load_all()}
    declared: dict[str, set[str]] = {p: set() for p in load_all()}
    with connection.connect(migrated_url) as conn:
        portfolio_ids = [r[0] for r in conn.execute("SELECT id::text FROM portfolios")]
        for pattern_id, pattern in load_all().items():
            for portfolio_id in portfolio_ids:
                before = dict(conn.execute(SCANS).fetchall())
                result = engine.run(
                    conn, pattern, {"portfolio_id": portfolio_id} if "portfolio_id" in pattern.inputs else {}
                )
                after = dict(conn.execute(SCANS).fetchall())
                conn.rollback()
                run_scans = {table for table, scans in after.items() if scans > before.get(table, 0)}
                ran = [engine.registry.resolve(t.capability) for t in result.trace if not t.skipped]
                run_declared = engine.own_reads(pattern).union(*(c.reads for c in ran))
                assert run_scans <= run_declared, (pattern_id, portfolio_id)  # nothing read outside the lineage
                scanned[pattern_id] |= run_scans
                declared[pattern_id] |= run_declared
    # and every declared table is read by some portfolio (one without foreign positions needs no FX rate)
    assert scanned == declared
    assert all(declared[p] <= set(engine.reads(pattern)) for p, pattern in load_all().items())


def evaluate(instance, cursor=None):
    return dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)


def requested_patterns(result) -> set[str]:
    return {p for p in load_all() if result.get_requested_partitions(pattern_key(p))}


def test_patterns_follow_their_tables_only_after_every_blocking_check_passed(migrated_url):
    keys = list(keys_of(migrated_url))
    engine = PatternEngine(default_registry())
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PORTFOLIOS.name, keys)
        # Dagster counts everything as handled at a condition's first evaluation: nothing starts when the sensor
        # is first switched on. The nightly run then brings new data to every table.
        baseline = evaluate(instance)
        assert not requested_patterns(baseline)
        nightly = defs.resolve_job_def(TABLES_AND_CHECKS_JOB).execute_in_process(instance=instance, run_config=QUIET)
        assert nightly.success
        blocking = next(
            c
            for c in defs.resolve_asset_graph().get_check_keys_for_assets({table_key("prices")})
            if defs.resolve_asset_graph().get_check_spec(c).blocking
        )
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=blocking.asset_key,
                check_name=blocking.name,
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR,
            )
        )
        first = evaluate(instance, baseline.cursor)
        blocked = {p for p, pattern in load_all().items() if "prices" in engine.reads(pattern)}
        assert blocked and requested_patterns(first) == set(load_all()) - blocked
        assert all(first.get_requested_partitions(pattern_key(p)) == set(keys) for p in requested_patterns(first))
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=blocking.asset_key,
                check_name=blocking.name,
                passed=True,
                severity=dg.AssetCheckSeverity.ERROR,
            )
        )
        second = evaluate(instance, first.cursor)
    assert requested_patterns(second) == blocked  # the others were handled at the first tick
    graph = defs.resolve_asset_graph()
    requested = {
        key
        for result in (baseline, first, second)
        for key in graph.get_all_asset_keys()
        if result.get_requested_partitions(key)
    }
    migrations = dg.AssetSelection.groups(MIGRATIONS_GROUP, include_sources=True).resolve(graph)  # external assets
    assert migrations and not requested & migrations
    assert requested == dg.AssetSelection.groups(PATTERNS_GROUP).resolve(graph)


def test_two_runs_creating_the_output_tables_at_once_both_go_on(migrated_url):
    """The first automation run on a fresh database failed with UniqueViolation on pg_type when two steps created
    analytics.pattern_outputs at the same time; the second creator now waits for the first and finds the tables."""
    with connection.connect(migrated_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS analytics.pattern_outputs, analytics.pattern_rejects")
    failures = []
    with connection.connect(migrated_url) as first, connection.connect(migrated_url) as second:
        ensure_output_tables(first)  # created, not yet committed

        def create_too():
            try:
                ensure_output_tables(second)
                second.commit()
            except Exception as error:  # noqa: BLE001 — collected for the assertion
                failures.append(repr(error))

        other = threading.Thread(target=create_too)
        other.start()
        other.join(1.0)
        assert other.is_alive()  # waiting for the first creator
        first.commit()
        other.join(60)
    assert failures == []
