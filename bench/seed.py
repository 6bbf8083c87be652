"""Bulk seeding speed: `dawsos seed --lots N` against a plain COPY of the same rows, in one run.

Both loads write the same CSV bytes into a `lots` table in the same state (primary key and CHECKs in place,
no secondary indexes or foreign keys):
  ours     = generate the rows with numpy, render CSV, stream it into COPY (what `dawsos seed` does);
  baseline = the rows pre-rendered to a file beforehand (not timed), then streamed into COPY as plain bytes.
Index and foreign-key rebuilds, and the BUY transactions, are reported separately.
Runs in its own database (`dawsos_bench`), never in the demo database. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dawsos_assets.database import connection  # noqa: E402
from dawsos_assets.database.legacy import LegacyVariant  # noqa: E402
from dawsos_assets.database.seed.bulk import bulk_lot_payloads, copy_chunks  # noqa: E402
from dawsos_assets.database.seed.defects import DefectLedger  # noqa: E402
from dawsos_assets.database.seed.loader import SeedOptions, lot_columns, seed_database  # noqa: E402
from dawsos_assets.database.seed.market import build_market  # noqa: E402

BENCH_DATABASE = "dawsos_bench"


def fresh_bench_database() -> str:
    """Drop and create the benchmark database; returns its URL."""
    admin = connection.database_url("postgres")
    with connection.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    return connection.database_url(BENCH_DATABASE)


def main() -> None:
    """Time seeding the legacy database with `--lots` lots and print rows per second."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    url = fresh_bench_database()
    with connection.connect(url) as conn:
        started = time.perf_counter()
        manifest = seed_database(conn, SeedOptions(seed=args.seed, lots=args.lots, progress=False))
        seed_total = time.perf_counter() - started
        bulk = manifest["bulk_load"]
        rows = bulk["lots"]
        variant = LegacyVariant()

        # The same rows again, rendered up front: same generator, same seed, same portfolios, same bytes.
        market = build_market(np.random.default_rng(args.seed))
        csv_path = Path(tempfile.mkdtemp(dir=os.environ.get("TMPDIR"))) / "lots.csv"
        with open(csv_path, "wb") as fh:
            for _rows, payload in bulk_lot_payloads(
                market, bulk["portfolio_ids"], rows, args.seed, DefectLedger(), variant
            ):
                fh.write(payload)
        conn.execute("CREATE TABLE lots_plain (LIKE lots INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        conn.execute("ALTER TABLE lots_plain ADD PRIMARY KEY (id)")
        conn.commit()

        def file_blocks():
            with open(csv_path, "rb") as fh:
                while block := fh.read(8 << 20):
                    yield 0, block

        started = time.perf_counter()
        copy_chunks(
            conn,
            f"COPY lots_plain ({', '.join(lot_columns(variant))}) FROM STDIN (FORMAT csv)",
            file_blocks(),
            lambda n: None,
        )
        conn.commit()
        plain_copy_s = time.perf_counter() - started
        csv_bytes = csv_path.stat().st_size
        csv_path.unlink()
        same_rows = conn.execute(
            "SELECT count(*) FROM lots_plain p JOIN lots l USING (id) WHERE "
            "(p.quantity, p.qty_open, p.cost_basis, p.is_open) = "
            "(l.quantity, l.qty_open, l.cost_basis, l.is_open)"
        ).fetchone()[0]

    ours_rate = rows / bulk["copy_lots_s"]
    plain_rate = rows / plain_copy_s
    figures = {
        "bench": "seed",
        "lots": rows,
        "identical_rows_in_both_tables": same_rows,
        "csv_mb": round(csv_bytes / 2**20, 1),
        "ours_generate_and_copy_s": round(bulk["copy_lots_s"], 2),
        "ours_rows_per_s": round(ours_rate),
        "plain_copy_s": round(plain_copy_s, 2),
        "plain_copy_rows_per_s": round(plain_rate),
        "ratio_ours_to_plain_copy": round(ours_rate / plain_rate, 3),
        "target_ratio": 0.7,
        "rebuild_indexes_and_fks_s": round(bulk["rebuild_indexes_s"], 2),
        "buy_transactions_s": round(bulk["insert_transactions_s"], 2),
        "seed_total_s": round(seed_total, 2),
    }
    print(
        f"lots: ours {ours_rate:,.0f} rows/s (generate + COPY) vs plain COPY {plain_rate:,.0f} rows/s "
        f"-> ratio {figures['ratio_ours_to_plain_copy']} (target >= 0.7)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
