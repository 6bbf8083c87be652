"""The path users run every night, through the daemon, against the same work in-process, for N portfolios.

For each N (100 and 1,000 by default), on a database of its own (the demo seed, migrated, with provider feeds, and
N - 8 more portfolios, each a copy of one of the 8 seeded books: lots, transactions, daily values, factor betas):

  nightly   (a) `tables_and_checks` submitted through GraphQL to `dawsos ui` (dagster dev: the run queue, the daemon,
                the run launcher and a run worker process), timed from submission to the end of the run — the
                second such run after the server started: the first is reported as `nightly_first_s` —
                against
            (b) the same job with execute_in_process in this process;
  patterns  (a) the 13 pattern assets for every portfolio: one run of the `patterns` job over the whole partition
                range (the run a backfill launches under BackfillPolicy.single_run), submitted the same way; its
                steps run side by side, as many as there are CPUs (operations/executors.py), against
            (b) the engine loop those assets run (compute, audit, publish), for the same portfolios, without Dagster:
                one pattern after another (`patterns_daemon_over_engine`), and spread over as many processes as
                the job runs steps at once (`patterns_daemon_over_engine_side_by_side`: Dagster's own cost).
Before its first sample, (b) runs the nightly job and the engine loop (for 8 portfolios) once untimed: what a first
run imports and caches is not counted, as the daemon's preloaded process imports it before any run.

The machine is shared and noisy (other sessions, and the hypervisor taking back up to half a core in bursts),
so each side is measured --repeat times (default 3), the two in turn first: (b) with the web server stopped, (a) on
a freshly started one. Each ratio is of the medians; every sample is printed too, and a failed run stops the bench.
Everything runs in its own DAWSOS_HOME (its own embedded PostgreSQL, Dagster instance and storage), so the bench
never touches the developer's runs or partitions. The automation sensor is stopped while the bench runs (it would
otherwise start the patterns itself after the nightly run). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import own_embedded_server  # noqa: E402

DEFAULT_HOME = "/var/tmp/dawsos-bench-pipeline"  # noqa: S108 — the benchmark's default scratch home, overridable with --home
SEEDED_BOOKS = 8  # the demo portfolio, Test Portfolio Alpha and 6 generated books
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
RUN_DONE = ("SUCCESS", "FAILURE", "CANCELED")
# How often the bench asks whether a run ended. The time itself runs to the end Dagster recorded, so polling adds
# nothing to it; the web server answers each request beside the run on 2 cores, so asking every 0.1 s may slow it
# (seen once, see the README).
POLL_S = 1.0
# Tables keyed by portfolio that the patterns read; a copy gets new ids where a key or a reference needs one.
CLONED = {
    "lots": {"id": "md5(c.id::text || x.id::text)::uuid"},
    "transactions": {
        "id": "md5(c.id::text || x.id::text)::uuid",
        "lot_id": "CASE WHEN x.lot_id IS NULL THEN NULL ELSE md5(c.id::text || x.lot_id::text)::uuid END",
    },
    "portfolio_daily_values": {},
    "position_factor_betas": {"id": "md5(c.id::text || x.id::text)::uuid"},
}


def copy_books(conn, copies: int) -> None:
    """`copies` more portfolios, copy k of seeded book k mod 8 (in name order), named '<book> #k'."""
    conn.execute(
        """
        CREATE TEMP TABLE copies AS
        SELECT md5('bench-portfolio:' || i)::uuid AS id, b.id AS source, b.name || ' #' || lpad(i::text, 4, '0') AS name
          FROM generate_series(1, %s) i
          JOIN (SELECT id, name, row_number() OVER (ORDER BY name) - 1 AS k FROM portfolios) b ON b.k = i %% %s""",
        (copies, SEEDED_BOOKS),
    )
    conn.execute("""INSERT INTO portfolios (id, user_id, name, description, base_currency, benchmark_id)
                    SELECT c.id, p.user_id, c.name, 'bench copy of ' || p.name, p.base_currency, p.benchmark_id
                      FROM copies c JOIN portfolios p ON p.id = c.source""")
    for table, replaced in CLONED.items():
        columns = [
            c
            for (c,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s "
                "ORDER BY ordinal_position",
                (table,),
            )
        ]
        values = [replaced.get(c, "c.id" if c == "portfolio_id" else f"x.{c}") for c in columns]
        conn.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} "  # noqa: S608 — table and column names come from this script's list and the catalog
            f"FROM copies c JOIN {table} x ON x.portfolio_id = c.source"
        )


def prepare_database(portfolios: int) -> str:
    """A migrated database with `portfolios` portfolios (copies of the seeded books); returns its URL."""
    from dawsos_assets.database import connection
    from dawsos_assets.database.seed.loader import SeedOptions, load_provider_data, seed_database
    from dawsos_assets.migrations.runner import MigrationRunner

    name = f"bench_pipeline_{portfolios}"
    with connection.connect(connection.database_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = connection.database_url(name)
    with connection.connect(url) as conn:
        seed_database(conn, SeedOptions(progress=False))
    MigrationRunner(url, backup=False).apply()
    with connection.connect(url) as conn:
        load_provider_data(conn)
        copy_books(conn, portfolios - SEEDED_BOOKS)
        conn.commit()
    with connection.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return url


def fresh_instance() -> None:
    """An empty Dagster storage for this N: no runs, partitions or sensor cursors of the previous one."""
    from dawsos_assets.database import connection
    from dawsos_assets.operations.instance import prepare_instance

    with connection.connect(connection.database_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {connection.DAGSTER_DATABASE} WITH (FORCE)")
    prepare_instance()


def in_process(url: str, warm_up: bool) -> dict:
    """(b): the nightly job with execute_in_process, then the patterns' engine loop without Dagster: one pattern
    after another, then spread over as many processes as the patterns job runs steps at once.
    """
    import dagster as dg

    from dawsos_assets.definitions import TABLES_AND_CHECKS_JOB, defs
    from dawsos_assets.patterns.engine import PatternEngine
    from dawsos_assets.patterns.registry import default_registry

    job, engine = defs.resolve_job_def(TABLES_AND_CHECKS_JOB), PatternEngine(default_registry())
    with dg.DagsterInstance.get() as instance:
        if warm_up:  # untimed: what a first run imports (empyrical and scipy for the patterns) and caches
            job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False)
            engine_loop(url, engine, SEEDED_BOOKS)
        started = time.perf_counter()
        nightly = job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False)
        nightly_s = time.perf_counter() - started
    started = time.perf_counter()
    published = engine_loop(url, engine)
    patterns_s = time.perf_counter() - started
    started = time.perf_counter()
    published_side_by_side = engine_loop_side_by_side(url, engine)
    side_by_side_s = time.perf_counter() - started
    return {
        "nightly_s": round(nightly_s, 2),
        "nightly_success": nightly.success,
        "patterns_s": round(patterns_s, 2),
        "patterns_published": published,
        "patterns_side_by_side_s": round(side_by_side_s, 2),
        "patterns_side_by_side_published": published_side_by_side,
    }


def engine_loop(url: str, engine, portfolios: int | None = None) -> int:
    """The 13 patterns' compute, audit and publish for the first `portfolios` portfolios (all by default), one
    pattern after another, without Dagster; how many outputs were published.
    """
    from dawsos_assets.patterns.loader import load_all

    return sum(publish_pattern(url, engine, pattern, portfolios) for pattern in load_all().values())


def publish_pattern(url: str, engine, pattern, portfolios: int | None = None) -> int:
    """One pattern's compute, audit and publish for the first `portfolios` portfolios, on a connection of its own
    (as a step of the patterns job); how many outputs were published.
    """
    from dawsos_assets.database import connection
    from dawsos_assets.patterns.assets import run_batch
    from dawsos_assets.patterns.portfolios import portfolio_keys

    with connection.connect(url) as conn:
        keys = dict(list(portfolio_keys(conn).items())[:portfolios])
        return sum(o.passed for o in run_batch(conn, engine, pattern, keys, "bench-engine-only").values())


def engine_loop_side_by_side(url: str, engine) -> int:
    """The engine loop with its patterns spread over processes forked from this one, as many at once as the patterns
    job's executor runs steps (the CPU count, see operations/executors.py): the same work at the same parallelism,
    without Dagster. Each process is handed the engine and the patterns in the memory it was forked with.
    """
    import multiprocessing

    from dawsos_assets.patterns.loader import load_all

    patterns = list(load_all().values())
    context = multiprocessing.get_context("fork")
    with context.Pool(multiprocessing.cpu_count(), _hand_over, (url, engine, patterns)) as pool:
        return sum(pool.map(_publish_nth_pattern, range(len(patterns)), chunksize=1))


_HANDED_OVER: dict = {}  # in each forked process of engine_loop_side_by_side: what it publishes with


def _hand_over(url: str, engine, patterns: list) -> None:
    _HANDED_OVER.update(url=url, engine=engine, patterns=patterns)


def _publish_nth_pattern(index: int) -> int:
    return publish_pattern(_HANDED_OVER["url"], _HANDED_OVER["engine"], _HANDED_OVER["patterns"][index])


class Daemon:
    """`dawsos ui` (web server, daemon, code server) on a free port, with a GraphQL client once the code loaded."""

    LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    SENSOR = """query ($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
                  ... on Sensor { id sensorState { id selectorId status } } } }"""
    STOP_SENSOR = """mutation ($id: String!, $selectorId: String!) {
                       stopSensor(id: $id, jobSelectorId: $selectorId) { __typename } }"""

    def __init__(self):
        from dagster_graphql import DagsterGraphQLClient

        from dawsos_assets.cli.webserver import free_ui_port

        self.port = free_ui_port()
        self.child = subprocess.Popen(  # noqa: S603 — starts this project's own installed `dawsos ui`
            [str(Path(sys.executable).parent / "dawsos"), "ui", "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = DagsterGraphQLClient("127.0.0.1", port_number=self.port)
        self._wait_until_loaded()

    def _wait_until_loaded(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # the server is still starting
                entries = self.client._execute(self.LOCATIONS)["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    return
            time.sleep(1)
        raise RuntimeError(f"dawsos ui did not load the code location within {timeout} s")

    def stop_sensor(self, name: str) -> None:
        """Stop the sensor `name` if it runs, so it does not start runs during the measurement."""
        selector = {"repositoryLocationName": "dawsos_assets", "repositoryName": "__repository__", "sensorName": name}
        sensor = self.client._execute(self.SENSOR, {"selector": selector})["sensorOrError"]
        state = sensor["sensorState"]
        if state["status"] == "RUNNING":
            self.client._execute(self.STOP_SENSOR, {"id": state["id"], "selectorId": state["selectorId"]})

    def run(self, job: str, tags: dict | None = None) -> tuple[float, str, str]:
        """Submit a run and wait for it: (seconds from submission to the end Dagster recorded, status, run id)."""
        import dagster as dg

        submitted = time.time()
        run_id = self.client.submit_job_execution(job, repository_location_name="dawsos_assets", tags=tags or {})
        status = None
        while status not in RUN_DONE:
            time.sleep(POLL_S)
            status = self.client.get_run_status(run_id).value
        with dg.DagsterInstance.get() as instance:
            ended = instance.get_run_stats(run_id).end_time
        return ended - submitted, status, run_id

    def close(self) -> None:
        """Stop the web server (SIGTERM, then kill after a minute)."""
        self.child.send_signal(signal.SIGTERM)
        try:
            self.child.wait(60)
        except subprocess.TimeoutExpired:
            self.child.kill()


def run_breakdown(run_id: str) -> dict:
    """Where the daemon path's time went: waiting in the queue and starting the worker, then running."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        record = instance.get_run_record_by_id(run_id)
        stats = instance.get_run_stats(run_id)
    return {
        "queued_and_launch_s": round(stats.start_time - record.create_timestamp.timestamp(), 1),
        "run_s": round(stats.end_time - stats.start_time, 1),
    }


