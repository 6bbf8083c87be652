"""`dawsos demo`: the main story on the embedded database (or DAWSOS_DATABASE_URL)."""

from __future__ import annotations

import time

from rich.console import Console

from dawsos_assets.database import connection
from dawsos_assets.database.seed.loader import SeedOptions, database_state, seed_database
from dawsos_assets.operations.report import print_legacy_summary


def run_demo(console: Console) -> dict:
    started = time.perf_counter()
    url = connection.ensure_database()
    where = "embedded PostgreSQL" if connection.uses_embedded_server() else "PostgreSQL"
    console.print(f"[bold]1. Database[/]: {where} at {connection.redacted(url)}")
    with connection.connect(url) as conn:
        if database_state(conn) != "seeded":
            console.print("[bold]2. Seed[/]: creating the legacy DawsOS database with demo data (seed 42)")
            seed_database(conn, SeedOptions(progress=False))
        else:
            console.print("[bold]2. Seed[/]: reusing the seeded database (`dawsos seed --fresh` starts over)")
        console.print("[bold]3. Legacy state[/]")
        summary = print_legacy_summary(console, conn)
    console.print(f"demo finished in {time.perf_counter() - started:.1f} s; open the UI with `make ui`")
    return summary
