"""The portfolio database as a Dagster resource, and the retry rule of every step that uses it."""

from __future__ import annotations

import functools
import inspect
from contextlib import contextmanager

import dagster as dg
import psycopg
from pydantic import Field

from dawsos_assets import errors
from dawsos_assets.database import connection
from dawsos_assets.errors import DawsosError

# A dropped connection, a deadlock or a serialization failure goes away on its own: the step is tried again,
# 2 s, then 4 s, then 8 s later. Anything else fails at once (see retry_only_transient).
DATABASE_RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL)
TRANSIENT = (psycopg.OperationalError, psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)


class PortfolioDatabase(dg.ConfigurableResource):
    """The DawsOS PostgreSQL database: DAWSOS_DATABASE_URL, or the embedded server under .dawsos/."""

    url: str | None = Field(
        default=None, description="libpq URL; empty means DAWSOS_DATABASE_URL or the embedded server"
    )

    def resolved_url(self) -> str:
        """The configured URL, or else the embedded server's database (started if needed)."""
        return self.url or connection.ensure_database()

    def connect(self, **kwargs) -> psycopg.Connection:
        """A psycopg connection to the database."""
        return connection.connect(self.resolved_url(), **kwargs)


@contextmanager
def _only_transient_retried():
    try:
        yield
    except TRANSIENT:
        raise
    except DawsosError as exc:
        if exc.code == errors.DB_UNREACHABLE:  # the server restarting: worth another try
            raise
        raise dg.Failure(description=exc.one_line(), allow_retries=False) from None
    except dg.Failure:
        raise
    except Exception as exc:
        raise dg.Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from exc


def retry_only_transient(function):
    """DATABASE_RETRY would retry any exception. Under this decorator only transient database errors (and an
    unreachable server) reach it; a coded error fails the step at once with its one line, and so does a bug.
    """
    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def guarded_generator(*args, **kwargs):
            with _only_transient_retried():
                yield from function(*args, **kwargs)

        return guarded_generator

    @functools.wraps(function)
    def guarded(*args, **kwargs):
        with _only_transient_retried():
            return function(*args, **kwargs)

    return guarded
