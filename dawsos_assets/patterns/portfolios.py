"""Portfolio partitions named after the portfolios: the partition picker, the runs list and the partitions tab show
"Global Growth", not a UUID.

A portfolio's key is its name, cleaned of what Dagster refuses in a key (line breaks, tabs, "..."). A name that two
portfolios share gets the first 8 hex digits of each one's id, so every key names one portfolio. Renaming a
portfolio gives it a new key (the sensor `portfolio_partitions` swaps them; its history stays under the old key).
"""

from __future__ import annotations

from collections import Counter

import dagster as dg
import psycopg

from dawsos_assets import errors
from dawsos_assets.errors import DawsosError

PORTFOLIOS = dg.DynamicPartitionsDefinition(name="portfolios")


def _clean(name: str | None) -> str:
    """The name as Dagster accepts it in a key: whitespace runs as one space, "..." as an ellipsis."""
    return " ".join((name or "").split()).replace("...", "…") or "unnamed portfolio"


def partition_keys(portfolios: list[tuple[str, str | None]]) -> dict[str, str]:
    """Partition key -> portfolio id for (id, name) rows."""
    counts = Counter(_clean(name) for _, name in portfolios)
    return {
        (_clean(name) if counts[_clean(name)] == 1 else f"{_clean(name)} ({str(pid)[:8]})"): str(pid)
        for pid, name in portfolios
    }


def portfolio_keys(conn: psycopg.Connection) -> dict[str, str]:
    """Every portfolio of the database: partition key -> id."""
    return partition_keys(conn.execute("SELECT id::text, name FROM portfolios ORDER BY name, id").fetchall())


def resolve(conn: psycopg.Connection, keys: list[str]) -> dict[str, str]:
    """The portfolio ids of `keys`, in their order; every key must name a portfolio."""
    known = portfolio_keys(conn)
    unknown = [key for key in keys if key not in known]
    if unknown:
        raise DawsosError(
            errors.PORTFOLIO_NOT_FOUND,
            f"no portfolio is named {errors.shown(unknown[0])}"
            + (f" (nor {len(unknown) - 1} other key(s))" if len(unknown) > 1 else ""),
            "the sensor portfolio_partitions keeps the partitions in step with the portfolios table "
            "within a minute; `dawsos portfolios list` shows the current keys",
        )
    return {key: known[key] for key in keys}
