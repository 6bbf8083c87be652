"""Sensors that operate the pipeline: Slack alerts for asset checks, their retries, and pending migrations."""

import json

import dagster as dg
from pydantic import Field

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.operations.alerts import (
    ALERT_TABLES_SQL,
    MAX_ATTEMPTS,
    SlackChannel,
    check_events,
    dead_letters,
    deliver,
    enqueue,
    validate_webhook_url,
)


class SlackAlerts(dg.ConfigurableResource):
    """Where alerts go: an incoming webhook, or a bot token and channel (dagster-slack's SlackResource)."""

    webhook_url: str | None = Field(default=None, description="DAWSOS_SLACK_WEBHOOK_URL")
    bot_token: str | None = Field(default=None, description="DAWSOS_SLACK_BOT_TOKEN")
    channel: str | None = Field(default=None, description="DAWSOS_SLACK_CHANNEL")
    webserver_url: str = Field(default="http://127.0.0.1:3000", description="Base URL of the Dagster UI for run links")

    def destination(self) -> SlackChannel:
        """Refuses a malformed webhook with SLACK_CONFIG_INVALID, naming the variable and never its value."""
        if self.webhook_url:
            validate_webhook_url(self.webhook_url)
        return SlackChannel(self.webhook_url, self.bot_token, self.channel)


def _alert_on_run(context, database: PortfolioDatabase, slack: SlackAlerts):
    destination = slack.destination()  # a malformed webhook fails here, before anything is queued
    events = check_events(context.instance, context.dagster_run.run_id)
    with database.connect() as conn:
        queued = enqueue(conn, events, slack.webserver_url)
        sent = deliver(conn, destination)
    context.log.info(f"{len(events)} check results, {queued} alert(s) queued, {sent}")


# Both alert sensors watch every run with check results, whoever started it (monitor_all_code_locations): a run
# made by `execute_in_process` in a script or notebook carries no code-location origin, and a sensor watching only
# its own location would skip it.
@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="check_alerts_after_success",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=True,
)
def check_alerts_after_success(context: dg.RunStatusSensorContext, database: PortfolioDatabase, slack: SlackAlerts):
    """Runs that succeed can still hold failed WARN or non-blocking checks: alert on those too."""
    _alert_on_run(context, database, slack)


@dg.run_failure_sensor(
    name="check_alerts_after_failure", default_status=dg.DefaultSensorStatus.RUNNING, monitor_all_code_locations=True
)
def check_alerts_after_failure(context: dg.RunFailureSensorContext, database: PortfolioDatabase, slack: SlackAlerts):
    """A blocking ERROR check fails its run: alert with the failing check, not just "run failed"."""
    _alert_on_run(context, database, slack)


@dg.sensor(name="slack_alert_retries", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def slack_alert_retries(context: dg.SensorEvaluationContext, database: PortfolioDatabase, slack: SlackAlerts):
    """Delivers alerts that Slack refused or could not take, with backoff, until each is accepted once; says in
    every tick which messages were given up on (the UI's tick history is where an operator sees them).
    """
    destination = slack.destination()
    with database.connect() as conn:
        result = deliver(conn, destination)
        dead = dead_letters(conn)
    summary = f"alert delivery: {result}"
    if dead:
        ids = ", ".join(str(message_id) for message_id, *_ in dead[:20])
        summary += (
            f"; {len(dead)} message(s) dead-lettered after {MAX_ATTEMPTS} attempts (dawsos_meta.alert_outbox "
            f"ids {ids}; last error: {dead[-1][3]}): fix the Slack setting, then set their dead_at and "
            "attempts back to NULL and 0 to send them again"
        )
        context.log.warning(summary)
    return dg.SkipReason(summary)


@dg.sensor(name="pending_migrations", minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING)
def pending_migrations(context: dg.SensorEvaluationContext, database: PortfolioDatabase, slack: SlackAlerts):
    """Says in the UI (and once per change in Slack) which migration files are not applied. Never applies them."""
    from dawsos_assets.migrations.runner import MigrationRunner

    pending = [
        f"{r['version']:03d}_{r['name']}"
        for r in MigrationRunner(database.resolved_url(), backup=False).status()
        if r["state"] == "pending"
    ]
    signature = ",".join(pending)
    if pending and context.cursor != signature:
        text = f":construction: Migrations not applied: {', '.join(pending)}. Review with `dawsos migrate plan`."
        with database.connect() as conn:
            conn.execute(ALERT_TABLES_SQL)
            conn.execute(
                "INSERT INTO dawsos_meta.alert_outbox (check_key, kind, payload) VALUES (%s, 'failure', %s)",
                ("migrations.pending", json.dumps({"text": text})),
            )
            conn.commit()
    context.update_cursor(signature)
    return dg.SkipReason(
        f"{len(pending)} migration(s) pending: {signature}" if pending else "every migration is applied"
    )
