"""The one way this project reaches PostgreSQL.

`DAWSOS_DATABASE_URL` points everything at any PostgreSQL 15+; without it the embedded server under `.dawsos/` is
started on demand. Every query goes through psycopg 3 (COPY for bulk loads); SQLAlchemy 2 parses and renders URLs and
gives pandas its connectable where a DataFrame is read. Dagster's own storage uses psycopg2, which dagster-postgres
needs.
"""

from __future__ import annotations

import os
from functools import lru_cache
from urllib.parse import quote, urlencode

import psycopg
import psycopg.conninfo
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from dawsos_assets import errors
from dawsos_assets.database.server import EmbeddedPostgres
from dawsos_assets.errors import DawsosError

URL_ENV = "DAWSOS_DATABASE_URL"
DAGSTER_DATABASE = "dagster"
MINIMUM_SERVER_VERSION = 150000


URL_FORM = "use the form postgresql://user:password@host:5432/dbname (percent-encode spaces as %20)"


def _parse(url: str) -> URL:
    """A PostgreSQL URL that both SQLAlchemy and libpq accept; errors never quote the password."""
    if any(ch.isspace() for ch in url):
        raise DawsosError(errors.DB_URL_INVALID, "the database URL contains whitespace", URL_FORM)
    try:
        parsed = make_url(url)
    except Exception:  # sqlalchemy raises ArgumentError for most malformed strings
        raise DawsosError(errors.DB_URL_INVALID, "cannot parse the database URL", URL_FORM) from None
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        raise DawsosError(
            errors.DB_URL_INVALID,
            f"{parsed.render_as_string(hide_password=True)} is not a PostgreSQL URL with a database name",
            URL_FORM,
        )
    try:  # libpq's own parser: unknown query parameters and bad percent-escapes fail here, not at connect time
        psycopg.conninfo.conninfo_to_dict(render(parsed.set(drivername="postgresql")))
    except psycopg.ProgrammingError as exc:
        problem = str(exc)
        if parsed.password:
            problem = problem.replace(parsed.password, "***")
        raise DawsosError(
            errors.DB_URL_INVALID,
            f"libpq refuses the database URL: {problem}",
            "use only libpq connection parameters in the query string (e.g. ?sslmode=require)",
        ) from None
    return parsed


def render(url: URL) -> str:
    """The URL as libpq reads it: every part percent-encoded. SQLAlchemy leaves spaces raw in the user, password
    and database and writes '+' for a space in the query, which libpq keeps literally.
    """
    user = quote(url.username or "", safe="")
    if url.password is not None:
        user += ":" + quote(url.password, safe="")
    host = f"[{url.host}]" if url.host and ":" in url.host else (url.host or "")
    port = f":{url.port}" if url.port else ""
    query = "?" + urlencode(url.query, doseq=True, quote_via=quote) if url.query else ""
    return f"{url.drivername}://{user + '@' if user else ''}{host}{port}/{quote(url.database or '', safe='')}{query}"


def client_arguments(url: str) -> tuple[str, dict[str, str]]:
    """The URL and environment for a PostgreSQL client program (pg_dump, psql): the password travels in the
    child's environment, never on its command line, where any local user could read it.
    """
    parsed = _parse(url).set(drivername="postgresql")
    environment = dict(os.environ)
    if parsed.password is not None:
        environment["PGPASSWORD"] = parsed.password
        parsed = parsed.set(password=None)
    return render(parsed), environment


def uses_embedded_server() -> bool:
    """True when no database URL is configured, so the project's embedded PostgreSQL is used."""
    return not os.environ.get(URL_ENV)


def database_url(database: str | None = None) -> str:
    """Libpq URL (postgresql://…) of the portfolio database, or of `database` on the same server."""
    configured = os.environ.get(URL_ENV)
    if configured:
        parsed = _parse(configured).set(drivername="postgresql")
    else:
        parsed = _parse(EmbeddedPostgres().url("dawsos"))
    if database:
        parsed = parsed.set(database=database)
    return render(parsed)


def redacted(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def sqlalchemy_url(url: str, driver: str = "psycopg") -> str:
    """The URL with the SQLAlchemy driver name set (psycopg by default), password kept."""
    return make_url(url).set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)


def connect(url: str | None = None, **kwargs) -> psycopg.Connection:
    """A raw psycopg 3 connection (for COPY and DDL), with a coded error when the server is unreachable."""
    target = url or ensure_database()
    try:
        return psycopg.connect(target, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        raise DawsosError(
            errors.DB_UNREACHABLE,
            f"cannot connect to {redacted(target)}: {str(exc).strip().splitlines()[0]}",
            f"check that the server is up and the URL is right, or unset {URL_ENV} to use the embedded server",
        ) from None


def ensure_database(name: str | None = None) -> str:
    """Return the URL of database `name` (default: the portfolio database), creating it on our server if missing."""
    url = database_url(name)
    target = make_url(url).database
    if uses_embedded_server() or name:
        admin = database_url("postgres")
        with connect(admin, autocommit=True) as conn:
            if conn.info.server_version < MINIMUM_SERVER_VERSION:
                raise DawsosError(
                    errors.DB_UNREACHABLE,
                    f"server version {conn.info.server_version} is older than 15",
                    "point DAWSOS_DATABASE_URL at PostgreSQL 15 or newer",
                )
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target)))
    return url


@lru_cache(maxsize=8)
def _engine(url: str) -> sa.Engine:
    return sa.create_engine(sqlalchemy_url(url), pool_pre_ping=True, future=True)


def engine(url: str | None = None) -> sa.Engine:
    """The SQLAlchemy engine of the portfolio database (cached per URL)."""
    return _engine(url or ensure_database())


def dagster_storage_url() -> str:
    """URL for Dagster's run/event/schedule storage: database `dagster` on the same server, psycopg2 scheme."""
    return sqlalchemy_url(ensure_database(DAGSTER_DATABASE), driver="psycopg2")
