"""Slack alerts for asset checks against a stand-in Slack on 127.0.0.1.

Schedules and sensors are evaluated through build_*_context.
"""

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest

from dawsos_assets.database import connection
from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.definitions import TABLES_AND_CHECKS_JOB, defs
from dawsos_assets.migrations.runner import MigrationRunner
from dawsos_assets.operations.alerts import SlackChannel, check_events, deliver, message
from dawsos_assets.operations.schedules import nightly, weekly_data_quality
from dawsos_assets.operations.sensors import (
    SlackAlerts,
    check_alerts_after_failure,
    check_alerts_after_success,
    pending_migrations,
)

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
SECRET = "XOXB-SECRET-123"


class StandInSlack:
    """Records every POST; answers with the next status from `statuses` (then 200)."""

    def __init__(self, statuses=()):
        self.received, self.statuses = [], list(statuses)
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = stand_in.statuses.pop(0) if stand_in.statuses else 200
                stand_in.received.append((status, body))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"error")

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0/B0/{SECRET}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self):
        return [body for status, body in self.received if status == 200]

    def close(self):
        self.server.shutdown()


@pytest.fixture
def slack():
    stand_in = StandInSlack()
    yield stand_in
    stand_in.close()


def broken_run(url: str, instance):
    """A tables_and_checks run with one blocking ERROR failure (negative cost basis) and the WARN drift."""
    with connection.connect(url) as conn:
        conn.execute("UPDATE lots SET cost_basis = -1 WHERE id = (SELECT id FROM lots ORDER BY id LIMIT 1)")
        conn.commit()
    return defs.resolve_job_def(TABLES_AND_CHECKS_JOB).execute_in_process(
        instance=instance, run_config=QUIET, raise_on_error=False
    )


def success_event(result):
    return next(e for e in result.all_events if e.event_type_value == "PIPELINE_SUCCESS")


def alert(sensor, instance, result, url, slack_url, status_event):
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=status_event,
        resources={"database": PortfolioDatabase(url=url), "slack": SlackAlerts(webhook_url=slack_url)},
    )
    if sensor is check_alerts_after_failure:
        context = context.for_run_failure()
    sensor(context)


def test_failed_checks_alert_once_each_then_cooldown_then_recovery(seeded_url, slack):
    MigrationRunner(seeded_url, backup=False).apply()
    with dg.instance_for_test() as instance:
        failed = broken_run(seeded_url, instance)
        assert not failed.success
        alert(check_alerts_after_failure, instance, failed, seeded_url, slack.url, failed.get_run_failure_event())
        texts = [m["text"] for m in slack.accepted()]
        assert len(texts) == 2
        assert any(t.startswith(":red_circle: ERROR: `lots` check `row_rules`") and "1 failing row" in t for t in texts)
        assert any(t.startswith(":warning: WARN: `lots` check `drift_rules`") for t in texts)
        assert all(f"/runs/{failed.run_id}" in t for t in texts)
        assert any('"cost_basis": -1' in t for t in texts)  # a sample row

        again = broken_run(seeded_url, instance)  # still failing within the cooldown: no repeat
        alert(check_alerts_after_failure, instance, again, seeded_url, slack.url, again.get_run_failure_event())
        assert len(slack.accepted()) == 2

        with connection.connect(seeded_url) as conn:
            conn.execute("UPDATE lots SET cost_basis = 1 WHERE cost_basis < 0")
            conn.commit()
        fixed = defs.resolve_job_def(TABLES_AND_CHECKS_JOB).execute_in_process(instance=instance, run_config=QUIET)
        assert fixed.success
        alert(check_alerts_after_success, instance, fixed, seeded_url, slack.url, success_event(fixed))
        after_fix = [m["text"] for m in slack.accepted()[2:]]
        recoveries = [t for t in after_fix if "Recovered" in t]
        assert len(recoveries) == 1 and "Recovered: `lots` check `row_rules`" in recoveries[0]
        # now that holdings run, their check names the unpriced position the relinked orphans hold
        assert all("holdings` check `every_position_priced`" in t for t in after_fix if t not in recoveries)

        logs = [str(e) for e in instance.all_logs(failed.run_id)] + [str(e) for e in instance.all_logs(fixed.run_id)]
        assert not any(SECRET in line for line in logs)


