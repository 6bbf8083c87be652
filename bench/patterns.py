"""p50 / p95 latency of each pattern for one portfolio (the demo portfolio), run by the engine directly, on the
migrated demo seed (plan target < 2 s per pattern; ours < 200 ms); then all 13 pattern assets for N portfolios end
to end through Dagster (one in-process run per portfolio partition, as `dawsos demo` does). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import seeded_database  # noqa: E402

from dawsos_assets.database import connection  # noqa: E402
from dawsos_assets.database.seed import reference as ref  # noqa: E402
from dawsos_assets.migrations.runner import MigrationRunner  # noqa: E402
from dawsos_assets.patterns.engine import PatternEngine  # noqa: E402
from dawsos_assets.patterns.loader import load_all  # noqa: E402
from dawsos_assets.patterns.registry import default_registry  # noqa: E402


def main() -> None:
    """Time each pattern on the seeded portfolios and print p50/p95, then the run through Dagster."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--dagster-portfolios", type=int, default=100)
    args = parser.parse_args()
    url = seeded_database("dawsos_bench_patterns", 172, 42, reuse_migrated=True)
    MigrationRunner(url, backup=False).apply()
    engine, results = PatternEngine(default_registry()), {}
    with connection.connect(url) as conn:
        for pattern_id, pattern in load_all().items():
            inputs = {"portfolio_id": ref.DEMO_PORTFOLIO_ID} if "portfolio_id" in pattern.inputs else {}
            timings = sorted(engine.run(conn, pattern, inputs).duration_ms for _ in range(args.runs))
            results[pattern_id] = {
                "p50_ms": round(statistics.median(timings), 1),
                "p95_ms": round(timings[max(0, int(0.95 * len(timings)) - 1)], 1),
            }
            timing = results[pattern_id]
            print(f"{pattern_id:<30} p50 {timing['p50_ms']:7.1f} ms   p95 {timing['p95_ms']:7.1f} ms")
    worst = max(r["p50_ms"] for r in results.values())
    dagster = through_dagster(args.dagster_portfolios)
    print(
        json.dumps(
            {
                "bench": "patterns",
                "runs": args.runs,
                "patterns": results,
                "worst_p50_ms": worst,
                "plan_target_ms": 2000,
                "our_target_ms": 200,
                "through_dagster": dagster,
            }
        )
    )


def through_dagster(portfolios: int) -> dict:
    """Time materializing the pattern assets for `portfolios` portfolios through Dagster."""
    import os
    import time

    import dagster as dg

    url = seeded_database(
        "dawsos_bench_patterns_dagster", 200 * portfolios, 43, reuse_migrated=True, portfolios=portfolios - 2
    )  # plus the demo portfolio and Alpha
    MigrationRunner(url, backup=False).apply()
    os.environ[connection.URL_ENV] = url
    from dawsos_assets.definitions import PATTERNS_JOB, defs
    from dawsos_assets.patterns.portfolios import PORTFOLIOS, portfolio_keys

    with connection.connect(url) as conn:
        keys = list(portfolio_keys(conn))[:portfolios]
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PORTFOLIOS.name, keys)
        started = time.perf_counter()
        # one run over every partition, as a backfill runs it (BackfillPolicy.single_run)
        result = defs.resolve_job_def(PATTERNS_JOB).execute_in_process(
            instance=instance,
            run_config=quiet,
            raise_on_error=False,
            tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        )
        elapsed = time.perf_counter() - started
    failures = sum(not c.passed for c in result.get_asset_check_evaluations()) + (not result.success)
    with connection.connect(url) as conn:
        stored = conn.execute("SELECT count(*) FROM analytics.pattern_outputs").fetchone()[0]
    print(
        f"{len(keys)} portfolios x 13 patterns through Dagster in one run: {elapsed:.1f} s "
        f"({elapsed / len(keys):.2f} s per portfolio), {stored} outputs stored, {failures} failures"
    )
    return {
        "portfolios": len(keys),
        "total_s": round(elapsed, 1),
        "per_portfolio_s": round(elapsed / len(keys), 2),
        "outputs_stored": stored,
        "failures": failures,
    }


if __name__ == "__main__":
    main()
