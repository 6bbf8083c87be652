"""p50 / p95 latency of each pattern for one portfolio (the demo portfolio), run by the engine directly, on the
migrated demo seed. Plan target < 2 s per pattern; ours < 200 ms. Ends with one JSON line.
(The 13 patterns x 100 portfolios through Dagster arrives with the pattern assets.)"""

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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    url = seeded_database("dawsos_bench_patterns", 172, 42, reuse_migrated=True)
    MigrationRunner(url, backup=False).apply()
    engine, results = PatternEngine(default_registry()), {}
    with connection.connect(url) as conn:
        for pattern_id, pattern in load_all().items():
            inputs = {"portfolio_id": ref.DEMO_PORTFOLIO_ID} if "portfolio_id" in pattern.inputs else {}
            timings = sorted(engine.run(conn, pattern, inputs).duration_ms for _ in range(args.runs))
            results[pattern_id] = {"p50_ms": round(statistics.median(timings), 1),
                                   "p95_ms": round(timings[max(0, int(0.95 * len(timings)) - 1)], 1)}
            print(f"{pattern_id:<30} p50 {results[pattern_id]['p50_ms']:7.1f} ms   p95 {results[pattern_id]['p95_ms']:7.1f} ms")
    worst = max(r["p50_ms"] for r in results.values())
    print(json.dumps({"bench": "patterns", "runs": args.runs, "patterns": results, "worst_p50_ms": worst,
                      "plan_target_ms": 2000, "our_target_ms": 200}))


if __name__ == "__main__":
    main()
