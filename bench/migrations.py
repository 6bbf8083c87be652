"""Migration locks and time: migrations 014-018 against the plan's literal 014, on the same data, in one run.

For each of our migrations: total time and the longest time a transaction held a lock that blocks writers
(the runner's measure: from the first such statement to commit), plus the worst latency seen by two probes, a
reader (SELECT one lot) and a writer (UPDATE one lot), running every 10 ms on their own connections.
Then everything is rolled back and the plan's 014 runs verbatim (bench/sql/plan_014_literal.sql): its hold is
the whole transaction. Backups are off (pg_dump time is not migration time). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dawsos_assets.database import connection  # noqa: E402
from dawsos_assets.database.seed.loader import SeedOptions, seed_database  # noqa: E402
from dawsos_assets.migrations.runner import MigrationRunner  # noqa: E402

BENCH_DATABASE = "dawsos_bench_migrations"
PLAN_014 = Path(__file__).parent / "sql" / "plan_014_literal.sql"


class Probe(threading.Thread):
    """Times one tiny statement every 10 ms; `worst()` is the longest it waited since the last reset."""

    def __init__(self, url: str, statement: str):
        super().__init__(daemon=True)
        self.url, self.statement = url, statement
        self.running, self.worst_ms = True, 0.0

    def run(self) -> None:
        """Run the statement in a loop until stopped, keeping the slowest time."""
        with connection.connect(self.url, autocommit=True, prepare_threshold=None) as conn:
            while self.running:
                started = time.perf_counter()
                conn.execute(self.statement)
                self.worst_ms = max(self.worst_ms, (time.perf_counter() - started) * 1000)
                time.sleep(0.01)

    def take(self) -> float:
        """The slowest time since the last call, in ms, then start over."""
        time.sleep(0.3)  # let a statement that was blocked until now finish and be counted
        worst, self.worst_ms = self.worst_ms, 0.0
        return round(worst, 1)


def main() -> None:
    """Apply the migrations to a seeded database while readers and writers run, and print how long they waited."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()

    admin = connection.database_url("postgres")
    with connection.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    url = connection.database_url(BENCH_DATABASE)
    with connection.connect(url) as conn:
        seed_database(conn, SeedOptions(seed=args.seed, lots=args.lots, progress=False))
    with connection.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE lots")
        probe_lot = conn.execute("SELECT id FROM lots ORDER BY id LIMIT 1").fetchone()[0]
        lots = conn.execute("SELECT count(*) FROM lots").fetchone()[0]

    probes = {
        "reader": Probe(url, "SELECT id FROM lots LIMIT 1"),
        "writer": Probe(url, f"UPDATE lots SET cost_basis = cost_basis WHERE id = '{probe_lot}'"),  # noqa: S608 — probe_lot is a lot id this benchmark read from the database
    }
    for probe in probes.values():
        probe.start()
    time.sleep(0.5)
    for probe in probes.values():
        probe.take()

    runner = MigrationRunner(url, backup=False)
    ours = []
    for version in (m.version for m in runner.migrations):
        [report] = runner.apply(only=version)
        ours.append(
            {
                "migration": f"{report.version:03d}_{report.name}",
                "total_s": round(report.duration_ms / 1000, 2),
                "longest_write_blocking_lock_ms": round(report.longest_exclusive_hold_ms, 1),
                "reader_worst_ms": probes["reader"].take(),
                "writer_worst_ms": probes["writer"].take(),
            }
        )
        print(
            f"{ours[-1]['migration']}: {ours[-1]['total_s']} s, longest write-blocking lock "
            f"{ours[-1]['longest_write_blocking_lock_ms']} ms, probes reader {ours[-1]['reader_worst_ms']} ms / "
            f"writer {ours[-1]['writer_worst_ms']} ms",
            flush=True,
        )

    started = time.perf_counter()
    runner.rollback(0)
    rollback_s = round(time.perf_counter() - started, 2)
    probes["reader"].take(), probes["writer"].take()

    started = time.perf_counter()
    with connection.connect(url, autocommit=True) as conn:
        conn.execute(PLAN_014.read_text())
    plan_s = time.perf_counter() - started
    plan = {
        "total_s": round(plan_s, 2),
        "access_exclusive_hold_ms": round(plan_s * 1000, 1),
        "reader_worst_ms": probes["reader"].take(),
        "writer_worst_ms": probes["writer"].take(),
    }
    for probe in probes.values():
        probe.running = False
    print(
        f"plan's literal 014: {plan['total_s']} s, all of it under ACCESS EXCLUSIVE; probes reader "
        f"{plan['reader_worst_ms']} ms / writer {plan['writer_worst_ms']} ms"
    )

    longest = max(m["longest_write_blocking_lock_ms"] for m in ours)
    ours_014 = ours[0]["longest_write_blocking_lock_ms"]
    figures = {
        "bench": "migrations",
        "lots": lots,
        "ours": ours,
        "rollback_all_s": rollback_s,
        "plan_literal_014": plan,
        "longest_write_blocking_lock_ms": longest,
        "target_ms": 100,
        "ratio_plan_014_hold_to_our_014_hold": round(plan["access_exclusive_hold_ms"] / max(ours_014, 0.001), 1),
        "ratio_plan_014_hold_to_our_longest_hold": round(plan["access_exclusive_hold_ms"] / max(longest, 0.001), 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
