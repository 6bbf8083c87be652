"""Shared by the benchmarks: a seeded database of a given size (reused when it already exists), the peak memory, and a
DAWSOS_HOME of the bench's own with its embedded server.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dawsos_assets.database import connection  # noqa: E402
from dawsos_assets.database.seed.loader import SeedOptions, database_state, read_manifest, seed_database  # noqa: E402


def seeded_database(
    name: str,
    lots: int,
    seed: int,
    template: str | None = None,
    reuse_migrated: bool = False,
    portfolios: int | None = None,
) -> str:
    """URL of database `name` holding a seed of `lots` lots (seeded now unless it already is; a migrated one is
    reused only when `reuse_migrated`).
    """
    admin = connection.database_url("postgres")
    url = connection.database_url(name)
    with connection.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists:
        with connection.connect(url) as conn:
            if (
                database_state(conn) == "seeded"
                and read_manifest(conn)["row_counts"]["lots"] == lots
                and read_manifest(conn)["seed"] == seed
                and (portfolios is None or read_manifest(conn)["options"]["portfolios"] == portfolios)
                and (
                    reuse_migrated
                    or not conn.execute("SELECT to_regclass('dawsos_migrations.ledger') IS NOT NULL").fetchone()[0]
                )
            ):
                return url
    with connection.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    if not template:
        with connection.connect(url) as conn:
            seed_database(conn, SeedOptions(seed=seed, lots=lots, portfolios=portfolios, progress=False))
    with connection.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return url


def peak_rss_mb() -> float:
    """This process's peak resident memory. ru_maxrss is not used: it survives execve, so a child started by a
    large parent would report the parent's peak; VmHWM belongs to the new address space.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def own_embedded_server(home: str):
    """The bench's own DAWSOS_HOME with its embedded server running (DAWSOS_DATABASE_URL ignored), so a benchmark
    never touches the developer's databases, runs or partitions; stopped on the way out.
    """
    os.environ["DAWSOS_HOME"] = home
    os.environ.pop("DAWSOS_DATABASE_URL", None)
    from dawsos_assets.database.server import EmbeddedPostgres

    server = EmbeddedPostgres()
    server.start()
    try:
        yield server
    finally:
        server.stop()
