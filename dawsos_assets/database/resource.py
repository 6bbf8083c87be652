"""The portfolio database as a Dagster resource."""

from __future__ import annotations

import dagster as dg
import psycopg
from pydantic import Field

from dawsos_assets.database import connection


class PortfolioDatabase(dg.ConfigurableResource):
    """The DawsOS PostgreSQL database: DAWSOS_DATABASE_URL, or the embedded server under .dawsos/."""

    url: str | None = Field(default=None, description="libpq URL; empty means DAWSOS_DATABASE_URL or the embedded server")

    def resolved_url(self) -> str:
        return self.url or connection.ensure_database()

    def connect(self, **kwargs) -> psycopg.Connection:
        return connection.connect(self.resolved_url(), **kwargs)

