"""What Dagster costs inside a patterns run over N portfolios, without the launch: one process, one database.

(a) the engine loop the pattern assets run (compute, audit, publish) for every portfolio, without Dagster, as
    bench/pipeline.py's in_process does; (b) one run of the `patterns` job over the whole portfolio partition range
    (the run a backfill makes under BackfillPolicy.single_run), executed in this process as a run worker executes
    it (operations/launch.run_job), with its steps one after another in this process (`max_concurrent: 1`; a run
    otherwise forks its steps side by side, see operations/executors.py) so that its engine calls are timed here.
    The run's time is its own, from its start event to its end: the launcher's share
    is left out. After an untimed warm-up of each, (a) and (b) alternate --repeat times (other work on the machine
    then weighs on both alike); the ratio is of the medians. A run's time beyond its engine calls is Dagster's
    (and the assets' metadata) cost, steadier than either time on a busy machine: `engine_plus_beyond_over_engine`
    adds its median to the engine loop's. `storage_statements` counts what one run sent to Dagster's event storage.
    With --profile one more run is profiled and its top functions (cumulative and own time) go to stderr. Ends
    with one JSON line.

    python bench/pattern_run_overhead.py [N] [--repeat R] [--home DIR] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import own_embedded_server  # noqa: E402

DEFAULT_HOME = "/var/tmp/dawsos-bench-run-overhead"  # noqa: S108 — the benchmark's default scratch home, overridable with --home
PROFILE_LINES = 30


def engine_loop(url: str) -> float:
    """Seconds for the 13 patterns' compute, audit and publish over every portfolio, without Dagster."""
    from bench.pipeline import engine_loop as publish_every_pattern
    from dawsos_assets.patterns.engine import PatternEngine
    from dawsos_assets.patterns.registry import default_registry

    engine = PatternEngine(default_registry())
    started = time.perf_counter()
    publish_every_pattern(url, engine)
    return time.perf_counter() - started


def count_statements(instance) -> list[int]:
    """A counter of the SQL statements the instance's event storage sends from now on (pings not included)."""
    import sqlalchemy

    counter = [0]

    @sqlalchemy.event.listens_for(instance.event_log_storage._engine, "before_cursor_execute")
    def count(*_args):
        counter[0] += 1

    return counter


def timing_the_engine() -> list[float]:
    """Seconds the pattern assets spend in the engine (run_batch) from now on: the part of a run the engine loop
    also does. A run's time minus this is Dagster's own cost, which other load on the machine changes far less than
    either time alone.
    """
    from dawsos_assets.patterns import assets

    spent, run_batch = [0.0], assets.run_batch

    def timed_run_batch(*args, **kwargs):
        started = time.perf_counter()
        try:
            return run_batch(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    assets.run_batch = timed_run_batch  # the assets look the function up in their module at each call
    return spent


def patterns_run(instance, keys: list[str], statements: list[int], engine_spent: list[float]) -> dict:
    """One run of the patterns job over the partitions keys[0]…keys[-1], executed here: its time from start to end,
    the storage statements it took and its time beyond the engine's (counters from count_statements and
    timing_the_engine).
    """
    from dawsos_assets.definitions import PATTERNS_JOB
    from dawsos_assets.operations.executors import steps_at_once
    from dawsos_assets.operations.launch import partition_range_tags, run_job

    statements_before, engine_before = statements[0], engine_spent[0]
    tags = partition_range_tags(keys[0], keys[-1])
    result = run_job(instance, PATTERNS_JOB, run_config=steps_at_once(1), tags=tags)
    stats = instance.get_run_stats(result.run_id)
    run_s = stats.end_time - stats.start_time
    return {
        "run_s": run_s,
        "beyond_engine_s": run_s - (engine_spent[0] - engine_before),
        "success": result.success,
        "statements": statements[0] - statements_before,
        "run_id": result.run_id,
    }


def profiled_run(instance, keys: list[str], statements: list[int], engine_spent: list[float]) -> None:
    """One more run under cProfile; its top functions by cumulative and by own time, on stderr."""
    profiler = cProfile.Profile()
    profiler.enable()
    patterns_run(instance, keys, statements, engine_spent)
    profiler.disable()
    for order in ("cumulative", "tottime"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(order).print_stats(PROFILE_LINES)
        print(text.getvalue(), file=sys.stderr)


def measure(portfolios: int, repeat: int, profile: bool) -> dict:
    """Both sides on a fresh database and Dagster storage with `portfolios` portfolios."""
    import dagster as dg

    from bench.pipeline import SEEDED_BOOKS, fresh_instance, prepare_database
    from dawsos_assets.database import connection
    from dawsos_assets.patterns.portfolios import PORTFOLIOS, portfolio_keys

    url = prepare_database(portfolios)
    os.environ[connection.URL_ENV] = url
    fresh_instance()
    with connection.connect(url) as conn:
        keys = list(portfolio_keys(conn))
    engine, runs = [], []
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(PORTFOLIOS.name, keys)
        statements = count_statements(instance)
        engine_loop(url)  # warm-ups, untimed: imports, pattern files, definitions, the server's caches
        engine_spent = timing_the_engine()
        patterns_run(instance, keys[:SEEDED_BOOKS], statements, engine_spent)
        for _ in range(repeat):
            engine.append(engine_loop(url))
            runs.append(patterns_run(instance, keys, statements, engine_spent))
        with connection.connect(url) as conn:
            published = conn.execute(
                "SELECT count(*) FROM analytics.pattern_outputs WHERE run_id = %s", (runs[-1]["run_id"],)
            ).fetchone()[0]
        if profile:
            profiled_run(instance, keys, statements, engine_spent)
    engine_s, run_s = statistics.median(engine), statistics.median(r["run_s"] for r in runs)
    beyond_s = statistics.median(r["beyond_engine_s"] for r in runs)
    return {
        "bench": "pattern_run_overhead",
        "portfolios": portfolios,
        "engine_s": [round(s, 2) for s in engine],
        "run_s": [round(r["run_s"], 2) for r in runs],
        "run_beyond_engine_s": [round(r["beyond_engine_s"], 2) for r in runs],
        "runs_succeeded": all(r["success"] for r in runs),
        "published_by_last_run": published,
        "storage_statements": runs[-1]["statements"],
        "engine_median_s": round(engine_s, 2),
        "run_median_s": round(run_s, 2),
        "beyond_engine_median_s": round(beyond_s, 2),
        "run_over_engine": round(run_s / engine_s, 2),
        "engine_plus_beyond_over_engine": round((engine_s + beyond_s) / engine_s, 2),
        "target_ratio": 1.3,
    }


def main() -> None:
    """Measure at N portfolios and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("portfolios", type=int, nargs="?", default=100)
    parser.add_argument("--repeat", type=int, default=3, help="timed engine loops and runs, alternating")
    parser.add_argument("--home", default=DEFAULT_HOME, help="DAWSOS_HOME of the bench (its own server and instance)")
    parser.add_argument("--profile", action="store_true", help="profile the run; top functions on stderr")
    args = parser.parse_args()
    with own_embedded_server(args.home):
        print(json.dumps(measure(args.portfolios, args.repeat, args.profile)), flush=True)


if __name__ == "__main__":
    main()
