"""The retry rule of every step that uses the database: a transient error (a dropped connection, a deadlock, an
unreachable server) is tried again under DATABASE_RETRY; a coded error or a bug fails the step at once."""

import dagster as dg
import psycopg
import pytest

from dawsos_assets import errors
from dawsos_assets.database.resource import retry_only_transient
from dawsos_assets.errors import DawsosError

# DATABASE_RETRY's shape with no delay: the test exercises the rule, not the waiting
QUICK_RETRY = dg.RetryPolicy(max_retries=3)


def flaky_asset(failures: list[Exception]) -> dg.AssetsDefinition:
    """An asset whose first attempts raise `failures` in turn, then succeeds; it counts its attempts."""
    attempts = []

    @dg.asset(retry_policy=QUICK_RETRY)
    @retry_only_transient
    def flaky() -> int:
        attempts.append(len(attempts) + 1)
        if len(attempts) <= len(failures):
            raise failures[len(attempts) - 1]
        return len(attempts)

    flaky.attempts = attempts
    return flaky


@pytest.mark.parametrize(
    "transient",
    [
        psycopg.OperationalError("server closed the connection unexpectedly"),
        psycopg.errors.DeadlockDetected("deadlock detected"),
        DawsosError(errors.DB_UNREACHABLE, "no server at 127.0.0.1:5432", "start it"),
    ],
    ids=["dropped-connection", "deadlock", "unreachable"],
)
def test_a_transient_database_error_is_tried_again(transient):
    asset = flaky_asset([transient, transient])
    result = dg.materialize([asset])
    assert result.success and asset.attempts == [1, 2, 3]


@pytest.mark.parametrize(
    "permanent",
    [
        DawsosError(errors.PORTFOLIO_NOT_FOUND, "no portfolio is named X", "list them"),
        ValueError("a bug"),
    ],
    ids=["coded-error", "bug"],
)
def test_a_coded_error_or_a_bug_fails_at_once(permanent):
    asset = flaky_asset([permanent])
    result = dg.materialize([asset], raise_on_error=False)
    assert not result.success and asset.attempts == [1]
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    if isinstance(permanent, DawsosError):
        assert failure.step_failure_data.user_failure_data.description == permanent.one_line()