def test_the_alert_counts_distinct_rows_and_names_each_rule(seeded_url):
    """A lot breaking two rules is one failing row; the message lists how many rows break each rule."""
    MigrationRunner(seeded_url, backup=False).apply()
    with connection.connect(seeded_url) as conn:
        conn.execute(
            "UPDATE lots SET cost_basis = -1, cost_basis_per_share = -1 "
            "WHERE id = (SELECT id FROM lots ORDER BY id LIMIT 1)"
        )
        conn.commit()
    with dg.instance_for_test() as instance:
        run = defs.resolve_job_def(TABLES_AND_CHECKS_JOB).execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False, asset_selection=[dg.AssetKey("lots")]
        )
        [event] = [e for e in check_events(instance, run.run_id) if e.check == "row_rules"]
    text = message(event, "failure", "http://ui")["text"]
    assert "— 1 failing row(s)" in text
    assert "cost_basis greater_than_or_equal_to 0: 1 row(s)" in text
    assert "cost_basis_per_share greater_than_or_equal_to 0: 1 row(s)" in text


def test_slack_down_then_up_delivers_exactly_once(seeded_url):
    stand_in = StandInSlack(statuses=[500, 500])
    try:
        with connection.connect(seeded_url) as conn:
            from dawsos_assets.operations.alerts import ALERT_TABLES_SQL

            conn.execute(ALERT_TABLES_SQL)
            conn.execute(
                "INSERT INTO dawsos_meta.alert_outbox (check_key, kind, payload) "
                "VALUES ('lots.row_rules', 'failure', '{\"text\": \"hello\"}')"
            )
            conn.commit()
            channel = SlackChannel(webhook_url=stand_in.url)
            now = datetime.now(UTC)
            first = deliver(conn, channel, now)
            retry_too_early = deliver(conn, channel, now + timedelta(seconds=1))
            second = deliver(conn, channel, now + timedelta(minutes=5))
            third = deliver(conn, channel, now + timedelta(hours=2))
            fourth = deliver(conn, channel, now + timedelta(hours=4))
            error = conn.execute("SELECT last_error FROM dawsos_meta.alert_outbox").fetchone()[0]
        assert (first["failed"], retry_too_early["failed"], second["failed"]) == (1, 0, 1)
        assert third["delivered"] == 1 and fourth["delivered"] == 0
        assert [status for status, _ in stand_in.received] == [500, 500, 200]
        assert stand_in.accepted() == [{"text": "hello"}]
        assert "HTTP 500" in error and SECRET not in error
    finally:
        stand_in.close()


def test_no_channel_keeps_alerts_queued(seeded_url, slack):
    """Without a channel a queued alert stays queued, untouched, and goes out once a channel is configured."""
    with connection.connect(seeded_url) as conn:
        from dawsos_assets.operations.alerts import ALERT_TABLES_SQL

        conn.execute(ALERT_TABLES_SQL)
        conn.execute(
            "INSERT INTO dawsos_meta.alert_outbox (check_key, kind, payload) "
            "VALUES ('lots.row_rules', 'failure', '{\"text\": \"queued\"}')"
        )
        conn.commit()
        assert deliver(conn, SlackChannel())["skipped"] == "no Slack channel configured"
        assert conn.execute("SELECT attempts, delivered_at FROM dawsos_meta.alert_outbox").fetchone() == (0, None)
        conn.commit()  # delivery commits per message, so it starts outside any transaction
        assert deliver(conn, SlackChannel(webhook_url=slack.url))["delivered"] == 1
    assert slack.accepted() == [{"text": "queued"}]


def test_nightly_and_weekly_schedules(seeded_url):
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 27, 0, 5, tzinfo=UTC))
    assert len(nightly.evaluate_tick(context).run_requests) == 1
    assert nightly.job_name == TABLES_AND_CHECKS_JOB
    assert nightly.cron_schedule == "5 0 * * *" and weekly_data_quality.cron_schedule == "0 6 * * 1"
    assert all(s.job_name != "apply_migrations" for s in (nightly, weekly_data_quality))  # never scheduled


def test_pending_migrations_are_reported_not_applied(seeded_url, slack):
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance,
            resources={"database": PortfolioDatabase(url=seeded_url), "slack": SlackAlerts(webhook_url=slack.url)},
        )
        result = pending_migrations(context)
    assert "6 migration(s) pending" in result.skip_message
    with connection.connect(seeded_url) as conn:
        assert conn.execute("SELECT to_regclass('dawsos_migrations.ledger') IS NULL").fetchone()[0]  # nothing applied
        text = conn.execute("SELECT payload->>'text' FROM dawsos_meta.alert_outbox").fetchone()[0]
    assert "014_standardize_quantity_names" in text