def through_the_daemon(url: str) -> dict:
    """(a): both jobs submitted to the running web server, as the UI, the schedule or a backfill would."""
    from dawsos_assets.database import connection
    from dawsos_assets.definitions import PATTERNS_JOB, TABLES_AND_CHECKS_JOB
    from dawsos_assets.patterns.portfolios import portfolio_keys

    with connection.connect(url) as conn:
        keys = list(portfolio_keys(conn))
    daemon = Daemon()
    try:
        daemon.stop_sensor("patterns_follow_tables")
        first_s, _, _ = daemon.run(TABLES_AND_CHECKS_JOB)  # the new server's first run: reported, not in the ratio
        nightly_s, nightly_status, nightly_run = daemon.run(TABLES_AND_CHECKS_JOB)
        patterns_s, patterns_status, patterns_run = daemon.run(
            PATTERNS_JOB,
            {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        )
    finally:
        daemon.close()
    with connection.connect(url) as conn:
        published = conn.execute(
            "SELECT count(*) FROM analytics.pattern_outputs WHERE run_id = %s", (patterns_run,)
        ).fetchone()[0]
    return {
        "nightly_first_s": round(first_s, 1),
        "nightly_s": round(nightly_s, 2),
        "nightly_status": nightly_status,
        "nightly": run_breakdown(nightly_run),
        "patterns_s": round(patterns_s, 2),
        "patterns_status": patterns_status,
        "patterns": run_breakdown(patterns_run),
        "patterns_published": published,
    }


def measure(portfolios: int, repeat: int) -> dict:
    """Run the pipeline for `portfolios` portfolios `repeat` times each way and return the timings."""
    import dagster as dg

    from dawsos_assets.database import connection
    from dawsos_assets.patterns.portfolios import PORTFOLIOS, portfolio_keys

    url = prepare_database(portfolios)
    os.environ[connection.URL_ENV] = url
    fresh_instance()
    with connection.connect(url) as conn, dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(PORTFOLIOS.name, list(portfolio_keys(conn)))
    samples = [one_sample(url, portfolios, sample, repeat) for sample in range(repeat)]
    side_by_side_s = round(statistics.median(sample["in_process"]["patterns_side_by_side_s"] for sample in samples), 2)
    medians = {
        f"{work}_{side}_median_s": round(statistics.median(sample[side][f"{work}_s"] for sample in samples), 2)
        for work in ("nightly", "patterns")
        for side in ("in_process", "daemon")
    }
    result = {
        "samples": samples,
        **medians,
        "nightly_daemon_over_inprocess": round(
            medians["nightly_daemon_median_s"] / medians["nightly_in_process_median_s"], 2
        ),
        "patterns_daemon_over_engine": round(
            medians["patterns_daemon_median_s"] / medians["patterns_in_process_median_s"], 2
        ),
        "patterns_engine_side_by_side_median_s": side_by_side_s,
        "patterns_daemon_over_engine_side_by_side": round(medians["patterns_daemon_median_s"] / side_by_side_s, 2),
    }
    print(f"N={portfolios}: {json.dumps({k: v for k, v in result.items() if k != 'samples'})}", flush=True)
    return result


def one_sample(url: str, portfolios: int, sample: int, repeat: int) -> dict:
    """Both sides once, in turn first (whatever one leaves behind, e.g. dead rows to vacuum, then weighs on each
    side alike); a sample where a run failed or the two sides published different counts stops the bench.
    """
    sides = {"in_process": lambda: in_process(url, warm_up=sample == 0), "daemon": lambda: through_the_daemon(url)}
    order = list(sides) if sample % 2 == 0 else list(reversed(sides))
    measured = {side: sides[side]() for side in order}
    result = {"first": order[0], **measured}
    print(f"N={portfolios} sample {sample + 1}/{repeat}: {json.dumps(result)}", flush=True)
    in_proc, daemon = measured["in_process"], measured["daemon"]
    published = {
        in_proc["patterns_published"],
        in_proc["patterns_side_by_side_published"],
        daemon["patterns_published"],
    }
    if not in_proc["nightly_success"] or {daemon["nightly_status"], daemon["patterns_status"]} != {"SUCCESS"}:
        raise SystemExit(f"N={portfolios} sample {sample + 1}: a run did not succeed; the times would not compare")
    if len(published) != 1:
        raise SystemExit(f"N={portfolios} sample {sample + 1}: the sides published {published} outputs, not the same")
    return result


def main() -> None:
    """Measure the pipeline at each size given and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--portfolios", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=3, help="samples of each side per N, alternating")
    parser.add_argument("--home", default=DEFAULT_HOME, help="DAWSOS_HOME of the bench (its own server and instance)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat needs at least 1 sample")
    with own_embedded_server(args.home):
        results = {n: measure(n, args.repeat) for n in args.portfolios}
    print(
        json.dumps(
            {
                "bench": "pipeline",
                "portfolios": {str(n): r for n, r in results.items()},
                "nightly_daemon_over_inprocess": {
                    str(n): r["nightly_daemon_over_inprocess"] for n, r in results.items()
                },
                "patterns_daemon_over_engine": {str(n): r["patterns_daemon_over_engine"] for n, r in results.items()},
                "patterns_daemon_over_engine_side_by_side": {
                    str(n): r["patterns_daemon_over_engine_side_by_side"] for n, r in results.items()
                },
                "patterns_daemon_s": {str(n): r["patterns_daemon_median_s"] for n, r in results.items()},
                "repeat": args.repeat,
                "target_ratio": 1.5,
                "target_patterns_1000_s": 300,
            }
        )
    )


if __name__ == "__main__":
    main()
