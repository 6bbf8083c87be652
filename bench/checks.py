"""The same rules on `lots`, four ways, in one run (each in its own process, for its peak memory):
  (a) this project's checks: the contract compiled to one aggregate scan, anti-joins for foreign keys that no
      constraint enforces, catalog look-ups for what a valid key already guarantees;
  (b) one hand-written single-scan SQL with the same predicates, plus both anti-joins;
  (c) a Great Expectations checkpoint with the suite generated from the same contract, in-database;
  (d) pandera on pandas after read_sql, plus the orphan anti-join in pandas; measured on at most 1,000,000
      rows (more does not fit this machine safely: about 2.2 GiB per million rows) and scaled linearly.
The database is the legacy seed with migrations 014-015 applied (standard names, no new foreign keys yet), so
every approach reads the same columns and finds the same orphans. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import peak_rss_mb, seeded_database  # noqa: E402

from dawsos_assets.database import connection  # noqa: E402

PANDAS_ROW_LIMIT = 1_000_000
HAND_WRITTEN_SCAN = """
SELECT count(*),
       count(*) FILTER (WHERE id IS NULL OR portfolio_id IS NULL OR security_id IS NULL OR symbol IS NULL
                          OR acquisition_date IS NULL OR quantity IS NULL OR cost_basis IS NULL
                          OR cost_basis_per_share IS NULL OR currency IS NULL OR is_open IS NULL
                          OR created_at IS NULL OR updated_at IS NULL OR quantity_original IS NULL
                          OR quantity_open IS NULL),
       count(*) FILTER (WHERE quantity <= 0 OR cost_basis < 0 OR cost_basis_per_share < 0 OR quantity_original <= 0
                          OR quantity_open < 0 OR length(symbol) > 12
                          OR currency NOT IN ('USD','EUR','GBP','JPY','CAD','AUD','CHF','CNY','HKD','SGD','SEK')),
       count(*) FILTER (WHERE quantity_open > quantity_original),
       count(*) FILTER (WHERE is_open AND quantity_open = 0),
       count(*) FILTER (WHERE NOT is_open AND quantity_open > 0),
       count(*) FILTER (WHERE quantity IS DISTINCT FROM quantity_original)
  FROM lots"""
ANTI_JOINS = [
    "SELECT count(*) FROM lots l WHERE NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = l.security_id)",
    "SELECT count(*) FROM lots l WHERE NOT EXISTS (SELECT 1 FROM portfolios p WHERE p.id = l.portfolio_id)",
]


def run_ours(url: str) -> dict:
    """Find the seeded lots defects with our table checks (one SQL scan per check group)."""
    from dawsos_assets.tables.checks import run_table_checks

    with connection.connect(url) as conn:
        outcomes = {o.check: o for o in run_table_checks(conn, "lots")}
    drift = outcomes["drift_rules"].details["failing_by_rule"]
    return {
        "orphaned_security": outcomes["fk_security_id"].failing_count,
        "open_without_quantity": drift.get("open_flag_has_open_quantity(is_open, quantity_open)", 0),
        "closed_with_quantity": drift.get("closed_flag_has_no_open_quantity(is_open, quantity_open)", 0),
        "quantity_drift": drift.get("columns_equal(quantity, quantity_original)", 0),
    }


def run_hand_written(url: str) -> dict:
    """Find the same defects with hand-written SQL, the floor to compare with."""
    with connection.connect(url) as conn:
        row = conn.execute(HAND_WRITTEN_SCAN).fetchone()
        orphans = [conn.execute(q).fetchone()[0] for q in ANTI_JOINS]
    return {
        "orphaned_security": orphans[0],
        "open_without_quantity": row[4],
        "closed_with_quantity": row[5],
        "quantity_drift": row[6],
    }


def run_great_expectations(url: str) -> dict:
    """Find the defects with the Great Expectations suite run in the database."""
    from dawsos_assets.tables.expectations import validate_in_database

    report = validate_in_database(url, tables=["lots"])
    return {
        "failed_expectations": len(report["suites"]["lots"]["failed"]),
        "evaluated": report["suites"]["lots"]["evaluated"],
    }


def run_pandera(url: str) -> dict:
    """Find the defects with pandera on a pandas frame of the first lots (the in-memory approach)."""
    import pandas as pd
    import pandera.errors

    from dawsos_assets.tables.contracts import Lots

    engine = connection.engine(url)
    frame = pd.read_sql(f"SELECT * FROM lots LIMIT {PANDAS_ROW_LIMIT}", engine)  # noqa: S608 — PANDAS_ROW_LIMIT is a module constant
    securities = pd.read_sql("SELECT id FROM securities", engine)
    try:
        Lots.validate(frame, lazy=True)
        failures = {}
    except pandera.errors.SchemaErrors as err:
        failures = err.failure_cases.groupby("check")["index"].nunique().to_dict()  # rows, not cells
    orphans = int((~frame["security_id"].isin(securities["id"])).sum())
    return {
        "rows": len(frame),
        "orphaned_security": orphans,
        "failures_by_check": {str(k): int(v) for k, v in failures.items()},
    }


APPROACHES = {"a": run_ours, "b": run_hand_written, "c": run_great_expectations, "d": run_pandera}


PRELOAD = {
    "a": ["dawsos_assets.tables.checks"],
    "b": [],
    "c": ["dawsos_assets.tables.expectations", "great_expectations"],
    "d": ["pandas", "pandera.pandas", "dawsos_assets.tables.contracts"],
}


def child(approach: str, url: str) -> None:
    """Time one approach in this process and print its findings and seconds as JSON."""
    import importlib

    for module in PRELOAD[approach]:  # imports are not check time
        importlib.import_module(module)
    started = time.perf_counter()
    findings = APPROACHES[approach](url)
    print(
        json.dumps(
            {
                "seconds": round(time.perf_counter() - started, 3),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "findings": findings,
            }
        )
    )


def main() -> None:
    """Seed a database and time each approach in its own process, printing the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--only", choices=sorted(APPROACHES))
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.only:
        child(args.only, args.url)
        return

    from dawsos_assets.migrations.runner import MigrationRunner

    url = seeded_database("dawsos_bench_checks", args.lots, args.seed, reuse_migrated=True)
    MigrationRunner(url, backup=False).apply(target=15)
    with connection.connect(url, autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM lots")  # warm the cache for every approach alike
    results = {}
    for approach in ("b", "a", "c", "d"):
        out = (
            subprocess.run(  # noqa: S603 — runs this script itself with its own arguments
                [sys.executable, __file__, "--only", approach, "--url", url], capture_output=True, text=True, check=True
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        results[approach] = json.loads(out)
        print(
            f"({approach}) {results[approach]['seconds']} s, peak RSS {results[approach]['peak_rss_mb']} MB: "
            f"{results[approach]['findings']}",
            flush=True,
        )
    lots = args.lots
    d_rows = results["d"]["findings"]["rows"]
    results["d"]["seconds_scaled_to_all_rows"] = round(results["d"]["seconds"] * lots / d_rows, 1)
    figures = {
        "bench": "checks",
        "lots": lots,
        "results": results,
        "ratio_a_to_b": round(results["a"]["seconds"] / results["b"]["seconds"], 2),
        "target_a_to_b": 1.5,
        "speedup_a_over_c": round(results["c"]["seconds"] / results["a"]["seconds"], 1),
        "target_a_over_c": 5,
        "speedup_a_over_d_scaled": round(results["d"]["seconds_scaled_to_all_rows"] / results["a"]["seconds"], 1),
        "peak_rss_a_mb": results["a"]["peak_rss_mb"],
        "target_peak_rss_a_mb": 300,
        "same_findings_a_b": results["a"]["findings"] == results["b"]["findings"],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
